"""A recorder that knows the chain head it last wrote appends the next batch without
reading first; the unique seq and event id still stop whatever must not land (another
replica's append, an event already recorded), and the look-ups then run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.unit.audit.fakes import FakeAuditLog
from tests.unit.audit.test_audit_service import (
    assert_one_gap_free_chain,
    event,
    incoming,
    recorded_event_ids,
    recorder,
)


async def test_the_next_batch_of_a_recorder_is_one_insert_and_no_read() -> None:
    store = FakeAuditLog()
    appender = recorder(store)
    await appender.record([incoming(event(n)) for n in range(1, 4)])
    reads, inserts = store.read_calls, store.insert_calls

    outcome = await appender.record([incoming(event(n)) for n in range(4, 7)])

    assert (outcome.appended, outcome.skipped, outcome.conflicts) == (3, 0, 0)
    assert store.read_calls == reads
    assert store.insert_calls == inserts + 1
    assert_one_gap_free_chain(store)


async def test_a_redelivered_batch_meets_its_entries_and_is_skipped() -> None:
    store = FakeAuditLog()
    appender = recorder(store)
    events = [event(n) for n in range(1, 5)]
    first = [incoming(e) for e in events[:3]]
    await appender.record(first)

    # The same events again (a batch handled but not committed before a restart), and
    # one new event behind them.
    outcome = await appender.record([*first, incoming(events[3])])

    assert (outcome.appended, outcome.skipped, outcome.conflicts) == (1, 3, 1)
    assert recorded_event_ids(store) == [e.id for e in events]
    assert_one_gap_free_chain(store)


async def test_a_head_moved_by_another_replica_is_read_again_after_the_conflict() -> None:
    store = FakeAuditLog()
    mine, other = recorder(store), recorder(store)
    events = [event(n) for n in range(1, 6)]
    await mine.record([incoming(events[0])])
    await other.record([incoming(events[1]), incoming(events[2])])

    outcome = await mine.record([incoming(events[3]), incoming(events[4])])

    assert (outcome.appended, outcome.conflicts) == (2, 1)
    assert recorded_event_ids(store) == [e.id for e in events]
    assert_one_gap_free_chain(store)
    assert mine.head is not None
    assert mine.head.seq == 5


async def test_a_batch_drafted_before_the_head_was_read_is_stamped_after_it() -> None:
    """Seen with two audit replicas: one drafted its batch, another replica appended an
    entry stamped later, then the first read that head and sealed its batch after it
    with the earlier stamp. The time of recording must not go back along the chain."""
    store = FakeAuditLog()
    ticks = iter(datetime(2026, 12, 7, 2, 45, tzinfo=UTC) + timedelta(seconds=n) for n in range(99))

    def clock() -> datetime:
        return next(ticks)

    mine, other = recorder(store, clock=clock), recorder(store, clock=clock)
    events = [event(n) for n in range(1, 4)]
    drafts = mine.drafts_of([incoming(events[0])])  # stamped first ...
    await other.record([incoming(events[1])])  # ... another replica stamps and lands ...
    await mine.append(drafts)  # ... then the first reads the head and seals after it.
    await mine.record([incoming(events[2])])

    stamps = [entry.recorded_at for entry in store.entries()]
    assert stamps == sorted(stamps)
    assert recorded_event_ids(store) == [events[1].id, events[0].id, events[2].id]
    assert_one_gap_free_chain(store)
