"""Prometheus metrics every service exposes on /metrics.

Labels carry topics, event types, routes and outcomes only: never a dossier id, a
receipt code or anything personal, so cardinality stays bounded and nothing leaks.
"""

from __future__ import annotations

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
NOTIFICATIONS = Counter(
    "hoso_notifications_total", "Notification deliveries, by outcome", ["channel", "outcome"]
)
DOSSIERS_OVERDUE = Gauge(
    "hoso_dossiers_overdue", "Open dossiers past their due date, by agency", ["agency"]
)
