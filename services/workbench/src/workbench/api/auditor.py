"""The auditors' pages: search the log, a dossier's trail with what changed, run the
verification, download an export and the public key, check an issued document.

Exports and the key are passed on from audit as it sends them; a PDF to check is passed
on to audit as the browser sends it, never held whole here.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import UploadFile

from workbench.adapters.api import ServiceProblem
from workbench.adapters.streaming import Download, chunks_of
from workbench.api.web import (
    CheckedForm,
    Wired,
    not_found,
    passed_on,
    render,
    role_check,
    translator,
)
from workbench.domain import audit_views
from workbench.domain.session import Session

router = APIRouter(include_in_schema=False)

Auditor = Annotated[Session, Depends(role_check("auditor"))]

_EXPORTS = {"ndjson": "audit-entries.ndjson", "csv": "audit-entries.csv"}
_DOSSIER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_Text = Annotated[str | None, Query(max_length=200)]


def _search(
    dossier_id: _Text = None,
    actor: _Text = None,
    event_type: _Text = None,
    day_from: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    day_to: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> audit_views.Search:
    return audit_views.read_search(dossier_id, actor, event_type, day_from, day_to, cursor)


Searched = Annotated[audit_views.Search, Depends(_search)]


@router.get("/audit")
async def search_log(
    request: Request, wired: Wired, session: Auditor, search: Searched
) -> Response:
    t = translator(request)
    try:
        page = await wired.audit.entries(session.token, search.query(), search.cursor)
    except ServiceProblem as exc:
        if exc.status != 422 or not search.cursor:
            raise
        # A stale cursor: the first page of the same search.
        page = await wired.audit.entries(session.token, search.query())
    next_query = None
    if page.get("next_cursor"):
        next_query = [*search.page_params(), ("cursor", page["next_cursor"])]
    return render(
        request,
        "auditor/search.html",
        {
            "search": search,
            "rows": audit_views.entry_rows(page["entries"], t),
            "event_types": [(e, audit_views.event_label(e, t)) for e in audit_views.EVENT_TYPES],
            "next_query": next_query,
            "export_query": search.page_params(),
        },
    )


@router.get("/audit/dossiers/{dossier_id}")
async def dossier_trail(
    request: Request,
    wired: Wired,
    session: Auditor,
    dossier_id: str,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    t = translator(request)
    if not _DOSSIER_ID.match(dossier_id):
        raise not_found()
    cursor = cursor if cursor and audit_views.CURSOR.match(cursor) else None
    try:
        trail = await wired.audit.trail_page(session.token, dossier_id, cursor)
    except ServiceProblem as exc:
        if exc.status == 422:
            raise not_found() from exc
        raise
    if not trail["entries"] and cursor is None:
        raise not_found()
    return render(
        request,
        "auditor/trail.html",
        {
            "dossier_id": dossier_id,
            "rows": audit_views.entry_rows(trail["entries"], t),
            "next_cursor": trail.get("next_cursor"),
            "cursor": cursor,
        },
    )


# --------------------------------------------------------------------------- verification


@router.get("/audit/verify")
async def verify_form(request: Request, session: Auditor) -> Response:
    return render(request, "auditor/verify.html", {"result": None, "entered": {}, "error": None})


@router.post("/audit/verify")
async def run_verification(
    request: Request, wired: Wired, session: Auditor, form: CheckedForm
) -> Response:
    t = translator(request)
    entered = {name: str(form.get(name, ""))[:20] for name in ("from_seq", "to_seq")}
    try:
        first = audit_views.read_seq(entered["from_seq"])
        last = audit_views.read_seq(entered["to_seq"])
    except ValueError:
        return render(
            request,
            "auditor/verify.html",
            {"result": None, "entered": entered, "error": t("auditor.verify.bad_range")},
            status_code=422,
        )
    if first is not None and last is not None and last < first:
        return render(
            request,
            "auditor/verify.html",
            {"result": None, "entered": entered, "error": t("auditor.verify.bad_range")},
            status_code=422,
        )
    try:
        result = await wired.audit.verify(session.token, first, last)
    except ServiceProblem as exc:
        if exc.status != 422:
            raise
        detail = str(exc.problem.get("detail") or t("auditor.verify.bad_range"))
        return render(
            request,
            "auditor/verify.html",
            {"result": None, "entered": entered, "error": detail},
            status_code=422,
        )
    return render(
        request,
        "auditor/verify.html",
        {"result": audit_views.verification(result, t), "entered": entered, "error": None},
    )


# --------------------------------------------------------------------------- files


def _passed_on(download: Download, filename: str) -> StreamingResponse:
    return passed_on(download, disposition=f'attachment; filename="{filename}"')


@router.get("/audit/export.{kind}")
async def export(wired: Wired, session: Auditor, kind: str, search: Searched) -> Response:
    """The entries of the search as audit exports them (NDJSON: sealed, to verify
    offline; CSV: readable), streamed."""
    if kind not in _EXPORTS:
        raise not_found()
    download = await wired.audit.export(session.token, kind, search.query())
    return _passed_on(download, _EXPORTS[kind])


@router.get("/audit/public-key.pem")
async def public_key(wired: Wired, session: Auditor) -> Response:
    return _passed_on(await wired.audit.public_key_pem(), "audit-public-key.pem")


@router.get("/audit/documents")
async def document_form(request: Request, session: Auditor) -> Response:
    return render(request, "auditor/document.html", {"verdict": None, "error": None})


@router.post("/audit/documents")
async def check_document(
    request: Request, wired: Wired, session: Auditor, form: CheckedForm
) -> Response:
    t = translator(request)
    upload = form.get("document")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return render(
            request,
            "auditor/document.html",
            {"verdict": None, "error": t("auditor.document.choose")},
            status_code=422,
        )
    try:
        verdict = await wired.audit.verify_document(chunks_of(upload))
    except ServiceProblem as exc:
        if exc.status not in (400, 413, 415, 422):
            raise
        return render(
            request,
            "auditor/document.html",
            {"verdict": None, "error": t("auditor.document.not_pdf")},
            status_code=422,
        )
    finally:
        await upload.close()
    return render(
        request,
        "auditor/document.html",
        {
            "verdict": audit_views.document_verdict(verdict, t),
            "error": None,
            "name": upload.filename,
        },
    )
