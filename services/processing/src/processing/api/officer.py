"""The officers' API: the work queue, a dossier, actions, assignment and notes.

Every route is scoped to the agency in the caller's token. A dossier of another agency
and a dossier that does not exist get the very same 403 problem, so an officer cannot
probe for dossiers outside their queue. 403 rather than 404 because the caller is
authenticated and the honest general answer is "not for you"; it is the same answer
whatever lies behind the identifier.
"""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import date, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse

from chassis.auth import Principal, Role, require_roles
from chassis.problems import PROBLEM_RESPONSES, Problem
from processing.adapters.store import DossierStore, QueueFilter
from processing.api.http import decode_cursor, encode_cursor, etag, require_if_match
from processing.api.models import (
    CODE_PATTERN,
    OFFICER_ID_PATTERN,
    ActionIn,
    AssigneeIn,
    DossierOut,
    NoteIn,
    NoteOut,
    QueueItem,
    QueuePage,
)
from processing.commands import DossierNotVisible, DossierService, Officer, VersionMismatch
from processing.domain.dossier import (
    OPEN_STATUSES,
    RUNNING_STATUSES,
    ActionParams,
    AssignedElsewhere,
    ClosedDossier,
    Dossier,
    UnknownDocuments,
)
from processing.domain.workflow import (
    TERMINAL_STATUSES,
    ActorRole,
    DossierStatus,
    MissingParameter,
    RoleNotPermitted,
    TransitionNotAllowed,
    WorkflowError,
    allowed_actions,
)
from processing.settings import ProcessingSettings

# Officers work on everything that still needs them: open cases and decided ones whose
# result has not been handed over yet.
DEFAULT_QUEUE_STATUSES = [s for s in DossierStatus if s not in TERMINAL_STATUSES]

_SORT_FIELDS = {"due_date": "due_date", "received": "submitted_at"}

NOT_VISIBLE = Problem(
    403,
    "Forbidden",
    "there is no dossier with this identifier in your agency's queue",
)

IF_MATCH_DOC = "The ETag of the dossier as last read (its version)"
# Routes that take If-Match answer 428 when it is missing or blank.
PRECONDITION_REQUIRED = {
    428: {**PROBLEM_RESPONSES[412], "description": "Precondition required"},
}


def _officer(principal: Principal) -> Officer:
    if not principal.agency:
        raise Problem(403, "Forbidden", "your token names no agency, so you have no queue")
    role = ActorRole.LEADER if principal.has(Role.LEADER) else ActorRole.OFFICER
    return Officer(
        subject=principal.subject, actor=principal.actor(), agency=principal.agency, role=role
    )


def _problem(exc: Exception) -> Problem:
    if isinstance(exc, DossierNotVisible):
        return NOT_VISIBLE
    if isinstance(exc, VersionMismatch):
        return Problem(
            412,
            "Precondition failed",
            "the dossier has changed since you read it; read it again and decide anew",
            headers={"ETag": etag(exc.current)},
            current_version=exc.current,
        )
    if isinstance(exc, TransitionNotAllowed):
        return Problem(
            409,
            "Action not allowed",
            f"{exc.action} is not possible while the dossier is {exc.status}",
            dossier_status=exc.status.value,
            allowed_actions=[a.value for a in exc.allowed],
        )
    if isinstance(exc, RoleNotPermitted):
        return Problem(403, "Forbidden", f"your role may not {exc.action} this dossier")
    if isinstance(exc, MissingParameter):
        return Problem(
            422,
            "Request is not valid",
            f"{exc.action} needs: {', '.join(exc.missing)}",
            errors=[{"pointer": f"/{name}", "detail": "required"} for name in exc.missing],
        )
    if isinstance(exc, UnknownDocuments):
        return Problem(
            422,
            "Request is not valid",
            "the procedure has no such documents: " + ", ".join(exc.codes),
            errors=[{"pointer": "/missing_documents", "detail": "unknown document code"}],
        )
    if isinstance(exc, AssignedElsewhere):
        return Problem(
            409,
            "Assigned to another officer",
            "another officer has taken this dossier; a leader can reassign it",
            assignee=exc.assignee,
        )
    if isinstance(exc, ClosedDossier):
        return Problem(409, "Dossier closed", str(exc), dossier_status=exc.status.value)
    raise exc


