"""Processing's use cases against the in-memory store and publisher: intake's events,
officers' commands, the work queue, the deadline scan, the public statistics and the
outbox relay's pass.

The clock starts on Monday 2 March 2026, 09:00 in Hà Nội (March 2026 has no public
holiday); an MT-004 dossier received then is due 15 working days later, on Monday
23 March.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

import pytest

from chassis.calendar import DEFAULT_CALENDAR, VN_TZ
from chassis.catalogue import load_default_catalogue
from chassis.events import (
    Applicant,
    ApplicantType,
    Attachment,
    Channel,
    DossierKind,
    DossierSubmitted,
    DossierSupplemented,
    DossierWithdrawalRequested,
    PoisonMessage,
)
from processing.domain.dossier import (
    ActionParams,
    AssignedElsewhere,
    ClosedDossier,
    Outcome,
)
from processing.domain.workflow import Action, ActorRole, DossierStatus, TransitionNotAllowed
from processing.service import (
    DossierNotVisible,
    InvalidPeriod,
    Officer,
    ProcessingService,
    QueueQuery,
    VersionMismatch,
    relay_dossiers,
    relay_pending,
)
from processing.service.dossiers import INBOUND_ATTEMPTS
from processing.settings import ProcessingSettings
from tests.unit.processing.fakes import FakeClock, FakeDossierStore, FakePublisher

CATALOGUE = load_default_catalogue()
MT = "STNMT-MT"
S = DossierStatus
START = datetime.combine(date(2026, 3, 2), time(9), tzinfo=VN_TZ)
DUE = date(2026, 3, 23)

STATUS_CHANGED = "dossier.status-changed.v1"
ASSIGNED = "dossier.assigned.v1"
NOTE_ADDED = "dossier.note-added.v1"
OVERDUE = "dossier.overdue.v1"
APOLOGY = "dossier.apology-issued.v1"

ALICE = Officer("alice", "officer:alice", MT, ActorRole.OFFICER)
BOB = Officer("bob", "officer:bob", MT, ActorRole.OFFICER)
LEADER = Officer("lan", "leader:lan", MT, ActorRole.LEADER)
ELSEWHERE = Officer("kim", "officer:kim", "STNMT-KS", ActorRole.OFFICER)
OTHER_AGENCYS = next(p.code for p in CATALOGUE.procedures.values() if p.agency != MT)


class World:
    """A service over the fakes, and what it woke the relay for."""

    def __init__(self, **settings: Any) -> None:
        self.clock = FakeClock(START)
        self.store = FakeDossierStore(self.clock)
        self.publisher = FakePublisher()
        self.woken: list[str] = []
        self.service = ProcessingService(
            self.store,
            ProcessingSettings(**settings),
            CATALOGUE,
            DEFAULT_CALENDAR,
            self.woken.append,
            clock=self.clock,
        )

    async def submit(self, procedure_code: str = "MT-004", **fields: Any) -> str:
        event = submission(procedure_code, self.clock(), **fields)
        await self.service.receive(event, str(uuid.uuid4()))
        return event.dossier_id

    def version(self, dossier_id: str) -> int:
        return self.store.records[dossier_id].dossier.version

    def status(self, dossier_id: str) -> DossierStatus:
        return self.store.records[dossier_id].dossier.status


def submission(procedure_code: str, at: datetime, **fields: Any) -> DossierSubmitted:
    procedure = CATALOGUE.get(procedure_code)
    documents = [d.code for d in procedure.required_documents if d.mandatory] if procedure else []
    data: dict[str, Any] = {
        "dossier_id": str(uuid.uuid4()),
        "receipt_code": f"MT-{uuid.uuid4().hex[:6].upper()}",
        "procedure_code": procedure_code,
        "agency": procedure.agency if procedure else MT,
        "kind": DossierKind.PROCEDURE,
        "channel": Channel.ONLINE,
        "submitted_at": at,
        "due_date": at.date(),
        "applicant": Applicant(type=ApplicantType.PERSON, name="An", email="an@example.vn"),
        "form": {},
        "attachments": [
            Attachment(
                document_code=code,
                name=f"{code}.pdf",
                media_type="application/pdf",
                size=1024,
                sha256="0" * 64,
            )
            for code in documents
        ],
    }
    return DossierSubmitted(**(data | fields))


def withdrawal(dossier_id: str) -> DossierWithdrawalRequested:
    return DossierWithdrawalRequested(
        dossier_id=dossier_id, receipt_code="MT-X", requested_at=START, reason="No longer needed"
    )


def supplement(dossier_id: str) -> DossierSupplemented:
    return DossierSupplemented(
        dossier_id=dossier_id,
        receipt_code="MT-X",
        supplemented_at=START,
        attachments=[],
        note="Here it is",
    )


def _bump(dossier_id: str) -> Any:
    return lambda store: store.bump(dossier_id)


# --------------------------------------------------------------------------- inbound events


async def test_a_submission_opens_the_dossier_once_however_often_it_is_delivered() -> None:
    world = World()
    event = submission("MT-004", START)
    await world.service.receive(event, "submitted-1")
    await world.service.receive(event, "submitted-1")
    record = world.store.records[event.dossier_id]
    assert record.dossier.status is S.RECEIVED
    assert record.dossier.due_date == DUE
    assert record.applied == ["submitted-1"]
    assert world.store.events(event.dossier_id) == [STATUS_CHANGED]
    assert world.woken == [event.dossier_id]


async def test_a_submission_of_a_procedure_not_in_the_catalogue_is_still_received() -> None:
    world = World()
    dossier_id = await world.submit("MT-999")
    stored = world.store.records[dossier_id].dossier
    assert not stored.catalogued
    assert stored.agency == MT


async def test_a_withdrawal_applies_once() -> None:
    world = World()
    dossier_id = await world.submit()
    await world.service.withdraw(withdrawal(dossier_id), "withdraw-1", "citizen:an")
    await world.service.withdraw(withdrawal(dossier_id), "withdraw-1", "citizen:an")
    assert world.status(dossier_id) is S.WITHDRAWN
    assert world.version(dossier_id) == 2
    assert world.store.events(dossier_id) == [STATUS_CHANGED, STATUS_CHANGED]
    assert world.store.calls["commit"] == 1
    assert world.woken == [dossier_id, dossier_id]


async def test_a_supplement_answers_the_officers_request() -> None:
    world = World()
    dossier_id = await world.submit()
    await world.service.act(
        dossier_id,
        ALICE,
        None,
        Action.REQUEST_SUPPLEMENT,
        ActionParams(reason="Sign it", missing_items=["Chữ ký"]),
    )
    assert world.status(dossier_id) is S.SUPPLEMENT_REQUESTED
    await world.service.supplement(supplement(dossier_id), "supplement-1", "citizen:an")
    assert world.status(dossier_id) is S.SUPPLEMENTED
    assert "supplement-1" in world.store.records[dossier_id].applied


async def test_an_event_for_a_dossier_never_submitted_is_poison() -> None:
    world = World()
    with pytest.raises(PoisonMessage):
        await world.service.withdraw(withdrawal(str(uuid.uuid4())), "withdraw-1", "citizen:an")


async def test_an_event_the_workflow_refuses_is_remembered_and_changes_nothing() -> None:
    world = World()
    dossier_id = await world.submit()
    # Nobody asked for documents: the supplement has nothing to answer.
    await world.service.supplement(supplement(dossier_id), "supplement-1", "citizen:an")
    record = world.store.records[dossier_id]
    assert record.dossier.status is S.RECEIVED
    assert record.dossier.version == 1
    assert "supplement-1" in record.applied
    assert world.store.events(dossier_id) == [STATUS_CHANGED]


async def test_an_event_applies_after_an_officers_write_that_landed_first() -> None:
    world = World()
    dossier_id = await world.submit()
    world.store.before_next_write(_bump(dossier_id))
    await world.service.withdraw(withdrawal(dossier_id), "withdraw-1", "citizen:an")
    assert world.status(dossier_id) is S.WITHDRAWN
    assert world.version(dossier_id) == 3
    assert world.store.calls["commit"] == 2


async def test_an_event_gives_up_on_a_dossier_that_never_stops_changing() -> None:
    world = World()
    dossier_id = await world.submit()
    for _ in range(INBOUND_ATTEMPTS):
        world.store.before_next_write(_bump(dossier_id))
    with pytest.raises(RuntimeError, match="kept changing"):
        await world.service.withdraw(withdrawal(dossier_id), "withdraw-1", "citizen:an")
    assert "withdraw-1" not in world.store.records[dossier_id].applied


# --------------------------------------------------------------------------- officers


async def test_an_officer_sees_their_agencys_dossier_and_no_other() -> None:
    world = World()
    dossier_id = await world.submit()
    dossier, notes = await world.service.view(dossier_id, MT)
    assert (dossier.id, notes) == (dossier_id, [])
    with pytest.raises(DossierNotVisible):
        await world.service.view(dossier_id, "STNMT-KS")
    with pytest.raises(DossierNotVisible):
        await world.service.view(str(uuid.uuid4()), MT)


async def test_an_action_at_the_version_read_changes_the_dossier_and_queues_its_event() -> None:
    world = World()
    dossier_id = await world.submit()
    changed = await world.service.act(
        dossier_id, ALICE, frozenset({1}), Action.START_REVIEW, ActionParams()
    )
    assert (changed.status, changed.version) == (S.IN_REVIEW, 2)
    assert world.status(dossier_id) is S.IN_REVIEW
    assert world.store.events(dossier_id) == [STATUS_CHANGED, STATUS_CHANGED]
    assert world.store.records[dossier_id].outbox[-1]["event"]["actor"] == "officer:alice"
    assert world.woken == [dossier_id, dossier_id]


async def test_an_action_at_a_stale_version_is_refused_with_the_current_one() -> None:
    world = World()
    dossier_id = await world.submit()
    with pytest.raises(VersionMismatch) as refused:
        await world.service.act(
            dossier_id, ALICE, frozenset({7, 8}), Action.START_REVIEW, ActionParams()
        )
    assert refused.value.current == 1
    assert world.store.calls["commit"] == 0
    assert world.status(dossier_id) is S.RECEIVED


async def test_an_action_without_a_version_acts_on_whatever_is_there() -> None:
    world = World()
    dossier_id = await world.submit()
    world.store.bump(dossier_id)
    await world.service.act(dossier_id, ALICE, None, Action.START_REVIEW, ActionParams())
    assert world.version(dossier_id) == 3


async def test_an_action_on_another_agencys_dossier_is_not_visible() -> None:
    world = World()
    dossier_id = await world.submit()
    with pytest.raises(DossierNotVisible):
        await world.service.act(dossier_id, ELSEWHERE, None, Action.START_REVIEW, ActionParams())
    assert world.store.calls["commit"] == 0


async def test_an_action_the_workflow_refuses_writes_nothing() -> None:
    world = World()
    dossier_id = await world.submit()
    with pytest.raises(TransitionNotAllowed):
        await world.service.act(dossier_id, LEADER, None, Action.APPROVE, ActionParams())
    assert world.store.calls["commit"] == 0
    assert world.version(dossier_id) == 1


async def test_of_two_officers_deciding_at_once_the_second_is_told_the_new_version() -> None:
    world = World()
    dossier_id = await world.submit()
    # The other officer's write lands between this one's read and write.
    world.store.before_next_write(_bump(dossier_id))
    with pytest.raises(VersionMismatch) as refused:
        await world.service.act(
            dossier_id, ALICE, frozenset({1}), Action.START_REVIEW, ActionParams()
        )
    assert refused.value.current == 2
    assert world.status(dossier_id) is S.RECEIVED
    assert world.store.events(dossier_id) == [STATUS_CHANGED]


async def test_a_claim_takes_the_dossier_once() -> None:
    world = World()
    dossier_id = await world.submit()
    claimed = await world.service.claim(dossier_id, ALICE, frozenset({1}))
    assert (claimed.assignee, claimed.version) == ("alice", 2)
    assert world.store.events(dossier_id) == [STATUS_CHANGED, ASSIGNED]
    # Claiming what one holds already is answered without a write.
    again = await world.service.claim(dossier_id, ALICE, frozenset({2}))
    assert again.version == 2
    assert world.store.calls["commit"] == 1


async def test_an_officer_cannot_take_a_colleagues_dossier_but_a_leader_can_reassign() -> None:
    world = World()
    dossier_id = await world.submit()
    await world.service.claim(dossier_id, ALICE, None)
    with pytest.raises(AssignedElsewhere) as taken:
        await world.service.claim(dossier_id, BOB, None)
    assert taken.value.assignee == "alice"
    with pytest.raises(AssignedElsewhere):
        await world.service.assign(dossier_id, BOB, None, "bob")
    moved = await world.service.assign(dossier_id, LEADER, frozenset({2}), "bob")
    assert (moved.assignee, moved.version) == ("bob", 3)
    assert world.store.records[dossier_id].outbox[-1]["event"]["data"]["assigned_by"] == (
        "leader:lan"
    )


async def test_a_closed_dossier_cannot_be_assigned() -> None:
    world = World()
    dossier_id = await world.submit()
    await world.service.withdraw(withdrawal(dossier_id), "withdraw-1", "citizen:an")
    with pytest.raises(ClosedDossier):
        await world.service.assign(dossier_id, LEADER, None, "bob")


async def test_a_note_is_kept_without_changing_the_version() -> None:
    world = World()
    dossier_id = await world.submit()
    note = await world.service.add_note(dossier_id, ALICE, frozenset({1}), "Called the owner")
    assert (note["officer_id"], note["text"], note["at"]) == ("alice", "Called the owner", START)
    _, notes = await world.service.view(dossier_id, MT)
    assert notes == [note]
    assert world.version(dossier_id) == 1
    assert world.store.events(dossier_id) == [STATUS_CHANGED, NOTE_ADDED]
    # Without If-Match a note goes on whatever the version.
    world.store.bump(dossier_id)
    await world.service.add_note(dossier_id, ALICE, None, "Second")
    assert len(world.store.records[dossier_id].notes) == 2


async def test_a_note_with_a_stale_version_is_refused() -> None:
    world = World()
    dossier_id = await world.submit()
    with pytest.raises(VersionMismatch) as stale:
        await world.service.add_note(dossier_id, ALICE, frozenset({5}), "x")
    assert stale.value.current == 1
    # Read at version 1, but a decision lands before the note is written.
    world.store.before_next_write(_bump(dossier_id))
    with pytest.raises(VersionMismatch) as raced:
        await world.service.add_note(dossier_id, ALICE, frozenset({1}), "x")
    assert raced.value.current == 2
    assert world.store.records[dossier_id].notes == []
    with pytest.raises(DossierNotVisible):
        await world.service.add_note(dossier_id, ELSEWHERE, None, "x")


# --------------------------------------------------------------------------- the queue


async def test_the_queue_pages_through_the_agencys_dossiers_in_due_order() -> None:
    world = World()
    ids = []
    for _day in range(5):
        ids.append(await world.submit())
        world.clock.advance(days=1)
    # Another agency's dossier is never in this officer's queue.
    await world.submit(OTHER_AGENCYS)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = await world.service.queue(ALICE, QueueQuery(after=after, limit=2))
        seen += [e.row.dossier_id for e in page.entries]
        pages += 1
        if page.next_after is None:
            break
        key, last = page.next_after
        # The cursor carries what the store compares: the due date as ISO text.
        after = (key.isoformat(), last)
    assert seen == ids
    assert pages == 3


async def test_the_queue_filters_by_assignee_status_and_deadline() -> None:
    world = World()
    mine = await world.submit()
    theirs = await world.submit()
    nobodys = await world.submit()
    await world.service.claim(mine, ALICE, None)
    await world.service.claim(theirs, BOB, None)

    async def ids(**query: Any) -> set[str]:
        page = await world.service.queue(ALICE, QueueQuery(**query))
        return {e.row.dossier_id for e in page.entries}

    assert await ids(assigned_to="me") == {mine}
    assert await ids(assigned_to="none") == {nobodys}
    assert await ids(assigned_to="bob") == {theirs}
    assert await ids() == {mine, theirs, nobodys}
    assert await ids(statuses=[S.IN_REVIEW]) == set()
    assert await ids(due_within_days=(DUE - START.date()).days) == {mine, theirs, nobodys}
    assert await ids(due_within_days=(DUE - START.date()).days - 1) == set()
    assert await ids(overdue=True) == set()
    world.clock.advance(days=30)
    await world.service.act(
        nobodys,
        ALICE,
        None,
        Action.REQUEST_SUPPLEMENT,
        ActionParams(reason="Sign it", missing_items=["Chữ ký"]),
    )
    assert await ids(overdue=True) == {mine, theirs}
    page = await world.service.queue(ALICE, QueueQuery(sort="received"))
    entries = {e.row.dossier_id: e for e in page.entries}
    assert entries[mine].overdue
    assert not entries[mine].clock_paused
    assert entries[nobodys].clock_paused
    assert not entries[nobodys].overdue
    assert page.next_after is None


# --------------------------------------------------------------------------- deadlines


async def test_the_scan_sends_the_overdue_notice_once_and_no_apology_slip() -> None:
    """Decree 61/2018, Art. 19 as amended: the apology slip's new date is the unit's to
    set and sign; the scan only notices lateness."""
    world = World()
    dossier_id = await world.submit()
    # The working day before the due date, when the slip used to go out by itself.
    world.clock.current = datetime.combine(date(2026, 3, 20), time(9), tzinfo=VN_TZ)
    report = await world.service.scan_deadlines()
    assert report.overdue == 0
    assert world.store.records[dossier_id].dossier.apology is None
    world.clock.current = datetime.combine(date(2026, 3, 24), time(9), tzinfo=VN_TZ)
    report = await world.service.scan_deadlines()
    assert report.overdue == 1
    report = await world.service.scan_deadlines()
    assert report.overdue == 0
    assert world.store.events(dossier_id) == [STATUS_CHANGED, OVERDUE]
    # An officer's later command leaves what the scan recorded alone.
    await world.service.act(dossier_id, ALICE, None, Action.START_REVIEW, ActionParams())
    stored = world.store.records[dossier_id].dossier
    assert stored.overdue_at is not None
    assert stored.apology is None


async def test_the_scan_counts_nothing_for_a_dossier_that_moved_on_meanwhile() -> None:
    world = World()
    dossier_id = await world.submit()
    world.clock.current = datetime.combine(date(2026, 3, 24), time(9), tzinfo=VN_TZ)

    def decided(store: FakeDossierStore) -> None:
        record = store.records[dossier_id]
        record.dossier = record.dossier.model_copy(update={"status": S.WITHDRAWN})

    world.store.before_next_write(decided)
    report = await world.service.scan_deadlines()
    assert report.overdue == 0
    assert world.store.events(dossier_id) == [STATUS_CHANGED]
    assert world.woken == [dossier_id]


async def test_overdue_counts_list_every_agency() -> None:
    world = World()
    await world.submit()
    await world.submit()
    counts = await world.service.overdue_by_agency()
    assert set(counts) == set(CATALOGUE.agencies)
    assert set(counts.values()) == {0}
    world.clock.advance(days=30)
    counts = await world.service.overdue_by_agency()
    assert counts[MT] == 2
    assert sum(counts.values()) == 2


# --------------------------------------------------------------------------- statistics


async def test_statistics_of_the_month_so_far_by_procedure_and_agency() -> None:
    world = World()
    withdrawn = await world.submit()
    await world.submit()
    await world.service.withdraw(withdrawal(withdrawn), "withdraw-1", "citizen:an")
    world.clock.advance(days=30)
    figures = await world.service.statistics(None, None, None, None)
    assert (figures.first, figures.last, figures.as_of) == (
        date(2026, 4, 1),
        date(2026, 4, 1),
        date(2026, 4, 1),
    )
    assert figures.total.received == 0
    figures = await world.service.statistics(date(2026, 3, 1), None, None, None)
    assert figures.total.received == 2
    assert (figures.total.withdrawn, figures.total.in_progress) == (1, 1)
    assert figures.total.overdue_now == 1
    [procedure] = figures.procedures
    assert procedure.code == "MT-004"
    assert procedure.name_en == CATALOGUE.get("MT-004").name_en  # type: ignore[union-attr]
    [agency] = figures.agencies
    assert (agency.code, agency.name_vi) == (MT, CATALOGUE.agencies[MT].name_vi)
    assert world.store.records[withdrawn].dossier.outcome is Outcome.WITHDRAWN


async def test_statistics_are_cached_for_a_while_unless_the_cache_is_off() -> None:
    cached = World(statistics_cache_s=30)
    uncached = World(statistics_cache_s=0)
    for world in (cached, uncached):
        await world.submit()
        first = await world.service.statistics(date(2026, 3, 1), None, None, None)
        await world.submit()
        second = await world.service.statistics(date(2026, 3, 1), None, None, None)
        assert first.total.received == 1
        if world is cached:
            assert second is first
            assert world.store.calls["outcome_counts"] == 1
        else:
            assert second.total.received == 2
            assert world.store.calls["outcome_counts"] == 2


async def test_statistics_refuse_a_period_backwards_or_too_long() -> None:
    world = World(statistics_max_days=31)
    with pytest.raises(InvalidPeriod) as backwards:
        await world.service.statistics(date(2026, 3, 2), date(2026, 3, 1), None, None)
    assert backwards.value.parameter == "from"
    with pytest.raises(InvalidPeriod) as long:
        await world.service.statistics(date(2026, 1, 1), date(2026, 2, 1), None, None)
    assert long.value.parameter == "to"
    figures = await world.service.statistics(date(2026, 1, 1), date(2026, 1, 31), None, None)
    assert figures.total.received == 0
    assert world.store.calls["outcome_counts"] == 1


# --------------------------------------------------------------------------- the relay


async def test_a_relay_pass_sends_every_pending_event_in_order_and_drains_the_outboxes() -> None:
    world = World()
    first = await world.submit()
    second = await world.submit()
    await world.service.act(first, ALICE, None, Action.START_REVIEW, ActionParams())
    queued = [e["id"] for i in (first, second) for e in world.store.records[i].outbox]
    found, done = await relay_pending(world.store, world.publisher, limit=10, lease_s=30)
    assert found == [first, second]
    assert done.published == 3
    assert world.publisher.sent_ids == queued
    assert await world.store.pending_outboxes(10) == []
    _, again = await relay_pending(world.store, world.publisher, limit=10, lease_s=30)
    assert again.published == 0
    assert len(world.publisher.sent) == 3


async def test_a_dossier_another_relay_holds_is_left_to_it() -> None:
    world = World()
    dossier_id = await world.submit()
    held = await world.store.claim_outboxes([dossier_id], lease_s=30)
    done = await relay_dossiers(world.store, world.publisher, [dossier_id], lease_s=30)
    assert (done.published, done.busy) == (0, [dossier_id])
    assert world.publisher.sent == []
    # The holder's lease runs out without it sending: another relay takes over.
    world.clock.advance(seconds=31)
    taken = await relay_dossiers(world.store, world.publisher, [dossier_id], lease_s=30)
    assert taken.published == 1
    # The first relay comes back late: its lease is gone, it drops nothing.
    await world.service.add_note(dossier_id, ALICE, None, "after the takeover")
    await world.store.mark_published(held)
    assert world.store.events(dossier_id) == [NOTE_ADDED]


async def test_events_the_broker_refused_stay_for_the_next_pass() -> None:
    world = World()
    dossier_id = await world.submit()
    world.publisher.down = True
    done = await relay_dossiers(world.store, world.publisher, [dossier_id], lease_s=30)
    assert (done.published, done.unsent) == (0, [dossier_id])
    # Released at once: no waiting for the lease to run out.
    assert await world.store.pending_outboxes(10) == [dossier_id]
    world.publisher.down = False
    done = await relay_dossiers(world.store, world.publisher, [dossier_id], lease_s=30)
    assert (done.published, done.unsent) == (1, [])
    assert world.store.events(dossier_id) == []


async def test_an_event_written_while_a_pass_sends_goes_out_with_the_next() -> None:
    world = World()
    dossier_id = await world.submit()

    async def officer_writes() -> None:
        world.publisher.during_send = None
        await world.service.add_note(dossier_id, ALICE, None, "meanwhile")

    world.publisher.during_send = officer_writes
    done = await relay_dossiers(world.store, world.publisher, [dossier_id], lease_s=30)
    assert done.published == 1
    assert world.store.events(dossier_id) == [NOTE_ADDED]
    assert await world.store.pending_outboxes(10) == [dossier_id]
    done = await relay_dossiers(world.store, world.publisher, [dossier_id], lease_s=30)
    assert done.published == 1
    assert [e.type for e in world.publisher.sent] == [STATUS_CHANGED, NOTE_ADDED]
    assert await world.store.pending_outboxes(10) == []


async def test_an_empty_claim_just_lets_go() -> None:
    world = World()
    dossier_id = await world.submit()
    await relay_pending(world.store, world.publisher, limit=10, lease_s=30)
    # A write without events still marks the dossier pending.
    record = world.store.records[dossier_id]
    assert await world.store.commit(record.dossier, 1, [])
    found, done = await relay_pending(world.store, world.publisher, limit=10, lease_s=30)
    assert (found, done.published) == ([dossier_id], 0)
    assert await world.store.pending_outboxes(10) == []
