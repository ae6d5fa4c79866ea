"""Citizens following their dossier, without an account: the receipt code and the secret
(or the phone) posted in a form, the status and its steps in plain words, the supplement
the officer asked for, and the result document once it is issued.

Nothing personal goes in a URL: the code and secret are posted once and kept, encrypted,
in a cookie that lasts ``WORKBENCH_FOLLOW_UP_MAX_S``. Forms carry a double-submit CSRF
token (``workbench.domain.follow_up``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from workbench.adapters.api import ServiceProblem, ServiceUnavailable
from workbench.adapters.idp import ClientToken
from workbench.api.desk import kept_view, upload_documents
from workbench.api.web import (
    PageError,
    Wired,
    Wiring,
    not_found,
    passed_on,
    redirect,
    render,
    seal,
    set_cookie,
    translator,
    unseal,
    wiring_of,
)
from workbench.domain import csrf, desk_form
from workbench.domain import follow_up as rules
from workbench.domain.follow_up import FollowUp
from workbench.domain.views import local_date, local_time

router = APIRouter(include_in_schema=False)


# --------------------------------------------------------------------------- plumbing


def _csrf_cookie(request: Request) -> str | None:
    return request.cookies.get(rules.CSRF_COOKIE)


def _with_csrf(request: Request, response: Response, token: str) -> Response:
    if _csrf_cookie(request) != token:
        set_cookie(
            response, request, wiring_of(request), rules.CSRF_COOKIE, token, rules.CSRF_COOKIE_MAX_S
        )
    return response


def _token_for(request: Request) -> str:
    """The browser's CSRF token, or a new one (set with the page that shows it)."""
    return _csrf_cookie(request) or rules.fresh_csrf()


async def checked_citizen_form(request: Request) -> FormData:
    """The POSTed form, refused (403) unless its token is the cookie's."""
    form = await request.form()
    if not rules.csrf_accepts(_csrf_cookie(request), form.get(csrf.FIELD)):
        raise PageError(403, "csrf")
    return form


CitizenForm = Annotated[FormData, Depends(checked_citizen_form)]


def _opened(request: Request, wired: Wiring) -> FollowUp | None:
    record = unseal(wired, request.cookies.get(rules.OPENED_COOKIE), wired.settings.follow_up_max_s)
    return FollowUp.from_record(record) if record is not None else None


def _portal(request: Request, wired: Wiring) -> ClientToken | None:
    """The workbench's own portal client, for citizens' uploads; None if not set up."""
    settings = wired.settings
    if not (settings.portal_client_id and settings.portal_client_secret):
        return None
    client: ClientToken | None = getattr(request.app.state, "follow_up_portal", None)
    if client is None:
        client = ClientToken(
            wired.idp.http,
            wired.idp.issuer,
            settings.portal_client_id,
            settings.portal_client_secret.get_secret_value(),
            "portal",
        )
        request.app.state.follow_up_portal = client
    return client


# --------------------------------------------------------------------------- opening


