"""Prometheus metrics every service exposes on /metrics.

Labels carry topics, event types, routes and outcomes only: never a dossier id, a
receipt code or anything personal, so cardinality stays bounded and nothing leaks.

A labelled counter has no series until its first increment, and ``increase()`` over a
series that appears at 1 sees no increase: the first dead letter would raise no alert
and show on no dashboard. So every label set a dashboard or an alert reads (consumer
groups, topics, event types, channels, outcomes) is created at 0 when the part that
counts it is built (`consumer_at_zero`, `producer_at_zero`; a service's own counters likewise).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Mapping

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "hoso_http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "hoso_http_request_duration_seconds", "HTTP request duration", ["service", "method", "route"]
)
EVENTS_PRODUCED = Counter(
    "hoso_events_produced_total", "Events acknowledged by the broker", ["service", "topic", "type"]
)
EVENTS_CONSUMED = Counter(
    "hoso_events_consumed_total",
    "Events consumed, by outcome",
    ["service", "topic", "type", "outcome"],
)
HANDLER_DURATION = Histogram(
    "hoso_event_handler_duration_seconds", "Time to handle one consumed batch", ["service", "group"]
)
CONSUMER_LAG = Gauge(
    "hoso_consumer_lag",
    "Records behind the partition end",
    ["service", "group", "topic", "partition"],
)
DEAD_LETTERS = Counter(
    "hoso_dead_letters_total",
    "Messages sent to a dead-letter topic",
    ["service", "group", "reason"],
)

# What a consumer loop counts an event as (`hoso_events_consumed_total{outcome}`).
CONSUMED_OUTCOMES = ("handled", "ignored", "dead_letter")
# Why the consumer loop dead-letters a record; a service may add its own reasons.
DEAD_LETTER_REASONS = ("poison", "handler_failed")

_lock = threading.Lock()
_lag_series: dict[tuple[str, str], set[tuple[str, str]]] = {}


def record_consumer_lag(service: str, group: str, lags: Mapping[tuple[str, int], int]) -> None:
    """Set one consumer group's lag per (topic, partition) it holds now.

    Partitions it held before and no longer holds (a rebalance gave them to another
    replica) are dropped: a frozen figure would report a lag nobody is behind on.
    """
    current = {(topic, str(partition)) for topic, partition in lags}
    with _lock:
        for topic, partition in _lag_series.get((service, group), set()) - current:
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(service, group, topic, partition)
        _lag_series[(service, group)] = current
        for (topic, number), lag in lags.items():
            CONSUMER_LAG.labels(service, group, topic, str(number)).set(lag)


def consumer_at_zero(
    service: str,
    group: str,
    types_by_topic: Mapping[str, Iterable[str]],
    reasons: Iterable[str] = DEAD_LETTER_REASONS,
) -> None:
    """Create a consumer group's dead-letter series and its consumed-event series (every
    event type of every topic it reads, each outcome) at 0."""
    for reason in reasons:
        DEAD_LETTERS.labels(service, group, reason)
    for topic, types in types_by_topic.items():
        for event_type in types:
            for outcome in CONSUMED_OUTCOMES:
                EVENTS_CONSUMED.labels(service, topic, event_type, outcome)


def producer_at_zero(service: str, types_by_topic: Mapping[str, Iterable[str]]) -> None:
    """Create the produced-event series of the event types a service publishes at 0."""
    for topic, types in types_by_topic.items():
        for event_type in types:
            EVENTS_PRODUCED.labels(service, topic, event_type)
