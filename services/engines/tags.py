"""Language tags as voices declare them and books ask for them (pure)."""

from __future__ import annotations

from collections.abc import Iterable


def normal_tag(tag: str) -> str:
    """A BCP 47 / POSIX tag in one spelling: ``fr_FR`` and ``fr-fr`` are ``fr-fr``."""
    return tag.replace("_", "-").strip().lower()


def primary_language(tag: str) -> str:
    """The language subtag of a BCP 47 / POSIX tag: ``fr-FR`` and ``fr_FR`` are ``fr``."""
    return normal_tag(tag).split("-")[0]


def matching_tag(tags: Iterable[str], language: str) -> str | None:
    """The one of ``tags`` that ``language`` means: the same tag, else the same language; None if none."""
    listed = tuple(tags)
    exact = next((tag for tag in listed if normal_tag(tag) == normal_tag(language)), None)
    return exact or next((tag for tag in listed if primary_language(tag) == primary_language(language)), None)


ANY_LANGUAGE = "*"  # the tag of a voice that speaks every language (the instant test engine's silence)


def tags_speak(tags: Iterable[str], language: str) -> bool:
    """Whether a voice declaring ``tags`` speaks ``language``: the same primary language, or ``*``."""
    listed = tuple(tags)
    return ANY_LANGUAGE in listed or primary_language(language) in {primary_language(tag) for tag in listed}


def rank(tags: Iterable[str], voice: str, language: str, favoured: str = "") -> tuple[int, int, str]:
    """Lower is better: the exact tag first, then the language's home variety (``fr`` → ``fr-fr``),
    then the ``favoured`` voice (the packaged default), then by name."""
    wanted = normal_tag(language)
    primary = primary_language(language)
    normal = {normal_tag(tag) for tag in tags}
    closeness = 0 if wanted in normal else 1 if normal & {primary, f"{primary}-{primary}"} else 2
    return (closeness, 0 if favoured and voice == favoured else 1, voice)
