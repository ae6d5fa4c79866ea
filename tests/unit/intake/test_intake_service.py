"""Intake's use cases against in-memory fakes of the store, the publisher and the clock:
submission and its idempotency, the retry that publishes a pending submission, citizen
follow-up, supplement, withdrawal, denunciation, identity resolution, and the status
projection's event handlers."""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from chassis.auth import Principal
from chassis.catalogue import load_default_catalogue
from chassis.events import (
    DossierApologyIssued,
    DossierDeadlineExtended,
    DossierIdentityResolved,
    DossierStatusChanged,
    DossierSubmitted,
    DossierSupplemented,
    DossierWithdrawalRequested,
    Recipient,
)
from chassis.problems import Problem
from intake.api.models import SubmissionIn, SupplementIn, WithdrawalIn
from intake.domain.follow_up import FollowUpKeys, secret_hash
from intake.domain.identity import IdentitySeal
from intake.domain.receipt import is_valid_receipt_code
from intake.ports import ACCEPTED, PENDING
from intake.service import (
    ConcealedNotFound,
    FollowUp,
    Identities,
    Receipt,
    SecondFactor,
    Submissions,
    project_new_appointment,
    project_status_change,
)
from intake.service.documents import Documents
from intake.settings import IntakeSettings
from tests.integration.intake.intake_bodies import (
    attachment,
    complaint_at_counter,
    denunciation,
    waste_registration,
)
from tests.support.documents import catalogue_document_codes
from tests.unit.intake.fakes import (
    FakeClock,
    FakeDocuments,
    FakePublisher,
    FakeStore,
    FakeThrottle,
)

CATALOGUE = load_default_catalogue()
PORTAL = Principal("portal-a", frozenset({"portal"}))
INSPECTOR = Principal(
    "officer-1", frozenset({"officer"}), agency="STNMT-TTR", scopes=frozenset({"identity:resolve"})
)
WRONG_AGENCY = Principal(
    "officer-2", frozenset({"officer"}), agency="STNMT-MT", scopes=frozenset({"identity:resolve"})
)
PHONE_FAILURES = 3
# What every lifecycle event says about its dossier besides the id.
REF: dict[str, Any] = {
    "receipt_code": "MT-261126-AAAAAA",
    "procedure_code": "MT-004",
    "procedure_name_vi": "Đăng ký chủ nguồn thải chất thải nguy hại",
    "procedure_name_en": "Registration as a hazardous waste source owner",
    "agency": "STNMT-MT",
    "agency_name_vi": "Chi cục Bảo vệ môi trường",
    "agency_name_en": "Environmental Protection Sub-Department",
}


@dataclass
class World:
    store: FakeStore
    publisher: FakePublisher
    clock: FakeClock
    phone_failures: FakeThrottle
    keys: FollowUpKeys
    seal: IdentitySeal
    settings: IntakeSettings
    submissions: Submissions
    follow_up: FollowUp
    identities: Identities
    files: FakeDocuments


def make_world(*, keys: bool = True, seal: bool = True) -> World:
    settings = IntakeSettings(
        follow_up_key=SecretStr(secrets.token_urlsafe(32)) if keys else None,
        identity_key=SecretStr(Fernet.generate_key().decode()) if seal else None,
        publish_lease_s=15.0,
        retry_after_s=7,
    )
    follow_up_keys = FollowUpKeys.from_secret(secrets.token_urlsafe(32), derived=False)
    identity_seal = IdentitySeal(Fernet.generate_key().decode())
    store, publisher, clock = FakeStore(), FakePublisher(), FakeClock()
    throttle = FakeThrottle(limit=PHONE_FAILURES)
    files = FakeDocuments.with_samples(catalogue_document_codes())
    follow_up = FollowUp(
        store=store,
        publisher=publisher,
        catalogue=CATALOGUE,
        keys=follow_up_keys if keys else None,
        phone_failures=throttle,
        settings=settings,
        documents=files,
        clock=clock,
    )
    documents = Documents(
        documents=files,
        submissions=store,
        publisher=publisher,
        follow_up=follow_up,
        settings=settings,
        clock=clock,
    )
    return World(
        files=files,
        store=store,
        publisher=publisher,
        clock=clock,
        phone_failures=throttle,
        keys=follow_up_keys,
        seal=identity_seal,
        settings=settings,
        submissions=Submissions(
            store=store,
            publisher=publisher,
            catalogue=CATALOGUE,
            keys=follow_up_keys if keys else None,
            seal=identity_seal if seal else None,
            settings=settings,
            documents=documents,
            clock=clock,
        ),
        follow_up=follow_up,
        identities=Identities(
            store=store,
            publisher=publisher,
            seal=identity_seal if seal else None,
            settings=settings,
            clock=clock,
        ),
    )


