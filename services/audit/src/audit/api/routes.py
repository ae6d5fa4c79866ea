"""The auditors' API: read, export, prove and verify the audit log. Read-only throughout."""

import csv
import io
import json
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import AfterValidator, AwareDatetime, BeforeValidator

from audit.adapters.store import AuditStore, EntryFilter
from audit.adapters.verifier import (
    CheckpointNotFound,
    ConsistencyProof,
    InclusionProof,
    LogMismatch,
    LogVerifier,
    RangeVerification,
)
from audit.api.models import (
    ACTOR_PATTERN,
    DOSSIER_ID_PATTERN,
    EVENT_TYPE_PATTERN,
    CheckpointOut,
    CheckpointPage,
    ConsistencyProofOut,
    DossierTrail,
    EntryOut,
    EntryPage,
    FailureOut,
    InclusionProofOut,
    PublicKeyOut,
    VerificationOut,
    VerifyRequest,
)
from audit.domain.canonical import MAX_SAFE_INTEGER
from audit.domain.chain import iso_utc
from audit.domain.checkpoint import Checkpoint, key_id, public_key_to_base64, public_key_to_pem
from audit.domain.personal_data import PersonalDataCipher
from audit.settings import AuditSettings
from chassis.auth import Principal, Role, Scope, require_roles
from chassis.problems import PROBLEM_RESPONSES, Problem

NDJSON = "application/x-ndjson"
CSV_COLUMNS = (
    "seq",
    "event_id",
    "event_type",
    "dossier_id",
    "actor",
    "occurred_at",
    "recorded_at",
    "trace_id",
    "changes",
    "payload",
    "prev_hash",
    "entry_hash",
)
# Lines per chunk of a streamed export: one write per chunk, not per entry.
_CHUNK_LINES = 500
# A spreadsheet would run a cell starting with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

SeqParam = Annotated[int, Query(ge=0, le=MAX_SAFE_INTEGER)]
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _date_time_text(value: Any) -> Any:
    # Pydantic would also read "0.0" as seconds since 1970; the API documents date-time.
    if isinstance(value, str) and not _DATE_TIME.match(value):
        raise ValueError("expected an RFC 3339 date-time with a UTC offset")
    return value


def _representable_in_utc(value: datetime) -> datetime:
    # 0001-01-01T00:00+04:00 is a valid date-time whose UTC instant is before year 1.
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date-time falls outside years 1 to 9999 in UTC") from None
    return value


Timestamp = Annotated[
    AwareDatetime, BeforeValidator(_date_time_text), AfterValidator(_representable_in_utc)
]


@dataclass(frozen=True, slots=True)
class AuditApi:
    """What the routes need, built once in main.py."""

    settings: AuditSettings
    store: AuditStore
    cipher: PersonalDataCipher
    verifier: LogVerifier
    public_key: Ed25519PublicKey
    ephemeral_key: bool


def _cleared(principal: Principal) -> bool:
    return Scope.AUDIT_PII.value in principal.scopes


def _readable(
    document: dict[str, Any], cipher: PersonalDataCipher, cleared: bool
) -> dict[str, Any]:
    """A stored entry as the caller may read it. A damaged document is shown as it is."""
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


def _json_line(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str)


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = _json_line(value)  # type: ignore[arg-type]
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


async def _chunked(lines: AsyncIterator[str]) -> AsyncIterator[bytes]:
    buffer: list[str] = []
    async for line in lines:
        buffer.append(line)
        if len(buffer) >= _CHUNK_LINES:
            yield "".join(buffer).encode("utf-8")
            buffer.clear()
    if buffer:
        yield "".join(buffer).encode("utf-8")


