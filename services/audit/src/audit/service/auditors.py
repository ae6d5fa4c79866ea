"""The auditors' use cases: read the log (a page of entries, a dossier's trail, exports,
checkpoints, the public key) with personal data shown only to whom it may be shown; verify
it; prove entries and checkpoints against it.

Entries are handed out as the stored documents, not parsed: a damaged document is shown as
it is, for the auditor to see, instead of being hidden or failing the page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.domain.checkpoint import Checkpoint, key_id, public_key_to_base64, public_key_to_pem
from audit.domain.personal_data import PersonalDataCipher
from audit.service.ports import AuditLog, EntryFilter
from audit.service.verification import (
    ConsistencyProof,
    InclusionProof,
    RangeVerification,
    prove_consistency,
    prove_inclusion,
    verify_range,
)

__all__ = [
    "AuditService",
    "CheckpointList",
    "EntryList",
    "ExportView",
    "LimitTooLarge",
    "NoCheckpointYet",
    "PublicKeyInfo",
    "readable",
]

ExportView = Literal["sealed", "readable"]


class NoCheckpointYet(LookupError):
    """The log has not been checkpointed yet."""


class LimitTooLarge(ValueError):
    def __init__(self, limit: int, maximum: int) -> None:
        super().__init__(f"limit {limit} is above {maximum}")
        self.maximum = maximum


@dataclass(frozen=True, slots=True)
class EntryList:
    # Stored documents in log order, personal data as the reader may see it.
    documents: list[dict[str, Any]]
    has_more: bool


@dataclass(frozen=True, slots=True)
class CheckpointList:
    checkpoints: list[Checkpoint]
    next_after_size: int
    has_more: bool


@dataclass(frozen=True, slots=True)
class PublicKeyInfo:
    log_id: str
    key_id: str
    pem: str
    base64: str
    ephemeral: bool


def readable(document: dict[str, Any], cipher: PersonalDataCipher, cleared: bool) -> dict[str, Any]:
    """A stored entry as the reader may see it: personal data decrypted for a reader cleared
    to read it, masked for everyone else. A damaged document is shown as it is."""
    shown = dict(document)
    payload = shown.get("payload")
    if isinstance(payload, dict):
        shown["payload"] = cipher.reveal(payload, cleared=cleared)
    changes = shown.get("changes")
    if isinstance(changes, list):
        shown["changes"] = [
            cipher.reveal_change(c, cleared=cleared) if isinstance(c, dict) else c for c in changes
        ]
    return shown


@dataclass(frozen=True, slots=True)
class AuditService:
    """The auditors' use cases over one log, with what they need."""

    store: AuditLog
    cipher: PersonalDataCipher
    public_key: Ed25519PublicKey
    ephemeral_key: bool
    log_id: str
    page_size_max: int
    trail_size_max: int
    read_batch: int

    async def _list(
        self, where: EntryFilter, after_seq: int, limit: int, maximum: int, cleared: bool
    ) -> EntryList:
        if limit > maximum:
            raise LimitTooLarge(limit, maximum)
        documents = await self.store.find_entries(where, after_seq=after_seq, limit=limit + 1)
        shown = [readable(d, self.cipher, cleared) for d in documents[:limit]]
        return EntryList(shown, has_more=len(documents) > limit)

    async def dossier_trail(
        self, dossier_id: str, *, after_seq: int, limit: int, cleared: bool
    ) -> EntryList:
        """A dossier's entries, oldest first."""
        where = EntryFilter(dossier_id=dossier_id)
        return await self._list(where, after_seq, limit, self.trail_size_max, cleared)

    async def entries(
        self, where: EntryFilter, *, after_seq: int, limit: int, cleared: bool
    ) -> EntryList:
        """A page of the entries matching ``where``, in log order."""
        return await self._list(where, after_seq, limit, self.page_size_max, cleared)

    async def export_entries(
        self,
        where: EntryFilter,
        *,
        after_seq: int,
        to_seq: int | None,
        view: ExportView,
        cleared: bool,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every matching entry, streamed: as sealed (verifiable offline, personal data
        encrypted) or as the query API shows it."""
        show: Callable[[dict[str, Any]], dict[str, Any]] = (
            (lambda d: d) if view == "sealed" else (lambda d: readable(d, self.cipher, cleared))
        )
        async for document in self.store.stream_entries(
            where, after_seq=after_seq, to_seq=to_seq, batch=self.read_batch
        ):
            yield show(document)

    async def checkpoints(self, *, after_size: int, limit: int) -> CheckpointList:
        if limit > self.page_size_max:
            raise LimitTooLarge(limit, self.page_size_max)
        found = await self.store.checkpoints(after_size=after_size, limit=limit + 1)
        page = found[:limit]
        return CheckpointList(
            page, page[-1].tree_size if page else after_size, has_more=len(found) > limit
        )

    async def latest_checkpoint(self) -> Checkpoint:
        stored = await self.store.latest_checkpoint()
        if stored is None:
            raise NoCheckpointYet("the log has not been checkpointed yet")
        return stored.checkpoint

    def export_checkpoints(self) -> AsyncIterator[dict[str, Any]]:
        """Every checkpoint as signed, to keep outside the system."""
        return self.store.checkpoint_documents(batch=self.read_batch)

    def public_key_info(self) -> PublicKeyInfo:
        return PublicKeyInfo(
            log_id=self.log_id,
            key_id=key_id(self.public_key),
            pem=public_key_to_pem(self.public_key).decode("ascii"),
            base64=public_key_to_base64(self.public_key),
            ephemeral=self.ephemeral_key,
        )

    async def verify(self, from_seq: int = 1, to_seq: int | None = None) -> RangeVerification:
        return await verify_range(
            self.store, self.public_key, from_seq, to_seq, read_batch=self.read_batch
        )

    async def prove_inclusion(self, seq: int, tree_size: int | None = None) -> InclusionProof:
        return await prove_inclusion(self.store, seq, tree_size)

    async def prove_consistency(
        self, first_size: int, second_size: int | None = None
    ) -> ConsistencyProof:
        return await prove_consistency(self.store, first_size, second_size)