@pytest.fixture
def world() -> World:
    return make_world()


# One body for the whole module: a retry must send the very same body as the first try.
WASTE = waste_registration()


def waste(**changes: Any) -> SubmissionIn:
    return SubmissionIn.model_validate({**copy.deepcopy(WASTE), **changes})


async def refused(call: Any, status: int) -> Problem:
    with pytest.raises(Problem) as caught:
        await call
    assert caught.value.status == status, caught.value.detail
    return caught.value


async def accepted_dossier(world: World, body: SubmissionIn | None = None) -> Receipt:
    return await world.submissions.submit(body or waste(), PORTAL, None)


# --------------------------------------------------------------------------- submission


async def test_a_submission_is_stored_accepted_and_published_once(world: World) -> None:
    body = waste()
    receipt = await world.submissions.submit(body, PORTAL, "key-1")

    assert not receipt.replayed
    answer = receipt.body
    assert is_valid_receipt_code(answer.receipt_code)
    assert answer.receipt_code.startswith("MT-")
    assert answer.status_url == f"/v1/dossiers/{answer.receipt_code}/status"
    assert answer.received_at == world.clock.now
    assert answer.due_date > world.clock.now.date()
    assert answer.follow_up_secret == world.keys.secret_for(answer.dossier_id)

    stored = world.store.submissions[answer.dossier_id]
    assert stored["state"] == ACCEPTED
    assert "lease_owner" not in stored
    # The secret itself is never stored, only what checks it.
    assert stored["secret_hash"] == secret_hash(answer.follow_up_secret)
    assert answer.follow_up_secret not in str(stored)
    assert stored["phone_hash"] == world.keys.phone_hash(answer.dossier_id, "+84912345678")

    [(envelope, key)] = world.publisher.published
    assert key == answer.dossier_id
    assert envelope.type == DossierSubmitted.event_type
    assert envelope.actor == PORTAL.actor()
    assert envelope.id == stored["event"]["id"]
    data = DossierSubmitted.model_validate(envelope.data)
    assert data.receipt_code == answer.receipt_code
    assert data.due_date == answer.due_date
    assert data.applicant.name == body.applicant.name


async def test_a_retry_with_the_same_key_gets_the_first_answer_and_publishes_nothing(
    world: World,
) -> None:
    first = await world.submissions.submit(waste(), PORTAL, "key-1")
    again = await world.submissions.submit(waste(), PORTAL, "key-1")

    assert again.replayed
    assert again.body == first.body
    assert len(world.store.submissions) == 1
    assert len(world.publisher.published) == 1


async def test_the_same_key_for_another_body_is_refused(world: World) -> None:
    await world.submissions.submit(waste(), PORTAL, "key-1")
    problem = await refused(world.submissions.submit(waste(attachments=[]), PORTAL, "key-1"), 409)
    assert problem.title == "Idempotency-Key reused"
    assert len(world.publisher.published) == 1


async def test_keys_are_each_clients_own(world: World) -> None:
    other_portal = Principal("portal-b", frozenset({"portal"}))
    first = await world.submissions.submit(waste(), PORTAL, "1")
    second = await world.submissions.submit(waste(), other_portal, "1")
    assert not second.replayed
    assert second.body.dossier_id != first.body.dossier_id


async def test_a_malformed_key_is_refused_before_anything_is_written(world: World) -> None:
    await refused(world.submissions.submit(waste(), PORTAL, "with space"), 422)
    await refused(world.submissions.submit(waste(), PORTAL, "x" * 256), 422)
    assert not world.store.submissions
    assert not world.publisher.published


