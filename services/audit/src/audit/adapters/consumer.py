"""Records every event of every domain topic as an audit entry.

Runs as the ``audit`` group's batch handler, in every replica of the service: the group
spreads the topics' partitions over the replicas and each appends what it consumes to the
one chain. Per batch: draft one entry per event, drop duplicates inside the batch and the
events the log holds already (one look-up in the event id index), read the chain head, seal
the rest on top of it and insert them in order.

The unique index on ``seq`` fences the chain: of two replicas sealing on the same head, the
first insert lands and the other meets a duplicate key at its first entry. The loser keeps
the prefix it did land, reads the head again (from where it last saw it), looks the rest of
its batch up once more and re-seals it on top. The unique index on ``event_id`` makes that
look-up a convenience rather than the guarantee: an event recorded by another replica in
between (its partition moved during a rebalance) stops the insert the same way. An ordered
insert lands a prefix of its run, so a replica killed mid-insert leaves the chain without a
gap, and the redelivered batch (never committed) finds the landed events and skips them.
Every event is therefore recorded exactly once, in one gap-free chain, however many
replicas append and whenever one dies.

While the store is unreachable the handler waits and retries instead of failing: a failed
batch would end up on the dead-letter topic, i.e. missing from the audit log.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime

from opentelemetry.trace import SpanContext
from prometheus_client import Counter
from pymongo.errors import ConnectionFailure

from audit.adapters.store import AuditStore, DuplicateEntry
from audit.domain.personal_data import PersonalDataCipher
from audit.domain.recording import (
    ChainHead,
    EntryDraft,
    draft_entry,
    first_occurrences,
    seal_run,
)
from chassis.kafka import ConsumedEvent, backoff_delays

log = logging.getLogger(__name__)

ENTRIES_APPENDED = Counter("hoso_audit_entries_appended_total", "Audit entries sealed and stored")
DUPLICATES_SKIPPED = Counter(
    "hoso_audit_duplicates_skipped_total", "Events not appended because already recorded"
)
APPEND_CONFLICTS = Counter(
    "hoso_audit_append_conflicts_total",
    "Inserts that met an entry already stored (another replica's, or a recorded event)",
)

# Conflicts within one batch before giving it back to the consumer loop: each one means
# another replica appended in between, so reaching this means something else is wrong.
MAX_CONFLICTS = 100
# After a lost race, wait up to this long times the conflicts so far (capped) before
# re-sealing, so replicas that keep colliding fall out of step.
CONFLICT_JITTER_S = 0.002


def _trace_id(event: ConsumedEvent) -> str | None:
    context: SpanContext | None = event.span_context
    if context is not None and context.is_valid:
        return format(context.trace_id, "032x")
    for key, value in event.record.headers or ():
        if key == "traceparent" and value:
            parts = value.decode(errors="replace").split("-")
            if len(parts) >= 3 and len(parts[1]) == 32 and parts[1] != "0" * 32:
                return parts[1].lower()
    return None


def _occurred(event: ConsumedEvent) -> datetime:
    moment = event.envelope.time
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


def in_time_order(batch: list[ConsumedEvent]) -> list[ConsumedEvent]:
    """The batch as one sequence: each partition's events keep their order, partitions are
    merged by when the events happened. A fetch spanning topics (a submission and the status
    change it caused) then lands in the log in the order things happened."""
    partitions: dict[tuple[str, int], list[ConsumedEvent]] = {}
    for event in batch:
        partitions.setdefault((event.record.topic, event.record.partition), []).append(event)
    if len(partitions) < 2:
        return batch
    return list(heapq.merge(*partitions.values(), key=_occurred))


class AuditRecorder:
    def __init__(
        self,
        store: AuditStore,
        cipher: PersonalDataCipher,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        retry_delay: Callable[[int], float] = backoff_delays(0.5, 10.0),
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._clock = clock
        self._retry_delay = retry_delay
        self._head: ChainHead | None = None

    @property
    def head(self) -> ChainHead | None:
        """The chain head as this appender last saw it (None until it has looked)."""
        return self._head

    async def load_head(self) -> ChainHead:
        """Read the head; from the position last seen, since the log only grows."""
        seen = self._head.seq if self._head is not None else 0
        self._head = await self._store.head(at_least=seen)
        return self._head

    async def record(self, batch: list[ConsumedEvent]) -> None:
        await self.append(self.drafts_of(batch))

    def drafts_of(self, batch: list[ConsumedEvent]) -> list[EntryDraft]:
        recorded_at = self._clock()
        return [
            draft_entry(
                event.envelope,
                trace_id=_trace_id(event),
                recorded_at=recorded_at,
                cipher=self._cipher,
            )
            for event in in_time_order(batch)
        ]

    async def append(self, drafts: list[EntryDraft]) -> int:
        """Append the drafts not yet recorded; returns how many entries were added."""
        pending = first_occurrences(drafts)
        skipped = len(drafts) - len(pending)
        appended = 0
        conflicts = 0
        outage = 0
        while pending:
            try:
                recorded = await self._store.recorded_event_ids([d.event_id for d in pending])
                fresh = first_occurrences(pending, recorded)
                skipped += len(pending) - len(fresh)
                pending = fresh
                if not pending:
                    break
                # Read every time: another replica may have appended since this one last did.
                sealed = seal_run(pending, await self.load_head())
                try:
                    await self._store.insert_entries(sealed)
                except DuplicateEntry as conflict:
                    conflicts += 1
                    APPEND_CONFLICTS.inc()
                    landed = conflict.inserted
                    if landed:
                        last_landed = sealed[landed - 1]
                        self._head = ChainHead(last_landed.seq, last_landed.entry_hash)
                    appended += landed
                    pending = pending[landed:]
                    if conflicts >= MAX_CONFLICTS:
                        raise RuntimeError(
                            f"{conflicts} append conflicts in one batch; giving the batch back"
                        ) from conflict
                    await asyncio.sleep(random.uniform(0, CONFLICT_JITTER_S * min(conflicts, 20)))
                    continue
                self._head = ChainHead(sealed[-1].seq, sealed[-1].entry_hash)
                appended += len(sealed)
                pending = []
            except ConnectionFailure as exc:
                # What landed before the connection broke is unknown: the next look-up says.
                outage += 1
                log.warning("audit store unreachable (%s); retrying the batch", type(exc).__name__)
                await asyncio.sleep(self._retry_delay(outage))
        ENTRIES_APPENDED.inc(appended)
        DUPLICATES_SKIPPED.inc(skipped)
        return appended
