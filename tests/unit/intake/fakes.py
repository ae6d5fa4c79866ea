"""In-memory stand-ins for intake's ports, keeping the promises the real adapters keep.

`FakeStore` enforces what the Mongo store's unique indexes and conditional writes
enforce (one submission per idempotency id and per receipt code, one lease holder, a
projection that never goes back a version); `FakePublisher` records what the broker
acknowledged. Both can be told to fail the way their real counterparts fail.
"""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chassis.events import Envelope
from intake.ports import (
    ACCEPTED,
    PENDING,
    BrokerUnavailable,
    Insert,
    ProjectionUpdate,
    StatusUpdate,
    StoreUnavailable,
)

# What the real store's follow-up read projects: everything but the event, the response
# and the sealed identity.
_FOLLOW_UP_FIELDS = (
    "_id",
    "receipt_code",
    "secret_hash",
    "phone_hash",
    "procedure_code",
    "agency",
    "kind",
    "due_date",
    "received_at",
    "pseudonym",
    "state",
)

# What the real store's slip read projects.
_SLIP_FIELDS = (
    "_id",
    "receipt_code",
    "procedure_code",
    "agency",
    "channel",
    "received_at",
    "received_by",
    "due_date",
    "actor",
    "state",
    "event",
)


class FakeStore:
    def __init__(self) -> None:
        self.submissions: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        # Names of methods that raise StoreUnavailable, as when the store is away.
        self.failing: set[str] = set()
        # The next this many inserts find their receipt code taken.
        self.receipt_clashes = 0
        # Round trips of the projection: one per `apply_updates`.
        self.projection_writes = 0

    def _check(self, method: str) -> None:
        if method in self.failing:
            raise StoreUnavailable("ServerSelectionTimeoutError")

    # ----------------------------------------------------------------- submissions

    async def insert_submission(self, document: dict[str, Any]) -> Insert:
        self._check("insert_submission")
        if any(
            s["idempotency_id"] == document["idempotency_id"] for s in self.submissions.values()
        ):
            return Insert.KEY_TAKEN
        if self.receipt_clashes > 0:
            self.receipt_clashes -= 1
            return Insert.RECEIPT_TAKEN
        if any(s["receipt_code"] == document["receipt_code"] for s in self.submissions.values()):
            return Insert.RECEIPT_TAKEN
        self.submissions[document["_id"]] = copy.deepcopy({**document, "state": PENDING})
        return Insert.DONE

    async def by_idempotency_id(self, idempotency_id: str) -> dict[str, Any] | None:
        self._check("by_idempotency_id")
        for submission in self.submissions.values():
            if submission["idempotency_id"] == idempotency_id:
                return copy.deepcopy(submission)
        return None

    async def state(self, dossier_id: str) -> str | None:
        self._check("state")
        found = self.submissions.get(dossier_id)
        return None if found is None else str(found.get("state"))

    async def claim(
        self, dossier_id: str, owner: str, now: datetime, until: datetime
    ) -> dict[str, Any] | None:
        self._check("claim")
        found = self.submissions.get(dossier_id)
        if found is None or found["state"] != PENDING or found["lease_until"] > now:
            return None
        found.update(lease_until=until, lease_owner=owner)
        return copy.deepcopy(found)

    async def release(self, dossier_id: str, owner: str, now: datetime) -> None:
        self._check("release")
        found = self.submissions.get(dossier_id)
        if found is not None and found["state"] == PENDING and found["lease_owner"] == owner:
            found["lease_until"] = now

    async def mark_accepted(self, dossier_id: str, now: datetime) -> None:
        self._check("mark_accepted")
        found = self.submissions.get(dossier_id)
        if found is not None and found["state"] == PENDING:
            found.update(state=ACCEPTED, accepted_at=now)
            found.pop("lease_until", None)
            found.pop("lease_owner", None)

    async def for_follow_up(self, receipt_code: str) -> dict[str, Any] | None:
        self._check("for_follow_up")
        for submission in self.submissions.values():
            if submission["receipt_code"] == receipt_code:
                return {
                    k: copy.deepcopy(v) for k, v in submission.items() if k in _FOLLOW_UP_FIELDS
                }
        return None

    async def by_pseudonym(self, pseudonym: str) -> dict[str, Any] | None:
        self._check("by_pseudonym")
        for submission in self.submissions.values():
            if submission.get("pseudonym") == pseudonym:
                wanted = ("_id", "receipt_code", "agency", "identity")
                return {k: submission[k] for k in wanted if k in submission}
        return None

    async def for_slip(self, receipt_code: str) -> dict[str, Any] | None:
        self._check("for_slip")
        for submission in self.submissions.values():
            if submission["receipt_code"] == receipt_code:
                return {k: copy.deepcopy(v) for k, v in submission.items() if k in _SLIP_FIELDS}
        return None

    # ----------------------------------------------------------------- status projection

    async def status(self, dossier_id: str) -> dict[str, Any] | None:
        self._check("status")
        found = self.statuses.get(dossier_id)
        return None if found is None else copy.deepcopy(found)

    async def apply_updates(self, updates: Sequence[ProjectionUpdate]) -> int:
        self.projection_writes += 1
        changed = 0
        for update in updates:
            current = self.statuses.get(update.dossier_id)
            if isinstance(update, StatusUpdate):
                if current is not None and current.get("version", -1) >= update.version:
                    continue
                self.statuses[update.dossier_id] = {
                    **(current or {}),
                    **copy.deepcopy(update.fields),
                    "version": update.version,
                }
            else:
                if current is None or not current["updated_at"] < update.at:
                    continue
                current.update(due_date=update.due_date, updated_at=update.at)
            changed += 1
        return changed


