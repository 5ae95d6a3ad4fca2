"""What an embedded stack's workers load before the request reaches them (pure: the CLI's arguments)."""

from __future__ import annotations

import argparse

from services.app.connecting import preloaded


def convert(**given: object) -> argparse.Namespace:
    return argparse.Namespace(**{"command": "convert", "engine": None, "voice": None, "speaker": None, **given})


def test_a_convert_preloads_the_voice_it_names_or_the_default() -> None:
    assert preloaded(convert()) == ("/",)  # the default engine's default voice
    assert preloaded(convert(engine="espeak")) == ("espeak/",)
    assert preloaded(convert(engine="piper", voice="en_US-joe-medium")) == ("piper/en_US-joe-medium",)


def test_nothing_is_preloaded_for_a_cloning_voice_or_another_command() -> None:
    assert preloaded(convert(engine="coqui", speaker="me.wav")) == ()
    assert preloaded(argparse.Namespace(command="resume", job="j1")) == ()
