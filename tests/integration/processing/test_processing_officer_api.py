"""The officer API against the real broker and store, through a running service."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from chassis.events import (
    Applicant,
    ApplicantType,
    DossierSupplemented,
    DossierWithdrawalRequested,
)
from processing.api.http import encode_cursor
from tests.integration.processing.processing_harness import (
    Deployed,
    Intake,
    act,
    attachment,
    kinds,
    lifecycle_topic,
    of_dossier,
    officer,
    read_topic,
    wait_for_dossier,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

MT = "STNMT-MT"


async def _events_of(processing: Deployed, run_id: str, dossier_id: str, *, until: str) -> list:
    """The dossier's lifecycle events, once the one named ``until`` is on the topic; the
    relay publishes a dossier's events in order, so everything before it is there too."""
    topic = lifecycle_topic(run_id, processing.name)

    async def probe() -> list | None:
        events = of_dossier(await read_topic(processing.bootstrap, topic), dossier_id)
        return events if kinds(events)[until] else None

    return await eventually(probe, timeout_s=30, what=f"{until} of {dossier_id}")


async def test_two_officers_race_for_one_decision(
    processing: Deployed, intake: Intake, jwt_secret: str, run_id: str
) -> None:
    first = officer(jwt_secret, "officer-a", MT)
    second = officer(jwt_secret, "officer-b", MT)
    dossier_id = await intake.submit("MT-004")
    async with httpx.AsyncClient(base_url=processing.url, timeout=15) as client:
        read = await wait_for_dossier(client, processing.url, dossier_id, first, status="received")
        assert read.headers["ETag"] == '"1"'
        started = await act(client, processing.url, dossier_id, first, 1, "start_review")
        assert started.status_code == 200, started.text
        assert started.headers["ETag"] == '"2"'

        # Both read version 2 and both decide on it.
        outcomes = await asyncio.gather(
            act(client, processing.url, dossier_id, first, 2, "approve", result_reference="GP-1"),
            act(client, processing.url, dossier_id, second, 2, "reject", reason="Thiếu"),
        )
        codes = sorted(r.status_code for r in outcomes)
        # The version both sent is in the write's filter: one write matches, and the
        # other officer's If-Match no longer names the dossier's version.
        assert codes == [200, 412], [r.text for r in outcomes]
        loser = next(r for r in outcomes if r.status_code != 200)
        assert loser.headers["content-type"].startswith("application/problem+json")
        assert loser.headers["ETag"] == '"3"'
        winner = next(r for r in outcomes if r.status_code == 200).json()
        assert winner["status"] in ("approved", "rejected")
        assert winner["version"] == 3

        final = (await client.get(f"/v1/officer/dossiers/{dossier_id}", headers=second)).json()
        assert (final["status"], final["version"]) == (winner["status"], 3)
        # The loser, having read again, is told what is left to do.
        again = await act(
            client, processing.url, dossier_id, second, 3, "approve", result_reference="GP-2"
        )
        assert again.status_code == 409
        problem = again.json()
        assert problem["allowed_actions"] == ["return_result"]
        assert problem["dossier_status"] == winner["status"]

    decided = "status:approve" if winner["status"] == "approved" else "status:reject"
    events = await _events_of(processing, run_id, dossier_id, until=decided)
    counted = kinds(events)
    assert counted["status:approve"] + counted["status:reject"] == 1
    assert counted["status:receive"] == counted["status:start_review"] == 1


async def test_an_officer_of_another_agency_cannot_tell_whether_a_dossier_exists(
    processing: Deployed, intake: Intake, jwt_secret: str
) -> None:
    owner = officer(jwt_secret, "officer-mt", MT)
    stranger = officer(jwt_secret, "officer-ks", "STNMT-KS")
    dossier_id = await intake.submit("MT-004")
    missing_id = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=processing.url, timeout=15) as client:
        await wait_for_dossier(client, processing.url, dossier_id, owner)
        answers = {}
        for name, target in (("existing", dossier_id), ("missing", missing_id)):
            read = await client.get(f"/v1/officer/dossiers/{target}", headers=stranger)
            acted = await act(client, processing.url, target, stranger, 1, "start_review")
            noted = await client.post(
                f"/v1/officer/dossiers/{target}/notes", json={"text": "x"}, headers=stranger
            )
            answers[name] = [read, acted, noted]
        for existing, missing in zip(answers["existing"], answers["missing"], strict=True):
            assert existing.status_code == missing.status_code == 403
            assert existing.headers["content-type"] == missing.headers["content-type"]
            assert existing.headers["content-type"].startswith("application/problem+json")
            assert "etag" not in existing.headers
            first, second = existing.json(), missing.json()
            # Only the echo of the caller's own path differs.
            first.pop("instance"), second.pop("instance")
            assert first == second
        # The stranger's queue does not list it either.
        queue = await client.get("/v1/officer/queue", headers=stranger)
        assert queue.status_code == 200
        assert dossier_id not in {i["dossier_id"] for i in queue.json()["items"]}
        # And the owner's action on it is untouched by the attempts.
        still = (await client.get(f"/v1/officer/dossiers/{dossier_id}", headers=owner)).json()
        assert (still["status"], still["version"], still["notes"]) == ("received", 1, [])


