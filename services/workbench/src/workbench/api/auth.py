"""Signing in through the identity provider (authorization code with PKCE), signing out,
and the language switch."""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from chassis.auth import verify_token
from chassis.problems import Problem
from workbench.adapters.idp import SignInFailed, pkce_pair
from workbench.api.web import (
    LANG_COOKIE,
    SIGN_IN_COOKIE_MAX_S,
    CheckedForm,
    Wired,
    error_page,
    redirect,
    seal,
    secure_request,
    session_cookie_name,
    set_cookie,
    sign_in_cookie_name,
    translator,
    unseal,
)
from workbench.domain import csrf
from workbench.domain.i18n import LANGUAGES
from workbench.domain.session import Session, safe_next

router = APIRouter(include_in_schema=False)

CALLBACK = "/auth/callback"


def _redirect_uri(request: Request, wired: Wired) -> str:
    base = wired.settings.public_url or str(request.base_url)
    return base.rstrip("/") + CALLBACK


@router.get("/auth/sign-in")
async def sign_in(
    request: Request, wired: Wired, next: Annotated[str | None, Query()] = None
) -> Response:
    """Off to the provider's sign-in form; the state, the PKCE verifier and where to go
    afterwards wait in a short-lived encrypted cookie."""
    state = secrets.token_urlsafe(24)
    verifier, challenge = pkce_pair()
    lang = translator(request).lang
    target = wired.idp.authorize_url(_redirect_uri(request, wired), state, challenge, lang)
    response = RedirectResponse(target, status_code=303)
    pending = {"state": state, "verifier": verifier, "next": safe_next(next)}
    secure = secure_request(request, wired.settings)
    set_cookie(
        response,
        request,
        wired,
        sign_in_cookie_name(secure),
        seal(wired, pending),
        SIGN_IN_COOKIE_MAX_S,
    )
    return response


@router.get(CALLBACK)
async def signed_in_callback(
    request: Request,
    wired: Wired,
    code: Annotated[str | None, Query(max_length=512)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    secure = secure_request(request, wired.settings)
    pending = unseal(wired, request.cookies.get(sign_in_cookie_name(secure)), SIGN_IN_COOKIE_MAX_S)
    if (
        error
        or pending is None
        or not code
        or not state
        or not secrets.compare_digest(str(pending.get("state")), state)
    ):
        return error_page(request, 400, "sign_in")
    try:
        token = await wired.idp.exchange(
            code, str(pending["verifier"]), _redirect_uri(request, wired)
        )
        principal = await verify_token(wired.settings, token)
    except (SignInFailed, Problem):
        return error_page(request, 400, "sign_in")
    claims_exp = _expiry(token)
    session = Session(
        token=token,
        subject=principal.subject,
        roles=principal.roles,
        agency=principal.agency,
        csrf=csrf.new_token(),
        expires_at=min(claims_exp, time.time() + wired.settings.session_max_s),
        scopes=principal.scopes,
    )
    response = redirect(str(pending.get("next") or "/"))
    response.delete_cookie(sign_in_cookie_name(secure), path="/", secure=secure, httponly=True)
    set_cookie(
        response,
        request,
        wired,
        session_cookie_name(secure),
        seal(wired, session.to_record()),
        max(1, int(session.expires_at - time.time())),
    )
    return response


def _expiry(token: str) -> float:
    import jwt

    # Already verified by verify_token; read here only for the session's end.
    return float(jwt.decode(token, options={"verify_signature": False})["exp"])


@router.post("/auth/sign-out")
async def sign_out(request: Request, wired: Wired, form: CheckedForm) -> Response:
    secure = secure_request(request, wired.settings)
    response = redirect("/")
    response.delete_cookie(session_cookie_name(secure), path="/", secure=secure, httponly=True)
    return response


@router.get("/language/{lang}")
async def switch_language(
    request: Request, wired: Wired, lang: str, next: Annotated[str | None, Query()] = None
) -> Response:
    response = redirect(safe_next(next))
    if lang in LANGUAGES:
        set_cookie(response, request, wired, LANG_COOKIE, lang, 365 * 24 * 3600)
    return response
