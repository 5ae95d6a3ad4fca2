"""End to end: the real `audiobook` CLI, embedded nats-server, real Piper voice, real ffmpeg."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import orjson
import pytest
from mutagen.mp4 import MP4

from events.types import (
    BookParsed,
    BookWarning,
    Event,
    JobAccepted,
    JobCompleted,
    JobReopened,
    SegmentSynthesized,
)
from services.app.stack import start_nats_server
from services.app.supervise import stop_process
from services.parse.readers.epub import read_epub
from services.testing.epubcheck import epubcheck, epubcheck_command, epubcheck_required
from services.testing.waiting import events_at
from tests.conftest import ROOT, book
from tests.loudness import whole_file_loudness

pytestmark = pytest.mark.slow


def run_cli(args: list[str], data_dir: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, AUDIOBOOK_DATA_DIR=str(data_dir))
    env.pop("AUDIOBOOK_NATS_URL", None)
    return subprocess.run([sys.executable, "-m", "services", *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=timeout)


def logged_events(data_dir: Path) -> list[Event]:
    """Reopen the embedded server's store after the CLI exited and read the log."""
    async def read() -> list[Event]:
        proc, url = start_nats_server(data_dir / "nats")
        try:
            events = await events_at(url)
        finally:
            stop_process(proc)
        return events

    return asyncio.run(read())


def logged_segments(data_dir: Path) -> tuple[BookParsed, list[SegmentSynthesized], JobCompleted]:
    """The job's parsed book, segments and completion from the embedded server's log."""
    events = logged_events(data_dir)
    parsed = [e for e in events if isinstance(e, BookParsed)]
    done = [e for e in events if isinstance(e, SegmentSynthesized)]
    completed = [e for e in events if isinstance(e, JobCompleted)]
    assert len(parsed) == 1 and len(completed) == 1
    return parsed[0], done, completed[0]


def check_audiobook(output: Path, source: Path, data_dir: Path, chapters: list[int] | None = None) -> None:
    """The M4B of ``source`` (only the ``chapters`` numbered, if given) as the log says it was made."""
    book_read = read_epub(source)
    book_titles = [c.title for c in book_read.chapters]
    expected = [book_titles[number - 1] for number in chapters] if chapters else book_titles
    audio = MP4(str(output))
    assert audio.info.codec.startswith("mp4a") and audio.tags is not None
    titles = [c.title for c in audio.chapters]
    starts = [c.start for c in audio.chapters]
    assert titles == expected
    assert starts[0] == 0 and all(a < b for a, b in itertools.pairwise(starts))
    parsed, segments, completed = logged_segments(data_dir)
    assert len({(s.chapter, s.index) for s in segments}) == sum(c.segments for c in parsed.chapters)
    total = sum(s.samples for s in {(s.chapter, s.index): s for s in segments}.values()) / segments[0].sample_rate
    assert abs(audio.info.length - total) < 0.5, (audio.info.length, total)
    # each chapter starts where the audio of the chapters before it ends
    position = 0.0
    for chapter, start in zip(parsed.chapters, starts, strict=True):
        assert abs(start - position) < 0.05, (chapter.title, start, position)
        position += sum(s.samples for s in segments if s.chapter == chapter.index) / segments[0].sample_rate
    assert completed.chapters == len(expected)
    assert audio.tags.get("©nam") == [book_read.title]
    assert audio.tags.get("©ART") == [book_read.author]
    narrator = f"{parsed.voice} ({parsed.engine})"
    assert audio.tags.get("©wrt") == [narrator] and audio.tags.get("©nrt") == [narrator]
    for key, value in (("©day", book_read.year), ("©pub", book_read.publisher), ("desc", book_read.description)):
        assert audio.tags.get(key) == ([value] if value else None), key
    if parsed.engine == "test":  # the instant engine speaks silence: neither levelled nor measured
        assert completed.loudness_lufs is None and completed.true_peak_dbtp is None
        return
    # loudness: reported in job.completed, and the same when measured here on the downloaded file
    assert completed.loudness_lufs is not None and completed.true_peak_dbtp is not None
    assert abs(completed.loudness_lufs - -19.0) <= 1.0 and completed.true_peak_dbtp <= -3.0
    found = whole_file_loudness(output)
    assert found is not None and abs(found.lufs - completed.loudness_lufs) <= 0.15
    assert abs(found.true_peak_dbtp - completed.true_peak_dbtp) <= 0.15  # both rounded to 0.1 dB
    # the range from the short-term loudness of stretches measured apart: near the whole file's
    assert completed.loudness_range_lu is not None and abs(found.range_lu - completed.loudness_range_lu) <= 0.5
    assert [c.chapter for c in completed.chapter_loudness] == [c.index for c in parsed.chapters if c.segments]


