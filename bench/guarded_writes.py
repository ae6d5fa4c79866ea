"""What a guarded single-document write costs as its collection grows, both ways side by
side: the condition in the filter (what MongoDB gets) and checked after a look-up by id
(what `chassis.mongo.GuardedWrites` does on FerretDB).

    uv run python -m bench.guarded_writes --sizes 1000,5000,20000 --writes 40

Uses ``MONGODB_URI`` (default: the local store of ``make run``) and a database of its own,
dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection

from chassis.mongo import GuardedWrites, is_ferretdb

_WAYS = {"condition in filter": False, "checked after look-up": True}


def _delivery(n: int) -> dict[str, Any]:
    """About the size of a notification delivery record."""
    return {
        "_id": f"delivery-{n:08d}",
        "status": "sending",
        "attempts": 1,
        "lease_until": datetime(2026, 11, 26, tzinfo=UTC),
        "channel": "email",
        "subject": "Hồ sơ của ông/bà đã được tiếp nhận " + "x" * 80,
        "history": [{"attempt": 1, "at": datetime(2026, 11, 26, tzinfo=UTC), "outcome": "retry"}],
        "dossier_id": str(uuid.UUID(int=n)),
    }


async def _fill(collection: AsyncIOMotorCollection[Any], have: int, want: int) -> None:
    for first in range(have, want, 500):
        await collection.insert_many([_delivery(n) for n in range(first, min(want, first + 500))])


async def _time_writes(writes: GuardedWrites, size: int, count: int) -> list[float]:
    took: list[float] = []
    for i in range(count):
        target = f"delivery-{(i * 7919) % size:08d}"
        started = time.perf_counter()
        done = await writes.update_one(
            target, {"status": "sending", "attempts": 1}, {"$set": {"touched": i}}
        )
        took.append((time.perf_counter() - started) * 1000)
        if not done:
            raise RuntimeError(f"the guarded write of {target} did not apply")
    return took


async def main(sizes: list[int], count: int) -> None:
    uri = os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017")
    client: AsyncIOMotorClient[Any] = AsyncIOMotorClient(uri, tz_aware=True)
    name = f"bench_guarded_{uuid.uuid4().hex[:8]}"
    collection = client[name]["deliveries"]
    store = "FerretDB" if await is_ferretdb(client[name]) else "MongoDB"
    print(f"store: {store} at {uri.split('@')[-1]}; {count} writes per size and way\n")
    rows: list[tuple[int, float, float]] = []
    have = 0
    try:
        for size in sizes:
            sys.stderr.write(f"filling to {size} documents …\n")
            await _fill(collection, have, size)
            have = size
            p50: dict[str, float] = {}
            # Alternating rounds, so a noisy neighbour hurts both ways alike.
            samples: dict[str, list[float]] = {way: [] for way in _WAYS}
            for _ in range(2):
                for way, check_here in _WAYS.items():
                    writes = GuardedWrites(collection)
                    writes.check_here = check_here
                    samples[way] += await _time_writes(writes, size, count // 2)
            p50 = {way: statistics.median(values) for way, values in samples.items()}
            rows.append((size, p50["condition in filter"], p50["checked after look-up"]))
            sys.stderr.write(f"  {size}: {p50}\n")
    finally:
        await client.drop_database(name)
        client.close()
    print(f"{'documents':>10} | {'in filter p50 ms':>17} | {'by id p50 ms':>13} | ratio")
    print(f"{'-' * 10}-+-{'-' * 17}-+-{'-' * 13}-+------")
    for size, in_filter, by_id in rows:
        print(f"{size:>10,} | {in_filter:>17.1f} | {by_id:>13.1f} | {in_filter / by_id:5.1f}×")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--writes", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(main([int(s) for s in args.sizes.split(",")], args.writes))