async def test_without_a_key_every_request_is_a_new_dossier(world: World) -> None:
    first = await world.submissions.submit(waste(), PORTAL, None)
    second = await world.submissions.submit(waste(), PORTAL, None)
    assert first.body.dossier_id != second.body.dossier_id
    assert len(world.publisher.published) == 2


async def test_an_unacknowledged_submission_is_answered_503_and_stays_pending(
    world: World,
) -> None:
    world.publisher.down = True
    problem = await refused(world.submissions.submit(waste(), PORTAL, "key-1"), 503)

    assert problem.headers["Retry-After"] == "7"
    [stored] = world.store.submissions.values()
    assert stored["state"] == PENDING
    # The lease is given back at once, so a retry need not wait for it to run out.
    assert stored["lease_until"] == world.clock.now


async def test_the_retry_of_a_pending_submission_publishes_the_very_same_event(
    world: World,
) -> None:
    world.publisher.down = True
    await refused(world.submissions.submit(waste(), PORTAL, "key-1"), 503)
    [pending] = world.store.submissions.values()

    world.publisher.down = False
    world.clock.advance(3)
    receipt = await world.submissions.submit(waste(), PORTAL, "key-1")

    assert receipt.replayed
    assert receipt.body.dossier_id == pending["_id"]
    assert receipt.body.receipt_code == pending["receipt_code"]
    [(envelope, key)] = world.publisher.published
    # Same event id: consumers that saw an earlier attempt get through drop this one.
    assert envelope.id == pending["event"]["id"]
    assert key == pending["_id"]
    assert world.store.submissions[pending["_id"]]["state"] == ACCEPTED


async def test_a_retry_while_the_first_request_still_publishes_waits(world: World) -> None:
    # The first request inserted its submission and holds the lease (it is publishing).
    world.store.failing.add("mark_accepted")
    world.publisher.down = True
    await refused(world.submissions.submit(waste(), PORTAL, "key-1"), 503)
    [pending] = world.store.submissions.values()
    pending["lease_until"] = world.clock.now + timedelta(seconds=10)
    pending["lease_owner"] = "first-request"
    world.publisher.down = False

    problem = await refused(world.submissions.submit(waste(), PORTAL, "key-1"), 409)
    assert problem.title == "Submission in progress"
    assert problem.headers["Retry-After"] == "1"
    assert not world.publisher.published

    # Once the lease runs out (the first request died), a retry takes over.
    world.clock.advance(11)
    receipt = await world.submissions.submit(waste(), PORTAL, "key-1")
    assert receipt.replayed
    assert [e.id for e, _ in world.publisher.published] == [pending["event"]["id"]]


async def test_a_retry_finding_the_first_request_done_meanwhile_gets_its_answer(
    world: World,
) -> None:
    world.publisher.down = True
    await refused(world.submissions.submit(waste(), PORTAL, "key-1"), 503)
    [pending] = world.store.submissions.values()
    stale = dict(pending)
    # Accepted between the retry's read and its claim: the claim finds nothing to take.
    await world.store.mark_accepted(pending["_id"], world.clock.now)

    receipt = await world.submissions.replay(stale, stale["request_hash"])
    assert receipt.replayed
    assert receipt.body.dossier_id == pending["_id"]
    assert not world.publisher.published


async def test_no_broker_connection_refuses_before_writing(world: World) -> None:
    world.publisher.started = False
    await refused(world.submissions.submit(waste(), PORTAL, "key-1"), 503)
    assert not world.store.submissions


async def test_a_store_failure_is_503_and_publishes_nothing(world: World) -> None:
    world.store.failing.add("insert_submission")
    problem = await refused(world.submissions.submit(waste(), PORTAL, "key-1"), 503)
    assert problem.headers["Retry-After"] == "7"
    assert not world.publisher.published


async def test_a_lost_acceptance_write_still_answers_with_the_receipt(world: World) -> None:
    world.store.failing.add("mark_accepted")
    receipt = await world.submissions.submit(waste(), PORTAL, "key-1")
    assert world.store.submissions[receipt.body.dossier_id]["state"] == PENDING
    assert len(world.publisher.published) == 1


