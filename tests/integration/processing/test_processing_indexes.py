"""Every query processing makes on a hot path reads through an index on the real store:
the store explains the very filters the adapter builds, over a collection big enough for
a scan to be a real choice.

A query that does not name ``_id`` must also read a secondary index: DocumentDB answers
a query no index serves with a read of its ``_id_`` index on the collection's shard key
alone, which visits every document while looking like an index read."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from chassis.mongo import StoreClient, StoreCollection, uses_index
from processing.adapters.store import (
    DossierStore,
    QueueFilter,
    claimable_query,
    outcome_pipeline,
    overdue_pipeline,
    overdue_query,
    queue_order,
    queue_query,
)
from processing.api.officer import DEFAULT_QUEUE_STATUSES
from processing.domain.dossier import RUNNING_STATUSES
from processing.domain.workflow import DossierStatus
from tests.support.infra import Infra

pytestmark = pytest.mark.integration

AGENCIES = ["STNMT-MT", "STNMT-KS", "STNMT-TTR", "STNMT-DD", "STNMT-TN"]
STATUSES = list(DossierStatus)
DOSSIERS = 3000
TODAY = date(2026, 6, 15)


def _document(n: int) -> dict[str, Any]:
    """A dossier as the adapter stores it, reduced to the fields the queries read."""
    received = TODAY - timedelta(days=n % 200)
    return {
        "_id": str(uuid.UUID(int=n)),
        "agency": AGENCIES[n % len(AGENCIES)],
        "procedure_code": f"MT-00{n % 7}",
        "status": STATUSES[n % len(STATUSES)].value,
        "version": 1 + n % 4,
        "submitted_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n * 97),
        "received_on": received.isoformat(),
        "due_date": (received + timedelta(days=15 + n % 40)).isoformat(),
        "assignee": None if n % 3 else f"officer-{n % 11}",
        "receipt_code": f"MT-{n:06d}",
        "applicant_lookup": [f"{n:064x}", f"{n + DOSSIERS:064x}"],
        "overdue_at": None,
        "apology": None,
        "outcome": "in_progress",
        "working_days_taken": None,
        "outbox": [],
        "outbox_seq": 1,
        **({"outbox_pending": True} if n % 40 == 0 else {}),
    }


@pytest.fixture(scope="module")
async def dossiers(infra: Infra, run_id: str) -> AsyncIterator[StoreCollection]:
    client: StoreClient = AsyncMongoClient(infra.mongodb, tz_aware=True)
    name = f"{run_id}_processing_indexes"
    await DossierStore(client[name]).create_indexes()
    collection = client[name]["dossiers"]
    await collection.insert_many([_document(n) for n in range(DOSSIERS)])
    yield collection
    await client.drop_database(name)
    await client.close()


async def _explained(
    collection: StoreCollection,
    query: dict[str, Any],
    sort: list[tuple[str, int]] | None = None,
    limit: int = 21,
) -> dict[str, Any]:
    cursor = collection.find(query)
    if sort:
        cursor = cursor.sort(sort)
    explained: dict[str, Any] = await cursor.limit(limit).explain()
    return explained


def _indexes_read(plan: Any) -> set[str]:
    """The names of the indexes a plan reads: PostgreSQL's ``Index Name``, MongoDB's
    ``indexName``; the plans MongoDB rejected are left out."""
    names: set[str] = set()
    if isinstance(plan, Mapping):
        for key, value in plan.items():
            if key in ("Index Name", "indexName") and isinstance(value, str):
                names.add(value)
            elif key != "rejectedPlans":
                names |= _indexes_read(value)
    elif isinstance(plan, list):
        for value in plan:
            names |= _indexes_read(value)
    return names


def _served_by_a_secondary_index(explained: dict[str, Any]) -> bool:
    return uses_index(explained) and bool(_indexes_read(explained) - {"_id_"})


def _queues() -> dict[str, tuple[QueueFilter, str, tuple[Any, str] | None]]:
    """The queue as officers ask for it: each filter, both orders, first and later pages."""
    everything = QueueFilter(agency="STNMT-MT", statuses=DEFAULT_QUEUE_STATUSES)
    running = sorted(RUNNING_STATUSES, key=lambda s: s.value)
    after_due = ("2026-05-01", str(uuid.UUID(int=900)))
    after_received = (datetime(2026, 2, 1, tzinfo=UTC), str(uuid.UUID(int=900)))
    return {
        "default": (everything, "due_date", None),
        "by receipt": (everything, "submitted_at", None),
        "next page by due date": (everything, "due_date", after_due),
        "next page by receipt": (everything, "submitted_at", after_received),
        "one status": (
            QueueFilter(agency="STNMT-MT", statuses=[DossierStatus.IN_REVIEW]),
            "due_date",
            None,
        ),
        "procedure": (
            QueueFilter(
                agency="STNMT-MT", statuses=DEFAULT_QUEUE_STATUSES, procedure_code="MT-003"
            ),
            "due_date",
            None,
        ),
        "due within": (
            QueueFilter(
                agency="STNMT-MT",
                statuses=DEFAULT_QUEUE_STATUSES,
                due_on_or_before=TODAY + timedelta(days=5),
            ),
            "due_date",
            None,
        ),
        "overdue, mine, next page": (
            QueueFilter(
                agency="STNMT-MT", statuses=running, overdue_before=TODAY, assignee="officer-5"
            ),
            "due_date",
            after_due,
        ),
        "unassigned by receipt": (
            QueueFilter(agency="STNMT-MT", statuses=DEFAULT_QUEUE_STATUSES, unassigned=True),
            "submitted_at",
            None,
        ),
    }


@pytest.mark.parametrize("case", list(_queues()))
async def test_the_officers_queue_uses_an_index(dossiers: StoreCollection, case: str) -> None:
    where, sort_field, after = _queues()[case]
    explained = await _explained(
        dossiers, queue_query(where, sort_field, after), queue_order(sort_field)
    )
    assert _served_by_a_secondary_index(explained), explained


async def test_an_officers_read_of_one_dossier_uses_an_index(
    dossiers: StoreCollection,
) -> None:
    query = {"_id": str(uuid.UUID(int=42)), "agency": AGENCIES[42 % len(AGENCIES)]}
    assert uses_index(await _explained(dossiers, query, limit=1))


async def test_the_relays_scan_and_claim_use_indexes(
    dossiers: StoreCollection,
) -> None:
    now = datetime.now(UTC)
    scan = await _explained(dossiers, claimable_query(now), limit=200)
    assert _served_by_a_secondary_index(scan), scan
    ids = [str(uuid.UUID(int=n)) for n in range(0, 400, 40)]
    claim = await _explained(dossiers, {"_id": {"$in": ids}, **claimable_query(now)})
    assert uses_index(claim), claim
    read = await _explained(dossiers, {"_id": {"$in": ids}})
    assert uses_index(read), read


async def test_the_deadline_scan_uses_an_index(dossiers: StoreCollection) -> None:
    overdue = await _explained(dossiers, overdue_query(TODAY), limit=500)
    assert _served_by_a_secondary_index(overdue), overdue


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(
            QueueFilter(agency="STNMT-MT", statuses=STATUSES, applicant_lookup=[f"{5:064x}"]),
            id="by-phone-hash",
        ),
        pytest.param(
            QueueFilter(agency="STNMT-MT", statuses=STATUSES, receipt_code="MT-000005"),
            id="by-receipt-code",
        ),
    ],
)
async def test_the_officers_search_by_number_or_receipt_uses_an_index(
    dossiers: StoreCollection, where: QueueFilter
) -> None:
    explained = await _explained(
        dossiers, queue_query(where, "submitted_at", None), queue_order("submitted_at")
    )
    assert _served_by_a_secondary_index(explained), explained


@pytest.mark.parametrize("agency", [None, "STNMT-MT"])
async def test_the_statistics_read_through_an_index(
    dossiers: StoreCollection, agency: str | None
) -> None:
    first, last = TODAY - timedelta(days=30), TODAY
    # A leading $match runs as this very query; the $group works on what it returns.
    for pipeline in (
        outcome_pipeline(first, last, agency, None),
        overdue_pipeline(first, last, TODAY, agency, None),
        # The overdue gauge the deadline scan refreshes: every dossier ever received.
        overdue_pipeline(date.min, TODAY, TODAY, None, None),
    ):
        explained = await _explained(dossiers, pipeline[0]["$match"], limit=0)
        assert _served_by_a_secondary_index(explained), (pipeline[0], explained)