def _opening_page(
    request: Request,
    *,
    errors: Mapping[str, str] | None = None,
    refused: str | None = None,
    entered: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    token = _token_for(request)
    response = render(
        request,
        "citizen/open.html",
        {
            "csrf_token": token,
            "errors": errors or {},
            "refused": refused,
            "entered": entered or {},
        },
        status_code=status_code,
    )
    return _with_csrf(request, response, token)


@router.get("/follow-up")
async def follow_up_form(request: Request) -> Response:
    return _opening_page(request)


@router.post("/follow-up")
async def open_dossier(request: Request, wired: Wired, form: CitizenForm) -> Response:
    code_text = str(form.get("receipt_code", ""))[:64]
    asked = rules.read_opening(
        code_text, str(form.get("secret", ""))[:64], str(form.get("phone", ""))[:32]
    )
    # The receipt code may be shown again; the secret and phone never are.
    entered = {"receipt_code": code_text}
    if asked.follow_up is None:
        return _opening_page(request, errors=asked.errors, entered=entered, status_code=422)
    try:
        status = await _status(wired, asked.follow_up)
    except ServiceProblem as exc:
        if exc.status in (404, 422):
            refused = "citizen.error.not_found"
        elif exc.status == 429:
            refused = "citizen.error.too_many"
        else:
            raise
        return _opening_page(request, refused=refused, entered=entered, status_code=exc.status)
    response = await _dossier_page(request, wired, asked.follow_up, status)
    set_cookie(
        response,
        request,
        wired,
        rules.OPENED_COOKIE,
        seal(wired, asked.follow_up.to_record()),
        wired.settings.follow_up_max_s,
    )
    return response


async def _status(wired: Wiring, opened: FollowUp) -> dict[str, Any]:
    return await wired.intake.status(opened.receipt_code, opened.secret, opened.phone)


# --------------------------------------------------------------------------- the dossier


async def _document_names(wired: Wiring, code: str, lang: str) -> dict[str, str]:
    try:
        procedure = await wired.intake.procedure(code)
    except (ServiceProblem, ServiceUnavailable):
        return {}
    return {
        d["code"]: d["name_en"] if lang == "en" else d["name_vi"]
        for d in procedure.get("required_documents") or []
    }


async def _dossier_page(
    request: Request,
    wired: Wiring,
    opened: FollowUp,
    status: dict[str, Any],
    *,
    errors: Mapping[str, Sequence[str]] | None = None,
    elsewhere: Sequence[tuple[str, str]] = (),
    kept: Mapping[str, list[dict[str, Any]]] | None = None,
    note: str = "",
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    t = translator(request)
    token = _token_for(request)
    names = await _document_names(wired, status["procedure_code"], t.lang)
    errors = errors or {}
    asked_for = list(status.get("missing_documents") or []) or list(names)
    documents = [
        {
            "code": code,
            "name": f"document/{code}",
            "id": f"f-document-{code}",
            "label": names.get(code, code),
            "errors": list(errors.get(f"/document/{code}", ())),
            "kept": (kept or {}).get(code, []),
        }
        for code in asked_for
    ]
    state = str(status["status"])
    key = f"citizen.status.{state}"
    response = render(
        request,
        "citizen/dossier.html",
        {
            "csrf_token": token,
            "status": status,
            "receipt_code": status["receipt_code"],
            "procedure": status["procedure_name_en" if t.lang == "en" else "procedure_name_vi"],
            "state": state,
            "status_words": t(key) if t.has(key) else state,
            "status_label": t(f"status.{state}"),
            "explained": t(f"citizen.explain.{state}") if t.has(f"citizen.explain.{state}") else "",
            "updated_at": local_time(status["updated_at"]),
            "due": local_date(status["due_date"]) if status.get("due_date") else None,
            "steps": rules.steps(state),
            "missing": rules.asked_for(status, names),
            "supplement": rules.needs_supplement(status),
            "uploads_open": _portal(request, wired) is not None,
            "documents": documents,
            "note": note,
            "note_errors": list(errors.get("/note", ())),
            "elsewhere": list(elsewhere),
            "result": rules.result_document(status) is not None,
            "notice": notice,
            # The language switch comes back to the dossier (open in the cookie), not to
            # the form that opened it.
            "here": "/follow-up/dossier",
        },
        status_code=status_code,
    )
    return _with_csrf(request, response, token)


@router.get("/follow-up/dossier")
async def dossier(
    request: Request,
    wired: Wired,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    opened = _opened(request, wired)
    if opened is None:
        return redirect("/follow-up")
    try:
        status = await _status(wired, opened)
    except ServiceProblem as exc:
        if exc.status in (404, 422, 429):
            refused = "citizen.error.too_many" if exc.status == 429 else "citizen.error.not_found"
            return _opening_page(request, refused=refused, status_code=exc.status)
        raise
    t = translator(request)
    notice = t("citizen.supplement_sent") if done == "supplement" else None
    return await _dossier_page(request, wired, opened, status, notice=notice)


@router.post("/follow-up/supplement")
async def supplement(request: Request, wired: Wired, form: CitizenForm) -> Response:
    t = translator(request)
    opened = _opened(request, wired)
    if opened is None:
        return redirect("/follow-up")
    status = await _status(wired, opened)
    portal = _portal(request, wired)
    if portal is None or not rules.needs_supplement(status):
        return await _dossier_page(request, wired, opened, status, status_code=409)
    names = await _document_names(wired, status["procedure_code"], t.lang)
    codes = list(status.get("missing_documents") or []) or list(names)
    note = str(form.get("note", "")).strip()[:2000]
    stored, upload_errors = await upload_documents(wired, await portal.get(), codes, form, t)
    if upload_errors:
        return await _dossier_page(
            request,
            wired,
            opened,
            status,
            errors=upload_errors,
            kept=kept_view(stored),
            note=note,
            status_code=422,
        )
    attachments: list[dict[str, Any]] = []
    attachment_names: list[str] = []
    for code, items in stored.items():
        for item in items:
            attachments.append({"document_code": code, **item})
            attachment_names.append(f"document/{code}")
    if not attachments:
        return await _dossier_page(
            request,
            wired,
            opened,
            status,
            errors={f"/document/{codes[0]}" if codes else "/note": [t("citizen.error.no_file")]},
            note=note,
            status_code=422,
        )
    body: dict[str, Any] = {"attachments": attachments}
    if note:
        body["note"] = note
    try:
        await wired.intake.supplement(opened.receipt_code, opened.secret, opened.phone, body)
    except ServiceProblem as exc:
        if exc.status not in (409, 422):
            raise
        problem_errors = exc.problem.get("errors") or []
        known = {"/note", *(f"/document/{code}" for code in codes)}
        placed = desk_form.place_errors(
            problem_errors if isinstance(problem_errors, list) else [], known, attachment_names
        )
        elsewhere = list(placed.elsewhere)
        if not problem_errors:
            elsewhere.append(("", str(exc.problem.get("detail") or exc.problem.get("title", ""))))
        return await _dossier_page(
            request,
            wired,
            opened,
            status,
            errors=placed.by_pointer,
            elsewhere=elsewhere,
            kept=kept_view(stored),
            note=note,
            status_code=exc.status,
        )
    return redirect("/follow-up/dossier?done=supplement")


@router.get("/follow-up/result")
async def result(request: Request, wired: Wired) -> Response:
    """The issued result document, streamed from intake with the citizen's code and
    secret; the not-found page while there is none."""
    opened = _opened(request, wired)
    if opened is None:
        return redirect("/follow-up")
    status = await _status(wired, opened)
    document_id = rules.result_document(status)
    if document_id is None:
        raise not_found()
    download = await wired.intake.citizen_document(
        opened.receipt_code, document_id, opened.secret, opened.phone
    )
    return passed_on(download)


@router.post("/follow-up/close")
async def close(request: Request, form: CitizenForm) -> Response:
    """Forget the opened dossier on this browser (a shared computer)."""
    response = redirect("/follow-up")
    response.delete_cookie(rules.OPENED_COOKIE, path="/")
    return response