async def test_a_taken_receipt_code_is_drawn_again(world: World) -> None:
    world.store.receipt_clashes = 3
    receipt = await accepted_dossier(world)
    assert world.store.submissions[receipt.body.dossier_id]["receipt_code"] == (
        receipt.body.receipt_code
    )
    [(envelope, _)] = world.publisher.published
    assert envelope.data["receipt_code"] == receipt.body.receipt_code


async def test_no_free_receipt_code_is_503(world: World) -> None:
    world.store.receipt_clashes = 100
    problem = await refused(accepted_dossier(world), 503)
    assert "receipt code" in (problem.detail or "")
    assert not world.publisher.published


async def test_an_unknown_procedure_is_refused(world: World) -> None:
    problem = await refused(
        world.submissions.submit(waste(procedure_code="XX-999"), PORTAL, None), 422
    )
    assert problem.type == "https://hoso.example/problems/unknown-procedure"


async def test_an_invalid_form_is_refused_with_pointers(world: World) -> None:
    problem = await refused(world.submissions.submit(waste(form={}), PORTAL, None), 422)
    assert problem.errors
    assert all(e["pointer"].startswith("/form") for e in problem.errors)
    assert not world.store.submissions


async def test_channels_belong_to_portals_and_to_officers_of_the_agency(world: World) -> None:
    counter = SubmissionIn.model_validate(complaint_at_counter())
    await refused(world.submissions.submit(counter, PORTAL, None), 403)
    await refused(world.submissions.submit(counter, WRONG_AGENCY, None), 403)
    await refused(world.submissions.submit(waste(), INSPECTOR, None), 403)

    receipt = await world.submissions.submit(counter, INSPECTOR, None)
    assert receipt.body.receipt_code.startswith("TT-")
    assert world.publisher.published[0][0].actor == INSPECTOR.actor()


async def test_without_a_follow_up_key_nothing_is_accepted() -> None:
    world = make_world(keys=False)
    await refused(accepted_dossier(world), 503)
    assert not world.store.submissions


# --------------------------------------------------------------------------- denunciation


def denunciation_body(channel: str = "counter", **applicant: Any) -> SubmissionIn:
    body = denunciation("Nguyễn Văn An", "001085012345", "0912 000 111", channel)
    body["applicant"].update(applicant)
    return SubmissionIn.model_validate(body)


async def test_a_denouncer_travels_as_a_pseudonym_and_is_kept_sealed(world: World) -> None:
    receipt = await world.submissions.submit(denunciation_body(), INSPECTOR, None)

    [(envelope, _)] = world.publisher.published
    applicant = envelope.data["applicant"]
    pseudonym = applicant["pseudonym"]
    assert pseudonym.startswith("den-")
    assert "Nguyễn Văn An" not in str(envelope.model_dump())
    assert "001085012345" not in str(envelope.model_dump())
    stored = world.store.submissions[receipt.body.dossier_id]
    assert stored["pseudonym"] == pseudonym
    assert "Nguyễn Văn An" not in str({k: v for k, v in stored.items() if k != "event"})
    assert world.seal.open(stored["identity"]).name == "Nguyễn Văn An"


async def test_a_denunciation_needs_an_address(world: World) -> None:
    problem = await refused(
        world.submissions.submit(denunciation_body(address=None), INSPECTOR, None), 422
    )
    assert problem.errors == [
        {"pointer": "/applicant/address", "detail": "a denunciation needs an address"}
    ]


async def test_without_an_identity_key_denunciations_are_refused() -> None:
    world = make_world(seal=False)
    await refused(world.submissions.submit(denunciation_body(), INSPECTOR, None), 503)
    assert not world.store.submissions
    # Other dossiers are still accepted.
    await accepted_dossier(world)


# --------------------------------------------------------------------------- follow-up