def _respond(
    dossier: Dossier, notes: list[dict[str, Any]], officer: Officer, today: date
) -> JSONResponse:
    allowed = allowed_actions(
        dossier.status, officer.role, dossier.workflow_policy, dossier.deadline_extended
    )
    body = DossierOut.of(dossier, notes, allowed, today)
    return JSONResponse(body.model_dump(mode="json"), headers={"ETag": etag(dossier.version)})


def build_router(
    settings: ProcessingSettings, service: DossierService, store: DossierStore
) -> APIRouter:
    router = APIRouter(prefix="/v1/officer", tags=["officers"], responses=PROBLEM_RESPONSES)
    staff = require_roles(settings, Role.OFFICER, Role.LEADER)
    leader = require_roles(settings, Role.LEADER)

    async def respond(dossier_id: str, officer: Officer) -> JSONResponse:
        try:
            dossier, notes = await service.view(dossier_id, officer.agency)
        except DossierNotVisible as exc:
            raise NOT_VISIBLE from exc
        return _respond(dossier, notes, officer, service.calendar.local_date(service.now()))

    async def changed(
        dossier_id: str, officer: Officer, change: Coroutine[Any, Any, object]
    ) -> JSONResponse:
        """Make ``change`` and answer with the dossier as it is now, or with the problem
        the change ran into."""
        try:
            await change
        except (WorkflowError, DossierNotVisible, VersionMismatch) as exc:
            raise _problem(exc) from exc
        return await respond(dossier_id, officer)

    @router.get("/queue", response_model=QueuePage, summary="The agency's work queue")
    async def queue(
        principal: Principal = Depends(staff),
        status: list[DossierStatus] | None = Query(
            default=None, description="Only these statuses (repeat the parameter)"
        ),
        procedure_code: str | None = Query(default=None, max_length=64, pattern=CODE_PATTERN),
        due_within_days: int | None = Query(
            default=None, ge=0, le=366, description="Due on or before today plus this many days"
        ),
        overdue: bool = Query(default=False, description="Only dossiers past their due date"),
        assigned_to: str | None = Query(
            default=None,
            max_length=128,
            pattern=OFFICER_ID_PATTERN,
            description="`me`, `none` or an officer's id",
        ),
        sort: Literal["due_date", "received"] = Query(
            default="due_date",
            description="`due_date`: overdue first, then the soonest due; `received`: oldest first",
        ),
        cursor: str | None = Query(default=None, max_length=512),
        limit: int = Query(default=20, ge=1),
    ) -> QueuePage:
        officer = _officer(principal)
        if limit > settings.queue_page_max:
            raise Problem(
                422,
                "Request is not valid",
                f"limit may be at most {settings.queue_page_max}",
                errors=[{"pointer": "query:/limit", "detail": "too large"}],
            )
        today = service.calendar.local_date(service.now())
        statuses = list(dict.fromkeys(status)) if status else DEFAULT_QUEUE_STATUSES
        if overdue:
            statuses = [s for s in statuses if s in RUNNING_STATUSES]
        assignee, unassigned = None, False
        if assigned_to == "me":
            assignee = officer.subject
        elif assigned_to == "none":
            unassigned = True
        elif assigned_to:
            assignee = assigned_to
        where = QueueFilter(
            agency=officer.agency,
            statuses=statuses,
            procedure_code=procedure_code,
            due_on_or_before=(
                today + timedelta(days=due_within_days) if due_within_days is not None else None
            ),
            overdue_before=today if overdue else None,
            assignee=assignee,
            unassigned=unassigned,
        )
        sort_field = _SORT_FIELDS[sort]
        after = decode_cursor(cursor, sort) if cursor else None
        documents = await store.queue(where, sort_field, after, limit + 1)
        page, more = documents[:limit], len(documents) > limit
        items = []
        for document in page:
            dossier_status = DossierStatus(document["status"])
            due = document["due_date"]
            apology = document.get("apology") or {}
            appointment = max(due, apology.get("new_due_date") or due)
            running = dossier_status in RUNNING_STATUSES
            items.append(
                QueueItem(
                    dossier_id=document["_id"],
                    receipt_code=document["receipt_code"],
                    procedure_code=document["procedure_code"],
                    procedure_name_vi=document["procedure_name_vi"],
                    procedure_name_en=document["procedure_name_en"],
                    kind=document["kind"],
                    status=dossier_status,
                    version=document["version"],
                    submitted_at=document["submitted_at"],
                    due_date=due,
                    appointment_date=appointment,
                    overdue=running and due < today.isoformat(),
                    clock_paused=dossier_status in OPEN_STATUSES and not running,
                    assignee=document.get("assignee"),
                )
            )
        next_cursor = None
        if more and page:
            last = page[-1]
            next_cursor = encode_cursor(sort, last[sort_field], last["_id"])
        return QueuePage(items=items, next_cursor=next_cursor)

    @router.get(
        "/dossiers/{dossier_id}",
        response_model=DossierOut,
        summary="One dossier, with the actions the caller may take; ETag is its version",
    )
    async def get_dossier(dossier_id: str, principal: Principal = Depends(staff)) -> JSONResponse:
        return await respond(dossier_id, _officer(principal))

    @router.post(
        "/dossiers/{dossier_id}/actions",
        responses=PRECONDITION_REQUIRED,
        response_model=DossierOut,
        summary="Take a workflow action (409 lists the allowed ones)",
    )
    async def act(
        dossier_id: str,
        body: ActionIn,
        principal: Principal = Depends(staff),
        if_match: str | None = Header(default=None, description=IF_MATCH_DOC),
    ) -> JSONResponse:
        officer = _officer(principal)
        expected = require_if_match(if_match)
        params = ActionParams(
            reason=body.reason,
            result_reference=body.result_reference,
            missing_documents=body.missing_documents,
        )
        return await changed(
            dossier_id, officer, service.act(dossier_id, officer, expected, body.action, params)
        )

    @router.post(
        "/dossiers/{dossier_id}/claim",
        responses=PRECONDITION_REQUIRED,
        response_model=DossierOut,
        summary="Take the dossier into your own hands",
    )
    async def claim(
        dossier_id: str,
        principal: Principal = Depends(staff),
        if_match: str | None = Header(default=None, description=IF_MATCH_DOC),
    ) -> JSONResponse:
        officer = _officer(principal)
        expected = require_if_match(if_match)
        return await changed(
            dossier_id, officer, service.assign(dossier_id, officer, expected, officer.subject)
        )

    @router.put(
        "/dossiers/{dossier_id}/assignee",
        responses=PRECONDITION_REQUIRED,
        response_model=DossierOut,
        summary="A leader assigns the dossier to an officer of the agency",
    )
    async def assign(
        dossier_id: str,
        body: AssigneeIn,
        principal: Principal = Depends(leader),
        if_match: str | None = Header(default=None, description=IF_MATCH_DOC),
    ) -> JSONResponse:
        officer = _officer(principal)
        expected = require_if_match(if_match)
        return await changed(
            dossier_id, officer, service.assign(dossier_id, officer, expected, body.officer_id)
        )

    @router.post(
        "/dossiers/{dossier_id}/notes",
        responses=PRECONDITION_REQUIRED,
        response_model=NoteOut,
        status_code=201,
        summary="Add an internal note (If-Match optional: a note changes no state)",
    )
    async def add_note(
        dossier_id: str,
        body: NoteIn,
        principal: Principal = Depends(staff),
        if_match: str | None = Header(default=None, description=IF_MATCH_DOC),
    ) -> JSONResponse:
        officer = _officer(principal)
        expected = require_if_match(if_match) if if_match is not None else None
        try:
            note = await service.add_note(dossier_id, officer, expected, body.text)
        except (DossierNotVisible, VersionMismatch) as exc:
            raise _problem(exc) from exc
        return JSONResponse(NoteOut.model_validate(note).model_dump(mode="json"), status_code=201)

    return router
