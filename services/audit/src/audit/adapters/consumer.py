"""Records every event of every domain topic as an audit entry: the log's only appender.

Runs as the ``audit`` group's batch handler. Per batch: draft one entry per event, drop
events recorded lately (a window of event ids kept in memory) and duplicates inside the
batch, seal the rest continuing from the chain head and insert them in order.

The unique indexes on ``seq`` and ``event_id`` are the guarantee, not the window. An event
recorded before the window (after a restart, or republished long after), or a second writer
(another instance, or a restart racing this one), makes the insert fail; the appender then
turns careful for the rest of the batch: it re-reads the head, looks the remaining events up
in the store, drops those that landed, and seals the remainder on top. A crash mid-insert
leaves a contiguous prefix; the redelivered batch skips what landed. A batch consumed twice
therefore leaves the chain exactly as it was. The window only saves the look-up: on a store
that can answer it from the index (MongoDB) it is one cheap query per batch, on one that
scans for every filter but ``_id`` (FerretDB 1.x on SQLite) it would cost a pass over the
whole log per batch.

While the store is unreachable the handler waits and retries instead of failing: a failed
batch would end up on the dead-letter topic, i.e. missing from the audit log.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
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
    RecentEvents,
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
    "hoso_audit_append_conflicts_total", "Inserts that met another writer's entries"
)

# Conflicts in a row before giving the batch back to the consumer loop: each one means
# another writer appended in between, so reaching this means something else is wrong.
MAX_CONFLICTS = 50
# Event ids remembered as recorded: duplicates arrive within seconds or minutes of the
# original (a redelivery after a restart, a relay republishing after a crash). About 10 MB.
RECENT_EVENTS = 50_000


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
        recent_events: int = RECENT_EVENTS,
    ) -> None:
        self._store = store
        self._recent = RecentEvents(recent_events)
        self._cipher = cipher
        self._clock = clock
        self._retry_delay = retry_delay
        self._head: ChainHead | None = None

    @property
    def head(self) -> ChainHead | None:
        """The chain head as this appender last saw it (None until it has looked)."""
        return self._head

    async def load_head(self) -> ChainHead:
        self._head = await self._store.head()
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
        pending = first_occurrences(drafts, self._recent)
        skipped = len(drafts) - len(pending)
        appended = 0
        conflicts = 0
        outage = 0
        # Whether to ask the store what it holds before sealing: only once an insert met
        # an entry already there, or the connection broke with the outcome unknown.
        careful = False
        while pending:
            try:
                if careful:
                    recorded = await self._store.recorded_event_ids([d.event_id for d in pending])
                    self._recent.add(recorded)
                    fresh = first_occurrences(pending, recorded)
                    skipped += len(pending) - len(fresh)
                    pending = fresh
                    if not pending:
                        break
                head = self._head if self._head is not None else await self.load_head()
                sealed = seal_run(pending, head)
                try:
                    await self._store.insert_entries(sealed)
                except DuplicateEntry as conflict:
                    conflicts += 1
                    APPEND_CONFLICTS.inc()
                    landed = conflict.inserted
                    self._recent.add(entry.event_id for entry in sealed[:landed])
                    appended += landed
                    pending = pending[landed:]
                    self._head = None
                    careful = True
                    if conflicts >= MAX_CONFLICTS:
                        raise RuntimeError(
                            f"{conflicts} append conflicts in a row; giving the batch back"
                        ) from conflict
                    continue
                last = sealed[-1]
                self._head = ChainHead(last.seq, last.entry_hash)
                self._recent.add(entry.event_id for entry in sealed)
                appended += len(sealed)
                pending = []
            except ConnectionFailure as exc:
                # What landed before the connection broke is unknown: look again afterwards.
                self._head = None
                careful = True
                outage += 1
                log.warning("audit store unreachable (%s); retrying the batch", type(exc).__name__)
                await asyncio.sleep(self._retry_delay(outage))
        ENTRIES_APPENDED.inc(appended)
        DUPLICATES_SKIPPED.inc(skipped)
        return appended
