"""The officers' API: the work queue, the search, a dossier, actions, assignment and
notes.

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

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from chassis.auth import Principal, Role
from chassis.openapi import AUTH_PROBLEMS, BODY_PROBLEMS, headers, problem_responses
from chassis.pagination import CursorParam, link_next
from chassis.problems import (
    FORBIDDEN,
    SERVICE_UNAVAILABLE,
    VALIDATION_FAILED,
    Problem,
    ProblemKind,
)
from processing.api.deps import Leader, Service, Staff
from processing.api.http import decode_cursor, encode_cursor, etag, require_if_match
from processing.api.models import (
    CODE_PATTERN,
    DOSSIER_ID_EXAMPLE,
    OFFICER_ID_PATTERN,
    ActionIn,
    AssigneeIn,
    DossierOut,
    NoteIn,
    NoteOut,
    QueueItem,
    QueuePage,
    SearchIn,
)
from processing.api.problems import (
    ACTION_NOT_ALLOWED,
    ASSIGNED_ELSEWHERE,
    DOSSIER_CLOSED,
    DOSSIER_NOT_VISIBLE,
    PRECONDITION_REQUIRED,
    RESULT_NOT_ISSUED,
    SEARCH_NOT_CONFIGURED,
    SUPPLEMENT_ALREADY_REQUESTED,
    VERSION_MISMATCH,
)
from processing.domain.dossier import (
    ActionParams,
    AssignedElsewhere,
    ClosedDossier,
    Dossier,
    InvalidAcceptance,
    InvalidApology,
    InvalidExtension,
    OwnApology,
    ResultNotIssued,
    SupplementAlreadyRequested,
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
    InvalidLookup,
    Officer,
    ProcessingService,
    QueueQuery,
    SearchQuery,
    SearchUnavailable,
    VersionMismatch,
)
from processing.service import (
    QueuePage as ServiceQueuePage,
)

__all__ = ["DEFAULT_QUEUE_STATUSES", "router"]

NOT_VISIBLE = DOSSIER_NOT_VISIBLE("there is no dossier with this identifier in your agency's queue")

IF_MATCH_DOC = "The ETag of the dossier as last read (its version)"
IfMatch = Annotated[
    str | None, Header(alias="If-Match", description=IF_MATCH_DOC, examples=['"7"'])
]
DossierId = Annotated[str, Path(examples=[DOSSIER_ID_EXAMPLE])]
# What every route can answer before it looks at the dossier: the token check, a token
# without an agency (403), the store away.
_OFFICER = (*AUTH_PROBLEMS, SERVICE_UNAVAILABLE)
# What a change of one dossier can answer besides.
_CHANGE: tuple[ProblemKind, ...] = (
    *_OFFICER,
    DOSSIER_NOT_VISIBLE,
    VERSION_MISMATCH,
    PRECONDITION_REQUIRED,
)
# The dossier as it is after the change, with its new version.
_DOSSIER: dict[int | str, dict[str, Any]] = {200: {"headers": headers("ETag")}}


def _officer(principal: Principal) -> Officer:
    if not principal.agency:
        raise FORBIDDEN("your token names no agency, so you have no queue")
    role = ActorRole.LEADER if principal.has(Role.LEADER) else ActorRole.OFFICER
    return Officer(
        subject=principal.subject, actor=principal.actor(), agency=principal.agency, role=role
    )


def _problem(exc: Exception) -> Problem:
    if isinstance(exc, DossierNotVisible):
        return NOT_VISIBLE
    if isinstance(exc, VersionMismatch):
        return VERSION_MISMATCH(
            "the dossier has changed since you read it; read it again and decide anew",
            headers={"ETag": etag(exc.current)},
            current_version=exc.current,
        )
    if isinstance(exc, TransitionNotAllowed):
        return ACTION_NOT_ALLOWED(
            f"{exc.action} is not possible while the dossier is {exc.status}",
            dossier_status=exc.status.value,
            allowed_actions=[a.value for a in exc.allowed],
        )
    if isinstance(exc, RoleNotPermitted):
        return FORBIDDEN(f"your role may not {exc.action} this dossier")
    if isinstance(exc, MissingParameter):
        return VALIDATION_FAILED(
            f"{exc.action} needs: {', '.join(exc.missing)}",
            errors=[{"pointer": f"/{name}", "detail": "required"} for name in exc.missing],
        )
    if isinstance(exc, UnknownDocuments):
        return VALIDATION_FAILED(
            "the procedure has no such documents: " + ", ".join(exc.codes),
            errors=[{"pointer": "/missing_documents", "detail": "unknown document code"}],
        )
    if isinstance(exc, SupplementAlreadyRequested):
        return SUPPLEMENT_ALREADY_REQUESTED(str(exc), supplement_requests=1)
    if isinstance(exc, InvalidAcceptance | InvalidExtension):
        return VALIDATION_FAILED(
            str(exc), errors=[{"pointer": f"/{exc.field_name}", "detail": str(exc)}]
        )
    if isinstance(exc, InvalidApology):
        return VALIDATION_FAILED(
            str(exc), errors=[{"pointer": "/new_due_date", "detail": str(exc)}]
        )
    if isinstance(exc, OwnApology):
        return FORBIDDEN(str(exc))
    if isinstance(exc, ResultNotIssued):
        return RESULT_NOT_ISSUED(str(exc))
    if isinstance(exc, AssignedElsewhere):
        return ASSIGNED_ELSEWHERE(
            "another officer has taken this dossier; a leader can reassign it",
            assignee=exc.assignee,
        )
    if isinstance(exc, ClosedDossier):
        return DOSSIER_CLOSED(str(exc), dossier_status=exc.status.value)
    raise exc


def _respond(
    dossier: Dossier, notes: list[dict[str, Any]], officer: Officer, today: date
) -> JSONResponse:
    allowed = allowed_actions(
        dossier.status,
        officer.role,
        dossier.workflow_policy,
        dossier.deadline_extended,
        dossier.progress,
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


router = APIRouter(prefix="/v1/officer", tags=["officers"])


@router.get(
    "/queue",
    response_model=QueuePage,
    summary="The agency's work queue",
    description="The dossiers of the caller's agency, filtered and in the order asked, one "
    "page at a time: pass `next_cursor` back as `cursor` (or follow the `Link` header) "
    "with the same filters and order.",
    responses={200: {"headers": headers("Link")}, **problem_responses(*_OFFICER)},
)
async def list_officer_queue(
    request: Request,
    response: Response,
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
    cursor: CursorParam = None,
    limit: Annotated[
        int, Query(ge=1, description="Items per page, at most the deployment's maximum (100)")
    ] = 20,
) -> QueuePage:
    officer = _officer(principal)
    page_max = service.settings.queue_page_max
    if limit > page_max:
        raise VALIDATION_FAILED(
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
    items = _items(page)
    next_cursor = encode_cursor(sort, *page.next_after) if page.next_after else None
    link_next(request, response, next_cursor)
    return QueuePage(items=items, next_cursor=next_cursor)


def _items(page: ServiceQueuePage) -> list[QueueItem]:
    return [
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


@router.post(
    "/dossiers/search",
    response_model=QueuePage,
    summary="Find the agency's dossiers by receipt code, status, procedure, dates, phone or ID",
    description="Every criterion given must hold; oldest received first, one page at a time "
    "(pass `next_cursor` back as `cursor` with the same criteria). The applicant's phone "
    "and ID number are matched through keyed hashes, never stored or logged in clear; "
    "they travel in the body so that no URL carries them. Without the deployment's "
    "search key, a search by them answers 503.",
    responses=problem_responses(*_OFFICER, *BODY_PROBLEMS, SEARCH_NOT_CONFIGURED),
)
async def search_dossiers(body: SearchIn, principal: Staff, service: Service) -> QueuePage:
    officer = _officer(principal)
    page_max = service.settings.queue_page_max
    if body.limit > page_max:
        raise VALIDATION_FAILED(
            f"limit may be at most {page_max}",
            errors=[{"pointer": "/limit", "detail": "too large"}],
        )
    if body.submitted_from and body.submitted_to and body.submitted_from > body.submitted_to:
        raise VALIDATION_FAILED(
            "the period starts after it ends",
            errors=[{"pointer": "/submitted_from", "detail": "after submitted_to"}],
        )
    query = SearchQuery(
        receipt_code=body.receipt_code,
        statuses=body.statuses,
        procedure_code=body.procedure_code,
        submitted_from=body.submitted_from,
        submitted_to=body.submitted_to,
        phone=body.phone,
        id_number=body.id_number,
        after=decode_cursor(body.cursor, "search") if body.cursor else None,
        limit=body.limit,
    )
    try:
        page = await service.search(officer, query)
    except InvalidLookup as exc:
        raise VALIDATION_FAILED(
            str(exc), errors=[{"pointer": f"/{exc.field_name}", "detail": str(exc)}]
        ) from exc
    except SearchUnavailable as exc:
        raise SEARCH_NOT_CONFIGURED(str(exc)) from exc
    next_cursor = encode_cursor("search", *page.next_after) if page.next_after else None
    return QueuePage(items=_items(page), next_cursor=next_cursor)


@router.get(
    "/dossiers/{dossier_id}",
    response_model=DossierOut,
    summary="One dossier, with the actions the caller may take; ETag is its version",
    description="Its history, notes and documents, and `allowed_actions`: what the caller "
    "may do next. Send the `ETag` back as `If-Match` to change it.",
    responses={**_DOSSIER, **problem_responses(*_OFFICER, DOSSIER_NOT_VISIBLE)},
)
async def get_dossier(dossier_id: DossierId, principal: Staff, service: Service) -> JSONResponse:
    return await _current(service, dossier_id, _officer(principal))


@router.post(
    "/dossiers/{dossier_id}/actions",
    response_model=DossierOut,
    summary="Take a workflow action (409 lists the allowed ones)",
    description="Accept or decline a complaint or denunciation, request a supplement "
    "(once, listing everything missing; a second request is a leader's, with the reason), "
    "review, forward, approve, reject, return the result, extend the deadline, draft the "
    "apology slip (`propose_apology`) or sign it off (`sign_apology`, a leader other than "
    "its author), if the dossier is still at the `If-Match` version. Answers with the "
    "dossier as it is now.",
    responses={
        **_DOSSIER,
        **problem_responses(
            *_CHANGE,
            *BODY_PROBLEMS,
            ACTION_NOT_ALLOWED,
            ASSIGNED_ELSEWHERE,
            SUPPLEMENT_ALREADY_REQUESTED,
            RESULT_NOT_ISSUED,
        ),
    },
)
async def act_on_dossier(
    dossier_id: DossierId,
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
        missing_items=body.missing_items,
        decision=body.decision.decision() if body.decision else None,
        complex_case=body.complex,
        remote_area=body.remote_area,
        extension_days=body.extension_days,
        particularly_complex=body.particularly_complex,
        new_due_date=body.new_due_date,
        apology_text=body.apology_text,
    )
    return await _changed(
        service,
        dossier_id,
        officer,
        service.act(dossier_id, officer, expected, body.action, params),
    )


@router.post(
    "/dossiers/{dossier_id}/claim",
    response_model=DossierOut,
    summary="Take the dossier into your own hands",
    description="An officer may not take a dossier another officer holds; a leader may.",
    responses={
        **_DOSSIER,
        **problem_responses(*_CHANGE, ASSIGNED_ELSEWHERE, DOSSIER_CLOSED),
    },
)
async def claim_dossier(
    dossier_id: DossierId, principal: Staff, service: Service, if_match: IfMatch = None
) -> JSONResponse:
    officer = _officer(principal)
    expected = require_if_match(if_match)
    return await _changed(
        service, dossier_id, officer, service.claim(dossier_id, officer, expected)
    )


@router.put(
    "/dossiers/{dossier_id}/assignee",
    response_model=DossierOut,
    summary="A leader assigns the dossier to an officer of the agency",
    description="Replaces whoever held it; a settled dossier is no longer assigned.",
    responses={**_DOSSIER, **problem_responses(*_CHANGE, *BODY_PROBLEMS, DOSSIER_CLOSED)},
)
async def assign_dossier(
    dossier_id: DossierId,
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
    response_model=NoteOut,
    status_code=201,
    summary="Add an internal note (If-Match optional: a note changes no state)",
    description="Officers' notes are never shown to the applicant. The dossier's version "
    "does not change, so a pending decision's `If-Match` still holds.",
    responses=problem_responses(*_CHANGE, *BODY_PROBLEMS),
)
async def add_dossier_note(
    dossier_id: DossierId,
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
