"""OpenTelemetry for the bus: W3C trace context in message headers, messaging spans, export.

Span names and attributes follow the messaging semantic conventions (v1.27 and later):
``"send {destination}"`` (kind PRODUCER) around every publish and ``"process {destination}"``
(kind CONSUMER) around every handled message, where the destination is a low-cardinality
template (``synth``, ``events.segment.synthesized``, never one name per job). A consumer span
continues the trace whose context its message carries, so a book's request, parse, every
segment's synthesis and its assembly form one trace. A batch's process span links to each
message's context instead.

With no endpoint configured nothing is exported and the API's no-op tracer costs almost
nothing. Exports are bounded (queue, batch, 2 s time-out): a missing collector never stalls a
service.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from nats.aio.msg import Msg
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.util.types import AttributeValue

from events.names import destination_template

TRACER = "audiobook-pipeline"
MSG_ID = "Nats-Msg-Id"
EXPORT_TIMEOUT_S = 2


def setup_tracing(service: str, endpoint: str | None) -> None:
    """Export spans over OTLP/HTTP to ``endpoint`` (e.g. Jaeger's http://jaeger:4318); None: off."""
    if not endpoint:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    url = endpoint.rstrip("/")
    if not url.endswith("/v1/traces"):
        url += "/v1/traces"
    exporter = OTLPSpanExporter(endpoint=url, timeout=EXPORT_TIMEOUT_S)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=8192, max_export_batch_size=512,
                                                   schedule_delay_millis=1000,
                                                   export_timeout_millis=EXPORT_TIMEOUT_S * 1000))
    trace.set_tracer_provider(provider)


def shutdown_tracing() -> None:
    """Flush what is queued (bounded by the export time-out) and stop exporting."""
    shutdown = getattr(trace.get_tracer_provider(), "shutdown", None)
    if shutdown:
        shutdown()


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER)


def inject_headers(headers: dict[str, str]) -> dict[str, str]:
    """Add the current trace context (``traceparent``) to outgoing message headers."""
    propagate.inject(headers)
    return headers


def _messaging(operation: str, subject: str, message_id: str | None) -> dict[str, str]:
    attributes = {"messaging.system": "nats", "messaging.operation.type": operation,
                  "messaging.operation.name": operation, "messaging.destination.name": subject,
                  "messaging.destination.template": destination_template(subject)}
    if message_id:
        attributes["messaging.message.id"] = message_id
    return attributes


@contextmanager
def send_span(subject: str, message_id: str) -> Iterator[dict[str, str]]:
    """A PRODUCER span around one publish; yields the headers to send (message id + its context)."""
    with tracer().start_as_current_span(f"send {destination_template(subject)}", kind=SpanKind.PRODUCER,
                                        attributes=_messaging("send", subject, message_id)):
        yield inject_headers({MSG_ID: message_id})


def context_of(headers: Mapping[str, str] | None) -> otel_context.Context:
    """The trace context a message's headers carry (an empty one if none)."""
    return propagate.extract(dict(headers or {}))


@contextmanager
def process_span(msg: Msg, consumer_group: str, **attributes: object) -> Iterator[Span]:
    """A CONSUMER span for one message, continuing the trace of whoever published it."""
    meta = msg.metadata
    span_attributes: dict[str, object] = {
        **_messaging("process", msg.subject, (msg.headers or {}).get(MSG_ID)),
        "messaging.consumer.group.name": consumer_group,
        "messaging.nats.message.delivery_count": int(meta.num_delivered or 1),
        **attributes,
    }
    with tracer().start_as_current_span(
        f"process {destination_template(msg.subject)}", context=context_of(msg.headers), kind=SpanKind.CONSUMER,
        attributes=span_attributes,  # type: ignore[arg-type]
    ) as span:
        yield span


@contextmanager
def batch_span(msgs: Sequence[Msg], consumer_group: str, destination: str) -> Iterator[Span]:
    """A CONSUMER span for a batch, linked to each message's context (its own trace).

    ``destination``: the consumer's low-cardinality name for what it reads (``events``).
    """
    links = [Link(ctx) for ctx in (trace.get_current_span(context_of(m.headers)).get_span_context() for m in msgs)
             if ctx.is_valid]
    attributes: dict[str, AttributeValue] = {
        "messaging.system": "nats", "messaging.operation.type": "process", "messaging.operation.name": "process",
        "messaging.destination.template": destination, "messaging.consumer.group.name": consumer_group,
        "messaging.batch.message_count": len(msgs)}
    with tracer().start_as_current_span(f"process {destination}", kind=SpanKind.CONSUMER,
                                        links=links, attributes=attributes) as span:
        yield span


Attributes = Mapping[str, AttributeValue]


@contextmanager
def span(name: str, attributes: Attributes | None = None, parent: otel_context.Context | None = None
         ) -> Iterator[Span]:
    """An internal span (reading, planning, lookups, remux) under ``parent`` or the current one."""
    with tracer().start_as_current_span(name, context=parent, attributes=attributes) as current:
        yield current


def annotate(attributes: Attributes) -> None:
    """Add attributes to the current span (the message being processed)."""
    trace.get_current_span().set_attributes(attributes)


def timed_span(name: str, start_ns: int, end_ns: int, attributes: Attributes | None = None) -> None:
    """A span for work already done elsewhere (the model thread), under the current span."""
    done = tracer().start_span(name, start_time=start_ns, attributes=attributes)
    done.end(end_time=end_ns)


__all__ = ["annotate", "batch_span", "context_of", "inject_headers", "process_span", "send_span", "setup_tracing",
           "shutdown_tracing", "span", "timed_span"]
