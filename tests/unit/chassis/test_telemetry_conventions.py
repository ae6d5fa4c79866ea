"""Span attributes, linked spans, sampling, the lag gauge and log lines, without servers."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, ParentBased
from opentelemetry.semconv._incubating.attributes import messaging_attributes as semconv
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from chassis import metrics
from chassis.logs import JsonFormatter
from chassis.settings import instance_id
from chassis.telemetry import (
    LINKED_TRACE_ATTRIBUTE,
    RootSampler,
    capture_context,
    linked_span,
    messaging_attributes,
    span_name,
    tracer,
)


@pytest.fixture(scope="module")
def finished() -> Iterator[InMemorySpanExporter]:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


def test_producer_attributes_follow_the_messaging_conventions() -> None:
    attributes = messaging_attributes(
        "t1.dossier.submissions",
        operation="send",
        message_id="evt-1",
        partition=2,
        offset=41,
        key=b"d-1",
    )
    assert attributes == {
        semconv.MESSAGING_SYSTEM: "kafka",
        semconv.MESSAGING_OPERATION_TYPE: semconv.MessagingOperationTypeValues.SEND.value,
        semconv.MESSAGING_OPERATION_NAME: "send",
        semconv.MESSAGING_DESTINATION_NAME: "t1.dossier.submissions",
        semconv.MESSAGING_MESSAGE_ID: "evt-1",
        semconv.MESSAGING_DESTINATION_PARTITION_ID: "2",
        semconv.MESSAGING_KAFKA_OFFSET: 41,
        semconv.MESSAGING_KAFKA_MESSAGE_KEY: "d-1",
    }


def test_consumer_and_batch_attributes_follow_the_messaging_conventions() -> None:
    consumer = messaging_attributes(
        "dossier.lifecycle", operation="process", partition=0, offset=7, consumer_group="audit"
    )
    assert consumer[semconv.MESSAGING_OPERATION_TYPE] == "process"
    assert consumer[semconv.MESSAGING_CONSUMER_GROUP_NAME] == "audit"
    batch = messaging_attributes(None, operation="process", batch_message_count=12)
    assert batch[semconv.MESSAGING_BATCH_MESSAGE_COUNT] == 12
    # A batch drawn from several topics names no single destination.
    assert semconv.MESSAGING_DESTINATION_NAME not in batch
    assert span_name("process", None) == "process"
    assert span_name("process", "dossier.lifecycle") == "process dossier.lifecycle"


def test_earlier_spellings_still_give_the_conventional_names() -> None:
    attributes = messaging_attributes(
        "x", operation="publish", destination_partition_id="1", kafka_offset=3
    )
    assert attributes[semconv.MESSAGING_OPERATION_TYPE] == "send"
    assert attributes[semconv.MESSAGING_DESTINATION_PARTITION_ID] == "1"
    assert attributes[semconv.MESSAGING_KAFKA_OFFSET] == 3
    assert span_name("publish", "x") == "send x"
    with pytest.raises(ValueError, match="operation"):
        messaging_attributes("x", operation="deliver-now")


def test_a_linked_span_stays_in_its_own_trace_and_links_to_the_stored_one(
    finished: InMemorySpanExporter,
) -> None:
    with tracer().start_as_current_span("dossier submitted"):
        stored = capture_context()
    with (
        tracer().start_as_current_span("POST /v1/officer/…/actions", kind=SpanKind.SERVER),
        linked_span("officer start_review", stored, attributes={"hoso.dossier_id": "d-1"}),
    ):
        pass
    spans = {s.name: s for s in finished.get_finished_spans()}
    dossier, request = spans["dossier submitted"], spans["POST /v1/officer/…/actions"]
    action = spans["officer start_review"]
    assert action.context.trace_id == request.context.trace_id != dossier.context.trace_id
    assert action.parent is not None
    assert action.parent.span_id == request.context.span_id
    assert [link.context.span_id for link in action.links] == [dossier.context.span_id]
    assert action.attributes is not None
    assert action.attributes[LINKED_TRACE_ATTRIBUTE] == format(dossier.context.trace_id, "032x")
    assert action.attributes["hoso.dossier_id"] == "d-1"


def test_a_linked_span_without_a_stored_context_has_no_link(
    finished: InMemorySpanExporter,
) -> None:
    with linked_span("officer add-note", {}):
        pass
    [span] = [s for s in finished.get_finished_spans() if s.name == "officer add-note"]
    assert not span.links
    assert span.attributes is not None
    assert LINKED_TRACE_ATTRIBUTE not in span.attributes


def test_background_store_polls_start_no_trace_but_requests_do() -> None:
    sampler = ParentBased(RootSampler(1.0))
    poll = sampler.should_sample(None, 0x1234, "processing.find", kind=SpanKind.CLIENT)
    request = sampler.should_sample(None, 0x1234, "POST /v1/dossiers", kind=SpanKind.SERVER)
    assert poll.decision is Decision.DROP
    assert request.decision is Decision.RECORD_AND_SAMPLE

    # Inside a sampled request the same store call is kept.
    with tracer().start_as_current_span("request") as parent:
        parent_context = trace.set_span_in_context(parent)
        child = sampler.should_sample(parent_context, 0x1234, "find", kind=SpanKind.CLIENT)
    assert child.decision is Decision.RECORD_AND_SAMPLE

    none_kept = ParentBased(RootSampler(0.0))
    dropped = none_kept.should_sample(None, 0x1234, "POST /v1/dossiers", kind=SpanKind.SERVER)
    assert dropped.decision is Decision.DROP


def _lag(group: str, topic: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value(
        "hoso_consumer_lag",
        {"service": "unit", "group": group, "topic": topic, "partition": str(partition)},
    )


def test_lag_is_set_per_partition_and_dropped_for_partitions_no_longer_held() -> None:
    metrics.record_consumer_lag("unit", "g-lag", {("orders", 0): 5, ("orders", 1): 0})
    assert (_lag("g-lag", "orders", 0), _lag("g-lag", "orders", 1)) == (5, 0)
    # A rebalance took partition 0 away: its last figure must not stay behind.
    metrics.record_consumer_lag("unit", "g-lag", {("orders", 1): 3})
    assert _lag("g-lag", "orders", 0) is None
    assert _lag("g-lag", "orders", 1) == 3


def test_a_log_line_carries_the_trace_and_masks_personal_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("unit"))
    log = logging.getLogger("unit.observability")
    log.addHandler(handler)
    log.propagate = False
    try:
        with tracer().start_as_current_span("request") as span:
            log.warning(
                "reply to an.nguyen@example.vn failed",
                extra={"fields": {"to": "0912 345 678", "id": 1099012345, "attempt": 2}},
            )
    finally:
        log.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert entry["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert entry["span_id"] == format(span.get_span_context().span_id, "016x")
    assert "an.nguyen@example.vn" not in entry["message"]
    assert entry["to"] == "091****678"
    assert entry["id"] == "[id]"
    assert entry["attempt"] == 2


def test_every_process_names_its_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    attributes = "deployment.environment.name=t,service.instance.id=intake-2"
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", attributes)
    assert instance_id() == "intake-2"
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES")
    # Two replicas on one host differ by their process ids.
    assert instance_id().endswith(f"-{os.getpid()}")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("intake", "intake-2"))
    log = logging.getLogger("unit.instance")
    log.addHandler(handler)
    log.propagate = False
    log.warning("ready")
    assert json.loads(stream.getvalue())["instance"] == "intake-2"
