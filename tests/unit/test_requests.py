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


def test_read_along_is_asked_for_in_the_request_and_is_a_job_of_its_own() -> None:
    """The read-along EPUB is another output: a job of its own (its audio comes from the cache), and a
    resume of that job asks for it again."""
    from events.projection import JobState, apply
    from events.requests import resume_request
    from events.types import JobAccepted, JobCompleted

    request = parse_request(b'{"source": "a.epub", "read_along": true}')
    assert request.read_along and parse_request(request.encode()) == request
    assert not parse_request(b'{"source": "a.epub"}').read_along
    for bad in (b'"yes"', b"1", b"null"):
        with pytest.raises(RequestError, match="read_along"):
            parse_request(b'{"source": "a.epub", "read_along": ' + bad + b"}")
    assert job_id_for("s" * 64, None, None, 1.0, read_along=True) != job_id_for("s" * 64, None, None, 1.0)
    state = apply(JobState("j"), JobAccepted("j", "s" * 64, "a.epub", "", "", 1.0, read_along=True))
    assert resume_request(state).read_along
    done = apply(state, JobCompleted("j", "books/j.m4b", 1.0, 1, 1, read_along_object="books/j.vtt",
                                     read_along_book="books/j.epub"))
    assert (done.read_along_object, done.read_along_book) == ("books/j.vtt", "books/j.epub")
    forged = apply(JobState("j"), JobCompleted("j", "books/j.m4b", 1.0, 1, 1, read_along_book="books/k.epub"))
    assert forged.read_along_book == "", "a completion never points a job at another job's objects"


def test_a_failed_check_names_the_language_only_when_it_differs() -> None:
    from services.app.convert import failed_check_hint

    assert "Is the voice's language" in failed_check_hint("de", "en", "j")
    same = failed_check_hint("fr", "fr-FR", "j")
    assert "language" not in same.split(".")[1] and "audiobook retake j" in same
    assert "Does the voice speak" in failed_check_hint("", "en", "j")


def test_a_priority_is_asked_for_bounded_by_the_stack_and_kept_for_a_resume() -> None:
    from events.projection import JobState, apply
    from events.requests import priority_refusal, resume_request
    from events.types import JobAccepted

    assert parse_request(b'{"source": "a.epub", "priority": "urgent"}').priority == "urgent"
    assert parse_request(b'{"source": "a.epub"}').priority is None
    with pytest.raises(RequestError, match="priority"):
        parse_request(b'{"source": "a.epub", "priority": "now!"}')
    request = parse_request(b'{"source": "a.epub", "priority": "background"}')
    assert parse_request(request.encode()) == request
    assert job_id_for("s" * 64, None, None, 1.0) == job_id_for("s" * 64, None, None, 1.0), "not part of the job"
    assert priority_refusal("urgent", "urgent") == priority_refusal(None, "background") == ""
    refused = priority_refusal("urgent", "normal")
    assert "AUDIOBOOK_MAX_PRIORITY" in refused and '"normal"' in refused
    assert priority_refusal("normal", "background") != ""
    state = apply(JobState("j"), JobAccepted("j", "s" * 64, "a.epub", "", "", 1.0, priority="urgent"))
    assert state.requested_priority == "urgent" and resume_request(state).priority == "urgent"
