"""Tracing: one tracer provider per service, W3C trace context carried in Kafka headers.

FastAPI, pymongo and httpx use their maintained instrumentations; Kafka spans are made
here because the consumer loop handles batches (span links) and the aiokafka
instrumentation only knows single messages. Their attributes follow the OpenTelemetry
messaging semantic conventions (`messaging_attributes`).

A dossier's submission is one trace. Work that starts later on its own (an officer's
action) gets its own trace with a link back to the dossier's (`linked_span`).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

from chassis.settings import ServiceSettings

KafkaHeaders = Sequence[tuple[str, bytes]]

_provider: TracerProvider | None = None


class JsonLinesSpanExporter(SpanExporter):
    """Appends each finished span as one JSON line; lets tests and operators read spans
    without a trace backend."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for span in spans:
            ctx = span.get_span_context()
            if ctx is None:  # a span always has one once started; the type allows None
                continue
            parent = span.parent
            lines.append(
                json.dumps(
                    {
                        "service": span.resource.attributes.get("service.name"),
                        "name": span.name,
                        "kind": span.kind.name,
                        "trace_id": format(ctx.trace_id, "032x"),
                        "span_id": format(ctx.span_id, "016x"),
                        "parent_span_id": format(parent.span_id, "016x") if parent else None,
                        "links": [
                            {
                                "trace_id": format(link.context.trace_id, "032x"),
                                "span_id": format(link.context.span_id, "016x"),
                            }
                            for link in span.links
                        ],
                        "start": span.start_time,
                        "end": span.end_time,
                        "attributes": dict(span.attributes or {}),
                        "status": span.status.status_code.name,
                    },
                    default=str,
                )
            )
        with self._lock, open(self._path, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


class RootSampler(Sampler):
    """Decides for spans that start a trace: ``ratio`` of them are kept (sampling is set
    with ``OTEL_TRACES_SAMPLER_RATIO``), except a client call made outside any request or
    event. Those are the background loops' polls of the store (the outbox relay looks
    every 200 ms); as traces of their own they would bury the dossiers' in the UI.
    Spans with a parent follow the parent's decision (`ParentBased`), so a dossier's
    trace is kept or dropped whole, across every service."""

    def __init__(self, ratio: float) -> None:
        self._ratio = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        if kind is SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return self._ratio.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"RootSampler{{{self._ratio.get_description()}, no root client spans}}"


def setup_tracing(settings: ServiceSettings) -> TracerProvider:
    """Idempotent. Call it before creating the store client: pymongo's instrumentation
    only sees clients created after it."""
    global _provider
    if _provider is not None:
        return _provider
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": settings.service_name, "service.instance.id": settings.instance_id()}
        ),
        sampler=ParentBased(RootSampler(settings.otel_traces_sampler_ratio)),
    )
    if settings.otel_exporter_otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    if settings.zipkin_endpoint:
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

        provider.add_span_processor(
            BatchSpanProcessor(ZipkinExporter(endpoint=settings.zipkin_endpoint))
        )
    if settings.spans_file:
        provider.add_span_processor(
            BatchSpanProcessor(
                JsonLinesSpanExporter(settings.spans_file), schedule_delay_millis=500
            )
        )
    trace.set_tracer_provider(provider)
    _provider = provider

    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    PymongoInstrumentor().instrument()
    HTTPXClientInstrumentor().instrument()
    return provider


def shutdown_tracing() -> None:
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


def tracer(name: str = "hoso") -> trace.Tracer:
    return trace.get_tracer(name)


def inject_headers(headers: list[tuple[str, bytes]]) -> None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    headers.extend((key, value.encode()) for key, value in carrier.items())


def extract_context(headers: KafkaHeaders | None) -> otel_context.Context:
    carrier: Mapping[str, str] = {
        key: value.decode(errors="replace") for key, value in (headers or ()) if value is not None
    }
    return propagate.extract(carrier)


