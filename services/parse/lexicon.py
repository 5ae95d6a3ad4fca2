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
from dataclasses import dataclass, field
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


def _word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


@dataclass
class _Node:
    """Words sharing a beginning, in a trie."""

    children: dict[str, _Node] = field(default_factory=dict)
    end: str | None = None  # where a word ends here, what must follow it: r"(?!\w)" after a letter, else ""


def _key(char: str, folded: bool) -> str:
    """A letter as the trie holds it: as written, or (in any case) one letter for all its case forms (s, ſ)."""
    if not folded:
        return char
    canonical = char.upper().lower()
    return canonical if len(canonical) == 1 else char


def _branches(node: _Node) -> str:
    """A trie node as a regex: its longer words first, then the word ending here (if one does)."""
    branches = [re.escape(char) + _branches(child) for char, child in node.children.items()]
    if node.end is not None:
        branches.append(node.end)
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


def _trie(words: list[str], folded: bool) -> re.Pattern[str]:
    """One pattern finding, where any of ``words`` starts, the longest of them, in time independent of their
    number (an alternation of 5,000 words tried each of them at every character: 200 µs a character)."""
    starts, others = _Node(), _Node()  # words starting with a letter (not inside a word), the rest
    for word in words:
        node = starts if _word_char(word[0]) else others
        for char in word:
            node = node.children.setdefault(_key(char, folded), _Node())
        node.end = r"(?!\w)" if _word_char(word[-1]) else ""
    pattern = "|".join(([r"(?<!\w)" + _branches(starts)] if starts.children else [])
                       + ([_branches(others)] if others.children else []))
    return re.compile(f"(?i:{pattern})" if folded else pattern)


def _leftmost_longest(patterns: list[re.Pattern[str]], text: str, say: Callable[[str], str]) -> str:
    """``text`` with each match replaced by ``say(match)``: at the leftmost place any pattern matches, the
    longest match there, as one alternation of all their words would (each pattern finds its longest)."""
    out: list[str] = []
    done = 0
    found = [pattern.search(text) for pattern in patterns]
    while any(found):
        match = min((m for m in found if m), key=lambda m: (m.start(), -m.end()))
        out += [text[done:match.start()], say(match.group(0))]
        done = match.end()
        found = [m if m is None or m.start() >= done else pattern.search(text, done)
                 for m, pattern in zip(found, patterns, strict=True)]
    out.append(text[done:])
    return "".join(out)


@lru_cache(maxsize=8)
def speaker_for(entries: tuple[Entry, ...], language: str) -> Callable[[str], str]:
    """A function saying a text with the entries for ``language`` (a region's entries win over the language's).

    A word is matched whole; where two entries start at one place, the longer wins ("St. John" over "St.").
    """
    chosen: dict[str, str] = {}
    for entry in sorted((e for e in entries if _applies(e, language)), key=lambda e: len(e.language)):
        chosen[entry.word] = entry.spoken
    if not chosen:
        return lambda text: text
    exact = {w: s for w, s in chosen.items() if w != w.lower()}
    folded = {w.lower(): s for w, s in chosen.items() if w == w.lower()}
    patterns = [_trie(list(words), fold) for words, fold in ((exact, False), (folded, True)) if words]

    def spoken(written: str) -> str:
        return exact.get(written) or folded.get(written.lower(), written)

    return lambda text: _leftmost_longest(patterns, text, spoken)
