"""The read-along EPUB's Media Overlays, built from a marked text, cues and chapter audio (pure, real ffmpeg)."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

from lxml import etree

from services.assemble.ffmpeg import ffmpeg_exe
from services.assemble.overlay import ACTIVE_CLASS, ChapterAudio, clock, overlay_epub
from services.assemble.readalong import Cue
from services.parse.formats import detect, pieces_of, read_along_text, read_book
from services.parse.plan import segment_book, text_map
from services.testing.epubcheck import epubcheck
from tests.built_epubs import build_epub, chapter, needs_epubcheck

RATE = 24_000
OPF = "{http://www.idpf.org/2007/opf}"
SMIL = "{http://www.w3.org/ns/SMIL}"


def silence(path: Path, seconds: float) -> Path:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"anullsrc=r={RATE}:cl=mono",
                    "-t", str(seconds), "-c:a", "aac", "-f", "mp4", str(path)], check=True)
    return path


def marked_book(tmp_path: Path) -> tuple[bytes, list[list[list[tuple[int, list[str]]]]]]:
    one = ("It was a <i>quiet</i> day in the valley below the old mill. Nothing moved along the river, and nobody "
           "came down the road from the town all morning, not the baker with his cart, not the doctor on his grey "
           "horse, not even the children who liked to throw stones from the bridge into the water below.")
    two = ("Then the rain came over the hills in the afternoon. It did not stop for three days, and the river rose "
           "until it reached the door of the mill, and the miller carried his sacks of flour up the stairs one by "
           "one, and his wife watched the water from the window of the loft with the cat asleep in her lap.")
    source = build_epub(tmp_path / "b.epub", {"one.xhtml": chapter(f"<h1>One</h1><p>{one}</p>"),
                                              "two.xhtml": chapter(f"<h1>Two</h1><p>{two}</p>")},
        entries={"one.xhtml": "One", "two.xhtml": "Two"})
    parsed = read_book(source)
    pieces = pieces_of(text_map("j", [c.title for c in parsed.chapters], segment_book(parsed, 600)))
    return read_along_text(source, detect(source), parsed, pieces, "j").epub, pieces


def test_clock_values() -> None:
    assert clock(0) == "0:00:00.000" and clock(3_723_456) == "1:02:03.456"


@needs_epubcheck
def test_each_marked_sentence_gets_a_clip_of_its_chapters_audio(tmp_path: Path) -> None:
    text, pieces = marked_book(tmp_path)
    ids = [(c, f"ra-{c}-{s}-{p}-{n}") for c, chapter_ in enumerate(pieces) for s, segment in enumerate(chapter_)
           for p, (_, texts) in enumerate(segment) for n, _ in enumerate(texts)]
    assert len(ids) == 6, ids  # a heading and two sentences a chapter
    starts = {0: 0, 1: 5 * RATE}
    cues = [Cue(starts[c] + (n % 3) * RATE + RATE // 10, starts[c] + (n % 3 + 1) * RATE, "x", key)
            for n, (c, key) in enumerate(ids)]  # (three a chapter: 0.1-1.0 s, 1.1-2.0 s, 2.1-3.0 s)
    cues.append(Cue(RATE, 2 * RATE, "not in the text", "ra-0-9-0-0"))
    audio = [ChapterAudio(c, silence(tmp_path / f"{c}.m4a", 5.0), starts[c], 5 * RATE) for c in (0, 1)]
    output = tmp_path / "read-along.epub"
    overlaid = overlay_epub(text, cues, audio, RATE, output)
    assert (overlaid.pars, overlaid.unmarked, overlaid.documents) == (6, 1, 2)

    with zipfile.ZipFile(output) as archive:
        assert archive.namelist()[0] == "mimetype" and archive.getinfo("mimetype").compress_type == zipfile.ZIP_STORED
        package = etree.fromstring(archive.read("OEBPS/content.opf"))
        items = {item.get("id"): item for item in package.iter(f"{OPF}item")}
        overlays = [item for item in items.values() if item.get("media-type") == "application/smil+xml"]
        assert len(overlays) == 2
        assert sum(item.get("media-type") == "audio/mp4" for item in items.values()) == 2
        documents = {item.get("href"): item.get("media-overlay") for item in items.values()
                     if item.get("media-overlay")}
        assert set(documents) == {"one.xhtml", "two.xhtml"}
        metas = {(m.get("property"), m.get("refines")): m.text for m in package.iter(f"{OPF}meta")}
        assert metas[("media:active-class", None)] == ACTIVE_CLASS
        assert metas[("media:duration", None)] == "0:00:05.400", "six clips of 0.9 s"
        smil = etree.fromstring(archive.read("OEBPS/" + items[documents["two.xhtml"]].get("href")))
        pars = list(smil.iter(f"{SMIL}par"))
        assert [p.find(f"{SMIL}text").get("src") for p in pars] == ["../two.xhtml#" + key for c, key in ids if c == 1]
        first = pars[0].find(f"{SMIL}audio")
        assert (first.get("clipBegin"), first.get("clipEnd")) == ("0:00:00.100", "0:00:01.000"), "from its chapter"
        assert all(p.find(f"{SMIL}audio").get("src") == "../audio/chapter-0002.m4a" for p in pars)
        before = zipfile.ZipFile(io.BytesIO(text))
        assert archive.read("OEBPS/one.xhtml") == before.read("OEBPS/one.xhtml"), "the text is not touched"
    ok, said = epubcheck(output)
    assert ok, said