def capture_context() -> dict[str, str]:
    """The current trace context as a small dict that can be stored with a document."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from(carrier: Mapping[str, str]) -> otel_context.Context:
    return propagate.extract(carrier)


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


# Operation types of the messaging conventions; "publish" is the older name of "send".
_OPERATION_TYPES = {"create", "send", "receive", "process", "settle"}
_LEGACY_OPERATIONS = {"publish": "send"}
# Keyword names earlier callers passed through ``**extra``.
_LEGACY_EXTRA = {
    "destination_partition_id": "partition",
    "kafka_offset": "offset",
    "kafka_message_key": "key",
    "consumer_group_name": "consumer_group",
}


def messaging_attributes(
    topic: str | None,
    *,
    operation: str,
    message_id: str | None = None,
    partition: int | str | None = None,
    offset: int | None = None,
    key: bytes | str | None = None,
    consumer_group: str | None = None,
    batch_message_count: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Attributes of a Kafka span after the OpenTelemetry messaging conventions.

    ``topic`` is None for a batch drawn from several topics: the destination is then not
    one name, and the convention leaves it out. The record key is a dossier id (every
    topic is keyed by dossier), never anything personal.
    """
    operation = _LEGACY_OPERATIONS.get(operation, operation)
    if operation not in _OPERATION_TYPES:
        raise ValueError(f"unknown messaging operation type {operation!r}")
    named: dict[str, Any] = {}
    for legacy, name in _LEGACY_EXTRA.items():
        if legacy in extra:
            named[name] = extra.pop(legacy)
    partition = named.get("partition", partition)
    offset = named.get("offset", offset)
    key = named.get("key", key)
    consumer_group = named.get("consumer_group", consumer_group)

    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
    }
    if topic is not None:
        attributes["messaging.destination.name"] = topic
    if message_id:
        attributes["messaging.message.id"] = message_id
    if partition is not None:
        attributes["messaging.destination.partition.id"] = str(partition)
    if offset is not None:
        attributes["messaging.kafka.offset"] = offset
    if key is not None:
        attributes["messaging.kafka.message.key"] = (
            key.decode("utf-8", "replace") if isinstance(key, bytes) else key
        )
    if consumer_group:
        attributes["messaging.consumer.group.name"] = consumer_group
    if batch_message_count is not None:
        attributes["messaging.batch.message_count"] = batch_message_count
    for name, value in extra.items():
        if value is not None:
            attributes[f"messaging.{name}"] = value
    return attributes


def span_name(operation: str, destination: str | None) -> str:
    """``{operation} {destination}``, the conventions' low-cardinality span name."""
    operation = _LEGACY_OPERATIONS.get(operation, operation)
    return f"{operation} {destination}" if destination else operation


# Zipkin's span model has no links, so a linked span also names what it links to in
# tags that its UI shows and can search.
LINKED_TRACE_ATTRIBUTE = "hoso.linked_trace_id"
LINKED_SPAN_ATTRIBUTE = "hoso.linked_span_id"


@contextlib.contextmanager
def linked_span(
    name: str,
    carrier: Mapping[str, str] | None,
    *,
    attributes: Mapping[str, Any] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
) -> Iterator[trace.Span]:
    """A current span in the caller's own trace, linked to the trace a stored ``carrier``
    (see `capture_context`) belongs to.

    For work that concerns a dossier but is not caused by its submission, such as an
    officer's action: it stays in the officer's request trace (a new trace when there is
    none), and the link leads from there to the dossier's. A missing or unreadable
    carrier gives the span without a link.
    """
    linked = trace.get_current_span(context_from(carrier or {})).get_span_context()
    links: list[Link] = []
    span_attributes: dict[str, Any] = dict(attributes or {})
    if linked.is_valid:
        links.append(Link(linked))
        span_attributes[LINKED_TRACE_ATTRIBUTE] = format(linked.trace_id, "032x")
        span_attributes[LINKED_SPAN_ATTRIBUTE] = format(linked.span_id, "016x")
    with tracer().start_as_current_span(
        name, kind=kind, links=links, attributes=span_attributes
    ) as span:
        yield span