async def test_preconditions_and_refusals_change_nothing(
    processing: Deployed, intake: Intake, jwt_secret: str
) -> None:
    me = officer(jwt_secret, "officer-c", MT)
    dossier_id = await intake.submit("MT-004")
    async with httpx.AsyncClient(base_url=processing.url, timeout=15) as client:
        await wait_for_dossier(client, processing.url, dossier_id, me)

        missing_header = await act(client, processing.url, dossier_id, me, None, "start_review")
        assert missing_header.status_code == 428
        stale = await act(client, processing.url, dossier_id, me, 7, "start_review")
        assert stale.status_code == 412
        assert stale.headers["ETag"] == '"1"'
        weak = await client.post(
            f"/v1/officer/dossiers/{dossier_id}/actions",
            json={"action": "start_review"},
            headers=me | {"If-Match": 'W/"1"'},
        )
        assert weak.status_code == 412
        too_early = await act(
            client, processing.url, dossier_id, me, 1, "approve", result_reference="GP-3"
        )
        assert too_early.status_code == 409
        assert too_early.json()["allowed_actions"] == [
            "request_supplement",
            "start_review",
            "propose_apology",
        ]
        citizens_only = await act(client, processing.url, dossier_id, me, 1, "withdraw")
        assert citizens_only.status_code == 403
        unknown = await act(client, processing.url, dossier_id, me, 1, "teleport")
        assert unknown.status_code == 422
        no_reason = await act(client, processing.url, dossier_id, me, 1, "request_supplement")
        assert no_reason.status_code == 422
        assert no_reason.json()["errors"] == [{"pointer": "/reason", "detail": "required"}]
        bad_code = await act(
            client,
            processing.url,
            dossier_id,
            me,
            1,
            "request_supplement",
            reason="Thiếu giấy",
            missing_documents=["passport_scan"],
        )
        assert bad_code.status_code == 422
        for response in (missing_header, stale, too_early, citizens_only, no_reason, bad_code):
            assert response.headers["content-type"].startswith("application/problem+json")

        unchanged = (await client.get(f"/v1/officer/dossiers/{dossier_id}", headers=me)).json()
        assert (unchanged["status"], unchanged["version"]) == ("received", 1)
        assert [h["action"] for h in unchanged["history"]] == ["receive"]


async def test_a_leader_signs_off_where_the_catalogue_asks_for_it(
    processing: Deployed, intake: Intake, jwt_secret: str
) -> None:
    agency = "STNMT-QLDD"
    me = officer(jwt_secret, "officer-d", agency)
    boss = officer(jwt_secret, "leader-d", agency, "leader")
    dossier_id = await intake.submit("DD-005")
    url = processing.url
    async with httpx.AsyncClient(base_url=url, timeout=15) as client:
        read = await wait_for_dossier(client, url, dossier_id, me)
        assert read.json()["allowed_actions"] == [
            "request_supplement",
            "start_review",
            "propose_apology",
        ]
        assert (await act(client, url, dossier_id, me, 1, "start_review")).status_code == 200
        officer_approves = await act(
            client, url, dossier_id, me, 2, "approve", result_reference="QĐ-1"
        )
        assert officer_approves.status_code == 409
        assert officer_approves.json()["allowed_actions"] == [
            "request_supplement",
            "forward_for_approval",
            "reject",
            "propose_apology",
        ]
        forwarded = await act(client, url, dossier_id, me, 2, "forward_for_approval")
        assert forwarded.json()["status"] == "awaiting_approval"
        assert (
            await act(client, url, dossier_id, me, 3, "approve", result_reference="QĐ-1")
        ).status_code == 403
        signed = await act(client, url, dossier_id, boss, 3, "approve", result_reference="QĐ-1")
        assert signed.status_code == 200, signed.text
        body = signed.json()
        assert (body["status"], body["result_reference"]) == ("approved", "QĐ-1")
        # An approved result is handed over with its signed document, once intake
        # announced it.
        early = await act(client, url, dossier_id, me, 4, "return_result")
        assert early.status_code == 409
        assert early.json()["type"].endswith("/result-not-issued")
        issued = await intake.issue_result(dossier_id)

        async def recorded() -> bool:
            view = await client.get(f"/v1/officer/dossiers/{dossier_id}", headers=me)
            return view.json().get("result_document") is not None

        await eventually(recorded, timeout_s=30, what="the issued result recorded")
        returned = await act(client, url, dossier_id, me, 4, "return_result")
        assert returned.status_code == 200, returned.text
        assert returned.json()["result_document"]["sha256"] == issued.sha256
        assert returned.json()["status"] == "result_returned"
        assert returned.json()["allowed_actions"] == []


