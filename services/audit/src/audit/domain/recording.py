"""From a consumed event to sealed audit entries: the appender's pure rules.

The appender (``audit.adapters.consumer.AuditRecorder``) drafts one entry per event, drops
events already recorded, seals the rest as a run continuing from the chain head and inserts
them in order. Everything here is deterministic given its inputs, so a batch re-sealed after
losing the race for a position to another replica gets the same content at its new
sequence numbers.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from audit.domain.chain import GENESIS_PREV_HASH, AuditEntry, iso_utc, seal
from audit.domain.personal_data import PersonalDataCipher
from chassis.events import DossierStatusChanged, Envelope

__all__ = ["ChainHead", "EntryDraft", "draft_entry", "first_occurrences", "seal_run"]


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last sealed entry: the next one gets ``seq + 1`` and links to ``entry_hash``."""

    seq: int = 0
    entry_hash: str = GENESIS_PREV_HASH


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """An audit entry before it has a place in the chain."""

    event_id: str
    event_type: str
    dossier_id: str | None
    actor: str
    occurred_at: str
    recorded_at: str
    changes: tuple[Mapping[str, Any], ...]
    trace_id: str | None
    payload: Mapping[str, Any]


def _aware(moment: datetime) -> datetime:
    # The envelope demands a timestamp but not an offset; a producer omitting it means UTC.
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


def _changes(envelope: Envelope) -> list[Mapping[str, Any]]:
    """What changed, as ``{field, old, new}``: the event's own list, plus the status move."""
    raw = envelope.data.get("changes")
    changes = [c for c in raw if isinstance(c, Mapping)] if isinstance(raw, list) else []
    if envelope.type == DossierStatusChanged.event_type and not any(
        c.get("field") == "status" for c in changes
    ):
        changes.insert(
            0,
            {
                "field": "status",
                "old": envelope.data.get("old_status"),
                "new": envelope.data.get("new_status"),
            },
        )
    return changes


def draft_entry(
    envelope: Envelope,
    *,
    trace_id: str | None,
    recorded_at: datetime,
    cipher: PersonalDataCipher,
) -> EntryDraft:
    """Draft the audit entry of one event, personal data already encrypted."""
    dossier_id = envelope.subject or envelope.data.get("dossier_id")
    return EntryDraft(
        event_id=envelope.id,
        event_type=envelope.type,
        dossier_id=str(dossier_id) if dossier_id is not None else None,
        actor=envelope.actor,
        occurred_at=iso_utc(_aware(envelope.time)),
        recorded_at=iso_utc(_aware(recorded_at)),
        changes=tuple(cipher.protect_change(c) for c in _changes(envelope)),
        trace_id=trace_id,
        payload=cipher.protect(envelope.data),
    )


def first_occurrences(
    drafts: Iterable[EntryDraft], recorded: Container[str] = frozenset()
) -> list[EntryDraft]:
    """Drafts whose event is neither in ``recorded`` nor earlier in the same batch."""
    seen: set[str] = set()
    kept = []
    for draft in drafts:
        if draft.event_id not in recorded and draft.event_id not in seen:
            seen.add(draft.event_id)
            kept.append(draft)
    return kept


def restamped(drafts: Sequence[EntryDraft], recorded_at: datetime) -> list[EntryDraft]:
    """The drafts with a new time of recording: one that lost its place in the chain to
    another replica is recorded after that replica's entries, and says so."""
    stamp = iso_utc(_aware(recorded_at))
    return [replace(draft, recorded_at=stamp) for draft in drafts]


def seal_run(drafts: Sequence[EntryDraft], head: ChainHead) -> list[AuditEntry]:
    """Seal ``drafts`` as the entries right after ``head``, each linked to the one before."""
    sealed: list[AuditEntry] = []
    seq, prev_hash = head.seq, head.entry_hash
    for draft in drafts:
        seq += 1
        entry = seal(
            seq=seq,
            event_id=draft.event_id,
            event_type=draft.event_type,
            dossier_id=draft.dossier_id,
            actor=draft.actor,
            occurred_at=draft.occurred_at,
            recorded_at=draft.recorded_at,
            changes=draft.changes,
            trace_id=draft.trace_id,
            payload=draft.payload,
            prev_hash=prev_hash,
        )
        sealed.append(entry)
        prev_hash = entry.entry_hash
    return sealed
