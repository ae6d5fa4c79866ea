"""Documents in GridFS: the only module that touches the bucket.

A file's bytes are GridFS chunks of the ``documents`` bucket, written as they arrive;
the file's entry (``documents.files``) is written only once every chunk is in, so a file
cut short by a crash is never listed nor readable. Beside the bucket:

- ``documents``: one record per distinct content, ``_id`` the GridFS file id, a unique
  index on ``sha256``: two uploads of the same bytes keep one file (the second one's is
  deleted and the first one's record answered), the one place deduplication is decided;
- ``document_uploads``: a marker per upload in progress, written before the first
  chunk and deleted once the upload is recorded or discarded, so the chunks of an upload
  a kill -9 cut short are found by an indexed query and swept;
- ``document_links``: which dossier refers to which document (``_id`` both joined), what
  a read is checked against;
- ``results``: the result document issued for a dossier, one per dossier by ``_id``.

Submissions arriving together share their round trips (``chassis.batching``): one look-up
of all their attachments, one marking of those not yet referenced, one write of all
their links.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from bson import Binary, ObjectId
from bson.errors import InvalidId
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo import ASCENDING, UpdateOne
from pymongo.errors import DuplicateKeyError, PyMongoError

from chassis.batching import GroupCommit
from chassis.mongo import StoreDatabase, conflict_retrying, error_summary
from chassis.service import Worker
from intake.ports import StoreUnavailable
from intake.settings import IntakeSettings

__all__ = ["DocumentFiles", "GridUpload", "document_sweep"]

log = logging.getLogger("intake.documents")

BUCKET = "documents"
# GridFS's default chunk size: what the driver reads back chunk by chunk.
CHUNK_SIZE = 255 * 1024
_CHUNK_ORDER = [("files_id", ASCENDING), ("n", ASCENDING)]
_FILE_NAMES = [("filename", ASCENDING), ("uploadDate", ASCENDING)]
_SHA256 = [("sha256", ASCENDING)]
_UNREFERENCED = [("referenced", ASCENDING), ("uploaded_at", ASCENDING)]
_STARTED = [("started_at", ASCENDING)]
# Document ids known referenced, at most (a few MB).
_REFERENCED_HELD = 50_000


@contextmanager
def _store_call() -> Iterator[None]:
    try:
        yield
    except PyMongoError as exc:
        raise StoreUnavailable(error_summary(exc)) from exc


def _object_id(document_id: str) -> ObjectId | None:
    try:
        return ObjectId(document_id)
    except (InvalidId, TypeError):
        return None


class GridUpload:
    """One upload into the bucket, in GridFS's own layout, with its crash marker.

    The chunks are written as they fill: the driver's upload stream (``GridIn``) keeps
    every chunk in memory until it is closed (up to 48 MB), so a file would be held
    whole; here at most one chunk (255 KiB) is. The file's entry, written last, is what
    makes it a file the bucket lists and reads.
    """

    def __init__(
        self, files: DocumentFiles, file_id: ObjectId, name: str, media_type: str, now: datetime
    ) -> None:
        self._files = files
        self._oid = file_id
        self._name = name
        self._media_type = media_type
        self._started = now
        self._pending = bytearray()
        self._chunks = 0
        self._length = 0
        self._closed = False

    @property
    def file_id(self) -> str:
        return str(self._oid)

    async def write(self, chunk: bytes) -> None:
        self._pending += chunk
        self._length += len(chunk)
        while len(self._pending) >= CHUNK_SIZE:
            await self._flush(bytes(self._pending[:CHUNK_SIZE]))
            del self._pending[:CHUNK_SIZE]

    async def _flush(self, data: bytes) -> None:
        with _store_call():
            await self._files.chunks.insert_one(
                {"files_id": self._oid, "n": self._chunks, "data": Binary(data)}
            )
        self._chunks += 1

    async def close(self) -> None:
        if self._pending:
            await self._flush(bytes(self._pending))
            self._pending.clear()
        with _store_call():
            await self._files.files.insert_one(
                {
                    "_id": self._oid,
                    "length": self._length,
                    "chunkSize": CHUNK_SIZE,
                    "uploadDate": self._started,
                    "filename": self._name,
                    "metadata": {"media_type": self._media_type},
                }
            )
        self._closed = True

    async def discard(self) -> None:
        with _store_call():
            if self._closed:
                await self._files.delete_file(self._oid)
            else:
                # The file's entry was never written: its chunks are all there is.
                await self._files.chunks.delete_many({"files_id": self._oid})
        await self.settled()

    async def settled(self) -> None:
        with _store_call():
            await self._files.uploads.delete_one({"_id": self._oid})


class DocumentFiles:
    def __init__(self, db: StoreDatabase) -> None:
        self._bucket = AsyncGridFSBucket(db, bucket_name=BUCKET)
        self._records = db["documents"]
        self.uploads = db["document_uploads"]
        # The bucket's own collections, which uploads write in its layout.
        self.files = db[f"{BUCKET}.files"]
        self.chunks = db[f"{BUCKET}.chunks"]
        self._links = db["document_links"]
        self.results = db["results"]
        # Documents seen referenced. A reference is never taken back (the sweep deletes
        # only unreferenced records, conditionally), so attaching one of these again
        # needs no write to keep it: the same few forms are attached to dossier after
        # dossier. Forgotten wholesale past a bound; forgetting only costs a write.
        self._referenced: set[str] = set()
        # Concurrent submissions share their round trips (chassis.batching): one look-up
        # of all their attachments, one marking and one linking write for all of them.
        self._lookups: GroupCommit[list[str], dict[str, dict[str, Any]]] = GroupCommit(
            self._look_up_many
        )
        self._attachments: GroupCommit[_Attachment, int] = GroupCommit(self._attach_many)

    async def create_indexes(self) -> None:
        # What the driver's upload stream would make on its first write (GridFS spec).
        await self.chunks.create_index(_CHUNK_ORDER, unique=True)
        await self.files.create_index(_FILE_NAMES)
        await self._records.create_index(_SHA256, unique=True)
        await self._records.create_index(_UNREFERENCED)
        await self.uploads.create_index(_STARTED)

    # ----------------------------------------------------------------- writing

    async def begin_upload(self, name: str, media_type: str, now: datetime) -> GridUpload:
        file_id = ObjectId()
        with _store_call():
            # The marker first: from here on, whatever the upload leaves is findable.
            await self.uploads.insert_one({"_id": file_id, "started_at": now})
        return GridUpload(self, file_id, name, media_type, now)

    async def delete_file(self, file_id: ObjectId) -> None:
        # NoFile: no file entry (never closed, or deleted already); its chunks, if any,
        # are deleted all the same.
        with contextlib.suppress(NoFile):
            await self._bucket.delete(file_id)

    async def record(self, document: dict[str, Any]) -> dict[str, Any]:
        with _store_call():
            try:
                # Two uploads of the same bytes at once race on the unique hash.
                async for attempt in conflict_retrying():
                    with attempt:
                        await self._records.insert_one(document)
            except DuplicateKeyError:
                existing = await self._records.find_one(
                    {"sha256": document["sha256"]}, hint=_SHA256
                )
                if existing is None:
                    # Swept between the refusal and the read: record ours after all.
                    await self._records.insert_one(document)
                    return document
                return _record(existing)
        return document

    # ----------------------------------------------------------------- reading

    async def by_sha256(self, sha256: str) -> dict[str, Any] | None:
        with _store_call():
            found = await self._records.find_one({"sha256": sha256}, hint=_SHA256)
        return None if found is None else _record(found)

    async def by_sha256s(self, sha256s: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not sha256s:
            return {}
        with _store_call():
            return await self._lookups.submit(sorted(set(sha256s)))

    async def _look_up_many(self, requests: list[list[str]]) -> list[dict[str, dict[str, Any]]]:
        wanted = {"sha256": {"$in": sorted({sha256 for request in requests for sha256 in request})}}
        found: dict[str, dict[str, Any]] = {}
        async for record in self._records.find(wanted).hint(_SHA256):
            found[record["sha256"]] = _record(record)
        self._remember_referenced(r["_id"] for r in found.values() if r.get("referenced"))
        return [{s: dict(found[s]) for s in request if s in found} for request in requests]

    def _remember_referenced(self, document_ids: Iterable[str]) -> None:
        if len(self._referenced) > _REFERENCED_HELD:
            self._referenced.clear()
        self._referenced.update(document_ids)

    async def by_id(self, document_id: str) -> dict[str, Any] | None:
        with _store_call():
            found = await self._records.find_one({"_id": document_id})
        return None if found is None else _record(found)

    async def attach(self, dossier_id: str, document_ids: list[str], now: datetime) -> int:
        if not document_ids:
            return 0
        with _store_call():
            return await self._attachments.submit(
                _Attachment(dossier_id, sorted(set(document_ids)), now)
            )

    async def _attach_many(self, requests: list[_Attachment]) -> list[int]:
        # What is not known referenced is marked so: from then on no sweep deletes it.
        unreferenced = sorted({d for r in requests for d in r.document_ids} - self._referenced)
        gone: set[str] = set()
        if unreferenced:
            marked = await self._records.update_many(
                {"_id": {"$in": unreferenced}}, {"$set": {"referenced": True}}
            )
            if marked.matched_count < len(unreferenced):
                # Some were swept meanwhile (rare): which ones. Every record the update
                # matched is referenced now, which no sweep deletes, so a record not
                # found now was gone before it.
                still = self._records.find({"_id": {"$in": unreferenced}}, {"_id": 1})
                gone = set(unreferenced) - {str(r["_id"]) async for r in still}
            self._remember_referenced(d for d in unreferenced if d not in gone)
        # Every link in one round trip; a dossier missing a document is refused, so none
        # of its links is written.
        links = [
            UpdateOne(
                {"_id": f"{r.dossier_id}/{document_id}"},
                {"$setOnInsert": {"linked_at": r.now}},
                upsert=True,
            )
            for r in requests
            if gone.isdisjoint(r.document_ids)
            for document_id in r.document_ids
        ]
        if links:
            await self._links.bulk_write(links, ordered=False)
        return [len(r.document_ids) - len(gone.intersection(r.document_ids)) for r in requests]

    async def is_attached(self, dossier_id: str, document_id: str) -> bool:
        with _store_call():
            found = await self._links.find_one({"_id": f"{dossier_id}/{document_id}"}, {"_id": 1})
        return found is not None

    async def read(self, document_id: str, start: int, end: int) -> AsyncIterator[bytes]:
        oid = _object_id(document_id)
        if oid is None:
            return
        with _store_call():
            grid_out = await self._bucket.open_download_stream(oid)
            await grid_out.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                chunk = await grid_out.readchunk()
                if not chunk:
                    break
                piece = chunk[:remaining]
                remaining -= len(piece)
                yield piece

    # ----------------------------------------------------------------- results

    # The issuing consumer's calls let the driver's errors through: the consumer loop
    # retries an outage and dead-letters anything else.

    async def result_of(self, dossier_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self.results.find_one({"_id": dossier_id})
        return found

    async def issued_result(self, dossier_id: str) -> dict[str, Any] | None:
        with _store_call():
            return await self.result_of(dossier_id)

    async def store_result(
        self, dossier_id: str, name: str, pdf: bytes, fields: dict[str, Any]
    ) -> dict[str, Any]:
        """File, record, result, link, in that order: a crash anywhere leaves either
        nothing the dossier points to (the redelivered approval issues again; the sweep
        takes the leftovers) or the result, which a redelivery finds and re-announces."""
        file_id = ObjectId()
        document_id = str(file_id)
        now = fields["issued_at"]
        await self.uploads.insert_one({"_id": file_id, "started_at": now})
        await self._bucket.upload_from_stream_with_id(
            file_id, name, pdf, metadata={"media_type": "application/pdf"}
        )
        sha256 = hashlib.sha256(pdf).hexdigest()
        await self._records.insert_one(
            {
                "_id": document_id,
                "sha256": sha256,
                "size": len(pdf),
                "media_type": "application/pdf",
                "name": name,
                "uploaded_at": now,
                "uploaded_by": "system:intake",
                "referenced": False,
                "result_of": dossier_id,
            }
        )
        result = {
            "_id": dossier_id,
            "document_id": document_id,
            "sha256": sha256,
            "size": len(pdf),
            **fields,
        }
        try:
            await self.results.insert_one(result)
        except DuplicateKeyError:
            # Another replica issued it first: keep theirs, drop ours.
            await self._records.delete_one({"_id": document_id})
            await self.delete_file(file_id)
            await self.uploads.delete_one({"_id": file_id})
            winner = await self.results.find_one({"_id": dossier_id})
            assert winner is not None
            return dict(winner)
        await self.link_result(dossier_id, document_id, now)
        await self.uploads.delete_one({"_id": file_id})
        return result

    async def link_result(self, dossier_id: str, document_id: str, now: datetime) -> None:
        await self._records.update_one({"_id": document_id}, {"$set": {"referenced": True}})
        await self._links.update_one(
            {"_id": f"{dossier_id}/{document_id}"},
            {"$setOnInsert": {"linked_at": now}},
            upsert=True,
        )

    # ----------------------------------------------------------------- sweeping

    async def sweep(self, older_than: datetime) -> int:
        swept = 0
        with _store_call():
            async for marker in self.uploads.find(
                {"started_at": {"$lt": older_than}}, {"_id": 1}
            ).hint(_STARTED):
                oid = marker["_id"]
                # A crash after the record and before the marker went: the file stays.
                if await self._records.find_one({"_id": str(oid)}, {"_id": 1}) is None:
                    await self.delete_file(oid)
                    swept += 1
                await self.uploads.delete_one({"_id": oid})
            async for record in self._records.find(
                {"referenced": False, "uploaded_at": {"$lt": older_than}}, {"_id": 1}
            ).hint(_UNREFERENCED):
                # Conditional: a submission that referenced it meanwhile keeps it.
                gone = await self._records.delete_one({"_id": record["_id"], "referenced": False})
                if gone.deleted_count:
                    oid = _object_id(record["_id"])
                    if oid is not None:
                        await self.delete_file(oid)
                    swept += 1
        return swept


class _Attachment(NamedTuple):
    """One dossier's documents to link, as `DocumentFiles.attach` queues them."""

    dossier_id: str
    document_ids: list[str]
    now: datetime


def _record(found: dict[str, Any]) -> dict[str, Any]:
    return {**found, "_id": str(found["_id"])}


def document_sweep(files: DocumentFiles, settings: IntakeSettings) -> Worker:
    """The worker that sweeps, every few minutes, what no submission kept: uploads
    nobody named within the time allowed and the chunks of cut-short uploads. Several
    replicas may sweep at once: every deletion is conditional or idempotent."""

    async def run() -> None:
        while True:
            older_than = datetime.now(UTC) - timedelta(seconds=settings.document_unreferenced_ttl_s)
            try:
                swept = await files.sweep(older_than)
                if swept:
                    log.info("swept %d unreferenced or unfinished uploads", swept)
            except StoreUnavailable as exc:
                log.warning("document sweep skipped: %s", exc)
            await asyncio.sleep(settings.document_sweep_every_s)

    return run