async def _primed(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Fetch the first chunk before the response starts, so a store failure still becomes a
    problem document instead of a cut-off download."""
    first = await anext(chunks, None)

    async def stream() -> AsyncIterator[bytes]:
        if first is not None:
            yield first
        async for chunk in chunks:
            yield chunk

    return stream()


def _checkpoint_out(checkpoint: Checkpoint) -> CheckpointOut:
    return CheckpointOut(**checkpoint.model_dump())


def _verification_out(result: RangeVerification) -> VerificationOut:
    report = result.report
    failure = report.first_failure
    return VerificationOut(
        ok=report.ok,
        from_seq=result.from_seq,
        to_seq=result.to_seq,
        trusted_size=result.trusted_size,
        entries_checked=report.entries_checked,
        checkpoints_checked=report.checkpoints_checked,
        tree_size=report.tree_size,
        root_hash=report.root_hash,
        last_entry_hash=report.last_entry_hash,
        checkpointed_size=report.checkpointed_size,
        first_failure=(
            FailureOut(seq=failure.seq, reason=failure.reason.value, detail=failure.detail)
            if failure is not None
            else None
        ),
    )


def _range(from_seq: int, to_seq: int | None) -> None:
    if to_seq is not None and to_seq < from_seq:
        raise Problem(
            422,
            "Request is not valid",
            "to_seq is before from_seq",
            errors=[{"pointer": "query:/to_seq", "detail": "must not be before from_seq"}],
        )


@contextmanager
def _proof_refusals(pointer: str) -> Iterator[None]:
    """The verifier's refusals as problems: no such checkpoint, a request it cannot
    answer (``pointer`` names the parameter), a log that no longer matches."""
    try:
        yield
    except CheckpointNotFound as exc:
        raise Problem(404, "Checkpoint not found", str(exc)) from exc
    except ValueError as exc:
        raise Problem(
            422,
            "Request is not valid",
            str(exc),
            errors=[{"pointer": pointer, "detail": str(exc)}],
        ) from exc
    except LogMismatch as exc:
        raise Problem(409, "The log does not match its checkpoint", str(exc)) from exc


def build_router(api: AuditApi) -> APIRouter:
    settings = api.settings
    store = api.store
    cipher = api.cipher
    router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=PROBLEM_RESPONSES)
    # Listed in each route's dependencies; FastAPI runs it once per request. Unknown query
    # parameters are refused by the chassis before this runs (chassis.query).
    auditor = require_roles(settings, Role.AUDITOR)

    # ------------------------------------------------------------------ shared parameters

    def entry_filter(
        dossier_id: Annotated[str | None, Query(pattern=DOSSIER_ID_PATTERN)] = None,
        actor: Annotated[str | None, Query(pattern=ACTOR_PATTERN)] = None,
        event_type: Annotated[str | None, Query(pattern=EVENT_TYPE_PATTERN)] = None,
        occurred_from: Annotated[
            Timestamp | None,
            Query(alias="from", description="occurred at or after (with UTC offset)"),
        ] = None,
        occurred_to: Annotated[
            Timestamp | None, Query(alias="to", description="occurred before (with offset)")
        ] = None,
    ) -> EntryFilter:
        if occurred_from and occurred_to and occurred_to <= occurred_from:
            raise Problem(
                422,
                "Request is not valid",
                "the time range is empty",
                errors=[{"pointer": "query:/to", "detail": "must be after from"}],
            )
        return EntryFilter(
            dossier_id=dossier_id,
            actor=actor,
            event_type=event_type,
            occurred_from=iso_utc(occurred_from) if occurred_from else None,
            occurred_to=iso_utc(occurred_to) if occurred_to else None,
        )

    async def page(
        where: EntryFilter, after_seq: int, limit: int, principal: Principal
    ) -> tuple[list[EntryOut], int, bool]:
        documents = await store.find_entries(where, after_seq=after_seq, limit=limit + 1)
        has_more = len(documents) > limit
        documents = documents[:limit]
        cleared = _cleared(principal)
        entries = [EntryOut.model_validate(_readable(d, cipher, cleared)) for d in documents]
        next_after = entries[-1].seq if entries else after_seq
        return entries, next_after, has_more

    # ------------------------------------------------------------------ reading

    @router.get(
        "/dossiers/{dossier_id}",
        summary="A dossier's full audit trail, oldest first",
        response_model=DossierTrail,
        dependencies=[Depends(auditor)],
    )
    async def dossier_trail(
        dossier_id: Annotated[str, Path(pattern=DOSSIER_ID_PATTERN)],
        after_seq: SeqParam = 0,
        limit: Annotated[int, Query(ge=1, le=settings.trail_size_max)] = settings.trail_size_max,
        principal: Principal = Depends(auditor),
    ) -> DossierTrail:
        entries, next_after, has_more = await page(
            EntryFilter(dossier_id=dossier_id), after_seq, limit, principal
        )
        return DossierTrail(
            dossier_id=dossier_id, entries=entries, next_after_seq=next_after, has_more=has_more
        )

    @router.get(
        "/entries",
        summary="Entries matching filters, in log order, one page at a time",
        response_model=EntryPage,
        dependencies=[Depends(auditor)],
    )
    async def entries(
        where: EntryFilter = Depends(entry_filter),
        after_seq: SeqParam = 0,
        limit: Annotated[int, Query(ge=1, le=settings.page_size_max)] = settings.page_size_default,
        principal: Principal = Depends(auditor),
    ) -> EntryPage:
        found, next_after, has_more = await page(where, after_seq, limit, principal)
        return EntryPage(entries=found, next_after_seq=next_after, has_more=has_more)

    # ------------------------------------------------------------------ exports

    def stored_documents(
        where: EntryFilter, after_seq: int, to_seq: int | None
    ) -> AsyncIterator[dict[str, Any]]:
        return store.stream_entries(
            where, after_seq=after_seq, to_seq=to_seq, batch=settings.read_batch
        )

    @router.get(
        "/entries.ndjson",
        summary="Export entries as NDJSON, streamed",
        description="view=sealed (default) gives the entries exactly as sealed, personal data "
        "encrypted: with the checkpoints export and the public key, `python -m audit.cli "
        "verify-export` proves an unfiltered export offline. view=readable gives what the "
        "query API shows (plaintext only with the audit:pii clearance); it cannot be verified.",
        response_class=StreamingResponse,
        responses={200: {"content": {NDJSON: {}}}},
        dependencies=[Depends(auditor)],
    )
    async def export_ndjson(
        where: EntryFilter = Depends(entry_filter),
        after_seq: SeqParam = 0,
        to_seq: Annotated[int | None, Query(ge=1, le=MAX_SAFE_INTEGER)] = None,
        view: Literal["sealed", "readable"] = "sealed",
        principal: Principal = Depends(auditor),
    ) -> StreamingResponse:
        cleared = _cleared(principal)

        async def lines() -> AsyncIterator[str]:
            async for document in stored_documents(where, after_seq, to_seq):
                shown = document if view == "sealed" else _readable(document, cipher, cleared)
                yield _json_line(shown) + "\n"

        return StreamingResponse(
            await _primed(_chunked(lines())),
            media_type=NDJSON,
            headers={"Content-Disposition": 'attachment; filename="audit-entries.ndjson"'},
        )

    @router.get(
        "/entries.csv",
        summary="Export entries as CSV, streamed (as the query API shows them)",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/csv": {}}}},
        dependencies=[Depends(auditor)],
    )
    async def export_csv(
        where: EntryFilter = Depends(entry_filter),
        after_seq: SeqParam = 0,
        to_seq: Annotated[int | None, Query(ge=1, le=MAX_SAFE_INTEGER)] = None,
        principal: Principal = Depends(auditor),
    ) -> StreamingResponse:
        cleared = _cleared(principal)

        def row(values: Iterable[Any]) -> str:
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\r\n").writerow(values)
            return buffer.getvalue()

        async def lines() -> AsyncIterator[str]:
            # The byte order mark lets spreadsheet programs read Vietnamese text as UTF-8.
            yield "\ufeff" + row(CSV_COLUMNS)
            async for document in stored_documents(where, after_seq, to_seq):
                shown = _readable(document, cipher, cleared)
                yield row(_csv_cell(shown.get(column)) for column in CSV_COLUMNS)

        return StreamingResponse(
            await _primed(_chunked(lines())),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="audit-entries.csv"'},
        )

    # ------------------------------------------------------------------ checkpoints

    @router.get(
        "/checkpoints",
        summary="Signed checkpoints by tree size",
        response_model=CheckpointPage,
        dependencies=[Depends(auditor)],
    )
    async def checkpoints(
        after_size: Annotated[int, Query(ge=0, le=MAX_SAFE_INTEGER)] = 0,
        limit: Annotated[int, Query(ge=1, le=settings.page_size_max)] = settings.page_size_default,
        principal: Principal = Depends(auditor),
    ) -> CheckpointPage:
        found = await store.checkpoints(after_size=after_size, limit=limit + 1)
        has_more = len(found) > limit
        found = found[:limit]
        return CheckpointPage(
            checkpoints=[_checkpoint_out(c) for c in found],
            next_after_size=found[-1].tree_size if found else after_size,
            has_more=has_more,
        )

    @router.get(
        "/checkpoints/latest",
        summary="The newest signed checkpoint",
        response_model=CheckpointOut,
        dependencies=[Depends(auditor)],
    )
    async def latest_checkpoint(principal: Principal = Depends(auditor)) -> CheckpointOut:
        stored = await store.latest_checkpoint()
        if stored is None:
            raise Problem(404, "No checkpoint yet", "the log has not been checkpointed yet")
        return _checkpoint_out(stored.checkpoint)

    @router.get(
        "/checkpoints.ndjson",
        summary="Export every checkpoint as NDJSON, to keep outside the system",
        response_class=StreamingResponse,
        responses={200: {"content": {NDJSON: {}}}},
        dependencies=[Depends(auditor)],
    )
    async def export_checkpoints(principal: Principal = Depends(auditor)) -> StreamingResponse:
        async def lines() -> AsyncIterator[str]:
            async for document in store.checkpoint_documents(batch=settings.read_batch):
                yield _json_line(document) + "\n"

        return StreamingResponse(
            await _primed(_chunked(lines())),
            media_type=NDJSON,
            headers={"Content-Disposition": 'attachment; filename="audit-checkpoints.ndjson"'},
        )

    # ------------------------------------------------------------------ proofs

    @router.get(
        "/proofs/inclusion",
        summary="Prove that an entry is in the tree a checkpoint signed",
        response_model=InclusionProofOut,
        dependencies=[Depends(auditor)],
    )
    async def inclusion_proof(
        seq: Annotated[int, Query(ge=1, le=MAX_SAFE_INTEGER)],
        tree_size: Annotated[
            int | None, Query(ge=1, le=MAX_SAFE_INTEGER, description="default: newest")
        ] = None,
        principal: Principal = Depends(auditor),
    ) -> InclusionProofOut:
        with _proof_refusals("query:/seq"):
            proof: InclusionProof = await api.verifier.inclusion(seq, tree_size)
        return InclusionProofOut(
            seq=proof.seq,
            leaf_index=proof.seq - 1,
            tree_size=proof.checkpoint.tree_size,
            entry_hash=str(proof.entry.get("entry_hash")),
            path=[h.hex() for h in proof.path],
            checkpoint=_checkpoint_out(proof.checkpoint),
            entry=proof.entry,
        )

    @router.get(
        "/proofs/consistency",
        summary="Prove that a later checkpoint extends an earlier one",
        response_model=ConsistencyProofOut,
        dependencies=[Depends(auditor)],
    )
    async def consistency_proof(
        first: Annotated[int, Query(ge=1, le=MAX_SAFE_INTEGER)],
        second: Annotated[
            int | None, Query(ge=1, le=MAX_SAFE_INTEGER, description="default: newest")
        ] = None,
        principal: Principal = Depends(auditor),
    ) -> ConsistencyProofOut:
        with _proof_refusals("query:/first"):
            proof: ConsistencyProof = await api.verifier.consistency(first, second)
        return ConsistencyProofOut(
            first=_checkpoint_out(proof.first),
            second=_checkpoint_out(proof.second),
            path=[h.hex() for h in proof.path],
        )

    # ------------------------------------------------------------------ verification

    @router.get(
        "/verify",
        summary="Recompute chain and tree over a range; report the first entry that differs",
        response_model=VerificationOut,
        dependencies=[Depends(auditor)],
    )
    async def verify_get(
        from_seq: Annotated[int, Query(ge=1, le=MAX_SAFE_INTEGER)] = 1,
        to_seq: Annotated[int | None, Query(ge=1, le=MAX_SAFE_INTEGER)] = None,
        principal: Principal = Depends(auditor),
    ) -> VerificationOut:
        _range(from_seq, to_seq)
        return _verification_out(await api.verifier.verify(from_seq, to_seq))

    @router.post(
        "/verify",
        summary="Recompute chain and tree over a range; report the first entry that differs",
        response_model=VerificationOut,
        dependencies=[Depends(auditor)],
    )
    async def verify_post(
        body: VerifyRequest, principal: Principal = Depends(auditor)
    ) -> VerificationOut:
        _range(body.from_seq, body.to_seq)
        return _verification_out(await api.verifier.verify(body.from_seq, body.to_seq))

    # ------------------------------------------------------------------ key

    @router.get(
        "/public-key",
        summary="The Ed25519 key that verifies checkpoints (public, no token needed)",
        response_model=PublicKeyOut,
    )
    async def public_key() -> PublicKeyOut:
        key = api.public_key
        return PublicKeyOut(
            log_id=settings.log_id,
            key_id=key_id(key),
            public_key_pem=public_key_to_pem(key).decode("ascii"),
            public_key_base64=public_key_to_base64(key),
            ephemeral=api.ephemeral_key,
        )

    @router.get(
        "/public-key.pem",
        summary="The checkpoint key as a PEM file, for `audit.cli verify-export --public-key`",
        response_class=PlainTextResponse,
        responses={200: {"content": {"application/x-pem-file": {}}}},
    )
    async def public_key_pem() -> PlainTextResponse:
        return PlainTextResponse(
            public_key_to_pem(api.public_key).decode("ascii"),
            media_type="application/x-pem-file",
        )

    return router