@dataclass
class FakePublisher:
    started: bool = True
    # When set, the broker does not acknowledge: publish raises and records nothing.
    down: bool = False
    published: list[tuple[Envelope, str]] = field(default_factory=list)

    async def publish(self, envelope: Envelope, *, key: str) -> None:
        if self.down:
            raise BrokerUnavailable("KafkaTimeoutError")
        self.published.append((envelope, key))

    def types(self) -> list[str]:
        return [envelope.type for envelope, _ in self.published]


@dataclass
class FakeThrottle:
    """A fixed number of uses per key, never reset: enough to see what is counted."""

    limit: int
    wait_s: int = 60
    counted: Counter[str] = field(default_factory=Counter)

    async def would_exceed(self, key: str) -> int | None:
        return self.wait_s if self.counted[key] >= self.limit else None

    async def retry_after(self, key: str) -> int | None:
        self.counted[key] += 1
        return self.wait_s if self.counted[key] > self.limit else None


@dataclass
class FakeClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 26, 2, 30, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeUpload:
    """An upload into `FakeDocuments`: invisible until closed, gone once discarded."""

    def __init__(self, files: FakeDocuments, file_id: str) -> None:
        self._files = files
        self.file_id = file_id
        self.written = bytearray()

    async def write(self, chunk: bytes) -> None:
        self._files.check("write")
        self.written += chunk
        # What is written so far is visible only as chunks, never as a file.
        self._files.chunks.setdefault(self.file_id, b"")

    async def close(self) -> None:
        self._files.check("close")
        self._files.files[self.file_id] = bytes(self.written)

    async def discard(self) -> None:
        self._files.check("discard")
        self._files.files.pop(self.file_id, None)
        self._files.chunks.pop(self.file_id, None)
        await self.settled()

    async def settled(self) -> None:
        self._files.markers.discard(self.file_id)


