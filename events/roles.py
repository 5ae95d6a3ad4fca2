"""Who may publish what: per-role NATS permissions, defined once (pure).

Only the service that owns a fact can publish it: parse announces jobs and queues segments,
tts reports segments and writes audio, check reports what it heard, assemble completes or fails
jobs. A client (the CLI, a
script, the dashboard) may request conversions, upload books into the ``uploads`` bucket and
read everything it needs to follow a job and fetch its book; it can write no event, no command
and no audio. ``admin`` may do anything (the embedded stack's own CLI: cancel, purge).

``authorization_block`` renders the table as nats-server configuration, so the embedded
stack (generated passwords) and the compose stack (passwords from the environment) enforce the
same rules; docs/security.md explains them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from events import names

ROLES = ("client", "parse", "tts", "assemble", "check", "admin")
SERVICE_ROLES = ("parse", "tts", "assemble", "check")


def _event(kind: str) -> str:
    return f"{names.EVENTS_PREFIX}.*.{kind}"


def _get_from(stream: str) -> list[str]:
    """JetStream API calls that read a stream without a consumer: its info, and messages by sequence or subject."""
    return [f"$JS.API.STREAM.INFO.{stream}", f"$JS.API.STREAM.MSG.GET.{stream}", f"$JS.API.DIRECT.GET.{stream}.>",
            f"$JS.API.DIRECT.GET.{stream}"]


def _read_stream(stream: str) -> list[str]:
    """JetStream API calls that read a stream: info, message get, ephemeral consumers and their pulls.

    A consumer created by name is created or updated, so a stream a client reads this way must
    hold no durable consumer of the services (EVENTS has three: clients read its mirror).
    """
    return [*_get_from(stream), f"$JS.API.CONSUMER.CREATE.{stream}", f"$JS.API.CONSUMER.CREATE.{stream}.>",
            f"$JS.API.CONSUMER.INFO.{stream}.*", f"$JS.API.CONSUMER.DELETE.{stream}.*",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.*"]


_OBJ = f"OBJ_{names.OBJECT_BUCKET}"
_UPLOADS = f"OBJ_{names.UPLOADS_BUCKET}"
_AUDIO = f"OBJ_{names.AUDIO_BUCKET}"
_SERVICE_COMMON = ["$JS.API.>", "$JS.ACK.>", "$JS.FC.>", "_INBOX.>", "$SRV.>"]  # $SRV: health checks

PUBLISH: dict[str, list[str]] = {
    "client": [  # no $JS.ACK: a client's own consumers never ack, and it must not ack the services' work
        names.REQUEST_SUBJECT, "$JS.API.INFO", "$JS.FC.>", "_INBOX.>",
        *_get_from(names.EVENTS_STREAM), *_read_stream(names.EVENTS_VIEW_STREAM),
        *_read_stream(names.DEAD_STREAM), *_read_stream(_OBJ),
        *_read_stream(_UPLOADS), f"$JS.API.STREAM.INFO.{names.SYNTH_STREAM}", "$JS.API.STREAM.NAMES",
        f"$JS.API.CONSUMER.INFO.{names.SYNTH_STREAM}.*",  # queue depths per engine (status, dashboard)
        f"$JS.API.STREAM.PURGE.{_UPLOADS}", f"$O.{names.UPLOADS_BUCKET}.>",
        f"$JS.API.STREAM.INFO.KV_{names.CHECKPOINT_BUCKET}", f"$JS.API.DIRECT.GET.KV_{names.CHECKPOINT_BUCKET}.>",
        "$SRV.>", f"{names.CONTROL_PREFIX}.*.*.status",  # discovery and status; controls (drain) are admin's
    ],
    "parse": [
        *_SERVICE_COMMON, _event("job.accepted"), _event("job.rejected"), _event("job.resumed"),
        _event("job.reopened"), _event("book.parsed"), _event("book.warning"), names.all_synth_filter(),
        _event("job.cancelled"), _event("job.paused"),  # a named user's stop of their own job (convert.stop)
        names.dead_letter_subject("parse"),
        # keeps sources, removes rejected uploads (the shared store's and named users' own), keeps reference
        # recordings where workers read them: every bucket (a named user's store is one token of its own)
        "$O.>",
    ],
    "tts": [  # least privilege: a worker may run on a rented host (docs/security.md)
        _event("segment.synthesized"), _event("segment.failed"), names.dead_letter_subject("tts"),
        "$JS.API.INFO", "$JS.FC.>", "$SRV.>",  # (it answers requests: allow_responses, RESPONDERS)
        # its engines' commands: taken, acknowledged; one nobody finished is read and removed (EXHAUSTED)
        f"$JS.API.STREAM.INFO.{names.SYNTH_STREAM}", f"$JS.API.CONSUMER.INFO.{names.SYNTH_STREAM}.*",
        f"$JS.API.CONSUMER.MSG.NEXT.{names.SYNTH_STREAM}.*", f"$JS.ACK.{names.SYNTH_STREAM}.>",
        f"$JS.API.STREAM.MSG.GET.{names.SYNTH_STREAM}", f"$JS.API.STREAM.MSG.DELETE.{names.SYNTH_STREAM}",
        f"$JS.API.DIRECT.GET.{names.SYNTH_STREAM}",
        f"$JS.API.STREAM.INFO.{names.EXHAUSTED_STREAM}",
        f"$JS.API.CONSUMER.INFO.{names.EXHAUSTED_STREAM}.{names.EXHAUSTED_TTS_CONSUMER}",
        f"$JS.API.CONSUMER.MSG.NEXT.{names.EXHAUSTED_STREAM}.{names.EXHAUSTED_TTS_CONSUMER}",
        f"$JS.ACK.{names.EXHAUSTED_STREAM}.>",
        *_get_from(f"KV_{names.CHECKPOINT_BUCKET}"),  # whether a job was cancelled
        *_read_stream(_AUDIO), f"$JS.API.STREAM.PURGE.{_AUDIO}", f"$O.{names.AUDIO_BUCKET}.>",  # the audio only
    ],
    "check": [  # least privilege too (a GPU host like a tts worker's): hears segments, reads and keeps audio,
        # publishes its verdicts and the retakes the events' check orders carry (parse made and signed them)
        _event("segment.checked"), names.dead_letter_subject("check"), names.all_synth_filter(),
        "$JS.API.INFO", "$JS.FC.>", "$SRV.>",
        f"$JS.API.STREAM.INFO.{names.EVENTS_STREAM}", f"$JS.API.STREAM.INFO.{names.SYNTH_STREAM}",
        f"$JS.API.CONSUMER.INFO.{names.EVENTS_STREAM}.{names.CHECK_CONSUMER}",
        f"$JS.API.CONSUMER.MSG.NEXT.{names.EVENTS_STREAM}.{names.CHECK_CONSUMER}",
        f"$JS.ACK.{names.EVENTS_STREAM}.{names.CHECK_CONSUMER}.>",
        *_read_stream(_AUDIO), f"$JS.API.STREAM.PURGE.{_AUDIO}", f"$O.{names.AUDIO_BUCKET}.>",
    ],
    "assemble": [
        *_SERVICE_COMMON, _event("job.completed"), _event("job.failed"), names.dead_letter_subject("assemble"),
        "$O.>", f"$KV.{names.CHECKPOINT_BUCKET}.>",  # books, and a named user's copy in their own store
    ],
    "admin": [">"],
}
SUBSCRIBE: dict[str, list[str]] = {
    "client": ["_INBOX.>"],
    **{role: ["_INBOX.>", "$SRV.>", f"{names.CONTROL_PREFIX}.{role}.>"] for role in SERVICE_ROLES},
    "tts": [f"{names.WORKER_INBOX}.>", "$SRV.>", f"{names.CONTROL_PREFIX}.tts.>"],  # no one else's replies
    "check": [f"{names.CHECK_INBOX}.>", "$SRV.>", f"{names.CONTROL_PREFIX}.check.>"],
    "admin": [">"],
}
RESPONDERS = SERVICE_ROLES  # may answer any request they received (nats micro): a named user's inbox too


def user_publish(user: str) -> list[str]:
    """What a named user may publish: their own requests, consumers on their own jobs' events in the
    mirror (the filter is in the subject, so the server checks it), their own object store.

    Nothing lists or gets messages by sequence (that would read anyone's events), no stream info
    of the logs or the queue (their subject lists name everyone's jobs), no checkpoint, no dead
    letter, no service status.
    """
    view, bucket = names.EVENTS_VIEW_STREAM, names.object_stream(names.user_bucket(user))
    return [
        names.request_subject(user), names.stop_subject(user), "$JS.API.INFO", "$JS.FC.>",
        f"$JS.API.CONSUMER.CREATE.{view}.*.{names.user_events_filter(user)}",
        f"$JS.API.CONSUMER.INFO.{view}.*", f"$JS.API.CONSUMER.DELETE.{view}.*", f"$JS.API.CONSUMER.MSG.NEXT.{view}.*",
        *_read_stream(bucket), f"$JS.API.STREAM.PURGE.{bucket}", f"$O.{names.user_bucket(user)}.>",
        f"$JS.API.CONSUMER.INFO.{names.SYNTH_STREAM}.*",  # queue depths (the queue's stream info names every job)
    ]  # no service status either ($SRV, audiobook.*.*.status): a worker's names the jobs in its hands


def user_subscribe(user: str) -> list[str]:
    """A named user reads replies on their own inbox prefix only (``names.user_inbox``)."""
    return [f"{names.user_inbox(user)}.>"]


def _quoted(subjects: list[str]) -> str:
    return ", ".join(f'"{s}"' for s in subjects)


def _entry(user: str, password: str, publish: list[str], subscribe: list[str], responds: bool) -> str:
    return (f"    {{ user: {user}, password: {password},\n"
            f"      permissions: {{\n"
            f"        publish: {{ allow: [{_quoted(publish)}] }}\n"
            f"        subscribe: {{ allow: [{_quoted(subscribe)}] }}\n"
            + ("        allow_responses: true\n" if responds else "") +
            "      } }")


def authorization_block(passwords: Mapping[str, str], users: Mapping[str, str] | None = None) -> str:
    """nats-server ``authorization`` configuration: one user per role, with its permissions, and
    each named user (``users``: name -> the bcrypt hash of their password) with theirs.

    A role's password is written as it should appear in the file: a quoted literal, or
    ``$VARIABLE`` for one the server reads from its environment.
    """
    entries = [_entry(role, passwords[role], PUBLISH[role], SUBSCRIBE[role], role in RESPONDERS) for role in ROLES]
    entries += [_entry(user, json.dumps(hashed), user_publish(user), user_subscribe(user), False)
                for user, hashed in sorted((users or {}).items())]
    return "authorization {\n  users = [\n" + "\n".join(entries) + "\n  ]\n}\n"


def password_variable(role: str) -> str:
    """The environment variable that holds ``role``'s password in the compose stack."""
    return f"NATS_{role.upper()}_PASSWORD"


def compose_roles_conf(users: Mapping[str, str] | None = None) -> str:
    """``nats/roles.conf``: the compose stack's users, role passwords read from the server's
    environment; named users (``audiobook user add NAME --compose``) with their bcrypt hashes."""
    header = ("# Generated from events/roles.py (tests/unit/test_roles.py keeps it in sync): one user per role.\n"
              "# Passwords come from the environment; there is no default credential.\n"
              + ("# Named users: written by `audiobook user add|remove NAME --compose` (nats/users.json).\n"
                 if users else ""))
    return header + authorization_block({role: f"${password_variable(role)}" for role in ROLES},
                                        users)
