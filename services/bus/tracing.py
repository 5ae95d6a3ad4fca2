"""OpenTelemetry: context travels in message headers; consumer spans are named ``"process {destination}"``.

With no OTLP endpoint configured, the global no-op tracer is used and nothing is exported.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind


def setup_tracing(service: str, endpoint: str | None) -> None:
    """Export spans over OTLP/HTTP to ``endpoint`` (e.g. Jaeger's http://jaeger:4318)."""
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
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url, timeout=5)))
    trace.set_tracer_provider(provider)


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if shutdown:
        shutdown()


def inject_headers(headers: dict[str, str]) -> dict[str, str]:
    """Add the current trace context (``traceparent``) to outgoing message headers."""
    propagate.inject(headers)
    return headers


@contextmanager
def process_span(subject: str, headers: Mapping[str, str] | None, **attributes: object) -> Iterator[Span]:
    """A consumer span for one message, continuing the trace of whoever published it."""
    context = propagate.extract(dict(headers or {}))
    with trace.get_tracer("audiobook-pipeline").start_as_current_span(
        f"process {subject.split('.')[0]}", context=context, kind=SpanKind.CONSUMER
    ) as span:
        span.set_attribute("messaging.system", "nats")
        span.set_attribute("messaging.destination.name", subject)
        for key, value in attributes.items():
            span.set_attribute(key, value)  # type: ignore[arg-type]
        yield span


@contextmanager
def span(name: str, **attributes: object) -> Iterator[Span]:
    """An internal span (synthesis, encoding) under the current one."""
    with trace.get_tracer("audiobook-pipeline").start_as_current_span(name) as current:
        for key, value in attributes.items():
            current.set_attribute(key, value)  # type: ignore[arg-type]
        yield current


__all__ = ["inject_headers", "process_span", "setup_tracing", "shutdown_tracing", "span"]
