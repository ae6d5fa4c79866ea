"""The one-stop desk: a paper dossier of any unit keyed in at the counter (or from the
post), its documents uploaded, the receipt handed over and its slip printed.

The procedure's form is drawn from its JSON Schema on the server; intake validates the
submission and its field errors come back beside their inputs. Each chosen file is
streamed to intake's upload as the form is read, never held whole; a file already
uploaded is kept (by its hash) when the form comes back with errors, so the desk does
not choose it again.
"""

from __future__ import annotations

import json
import mimetypes
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from workbench.adapters.api import ServiceProblem
from workbench.adapters.streaming import chunks_of
from workbench.api.web import (
    CheckedForm,
    PageError,
    Wired,
    not_found,
    passed_on,
    render,
    role_check,
    translator,
)
from workbench.domain import desk_form
from workbench.domain.desk_form import Field
from workbench.domain.i18n import Translator
from workbench.domain.session import Session

router = APIRouter(include_in_schema=False)

Desk = Annotated[Session, Depends(role_check("desk"))]

_CODE = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$")
_RECEIPT = re.compile(r"^[A-Za-z0-9-]{4,40}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_CHANNELS = ("counter", "post")
# Kinds whose applicant writes a free text (đơn) rather than a form.
_TEXT_KINDS = frozenset({"petition", "complaint", "denunciation"})
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def applicant_schema(t: Translator) -> dict[str, Any]:
    """The applicant's inputs, as a schema of their own so that they are drawn, read
    back and given their errors (``/applicant/...``) like the procedure's form."""
    return {
        "type": "object",
        "required": ["type", "name", "id_number"],
        "properties": {
            "type": {
                "title": t("desk.applicant.type"),
                "oneOf": [
                    {"const": "person", "title": t("desk.applicant.person")},
                    {"const": "organisation", "title": t("desk.applicant.organisation")},
                ],
            },
            "name": {"type": "string", "maxLength": 200, "title": t("desk.applicant.name")},
            "id_number": {
                "type": "string",
                "maxLength": 14,
                "title": t("desk.applicant.id_number"),
                "description": t("desk.applicant.id_number_hint"),
            },
            "phone": {"type": "string", "maxLength": 20, "title": t("desk.applicant.phone")},
            "email": {"type": "string", "maxLength": 254, "title": t("desk.applicant.email")},
            "address": {
                "type": "string",
                "maxLength": 300,
                "title": t("desk.applicant.address"),
            },
            "language": {
                "title": t("desk.applicant.language"),
                "oneOf": [
                    {"const": "vi", "title": "Tiếng Việt"},
                    {"const": "en", "title": "English"},
                ],
            },
        },
    }


# --------------------------------------------------------------------------- choosing


@router.get("/desk")
async def choose_procedure(request: Request, wired: Wired, session: Desk) -> Response:
    return await _choice_page(request, wired)


async def _choice_page(request: Request, wired: Wired, status_code: int = 200) -> Response:
    t = translator(request)
    by_agency: dict[str, dict[str, Any]] = {}
    for procedure in await wired.intake.procedures():
        agency = procedure["agency"]
        group = by_agency.setdefault(
            agency["code"],
            {"name": agency["name_en"] if t.lang == "en" else agency["name_vi"], "items": []},
        )
        group["items"].append(
            {
                "code": procedure["code"],
                "name": procedure["name_en"] if t.lang == "en" else procedure["name_vi"],
            }
        )
    return render(
        request,
        "desk/choose.html",
        {"agencies": list(by_agency.values()), "unknown": status_code == 404},
        status_code=status_code,
    )


async def _procedure(wired: Wired, code: str) -> dict[str, Any] | None:
    if not _CODE.match(code):
        return None
    try:
        return await wired.intake.procedure(code)
    except ServiceProblem as exc:
        if exc.status in (404, 422):
            return None
        raise


# --------------------------------------------------------------------------- the form


def _entered(form: FormData) -> dict[str, str]:
    """The form's text inputs (files aside), the first value of each."""
    found: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, str) and key not in found:
            found[key] = value
    return found


