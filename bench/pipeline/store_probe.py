"""What single operations cost on the store, at two collection sizes.

The services' figures depend on it: an operation whose cost grows with the collection (a
look-up the store answers by scanning) makes a pipeline slow down as its collections fill
up, whatever the code around it does. Inserts stay flat; this probe shows whether look-ups
by ``_id`` and by an indexed field do too.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from bench.pipeline.infra import Infra
from bench.pipeline.stats import Progress, percentile

SIZES = (500, 5000)
_PAD = "x" * 1000  # about the size of an audit entry or a delivery record


async def _median_ms(action: Callable[[], Awaitable[Any]], times: int) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - started) * 1000)
    value = percentile(samples, 50)
    assert value is not None
    return round(value, 2)


async def _probe(collection: AsyncCollection[Any], size: int) -> dict[str, Any]:
    await collection.create_index("event_id", unique=True)
    documents = [_document(i) for i in range(size)]
    started = time.perf_counter()
    await collection.insert_many(documents, ordered=False)
    insert_many_ms = (time.perf_counter() - started) * 1000 / size
    probe = documents[size // 2]
    extra = iter(range(size, size + 10_000))

    async def insert_one() -> None:
        await collection.insert_one(_document(next(extra)))

    async def by_id() -> None:
        await collection.find_one({"_id": probe["_id"]})

    async def by_indexed_field() -> None:
        await collection.find_one({"event_id": probe["event_id"]})

    async def update_by_id() -> None:
        await collection.update_one({"_id": probe["_id"]}, {"$inc": {"seq": 1}})

    return {
        "documents": size,
        "insert_many_ms_per_doc": round(insert_many_ms, 3),
        "insert_one_ms": await _median_ms(insert_one, 20),
        "find_by_id_ms": await _median_ms(by_id, 10),
        "find_by_indexed_field_ms": await _median_ms(by_indexed_field, 10),
        "update_by_id_ms": await _median_ms(update_by_id, 10),
    }


def _document(i: int) -> dict[str, Any]:
    return {"_id": f"d{i}", "event_id": str(uuid.uuid4()), "seq": i, "pad": _PAD}


async def probe_store(infra: Infra, run: str, progress: Progress) -> list[dict[str, Any]]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb)
    database = f"bench{run}_store"
    rows: list[dict[str, Any]] = []
    try:
        for size in SIZES:
            progress.show(f"store: probing a collection of {size} documents", force=True)
            rows.append(await _probe(client[database][f"c{size}"], size))
        progress.done("store: probed")
    finally:
        await client.drop_database(database)
        await client.close()
    return rows
