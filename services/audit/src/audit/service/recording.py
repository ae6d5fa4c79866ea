"""Use case: record a batch of consumed events as audit entries.

Every replica of the service records what its share of the partitions delivers, all into
the one chain. Per batch: draft one entry per event, drop duplicates inside the batch, seal
them on the chain head this recorder last wrote and insert them in order. Only when it knows
no head yet, or an insert met an entry already stored, does it look the events up in the
event id index and read the head first.

The store's unique ``seq`` fences the chain: of two replicas sealing on the same head, the
first insert lands and the other meets a duplicate at its first entry. The loser keeps the
prefix it did land, reads the head again (from where it last saw it), looks the rest of its
batch up once more and re-seals it on top. The unique ``event_id`` makes that look-up a
convenience rather than the guarantee: an event recorded by another replica in between (its
partition moved during a rebalance) stops the insert the same way. An ordered insert lands a
prefix of its run, so a replica killed mid-insert leaves the chain without a gap, and the
redelivered batch (never committed) finds the landed events and skips them. Every event is
therefore recorded exactly once, in one gap-free chain, however many replicas append and
whenever one dies.

While the store is unreachable the recorder waits and retries instead of failing: a failed
batch would end up on the dead-letter topic, i.e. missing from the audit log.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from audit.domain.personal_data import PersonalDataCipher
from audit.domain.recording import (
    ChainHead,
    EntryDraft,
    draft_entry,
    first_occurrences,
    restamped,
    seal_run,
)
from audit.service.ports import AuditLog, Clock, DuplicateEntry, Sleep
from chassis.events import Envelope

__all__ = [
    "EventRecorder",
    "IncomingEvent",
    "RecordOutcome",
    "TooManyConflicts",
    "in_time_order",
]

log = logging.getLogger(__name__)

# Conflicts within one batch before giving it back to the consumer loop: each one means
# another replica appended in between, so reaching this means something else is wrong.
MAX_CONFLICTS = 100
# After a lost race, wait up to this long times the conflicts so far (capped) before
# re-sealing, so replicas that keep colliding fall out of step.
CONFLICT_JITTER_S = 0.002


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """One consumed event as the recorder needs it."""

    envelope: Envelope
    trace_id: str | None
    # The ordered stream it came from (topic and partition): order holds only within one.
    stream: tuple[str, int]


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    appended: int = 0
    # Events not appended because the log (or the same batch) holds them already.
    skipped: int = 0
    # Inserts that met an entry already stored (another replica's, or a recorded event).
    conflicts: int = 0


class TooManyConflicts(RuntimeError):
    def __init__(self, outcome: RecordOutcome) -> None:
        super().__init__(f"{outcome.conflicts} append conflicts in one batch; giving it back")
        self.outcome = outcome


def _occurred(event: IncomingEvent) -> datetime:
    moment = event.envelope.time
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


def in_time_order(batch: Sequence[IncomingEvent]) -> list[IncomingEvent]:
    """The batch as one sequence: each stream's events keep their order, streams are merged
    by when the events happened. A fetch spanning topics (a submission and the status change
    it caused) then lands in the log in the order things happened."""
    streams: dict[tuple[str, int], list[IncomingEvent]] = {}
    for event in batch:
        streams.setdefault(event.stream, []).append(event)
    if len(streams) < 2:
        return list(batch)
    return list(heapq.merge(*streams.values(), key=_occurred))


def _jitter(conflicts: int) -> float:
    return random.uniform(0, CONFLICT_JITTER_S * min(conflicts, 20))


class EventRecorder:
    """The recording handler of one replica; it remembers the chain head it last saw, since
    the log only grows and the next look-up can start there."""

    def __init__(
        self,
        store: AuditLog,
        cipher: PersonalDataCipher,
        *,
        retry_delay: Callable[[int], float],
        unreachable: Callable[[BaseException], bool] = lambda _: False,
        clock: Clock = lambda: datetime.now(UTC),
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[int], float] = _jitter,
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._retry_delay = retry_delay
        # The store's "unreachable" errors: what landed is unknown, the next look-up says.
        # Tells a store that is away (waited out) from a defect (raised): the adapter's
        # knowledge, not the use case's.
        self._unreachable = unreachable
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._head: ChainHead | None = None

    @property
    def head(self) -> ChainHead | None:
        """The chain head as this recorder last saw it (None until it has looked)."""
        return self._head

    async def load_head(self) -> ChainHead:
        seen = self._head.seq if self._head is not None else 0
        self._head = await self._store.head(at_least=seen)
        return self._head

    def drafts_of(self, batch: Sequence[IncomingEvent]) -> list[EntryDraft]:
        recorded_at = self._clock()
        return [
            draft_entry(
                event.envelope,
                trace_id=event.trace_id,
                recorded_at=recorded_at,
                cipher=self._cipher,
            )
            for event in in_time_order(batch)
        ]

    async def record(self, batch: Sequence[IncomingEvent]) -> RecordOutcome:
        return await self.append(self.drafts_of(batch))

    async def append(self, drafts: Sequence[EntryDraft]) -> RecordOutcome:
        """Append the drafts not yet recorded, sealed on the current head."""
        pending = first_occurrences(drafts)
        skipped = len(drafts) - len(pending)
        appended = 0
        conflicts = 0
        outage = 0
        while pending:
            try:
                head = self._head
                if head is None or conflicts or outage:
                    recorded = await self._store.recorded_event_ids([d.event_id for d in pending])
                    fresh = first_occurrences(pending, recorded)
                    skipped += len(pending) - len(fresh)
                    pending = fresh
                    if not pending:
                        break
                    head = await self.load_head()
                    # Drafted before that read: an entry another replica stamped later may
                    # be in the head now, and recorded_at never decreases along the chain.
                    pending = restamped(pending, self._clock())
                # Otherwise sealed on the head this recorder last wrote, without reading
                # anything first: the unique seq and event_id stop the insert if another
                # replica appended since or an event is recorded already, and the look-ups
                # above then run. With one replica and no redelivery (the steady state)
                # a batch is one round trip to the store instead of three.
                sealed = seal_run(pending, head)
                try:
                    await self._store.insert_entries(sealed)
                except DuplicateEntry as conflict:
                    conflicts += 1
                    landed = conflict.inserted
                    if landed:
                        last_landed = sealed[landed - 1]
                        self._head = ChainHead(last_landed.seq, last_landed.entry_hash)
                    appended += landed
                    # Sealed again on the new head, at a later time than the entries that
                    # took the place: recorded_at never decreases along the chain.
                    pending = restamped(pending[landed:], self._clock())
                    if conflicts >= MAX_CONFLICTS:
                        raise TooManyConflicts(
                            RecordOutcome(appended, skipped, conflicts)
                        ) from conflict
                    await self._sleep(self._jitter(conflicts))
                    continue
                self._head = ChainHead(sealed[-1].seq, sealed[-1].entry_hash)
                appended += len(sealed)
                pending = []
            except Exception as exc:
                if not self._unreachable(exc):
                    raise
                outage += 1
                log.warning("audit store unreachable (%s); retrying the batch", type(exc).__name__)
                await self._sleep(self._retry_delay(outage))
        return RecordOutcome(appended, skipped, conflicts)
