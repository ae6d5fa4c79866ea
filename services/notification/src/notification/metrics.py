"""Notification's own metrics, beside the chassis's (HTTP, events, lag, dead letters)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter

NOTIFICATIONS = Counter(
    "hoso_notifications_total", "Notification deliveries, by outcome", ["channel", "outcome"]
)
OUTCOMES = ("sent", "failed")


def notifications_at_zero(channels: Iterable[str]) -> None:
    """Create every channel's sent and failed series at 0, so the first failure is an
    increase an alert can see."""
    for channel in channels:
        for outcome in OUTCOMES:
            NOTIFICATIONS.labels(channel, outcome)
