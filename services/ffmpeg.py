"""Locate ffmpeg: on PATH if installed, else the binary shipped by imageio-ffmpeg."""

from __future__ import annotations

import shutil
import warnings
from functools import lru_cache


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def configure_pydub() -> None:
    """Point pydub at our ffmpeg (and silence its import-time warning about PATH)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        from pydub import AudioSegment
    AudioSegment.converter = ffmpeg_exe()