async def test_the_status_before_processing_answered_is_submitted(world: World) -> None:
    receipt = (await accepted_dossier(world)).body
    status = await world.follow_up.status(
        receipt.receipt_code, SecondFactor(secret=receipt.follow_up_secret)
    )
    assert status.status == "submitted"
    assert status.procedure_code == "MT-004"
    assert status.due_date == receipt.due_date
    assert status.updated_at == receipt.received_at
    assert status.missing_documents == []


async def test_the_status_follows_the_projection(world: World) -> None:
    receipt = (await accepted_dossier(world)).body
    await project_status_change(world.store, status_changed(receipt.dossier_id, 2, "in_review"))
    status = await world.follow_up.status(
        receipt.receipt_code.lower(), SecondFactor(secret=receipt.follow_up_secret)
    )
    assert status.status == "in_review"


async def test_the_status_names_the_signed_result_only_once_the_dossier_is_decided(
    world: World,
) -> None:
    receipt = (await accepted_dossier(world)).body
    factor = SecondFactor(secret=receipt.follow_up_secret)
    world.files.issued[receipt.dossier_id] = {
        "_id": receipt.dossier_id,
        "document_id": "result-1",
        "sha256": "ab" * 32,
        "size": 2048,
        "decision_number": "12/GP-SNNMT",
        "issued_at": FakeClock().now,
    }
    await project_status_change(world.store, status_changed(receipt.dossier_id, 2, "in_review"))
    assert (await world.follow_up.status(receipt.receipt_code, factor)).result_document is None
    await project_status_change(world.store, status_changed(receipt.dossier_id, 3, "approved"))
    result = (await world.follow_up.status(receipt.receipt_code, factor)).result_document
    assert result is not None
    assert (result.document_id, result.sha256, result.decision_number) == (
        "result-1",
        "ab" * 32,
        "12/GP-SNNMT",
    )


async def test_the_status_carries_the_officers_missing_items(world: World) -> None:
    receipt = (await accepted_dossier(world)).body
    asked = status_changed(receipt.dossier_id, 2, "supplement_requested").model_copy(
        update={"missing_items": ["Bản vẽ mặt bằng có chữ ký"]}
    )
    await project_status_change(world.store, asked)
    status = await world.follow_up.status(
        receipt.receipt_code, SecondFactor(secret=receipt.follow_up_secret)
    )
    assert status.missing_items == ["Bản vẽ mặt bằng có chữ ký"]


async def test_every_wrong_answer_is_the_same_404(world: World) -> None:
    receipt = (await accepted_dossier(world)).body
    other = (await accepted_dossier(world)).body
    attempts = [
        (receipt.receipt_code, SecondFactor(secret=other.follow_up_secret)),
        (receipt.receipt_code, SecondFactor(phone="0912 999 999")),
        ("MT-261126-ZZZZZZ", SecondFactor(secret=receipt.follow_up_secret)),
        ("not a code", SecondFactor(secret=receipt.follow_up_secret)),
    ]
    for code, factor in attempts:
        with pytest.raises(ConcealedNotFound):
            await world.follow_up.status(code, factor)


async def test_a_second_factor_is_required(world: World) -> None:
    receipt = (await accepted_dossier(world)).body
    problem = await refused(world.follow_up.status(receipt.receipt_code, SecondFactor()), 401)
    assert problem.title == "Second factor required"


async def test_the_phone_opens_the_dossier_until_too_many_wrong_guesses(world: World) -> None:
    receipt = (await accepted_dossier(world)).body
    right = SecondFactor(phone="+84 912 345 678")
    assert (await world.follow_up.status(receipt.receipt_code, right)).status == "submitted"
    assert world.phone_failures.counted[receipt.receipt_code] == 0

    for _ in range(PHONE_FAILURES):
        with pytest.raises(ConcealedNotFound):
            await world.follow_up.status(receipt.receipt_code, SecondFactor(phone="0912000000"))
    problem = await refused(world.follow_up.status(receipt.receipt_code, right), 429)
    assert problem.headers["Retry-After"] == "60"
    # The secret is not a guessable second factor: it is never throttled this way.
    status = await world.follow_up.status(
        receipt.receipt_code, SecondFactor(secret=receipt.follow_up_secret)
    )
    assert status.receipt_code == receipt.receipt_code