def _kept(form: FormData | None, code: str) -> list[dict[str, Any]]:
    """The documents of ``code`` already uploaded when the form last came back."""
    if form is None:
        return []
    kept = []
    for raw in form.getlist(f"kept/{code}"):
        try:
            item = json.loads(str(raw))
        except ValueError:
            continue
        if (
            isinstance(item, dict)
            and _SHA256.match(str(item.get("sha256", "")))
            and isinstance(item.get("size"), int)
            and isinstance(item.get("name"), str)
            and isinstance(item.get("media_type"), str)
        ):
            kept.append({k: item[k] for k in ("sha256", "size", "name", "media_type")})
    return kept


def _documents(
    procedure: dict[str, Any],
    t: Translator,
    errors: Mapping[str, Sequence[str]],
    kept: Mapping[str, list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    drawn = []
    for document in procedure.get("required_documents") or []:
        name = f"document/{document['code']}"
        drawn.append(
            {
                "code": document["code"],
                "name": name,
                "id": "f-" + name.replace("/", "-"),
                "label": document["name_en"] if t.lang == "en" else document["name_vi"],
                "mandatory": bool(document.get("mandatory", True)),
                "errors": list(errors.get("/" + name, ())),
                "kept": kept.get(document["code"], []),
            }
        )
    return drawn


def _summary(
    drawn: Sequence[Field],
    documents: Sequence[dict[str, Any]],
    top: Sequence[dict[str, Any]],
    elsewhere: Sequence[tuple[str, str]],
) -> list[dict[str, str]]:
    """The error summary at the top of the form: each error with a link to its input."""
    found: list[dict[str, str]] = []

    def walk(items: Sequence[Field], within: str = "") -> None:
        for item in items:
            label = f"{within} › {item.label}" if within else item.label
            for detail in item.errors:
                found.append({"href": f"#{item.id}", "label": label, "detail": detail})
            walk(item.children, label)

    walk(drawn)
    for entry in [*top, *documents]:
        for detail in entry["errors"]:
            found.append({"href": f"#{entry['id']}", "label": entry["label"], "detail": detail})
    for pointer, detail in elsewhere:
        found.append({"href": "", "label": pointer, "detail": detail})
    return found


def _form_page(
    request: Request,
    procedure: dict[str, Any],
    *,
    form: FormData | None = None,
    errors: Mapping[str, Sequence[str]] | None = None,
    elsewhere: Sequence[tuple[str, str]] = (),
    kept: Mapping[str, list[dict[str, Any]]] | None = None,
    more_rows: str | None = None,
    status_code: int = 200,
) -> Response:
    t = translator(request)
    errors = errors or {}
    entered = _entered(form) if form is not None else {}
    applicant = desk_form.fields(
        applicant_schema(t), entered, errors, path=("applicant",), more_rows=None
    )
    form_fields = desk_form.fields(
        procedure.get("form_schema") or {}, entered, errors, more_rows=more_rows
    )
    documents = _documents(procedure, t, errors, kept or {})
    channel = entered.get("channel", "counter")
    top = [
        {"id": "f-channel", "label": t("desk.channel"), "errors": list(errors.get("/channel", ()))},
        {
            "id": "f-received_on",
            "label": t("desk.received_on"),
            "errors": list(errors.get("/received_on", ())),
        },
        {"id": "f-content", "label": t("desk.content"), "errors": list(errors.get("/content", ()))},
    ]
    key = entered.get("idempotency_key", "")
    return render(
        request,
        "desk/form.html",
        {
            "procedure": procedure,
            "procedure_name": procedure["name_en"] if t.lang == "en" else procedure["name_vi"],
            "agency_name": procedure["agency"]["name_en" if t.lang == "en" else "name_vi"],
            "applicant": applicant,
            "fields": form_fields,
            "documents": documents,
            "channel": channel if channel in _CHANNELS else "counter",
            "channels": _CHANNELS,
            "received_on": entered.get("received_on", ""),
            "content": entered.get("content", ""),
            "takes_content": procedure.get("kind") in _TEXT_KINDS,
            "top": {item["id"]: item for item in top},
            "summary": _summary([*applicant, *form_fields], documents, top, elsewhere),
            "idempotency_key": key if _is_key(key) else str(uuid.uuid4()),
            # The language switch draws the form anew (what was typed is not kept).
            "here": f"/desk/new?procedure={procedure['code']}",
        },
        status_code=status_code,
    )


def _is_key(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@router.get("/desk/new")
async def new_dossier(
    request: Request,
    wired: Wired,
    session: Desk,
    procedure: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    found = await _procedure(wired, procedure)
    if found is None:
        return await _choice_page(request, wired, status_code=404)
    return _form_page(request, found)


# --------------------------------------------------------------------------- submitting


def _media_type(upload: UploadFile) -> str:
    """The type the browser said, else the one the name suggests; intake checks it
    against the file's own bytes either way."""
    given = (upload.content_type or "").split(";", 1)[0].strip().lower()
    if given and given != "application/octet-stream":
        return given
    guessed, _ = mimetypes.guess_type(upload.filename or "")
    return guessed or "application/octet-stream"


def _file_name(upload: UploadFile) -> str:
    # The name as the applicant knows it, without a path some browsers prepend.
    name = re.split(r"[\\/]", upload.filename or "")[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()
    return name[:255] or "tai-lieu"


async def upload_documents(
    wired: Wired, token: str, codes: Sequence[str], form: FormData, t: Translator
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[str]]]:
    """Every file chosen in the inputs ``document/<code>``, streamed to intake one after
    another as the form holds them; the documents by code (those kept from an earlier
    try included) and the upload errors by input pointer."""
    stored: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, list[str]] = {}
    for code in codes:
        stored[code] = _kept(form, code)
        for upload in form.getlist(f"document/{code}"):
            if not isinstance(upload, UploadFile) or not upload.filename:
                continue  # an input left empty
            media_type = _media_type(upload)
            name = _file_name(upload)
            try:
                answer = await wired.intake.upload(token, name, media_type, chunks_of(upload))
            except ServiceProblem as exc:
                if exc.status in (400, 413, 415, 422):
                    detail = str(exc.problem.get("detail") or t("desk.upload_refused"))
                    errors.setdefault(f"/document/{code}", []).append(f"{name}: {detail}")
                    continue
                raise
            finally:
                await upload.close()
            stored[code].append(
                {
                    "sha256": str(answer["sha256"]),
                    "size": int(answer["size"]),
                    "name": name,
                    "media_type": str(answer.get("media_type") or media_type),
                }
            )
    return stored, errors


def kept_view(stored: Mapping[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return {
        code: [item | {"json": json.dumps(item, separators=(",", ":"))} for item in items]
        for code, items in stored.items()
    }


def submission_of(
    procedure: dict[str, Any],
    entered: Mapping[str, str],
    stored: Mapping[str, list[dict[str, Any]]],
    t: Translator,
) -> tuple[dict[str, Any], list[str]]:
    """The body for intake's ``POST /v1/dossiers`` from the desk's form, and the input
    name of each attachment in order (to put ``/attachments/<i>`` errors beside it)."""
    channel = entered.get("channel", "counter")
    body: dict[str, Any] = {
        "procedure_code": procedure["code"],
        "channel": channel,
        "applicant": desk_form.read_form(applicant_schema(t), entered, root="applicant"),
        "form": desk_form.read_form(procedure.get("form_schema") or {}, entered),
        "attachments": [],
    }
    names: list[str] = []
    for code, items in stored.items():
        for item in items:
            body["attachments"].append({"document_code": code, **item})
            names.append(f"document/{code}")
    content = entered.get("content", "").strip()
    if content and procedure.get("kind") in _TEXT_KINDS:
        body["content"] = content
    received_on = entered.get("received_on", "").strip()
    if channel == "post" and received_on:
        body["received_on"] = received_on
    return body, names


@router.post("/desk/new")
async def submit_dossier(
    request: Request, wired: Wired, session: Desk, form: CheckedForm
) -> Response:
    t = translator(request)
    procedure = await _procedure(wired, str(form.get("procedure", "")))
    if procedure is None:
        raise not_found()
    more = str(form.get("more_rows", ""))
    if more:
        # "Add a row": the same form again, one row longer; nothing is sent.
        return _form_page(
            request,
            procedure,
            form=form,
            kept=kept_view(
                {d["code"]: _kept(form, d["code"]) for d in procedure["required_documents"]}
            ),
            more_rows=more,
        )
    key = str(form.get("idempotency_key", ""))
    if not _is_key(key):
        raise PageError(400, "invalid")
    codes = [d["code"] for d in procedure.get("required_documents") or []]
    stored, upload_errors = await upload_documents(wired, session.token, codes, form, t)
    if upload_errors:
        return _form_page(
            request,
            procedure,
            form=form,
            errors=upload_errors,
            kept=kept_view(stored),
            status_code=422,
        )
    entered = _entered(form)
    body, attachment_names = submission_of(procedure, entered, stored, t)
    try:
        receipt = await wired.intake.submit(session.token, body, key)
    except ServiceProblem as exc:
        if exc.status not in (403, 409, 422):
            raise
        problem_errors = exc.problem.get("errors") or []
        drawn = desk_form.fields(
            applicant_schema(t), entered, {}, path=("applicant",)
        ) + desk_form.fields(procedure.get("form_schema") or {}, entered, {})
        known = desk_form.known_pointers(drawn) | {
            "/channel",
            "/received_on",
            "/content",
            *(f"/document/{d['code']}" for d in procedure.get("required_documents") or []),
        }
        placed = desk_form.place_errors(
            problem_errors if isinstance(problem_errors, list) else [], known, attachment_names
        )
        elsewhere = list(placed.elsewhere)
        if not problem_errors:
            elsewhere.append(("", str(exc.problem.get("detail") or exc.problem.get("title", ""))))
        return _form_page(
            request,
            procedure,
            form=form,
            errors=placed.by_pointer,
            elsewhere=elsewhere,
            kept=kept_view(stored),
            status_code=422 if exc.status == 422 else exc.status,
        )
    return render(
        request,
        "desk/receipt.html",
        {
            "receipt": receipt,
            "procedure_name": procedure["name_en"] if t.lang == "en" else procedure["name_vi"],
            "agency_name": procedure["agency"]["name_en" if t.lang == "en" else "name_vi"],
            "due": _local_date(receipt.get("due_date")),
            # Shown once: the language switch leads to a new dossier, not back here.
            "here": "/desk",
        },
    )


def _local_date(value: Any) -> str:
    text = str(value or "")
    if _DATE.match(text):
        year, month, day = text.split("-")
        return f"{day}/{month}/{year}"
    return text


@router.get("/desk/slips/{receipt_code}")
async def print_slip(wired: Wired, session: Desk, receipt_code: str) -> Response:
    """The receipt-and-appointment slip, streamed from intake with the desk's token."""
    if not _RECEIPT.match(receipt_code):
        raise not_found()
    try:
        slip = await wired.intake.slip(session.token, receipt_code)
    except ServiceProblem as exc:
        if exc.status in (403, 404, 422):
            raise not_found() from exc
        raise
    return passed_on(
        slip,
        disposition=f'inline; filename="giay-tiep-nhan-{receipt_code}.pdf"',
        media_type="application/pdf",
    )
