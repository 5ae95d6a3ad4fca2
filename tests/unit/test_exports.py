"""Parts and per-chapter files cut from a finished book (pure planning)."""

from __future__ import annotations

import itertools

import pytest

from services.app.exports import Mark, Part, file_name, plan_parts


def _marks(*lengths: float) -> list[Mark]:
    marks, start = [], 0.0
    for number, length in enumerate(lengths, start=1):
        marks.append(Mark(f"Chapter {number}", start, start + length))
        start += length
    return marks


def test_parts_are_cut_at_chapters_while_they_fit() -> None:
    parts = plan_parts(_marks(40, 30, 20, 50, 10), 60)
    assert [[m.title for m in p.chapters] for p in parts] == [["Chapter 1"], ["Chapter 2", "Chapter 3"],
                                                              ["Chapter 4", "Chapter 5"]]
    assert [(p.start, p.end) for p in parts] == [(0, 40), (40, 90), (90, 150)]
    assert parts[1].chapters[1] == Mark("Chapter 3", 30, 50)  # times within the part


def test_a_chapter_longer_than_a_part_goes_on_in_the_next() -> None:
    parts = plan_parts(_marks(10, 130, 5), 60)
    assert [[(m.title, m.start, m.end) for m in p.chapters] for p in parts] == [
        [("Chapter 1", 0, 10)], [("Chapter 2", 0, 60)], [("Chapter 2 (continued)", 0, 60)],
        [("Chapter 2 (continued)", 0, 10), ("Chapter 3", 10, 15)]]
    assert all(p.end - p.start <= 60 for p in parts)
    assert parts[-1] == Part(4, 130, 145, parts[-1].chapters)


def test_every_second_is_in_exactly_one_part() -> None:
    marks = _marks(*[37.5 + n % 7 * 11 for n in range(40)])
    parts = plan_parts(marks, 100)
    assert parts[0].start == 0 and parts[-1].end == marks[-1].end
    assert all(a.end == b.start for a, b in itertools.pairwise(parts))
    with pytest.raises(ValueError):
        plan_parts(marks, 0)


@pytest.mark.parametrize(("title", "name"), [
    ("The Pool of Tears", "07 - The Pool of Tears.mp3"), ("What? / Why: \"this\"", "07 - What Why this.mp3"),
    ("...", "07 - Chapter.mp3"),
])
def test_file_names_are_numbered_and_safe(title: str, name: str) -> None:
    assert " ".join(file_name(7, 12, title, ".mp3").split()) == name


def test_a_part_or_chapter_file_gets_the_cues_that_begin_in_it_timed_from_its_start() -> None:
    from services.app.exports import cues_within

    cues = [(0.05, 1.2, "One"), (1.5, 3.0, "Two"), (9.9995, 11.0, "Three"), (12.0, 14.5, "Four")]
    assert cues_within(cues, 0.0, 10.0) == [(0.05, 1.2, "One"), (1.5, 3.0, "Two")]
    assert cues_within(cues, 10.0, 14.0) == [(0.0, 1.0, "Three"), (2.0, 4.0, "Four")], (
        "a cue on the mark (rounded down to the millisecond) is the next file's; none runs past its end")
    assert cues_within(cues, 20.0, 30.0) == []