async def test_an_unknown_code_counts_phone_guesses_like_a_known_one(world: World) -> None:
    unknown = "MT-261126-ZZZZZZ"
    for _ in range(PHONE_FAILURES):
        with pytest.raises(ConcealedNotFound):
            await world.follow_up.status(unknown, SecondFactor(phone="0912000000"))
    await refused(world.follow_up.status(unknown, SecondFactor(phone="0912000000")), 429)


async def test_a_submission_never_acknowledged_is_not_found(world: World) -> None:
    world.publisher.down = True
    await refused(accepted_dossier(world), 503)
    [pending] = world.store.submissions.values()
    secret = world.keys.secret_for(pending["_id"])
    with pytest.raises(ConcealedNotFound):
        await world.follow_up.status(pending["receipt_code"], SecondFactor(secret=secret))


async def test_a_procedure_gone_from_the_catalogue_is_410(world: World) -> None:
    receipt = (await accepted_dossier(world)).body
    world.store.submissions[receipt.dossier_id]["procedure_code"] = "XX-999"
    await refused(
        world.follow_up.status(receipt.receipt_code, SecondFactor(secret=receipt.follow_up_secret)),
        410,
    )


async def test_follow_up_answers_503_when_the_store_is_away(world: World) -> None:
    receipt = (await accepted_dossier(world)).body
    world.store.failing.add("for_follow_up")
    problem = await refused(
        world.follow_up.status(receipt.receipt_code, SecondFactor(secret=receipt.follow_up_secret)),
        503,
    )
    assert problem.headers["Retry-After"] == "7"


async def test_follow_up_without_a_key_is_503() -> None:
    world = make_world(keys=False)
    await refused(world.follow_up.status("MT-261126-ZZZZZZ", SecondFactor(secret="x")), 503)


# --------------------------------------------------------------------------- supplement


def status_changed(
    dossier_id: str, version: int, status: str, *, due: date | None = None, minutes: int = 0
) -> DossierStatusChanged:
    return DossierStatusChanged(
        **REF,
        dossier_id=dossier_id,
        version=version,
        old_status="received",
        new_status=status,
        action="test",
        recipient=Recipient(),
        occurred_at=FakeClock().now + timedelta(minutes=version + minutes),
        due_date=due,
        missing_documents=["eia_approval_decision"] if status == "supplement_requested" else [],
    )


def supplement_body(note: str = "bản sao có chứng thực") -> SupplementIn:
    return SupplementIn.model_validate(
        {"attachments": [attachment("eia_approval_decision")], "note": note}
    )


async def test_a_supplement_is_refused_unless_one_was_requested(world: World) -> None:
    receipt = (await accepted_dossier(world)).body
    factor = SecondFactor(secret=receipt.follow_up_secret)
    problem = await refused(
        world.follow_up.supplement(receipt.receipt_code, factor, supplement_body()), 409
    )
    assert problem.title == "No supplement requested"
    assert len(world.publisher.published) == 1


async def test_a_requested_supplement_is_published_once_per_request(world: World) -> None:
    receipt = (await accepted_dossier(world)).body
    factor = SecondFactor(secret=receipt.follow_up_secret)
    await project_status_change(
        world.store, status_changed(receipt.dossier_id, 3, "supplement_requested")
    )
    body = supplement_body()

    answer = await world.follow_up.supplement(receipt.receipt_code, factor, body)
    await world.follow_up.supplement(receipt.receipt_code, factor, body)
    await world.follow_up.supplement(receipt.receipt_code, factor, supplement_body("x"))

    assert answer.request == "supplement"
    assert answer.accepted_at == world.clock.now
    envelopes = [e for e, _ in world.publisher.published[1:]]
    assert [e.type for e in envelopes] == [DossierSupplemented.event_type] * 3
    # A double click publishes an event consumers already know; another body does not.
    assert envelopes[0].id == envelopes[1].id != envelopes[2].id
    assert envelopes[0].actor == f"citizen:{receipt.dossier_id}"
    data = DossierSupplemented.model_validate(envelopes[0].data)
    assert data.receipt_code == receipt.receipt_code
    assert [a.document_code for a in data.attachments] == ["eia_approval_decision"]


