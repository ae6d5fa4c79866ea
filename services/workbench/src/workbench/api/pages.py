"""The home page: where a signed-in person starts, by role."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from workbench.api.web import current_session, redirect, render

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> Response:
    session = current_session(request)
    if session is not None and session.has("officer", "leader"):
        return redirect("/queue")
    return render(request, "home.html")
