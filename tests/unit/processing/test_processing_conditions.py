"""The write conditions the store checks itself where the store cannot (FerretDB),
judged as MongoDB judges them."""

from __future__ import annotations

from typing import Any

import pytest

from processing.adapters.store import matches

DOCUMENT: dict[str, Any] = {
    "version": 3,
    "status": "in_review",
    "applied_events": ["e-1", "e-2"],
    "overdue_at": None,
    "due_date": "2026-03-23",
}


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
    ],
)
def test_conditions_as_mongodb_reads_them(condition: dict[str, Any], expected: bool) -> None:
    assert matches(DOCUMENT, condition) is expected


def test_an_operator_it_does_not_know_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\$gt"):
        matches(DOCUMENT, {"version": {"$gt": 1}})
