"""The officers' pages: the agency's queue and one dossier, with the actions the person
may take. Acting sends the version the page was drawn from (``If-Match``): when a colleague
acted first, the page says who did what and when, instead of an error."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from workbench.adapters.api import ServiceProblem, ServiceUnavailable
from workbench.adapters.processing import QueueFilters
from workbench.api.web import (
    CheckedForm,
    PageError,
    Staff,
    Wired,
    not_found,
    passed_on,
    redirect,
    render,
    translator,
)
from workbench.domain.session import Session
from workbench.domain.views import (
    OPEN_STATUSES,
    action_body,
    action_forms,
    apology_view,
    conflict_message,
    decision_view,
    invalid_message,
    local_date,
    local_time,
    queue_rows,
    timeline,
)

router = APIRouter(include_in_schema=False)

_CODE = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$")
_DOSSIER_ID = r"^[0-9a-fA-F-]{8,64}$"
_CURSOR = re.compile(r"^[A-Za-z0-9_=-]{1,512}$")
# The problems of processing that mean "someone else changed it first".
_RACES = frozenset({"version-mismatch", "action-not-allowed", "assigned-elsewhere"})


def _filters(
    status: str | None,
    procedure: str | None,
    overdue: bool,
    assignee: str | None,
    cursor: str | None,
) -> QueueFilters:
    """The queue's filters as asked, each dropped if it is not a value processing knows
    (a hand-edited URL gets the unfiltered queue, not an error)."""
    return QueueFilters(
        statuses=(status,) if status in OPEN_STATUSES else (),
        procedure_code=procedure if procedure and _CODE.match(procedure) else None,
        overdue=overdue,
        assigned_to=assignee if assignee in ("me", "none") else None,
        cursor=cursor if cursor and _CURSOR.match(cursor) else None,
    )


async def queue_page(
    request: Request,
    wired: Wired,
    session: Session,
    filters: QueueFilters,
    *,
    title: str,
    show_filters: bool,
) -> Response:
    t = translator(request)
    try:
        page = await wired.processing.queue(session.token, filters)
    except ServiceProblem as exc:
        if exc.status == 422 and filters.cursor:
            # A stale or foreign cursor: start from the first page.
            page = await wired.processing.queue(
                session.token, dataclasses.replace(filters, cursor=None)
            )
        else:
            raise
    procedures: list[dict[str, Any]] = []
    if show_filters:
        try:
            procedures = await wired.intake.procedures_of(session.agency)
        except (ServiceProblem, ServiceUnavailable):
            procedures = []  # the filter still works by code; the list is a convenience
    next_query = None
    if page.get("next_cursor"):
        params = [("status", s) for s in filters.statuses] + (
            [("procedure", filters.procedure_code)] if filters.procedure_code else []
        )
        if filters.overdue:
            params.append(("overdue", "1"))
        if filters.assigned_to:
            params.append(("assignee", filters.assigned_to))
        params.append(("cursor", page["next_cursor"]))
        next_query = params
    return render(
        request,
        "queue.html",
        {
            "title": t(title),
            "rows": queue_rows(page["items"], session.subject, t),
            "filters": filters,
            "show_filters": show_filters,
            "statuses": OPEN_STATUSES,
            "procedures": procedures,
            "next_query": next_query,
        },
    )


@router.get("/queue")
async def officer_queue(
    request: Request,
    wired: Wired,
    session: Staff,
    status: Annotated[str | None, Query(max_length=64)] = None,
    procedure: Annotated[str | None, Query(max_length=64)] = None,
    overdue: Annotated[str | None, Query(max_length=8)] = None,
    assignee: Annotated[str | None, Query(max_length=8)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    filters = _filters(status, procedure, overdue == "1", assignee, cursor)
    return await queue_page(
        request, wired, session, filters, title="queue.title", show_filters=True
    )


async def _dossier(wired: Wired, session: Session, dossier_id: str) -> dict[str, Any]:
    """The dossier, or the not-found page: processing answers a dossier of another
    agency exactly as one that does not exist, and so does this page."""
    if not re.match(_DOSSIER_ID, dossier_id):
        raise not_found()
    try:
        return await wired.processing.dossier(session.token, dossier_id)
    except ServiceProblem as exc:
        if exc.status in (403, 404, 422):
            raise not_found() from exc
        raise


async def _procedure(wired: Wired, code: str) -> dict[str, Any]:
    """The dossier's procedure from the catalogue (document names, form titles); the page
    still shows without it."""
    try:
        return await wired.intake.procedure(code)
    except (ServiceProblem, ServiceUnavailable):
        return {"required_documents": [], "form_schema": {}}


def _form_fields(form: dict[str, Any], schema: dict[str, Any]) -> list[tuple[str, str]]:
    titles = {k: v.get("title", k) for k, v in (schema.get("properties") or {}).items()}
    return [(str(titles.get(k, k)), _shown(v)) for k, v in form.items()]


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_shown(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    return str(value)


def _dossier_page(
    request: Request,
    session: Session,
    dossier: dict[str, Any],
    procedure: dict[str, Any],
    *,
    notice: str | None = None,
    conflict: str | None = None,
    status_code: int = 200,
) -> Response:
    t = translator(request)
    name = "procedure_name_en" if t.lang == "en" else "procedure_name_vi"
    return render(
        request,
        "dossier.html",
        {
            "dossier": dossier,
            "procedure": f"{dossier['procedure_code']} · {dossier[name]}",
            "status_label": t(f"status.{dossier['status']}"),
            "submitted_at": local_time(dossier["submitted_at"]),
            "due": local_date(dossier["due_date"]),
            "appointment": local_date(dossier["appointment_date"]),
            "acceptance_due": (
                local_date(dossier["acceptance_due_date"])
                if dossier.get("acceptance_due_date") and not dossier.get("accepted_at")
                else None
            ),
            "decision": decision_view(dossier.get("decision")),
            "apology_proposal": apology_view(dossier.get("apology_proposal")),
            "timeline": timeline(dossier["history"], session.actor, t),
            "notes": [
                {
                    "at": local_time(n["at"]),
                    "who": t("actor.you")
                    if n["officer_id"] == session.subject
                    else t("actor.colleague"),
                    "text": n["text"],
                }
                for n in dossier["notes"]
            ],
            "actions": action_forms(dossier["allowed_actions"], t, dossier.get("kind", "")),
            "form_fields": _form_fields(
                dossier.get("form") or {}, procedure.get("form_schema") or {}
            ),
            "documents": [
                {
                    "code": d["code"],
                    "name": d["name_en"] if t.lang == "en" else d["name_vi"],
                }
                for d in procedure.get("required_documents") or []
            ],
            "document_names": {
                d["code"]: (d["name_en"] if t.lang == "en" else d["name_vi"])
                for d in procedure.get("required_documents") or []
            },
            "can_claim": dossier["assignee"] != session.subject
            and dossier["status"] not in ("result_returned", "withdrawn")
            and (dossier["assignee"] is None or session.has("leader")),
            "assignee": (
                t("queue.nobody")
                if not dossier["assignee"]
                else t("queue.you")
                if dossier["assignee"] == session.subject
                else t("queue.colleague")
            ),
            "notice": notice,
            "conflict": conflict,
        },
        status_code=status_code,
    )


_DOCUMENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@router.get("/dossiers/{dossier_id}/documents/{document_id}")
async def open_document(
    request: Request, wired: Wired, session: Staff, dossier_id: str, document_id: str
) -> Response:
    """One of the dossier's documents, passed on from intake as it arrives. Only a
    document the dossier names; anything else is the not-found page."""
    dossier = await _dossier(wired, session, dossier_id)
    named = {a.get("document_id") for a in dossier["attachments"]}
    if not _DOCUMENT_ID.match(document_id) or document_id not in named:
        raise not_found()
    try:
        download = await wired.intake.officer_document(
            session.token, dossier["receipt_code"], document_id
        )
    except ServiceProblem as exc:
        if exc.status in (403, 404):
            raise not_found() from exc
        raise
    return passed_on(download)


@router.get("/dossiers/{dossier_id}")
async def officer_dossier(
    request: Request,
    wired: Wired,
    session: Staff,
    dossier_id: str,
    done: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    dossier = await _dossier(wired, session, dossier_id)
    t = translator(request)
    notice = None
    if done == "note":
        notice = t("dossier.note_added")
    elif done and t.has(f"action.{done}"):
        notice = t("dossier.done", action=t(f"action.{done}"))
    procedure = await _procedure(wired, dossier["procedure_code"])
    return _dossier_page(request, session, dossier, procedure, notice=notice)


def _version(form: Any) -> int:
    try:
        return int(str(form.get("version", "")))
    except ValueError:
        raise PageError(400, "invalid") from None


async def _raced(
    request: Request, wired: Wired, session: Session, dossier_id: str, exc: ServiceProblem
) -> Response:
    """Someone acted first: the dossier as it is now, with who did what and when."""
    t = translator(request)
    dossier = await _dossier(wired, session, dossier_id)
    if exc.type_name == "assigned-elsewhere":
        message = t("dossier.taken")
    else:
        message = conflict_message(dossier["history"], session.actor, datetime.now(UTC), t)
    procedure = await _procedure(wired, dossier["procedure_code"])
    return _dossier_page(request, session, dossier, procedure, conflict=message, status_code=409)


async def _invalid(
    request: Request, wired: Wired, session: Session, dossier: dict[str, Any], detail: str
) -> Response:
    procedure = await _procedure(wired, dossier["procedure_code"])
    return _dossier_page(request, session, dossier, procedure, conflict=detail, status_code=422)


def _detail(request: Request, exc: ServiceProblem) -> str:
    return invalid_message(exc.problem, translator(request))


@router.post("/dossiers/{dossier_id}/actions")
async def act_on_dossier(
    request: Request, wired: Wired, session: Staff, dossier_id: str, form: CheckedForm
) -> Response:
    dossier = await _dossier(wired, session, dossier_id)
    action = str(form.get("action", ""))
    codes = [str(code) for code in form.getlist("missing_documents") if str(code)]
    body = action_body(action, form, {"missing_documents": codes})
    try:
        await wired.processing.act(session.token, dossier_id, _version(form), body)
    except ServiceProblem as exc:
        if exc.status == 412 or exc.type_name in _RACES:
            return await _raced(request, wired, session, dossier_id, exc)
        if exc.status == 409:
            # Not a race: a rule of the workflow (e.g. one supplement request only).
            message = translator(request)("dossier.not_allowed")
            return await _invalid(request, wired, session, dossier, message)
        if exc.status == 422:
            return await _invalid(request, wired, session, dossier, _detail(request, exc))
        raise
    return redirect(f"/dossiers/{dossier_id}?done={action}")


@router.post("/dossiers/{dossier_id}/claim")
async def claim_dossier(
    request: Request, wired: Wired, session: Staff, dossier_id: str, form: CheckedForm
) -> Response:
    await _dossier(wired, session, dossier_id)
    try:
        await wired.processing.claim(session.token, dossier_id, _version(form))
    except ServiceProblem as exc:
        if exc.status in (409, 412):
            return await _raced(request, wired, session, dossier_id, exc)
        raise
    return redirect(f"/dossiers/{dossier_id}?done=claim")


@router.post("/dossiers/{dossier_id}/notes")
async def add_note(
    request: Request, wired: Wired, session: Staff, dossier_id: str, form: CheckedForm
) -> Response:
    dossier = await _dossier(wired, session, dossier_id)
    text = str(form.get("text", "")).strip()
    if not text:
        return await _invalid(
            request, wired, session, dossier, translator(request)("error.invalid.title")
        )
    try:
        await wired.processing.add_note(session.token, dossier_id, text[:4000])
    except ServiceProblem as exc:
        if exc.status == 422:
            return await _invalid(request, wired, session, dossier, _detail(request, exc))
        raise
    return redirect(f"/dossiers/{dossier_id}?done=note")