class FakeDocuments:
    """What the GridFS adapter keeps: files (closed uploads), chunks (any upload's bytes
    so far), one record per SHA-256, crash markers and links to dossiers."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.chunks: dict[str, bytes] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.markers: set[str] = set()
        self.links: set[tuple[str, str]] = set()
        # Issued results by dossier id: what `FakeResults` stores, as the adapter's
        # one collection serves both.
        self.issued: dict[str, dict[str, Any]] = {}
        self.failing: set[str] = set()
        self._next = 0

    def check(self, method: str) -> None:
        if method in self.failing:
            raise StoreUnavailable("ServerSelectionTimeoutError")

    @classmethod
    def with_samples(cls, codes: list[str]) -> FakeDocuments:
        """Holding the sample PDF of every code, as if uploaded (tests.support.documents)."""
        from tests.support.documents import attachment_for, sample_pdf

        documents = cls()
        for code in codes:
            data = sample_pdf(f"hoso sample: {code}")
            meta = attachment_for(code)
            file_id = f"sample-{code}"
            documents.files[file_id] = data
            documents.records[file_id] = {
                "_id": file_id,
                "sha256": meta["sha256"],
                "size": meta["size"],
                "media_type": meta["media_type"],
                "name": meta["name"],
                "referenced": False,
            }
        return documents

    async def begin_upload(self, name: str, media_type: str, now: datetime) -> FakeUpload:
        self.check("begin_upload")
        self._next += 1
        file_id = f"{self._next:024x}"
        self.markers.add(file_id)
        return FakeUpload(self, file_id)

    async def record(self, document: dict[str, Any]) -> dict[str, Any]:
        self.check("record")
        for existing in self.records.values():
            if existing["sha256"] == document["sha256"]:
                return copy.deepcopy(existing)
        self.records[document["_id"]] = copy.deepcopy(document)
        return copy.deepcopy(document)

    async def by_sha256(self, sha256: str) -> dict[str, Any] | None:
        self.check("by_sha256")
        for existing in self.records.values():
            if existing["sha256"] == sha256:
                return copy.deepcopy(existing)
        return None

    async def by_sha256s(self, sha256s: Sequence[str]) -> dict[str, dict[str, Any]]:
        self.check("by_sha256s")
        wanted = set(sha256s)
        return {
            existing["sha256"]: copy.deepcopy(existing)
            for existing in self.records.values()
            if existing["sha256"] in wanted
        }

    async def by_id(self, document_id: str) -> dict[str, Any] | None:
        self.check("by_id")
        found = self.records.get(document_id)
        return None if found is None else copy.deepcopy(found)

    async def attach(self, dossier_id: str, document_ids: list[str], now: datetime) -> int:
        self.check("attach")
        kept = 0
        for document_id in set(document_ids):
            if document_id in self.records:
                self.records[document_id]["referenced"] = True
                kept += 1
        if kept == len(set(document_ids)):
            self.links.update((dossier_id, document_id) for document_id in document_ids)
        return kept

    async def is_attached(self, dossier_id: str, document_id: str) -> bool:
        self.check("is_attached")
        return (dossier_id, document_id) in self.links

    async def issued_result(self, dossier_id: str) -> dict[str, Any] | None:
        self.check("issued_result")
        found = self.issued.get(dossier_id)
        return None if found is None else copy.deepcopy(found)

    async def read(self, document_id: str, start: int, end: int) -> AsyncIterator[bytes]:
        data = self.files[document_id][start : end + 1]
        for at in range(0, len(data), 4):
            yield data[at : at + 4]

    async def sweep(self, older_than: datetime) -> int:
        return 0


class FakeResults:
    """What the GridFS adapter keeps of issued results: one per dossier, with its file,
    linked to the dossier once stored."""

    def __init__(self, documents: FakeDocuments) -> None:
        self.documents = documents
        self.results = documents.issued
        self.stored = 0

    async def result_of(self, dossier_id: str) -> dict[str, Any] | None:
        found = self.results.get(dossier_id)
        return None if found is None else copy.deepcopy(found)

    async def store_result(
        self, dossier_id: str, name: str, pdf: bytes, fields: dict[str, Any]
    ) -> dict[str, Any]:
        if dossier_id in self.results:
            return copy.deepcopy(self.results[dossier_id])
        self.stored += 1
        document_id = f"result-{self.stored:018d}"
        self.documents.files[document_id] = pdf
        self.documents.records[document_id] = {
            "_id": document_id,
            "sha256": hashlib.sha256(pdf).hexdigest(),
            "size": len(pdf),
            "media_type": "application/pdf",
            "name": name,
            "referenced": True,
        }
        self.results[dossier_id] = {
            "_id": dossier_id,
            "document_id": document_id,
            "sha256": hashlib.sha256(pdf).hexdigest(),
            "size": len(pdf),
            **fields,
        }
        await self.link_result(dossier_id, document_id, fields["issued_at"])
        return copy.deepcopy(self.results[dossier_id])

    async def link_result(self, dossier_id: str, document_id: str, now: datetime) -> None:
        self.documents.links.add((dossier_id, document_id))
