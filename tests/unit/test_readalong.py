"""Read-along cues (pure): the text map parse keeps, each sentence timed by its segment's spans,
WebVTT written and read back with webvtt-py."""

from __future__ import annotations

import orjson
import webvtt

from events.types import SegmentSynthesized
from services.assemble.readalong import Cue, segment_cues, text_map_of, webvtt_of
from services.parse.plan import text_map
from services.parse.segmenter import segment_chapter

PIECES = [(0, ["It was night.", "The wind rose."]), (1, ["Nobody came."])]


def event(*spans: tuple[int, int, int], samples: int = 50_000) -> SegmentSynthesized:
    return SegmentSynthesized("j", 0, 0, "audio/k.aac", samples, 22050, spans=spans)


def test_a_piece_with_a_span_per_sentence_is_timed_sentence_by_sentence() -> None:
    cues, unaligned = segment_cues(event((0, 1024, 9000), (0, 12000, 20000), (1, 30000, 40000)), 100, PIECES)
    assert cues == [Cue(1124, 9100, "It was night.", "ra-0-0-0-0"), Cue(12100, 20100, "The wind rose.", "ra-0-0-0-1"),
                    Cue(30100, 40100, "Nobody came.", "ra-0-0-1-0")] and unaligned == 0, "each names its span"


def test_a_piece_the_engine_split_its_own_way_is_one_cue_and_counted() -> None:
    cues, unaligned = segment_cues(event((0, 1024, 20000), (1, 30000, 35000), (1, 36000, 40000)), 0, PIECES)
    assert cues == [Cue(1024, 20000, "It was night. The wind rose.", "ra-0-0-0-0"),
                    Cue(30000, 40000, "Nobody came.", "ra-0-0-1-0")], "a piece's cue names its first sentence"
    assert unaligned == 2


def test_audio_without_timings_is_one_cue_for_the_segment_and_no_map_no_cue() -> None:
    cues, unaligned = segment_cues(event(samples=44_000), 500, PIECES)
    assert cues == [Cue(500, 44_500, "It was night. The wind rose. Nobody came.", "ra-0-0-0-0")] and unaligned == 2
    assert segment_cues(event((0, 1, 2)), 0, None) == ([], 0)
    silent_piece = segment_cues(event((1, 30000, 40000)), 0, PIECES)
    assert silent_piece == ([Cue(30000, 40000, "Nobody came.", "ra-0-0-1-0")], 1), "nothing said for a piece: no cue"


def test_the_text_map_holds_the_books_own_sentences_by_segment() -> None:
    paragraphs = ("Chapter 12", "It cost $5 on Dec. 11th. Mr. Brown paid.", "He left.")
    segments = segment_chapter(paragraphs, "en", 40, title="Chapter 12")
    raw = text_map("j1", ["Chapter 12"], [segments])
    found = text_map_of(raw, "j1")
    assert found is not None
    every = [" ".join(s) for segment in found.chapters[0] for _, s in segment]
    assert " ".join(every) == " ".join(paragraphs), "the cues' text, in order, is the chapter's own"
    assert found.pieces(0, 0) == [(0, ["Chapter 12"])], "the heading as the book writes it, not 'twelve'"
    assert [place for segment in found.chapters[0] for place, _ in segment][-1] == 2
    assert found.pieces(0, 99) is None and found.pieces(5, 0) is None
    assert text_map_of(raw, "j2") is None, "another job's map is not this one's"
    for garbage in (b"nope", b"[]", orjson.dumps({"v": 1, "job_id": "j1", "chapters": [{"segments": [[[0]]]}]})):
        assert text_map_of(garbage, "j1") is None


def test_cues_are_written_as_webvtt_that_reads_back() -> None:
    cues = [Cue(1024, 22050, "The Lantern Keeper"), Cue(44100, 3 * 3600 * 22050 + 11025, 'He said, "Go."'),
            Cue(5, 5, "empty"), Cue(10, 20, "  ")]
    text = webvtt_of(cues, 22050)
    read = list(webvtt.from_string(text))
    assert [(c.start, c.end, c.text) for c in read] == [("00:00:00.046", "00:00:01.000", "The Lantern Keeper"),
                                                         ("00:00:02.000", "03:00:00.500", 'He said, "Go."')]
