"""What every page shares: the wiring, the session cookie, rendering with the person's
language, the CSRF check, and the few ways a page can end other than by rendering.

A router declares ``session: Officer`` (or ``SignedIn``, ``Leader`` …) to get the signed-in
person; a POST declares ``form: CheckedForm`` to get a form whose CSRF token was checked.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from fastapi.templating import Jinja2Templates
from starlette.background import BackgroundTask
from starlette.datastructures import FormData

from workbench.adapters.audit import AuditApi
from workbench.adapters.idp import IdentityProvider
from workbench.adapters.intake import IntakeApi
from workbench.adapters.processing import ProcessingApi
from workbench.adapters.streaming import Download
from workbench.domain import csrf
from workbench.domain.i18n import Translator, language
from workbench.domain.navigation import visible
from workbench.domain.session import Session
from workbench.settings import WorkbenchSettings

log = logging.getLogger("workbench")

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
LANG_COOKIE = "hoso_lang"
SIGN_IN_COOKIE_MAX_S = 600


@dataclass
class Wiring:
    settings: WorkbenchSettings
    fernet: Fernet
    templates: Jinja2Templates
    idp: IdentityProvider
    intake: IntakeApi
    processing: ProcessingApi
    audit: AuditApi


def install(app: FastAPI, wiring: Wiring) -> None:
    app.state.wiring = wiring


def wiring_of(request: Request) -> Wiring:
    wiring: Wiring = request.app.state.wiring
    return wiring


Wired = Annotated[Wiring, Depends(wiring_of)]


# --------------------------------------------------------------------------- cookies


def secure_request(request: Request, settings: WorkbenchSettings) -> bool:
    """Served over TLS: the scheme uvicorn saw, which behind a proxy that
    ``FORWARDED_ALLOW_IPS`` trusts is the one the proxy forwarded, or a public URL on
    https."""
    return request.url.scheme == "https" or (settings.public_url or "").startswith("https:")


def session_cookie_name(secure: bool) -> str:
    # __Host-: the browser keeps it only if Secure, for this host and path / alone.
    return "__Host-hoso_session" if secure else "hoso_session"


def sign_in_cookie_name(secure: bool) -> str:
    return "__Host-hoso_sign_in" if secure else "hoso_sign_in"


def seal(wiring: Wiring, record: dict[str, Any]) -> str:
    return wiring.fernet.encrypt(json.dumps(record, separators=(",", ":")).encode()).decode()


def unseal(wiring: Wiring, value: str | None, max_age_s: int) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        record = json.loads(wiring.fernet.decrypt(value.encode(), ttl=max_age_s))
    except (InvalidToken, ValueError):
        return None
    return record if isinstance(record, dict) else None


def set_cookie(
    response: Response, request: Request, wiring: Wiring, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_request(request, wiring.settings),
    )


def current_session(request: Request) -> Session | None:
    """The session of the request's cookie, if it is there, intact and not over."""
    if hasattr(request.state, "session"):
        cached: Session | None = request.state.session
        return cached
    wiring = wiring_of(request)
    secure = secure_request(request, wiring.settings)
    record = unseal(
        wiring, request.cookies.get(session_cookie_name(secure)), wiring.settings.session_max_s
    )
    session = None
    if record is not None:
        try:
            candidate = Session.from_record(record)
        except (KeyError, TypeError, ValueError):
            candidate = None
        if candidate is not None and candidate.live(time.time()):
            session = candidate
    request.state.session = session
    return session


# --------------------------------------------------------------------------- endings


class SignInRequired(Exception):
    """No live session: off to the identity provider, back here afterwards."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class PageError(Exception):
    """A page that ends in an error page: ``kind`` names its words (error.<kind>.*)."""

    def __init__(self, status: int, kind: str) -> None:
        self.status = status
        self.kind = kind


def not_found() -> PageError:
    return PageError(404, "not_found")


def _requested_path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def signed_in(request: Request) -> Session:
    session = current_session(request)
    if session is None:
        raise SignInRequired(_requested_path(request) if request.method == "GET" else "/")
    return session


def role_check(*roles: str) -> Any:
    def dependency(request: Request) -> Session:
        session = signed_in(request)
        if not session.has(*roles):
            raise PageError(403, "forbidden")
        return session

    return dependency


SignedIn = Annotated[Session, Depends(signed_in)]
Staff = Annotated[Session, Depends(role_check("officer", "leader"))]
Leader = Annotated[Session, Depends(role_check("leader"))]


async def checked_form(request: Request) -> FormData:
    """The POSTed form, refused (403) unless it carries the session's CSRF token."""
    form = await request.form()
    session = current_session(request)
    if session is None or not csrf.accepts(session.csrf, form.get(csrf.FIELD)):
        raise PageError(403, "csrf")
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


# --------------------------------------------------------------------------- rendering


def translator(request: Request) -> Translator:
    return Translator(language(request.cookies.get(LANG_COOKIE)))


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    wiring = wiring_of(request)
    session = current_session(request)
    t = translator(request)
    base = {
        "t": t,
        "lang": t.lang,
        "session": session,
        "nav": visible(session.roles) if session else [],
        "role_names": ", ".join(t(f"role.{r}") for r in sorted(session.roles)) if session else "",
        "csrf_field": csrf.FIELD,
        "csrf_token": session.csrf if session else "",
        "here": _requested_path(request),
        "path": request.url.path,
    }
    return wiring.templates.TemplateResponse(
        request, template, base | (context or {}), status_code=status_code
    )


def error_page(request: Request, status: int, kind: str) -> HTMLResponse:
    return render(request, "error.html", {"kind": kind}, status_code=status)


def redirect(path: str) -> RedirectResponse:
    # 303: the browser follows a POST's answer with a GET.
    return RedirectResponse(path, status_code=303)


def passed_on(
    download: Download, *, disposition: str | None = None, media_type: str | None = None
) -> StreamingResponse:
    """A service's file passed to the browser chunk by chunk, never stored by the
    browser's caches; its ``Content-Disposition`` is the service's unless one is given."""
    headers = {"Cache-Control": "no-store"}
    disposition = disposition or download.header("Content-Disposition")
    if disposition:
        headers["Content-Disposition"] = disposition
    return StreamingResponse(
        download.chunks(),
        media_type=media_type or download.media_type,
        headers=headers,
        background=BackgroundTask(download.close),
    )
