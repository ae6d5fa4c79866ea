"""The citizen's status look-up as the store grows, and whether its time tells a real
receipt code from an invented one.

    uv run python -m bench.status_lookup [--sizes 1000,10000,100000] [--lookups 400]

For each size the store holds that many accepted dossiers (each with its status
projection), and three kinds of look-up are timed, interleaved so that a noisy neighbour
hurts all of them alike: (a) a real receipt code with its follow-up secret, (b) a real
code with a wrong secret, (c) a well-formed code (correct check character) that does
not exist. Each look-up is the status route's own work in process, without the HTTP
round trip: rate limit, code normalisation, the store read by receipt code, the secret
check and, when it matches, the projection read and the body. The last column is the
median of (b) minus the median of (c): what a guesser timing the 404s could hope to see.

Uses ``MONGODB_URI`` (default mongodb://127.0.0.1:27017) and a database of its own,
dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import SecretStr
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from chassis.kafka import EventPublisher
from chassis.problems import problem_response
from intake.adapters.publisher import KafkaPublisher
from intake.adapters.store import ACCEPTED, IntakeStore
from intake.domain.follow_up import FollowUpKeys, secret_hash
from intake.domain.receipt import ALPHABET, new_receipt_code
from intake.main import build_api, follow_up_keys
from intake.service import ConcealedNotFound, FollowUp, SecondFactor
from intake.settings import IntakeSettings

CASES = ("(a) right secret", "(b) wrong secret", "(c) unknown code")
_BATCH = 1000
_RECEIVED = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def receipt_code(n: int, random_part: int | None = None) -> str:
    """The n-th dossier's code: 1,000 a day, as a busy department hands out. With
    ``random_part`` at or above 2**20, a well-formed code of the same day that no stored
    dossier has (theirs stay below 100,000)."""
    value = n if random_part is None else random_part
    digits = "".join(ALPHABET[(value >> (5 * i)) & 31] for i in range(5))
    day = date(2026, 1, 1) + timedelta(days=n // 1000)
    return new_receipt_code("MT", day, rng=lambda _: digits)


def submission(n: int, keys: FollowUpKeys) -> dict[str, Any]:
    """About the size and shape of what intake stores for an accepted dossier."""
    dossier_id = str(uuid.UUID(int=n + 1, version=4))
    code = receipt_code(n)
    return {
        "_id": dossier_id,
        "idempotency_id": secrets.token_hex(32),
        "request_hash": secrets.token_hex(32),
        "actor": "portal:portal-bench",
        "procedure_code": "MT-004",
        "agency": "STNMT-MT",
        "kind": "procedure",
        "channel": "online",
        "received_at": _RECEIVED,
        "due_date": "2026-12-17",
        "secret_hash": secret_hash(keys.secret_for(dossier_id)),
        "phone_hash": keys.phone_hash(dossier_id, "+84912345678"),
        "receipt_code": code,
        "state": ACCEPTED,
        "accepted_at": _RECEIVED,
        "event": {
            "id": str(uuid.uuid4()),
            "type": "dossier.submitted.v1",
            "subject": dossier_id,
            "data": {
                "applicant": {"type": "organisation", "name": "Công ty TNHH Giấy Hòa Bình"},
                "form": {
                    "facility_name": "Nhà máy giấy Lương Sơn",
                    "facility_address": "KCN Lương Sơn, Hòa Bình",
                    "waste_items": [{"code": "12 01 05", "quantity_kg_per_year": 1200}] * 4,
                },
                "attachments": [{"document_code": "application_form", "size": 250_000}] * 3,
            },
        },
        "response": {"dossier_id": dossier_id, "receipt_code": code},
    }


def projection(n: int) -> dict[str, Any]:
    return {
        "_id": str(uuid.UUID(int=n + 1, version=4)),
        "receipt_code": receipt_code(n),
        "status": "in_review",
        "missing_documents": [],
        "due_date": "2026-12-17",
        "updated_at": _RECEIVED,
        "version": 3,
    }


async def fill(db: AsyncDatabase[Any], keys: FollowUpKeys, have: int, want: int) -> None:
    for first in range(have, want, _BATCH):
        last = min(want, first + _BATCH)
        await db["submissions"].insert_many([submission(n, keys) for n in range(first, last)])
        await db["statuses"].insert_many([projection(n) for n in range(first, last)])


@dataclass
class Row:
    size: int
    samples: dict[str, list[float]]

    def p50(self, case: str) -> float:
        return statistics.median(self.samples[case])

    def p99(self, case: str) -> float:
        return statistics.quantiles(self.samples[case], n=100, method="inclusive")[98]


async def look_up(follow_up: FollowUp, code: str, secret: str) -> int:
    """What GET /v1/dossiers/{code}/status does once the request is parsed (its per-IP
    limit aside)."""
    try:
        answer = await follow_up.status(code, SecondFactor(secret=secret))
    except ConcealedNotFound as exc:
        problem_response(exc)
        return 404
    answer.model_dump_json()
    return 200


async def measure(follow_up: FollowUp, keys: FollowUpKeys, size: int, count: int) -> Row:
    samples: dict[str, list[float]] = {case: [] for case in CASES}
    rng = secrets.SystemRandom()
    for _ in range(count):
        known = rng.randrange(size)
        dossier_id = str(uuid.UUID(int=known + 1, version=4))
        attempts = {
            CASES[0]: (receipt_code(known), keys.secret_for(dossier_id), 200),
            CASES[1]: (receipt_code(known), keys.secret_for(str(uuid.uuid4())), 404),
            CASES[2]: (
                receipt_code(known, rng.randrange(2**20, 2**25)),
                keys.secret_for(str(uuid.uuid4())),
                404,
            ),
        }
        order = list(CASES)
        rng.shuffle(order)
        for case in order:
            code, secret, expected = attempts[case]
            started = time.perf_counter()
            answered = await look_up(follow_up, code, secret)
            samples[case].append((time.perf_counter() - started) * 1000)
            if answered != expected:
                raise RuntimeError(f"{case}: {code} answered {answered}, expected {expected}")
    return Row(size, samples)


async def main(sizes: list[int], count: int) -> None:
    uri = os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017")
    name = f"bench_status_{uuid.uuid4().hex[:8]}"
    unlimited = "1000000/second"
    settings = IntakeSettings(
        mongodb_uri=SecretStr(uri),
        mongodb_database=name,
        follow_up_key=SecretStr(secrets.token_urlsafe(32)),
        rate_limit_follow_up_per_ip=unlimited,
        rate_limit_follow_up_failures_per_code=unlimited,
    )
    client: AsyncMongoClient[Any] = AsyncMongoClient(uri, tz_aware=True)
    db = client[name]
    store = IntakeStore(db)
    keys = follow_up_keys(settings)
    assert keys is not None
    follow_up = build_api(settings, store, KafkaPublisher(EventPublisher(settings))).follow_up
    info = await db.command("buildInfo")
    ferretdb = info.get("ferretdb", {}).get("version") or info.get("ferretdbVersion")
    kind = f"FerretDB {ferretdb}" if ferretdb else f"MongoDB {info.get('version')}"
    print(f"store: {kind} at {uri.split('@')[-1]}; {count} look-ups per size and case\n")
    rows: list[Row] = []
    have = 0
    try:
        await store.create_indexes()
        for size in sizes:
            sys.stderr.write(f"filling to {size:,} dossiers …\n")
            started = time.perf_counter()
            await fill(db, keys, have, size)
            have = size
            sys.stderr.write(f"  filled in {time.perf_counter() - started:.1f} s; warming up\n")
            await measure(follow_up, keys, size, max(20, count // 10))
            rows.append(await measure(follow_up, keys, size, count))
    finally:
        await client.drop_database(name)
        await client.close()

    head = " | ".join(f"{case:^17}" for case in CASES)
    print(f"{'':>9} | {head} | wrong secret −")
    print(f"{'dossiers':>9} | " + " | ".join(f"{'p50 ms':>8} {'p99 ms':>8}" for _ in CASES), end="")
    print(" | unknown code p50")
    print(f"{'-' * 9}-+-" + "-+-".join("-" * 17 for _ in CASES) + "-+-" + "-" * 17)
    for row in rows:
        cells = " | ".join(f"{row.p50(c):>8.2f} {row.p99(c):>8.2f}" for c in CASES)
        delta = row.p50(CASES[1]) - row.p50(CASES[2])
        print(f"{row.size:>9,} | {cells} | {delta:>+13.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--lookups", type=int, default=400)
    args = parser.parse_args()
    wanted = [int(s) for s in args.sizes.split(",")]
    if max(wanted) >= 2**20:
        parser.error("sizes must stay below 2**20 (unknown codes are drawn above them)")
    asyncio.run(main(wanted, args.lookups))
