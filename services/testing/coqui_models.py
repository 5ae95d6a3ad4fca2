"""Tiny random-weight Coqui models, built at test time and loaded through Coqui's real loader.

No pretrained weights can be downloaded here (and none are committed): each builder seeds
torch, builds a small model from Coqui's own config classes and saves it the way Coqui's
loader expects (``config.json`` beside the weights). The voices are noise, not speech; the
tests check the code path: loading, batching, text limits, sample rates, the pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path


def build_tiny_vits(folder: Path, language: str = "en-us", sample_rate: int = 16000, full_size: bool = False) -> Path:
    """A single-speaker VITS (phonemes by espeak-ng in ``language``), about 1.5 M parameters.

    ``full_size``: Coqui's default VITS dimensions (what a real single-speaker model computes),
    still random weights, for benchmarks.
    """
    import torch
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits, VitsArgs

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    args = VitsArgs(init_discriminator=False) if full_size else VitsArgs(
        hidden_channels=32, hidden_channels_ffn_text_encoder=64, num_heads_text_encoder=2,
        num_layers_text_encoder=2, num_layers_flow=1, num_layers_posterior_encoder=2, use_sdp=False,
        resblock_kernel_sizes_decoder=[3], resblock_dilation_sizes_decoder=[[1, 3, 5]],
        upsample_rates_decoder=[8, 8, 4], upsample_initial_channel_decoder=32,
        upsample_kernel_sizes_decoder=[16, 16, 8], init_discriminator=False,
    )
    config = VitsConfig(model_args=args, use_phonemes=True, phonemizer="espeak", phoneme_language=language,
                        text_cleaner="multilingual_cleaners")
    config.audio.sample_rate = 22050 if full_size else sample_rate
    model = Vits.init_from_config(config)  # builds the tokenizer and audio processor from the config
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    return folder


def build_tiny_xtts(folder: Path, speaker_wav: Path) -> Path:
    """A multilingual XTTS with a 2-layer GPT, cloning ``speaker_wav`` (saved as ``speakers/reader.wav``)."""
    import shutil

    import torch
    import TTS
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts, XttsArgs

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    languages = ["en", "fr", "de"]
    tortoise = json.loads((Path(TTS.__file__).parent / "tts/utils/assets/tortoise/tokenizer.json").read_text())
    vocab = tortoise["model"]["vocab"]
    for token in ["[START]", "[STOP]", *(f"[{code}]" for code in languages)]:
        if token not in vocab:
            vocab[token] = len(vocab)
            tortoise["added_tokens"].append({"id": vocab[token], "content": token, "single_word": False,
                                             "lstrip": False, "rstrip": False, "normalized": False,
                                             "special": True})
    (folder / "vocab.json").write_text(json.dumps(tortoise))
    args = XttsArgs(gpt_layers=2, gpt_n_model_channels=64, gpt_n_heads=2, decoder_input_dim=64,
                    gpt_number_text_tokens=len(vocab) + 1,
                    gpt_start_text_token=vocab["[START]"], gpt_stop_text_token=vocab["[STOP]"],
                    gpt_max_audio_tokens=24, gpt_max_text_tokens=402, gpt_max_prompt_tokens=70,
                    tokenizer_file=str(folder / "vocab.json"))
    config = XttsConfig(model_args=args, languages=languages)
    model = Xtts(config)
    model.tokenizer = VoiceBpeTokenizer(str(folder / "vocab.json"))
    model.init_models()
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    (folder / "speakers").mkdir(exist_ok=True)
    shutil.copy(speaker_wav, folder / "speakers" / "reader.wav")
    return folder
