"""The reader's own pronunciations (pure): a plain file of ``word = spoken form``, per language.

::

    # lines starting with # are comments
    Hermione = Her-my-oh-nee          # every language
    [fr]
    Nguyen = Nouyène
    [en]
    Cthulhu = [[ kəθˈuːluː ]]         # phonemes, for voices that read [[ ]] (Piper)

An entry applies to the whole word (or phrase) wherever it stands. An entry written all in
lower case matches any case (``paris`` matches ``Paris``); one with a capital matches exactly
(``US`` does not touch ``us``). A section ``[fr]`` applies to French books in any region, a
section ``[fr-CA]`` to that region only. The lexicon is applied before numbers and
abbreviations are spelled out, and after the book is cut into segments, so adding an entry
changes only the segments that contain its word.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from events.errors import PermanentError

SECTION = re.compile(r"^\[\s*([A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*)?\s*\]$")
MAX_ENTRIES = 5_000
MAX_WORD_CHARS = 100
SPOKEN_PER_CHAR, MIN_SPOKEN = 10, 40  # "WHO = World Health Organization" fits; "the" said as a page does not


def max_spoken(word: str) -> int:
    """The longest spoken form a lexicon may give ``word``: its expansion is bounded."""
    return max(MIN_SPOKEN, SPOKEN_PER_CHAR * len(word))


class LexiconError(PermanentError):
    """A lexicon line that is not ``word = spoken form``; the message names the line."""


@dataclass(frozen=True)
class Entry:
    language: str  # "" for every language, else a tag ("fr", "fr-CA"), lower case
    word: str
    spoken: str


def parse_lexicon(text: str) -> tuple[Entry, ...]:
    """Entries of a lexicon file; raises LexiconError naming the first bad line."""
    entries: list[Entry] = []
    language = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        section = SECTION.match(line)
        if section:
            language = (section.group(1) or "").lower()
            continue
        word, sep, spoken = (part.strip() for part in line.partition("="))
        if not sep or not word or not spoken:
            raise LexiconError(f"lexicon line {number}: expected 'word = spoken form', got {raw.strip()!r:.80}")
        if len(word) > MAX_WORD_CHARS or len(spoken) > 4 * MAX_WORD_CHARS:
            raise LexiconError(f"lexicon line {number}: an entry is limited to {MAX_WORD_CHARS} characters")
        if len(spoken) > max_spoken(word):
            raise LexiconError(f"lexicon line {number}: {word!r} would be said in {len(spoken)} characters; "
                               f"a word's spoken form is at most {max_spoken(word)} ({SPOKEN_PER_CHAR} per letter, "
                               f"at least {MIN_SPOKEN})")
        entries.append(Entry(language, word, spoken))
        if len(entries) > MAX_ENTRIES:
            raise LexiconError(f"the lexicon has more than {MAX_ENTRIES:,} entries")
    return tuple(entries)


def _applies(entry: Entry, language: str) -> bool:
    tag = language.lower()
    return not entry.language or tag == entry.language or tag.startswith(entry.language + "-")


def _pattern(word: str) -> str:
    start = r"(?<!\w)" if word[0].isalnum() or word[0] == "_" else ""
    end = r"(?!\w)" if word[-1].isalnum() or word[-1] == "_" else ""
    return start + re.escape(word) + end


@lru_cache(maxsize=8)
def speaker_for(entries: tuple[Entry, ...], language: str) -> Callable[[str], str]:
    """A function saying a text with the entries for ``language`` (a region's entries win over the language's)."""
    chosen: dict[str, str] = {}
    for entry in sorted((e for e in entries if _applies(e, language)), key=lambda e: len(e.language)):
        chosen[entry.word] = entry.spoken
    if not chosen:
        return lambda text: text
    exact = {w: s for w, s in chosen.items() if w != w.lower()}
    folded = {w.lower(): s for w, s in chosen.items() if w == w.lower()}
    # longest first, so "St. John" wins over "St."
    words = sorted(chosen, key=len, reverse=True)
    pattern = re.compile("|".join(
        (_pattern(w) if w in exact else "(?i:" + _pattern(w) + ")") for w in words))

    def say(text: str) -> str:
        return pattern.sub(lambda m: exact.get(m.group(0)) or folded.get(m.group(0).lower(), m.group(0)), text)

    return say
