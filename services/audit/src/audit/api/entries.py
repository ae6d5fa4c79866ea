"""Auditors reading the entries: a dossier's trail, filtered pages, streamed exports."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
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
from audit.api.models import (
    DOSSIER_ID_EXAMPLE,
    DOSSIER_ID_PATTERN,
    DossierTrail,
    EntryOut,
    EntryPage,
)
from audit.api.streaming import NDJSON, csv_lines, ndjson_lines, primed_chunks
from audit.domain.canonical import MAX_SAFE_INTEGER
from audit.service.auditors import EntryList, LimitTooLarge
from chassis import pagination
from chassis.openapi import AUTH_PROBLEMS, headers, problem_responses
from chassis.pagination import CursorParam
from chassis.problems import SERVICE_UNAVAILABLE

router = APIRouter(prefix="/v1/audit", tags=["entries"])

ToSeq = Annotated[int | None, Query(ge=1, le=MAX_SAFE_INTEGER)]
AfterSeq = Annotated[
    int,
    Query(
        ge=0,
        le=MAX_SAFE_INTEGER,
        description="Filter: only entries after this sequence number. To follow the log as "
        "it grows, ask again with the `seq` of the last entry read.",
    ),
]
_AUDITOR = (*AUTH_PROBLEMS, SERVICE_UNAVAILABLE)
_PAGE: dict[int | str, dict[str, Any]] = {200: {"headers": headers("Link")}}
_PII = (
    " Personal data appears in clear only for a token with the `audit:pii` scope, masked otherwise."
)
# One list each: a cursor of the trail means nothing to the filtered query.
_TRAIL = "trail"
_ENTRIES = "entries"


def _after(cursor: str | None, listing: str, floor: int = 0) -> int:
    """The sequence number a page starts after: the cursor's, never below ``floor``."""
    if cursor is None:
        return floor
    position = pagination.decode_cursor(cursor, listing)
    seq = position[0] if len(position) == 1 else None
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SAFE_INTEGER:
        raise pagination.invalid_cursor()
    return max(floor, seq)


def _page(
    found: EntryList, listing: str, request: Request, response: Response
) -> tuple[list[EntryOut], str | None]:
    entries = [EntryOut.model_validate(d) for d in found.documents]
    next_cursor = (
        pagination.encode_cursor(listing, entries[-1].seq) if found.has_more and entries else None
    )
    pagination.link_next(request, response, next_cursor)
    return entries, next_cursor


@router.get(
    "/dossiers/{dossier_id}",
    summary="A dossier's full audit trail, oldest first",
    description="Every entry of the dossier in log order, one page at a time." + _PII,
    response_model=DossierTrail,
    dependencies=[Depends(auditor)],
    responses={**_PAGE, **problem_responses(*_AUDITOR)},
)
async def get_dossier_trail(
    request: Request,
    response: Response,
    dossier_id: Annotated[str, Path(pattern=DOSSIER_ID_PATTERN, examples=[DOSSIER_ID_EXAMPLE])],
    service: Service,
    context: Context,
    principal: Auditor,
    cursor: CursorParam = None,
    limit: Annotated[int, Query(ge=1, le=TRAIL_SIZE_MAX)] = TRAIL_SIZE_MAX,
) -> DossierTrail:
    try:
        found = await service.dossier_trail(
            dossier_id,
            after_seq=_after(cursor, _TRAIL),
            limit=page_limit(request, limit, context.settings.trail_size_max),
            cleared=cleared(principal),
        )
    except LimitTooLarge as exc:
        raise limit_refused(exc) from exc
    entries, next_cursor = _page(found, _TRAIL, request, response)
    return DossierTrail(dossier_id=dossier_id, entries=entries, next_cursor=next_cursor)


@router.get(
    "/entries",
    summary="Entries matching filters, in log order, one page at a time",
    description="Pass `next_cursor` back as `cursor` (or follow the `Link` header) with the "
    "same filters. New entries only ever come after the last one: to follow the log, "
    "ask again with `after_seq` set to the last `seq` read." + _PII,
    response_model=EntryPage,
    dependencies=[Depends(auditor)],
    responses={**_PAGE, **problem_responses(*_AUDITOR)},
)
async def list_entries(
    request: Request,
    response: Response,
    where: Filter,
    service: Service,
    context: Context,
    principal: Auditor,
    after_seq: AfterSeq = 0,
    cursor: CursorParam = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE_DEFAULT,
) -> EntryPage:
    try:
        found = await service.entries(
            where,
            after_seq=_after(cursor, _ENTRIES, after_seq),
            limit=page_limit(request, limit, context.settings.page_size_default),
            cleared=cleared(principal),
        )
    except LimitTooLarge as exc:
        raise limit_refused(exc) from exc
    listed, next_cursor = _page(found, _ENTRIES, request, response)
    return EntryPage(entries=listed, next_cursor=next_cursor)


def _download(media_type: str, example: str, filename: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "content": {media_type: {"schema": {"type": "string"}, "example": example}},
            "headers": headers("Content-Disposition"),
            "description": f"The file `{filename}`, streamed",
        },
        **problem_responses(*_AUDITOR),
    }


_NDJSON_EXAMPLE = (
    '{"seq":41,"event_id":"…","event_type":"dossier.submitted.v1","prev_hash":"…",'
    '"entry_hash":"…"}\n'
    '{"seq":42,"event_id":"…","event_type":"dossier.status-changed.v1","prev_hash":"…",'
    '"entry_hash":"…"}\n'
)
_CSV_EXAMPLE = (
    "seq,event_id,event_type,dossier_id,actor,occurred_at,recorded_at,trace_id,changes,"
    "payload,prev_hash,entry_hash\r\n"
    "42,6a0f3e2d-…,dossier.status-changed.v1,0b6f1c3e-…,officer:officer-a,"
    "2026-11-27T01:30:00.000Z,2026-11-27T01:30:00.412Z,4bf92f35…,"
    '"[{""field"":""status"",""old"":""received"",""new"":""in_review""}]",'
    '"{…}",5f1d0c8e…,a3c5e7f9…\r\n'
)


@router.get(
    "/entries.ndjson",
    summary="Export entries as NDJSON, streamed",
    description="view=sealed (default) gives the entries exactly as sealed, personal data "
    "encrypted: with the checkpoints export and the public key, `python -m audit.cli "
    "verify-export` proves an unfiltered export offline. view=readable gives what the "
    "query API shows (plaintext only with the audit:pii clearance); it cannot be verified.",
    response_class=StreamingResponse,
    responses=_download(NDJSON, _NDJSON_EXAMPLE, "audit-entries.ndjson"),
    dependencies=[Depends(auditor)],
)
async def export_entries_ndjson(
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
    description="UTF-8 with a byte order mark; cells a spreadsheet would run as a formula "
    "are quoted." + _PII,
    response_class=StreamingResponse,
    responses=_download("text/csv", _CSV_EXAMPLE, "audit-entries.csv"),
    dependencies=[Depends(auditor)],
)
async def export_entries_csv(
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
