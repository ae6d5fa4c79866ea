"""The audit log on the real store: append throughput, verification speed, trail latency.

    uv run python -m bench.audit_bench [--entries 100000] [--append 5000] [--queries 200]

Uses the store named by ``MONGODB_URI`` (else the local launcher starts it) with a database of
its own, dropped afterwards. Measures, with the service's own code:

* append: realistic events (submissions with an applicant, status changes) through
  ``AuditRecorder.record`` in consumer-sized batches, from an empty log, and again once the
  log holds ``--entries`` entries (each batch: an event id look-up, a head read, one ordered
  insert; all index look-ups, so the rate should not depend on the log's size);
* the chain head read a fresh appender does at start, and a batch holding an event recorded
  long ago;
* checkpoint: one ``Checkpointer`` round over the whole log (chain re-check + Merkle tree);
* verification: ``audit.service.verification.verify_range`` from seq 1, the path of
  ``GET /v1/audit/verify`` and
  ``audit.cli verify-store``, and ``verify_log`` over the same entries already in memory
  (hashing alone, no store);
* query latency: ``GET /v1/audit/dossiers/{id}`` of the real app (in process, over ASGI) for
  random dossiers of the full log, and ``GET /v1/audit/entries?actor=…`` (one officer's
  entries, a first page and a later keyset page).

The log is filled beyond the first append phase with entries sealed by the same code and
inserted through ``AuditStore.insert_entries`` (setup, not measured).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import ConsumerRecord
from cryptography.fernet import Fernet
from pymongo import AsyncMongoClient

from audit.adapters.checkpointer import Checkpointer
from audit.adapters.consumer import AuditRecorder, incoming
from audit.adapters.store import AuditStore
from audit.domain.checkpoint import generate_private_key, private_key_to_base64
from audit.domain.personal_data import PersonalDataCipher
from audit.domain.recording import ChainHead, draft_entry, seal_run
from audit.domain.verification import verify_log
from audit.main import build_app
from audit.service.verification import verify_range
from audit.settings import AuditSettings
from chassis.auth import mint_token, new_signing_key, publish_jwks
from chassis.events import (
    Applicant,
    ApplicantType,
    Channel,
    DossierKind,
    DossierStatusChanged,
    DossierSubmitted,
    Envelope,
    FieldChange,
    Recipient,
    decode,
    encode,
    make_event,
)
from chassis.kafka import ConsumedEvent

ROOT = Path(__file__).resolve().parents[1]
STATUSES = ("submitted", "received", "in_review", "supplement_requested", "approved", "returned")


def _store_uri() -> str:
    uri = os.environ.get("MONGODB_URI")
    if uri:
        return uri
    import deploy.launcher as launcher

    return str(launcher.ensure_up(["store"])["mongodb"])


class Progress:
    """One progress line on stderr, rewritten in place."""

    def __init__(self, what: str, total: int) -> None:
        self._what, self._total, self._last = what, total, 0.0

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self._last >= 0.5 or done >= self._total:
            self._last = now
            print(f"\r  {self._what}: {done:,}/{self._total:,}   ", end="", file=sys.stderr)
            if done >= self._total:
                print(file=sys.stderr)


# --------------------------------------------------------------------------- synthetic events


def _dossier_events(dossier_id: str, steps: int) -> list[Envelope]:
    now = datetime.now(UTC)
    events = [
        make_event(
            DossierSubmitted(
                dossier_id=dossier_id,
                receipt_code=dossier_id[:8].upper(),
                procedure_code="MT-01",
                agency="STNMT",
                kind=DossierKind.PROCEDURE,
                channel=Channel.ONLINE,
                submitted_at=now,
                due_date=date(2030, 1, 15),
                applicant=Applicant(
                    type=ApplicantType.PERSON,
                    name="Nguyễn Văn An",
                    id_number=f"0792{random.randrange(10**8):08d}",
                    email="an.nguyen@example.vn",
                    phone="0912345678",
                    address="12 Lê Lợi, Phường Bến Nghé, Quận 1",
                ),
                form={"thua_dat": "số 12, tờ bản đồ 3", "dien_tich_m2": 152.5},
            ),
            source="/hoso/intake",
            actor="portal:portal-client-1",
        )
    ]
    for step in range(1, steps):
        old, new = STATUSES[(step - 1) % len(STATUSES)], STATUSES[step % len(STATUSES)]
        events.append(
            make_event(
                DossierStatusChanged(
                    dossier_id=dossier_id,
                    receipt_code=dossier_id[:8].upper(),
                    procedure_code="MT-01",
                    procedure_name_vi="Cấp giấy phép môi trường",
                    procedure_name_en="Environmental licence",
                    agency="STNMT",
                    agency_name_vi="Sở Tài nguyên và Môi trường",
                    agency_name_en="Department of Natural Resources and Environment",
                    old_status=old,
                    new_status=new,
                    action="advance",
                    occurred_at=now,
                    version=step + 1,
                    recipient=Recipient(
                        display_name="Nguyễn Văn An",
                        email="an.nguyen@example.vn",
                        phone="0912345678",
                    ),
                    changes=[FieldChange(field="assignee", old=None, new=f"cb-{step:02d}")],
                ),
                source="/hoso/processing",
                actor=f"officer:cb-{random.randrange(40):02d}",
            )
        )
    return events


def synthetic_events(count: int) -> tuple[list[Envelope], list[str]]:
    """``count`` events of dossiers with 4 to 12 events each, interleaved like real traffic."""
    per_dossier: list[list[Envelope]] = []
    dossiers: list[str] = []
    made = 0
    while made < count:
        dossier_id = str(uuid.uuid4())
        steps = min(random.randint(4, 12), count - made)
        per_dossier.append(_dossier_events(dossier_id, steps))
        dossiers.append(dossier_id)
        made += steps
    events: list[Envelope] = []
    open_lists = [list(reversed(e)) for e in per_dossier]
    while open_lists:
        window = open_lists[:50]
        for pending in window:
            events.append(pending.pop())
        open_lists = [p for p in open_lists if p]
    return events, dossiers


def consumed(envelope: Envelope) -> ConsumedEvent:
    value = encode(envelope)
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        topic="dossier.lifecycle",
        partition=0,
        offset=0,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value),
        headers=[],
    )
    decoded, payload = decode(value)
    return ConsumedEvent(decoded, payload, record)


# --------------------------------------------------------------------------- phases


async def timed_append(
    recorder: AuditRecorder, events: Sequence[Envelope], batch: int, what: str
) -> float:
    """Entries per second appended through the recorder, in batches of ``batch``."""
    batches = [[consumed(e) for e in events[i : i + batch]] for i in range(0, len(events), batch)]
    progress = Progress(what, len(events))
    started = time.perf_counter()
    done = 0
    for items in batches:
        await recorder.record(items)
        done += len(items)
        progress.update(done)
    return len(events) / (time.perf_counter() - started)


async def fill(
    store: AuditStore, cipher: PersonalDataCipher, events: Sequence[Envelope], chunk: int
) -> None:
    progress = Progress("filling the log (setup)", len(events))
    now = datetime.now(UTC)
    head = await store.head()
    for start in range(0, len(events), chunk):
        part = events[start : start + chunk]
        drafts = [draft_entry(e, trace_id=None, recorded_at=now, cipher=cipher) for e in part]
        sealed = seal_run(drafts, head)
        await store.insert_entries(sealed)
        head = ChainHead(sealed[-1].seq, sealed[-1].entry_hash)
        progress.update(start + len(part))


async def query_latencies(
    settings: AuditSettings,
    secret: str,
    paths: Callable[[], str],
    what: str,
    queries: int,
    budget_s: float,
) -> list[float]:
    """Up to ``queries`` GETs of ``paths()``; stops early (after at least 3) once
    ``budget_s`` is spent, so a store that reads the whole log per query still finishes."""
    app = build_app(settings)
    token = mint_token(secret, "bench-auditor", ["auditor"])
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    progress = Progress(what, queries)
    transport = httpx.ASGITransport(app=app)
    started_all = time.perf_counter()
    async with httpx.AsyncClient(transport=transport, base_url="http://audit") as client:
        for n in range(queries):
            if n >= 3 and time.perf_counter() - started_all > budget_s:
                print(file=sys.stderr)
                break
            path = paths()
            started = time.perf_counter()
            response = await client.get(path, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"query failed: {response.status_code} {response.text}")
            if not response.json()["entries"]:
                # Every dossier and officer of the synthetic log has entries.
                print(f"\n  warning: nothing found for {path}", file=sys.stderr)
            progress.update(n + 1)
    return latencies


def latency_row(latencies: Sequence[float]) -> str:
    return (
        f"p50 {percentile(latencies, 0.5) * 1000:,.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:,.1f} ms "
        f"(mean {statistics.fmean(latencies) * 1000:,.1f} ms, {len(latencies)} queries)"
    )


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class Rows(list[tuple[str, str]]):
    """The result table; each row is also printed to stderr as soon as it is measured, so a
    long run that is interrupted still leaves its figures."""

    def append(self, row: tuple[str, str]) -> None:
        super().append(row)
        print(f"  = {row[0]}: {row[1]}", file=sys.stderr, flush=True)


async def run(args: argparse.Namespace) -> list[tuple[str, str]]:
    uri = _store_uri()
    database = f"bench_audit_{uuid.uuid4().hex[:8]}"
    client: AsyncMongoClient[Any] = AsyncMongoClient(uri, tz_aware=True)
    info = await client.admin.command("buildInfo")
    # FerretDB 1.x names its version in ferretdbVersion, 2.x in a ferretdb document.
    ferretdb = info.get("ferretdb")
    if isinstance(ferretdb, dict):
        engine = f"FerretDB {ferretdb.get('version', '?')}"
    elif "ferretdbVersion" in info:
        engine = f"FerretDB {info['ferretdbVersion']}"
    else:
        engine = "MongoDB"
    rows = Rows()
    rows.append(("store", f"{engine} (MongoDB wire {info.get('version', '?')})"))
    store = AuditStore(client[database])
    pii_key = Fernet.generate_key().decode()
    cipher = PersonalDataCipher([pii_key])
    try:
        await store.create_indexes()
        print(f"making {args.entries:,} synthetic events …", file=sys.stderr)
        first = min(args.append, args.entries)
        events, dossiers = synthetic_events(args.entries + first + args.batch)
        head, tail = events[: args.entries], events[args.entries : args.entries + first]
        redelivered = events[args.entries + first :]

        rate = await timed_append(
            AuditRecorder(store, cipher), head[:first], args.batch, "append from an empty log"
        )
        rows.append((f"append via AuditRecorder, log 0 → {first:,}", f"{rate:,.0f} entries/s"))

        await fill(store, cipher, head[first:], chunk=5000)
        # As the service does: the head is read once at start, not per batch.
        appender = AuditRecorder(store, cipher)
        started = time.perf_counter()
        await appender.recorder.load_head()
        rows.append(
            (
                f"chain head read at start, log at {args.entries:,}",
                f"{(time.perf_counter() - started) * 1000:,.0f} ms",
            )
        )
        rate = await timed_append(appender, tail, args.batch, f"append at {args.entries:,}")
        rows.append(
            (f"append via AuditRecorder, log at {args.entries:,}", f"{rate:,.0f} entries/s")
        )

        # A batch holding an event recorded long ago (as after a restart), appended by a
        # fresh appender: head read, look-up, insert.
        batch = [consumed(e) for e in redelivered[1:]] + [consumed(head[first + 7])]
        started = time.perf_counter()
        fresh = AuditRecorder(store, cipher)
        outcome = await fresh.recorder.record([incoming(item) for item in batch])
        added = outcome.appended
        elapsed = time.perf_counter() - started
        if added != len(batch) - 1:
            raise RuntimeError(f"a redelivered event was appended again ({added} added)")
        rows.append(
            (
                f"batch of {len(batch)} with one old duplicate, log at {args.entries:,}",
                f"{elapsed * 1000:,.0f} ms (a fresh appender: look-up, head read, insert)",
            )
        )
        total = args.entries + len(tail) + len(batch) - 1

        key = generate_private_key()
        started = time.perf_counter()
        checkpoint = await Checkpointer(store, key, log_id="bench", interval_s=60).sign_if_grown()
        elapsed = time.perf_counter() - started
        assert checkpoint is not None
        assert checkpoint.tree_size == total
        rows.append(
            (f"checkpoint round over {total:,} entries", f"{total / elapsed:,.0f} entries/s")
        )

        print("  verifying from the store …", file=sys.stderr)
        started = time.perf_counter()
        result = await verify_range(store, key.public_key(), 1, None, read_batch=2000)
        elapsed = time.perf_counter() - started
        if not result.report.ok or result.report.entries_checked != total:
            raise RuntimeError(f"verification failed: {result.report}")
        rows.append(
            (f"verify from the store, {total:,} entries", f"{total / elapsed:,.0f} entries/s")
        )

        entries = [e async for page in store.log_pages(after_position=0, batch=5000) for e in page]
        started = time.perf_counter()
        report = verify_log(entries, [checkpoint], key.public_key())
        elapsed = time.perf_counter() - started
        assert report.ok
        assert report.checkpoints_checked == 1
        rows.append(
            (f"verify in memory (hashing only), {total:,}", f"{total / elapsed:,.0f} entries/s")
        )

        secret = new_signing_key()
        settings = AuditSettings(
            mongodb_uri=uri,
            mongodb_database=database,
            jwt_jwks_file=publish_jwks(secret),
            signing_key=private_key_to_base64(key),
            pii_key=pii_key,
            log_level="WARNING",
        )
        latencies = await query_latencies(
            settings,
            secret,
            lambda: f"/v1/audit/dossiers/{random.choice(dossiers)}",
            "dossier trail queries",
            args.queries,
            args.query_budget,
        )
        rows.append((f"dossier trail GET at {total:,} entries", latency_row(latencies)))
        # One officer's entries (1 in 40 of the status changes), first page and a page
        # further on through the keyset: the auditor's "what did this officer do".
        latencies = await query_latencies(
            settings,
            secret,
            lambda: (
                f"/v1/audit/entries?actor=officer:cb-{random.randrange(40):02d}"
                f"&limit=100&after_seq={random.choice((0, random.randrange(total)))}"
            ),
            "filtered queries",
            args.queries,
            args.query_budget,
        )
        rows.append(
            (f"entries GET ?actor=… (100 a page) at {total:,} entries", latency_row(latencies))
        )
    finally:
        await client.drop_database(database)
        await client.close()
    return rows


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not positive")
    return value


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.audit_bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--entries", type=_positive, default=100_000, help="log size")
    parser.add_argument(
        "--append", type=_positive, default=5_000, help="entries appended from an empty log"
    )
    parser.add_argument("--batch", type=_positive, default=500, help="events per consumed batch")
    parser.add_argument(
        "--queries", type=_positive, default=200, help="queries of each kind (trail, filtered)"
    )
    parser.add_argument(
        "--query-budget",
        type=float,
        default=180.0,
        metavar="S",
        help="stop the trail queries after S seconds (at least 3 are made)",
    )
    parser.add_argument("--seed", type=int, default=6, help="random seed of the synthetic log")
    args = parser.parse_args(argv)
    random.seed(args.seed)
    rows = asyncio.run(run(args))
    width = max(len(label) for label, _ in rows)
    out("Audit log benchmark")
    for label, value in rows:
        out(f"  {label.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
