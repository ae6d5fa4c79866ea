"""The query an auditor's filter becomes: only the fields asked for, compared as values,
and a seq bound only where it bounds something."""

from __future__ import annotations

from audit.adapters.store import entry_query
from audit.service.ports import EntryFilter


def test_a_field_filter_on_the_first_page_has_no_seq_bound() -> None:
    assert entry_query(EntryFilter(dossier_id="d-1")) == {"dossier_id": "d-1"}


def test_later_pages_and_ranges_are_bounded_by_seq() -> None:
    assert entry_query(EntryFilter(actor="officer:cb-07"), after_seq=40) == {
        "actor": "officer:cb-07",
        "seq": {"$gt": 40},
    }
    assert entry_query(EntryFilter(event_type="t"), to_seq=90) == {
        "event_type": "t",
        "seq": {"$lte": 90},
    }


def test_without_a_field_the_keyset_bound_is_the_query() -> None:
    assert entry_query(EntryFilter()) == {"seq": {"$gt": 0}}
    assert entry_query(EntryFilter(), after_seq=7, to_seq=9) == {"seq": {"$gt": 7, "$lte": 9}}


def test_a_time_range_is_from_inclusive_to_exclusive() -> None:
    where = EntryFilter(
        occurred_from="2026-01-01T00:00:00.000000Z", occurred_to="2026-02-01T00:00:00.000000Z"
    )
    assert entry_query(where) == {
        "occurred_at": {
            "$gte": "2026-01-01T00:00:00.000000Z",
            "$lt": "2026-02-01T00:00:00.000000Z",
        }
    }


def test_a_value_that_looks_like_an_operator_stays_a_value() -> None:
    assert entry_query(EntryFilter(actor="$where")) == {"actor": "$where"}
