"""Every number a person or a client gives is finite and in its range, or refused with a message
naming the option or field and the range: the CLI's options (through the real argparse parser),
the export's split hours, and each numeric field of a convert request."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest

from events.audio import MAX_PAUSE_MS, Pauses
from events.requests import RequestError, parse_request
from services.app import convert
from services.app.cli import build_parser
from services.app.exports import Audiobook, ExportError, Mark, check_split_hours, plan_parts, split_parts
from services.settings import Settings

BAD = ["nan", "NaN", "inf", "-inf", "0", "-0", "-1", "-2.5", "1e-9", "1e400", "-1e400", "", "x"]

# (the arguments before the option, the option, what its message says, a value it accepts, one too big)
OPTIONS = [
    (["convert", "b.epub"], "--speed", "a speaking speed from 0.25 to 4", "0.25", "4.01"),
    (["convert", "b.epub"], "--split-hours", "a number of hours from 0.1 to 1000", "0.1", "1000.5"),
    (["export", "b.m4b"], "--split-hours", "a number of hours from 0.1 to 1000", "1000", "1e9"),
    (["convert", "b.epub"], "--workers", "a whole number of tts worker processes from 1 to 64", "1", "65"),
    (["resume", "j1"], "--workers", "a whole number of tts worker processes from 1 to 64", "64", "1000"),
    (["retry", "j1"], "--workers", "a whole number of tts worker processes from 1 to 64", "2", "65"),
    (["serve", "tts"], "--workers", "a whole number of tts worker processes from 1 to 64", "3", "65"),
    (["serve", "tts"], "--threads", "a whole number of engine threads from 1 to 256", "256", "257"),
    (["pause"], "--minutes", "a number of minutes from 1 to 43200", "1.5", "43201"),
    (["health", "--role", "tts"], "--wait", "a number of seconds from 0.1 to 60", "0.1", "61"),
]


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """argparse's message for ``argv``, which it must refuse (exit status 2)."""
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("value", [*BAD, "too big"])
@pytest.mark.parametrize(("before", "option", "says", "good", "too_big"), OPTIONS,
                         ids=[f"{b[0]} {o}" for b, o, *_ in OPTIONS])
def test_every_numeric_option_refuses_what_is_not_in_its_range(
    before: list[str], option: str, says: str, good: str, too_big: str, value: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    value = too_big if value == "too big" else value
    err = refused([*before, f"{option}={value}"], capsys)
    assert f"argument {option}: must be {says}, not {value!r}" in err, err
    assert float(getattr(build_parser().parse_args([*before, option, good]), option[2:].replace("-", "_"))) \
        == float(good)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "1e-9", "2.5", "0x10", "１０", "10001", "9" * 5000])
def test_a_pause_option_is_whole_milliseconds_from_0_to_10000(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(["convert", "b.epub", "--pause", f"chapter={value}"], capsys)
    assert "argument --pause: the chapter pause" in err and f"{MAX_PAUSE_MS}" in err, err


def test_a_pause_of_0_or_10000_ms_is_accepted() -> None:
    args = build_parser().parse_args(["convert", "b.epub", "--pause", "chapter=0", "--pause", "sentence=10000"])
    assert Pauses.from_spec(",".join(args.pause)) == Pauses(chapter=0, sentence=10_000)


@pytest.mark.parametrize("hours", [math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, 1e-9, 0.09, 1000.1, 1e308])
def test_split_hours_are_refused_before_anything_is_cut(hours: float, tmp_path: Path) -> None:
    """The command's own check and the cutter's: 1e-9 hours once planned parts until memory ran out."""
    book = Audiobook(tmp_path / "b.m4b", [Mark("One", 0.0, 3600.0)], {"title": "b"})
    with pytest.raises(ExportError, match=r"--split-hours must be a number of hours from 0\.1 \(6 minutes\) to 1000"):
        convert.export_files(book.path, "m4b", hours)
    with pytest.raises(ExportError, match="--split-hours"):
        split_parts("ffmpeg-is-never-run", book, hours)
    assert check_split_hours(0.1) == 0.1 and check_split_hours(1000) == 1000.0


@pytest.mark.parametrize("seconds", [math.nan, math.inf, -math.inf, 0.0, -1.0])
def test_parts_are_planned_only_for_a_finite_length(seconds: float) -> None:
    with pytest.raises(ValueError, match="finite number of seconds"):
        plan_parts([Mark("One", 0.0, 60.0)], seconds)


JSON_BAD = ["NaN", "Infinity", "-Infinity", "0", "-0", "-1", "-2.5", "1e-9", "1e400", "-1e400", "1e-400",
            '"nan"', '"inf"', "true", "null", "[]"]


def request(field: str, value: str) -> bytes:
    """A convert request with ``field`` set to the raw JSON text ``value`` (NaN and Infinity included)."""
    return b'{"source": {"object": "sources/a.epub"}, "' + field.encode() + b'": ' + value.encode() + b"}"


@pytest.mark.parametrize("value", [*JSON_BAD, "4.0001", "100"])
def test_a_request_speed_is_a_finite_number_from_a_quarter_to_four(value: str) -> None:
    with pytest.raises(RequestError, match=r'"speed" must be a number from 0\.25 to 4 '):
        parse_request(request("speed", value))


@pytest.mark.parametrize("value", ["0.25", "1", "4", "2.5"])
def test_a_request_speed_in_range_is_accepted(value: str) -> None:
    assert parse_request(request("speed", value)).speed == float(value)


@pytest.mark.parametrize("value", [v for v in JSON_BAD if v not in ("0", "-0", "null")] + ["10001", "2500.5"])
def test_a_request_pause_is_whole_milliseconds_from_0_to_10000(value: str) -> None:
    """Both shapes of ``pauses``: an object of numbers, and the ``KIND=MS`` text."""
    with pytest.raises(RequestError, match=r'"pauses"(: the chapter pause| must map)'):
        parse_request(request("pauses", '{"chapter": ' + value + "}"))
    with pytest.raises(RequestError, match=r'"pauses"(: the chapter pause| must be)'):
        parse_request(request("pauses", orjson.dumps(f"chapter={value.strip(chr(34))}").decode()))


def test_a_pause_of_zero_is_a_pause_of_zero() -> None:
    assert parse_request(request("pauses", '{"chapter": 0}')).pauses == "chapter=0"
    assert parse_request(request("pauses", '"sentence=0,chapter=10000"')).pauses == "sentence=0,chapter=10000"


@pytest.mark.parametrize("value", [*JSON_BAD, '"0"', '"-1"', '"1e-9"', '"0-3"', '"2-1"', '"100001"'])
def test_requested_chapters_are_numbers_from_1(value: str) -> None:
    if value == "null":
        assert parse_request(request("chapters", value)).chapters is None
        return
    with pytest.raises(RequestError, match='"chapters"'):
        parse_request(request("chapters", value))


@pytest.mark.parametrize(("option", "value"), [("--chapters", "0"), ("--chapters", "nan"), ("--chapters", "1e-9")])
def test_the_cli_refuses_the_numbers_a_request_would(option: str, value: str, tmp_path: Path) -> None:
    """`convert` builds its request with parse_request: a bad one stops before anything is uploaded."""
    book = tmp_path / "b.txt"
    book.write_text("Hello.", encoding="utf-8")
    args = build_parser().parse_args(["convert", str(book), option, value])
    with pytest.raises(convert.CliError, match='"chapters"'):
        convert.convert(args, Settings(data_dir=tmp_path / "data", nats_url="nats://127.0.0.1:1"))