async def test_a_supplement_with_bad_attachments_is_refused(world: World) -> None:
    receipt = (await accepted_dossier(world)).body
    factor = SecondFactor(secret=receipt.follow_up_secret)
    await project_status_change(
        world.store, status_changed(receipt.dossier_id, 3, "supplement_requested")
    )
    exe = attachment("eia_approval_decision") | {"media_type": "application/x-msdownload"}
    body = SupplementIn.model_validate({"attachments": [exe]})
    await refused(world.follow_up.supplement(receipt.receipt_code, factor, body), 422)
    assert len(world.publisher.published) == 1


async def test_an_unacknowledged_supplement_is_503(world: World) -> None:
    receipt = (await accepted_dossier(world)).body
    factor = SecondFactor(secret=receipt.follow_up_secret)
    await project_status_change(
        world.store, status_changed(receipt.dossier_id, 3, "supplement_requested")
    )
    world.publisher.down = True
    problem = await refused(
        world.follow_up.supplement(receipt.receipt_code, factor, supplement_body()), 503
    )
    assert problem.headers["Retry-After"] == "7"


# --------------------------------------------------------------------------- withdrawal


async def test_a_withdrawal_request_is_published(world: World) -> None:
    receipt = (await accepted_dossier(world)).body
    factor = SecondFactor(phone="0912345678")
    body = WithdrawalIn(reason="nộp nhầm thủ tục")

    answer = await world.follow_up.withdraw(receipt.receipt_code, factor, body)
    again = await world.follow_up.withdraw(receipt.receipt_code, factor, body)

    assert answer.request == "withdrawal"
    assert again.receipt_code == receipt.receipt_code
    [(first, key), (second, _)] = world.publisher.published[1:]
    assert first.type == DossierWithdrawalRequested.event_type
    assert key == receipt.dossier_id
    assert first.id == second.id
    assert DossierWithdrawalRequested.model_validate(first.data).reason == "nộp nhầm thủ tục"


async def test_a_withdrawal_without_a_reason_is_accepted(world: World) -> None:
    receipt = (await accepted_dossier(world)).body
    factor = SecondFactor(secret=receipt.follow_up_secret)
    await world.follow_up.withdraw(receipt.receipt_code, factor, None)
    [(envelope, _)] = world.publisher.published[1:]
    assert envelope.data["reason"] is None


@pytest.mark.parametrize("settled", ["result_returned", "withdrawn"])
async def test_a_settled_dossier_cannot_be_withdrawn(world: World, settled: str) -> None:
    receipt = (await accepted_dossier(world)).body
    await project_status_change(world.store, status_changed(receipt.dossier_id, 9, settled))
    factor = SecondFactor(secret=receipt.follow_up_secret)
    problem = await refused(world.follow_up.withdraw(receipt.receipt_code, factor, None), 409)
    assert settled in (problem.detail or "")
    assert len(world.publisher.published) == 1


async def test_a_denouncer_withdraws_under_the_pseudonym(world: World) -> None:
    receipt = (await world.submissions.submit(denunciation_body(), INSPECTOR, None)).body
    pseudonym = world.store.submissions[receipt.dossier_id]["pseudonym"]
    factor = SecondFactor(secret=receipt.follow_up_secret)
    await world.follow_up.withdraw(receipt.receipt_code, factor, None)
    assert world.publisher.published[-1][0].actor == f"citizen:{pseudonym}"


# --------------------------------------------------------------------------- identities


async def denounced(world: World) -> tuple[str, str]:
    receipt = (await world.submissions.submit(denunciation_body(), INSPECTOR, None)).body
    return receipt.dossier_id, world.store.submissions[receipt.dossier_id]["pseudonym"]


async def test_a_cleared_officer_of_the_agency_sees_the_denouncer_and_is_recorded(
    world: World,
) -> None:
    dossier_id, pseudonym = await denounced(world)
    identity = await world.identities.resolve(pseudonym, INSPECTOR)

    assert identity.name == "Nguyễn Văn An"
    assert identity.id_number == "001085012345"
    assert identity.dossier_id == dossier_id
    envelope, key = world.publisher.published[-1]
    assert envelope.type == DossierIdentityResolved.event_type
    assert key == dossier_id
    assert envelope.actor == INSPECTOR.actor()
    # The record says who looked, never what they saw.
    assert "Nguyễn Văn An" not in str(envelope.model_dump())


