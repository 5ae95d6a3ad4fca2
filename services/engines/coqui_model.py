"""A Coqui model loaded from a local folder (``coqui-tts``, import ``TTS``, on torch).

XTTS clones the voice of a reference recording (``speakers/NAME.wav`` beside the model) and
speaks many languages; VITS and other single-speaker models speak their own. Loaded once
through Coqui's own loader (``TTS(model_path=..., config_path=...)``) onto ``cpu`` or
``cuda:N``. VITS speaks a batch of sentences in one padded forward pass; XTTS cannot batch
different texts, so it speaks sentence by sentence, each cut to its per-call character limit
at clause or word boundaries (:mod:`services.engines.chunks`), never truncated.

Imported only when a worker loads a Coqui voice (:meth:`services.engines.coqui.Coqui.load`):
``import TTS`` takes over ten seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from services.engines.base import SynthesisError, VoiceInfo
from services.engines.chunks import fit
from services.engines.tags import matching_tag

# VITS sentences per forward pass. On a CPU batching loses (0.8x one at a time for a full-size VITS,
# bench/coqui_engine.py: the cores are already busy and padding is wasted work); on a GPU it pays.
BATCH_SIZE = {"cpu": 1, "cuda": 16}
XTTS_DEFAULT_LIMIT = 250


def _pcm(wav: Any) -> bytes:
    """int16 PCM of a float waveform, without the silence Coqui's synthesizer appends to each call."""
    samples = np.trim_zeros(np.asarray(wav, dtype=np.float32).reshape(-1), "b")
    return (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16).tobytes()


class CoquiSynthesizer:
    """A Coqui model, loaded once, on ``device``."""

    def __init__(self, info: VoiceInfo, threads: int = 1, device: str = "cpu") -> None:
        import torch
        from TTS.api import TTS

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise SynthesisError(f"device {device} asked for, but torch sees no CUDA GPU")
        torch.set_num_threads(max(1, threads))
        config = json.loads(Path(info.config_path).read_text(encoding="utf-8"))
        self.kind = str(config.get("model", ""))
        self.is_xtts = self.kind == "xtts"
        model_path = Path(info.model_path).parent if self.is_xtts else Path(info.model_path)  # XTTS: its folder
        self.tts = TTS(model_path=str(model_path), config_path=info.config_path, progress_bar=False).to(device)
        self.device = device
        self.synthesizer = self.tts.synthesizer
        self.model = self.synthesizer.tts_model
        self.sample_rate = int(self.synthesizer.output_sample_rate)
        self.speaker_wav = info.speaker_wav or None
        self.languages = info.languages
        if self.is_xtts and not self.speaker_wav:
            raise SynthesisError(f"{info.voice}: XTTS clones a voice: name a speaker, MODEL/SPEAKER, with "
                                 f"the recording in {Path(info.model_path).parent / 'speakers'}/SPEAKER.wav")
        self.batchable = self.kind == "vits" and not self.tts.is_multi_speaker and not self.tts.is_multi_lingual
        self.batch_size = BATCH_SIZE["cuda" if device.startswith("cuda") else "cpu"] if self.batchable else 1
        self.sentences_per_pass = self.batch_size
        limits = getattr(getattr(self.model, "tokenizer", None), "char_limits", None)
        self.char_limits: dict[str, int] = dict(limits) if isinstance(limits, dict) else {}

    def _language(self, language: str) -> str | None:
        """The model's own code for ``language`` (XTTS: "fr", "zh-cn"), or None for one-language models."""
        if not self.tts.is_multi_lingual and not self.is_xtts:
            return None
        wanted = language or (self.languages[0] if self.languages else "en")
        code = matching_tag(self.languages, wanted)
        if code is not None:
            return code
        raise SynthesisError(f"this model does not speak {wanted!r}; it speaks {', '.join(self.languages)}")

    def _pieces(self, sentence: str, language: str | None) -> list[str]:
        if not self.is_xtts:
            return [sentence]
        limit = self.char_limits.get(language or "", XTTS_DEFAULT_LIMIT)
        return fit(sentence, limit)

    def _one(self, text: str, speed: float, language: str | None) -> bytes:
        extra: dict[str, Any] = {"speed": speed} if self.is_xtts else {}
        if not self.is_xtts and hasattr(self.model, "length_scale"):
            self.model.length_scale = 1.0 / speed
        wav = self.tts.tts(text=text, speaker_wav=self.speaker_wav, language=language, split_sentences=False,
                           **extra)
        return _pcm(wav)

    def _batch(self, sentences: list[str], speed: float) -> list[bytes]:
        """One padded forward pass of a VITS model over several sentences."""
        import torch

        ids = [self.model.tokenizer.text_to_ids(text) for text in sentences]
        if any(not sequence for sequence in ids):
            raise SynthesisError("a sentence has nothing the model can pronounce")
        lengths = torch.tensor([len(sequence) for sequence in ids], dtype=torch.long, device=self.device)
        padded = torch.zeros((len(ids), int(lengths.max())), dtype=torch.long, device=self.device)
        for row, sequence in enumerate(ids):
            padded[row, :len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        self.model.length_scale = 1.0 / speed
        with torch.inference_mode():
            out = self.model.inference(padded, aux_input={"x_lengths": lengths})
        hop = int(self.synthesizer.tts_config.audio.hop_length)
        frames = out["y_mask"].sum(dim=(1, 2)).long().tolist()
        audio = out["model_outputs"].squeeze(1).float().cpu().numpy()
        return [_pcm(audio[row, :frames[row] * hop]) for row in range(len(sentences))]

    def speak(self, paragraphs: list[str], speed: float, language: str = "", take: int = 0) -> list[list[bytes]]:
        code = self._language(language)
        sentences = [[s for s in self.synthesizer.split_into_sentences(p) if s.strip()] or [p] for p in paragraphs]
        try:
            if self.batchable:
                flat = [s for group in sentences for s in group]
                spoken: list[bytes] = []
                step = max(1, self.sentences_per_pass)
                for start in range(0, len(flat), step):
                    spoken.extend(self._batch(flat[start:start + step], speed))
                out, position = [], 0
                for group in sentences:
                    out.append(spoken[position:position + len(group)])
                    position += len(group)
                return out
            return [[b"".join(self._one(piece, speed, code) for piece in self._pieces(s, code)) for s in group]
                    for group in sentences]
        except SynthesisError:
            raise
        except (RuntimeError, ValueError, KeyError, IndexError, AssertionError) as exc:
            raise SynthesisError(f"coqui ({self.kind}) could not speak this text: {exc}") from exc
