"""convert.request validation: every bad request gets a reason a person understands."""

import orjson
import pytest

from events.requests import ConvertRequest, RequestError, job_id_for, parse_request, request_ref


def test_minimal_object_request() -> None:
    request = parse_request(b'{"source": {"object": "sources/abc.epub"}}')
    assert request == ConvertRequest(source_object="sources/abc.epub")


def test_full_path_request_round_trips() -> None:
    raw = orjson.dumps({"source": {"path": "/books/a.epub"}, "engine": "piper", "voice": "v", "speed": 1.5,
                        "request_id": "mine"})
    request = parse_request(raw)
    assert request.source_path == "/books/a.epub" and request.speed == 1.5 and request.request_id == "mine"
    assert parse_request(request.encode()) == request


def test_source_as_plain_string_is_a_path() -> None:
    assert parse_request(b'{"source": "book.epub"}').source_path == "book.epub"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b'"just a string"', "must be a JSON object"),
        (b"{}", 'missing "source"'),
        (b'{"source": {"object": "a", "path": "b"}}', '"source" must be'),
        (b'{"source": {"url": "http://x"}}', '"source" must be'),
        (b'{"source": {"object": ""}}', "non-empty string"),
        (b'{"source": {"object": 5}}', "non-empty string"),
        (b'{"source": "a.epub", "speed": "fast"}', '"speed" must be a number'),
        (b'{"source": "a.epub", "speed": 100}', '"speed" must be a number'),
        (b'{"source": "a.epub", "speed": true}', '"speed" must be a number'),
        (b'{"source": "a.epub", "voice": 3}', '"voice" must be a non-empty string'),
        (b'{"source": "a.epub", "colour": "blue"}', "unknown field(s) colour"),
        (b'{"source": "a.epub", "pauses": {"breath": 100}}', "KIND=MILLISECONDS"),
        (b'{"source": "a.epub", "pauses": {"chapter": 99999}}', "the limit is 10000 ms"),
        (b'{"source": "a.epub", "pauses": {"chapter": -5}}', "whole milliseconds"),
        (b'{"source": "a.epub", "pauses": 5}', '"pauses" must be'),
        (b'{"source": "a.epub", "lexicon": ["a = b"]}', '"lexicon" must be the text'),
    ],
)
def test_bad_requests(raw: bytes, reason: str) -> None:
    with pytest.raises(RequestError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_request(raw)


def test_oversize_request() -> None:
    with pytest.raises(RequestError, match="the limit is"):
        parse_request(b'{"source": "' + b"a" * 70_000 + b'"}')


def test_job_id_depends_on_content_and_settings_only() -> None:
    base = job_id_for("ab" * 32, "piper", "v", 1.0)
    assert base == job_id_for("ab" * 32, "piper", "v", 1.0)
    assert base != job_id_for("cd" * 32, "piper", "v", 1.0)
    assert base != job_id_for("ab" * 32, "piper", "w", 1.0)
    assert base != job_id_for("ab" * 32, "piper", "v", 1.1)
    assert base.isalnum() and request_ref(b"x").isalnum()


def test_pauses_and_lexicon_are_part_of_the_request_and_the_job() -> None:
    request = parse_request(b'{"source": "a.epub", "pauses": {"chapter": 2500, "sentence": 250}, '
                            b'"lexicon": "Hermione = Her-my-oh-nee"}')
    assert request.pauses == "chapter=2500"  # only what differs from the defaults
    assert parse_request(request.encode()) == request
    assert parse_request(b'{"source": "a.epub", "pauses": "chapter=2500"}').pauses == "chapter=2500"
    assert parse_request(b'{"source": "a.epub", "pauses": {"chapter": 1800}}').pauses is None
    plain = job_id_for("s" * 64, None, None, 1.0)
    assert job_id_for("s" * 64, None, None, 1.0, pauses=request.pauses) != plain
    assert job_id_for("s" * 64, None, None, 1.0, lexicon=request.lexicon) != plain
    assert job_id_for("s" * 64, None, None, 1.0, lexicon="x = y") != job_id_for("s" * 64, None, None, 1.0,
                                                                                 lexicon=request.lexicon)