async def test_nobody_learns_whether_a_pseudonym_exists_elsewhere(world: World) -> None:
    _, pseudonym = await denounced(world)
    for name, principal in [
        (pseudonym, WRONG_AGENCY),
        ("den-unknown", INSPECTOR),
        (pseudonym.removeprefix("den-"), INSPECTOR),
        ("den-" + "x" * 61, INSPECTOR),
    ]:
        problem = await refused(world.identities.resolve(name, principal), 404)
        assert problem.title == "Pseudonym not found"
    assert world.publisher.types() == [DossierSubmitted.event_type]


async def test_nothing_is_shown_unless_the_look_was_recorded(world: World) -> None:
    _, pseudonym = await denounced(world)
    world.publisher.down = True
    await refused(world.identities.resolve(pseudonym, INSPECTOR), 503)


async def test_an_identity_sealed_under_another_key_is_a_logged_500(world: World) -> None:
    dossier_id, pseudonym = await denounced(world)
    other = IdentitySeal(Fernet.generate_key().decode())
    world.store.submissions[dossier_id]["identity"] = other.seal(
        world.seal.open(world.store.submissions[dossier_id]["identity"])
    )
    await refused(world.identities.resolve(pseudonym, INSPECTOR), 500)
    assert world.publisher.types() == [DossierSubmitted.event_type]


async def test_resolution_answers_503_when_the_store_is_away(world: World) -> None:
    _, pseudonym = await denounced(world)
    world.store.failing.add("by_pseudonym")
    await refused(world.identities.resolve(pseudonym, INSPECTOR), 503)


# --------------------------------------------------------------------------- projection


async def test_the_projection_keeps_the_latest_version_whatever_the_order() -> None:
    store = FakeStore()
    due = date(2026, 12, 24)
    assert await project_status_change(store, status_changed("d-1", 2, "in_review", due=due))
    # Redelivered, then an older one arriving late: neither changes anything.
    assert not await project_status_change(store, status_changed("d-1", 2, "in_review"))
    assert not await project_status_change(store, status_changed("d-1", 1, "received"))
    projected = await store.status("d-1")
    assert projected is not None
    assert projected["status"] == "in_review"
    assert projected["version"] == 2
    assert projected["due_date"] == "2026-12-24"

    # A later change that does not restate the date keeps it.
    assert await project_status_change(store, status_changed("d-1", 3, "supplement_requested"))
    projected = await store.status("d-1")
    assert projected is not None
    assert projected["due_date"] == "2026-12-24"
    assert projected["missing_documents"] == ["eia_approval_decision"]


async def test_a_new_appointment_applies_only_over_older_news() -> None:
    store = FakeStore()
    await project_status_change(store, status_changed("d-1", 2, "in_review"))
    projected = await store.status("d-1")
    assert projected is not None
    changed_at = projected["updated_at"]

    extended = DossierDeadlineExtended(
        **REF,
        dossier_id="d-1",
        old_due_date=date(2026, 12, 24),
        new_due_date=date(2027, 1, 15),
        reason="cần xác minh thực địa",
        occurred_at=changed_at + timedelta(hours=1),
    )
    assert await project_new_appointment(store, extended)
    stale = DossierApologyIssued(
        **REF,
        dossier_id="d-1",
        old_due_date=date(2026, 12, 24),
        new_due_date=date(2027, 1, 2),
        reason="quá hạn",
        issued_at=changed_at,
        recipient=Recipient(),
    )
    assert not await project_new_appointment(store, stale)
    projected = await store.status("d-1")
    assert projected is not None
    assert projected["due_date"] == "2027-01-15"

    # Nothing to move before the dossier's first status arrived.
    assert not await project_new_appointment(
        store, extended.model_copy(update={"dossier_id": "d-2"})
    )
