"""When an existing stream is updated at start-up (pure): only for a real difference, never to raise
a byte limit that was fitted to the server's disk."""

from __future__ import annotations

from dataclasses import replace

from nats.js.api import StreamConfig

from events import names
from services.bus.topology import stream_configs, stream_differs


def events_config() -> StreamConfig:
    return next(c for c in stream_configs() if c.name == names.EVENTS_STREAM)


def test_the_same_stream_needs_no_update() -> None:
    wanted = replace(events_config(), num_replicas=1)
    assert not stream_differs(replace(wanted), wanted)


def test_a_limit_fitted_to_a_small_disk_stands() -> None:
    wanted = replace(events_config(), num_replicas=1)
    assert not stream_differs(replace(wanted, max_bytes=(wanted.max_bytes or 0) // 4), wanted)
    assert stream_differs(replace(wanted, max_bytes=(wanted.max_bytes or 0) * 2), wanted)
    assert stream_differs(replace(wanted, max_bytes=-1), wanted), "an unbounded stream gets its limit"


def test_a_changed_setting_is_an_update() -> None:
    wanted = replace(events_config(), num_replicas=3)
    assert stream_differs(replace(wanted, num_replicas=1), wanted)
    assert stream_differs(replace(wanted, subjects=["other.>"]), wanted)
    assert stream_differs(replace(wanted, duplicate_window=1.0), wanted)
