"""Reading a dossier's audit trail in the end-to-end tests."""

from __future__ import annotations

from typing import Any


def by_occurrence(entries: list[dict[str, Any]]) -> list[str]:
    """The trail's event types in the order they happened. The trail itself is in log
    order (seq): with several audit replicas, one recording another partition may take
    a place first, so a later event can sit at an earlier seq; its recorded_at says so."""
    stamps = [e["recorded_at"] for e in entries]
    assert stamps == sorted(stamps), in_order(entries)
    ordered = sorted(entries, key=lambda e: (e["occurred_at"], e["seq"]))
    return [e["event_type"] for e in ordered]


def in_order(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What tells why a trail is out of order: when each entry happened and was recorded."""
    keys = ("seq", "event_type", "occurred_at", "recorded_at")
    return [tuple(e.get(k) for k in keys) for e in entries]
