"""Several replicas of the audit service, one consumer group, one database: the partitions
are split between them and they append to the one chain concurrently. One replica is
killed with SIGKILL in the middle and another takes its place. Afterwards the store verifies
from end to end (chain, tree and every replica's signed checkpoints), every event is recorded
exactly once and the log has no gap."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from audit.domain.checkpoint import public_key_to_pem
from chassis.events import DossierSubmitted, Envelope
from tests.integration.audit.conftest import (
    AuditService,
    make_publisher,
    new_dossier_id,
    status_changed,
    submitted,
    wait_for_checkpoint,
)
from tests.integration.audit.test_audit_tamper import run_cli
from tests.support.infra import Infra
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

DOSSIERS = 40
ROUNDS = 8


async def appended(http: httpx.AsyncClient, service: AuditService) -> float:
    response = await http.get(f"{service.url}/metrics")
    assert response.status_code == 200, response.text
    for line in response.text.splitlines():
        if line.startswith("hoso_audit_entries_appended_total "):
            return float(line.split()[1])
    return 0.0


async def test_replicas_append_one_chain_with_every_event_once(
    audit_factory: Any, infra: Infra, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    first: AuditService = audit_factory("audit-replicas")
    second: AuditService = audit_factory("audit-replicas", replica_of=first)
    publisher = await make_publisher(infra, first.topic_prefix)
    dossiers = [new_dossier_id() for _ in range(DOSSIERS)]
    published: list[Envelope] = []
    third: AuditService | None = None
    try:
        for step in range(ROUNDS):
            events = [
                submitted(d)
                if step == 0
                else status_changed(d, f"s{step}", f"s{step + 1}", version=step + 1)
                for d in dossiers
            ]
            await publisher.publish_many(events, keys=dossiers)
            published.extend(events)
            if step == ROUNDS // 2:
                # Mid-stream, possibly mid-insert: the batch it held is never committed.
                second.process.kill()
                third = await asyncio.to_thread(audit_factory, "audit-replicas", first)
            await asyncio.sleep(0.3)
    finally:
        await publisher.stop()
    assert third is not None

    entries = first.db["audit_entries"]
    total = len(published)

    async def all_recorded() -> bool:
        return await entries.count_documents({}) >= total

    await eventually(all_recorded, timeout_s=120, what=f"{total} audit entries")
    # The replica that took the killed one's partitions got work, and so did the first.
    assert await appended(http, first) > 0
    assert await appended(http, third) > 0

    stored = [d async for d in entries.find({}, {"seq": 1, "event_id": 1, "dossier_id": 1})]
    assert sorted(d["seq"] for d in stored) == list(range(1, total + 1))
    assert sorted(Counter(d["event_id"] for d in stored).values()) == [1] * total
    assert {d["event_id"] for d in stored} == {e.id for e in published}
    # One dossier's lifecycle events share a partition: its trail keeps their order.
    by_seq = sorted(stored, key=lambda d: d["seq"])
    lifecycle = {e.id: i for i, e in enumerate(published) if e.type != DossierSubmitted.event_type}
    for dossier in dossiers[:5]:
        order = [
            lifecycle[d["event_id"]]
            for d in by_seq
            if d["dossier_id"] == dossier and d["event_id"] in lifecycle
        ]
        assert order == sorted(order)

    await wait_for_checkpoint(http, first, total)
    key_file = tmp_path / "audit.pub.pem"
    key_file.write_bytes(public_key_to_pem(first.signing_key.public_key()))
    code, rows = await asyncio.to_thread(
        run_cli,
        "verify-store",
        "--mongodb-uri",
        infra.mongodb,
        "--database",
        first.database,
        "--public-key",
        str(key_file),
    )
    assert code == 0, rows
    assert rows["Result"] == "OK"
    assert rows["Entries checked"] == str(total)
    assert rows["Signed coverage"] == f"seq 1 to {total}"
