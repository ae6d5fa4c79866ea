"""Records every event of every domain topic as an audit entry."""

from __future__ import annotations

from datetime import UTC, datetime

from audit.adapters.store import AuditStore
from chassis.kafka import ConsumedEvent


class AuditRecorder:
    def __init__(self, store: AuditStore) -> None:
        self._store = store
        self._seq = 0

    async def record(self, batch: list[ConsumedEvent]) -> None:
        now = datetime.now(UTC)
        entries = []
        for event in batch:
            self._seq += 1
            entries.append(
                {
                    "seq": self._seq,
                    "event_id": event.id,
                    "event_type": event.envelope.type,
                    "dossier_id": event.envelope.subject,
                    "actor": event.envelope.actor,
                    "occurred_at": event.envelope.time,
                    "recorded_at": now,
                }
            )
        await self._store.append(entries)
