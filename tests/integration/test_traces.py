"""One trace per book: parse, tts and assemble run as separate processes and export over OTLP/HTTP
to a receiver inside the test (the real exporters' wire format, decoded with opentelemetry-proto)."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nats
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from events import names
from events.projection import COMPLETED
from services.app.sample import write_sample_book
from services.app.stack import Stack
from services.bus.jobs import rebuild_state
from services.bus.topology import ensure_topology
from services.settings import Settings
from services.testing.waiting import wait_for

pytestmark = pytest.mark.slow
PRODUCER, CONSUMER = Span.SpanKind.SPAN_KIND_PRODUCER, Span.SpanKind.SPAN_KIND_CONSUMER


@dataclass(frozen=True)
class Received:
    service: str
    span: Span

    @property
    def attributes(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for item in self.span.attributes:
            value = item.value
            out[item.key] = getattr(value, value.WhichOneof("value") or "string_value")
        return out


class Receiver:
    """An OTLP/HTTP trace endpoint: POST /v1/traces with protobuf bodies."""

    def __init__(self) -> None:
        self.spans: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    service = next((a.value.string_value for a in resource.resource.attributes
                                    if a.key == "service.name"), "")
                    for scope in resource.scope_spans:
                        receiver.spans.extend(Received(service, s) for s in scope.spans)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def named(self, name: str) -> list[Received]:
        return [r for r in self.spans if r.span.name == name]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.thread.start()
    yield found
    found.server.shutdown()


async def test_one_trace_per_book_across_processes(tmp_path: Path, receiver: Receiver) -> None:
    inbox = tmp_path / "inbox"
    write_sample_book(inbox / "sample.epub")
    stack = Stack(tmp_path, Settings(data_dir=tmp_path / "data", input_dir=inbox),
                  env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "AUDIOBOOK_MAX_SEGMENT_CHARS": "200"})
    with stack:
        nc = await nats.connect(stack.url)
        js = nc.jetstream()
        await ensure_topology(js, Settings())
        for role in ("parse", "tts", "assemble"):
            stack.start(role, role)
        await nc.publish(names.REQUEST_SUBJECT, orjson.dumps({"source": "sample.epub", "engine": "test",
                                                               "voice": "short"}))

        async def job() -> str | None:
            info = await js.stream_info(names.EVENTS_STREAM, subjects_filter="events.*.job.completed")
            subject = next(iter(info.state.subjects or {}), None)
            return subject.split(".")[1] if subject else None

        job_id = await wait_for(job, timeout=60)
        state = await rebuild_state(js, job_id)
        assert state.status == COMPLETED
        await nc.close()
    # the services flushed their spans when they stopped (SIGTERM)
    await asyncio.sleep(0.2)

    (request,) = receiver.named("process convert.request")
    trace = request.span.trace_id
    assert request.service == "audiobook-parse" and request.span.kind == CONSUMER
    assert request.attributes["messaging.system"] == "nats"
    assert request.attributes["messaging.consumer.group.name"] == "parse"
    assert request.attributes["audiobook.job_id"] == job_id

    sends = {r.span.span_id: r for r in receiver.spans if r.span.name.startswith("send ")}
    segments = [r for r in receiver.named("process synth.test") if r.attributes.get("audiobook.job_id") == job_id]
    assert len(segments) == state.total_segments
    for segment in segments:
        assert segment.service == "audiobook-tts" and segment.span.trace_id == trace
        parent = sends[segment.span.parent_span_id]
        assert parent.span.name == "send synth.test" and parent.span.kind == PRODUCER
        assert parent.service == "audiobook-parse"
        # queued while the request was handled (the first window), or released later as segments landed,
        # in the book's trace all the same
        releases = {r.span.span_id: r for r in receiver.named("release commands")}
        if parent.span.parent_span_id != request.span.span_id:
            release = releases[parent.span.parent_span_id]
            assert release.service == "audiobook-parse" and release.span.trace_id == trace
        attributes = segment.attributes
        assert attributes["messaging.consumer.group.name"] == "tts"
        assert str(attributes["messaging.message.id"]).startswith(f"{job_id}:synthesize:")
        assert attributes["messaging.nats.message.delivery_count"] == 1
        assert attributes["audiobook.engine"] == "test" and attributes["audiobook.voice"] == "short"
        assert attributes["audiobook.cache_hit"] is False and float(str(attributes["audiobook.audio_seconds"])) > 0
        children = {r.span.name for r in receiver.spans if r.span.parent_span_id == segment.span.span_id}
        assert {"cache lookup", "synthesize", "encode", "store", "send events.segment.synthesized"} <= children

    (build,) = receiver.named("assemble book")
    assert build.service == "audiobook-assemble" and build.span.trace_id == trace
    assert sends[build.span.parent_span_id].span.name == "send events.book.parsed"
    (remux,) = receiver.named("remux")
    assert remux.span.parent_span_id == build.span.span_id
    completed = [r for r in receiver.named("send events.job.completed") if r.span.trace_id == trace]
    assert len(completed) == 1 and completed[0].span.parent_span_id == build.span.span_id
    batches = receiver.named("process events")
    assert any(link.trace_id == trace for batch in batches for link in batch.span.links), "batches link to the book"