async def test_claim_assign_and_notes(
    processing: Deployed, intake: Intake, jwt_secret: str, run_id: str
) -> None:
    a = officer(jwt_secret, "officer-e", MT)
    b = officer(jwt_secret, "officer-f", MT)
    boss = officer(jwt_secret, "leader-e", MT, "leader")
    dossier_id = await intake.submit("MT-004")
    base = f"/v1/officer/dossiers/{dossier_id}"
    async with httpx.AsyncClient(base_url=processing.url, timeout=15) as client:
        await wait_for_dossier(client, processing.url, dossier_id, a)
        claimed = await client.post(f"{base}/claim", headers=a | {"If-Match": '"1"'})
        assert claimed.status_code == 200, claimed.text
        assert (claimed.json()["assignee"], claimed.headers["ETag"]) == ("officer-e", '"2"')
        taken = await client.post(f"{base}/claim", headers=b | {"If-Match": '"2"'})
        assert taken.status_code == 409
        assert taken.json()["assignee"] == "officer-e"
        blocked = await act(client, processing.url, dossier_id, b, 2, "start_review")
        assert blocked.status_code == 409
        by_officer = await client.put(
            f"{base}/assignee", json={"officer_id": "officer-f"}, headers=a | {"If-Match": '"2"'}
        )
        assert by_officer.status_code == 403
        moved = await client.put(
            f"{base}/assignee", json={"officer_id": "officer-f"}, headers=boss | {"If-Match": '"2"'}
        )
        assert moved.status_code == 200
        assert moved.json()["assignee"] == "officer-f"

        note = await client.post(f"{base}/notes", json={"text": "Đã gọi doanh nghiệp"}, headers=b)
        assert note.status_code == 201
        stale_note = await client.post(
            f"{base}/notes", json={"text": "x"}, headers=b | {"If-Match": '"1"'}
        )
        assert stale_note.status_code == 412
        empty = await client.post(f"{base}/notes", json={"text": ""}, headers=b)
        assert empty.status_code == 422
        view = await client.get(base, headers=b)
        # A note changes no state: the version stays where the assignment left it.
        assert view.headers["ETag"] == '"3"'
        assert [n["text"] for n in view.json()["notes"]] == ["Đã gọi doanh nghiệp"]
        mine = await client.get("/v1/officer/queue", params={"assigned_to": "me"}, headers=b)
        assert dossier_id in {i["dossier_id"] for i in mine.json()["items"]}

    events = await _events_of(processing, run_id, dossier_id, until="dossier.note-added.v1")
    counted = kinds(events)
    assert counted["dossier.assigned.v1"] == 2
    assert counted["dossier.note-added.v1"] == 1


