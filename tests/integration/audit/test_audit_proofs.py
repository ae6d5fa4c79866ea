"""Inclusion and consistency proofs from the API verify with the domain's RFC 9162 checks and
the published key alone, and stop verifying once any byte of them is changed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from audit.domain.chain import AuditEntry, compute_entry_hash
from audit.domain.checkpoint import Checkpoint, load_public_key, verify_checkpoint
from audit.domain.merkle import leaf_hash, verify_consistency, verify_inclusion
from chassis.kafka import EventPublisher
from tests.integration.audit.conftest import (
    AuditService,
    new_dossier_id,
    status_changed,
    submitted,
    wait_for_checkpoint,
    wait_for_entries,
)

pytestmark = pytest.mark.integration


def flipped(hex_text: str, at: int = 0) -> str:
    """The same hash with one byte changed."""
    raw = bytearray(bytes.fromhex(hex_text))
    raw[at] ^= 0x01
    return raw.hex()


async def grow(
    audit: AuditService, publisher: EventPublisher, http: httpx.AsyncClient, count: int
) -> list[dict[str, Any]]:
    dossier = new_dossier_id()
    events = [submitted(dossier)] + [
        status_changed(dossier, f"s{n}", f"s{n + 1}", version=n + 2) for n in range(count - 1)
    ]
    await publisher.publish_many(events, keys=[dossier] * count)
    entries = await wait_for_entries(http, audit, dossier, count)
    await wait_for_checkpoint(http, audit, max(e["seq"] for e in entries))
    return sorted(entries, key=lambda e: e["seq"])


@pytest.fixture(scope="module")
async def checkpointed(
    audit: AuditService, publisher: EventPublisher, http: httpx.AsyncClient
) -> dict[str, Any]:
    """Two stages of growth, each sealed by a checkpoint, and the published key."""
    first = await grow(audit, publisher, http, 9)
    second = await grow(audit, publisher, http, 12)
    key = (await http.get(f"{audit.url}/v1/audit/public-key")).json()
    return {"first": first, "second": second, "key": load_public_key(key["public_key_base64"])}


def inclusion_holds(proof: dict[str, Any], key: Any) -> bool:
    checkpoint = Checkpoint.model_validate(proof["checkpoint"])
    entry = AuditEntry.model_validate(proof["entry"])
    return (
        verify_checkpoint(checkpoint, key)
        and compute_entry_hash(entry) == entry.entry_hash == proof["entry_hash"]
        and entry.seq == proof["seq"] == proof["leaf_index"] + 1
        and verify_inclusion(
            leaf_hash(bytes.fromhex(proof["entry_hash"])),
            proof["leaf_index"],
            checkpoint.tree_size,
            [bytes.fromhex(h) for h in proof["path"]],
            bytes.fromhex(checkpoint.root_hash),
        )
    )


async def test_inclusion_proofs_verify_and_break_on_any_changed_byte(
    audit: AuditService, http: httpx.AsyncClient, checkpointed: dict[str, Any]
) -> None:
    key = checkpointed["key"]
    entries = checkpointed["first"] + checkpointed["second"]
    for entry in (entries[0], entries[5], entries[-1]):
        response = await http.get(
            f"{audit.url}/v1/audit/proofs/inclusion",
            params={"seq": entry["seq"]},
            headers=audit.auditor(),
        )
        assert response.status_code == 200, response.text
        proof = response.json()
        assert proof["entry"]["event_id"] == entry["event_id"]
        assert inclusion_holds(proof, key)

        if proof["path"]:
            assert not inclusion_holds({**proof, "path": [flipped(proof["path"][0])]}, key)
        assert not inclusion_holds({**proof, "entry_hash": flipped(proof["entry_hash"], 31)}, key)
        forged_root = {
            **proof["checkpoint"],
            "root_hash": flipped(proof["checkpoint"]["root_hash"]),
        }
        assert not inclusion_holds({**proof, "checkpoint": forged_root}, key)
        edited = {**proof["entry"], "actor": proof["entry"]["actor"] + "x"}
        assert not inclusion_holds({**proof, "entry": edited}, key)


async def test_an_older_checkpoint_proves_an_entry_it_covers(
    audit: AuditService, http: httpx.AsyncClient, checkpointed: dict[str, Any]
) -> None:
    older = checkpointed["first"][-1]["seq"]
    response = await http.get(
        f"{audit.url}/v1/audit/proofs/inclusion",
        params={"seq": checkpointed["first"][2]["seq"], "tree_size": older},
        headers=audit.auditor(),
    )
    assert response.status_code == 200, response.text
    assert response.json()["tree_size"] == older
    assert inclusion_holds(response.json(), checkpointed["key"])


async def test_consistency_proof_verifies_and_breaks_on_any_changed_byte(
    audit: AuditService, http: httpx.AsyncClient, checkpointed: dict[str, Any]
) -> None:
    first_size = checkpointed["first"][-1]["seq"]
    response = await http.get(
        f"{audit.url}/v1/audit/proofs/consistency",
        params={"first": first_size},
        headers=audit.auditor(),
    )
    assert response.status_code == 200, response.text
    proof = response.json()
    first = Checkpoint.model_validate(proof["first"])
    second = Checkpoint.model_validate(proof["second"])
    assert first.tree_size == first_size
    assert second.tree_size >= checkpointed["second"][-1]["seq"] > first_size
    assert verify_checkpoint(first, checkpointed["key"])
    assert verify_checkpoint(second, checkpointed["key"])
    path = [bytes.fromhex(h) for h in proof["path"]]
    old_root, new_root = bytes.fromhex(first.root_hash), bytes.fromhex(second.root_hash)

    assert verify_consistency(first.tree_size, second.tree_size, old_root, new_root, path)
    for index in range(len(path)):
        broken = list(path)
        broken[index] = bytes.fromhex(flipped(path[index].hex(), index % 32))
        assert not verify_consistency(first.tree_size, second.tree_size, old_root, new_root, broken)
    assert not verify_consistency(
        first.tree_size, second.tree_size, bytes.fromhex(flipped(first.root_hash)), new_root, path
    )
    assert not verify_consistency(
        first.tree_size, second.tree_size, old_root, bytes.fromhex(flipped(second.root_hash)), path
    )


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("inclusion", {"seq": 10**9}, 422),
        ("inclusion", {"seq": 1, "tree_size": 10**9}, 404),
        ("inclusion", {"seq": 0}, 422),
        ("inclusion", {}, 422),
        ("consistency", {"first": 10**9}, 404),
        ("consistency", {"first": "one"}, 422),
    ],
)
async def test_impossible_proofs_are_problems(
    audit: AuditService,
    http: httpx.AsyncClient,
    checkpointed: dict[str, Any],
    path: str,
    params: dict[str, Any],
    status: int,
) -> None:
    response = await http.get(
        f"{audit.url}/v1/audit/proofs/{path}", params=params, headers=audit.auditor()
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_later_checkpoint_cannot_be_proven_against_an_earlier_one(
    audit: AuditService, http: httpx.AsyncClient, checkpointed: dict[str, Any]
) -> None:
    response = await http.get(
        f"{audit.url}/v1/audit/proofs/consistency",
        params={
            "first": checkpointed["second"][-1]["seq"],
            "second": checkpointed["first"][-1]["seq"],
        },
        headers=audit.auditor(),
    )
    assert response.status_code == 422, response.text
