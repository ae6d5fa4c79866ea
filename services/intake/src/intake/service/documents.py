"""Documents: uploaded as a stream, checked, stored once per content, read under audit.

An upload is streamed into the store chunk by chunk while it is hashed and counted;
nothing of it is held whole in memory (a PDF is spooled to a temporary file, in memory
up to a megabyte, for its inspection). Its media type is checked against its first bytes
before anything is written; a file over the size limit, or a PDF a reader would run
script from, is deleted before the answer: a refused upload leaves nothing stored.

A submission's attachment names an uploaded document by its SHA-256, which must be
stored with the declared size and type; the dossier is then linked to it, and only the
dossier's officers and its citizen (receipt code and second factor) may read it. Every
officer's read is published as ``dossier.document-read`` before the first byte goes out,
so the audit log holds it even if the download is cut short.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chassis.auth import Principal, Role
from chassis.events import DossierDocumentRead, make_event
from intake.api.models import AttachmentIn
from intake.domain.documents import (
    PDF,
    SNIFF_BYTES,
    ByteRange,
    RangeNotSatisfiable,
    UploadRules,
    declared_type_error,
    etag_matches,
    parse_range,
    pdf_risks,
    risk_text,
    sniffed_type_error,
)
from intake.domain.receipt import is_valid_receipt_code, normalise_receipt_code
from intake.domain.submission import FieldError, pointer
from intake.ports import (
    BrokerUnavailable,
    Clock,
    DocumentStore,
    FileUpload,
    Publisher,
    StoreUnavailable,
    SubmissionStore,
)
from intake.problems import DOCUMENT_REFUSED, DOCUMENT_TOO_LARGE, RANGE_NOT_SATISFIABLE
from intake.service.common import SOURCE, ConcealedNotFound, store_failed, unavailable, utc_now
from intake.settings import IntakeSettings

if TYPE_CHECKING:
    from intake.service.follow_up import FollowUp, SecondFactor

__all__ = ["Documents", "Download", "StoredDocument", "resolve_attachments"]

log = logging.getLogger("intake.documents")

# A PDF up to this size is inspected in memory; a larger one from a temporary file.
_SPOOL_IN_MEMORY = 1024 * 1024


@dataclass(frozen=True)
class StoredDocument:
    document_id: str
    sha256: str
    size: int
    media_type: str
    deduplicated: bool


@dataclass(frozen=True)
class Download:
    """What a read answers: the document, the range asked for, and its bytes (None when
    the reader's copy is current: 304)."""

    document: dict[str, Any]
    byte_range: ByteRange | None
    chunks: AsyncIterator[bytes] | None

    @property
    def not_modified(self) -> bool:
        return self.chunks is None


class Documents:
    def __init__(
        self,
        *,
        documents: DocumentStore,
        submissions: SubmissionStore,
        publisher: Publisher,
        follow_up: FollowUp,
        settings: IntakeSettings,
        clock: Clock = utc_now,
    ) -> None:
        self._documents = documents
        self._submissions = submissions
        self._publisher = publisher
        self._follow_up = follow_up
        self._settings = settings
        self._clock = clock
        self._rules = UploadRules(
            max_bytes=settings.attachment_max_bytes,
            media_types=frozenset(settings.attachment_media_types),
        )

    # ----------------------------------------------------------------- upload

    async def upload(
        self, body: AsyncIterator[bytes], *, name: str, media_type: str, principal: Principal
    ) -> StoredDocument:
        refused = declared_type_error(media_type, self._rules)
        if refused is not None:
            raise DOCUMENT_REFUSED(refused, risks=[])
        # The first bytes decide the type before anything is written.
        head = bytearray()
        async for chunk in body:
            head += chunk
            if len(head) >= SNIFF_BYTES:
                break
        if not head:
            raise DOCUMENT_REFUSED("the file is empty", risks=[])
        wrong = sniffed_type_error(media_type, bytes(head[:SNIFF_BYTES]))
        if wrong is not None:
            raise DOCUMENT_REFUSED(wrong, risks=[])
        now = self._clock()
        try:
            upload = await self._documents.begin_upload(name, media_type, now)
        except StoreUnavailable as exc:
            store_failed(exc, self._settings)
        inspect = media_type == PDF
        digest = hashlib.sha256()
        size = 0
        recorded = False
        # Only a PDF is spooled, for its inspection; other files pass straight through.
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
            try:
                async for chunk in _with_head(bytes(head), body):
                    size += len(chunk)
                    if size > self._rules.max_bytes:
                        raise DOCUMENT_TOO_LARGE(
                            f"a document may have at most {self._rules.max_bytes} bytes"
                        )
                    digest.update(chunk)
                    await upload.write(chunk)
                    if inspect:
                        spool.write(chunk)
                await upload.close()
                if inspect:
                    spool.seek(0)
                    # pypdf parses on a thread: a large PDF must not stall other requests.
                    risks = await asyncio.to_thread(pdf_risks, spool)
                    if risks:
                        raise DOCUMENT_REFUSED(
                            f"the PDF is refused: {risk_text(risks)}",
                            risks=[r.value for r in risks],
                        )
                record = await self._documents.record(
                    {
                        "_id": upload.file_id,
                        "sha256": digest.hexdigest(),
                        "size": size,
                        "media_type": media_type,
                        "name": name,
                        "uploaded_at": now,
                        "uploaded_by": principal.actor(),
                        "referenced": False,
                    }
                )
                recorded = record["_id"] == upload.file_id
            except StoreUnavailable as exc:
                await _discard_quietly(upload)
                store_failed(exc, self._settings)
            except BaseException:
                # A refusal, a body cut off by the client or the body limit, a
                # cancellation: nothing of this upload may stay.
                await _discard_quietly(upload)
                raise
        if recorded:
            # Should this fail, the sweep finds the record and drops only the marker.
            with contextlib.suppress(StoreUnavailable):
                await upload.settled()
        else:
            # The same bytes are stored already: keep that file, drop this copy.
            await _discard_quietly(upload)
        return StoredDocument(
            document_id=str(record["_id"]),
            sha256=str(record["sha256"]),
            size=int(record["size"]),
            media_type=str(record["media_type"]),
            deduplicated=not recorded,
        )

    # ----------------------------------------------------------------- attachments

    async def resolve(
        self, attachments: Sequence[AttachmentIn], field: str = "attachments"
    ) -> tuple[list[FieldError], list[str]]:
        """The stored document of each attachment, by its declared SHA-256, which must
        have the declared size and media type; what is wrong, else their ids in order."""
        try:
            return await resolve_attachments(self._documents, attachments, field)
        except StoreUnavailable as exc:
            store_failed(exc, self._settings)

    async def attach(self, dossier_id: str, document_ids: list[str]) -> bool:
        """Link the dossier to its documents; False if one was swept meanwhile."""
        try:
            kept = await self._documents.attach(dossier_id, document_ids, self._clock())
        except StoreUnavailable as exc:
            store_failed(exc, self._settings)
        return kept == len(set(document_ids))

    # ----------------------------------------------------------------- reading

    async def for_officer(
        self,
        receipt_code: str,
        document_id: str,
        principal: Principal,
        range_header: str | None,
        if_none_match: str | None,
    ) -> Download:
        """An officer or leader of the dossier's agency, or the one-stop desk (which
        receives for every unit), reads one of its documents; anyone else gets the answer
        an unknown dossier gets."""
        desk = principal.has(Role.DESK)
        if not (desk or principal.has(Role.OFFICER) or principal.has(Role.LEADER)):
            raise ConcealedNotFound()
        try:
            submission = await self._submissions.for_follow_up(_canonical(receipt_code))
        except StoreUnavailable as exc:
            store_failed(exc, self._settings)
        if submission is None or not (desk or submission.get("agency") == principal.agency):
            raise ConcealedNotFound()
        document = await self._attached(submission["_id"], document_id)
        download = self._answer(document, range_header, if_none_match)
        if download.not_modified:
            return download
        now = self._clock()
        read = DossierDocumentRead(
            dossier_id=submission["_id"],
            receipt_code=submission["receipt_code"],
            document_id=document["_id"],
            sha256=document["sha256"],
            read_at=now,
            range=download.byte_range.header() if download.byte_range else None,
        )
        envelope = make_event(read, source=SOURCE, actor=principal.actor(), time=now)
        try:
            await self._publisher.publish(envelope, key=submission["_id"])
        except BrokerUnavailable as exc:
            # No read goes unrecorded: without the audit event, no bytes.
            raise unavailable(
                "the read could not be recorded in the audit log", self._settings
            ) from exc
        return download

    async def for_citizen(
        self,
        receipt_code: str,
        document_id: str,
        factor: SecondFactor,
        range_header: str | None,
        if_none_match: str | None,
    ) -> Download:
        """The citizen reads a document of their own dossier (receipt code and second
        factor, as for its status)."""
        submission = await self._follow_up.opened_submission(receipt_code, factor)
        document = await self._attached(submission["_id"], document_id)
        return self._answer(document, range_header, if_none_match)

    async def _attached(self, dossier_id: str, document_id: str) -> dict[str, Any]:
        try:
            if not await self._documents.is_attached(dossier_id, document_id):
                raise ConcealedNotFound()
            document = await self._documents.by_id(document_id)
        except StoreUnavailable as exc:
            store_failed(exc, self._settings)
        if document is None:
            raise ConcealedNotFound()
        return document

    def _answer(
        self, document: dict[str, Any], range_header: str | None, if_none_match: str | None
    ) -> Download:
        if etag_matches(if_none_match, document["sha256"]):
            return Download(document, None, None)
        size = int(document["size"])
        try:
            wanted = parse_range(range_header, size)
        except RangeNotSatisfiable:
            raise RANGE_NOT_SATISFIABLE(
                f"the document has {size} bytes", headers={"Content-Range": f"bytes */{size}"}
            ) from None
        start, end = (wanted.start, wanted.end) if wanted else (0, size - 1)
        return Download(document, wanted, self._documents.read(document["_id"], start, end))


def _canonical(receipt_code: str) -> str:
    """The code as stored (case and dashes as the receipt prints them); "" for one that
    cannot be a receipt code, which is looked up, and not found, all the same."""
    try:
        canonical = normalise_receipt_code(receipt_code)
    except ValueError:
        return ""
    return canonical if is_valid_receipt_code(canonical) else ""


async def _with_head(head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield head
    async for chunk in rest:
        yield chunk


async def _discard_quietly(upload: FileUpload) -> None:
    try:
        await upload.discard()
    except StoreUnavailable:
        # The upload's marker stays, and the sweep deletes what it left.
        log.warning("upload %s not discarded; the sweep will", upload.file_id)


async def resolve_attachments(
    store: DocumentStore, attachments: Sequence[AttachmentIn], field: str = "attachments"
) -> tuple[list[FieldError], list[str]]:
    """The stored document of each attachment, by its declared SHA-256, which must have
    the declared size and media type: what is wrong, and the ids found, in order."""
    errors: list[FieldError] = []
    ids: list[str] = []
    recorded = await store.by_sha256s([a.sha256 for a in attachments])
    for index, attachment in enumerate(attachments):
        found = recorded.get(attachment.sha256)
        if found is None:
            errors.append(
                FieldError(
                    pointer(field, index, "sha256"),
                    "no uploaded document has this SHA-256: upload it first (POST /v1/documents)",
                )
            )
        elif int(found["size"]) != attachment.size:
            errors.append(
                FieldError(
                    pointer(field, index, "size"),
                    f"the uploaded document with this SHA-256 has {found['size']} bytes",
                )
            )
        elif found["media_type"] != attachment.media_type:
            errors.append(
                FieldError(
                    pointer(field, index, "media_type"),
                    f"the uploaded document with this SHA-256 is {found['media_type']}",
                )
            )
        else:
            ids.append(str(found["_id"]))
    return errors, ids