async def test_queue_filters_and_keyset_pages(
    processing: Deployed, intake: Intake, jwt_secret: str
) -> None:
    agency = "STNMT-TNN"
    me = officer(jwt_secret, "officer-g", agency)
    now = datetime.now(UTC)
    old = await intake.submit("TNN-004", submitted_at=now.replace(year=now.year - 1))
    incomplete = await intake.submit("TNN-004", documents=())
    fresh = [await intake.submit("TNN-004") for _ in range(4)]
    async with httpx.AsyncClient(base_url=processing.url, timeout=15) as client:
        for dossier_id in [old, incomplete, *fresh]:
            await wait_for_dossier(client, processing.url, dossier_id, me)

        overdue = await client.get("/v1/officer/queue", params={"overdue": "true"}, headers=me)
        assert [i["dossier_id"] for i in overdue.json()["items"]] == [old]
        assert overdue.json()["items"][0]["overdue"] is True

        waiting = await client.get(
            "/v1/officer/queue", params={"status": "supplement_requested"}, headers=me
        )
        [item] = waiting.json()["items"]
        assert (item["dossier_id"], item["clock_paused"]) == (incomplete, True)

        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2, "procedure_code": "TNN-004"} | (
                {"cursor": cursor} if cursor else {}
            )
            answer = await client.get("/v1/officer/queue", params=params, headers=me)
            page = answer.json()
            assert len(page["items"]) <= 2
            seen.extend(i["dossier_id"] for i in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                assert "link" not in answer.headers
                break
            # The same next page, as a link that keeps the filters.
            assert answer.headers["link"] == (
                f'</v1/officer/queue?limit=2&procedure_code=TNN-004&cursor={cursor}>; rel="next"'
            )
        assert sorted(seen) == sorted([old, incomplete, *fresh])
        assert len(seen) == len(set(seen))
        # Overdue first: the year-old dossier is due earliest.
        assert seen[0] == old

        by_received, cursor = [], None
        while True:
            params = {"limit": 4, "sort": "received"} | ({"cursor": cursor} if cursor else {})
            page = (await client.get("/v1/officer/queue", params=params, headers=me)).json()
            by_received.extend(i["dossier_id"] for i in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert by_received[0] == old
        assert sorted(by_received) == sorted([old, incomplete, *fresh])

        soon = await client.get("/v1/officer/queue", params={"due_within_days": 0}, headers=me)
        assert {i["dossier_id"] for i in soon.json()["items"]} == {old}

        mixed = await client.get(
            "/v1/officer/queue",
            params={"sort": "received", "cursor": encode_cursor("due_date", "2026-01-01", "x")},
            headers=me,
        )
        assert mixed.status_code == 422
        assert mixed.json()["errors"][0]["pointer"] == "query:/cursor"
        assert (
            await client.get("/v1/officer/queue", params={"limit": 1000}, headers=me)
        ).status_code == 422
        assert (await client.get("/v1/officer/queue")).status_code == 401
        no_agency = await client.get("/v1/officer/queue", headers=officer(jwt_secret, "x", ""))
        assert no_agency.status_code == 403


async def test_citizens_supplement_and_withdrawal_apply_once(
    processing: Deployed, intake: Intake, jwt_secret: str, run_id: str
) -> None:
    me = officer(jwt_secret, "officer-h", "STNMT-TTR")
    denouncer = Applicant(type=ApplicantType.PERSON, pseudonym="den-" + uuid.uuid4().hex[:8])
    account = "Cơ sở X xả nước thải chưa xử lý ra kênh"
    dossier_id = await intake.submit("TC-001", documents=(), applicant=denouncer, content=account)
    async with httpx.AsyncClient(base_url=processing.url, timeout=15) as client:
        read = await wait_for_dossier(
            client, processing.url, dossier_id, me, status="supplement_requested"
        )
        body = read.json()
        assert body["kind"] == "denunciation"
        assert body["missing_documents"] == ["denunciation_letter"]
        assert body["applicant"] == {"display_name": None, "pseudonym": denouncer.pseudonym}
        assert body["content"] == account

        supplemented = await intake.send(
            DossierSupplemented(
                dossier_id=dossier_id,
                receipt_code=body["receipt_code"],
                supplemented_at=datetime.now(UTC),
                attachments=[attachment("denunciation_letter")],
            ),
            actor=f"citizen:{denouncer.pseudonym}",
        )
        await intake.resend(supplemented)
        after = await wait_for_dossier(
            client, processing.url, dossier_id, me, status="supplemented"
        )
        assert after.json()["version"] == 2
        assert after.json()["clock_paused"] is False

        withdrawal = await intake.send(
            DossierWithdrawalRequested(
                dossier_id=dossier_id,
                receipt_code=body["receipt_code"],
                requested_at=datetime.now(UTC),
                reason="Rút đơn",
            ),
            actor=f"citizen:{denouncer.pseudonym}",
        )
        await intake.resend(withdrawal)
        gone = await wait_for_dossier(client, processing.url, dossier_id, me, status="withdrawn")
        assert gone.json()["version"] == 3

    events = await _events_of(processing, run_id, dossier_id, until="status:withdraw")
    counted = kinds(events)
    assert (counted["status:supplement"], counted["status:withdraw"]) == (1, 1)
    for envelope, data in events:
        # The denouncer stays a pseudonym in everything processing publishes.
        assert data.recipient.display_name is None  # type: ignore[attr-defined]
        assert envelope.actor in ("system:processing", f"citizen:{denouncer.pseudonym}")
