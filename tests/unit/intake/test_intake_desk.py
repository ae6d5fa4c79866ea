"""The one-stop desk, the post and the hotline: who may lodge what on which channel and
where it goes (desk routing), the date a letter counts from, the phone channel's
petitions, and the content of the receipt-and-appointment slip."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from chassis.auth import Principal
from chassis.calendar import VN_TZ
from chassis.catalogue import load_default_catalogue
from chassis.events import Channel, DossierKind
from chassis.problems import Problem
from intake.api.models import SubmissionIn
from intake.domain.lodging import (
    Lodger,
    kind_refusal,
    lodging_refusal,
    postal_receipt_errors,
    receipt_moment,
)
from intake.domain.slip import follow_up_target, slip_of
from intake.domain.submission import appointment_date, channel_refusal
from intake.service import Slips
from intake.settings import IntakeSettings
from tests.integration.intake.intake_bodies import (
    complaint_at_counter,
    denunciation,
    petition,
    waste_registration,
)
from tests.unit.intake.test_intake_service import World, make_world

CATALOGUE = load_default_catalogue()
DESK = Principal("desk-7", frozenset({"desk"}), agency="STNMT-VP")
HOTLINE = Principal("hotline-2", frozenset({"hotline"}), agency="STNMT-VP")
PORTAL = Principal("portal-a", frozenset({"portal"}))
OFFICER_MT = Principal("officer-mt", frozenset({"officer"}), agency="STNMT-MT")
OFFICER_TTR = Principal("officer-ttr", frozenset({"officer"}), agency="STNMT-TTR")
LEADER_MT = Principal("leader-mt", frozenset({"leader"}), agency="STNMT-MT")
AUDITOR = Principal("auditor-1", frozenset({"auditor"}))
CALLER_PHONE = "0987 654 321"


@pytest.fixture
def world() -> World:
    return make_world()


def body(document: dict[str, Any], **changes: Any) -> SubmissionIn:
    return SubmissionIn.model_validate({**copy.deepcopy(document), **changes})


async def refused(call: Any, status: int) -> Problem:
    with pytest.raises(Problem) as caught:
        await call
    assert caught.value.status == status, caught.value.detail
    return caught.value


def lodger(principal: Principal) -> Lodger:
    return Lodger(roles=principal.roles, agency=principal.agency)


def phone_petition(**applicant: Any) -> SubmissionIn:
    document = petition()
    document["channel"] = "phone"
    document["applicant"] = {k: v for k, v in document["applicant"].items() if k != "email"} | {
        "phone": CALLER_PHONE,
        **applicant,
    }
    return body(document)


# --------------------------------------------------------------------------- desk routing


@pytest.mark.parametrize("channel", [Channel.COUNTER, Channel.POST])
def test_desk_routing_the_desk_receives_every_units_procedure(channel: Channel) -> None:
    """Decree 61/2018/NĐ-CP, Article 15 (the one-stop desk receives the dossiers) and
    Article 16 (it hands them to the competent unit), carried over by Decree
    118/2025/NĐ-CP from 1 July 2025: the desk of STNMT-VP keys every unit's procedure,
    whatever its online level and kind."""
    agencies = {procedure.agency for procedure in CATALOGUE.procedures.values()}
    assert len(agencies) > 3  # the rule is exercised across units, not just the desk's own
    for procedure in CATALOGUE.procedures.values():
        assert lodging_refusal(procedure, channel, lodger(DESK)) is None, procedure.code


@pytest.mark.parametrize("channel", [Channel.COUNTER, Channel.POST])
def test_desk_routing_an_officer_keys_only_his_own_units_paper_dossiers(
    channel: Channel,
) -> None:
    """Decree 61/2018/NĐ-CP, Article 15: outside the desk, a unit still receives its own
    dossiers; never another unit's."""
    own = CATALOGUE.procedures["MT-004"]
    other = CATALOGUE.procedures["DD-002"]
    for principal in (OFFICER_MT, LEADER_MT):
        assert lodging_refusal(own, channel, lodger(principal)) is None
        refusal = lodging_refusal(other, channel, lodger(principal))
        assert refusal is not None
        assert "STNMT-VPDK" in refusal
    for principal in (PORTAL, HOTLINE, AUDITOR):
        assert lodging_refusal(own, channel, lodger(principal)) is not None


