"""Tampering with single entries directly in the store, as someone holding the database
would, is reported by verification at the entry where it happened; undoing it makes the
log verify again. The command-line verifier reads the same store and agrees."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from audit.cli import main as cli
from audit.domain.chain import AuditEntry, compute_entry_hash
from audit.domain.checkpoint import public_key_to_pem
from audit.domain.failures import FailureReason
from tests.integration.audit.conftest import (
    AuditService,
    make_publisher,
    new_dossier_id,
    status_changed,
    submitted,
    wait_for_checkpoint,
    wait_for_entries,
)
from tests.support.infra import Infra

pytestmark = pytest.mark.integration

SIZE = 40


@pytest.fixture(scope="module")
async def log(
    audit_factory: Any, infra: Infra, http: httpx.AsyncClient
) -> AsyncIterator[AuditService]:
    service: AuditService = audit_factory("audit-tamper")
    publisher = await make_publisher(infra, service.topic_prefix)
    dossier = new_dossier_id()
    events = [submitted(dossier)] + [
        status_changed(dossier, f"s{n}", f"s{n + 1}", version=n + 2) for n in range(SIZE - 1)
    ]
    try:
        await publisher.publish_many(events, keys=[dossier] * SIZE)
    finally:
        await publisher.stop()
    await wait_for_entries(http, service, dossier, SIZE)
    await wait_for_checkpoint(http, service, SIZE)
    return service


async def verify(http: httpx.AsyncClient, service: AuditService, **params: int) -> dict[str, Any]:
    response = await http.get(
        f"{service.url}/v1/audit/verify", params=params, headers=service.auditor()
    )
    assert response.status_code == 200, response.text
    return response.json()


def failure(report: dict[str, Any]) -> tuple[int, str]:
    assert not report["ok"], report
    return report["first_failure"]["seq"], report["first_failure"]["reason"]


@pytest.fixture
async def intact(log: AuditService, http: httpx.AsyncClient) -> AsyncIterator[AuditService]:
    """Checks the log verifies before the test and again after the test undid its damage."""
    before = await verify(http, log)
    assert before["ok"], before
    assert before["tree_size"] == SIZE
    assert before["checkpointed_size"] == SIZE
    yield log
    after = await verify(http, log)
    assert after["ok"], after
    assert after["root_hash"] == before["root_hash"]


async def test_an_edited_entry_is_reported_at_its_seq(
    intact: AuditService, http: httpx.AsyncClient
) -> None:
    entries = intact.db["audit_entries"]
    original = await entries.find_one({"_id": 17})
    await entries.update_one({"_id": 17}, {"$set": {"actor": "officer:someone-else"}})
    try:
        assert failure(await verify(http, intact)) == (17, FailureReason.ENTRY_EDITED.value)
    finally:
        await entries.replace_one({"_id": 17}, original)


async def test_an_edited_payload_value_is_reported_at_its_seq(
    intact: AuditService, http: httpx.AsyncClient
) -> None:
    entries = intact.db["audit_entries"]
    original = await entries.find_one({"_id": 23})
    await entries.update_one({"_id": 23}, {"$set": {"payload.new_status": "rejected"}})
    try:
        assert failure(await verify(http, intact)) == (23, FailureReason.ENTRY_EDITED.value)
    finally:
        await entries.replace_one({"_id": 23}, original)


async def test_an_entry_made_unreadable_is_reported_at_its_seq(
    intact: AuditService, http: httpx.AsyncClient
) -> None:
    # Mid-page: the entries read before it in the same page are still checked first.
    entries = intact.db["audit_entries"]
    original = await entries.find_one({"_id": 17})
    await entries.update_one({"_id": 17}, {"$unset": {"actor": ""}})
    try:
        report = await verify(http, intact)
        assert failure(report) == (17, FailureReason.ENTRY_UNREADABLE.value)
        assert report["entries_checked"] == 16
    finally:
        await entries.replace_one({"_id": 17}, original)


async def test_a_deleted_entry_is_reported_at_its_seq(
    intact: AuditService, http: httpx.AsyncClient
) -> None:
    entries = intact.db["audit_entries"]
    original = await entries.find_one({"_id": 17})
    await entries.delete_one({"_id": 17})
    try:
        assert failure(await verify(http, intact)) == (17, FailureReason.ENTRY_MISSING.value)
    finally:
        await entries.insert_one(original)


async def test_an_inserted_entry_is_reported_where_it_was_slipped_in(
    intact: AuditService, http: httpx.AsyncClient
) -> None:
    entries = intact.db["audit_entries"]
    genuine = await entries.find_one({"_id": 17})
    # A well-formed forgery: sealed by the rules, linked to entry 16, placed before entry 17.
    forged_fields = {k: v for k, v in genuine.items() if k != "_id"} | {
        "seq": 1_000,
        "event_id": str(uuid.uuid4()),
        "actor": "officer:intruder",
    }
    forged_fields["entry_hash"] = compute_entry_hash(AuditEntry.model_validate(forged_fields))
    await entries.insert_one({"_id": 16.5, **forged_fields})
    try:
        assert failure(await verify(http, intact)) == (
            17,
            FailureReason.ENTRY_INSERTED_OR_REORDERED.value,
        )
    finally:
        await entries.delete_one({"_id": 16.5})


async def test_two_entries_swapped_are_reported_at_the_first(
    intact: AuditService, http: httpx.AsyncClient
) -> None:
    entries = intact.db["audit_entries"]
    seventeen = await entries.find_one({"_id": 17})
    eighteen = await entries.find_one({"_id": 18})
    await entries.delete_many({"_id": {"$in": [17, 18]}})
    await entries.insert_many([{**eighteen, "_id": 17}, {**seventeen, "_id": 18}])
    try:
        assert failure(await verify(http, intact)) == (
            17,
            FailureReason.ENTRY_INSERTED_OR_REORDERED.value,
        )
    finally:
        await entries.delete_many({"_id": {"$in": [17, 18]}})
        await entries.insert_many([seventeen, eighteen])


async def test_an_entry_resealed_after_editing_breaks_the_next_link(
    intact: AuditService, http: httpx.AsyncClient
) -> None:
    entries = intact.db["audit_entries"]
    original = await entries.find_one({"_id": 17})
    fields = {k: v for k, v in original.items() if k != "_id"} | {"actor": "officer:intruder"}
    resealed = compute_entry_hash(AuditEntry.model_validate(fields))
    await entries.update_one(
        {"_id": 17}, {"$set": {"actor": "officer:intruder", "entry_hash": resealed}}
    )
    try:
        # Entry 17 is consistent in itself now; the chain shows it at the next link.
        assert failure(await verify(http, intact)) == (
            18,
            FailureReason.CHAIN_LINK_BROKEN.value,
        )
    finally:
        await entries.replace_one({"_id": 17}, original)


async def test_entries_cut_from_the_end_are_reported_by_the_checkpoint(
    intact: AuditService, http: httpx.AsyncClient
) -> None:
    entries = intact.db["audit_entries"]
    last = await entries.find_one({"_id": SIZE})
    await entries.delete_one({"_id": SIZE})
    try:
        assert failure(await verify(http, intact)) == (SIZE, FailureReason.LOG_TRUNCATED.value)
    finally:
        await entries.insert_one(last)


async def test_a_forged_checkpoint_is_reported(
    intact: AuditService, http: httpx.AsyncClient
) -> None:
    checkpoints = intact.db["checkpoints"]
    original = await checkpoints.find_one({"_id": SIZE})
    await checkpoints.update_one({"_id": SIZE}, {"$set": {"root_hash": "ab" * 32}})
    try:
        assert failure(await verify(http, intact)) == (
            SIZE,
            FailureReason.CHECKPOINT_SIGNATURE_INVALID.value,
        )
    finally:
        await checkpoints.replace_one({"_id": SIZE}, original)


async def test_a_range_is_verified_from_the_checkpoint_before_it(
    intact: AuditService, http: httpx.AsyncClient
) -> None:
    entries = intact.db["audit_entries"]
    original = await entries.find_one({"_id": 35})
    await entries.update_one({"_id": 35}, {"$set": {"dossier_id": new_dossier_id()}})
    try:
        report = await verify(http, intact, from_seq=30, to_seq=38)
        assert failure(report) == (35, FailureReason.ENTRY_EDITED.value)
        assert report["trusted_size"] < 30
        # The range ends before the damage: nothing to report there.
        clean = await verify(http, intact, from_seq=20, to_seq=34)
        assert clean["ok"], clean
        assert clean["tree_size"] == 34
    finally:
        await entries.replace_one({"_id": 35}, original)


def run_cli(*args: str) -> tuple[int, dict[str, str]]:
    out, err = io.StringIO(), io.StringIO()
    code = cli(list(args), out=out, err=err)
    rows = {}
    for line in out.getvalue().splitlines():
        if line.startswith("  "):
            label, _, value = line.strip().partition("  ")
            rows[label] = value.strip()
    return code, rows


async def test_the_command_line_verifies_the_store(
    intact: AuditService, infra: Infra, tmp_path: Path
) -> None:
    key_file = tmp_path / "audit.pub.pem"
    key_file.write_bytes(public_key_to_pem(intact.signing_key.public_key()))
    args = (
        "verify-store",
        "--mongodb-uri",
        infra.mongodb,
        "--database",
        intact.database,
        "--public-key",
        str(key_file),
    )
    code, rows = await asyncio.to_thread(run_cli, *args)
    assert code == 0, rows
    assert rows["Result"] == "OK"
    assert rows["Entries checked"] == str(SIZE)
    assert rows["Signed coverage"] == f"seq 1 to {SIZE}"

    entries = intact.db["audit_entries"]
    original = await entries.find_one({"_id": 9})
    await entries.update_one({"_id": 9}, {"$set": {"occurred_at": "2020-01-01T00:00:00.000000Z"}})
    try:
        code, rows = await asyncio.to_thread(run_cli, *args)
        assert code == 1
        assert rows["First failure"] == "seq 9: entry edited (hash mismatch)"
    finally:
        await entries.replace_one({"_id": 9}, original)


def test_the_command_line_reports_an_unreachable_store() -> None:
    code, _ = run_cli("verify-store", "--mongodb-uri", "mongodb://127.0.0.1:9", "--timeout", "0.3")
    assert code == 2
