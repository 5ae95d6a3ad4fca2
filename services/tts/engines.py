"""The tts stage's door to the engines: load a voice's model with this worker's settings.

Each engine is one module of :mod:`services.engines`; the registry (:mod:`services.voices`)
finds the one a voice belongs to. What comes back is loaded once per worker and speaks a batch
of paragraphs (:class:`~services.engines.base.Synthesizer`, called ``Engine`` in this stage).
"""

from __future__ import annotations

from services.engines.base import LoadOptions, SynthesisError, VoiceInfo
from services.engines.base import Synthesizer as Engine
from services.voices import load_voice

__all__ = ["Engine", "SynthesisError", "load_engine"]


def load_engine(info: VoiceInfo, threads: int = 1, use_cuda: bool = False, device: str = "",
                simulated_rtf: float = 0.0) -> Engine:
    """Load the model behind ``info`` (the only place that touches model files).

    ``device`` is for torch engines (``cpu``, ``cuda``, ``cuda:1``); empty: CUDA when
    ``use_cuda`` and a GPU is there, else the CPU. ``simulated_rtf``: the instant test
    engine's model time per second of audio.
    """
    return load_voice(info, LoadOptions(threads=threads, use_cuda=use_cuda, device=device,
                                        simulated_rtf=simulated_rtf))