def test_online_is_for_portals_and_the_phone_for_the_hotline() -> None:
    waste, call = CATALOGUE.procedures["MT-004"], CATALOGUE.procedures["PAKN-001"]
    assert lodging_refusal(waste, Channel.ONLINE, lodger(PORTAL)) is None
    assert lodging_refusal(call, Channel.PHONE, lodger(HOTLINE)) is None
    for principal in (DESK, OFFICER_MT, HOTLINE):
        assert lodging_refusal(waste, Channel.ONLINE, lodger(principal)) is not None
    for principal in (DESK, OFFICER_MT, PORTAL):
        assert lodging_refusal(call, Channel.PHONE, lodger(principal)) is not None


def test_the_phone_takes_petitions_only() -> None:
    """A complaint or denunciation needs the applicant's signed letter or a record signed
    at the desk (Law on Complaints 2011, Art. 8; Law on Denunciation 2018, Art. 22); a
    petition (phản ánh, kiến nghị) may be taken by phone."""
    for procedure in CATALOGUE.procedures.values():
        refused = kind_refusal(procedure, Channel.PHONE)
        assert (refused is None) is (procedure.kind is DossierKind.PETITION), procedure.code
        refusal = channel_refusal(procedure, "phone")
        if procedure.kind is not DossierKind.PETITION:
            assert refusal is not None
            assert refusal.reason == "channel-not-accepted"
            assert [e.pointer for e in refusal.errors] == ["/channel"]


# --------------------------------------------------------------------------- the post


TODAY = date(2026, 11, 26)


def test_a_letter_counts_from_its_day_of_receipt_at_the_department() -> None:
    now = datetime(2026, 11, 26, 2, 30, tzinfo=UTC)  # 09:30 in Hà Nội
    earlier = receipt_moment(Channel.POST, date(2026, 11, 23), now)
    assert earlier == datetime(2026, 11, 23, 17, 0, tzinfo=VN_TZ)
    # Counted as received that day, within office hours: the appointment runs from it.
    procedure = CATALOGUE.procedures["MT-004"]
    assert appointment_date(procedure, earlier) < appointment_date(procedure, now)
    assert receipt_moment(Channel.POST, TODAY, now) == now
    assert receipt_moment(Channel.POST, None, now) == now
    assert receipt_moment(Channel.COUNTER, date(2026, 11, 23), now) == now


@pytest.mark.parametrize(
    ("channel", "received_on", "wrong"),
    [
        (Channel.POST, None, False),
        (Channel.POST, TODAY, False),
        (Channel.POST, TODAY - timedelta(days=30), False),
        (Channel.POST, TODAY - timedelta(days=31), True),
        (Channel.POST, TODAY + timedelta(days=1), True),
        (Channel.COUNTER, TODAY, True),
        (Channel.ONLINE, TODAY, True),
        (Channel.PHONE, TODAY, True),
    ],
)
def test_only_a_recent_letter_has_a_date_of_receipt(
    channel: Channel, received_on: date | None, wrong: bool
) -> None:
    errors = postal_receipt_errors(channel, received_on, TODAY, 30)
    assert [pointer for pointer, _ in errors] == (["/received_on"] if wrong else [])


# --------------------------------------------------------------------------- the use case


async def test_the_desk_keys_another_units_dossier_and_it_goes_to_that_unit(
    world: World,
) -> None:
    """Desk routing, Decree 61/2018/NĐ-CP Art. 15-16 / Decree 118/2025/NĐ-CP: the desk
    receives, the procedure's unit settles: the event names that unit and the receipt
    code carries its prefix."""
    document = waste_registration()
    document["channel"] = "counter"
    receipt = await world.submissions.submit(body(document), DESK, None)

    assert receipt.body.receipt_code.startswith("MT-")
    [(envelope, _)] = world.publisher.published
    assert envelope.data["agency"] == "STNMT-MT"
    assert envelope.data["channel"] == "counter"
    assert envelope.actor == "desk:desk-7"
    stored = world.store.submissions[receipt.body.dossier_id]
    assert stored["agency"] == "STNMT-MT"
    assert stored["received_by"] == "STNMT-VP"