def test_convert_short_book_with_real_voice(tmp_path: Path) -> None:
    source = book("epub/se_jane-austen_unknown-novel.epub")
    output = tmp_path / "novel.m4b"
    result = run_cli(["convert", str(source), "-o", str(output)], tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "1 chapters" in result.stdout
    check_audiobook(output, source, tmp_path / "data")
    length = MP4(str(output)).info.length
    assert 15 < length < 40, "about 20 s: the chapter only, no front or back matter"
    assert "covr" in MP4(str(output)).tags


def test_convert_alice_with_real_voice(tmp_path: Path) -> None:
    source = book("epub/alice_epub3-nav-only_epubjs.epub")
    output = tmp_path / "alice.m4b"
    # its last two chapters (5 minutes of speech): the whole book takes minutes of both cores, and two
    # chapters show all the same (chapter marks, tags, loudness, the longest-first last quarter)
    result = run_cli(["convert", str(source), "-o", str(output), "--workers", "2", "--chapters", "9-10"],
                     tmp_path / "data")
    assert result.returncode == 0, result.stderr
    check_audiobook(output, source, tmp_path / "data", chapters=[9, 10])
    assert MP4(str(output)).info.length > 4.5 * 60


def test_second_run_reuses_the_finished_job(tmp_path: Path) -> None:
    source = book("epub/se_jane-austen_unknown-novel.epub")
    first = run_cli(["convert", str(source), "-o", str(tmp_path / "a.m4b"), "--engine", "test"], tmp_path / "d")
    second = run_cli(["convert", str(source), "-o", str(tmp_path / "b.m4b"), "--engine", "test"], tmp_path / "d")
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert (tmp_path / "a.m4b").read_bytes() == (tmp_path / "b.m4b").read_bytes()
    _, segments, _ = logged_segments(tmp_path / "d")
    assert all(not s.cache_hit for s in segments) and len(segments) == len({(s.chapter, s.index) for s in segments})


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("edge/not-an-epub.epub", "not a zip archive"),
        ("edge/not-an-epub-but-a-zip.epub", "no META-INF/container.xml"),
        ("edge/alice_without_cover_minimal.epub", "no readable text"),
    ],
)
def test_bad_books_fail_with_one_clear_line(tmp_path: Path, name: str, message: str) -> None:
    result = run_cli(["convert", str(book(name)), "-o", str(tmp_path / "x.m4b")], tmp_path / "data", timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("audiobook: error:") and message in lines[0], result.stderr
    assert not (tmp_path / "x.m4b").exists()


def test_missing_file_and_unknown_voice(tmp_path: Path) -> None:
    missing = run_cli(["convert", str(tmp_path / "nope.epub")], tmp_path / "data", timeout=60)
    assert missing.returncode == 1 and "no such file" in missing.stderr
    voice = run_cli(["convert", str(book("epub/se_jane-austen_unknown-novel.epub")), "--voice", "nobody"],
                    tmp_path / "data", timeout=60)
    assert voice.returncode == 1 and "unknown voice 'nobody'" in voice.stderr
    assert "en_US-joe-medium" in voice.stderr, "the error lists the voices that exist"
    nobody = run_cli(["status", "--nats-url", "nats://127.0.0.1:1"], tmp_path / "data", timeout=20)
    assert nobody.returncode == 1
    assert nobody.stderr.strip().splitlines() == [nobody.stderr.strip()], "one line, no traceback"
    assert "cannot reach NATS at nats://127.0.0.1:1" in nobody.stderr


def test_sample_book_converts(tmp_path: Path) -> None:
    sample = tmp_path / "sample.epub"
    assert run_cli(["sample-book", str(sample)], tmp_path / "data", timeout=60).returncode == 0
    result = run_cli(["convert", str(sample), "-o", str(tmp_path / "s.m4b"), "--engine", "test"], tmp_path / "data")
    assert result.returncode == 0, result.stderr
    check_audiobook(tmp_path / "s.m4b", sample, tmp_path / "data")


def test_commands_attach_to_the_embedded_stack_of_a_running_conversion(tmp_path: Path) -> None:
    """While `convert` runs its embedded stack, `status`, `workers` and `pause JOB` reach it (no URL)."""
    import time

    from services.app.stack import RUNNING

    sample, data = tmp_path / "sample.epub", tmp_path / "data"
    assert run_cli(["sample-book", str(sample)], data, timeout=60).returncode == 0
    # the job must still be running when `pause` arrives, however busy the machine: about a minute of work
    env = dict(os.environ, AUDIOBOOK_DATA_DIR=str(data), AUDIOBOOK_MAX_SEGMENT_CHARS="120", AUDIOBOOK_SIMULATED_RTF="4")
    env.pop("AUDIOBOOK_NATS_URL", None)
    converting = subprocess.Popen(
        [sys.executable, "-m", "services", "convert", str(sample), "-o", str(tmp_path / "s.m4b"), "--engine", "test",
         "--voice", "slow", "--workers", "1", "-q"], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (data / RUNNING).exists():
            assert converting.poll() is None and time.monotonic() < deadline, "the stack did not start"
            time.sleep(0.2)
        while "parsed" not in (status := run_cli(["status"], data, timeout=60)).stdout:
            assert time.monotonic() < deadline, status.stdout + status.stderr
        assert status.returncode == 0 and "The Lantern Keeper" in status.stdout, status.stderr
        workers = run_cli(["workers"], data, timeout=60)
        assert workers.returncode == 0 and "tts" in workers.stdout and "embedded" in workers.stdout
        job = run_cli(["status", "--json"], data, timeout=60)
        job_id = orjson.loads(job.stdout)["jobs"][0]["job_id"]
        assert run_cli(["pause", job_id], data, timeout=60).returncode == 0
        assert "paused" in run_cli(["status", job_id], data, timeout=60).stdout
        assert run_cli(["unpause", job_id], data, timeout=60).returncode == 0
        out, err = converting.communicate(timeout=120)
    finally:
        if converting.poll() is None:
            converting.kill()
    assert converting.returncode == 0, err
    assert "s.m4b: 3 chapters" in out and not (data / RUNNING).exists()
    alone = run_cli(["status"], data, timeout=60)  # no conversion runs: the command starts its own server again
    assert alone.returncode == 0 and "completed" in alone.stdout


def test_a_plain_text_book_converts_with_its_chapters(tmp_path: Path) -> None:
    """A Project Gutenberg text file (Windows-1252, CRLF): chapters from its headings, no licence."""
    source = book("other/pg84_frankenstein_cp1252_crlf.txt")
    listed = run_cli(["chapters", str(source)], tmp_path / "data", timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "Letter 1" in listed.stdout and "Chapter 24" in listed.stdout and "read in en" in listed.stdout
    output = tmp_path / "frankenstein.m4b"
    result = run_cli(["convert", str(source), "-o", str(output), "--engine", "test", "--chapters", "1-2,28"],
                     tmp_path / "data")
    assert result.returncode == 0, result.stderr
    audio = MP4(str(output))
    assert [c.title for c in audio.chapters] == ["Letter 1", "Letter 2", "Chapter 24"]
    assert audio.tags is not None and audio.tags.get("©nam") == ["Frankenstein; Or, The Modern Prometheus"]
    assert audio.tags.get("©ART") == ["Mary Wollstonecraft Shelley"]


def test_a_broken_epub_converts_and_the_cli_names_what_it_skipped(tmp_path: Path) -> None:
    """Alice with chapter 3's file missing converts; the CLI says what is not read. The request's
    pauses and lexicon travel with it (recorded in job.accepted)."""
    from tests.broken_epubs import broken_alice

    source = broken_alice("missing-file", tmp_path)
    lexicon = tmp_path / "names.txt"
    lexicon.write_text("Dinah = Dye-nah\n[fr]\nAlice = Alisse\n", encoding="utf-8")
    output = tmp_path / "alice.m4b"
    result = run_cli(["convert", str(source), "-o", str(output), "--engine", "test", "--chapters", "1-3",
                      "--pause", "chapter=2500", "--pause", "sentence=300", "--lexicon", str(lexicon)],
                     tmp_path / "data")
    assert result.returncode == 0, result.stderr
    said = result.stdout + result.stderr
    assert "warning: chapter_003.xhtml is listed in the book but missing from the file" in said
    audio = MP4(str(output))
    assert [c.title for c in audio.chapters] == ["Down The Rabbit-Hole", "The Pool Of Tears",
                                                 "The Rabbit Sends In A Little Bill"]
    events = logged_events(tmp_path / "data")
    (accepted,) = [e for e in events if isinstance(e, JobAccepted)]
    assert accepted.pauses == "sentence=300,chapter=2500" and "Dinah = Dye-nah" in accepted.lexicon
    (warned,) = [e for e in events if isinstance(e, BookWarning)]
    assert len(warned.warnings) == 1
    bad = tmp_path / "bad.txt"
    bad.write_text("Dinah Dye-nah\n", encoding="utf-8")
    refused = run_cli(["convert", str(source), "--engine", "test", "--lexicon", str(bad)], tmp_path / "data")
    assert refused.returncode != 0 and "lexicon line 1" in refused.stderr


def test_parts_and_files_per_chapter(tmp_path: Path) -> None:
    """Die Verwandlung (instant voice, 6-7 minutes a chapter) as parts of at most 7.2 minutes and as
    Opus files per chapter, each with its read-along; then `audiobook export` makes MP3s (and their
    read-alongs) from the same M4B."""
    from mutagen.mp3 import MP3
    from mutagen.oggopus import OggOpus

    from services.app.exports import read_cues

    output = tmp_path / "kafka.m4b"
    result = run_cli(["convert", str(book("epub/pg22367_die-verwandlung_de.epub")), "-o", str(output),
                      "--engine", "test", "--voice", "short", "--format", "opus", "--split-hours", "0.12",
                      "--read-along"], tmp_path / "data")
    assert result.returncode == 0, result.stderr
    whole = MP4(str(output))
    assert whole.info is not None
    starts = [c.start for c in whole.chapters] + [whole.info.length]
    lengths = [b - a for a, b in itertools.pairwise(starts)]
    assert all(300 < length < 432 for length in lengths), lengths
    parts = sorted(tmp_path.glob("kafka - Part *.m4b"))
    assert len(parts) == 3 and all(str(p) in result.stdout for p in parts)
    for number, (part, length) in enumerate(zip(parts, lengths, strict=True), start=1):
        cut = MP4(str(part))
        assert cut.info is not None and abs(cut.info.length - length) < 0.1
        assert [c.title for c in cut.chapters] == [["I", "II", "III"][number - 1]]  # a title's period is not kept
        assert cut.tags is not None and cut.tags.get("©nam") == [f"Die Verwandlung (Part {number} of 3)"]
        assert cut.tags.get("©ART") == ["Franz Kafka"]
    opus = sorted((tmp_path / "kafka").glob("*.opus"))
    assert [p.name for p in opus] == ["01 - I.opus", "02 - II.opus", "03 - III.opus"]
    for number, (path, length) in enumerate(zip(opus, lengths, strict=True), start=1):
        audio = OggOpus(str(path))
        assert abs(audio.info.length - length) < 0.1
        assert audio.tags["title"] == [["I", "II", "III"][number - 1]] and audio.tags["album"] == ["Die Verwandlung"]
        assert audio.tags["tracknumber"] == [f"{number}/3"]
    # the read-along: the book's, and each part's and chapter file's, timed from its own start
    whole_cues = read_cues(output.with_suffix(".vtt")) or []
    assert len(whole_cues) > 100
    for files in (parts, opus):
        cut = [read_cues(path.with_suffix(".vtt")) or [] for path in files]
        assert [text for cues in cut for _, _, text in cues] == [text for _, _, text in whole_cues], "each once"
        for cues, length in zip(cut, lengths, strict=True):
            assert 0 <= cues[0][0] < 1.5 and cues[-1][1] <= length + 0.01, (cues[0], cues[-1], length)
    # the read-along EPUB: Kafka's own EPUB 3, each sentence in a span, timed in each chapter's audio
    epub = tmp_path / "kafka.read-along.epub"
    with zipfile.ZipFile(epub) as archive:
        smil = b"".join(archive.read(n) for n in archive.namelist() if n.endswith(".smil"))
        assert sorted(n for n in archive.namelist() if n.endswith(".m4a")) == [
            f"OEBPS/audio/chapter-000{n}.m4a" for n in (1, 2, 3)]
        assert b'id="ra-0-0-0-0"' in archive.read("OEBPS/2097306185907334295_22367-h-0.htm.xhtml")
    assert smil.count(b"<par ") == len(whole_cues), "every cue a par"
    if epubcheck_command() is not None or epubcheck_required():
        ok, said = epubcheck(epub)
        assert ok, said
    exported = run_cli(["export", str(output), "--format", "mp3"], tmp_path / "data", timeout=300)
    assert exported.returncode == 0, exported.stderr
    mp3s = sorted((tmp_path / "kafka").glob("*.mp3"))
    assert len(mp3s) == 3 and all(abs(MP3(str(p)).info.length - n) < 0.2 for p, n in zip(mp3s, lengths, strict=True))
    assert all(path.with_suffix(".vtt").is_file() for path in mp3s), "an export cuts the read-along too"


def test_a_checked_conversion_reports_what_was_heard_and_lists_the_flagged(tmp_path: Path) -> None:
    """The embedded stack runs a check worker: a book read by a voice that says nothing is flagged
    throughout, the CLI says so, and `audiobook check JOB` shows each segment's text and what was heard."""
    source = book("epub/se_jane-austen_unknown-novel.epub")
    result = run_cli(["convert", str(source), "-o", str(tmp_path / "silent.m4b"), "--engine", "damaged",
                      "--voice", "silence-100", "--check", "all"], tmp_path / "data")
    assert result.returncode == 0, result.stderr
    parsed, _, completed = logged_segments(tmp_path / "data")
    total = parsed.total_segments
    assert completed.quality is not None and completed.quality.checked == completed.quality.flagged == total
    assert f"heard {total} segments: {total} flagged" in result.stdout
    assert "no speech heard" in result.stdout and "most of the book failed the check" in result.stdout
    job = result.stdout.rsplit("job ", 1)[1].split(")")[0]
    listed = run_cli(["check", job], tmp_path / "data", timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith(f"{job}: {total} segments heard, {total} flagged")
    assert listed.stdout.count("heard: (nothing)") == total and "text:  " in listed.stdout

    refused = run_cli(["retake", job, "99.1"], tmp_path / "data", timeout=120)
    assert refused.returncode != 0 and f"the book has {len(parsed.chapters)} chapters: there is no segment 99.1" in (
        refused.stderr), refused.stderr
    again = run_cli(["retake", job, "1.2", "-o", str(tmp_path / "again.m4b")], tmp_path / "data")
    assert again.returncode == 0, again.stderr
    assert "asking new takes of 1.2" in again.stdout and f"heard {total} segments: {total} flagged" in again.stdout
    events = logged_events(tmp_path / "data")
    (reopened,) = [e for e in events if isinstance(e, JobReopened)]
    takes = [(e.take, e.cache_hit, e.generation) for e in events if isinstance(e, SegmentSynthesized)
             and (e.chapter, e.index) == (0, 1)]
    earlier = max(take for take, _, generation in takes if generation == 0)  # the check's own retakes: 3 in all
    assert earlier == 2 and reopened.retakes == ((0, 1, earlier + 1),), "past every take the check asked for"
    assert [take for take, _, generation in takes if generation == 1] == [3, 4, 5], "its own run of three takes"
    assert not any(cache_hit for _, cache_hit, _ in takes), "a new take, never the cached audio"
    assert [e.generation for e in events if isinstance(e, JobCompleted)] == [0, 1]
    assert (tmp_path / "again.m4b").stat().st_size > 0
