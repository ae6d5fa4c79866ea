"""The write conditions a store adapter checks itself where the store would scan for
them (FerretDB), judged as MongoDB judges them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chassis.mongo import matches

DOCUMENT: dict[str, Any] = {
    "version": 3,
    "status": "in_review",
    "applied_events": ["e-1", "e-2"],
    "overdue_at": None,
    "due_date": "2026-03-23",
    "lease_until": datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
    "next_attempt_at": None,
}
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"version": 3}, True),
        ({"version": 2}, False),
        ({"applied_events": {"$ne": "e-3"}}, True),
        ({"applied_events": {"$ne": "e-2"}}, False),
        ({"status": {"$in": ["received", "in_review"]}}, True),
        ({"status": {"$in": ["approved"]}}, False),
        ({"overdue_at": None}, True),
        ({"apology": None}, True),
        ({"outbox_seq": None}, True),
        ({"outbox_seq": 0}, False),
        ({"version": 3, "applied_events": {"$ne": "e-1"}}, False),
        ({"version": 3, "status": {"$in": ["in_review"]}, "due_date": "2026-03-23"}, True),
        ({"status": {"$ne": "in_review"}}, False),
        ({}, True),
        ({"lease_until": {"$lte": NOW}}, True),
        ({"lease_until": {"$lt": NOW}}, False),
        ({"lease_until": {"$gte": NOW + timedelta(seconds=1)}}, False),
        ({"lease_until": {"$gt": NOW - timedelta(seconds=1)}}, True),
        ({"version": {"$lt": 4}}, True),
        ({"version": {"$lt": 3}}, False),
        # An ordering never matches null, a missing field or another type.
        ({"next_attempt_at": {"$lte": NOW}}, False),
        ({"not_there": {"$lte": NOW}}, False),
        ({"version": {"$lte": "9"}}, False),
        ({"due_date": {"$lte": NOW}}, False),
        ({"version": {"$lt": 3.5}}, True),
        # Compared at the milliseconds BSON keeps, as MongoDB compares them.
        ({"lease_until": {"$lt": NOW + timedelta(microseconds=900)}}, False),
        ({"lease_until": {"$lt": NOW + timedelta(microseconds=1000)}}, True),
    ],
)
def test_conditions_as_mongodb_reads_them(condition: dict[str, Any], expected: bool) -> None:
    assert matches(DOCUMENT, condition) is expected


def test_an_operator_it_does_not_know_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\$exists"):
        matches(DOCUMENT, {"version": {"$exists": True}})
