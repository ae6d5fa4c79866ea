"""One way to page through every list of every service.

A list operation takes ``limit`` and ``cursor``. Its body's ``next_cursor`` is where the
next page starts, null on the last page, and the same next page is announced in the
``Link`` header with ``rel="next"`` (RFC 8288), its target the request's own path and
query with the new cursor. A cursor is opaque to clients: base64url of a JSON array whose
first item names the list (and its order) it belongs to, so a cursor of another list or
another order is refused instead of silently skipping or repeating items.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import Query, Request, Response

from chassis.problems import VALIDATION_FAILED, Problem

__all__ = [
    "CURSOR_MAX_LENGTH",
    "CURSOR_PATTERN",
    "CursorParam",
    "decode_cursor",
    "encode_cursor",
    "invalid_cursor",
    "link_next",
]

CURSOR_MAX_LENGTH = 512
CURSOR_PATTERN = rf"^[A-Za-z0-9_-]{{1,{CURSOR_MAX_LENGTH}}}$"
CURSOR_DESCRIPTION = (
    '`next_cursor` of the previous page (also in its `Link: <…>; rel="next"` header); '
    "leave out for the first page"
)
CursorParam = Annotated[
    str | None,
    Query(
        max_length=CURSOR_MAX_LENGTH,
        pattern=CURSOR_PATTERN,
        description=CURSOR_DESCRIPTION,
        examples=["WyJlbnRyaWVzIiw0Ml0"],
    ),
]


def encode_cursor(kind: str, *position: str | int) -> str:
    raw = json.dumps([kind, *position], separators=(",", ":"), ensure_ascii=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def invalid_cursor(detail: str = "the cursor is not one this list handed out") -> Problem:
    return VALIDATION_FAILED(detail, errors=[{"pointer": "query:/cursor", "detail": detail}])


def decode_cursor(cursor: str, kind: str) -> list[Any]:
    """The position a cursor of list ``kind`` holds; a 422 problem for any other cursor.
    The caller still checks the position's shape (and calls `invalid_cursor` if wrong)."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise invalid_cursor() from exc
    if not isinstance(decoded, list) or len(decoded) < 2 or not isinstance(decoded[0], str):
        raise invalid_cursor()
    if decoded[0] != kind:
        raise invalid_cursor("the cursor belongs to another list or another order")
    return decoded[1:]


def link_next(request: Request, response: Response, next_cursor: str | None) -> None:
    """Announce the next page in ``Link``, when there is one."""
    if next_cursor is None:
        return
    url = request.url.include_query_params(cursor=next_cursor)
    response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
