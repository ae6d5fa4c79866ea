"""The signed result document intake issues on approval, as processing keeps it: recorded
once from ``dossier.result-issued``, required before an approved dossier's result is
returned, and handed over in that status change by id and SHA-256."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chassis.events import DossierResultIssued, PoisonMessage
from processing.domain.dossier import ActionParams, IssuedResult, ResultNotIssued
from processing.domain.workflow import Action, DossierStatus
from tests.unit.processing.test_processing_service import ALICE, LEADER, World

S = DossierStatus


def issued(dossier_id: str, sha256: str = "a" * 64) -> DossierResultIssued:
    return DossierResultIssued(
        dossier_id=dossier_id,
        receipt_code="MT-X",
        document_id="6751c0a2e4b0f1a2b3c4d5e6",
        sha256=sha256,
        size=48_000,
        decision_number="MT-X/QĐ-STNMT-MT",
        issued_at=datetime(2026, 3, 3, 2, tzinfo=UTC),
    )


async def approved(world: World) -> str:
    """A dossier approved after review: the path that ends in a result document."""
    dossier_id = await world.submit()
    await world.service.act(dossier_id, ALICE, None, Action.START_REVIEW, ActionParams())
    approval = ActionParams(result_reference="12/GP-STNMT")
    await world.service.act(dossier_id, ALICE, None, Action.APPROVE, approval)
    assert world.status(dossier_id) is S.APPROVED
    return dossier_id


def last_event(world: World, dossier_id: str) -> dict[str, Any]:
    data: dict[str, Any] = world.store.records[dossier_id].outbox[-1]["event"]["data"]
    return data


async def test_an_approved_result_is_returned_only_with_its_issued_document() -> None:
    world = World()
    dossier_id = await approved(world)
    version = world.version(dossier_id)
    with pytest.raises(ResultNotIssued):
        await world.service.act(dossier_id, ALICE, None, Action.RETURN_RESULT, ActionParams())
    assert world.status(dossier_id) is S.APPROVED
    assert world.version(dossier_id) == version

    await world.service.record_result(issued(dossier_id))
    # Recorded beside the state: the version, and so an officer's If-Match, stay.
    assert world.version(dossier_id) == version
    returned = await world.service.act(
        dossier_id, ALICE, frozenset({version}), Action.RETURN_RESULT, ActionParams()
    )
    assert returned.status is S.RESULT_RETURNED
    event = last_event(world, dossier_id)
    assert event["result_sha256"] == "a" * 64
    assert event["result_document_id"] == "6751c0a2e4b0f1a2b3c4d5e6"


async def test_the_first_issued_result_stays_and_a_redelivery_changes_nothing() -> None:
    world = World()
    dossier_id = await approved(world)
    await world.service.record_result(issued(dossier_id))
    await world.service.record_result(issued(dossier_id))
    await world.service.record_result(issued(dossier_id, sha256="b" * 64))
    kept = world.store.records[dossier_id].dossier.result_document
    assert kept is not None
    assert kept.sha256 == "a" * 64


async def test_an_officers_write_read_before_the_result_does_not_erase_it() -> None:
    world = World()
    dossier_id = await approved(world)

    def announced_meanwhile(store: Any) -> None:
        # The announcement lands between the claim's read and its write.
        record = store.records[dossier_id]
        record.dossier = record.dossier.model_copy(
            update={"result_document": IssuedResult.model_validate(issued(dossier_id).model_dump())}
        )

    world.store.before_next_write(announced_meanwhile)
    await world.service.claim(dossier_id, LEADER, None)
    await world.service.act(dossier_id, LEADER, None, Action.RETURN_RESULT, ActionParams())
    assert last_event(world, dossier_id)["result_sha256"] == "a" * 64


async def test_a_result_for_a_dossier_never_submitted_is_poison() -> None:
    world = World()
    with pytest.raises(PoisonMessage):
        await world.service.record_result(issued("no-such-dossier"))


async def test_a_rejected_dossier_is_returned_without_a_document() -> None:
    world = World()
    dossier_id = await world.submit()
    for who, action in ((ALICE, Action.START_REVIEW), (ALICE, Action.REJECT)):
        await world.service.act(dossier_id, who, None, action, ActionParams(reason="Thiếu"))
    await world.service.act(dossier_id, ALICE, None, Action.RETURN_RESULT, ActionParams())
    assert "result_sha256" not in last_event(world, dossier_id) or (
        last_event(world, dossier_id)["result_sha256"] is None
    )
