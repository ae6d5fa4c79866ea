"""Entity tags, If-Match parsing and queue cursors of the officer API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chassis.problems import Problem
from processing.api.http import (
    decode_cursor,
    encode_cursor,
    etag,
    parse_if_match,
    require_if_match,
)


def test_etag_is_the_quoted_version() -> None:
    assert etag(7) == '"7"'


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('"3"', frozenset({3})),
        ('"3", "4"', frozenset({3, 4})),
        ('W/"3"', frozenset()),
        ("3", frozenset()),
        ('"abc"', frozenset()),
        ('""', frozenset()),
        # Digits of other scripts are no version: int() would read them as one.
        ('"\u0663"', frozenset()),
        ('"\uff13"', frozenset()),
        ('"3", "\u0664"', frozenset({3})),
        ("*", None),
        (" * ", None),
    ],
)
def test_if_match_accepts_only_strong_version_tags(
    header: str, expected: frozenset[int] | None
) -> None:
    assert parse_if_match(header) == expected


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_if_match_is_428(header: str | None) -> None:
    with pytest.raises(Problem) as caught:
        require_if_match(header)
    assert caught.value.status == 428


def test_cursor_round_trips_both_orders() -> None:
    assert decode_cursor(encode_cursor("due_date", "2026-03-23", "d-1"), "due_date") == (
        "2026-03-23",
        "d-1",
    )
    moment = datetime(2026, 3, 2, 2, 0, 0, 123000, tzinfo=UTC)
    assert decode_cursor(encode_cursor("received", moment, "d-2"), "received") == (moment, "d-2")


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "bm90IGpzb24",
        encode_cursor("received", 5, "d"),
        encode_cursor("received", "not a time", "d"),
        # A cursor of another list of the services (the audit log's).
        "WyJlbnRyaWVzIiw0Ml0",
    ],
)
def test_foreign_cursors_are_422_pointing_at_the_cursor(cursor: str) -> None:
    with pytest.raises(Problem) as caught:
        decode_cursor(cursor, "received")
    assert caught.value.status == 422
    assert caught.value.type == "https://hoso.example/problems/validation-failed"
    assert caught.value.errors
    assert caught.value.errors[0]["pointer"] == "query:/cursor"


def test_cursor_of_another_order_is_422() -> None:
    with pytest.raises(Problem) as caught:
        decode_cursor(encode_cursor("due_date", "2026-03-23", "d-1"), "received")
    assert caught.value.status == 422
