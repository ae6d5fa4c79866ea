"""The officers' API: the work queue, a dossier, actions, assignment and notes.

Every route is scoped to the agency in the caller's token. A dossier of another agency
and a dossier that does not exist get the very same 403 problem, so an officer cannot
probe for dossiers outside their queue. 403 rather than 404 because the caller is
authenticated and the honest general answer is "not for you"; it is the same answer
whatever lies behind the identifier.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse

from chassis.auth import Principal, Role
from chassis.problems import PROBLEM_RESPONSES, Problem
from processing.api.deps import Leader, Service, Staff
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
from processing.domain.dossier import (
    ActionParams,
    AssignedElsewhere,
    ClosedDossier,
    Dossier,
    UnknownDocuments,
)
from processing.domain.workflow import (
    ActorRole,
    DossierStatus,
    MissingParameter,
    RoleNotPermitted,
    TransitionNotAllowed,
    WorkflowError,
    allowed_actions,
)
from processing.service import (
    DEFAULT_QUEUE_STATUSES,
    DossierNotVisible,
    Officer,
    ProcessingService,
    QueueQuery,
    VersionMismatch,
)

__all__ = ["DEFAULT_QUEUE_STATUSES", "router"]

NOT_VISIBLE = Problem(
    403,
    "Forbidden",
    "there is no dossier with this identifier in your agency's queue",
)

IF_MATCH_DOC = "The ETag of the dossier as last read (its version)"
IfMatch = Annotated[str | None, Header(description=IF_MATCH_DOC)]
# Routes that take If-Match answer 428 when it is missing or blank.
PRECONDITION_REQUIRED: dict[int | str, dict[str, Any]] = {
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


async def _current(service: ProcessingService, dossier_id: str, officer: Officer) -> JSONResponse:
    try:
        dossier, notes = await service.view(dossier_id, officer.agency)
    except DossierNotVisible as exc:
        raise NOT_VISIBLE from exc
    return _respond(dossier, notes, officer, service.today())


async def _changed(
    service: ProcessingService, dossier_id: str, officer: Officer, change: Awaitable[object]
) -> JSONResponse:
    """Make ``change`` and answer with the dossier as it is now, or with the problem the
    change ran into."""
    try:
        await change
    except (WorkflowError, DossierNotVisible, VersionMismatch) as exc:
        raise _problem(exc) from exc
    return await _current(service, dossier_id, officer)


router = APIRouter(prefix="/v1/officer", tags=["officers"], responses=PROBLEM_RESPONSES)


@router.get("/queue", response_model=QueuePage, summary="The agency's work queue")
async def queue(
    principal: Staff,
    service: Service,
    status: Annotated[
        list[DossierStatus] | None,
        Query(description="Only these statuses (repeat the parameter)"),
    ] = None,
    procedure_code: Annotated[str | None, Query(max_length=64, pattern=CODE_PATTERN)] = None,
    due_within_days: Annotated[
        int | None,
        Query(ge=0, le=366, description="Due on or before today plus this many days"),
    ] = None,
    overdue: Annotated[bool, Query(description="Only dossiers past their due date")] = False,
    assigned_to: Annotated[
        str | None,
        Query(
            max_length=128,
            pattern=OFFICER_ID_PATTERN,
            description="`me`, `none` or an officer's id",
        ),
    ] = None,
    sort: Annotated[
        Literal["due_date", "received"],
        Query(
            description="`due_date`: overdue first, then the soonest due; `received`: oldest first",
        ),
    ] = "due_date",
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1)] = 20,
) -> QueuePage:
    officer = _officer(principal)
    page_max = service.settings.queue_page_max
    if limit > page_max:
        raise Problem(
            422,
            "Request is not valid",
            f"limit may be at most {page_max}",
            errors=[{"pointer": "query:/limit", "detail": "too large"}],
        )
    page = await service.queue(
        officer,
        QueueQuery(
            statuses=status,
            procedure_code=procedure_code,
            due_within_days=due_within_days,
            overdue=overdue,
            assigned_to=assigned_to,
            sort=sort,
            after=decode_cursor(cursor, sort) if cursor else None,
            limit=limit,
        ),
    )
    items = [
        QueueItem(
            dossier_id=entry.row.dossier_id,
            receipt_code=entry.row.receipt_code,
            procedure_code=entry.row.procedure_code,
            procedure_name_vi=entry.row.procedure_name_vi,
            procedure_name_en=entry.row.procedure_name_en,
            kind=entry.row.kind,
            status=entry.row.status,
            version=entry.row.version,
            submitted_at=entry.row.submitted_at,
            due_date=entry.row.due_date,
            appointment_date=entry.appointment_date,
            overdue=entry.overdue,
            clock_paused=entry.clock_paused,
            assignee=entry.row.assignee,
        )
        for entry in page.entries
    ]
    next_cursor = encode_cursor(sort, *page.next_after) if page.next_after else None
    return QueuePage(items=items, next_cursor=next_cursor)


@router.get(
    "/dossiers/{dossier_id}",
    response_model=DossierOut,
    summary="One dossier, with the actions the caller may take; ETag is its version",
)
async def get_dossier(dossier_id: str, principal: Staff, service: Service) -> JSONResponse:
    return await _current(service, dossier_id, _officer(principal))


@router.post(
    "/dossiers/{dossier_id}/actions",
    responses=PRECONDITION_REQUIRED,
    response_model=DossierOut,
    summary="Take a workflow action (409 lists the allowed ones)",
)
async def act(
    dossier_id: str,
    body: ActionIn,
    principal: Staff,
    service: Service,
    if_match: IfMatch = None,
) -> JSONResponse:
    officer = _officer(principal)
    expected = require_if_match(if_match)
    params = ActionParams(
        reason=body.reason,
        result_reference=body.result_reference,
        missing_documents=body.missing_documents,
    )
    return await _changed(
        service,
        dossier_id,
        officer,
        service.act(dossier_id, officer, expected, body.action, params),
    )


@router.post(
    "/dossiers/{dossier_id}/claim",
    responses=PRECONDITION_REQUIRED,
    response_model=DossierOut,
    summary="Take the dossier into your own hands",
)
async def claim(
    dossier_id: str, principal: Staff, service: Service, if_match: IfMatch = None
) -> JSONResponse:
    officer = _officer(principal)
    expected = require_if_match(if_match)
    return await _changed(
        service, dossier_id, officer, service.claim(dossier_id, officer, expected)
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
    principal: Leader,
    service: Service,
    if_match: IfMatch = None,
) -> JSONResponse:
    officer = _officer(principal)
    expected = require_if_match(if_match)
    return await _changed(
        service,
        dossier_id,
        officer,
        service.assign(dossier_id, officer, expected, body.officer_id),
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
    principal: Staff,
    service: Service,
    if_match: IfMatch = None,
) -> JSONResponse:
    officer = _officer(principal)
    expected = require_if_match(if_match) if if_match is not None else None
    try:
        note = await service.add_note(dossier_id, officer, expected, body.text)
    except (DossierNotVisible, VersionMismatch) as exc:
        raise _problem(exc) from exc
    return JSONResponse(NoteOut.model_validate(note).model_dump(mode="json"), status_code=201)
