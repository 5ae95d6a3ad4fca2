"""Benchmark: what an edit costs. A book converted once, then again with one word changed, then
with one lexicon entry added, on the default voice (Piper) with 2 workers.

    .venv/bin/python -m bench.edits [FIRST_CHAPTER LAST_CHAPTER]

The book is Frankenstein's chapters (default 5-6, about 4,500 words) as Markdown. Each run prints
its model runs, cache hits and time; the ratios compare each re-run with the first conversion.
Before the runs, 300 random one-word edits are planned (no synthesis) to show how many segments
an edit changes across the whole book.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from bench.common import BOOKS, Stack, banner, temp_folder
from services.parse.formats import read_book
from services.parse.segmenter import segment_chapter, sentences

EDIT = ("It was on a dreary night of November", "It was on a gloomy night of November")
LEXICON = "Elizabeth = Eliza-beth"


def write_book(path: Path, first: int, last: int, edit: tuple[str, str] | None = None) -> Path:
    chapters = read_book(BOOKS / "epub" / "pg84_frankenstein_epub2-ncx.epub").chapters
    picked = [c for c in chapters if c.title in {f"Chapter {n}" for n in range(first, last + 1)}]
    text = "\n\n".join(f"# {c.title}\n\n" + "\n\n".join(c.paragraphs[1:]) for c in picked)
    if edit and edit[0] in text:
        text = text.replace(*edit)
    elif edit:  # the chosen chapters do not hold the sentence: change the first long word instead
        word = next(w for w in text.split() if len(w) > 8 and w.isalpha())
        text = text.replace(word, word + "s", 1)
    path.write_text(text, encoding="utf-8")
    return path


def edit_sweep(edits: int = 300) -> None:
    """How many segments one random one-word edit changes, over the whole book (planning only)."""
    chapters = read_book(BOOKS / "epub" / "pg84_frankenstein_epub2-ncx.epub").chapters
    rnd = random.Random(1)
    counts: dict[int, int] = {}
    for _ in range(edits):
        chapter = rnd.choice(chapters)
        paragraphs = list(chapter.paragraphs)
        number = rnd.randrange(1, len(paragraphs))
        said = sentences(paragraphs[number])
        which = rnd.randrange(len(said))
        words = said[which].split(" ")
        if len(words) > 2:
            spot = rnd.randrange(1, len(words))
            words[spot] = rnd.choice(["", "extraordinarily", "a", words[spot] + "s"])
        said[which] = " ".join(w for w in words if w)
        paragraphs[number] = " ".join(said)
        before = set(segment_chapter(chapter.paragraphs, "en", 400, title=chapter.title))
        after = segment_chapter(paragraphs, "en", 400, title=chapter.title)
        changed = sum(1 for s in after if s not in before)
        counts[changed] = counts.get(changed, 0) + 1
    print(f"{edits} random one-word edits of Frankenstein, segments synthesized again per edit:")
    for changed, times in sorted(counts.items()):
        print(f"  {changed}: {times} edits")


def main() -> None:
    first, last = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (5, 6)
    banner("planning only")
    edit_sweep()
    folder = temp_folder("edits")
    book = write_book(folder / "frankenstein.md", first, last)
    edited_dir = folder / "edited"
    edited_dir.mkdir()
    edited = write_book(edited_dir / "frankenstein-edited.md", first, last, EDIT)
    banner(f"Frankenstein chapters {first}-{last}, Piper, 2 workers")
    with Stack(temp_folder("edits-stack"), workers=2, threads=1) as stack:
        runs = {
            "first conversion": stack.convert(book),
            "one word changed": stack.convert(edited),
            "lexicon entry added": stack.convert(book, extra={"lexicon": LEXICON}),
        }
    for name, run in runs.items():
        print(f"{name:22} {run.wall_s:7.1f} s  {run.segments:4} segments  {run.model_runs:4} model runs  "
              f"{run.cache_hits:4} cache hits")
    banner("ratios")
    base = runs["first conversion"]
    for name in ("one word changed", "lexicon entry added"):
        run = runs[name]
        print(f"{name}: {run.model_runs / base.model_runs:.1%} of the model runs, "
              f"{run.wall_s / base.wall_s:.1%} of the time ({base.wall_s / run.wall_s:.1f}x faster)")


if __name__ == "__main__":
    main()