async def test_an_officer_may_not_key_another_units_dossier(world: World) -> None:
    document = waste_registration()
    document["channel"] = "counter"
    await refused(world.submissions.submit(body(document), OFFICER_TTR, None), 403)
    await refused(world.submissions.submit(body(document), HOTLINE, None), 403)
    assert not world.store.submissions


async def test_a_letter_keyed_by_the_desk_counts_from_its_day_of_receipt(world: World) -> None:
    world.clock.now = datetime(2026, 11, 26, 2, 30, tzinfo=UTC)
    document = complaint_at_counter()
    letter = body(document, channel="post", received_on="2026-11-23")
    receipt = await world.submissions.submit(letter, DESK, None)

    [(envelope, _)] = world.publisher.published
    received = datetime(2026, 11, 23, 17, 0, tzinfo=VN_TZ)
    assert datetime.fromisoformat(envelope.data["submitted_at"]) == received
    assert envelope.data["channel"] == "post"
    assert receipt.body.received_at == received
    assert receipt.body.receipt_code.startswith("TT-261123-")
    procedure = CATALOGUE.procedures["KN-001"]
    assert receipt.body.due_date == appointment_date(procedure, received)


async def test_a_date_of_receipt_off_the_post_is_refused(world: World) -> None:
    document = complaint_at_counter()
    problem = await refused(
        world.submissions.submit(body(document, received_on="2026-11-23"), DESK, None), 422
    )
    assert [e["pointer"] for e in problem.errors] == ["/received_on"]
    future = body(document, channel="post", received_on="2026-12-25")
    problem = await refused(world.submissions.submit(future, DESK, None), 422)
    assert [e["pointer"] for e in problem.errors] == ["/received_on"]
    assert not world.store.submissions


