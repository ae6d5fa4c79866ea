"""Auditors reading the entries: a dossier's trail, filtered pages, streamed exports."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse

from audit.api.dependencies import (
    PAGE_SIZE_DEFAULT,
    PAGE_SIZE_MAX,
    TRAIL_SIZE_MAX,
    Auditor,
    Context,
    Filter,
    SeqParam,
    Service,
    auditor,
    cleared,
    limit_refused,
    page_limit,
)
from audit.api.models import DOSSIER_ID_PATTERN, DossierTrail, EntryOut, EntryPage
from audit.api.streaming import NDJSON, csv_lines, ndjson_lines, primed_chunks
from audit.domain.canonical import MAX_SAFE_INTEGER
from audit.service.auditors import EntryList, LimitTooLarge
from chassis.problems import PROBLEM_RESPONSES

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=PROBLEM_RESPONSES)

ToSeq = Annotated[int | None, Query(ge=1, le=MAX_SAFE_INTEGER)]


def _page(found: EntryList, after_seq: int) -> tuple[list[EntryOut], int]:
    entries = [EntryOut.model_validate(d) for d in found.documents]
    return entries, entries[-1].seq if entries else after_seq


@router.get(
    "/dossiers/{dossier_id}",
    summary="A dossier's full audit trail, oldest first",
    response_model=DossierTrail,
    dependencies=[Depends(auditor)],
)
async def dossier_trail(
    request: Request,
    dossier_id: Annotated[str, Path(pattern=DOSSIER_ID_PATTERN)],
    service: Service,
    context: Context,
    principal: Auditor,
    after_seq: SeqParam = 0,
    limit: Annotated[int, Query(ge=1, le=TRAIL_SIZE_MAX)] = TRAIL_SIZE_MAX,
) -> DossierTrail:
    try:
        found = await service.dossier_trail(
            dossier_id,
            after_seq=after_seq,
            limit=page_limit(request, limit, context.settings.trail_size_max),
            cleared=cleared(principal),
        )
    except LimitTooLarge as exc:
        raise limit_refused(exc) from exc
    entries, next_after = _page(found, after_seq)
    return DossierTrail(
        dossier_id=dossier_id, entries=entries, next_after_seq=next_after, has_more=found.has_more
    )


@router.get(
    "/entries",
    summary="Entries matching filters, in log order, one page at a time",
    response_model=EntryPage,
    dependencies=[Depends(auditor)],
)
async def entries(
    request: Request,
    where: Filter,
    service: Service,
    context: Context,
    principal: Auditor,
    after_seq: SeqParam = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE_DEFAULT,
) -> EntryPage:
    try:
        found = await service.entries(
            where,
            after_seq=after_seq,
            limit=page_limit(request, limit, context.settings.page_size_default),
            cleared=cleared(principal),
        )
    except LimitTooLarge as exc:
        raise limit_refused(exc) from exc
    listed, next_after = _page(found, after_seq)
    return EntryPage(entries=listed, next_after_seq=next_after, has_more=found.has_more)


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
    where: Filter,
    service: Service,
    principal: Auditor,
    after_seq: SeqParam = 0,
    to_seq: ToSeq = None,
    view: Literal["sealed", "readable"] = "sealed",
) -> StreamingResponse:
    documents = service.export_entries(
        where, after_seq=after_seq, to_seq=to_seq, view=view, cleared=cleared(principal)
    )
    return StreamingResponse(
        await primed_chunks(ndjson_lines(documents)),
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
    where: Filter,
    service: Service,
    principal: Auditor,
    after_seq: SeqParam = 0,
    to_seq: ToSeq = None,
) -> StreamingResponse:
    documents = service.export_entries(
        where, after_seq=after_seq, to_seq=to_seq, view="readable", cleared=cleared(principal)
    )
    return StreamingResponse(
        await primed_chunks(csv_lines(documents)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit-entries.csv"'},
    )
