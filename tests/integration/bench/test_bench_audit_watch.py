"""The capacity sweep follows each dossier through the audit database: the watch reads the
entries as the audit service stores them, from the real store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from bench.capacity_support.load import SUBMITTED, AuditWatch
from bench.pipeline.platform import NOTIFICATION_SENT
from tests.support.infra import Infra


@pytest.fixture
async def entries(infra: Infra, run_id: str) -> AsyncIterator[Any]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb, tz_aware=True)
    name = f"{run_id}_bench_watch_{uuid.uuid4().hex[:6]}"
    try:
        yield client[name]["audit_entries"]
    finally:
        await client.drop_database(name)
        await client.close()


START = datetime(2026, 12, 7, 4, 0, 0, tzinfo=UTC)


def _at(seconds: float) -> str:
    """A moment ``seconds`` after START, written as the audit service writes its times."""
    return (START + timedelta(seconds=seconds)).isoformat(timespec="microseconds")[:-6] + "Z"


def _entry(seq: int, event_type: str, dossier: str, occurred: float, recorded: float) -> Any:
    return {
        "seq": seq,
        "event_type": event_type,
        "dossier_id": dossier,
        "occurred_at": _at(occurred),
        "recorded_at": _at(recorded),
    }


async def test_the_watch_pairs_each_receipt_with_its_notification_as_entries_arrive(
    entries: Any,
) -> None:
    await entries.insert_many(
        [
            _entry(1, SUBMITTED, "d1", 0.0, 0.1),
            _entry(2, "dossier.status_changed.v1", "d1", 0.2, 0.3),
            _entry(3, SUBMITTED, "d2", 1.0, 1.1),
        ]
    )
    watch = AuditWatch(entries)
    await watch.poll()
    start = START.timestamp()
    assert watch.submitted == {"d1": start, "d2": start + 1.0}
    assert watch.notified == {}

    await entries.insert_one(_entry(4, NOTIFICATION_SENT, "d1", 0.5, 0.75))
    await watch.poll()
    assert watch.notified == {"d1": pytest.approx(start + 0.75)}
    assert watch.received_between(start, start + 0.5) == {"d1": start}