async def test_the_hotline_keys_a_petition_taken_by_phone(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receipt = await world.submissions.submit(phone_petition(), HOTLINE, None)

    [(envelope, _)] = world.publisher.published
    assert envelope.actor == "hotline:hotline-2"
    assert envelope.data["channel"] == "phone"
    assert envelope.data["applicant"]["phone"] == "+84987654321"
    assert receipt.body.receipt_code.startswith("VP-")
    # The caller's number is the contact, so the receipt code and the phone open the
    # dossier; it is never written to a log.
    stored = world.store.submissions[receipt.body.dossier_id]
    assert "phone_hash" in stored
    assert "987654321" not in caplog.text
    assert "987 654 321" not in caplog.text


async def test_a_phone_petition_needs_the_callers_number(world: World) -> None:
    without = petition()
    without["channel"] = "phone"
    problem = await refused(world.submissions.submit(body(without), HOTLINE, None), 422)
    assert [e["pointer"] for e in problem.errors] == ["/applicant/phone"]


async def test_the_hotline_cannot_take_a_complaint_by_phone(world: World) -> None:
    problem = await refused(
        world.submissions.submit(body(complaint_at_counter(), channel="phone"), HOTLINE, None),
        422,
    )
    assert problem.type == "https://hoso.example/problems/channel-not-accepted"
    assert not world.store.submissions


async def test_a_complaint_is_lodged_online_now(world: World) -> None:
    """Complaints and denunciations are partly online: lodged online, settled in person."""
    receipt = await world.submissions.submit(
        body(complaint_at_counter(), channel="online"), PORTAL, None
    )
    assert receipt.body.receipt_code.startswith("TT-")


# --------------------------------------------------------------------------- the slip


async def test_the_slip_says_who_received_what_for_whom_and_when_it_is_due(
    world: World,
) -> None:
    document = waste_registration()
    document["channel"] = "counter"
    receipt = await world.submissions.submit(body(document), DESK, None)
    await world.store.mark_accepted(receipt.body.dossier_id, world.clock.now)
    stored = await world.store.for_slip(receipt.body.receipt_code)
    assert stored is not None
    procedure = CATALOGUE.procedures["MT-004"]

    slip = slip_of(
        stored,
        procedure,
        CATALOGUE.agency("STNMT-MT"),
        CATALOGUE.agency("STNMT-VP"),
        department=CATALOGUE.department.name_vi,
        follow_up_url=None,
    )
    assert slip.department == "SỞ NÔNG NGHIỆP VÀ MÔI TRƯỜNG"
    assert slip.receiving_unit == CATALOGUE.agency("STNMT-VP").name_vi
    assert slip.handling_unit == "Chi cục Bảo vệ môi trường"
    assert slip.receipt_code == receipt.body.receipt_code
    assert slip.qr_content == receipt.body.receipt_code
    assert slip.applicant == "Công ty TNHH Giấy Hòa Bình"
    assert slip.procedure == f"{procedure.name_vi} (MT-004)"
    names = {d.code: d.name_vi for d in procedure.required_documents}
    assert slip.documents == (
        f"{names['application_form']} (application_form.pdf)",
        f"{names['business_registration']} (business_registration.pdf)",
    )
    assert slip.received_at == "09 giờ 30 phút, ngày 26/11/2026"
    due = receipt.body.due_date
    assert slip.appointment == f"ngày {due.day:02d}/{due.month:02d}/{due.year}"
    assert slip.receiving_officer == "desk-7"
    # What opens the dossier never goes on the paper.
    printed = repr(slip)
    for secret in (receipt.body.follow_up_secret, "0101234567", "912345678"):
        assert secret not in printed


def test_the_qr_code_holds_the_follow_up_page_never_the_secret() -> None:
    code = "MT-261126-XVQKYC"
    assert follow_up_target(code, None) == code
    url = "https://dichvucong.example.vn/tra-cuu?ma={receipt_code}"
    assert follow_up_target(code, url) == f"https://dichvucong.example.vn/tra-cuu?ma={code}"
    with pytest.raises(ValueError, match="follow_up_url"):
        IntakeSettings(follow_up_url="https://dichvucong.example.vn/tra-cuu")


async def test_a_denouncers_slip_keeps_the_name_secret(world: World) -> None:
    name = "Nguyễn Văn An"
    document = denunciation(name, "001085012345", "0912 000 111")
    receipt = await world.submissions.submit(body(document), DESK, None)
    await world.store.mark_accepted(receipt.body.dossier_id, world.clock.now)
    slip = await slips(world).slip(receipt.body.receipt_code, DESK)
    assert slip.applicant == "Được giữ bí mật theo Luật Tố cáo"
    assert name not in repr(slip)
    assert slip.handling_unit == "Thanh tra Sở"


def slips(world: World, **settings: Any) -> Slips:
    return Slips(
        store=world.store,
        catalogue=CATALOGUE,
        render=lambda slip: slip.receipt_code.encode(),
        settings=IntakeSettings(**settings),
    )


async def test_the_desk_and_the_unit_print_the_slip_nobody_else(world: World) -> None:
    document = waste_registration()
    document["channel"] = "counter"
    receipt = await world.submissions.submit(body(document), DESK, None)
    code = receipt.body.receipt_code
    printer = slips(world, follow_up_url="https://dvc.example.vn/{receipt_code}/tra-cuu")

    # Not acknowledged by the broker yet: never answered with a receipt, so no slip.
    await world.store.release(receipt.body.dossier_id, "", world.clock.now)
    world.store.submissions[receipt.body.dossier_id]["state"] = "pending"
    await refused(printer.slip(code, DESK), 404)

    world.store.submissions[receipt.body.dossier_id]["state"] = "accepted"
    for principal in (DESK, OFFICER_MT, LEADER_MT):
        slip = await printer.slip(code.lower().replace("-", ""), principal)
        assert slip.qr_content == f"https://dvc.example.vn/{code}/tra-cuu"
    assert await printer.pdf(code, OFFICER_MT) == code.encode()
    for principal in (OFFICER_TTR, HOTLINE):
        problem = await refused(printer.slip(code, principal), 404)
        assert problem.type == "https://hoso.example/problems/receipt-not-found"
    for unknown in ("MT-261126-AAAAAA", "not a code"):
        await refused(printer.slip(unknown, DESK), 404)
    world.store.failing.add("for_slip")
    await refused(printer.slip(code, DESK), 503)
