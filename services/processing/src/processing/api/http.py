"""HTTP details of the officer API: entity tags, preconditions and queue cursors."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from chassis import pagination
from processing.api.problems import PRECONDITION_REQUIRED

__all__ = ["decode_cursor", "encode_cursor", "etag", "parse_if_match", "require_if_match"]

ANY = "*"


def etag(version: int) -> str:
    """The entity tag of a dossier: its version, as a strong tag."""
    return f'"{version}"'


def parse_if_match(header: str | None) -> frozenset[int] | None:
    """The versions an ``If-Match`` header accepts; None for ``*`` (any version).

    If-Match compares strongly (RFC 9110 §13.1.1), so weak tags match nothing, and
    neither does a tag that is not one of ours; an empty set then fails the request
    with 412, as the standard asks.
    """
    if header is None:
        raise ValueError("no If-Match header")
    if header.strip() == ANY:
        return None
    versions: set[int] = set()
    for raw in header.split(","):
        tag = raw.strip()
        if tag.startswith("W/") or len(tag) < 3 or tag[0] != '"' or tag[-1] != '"':
            continue
        inner = tag[1:-1]
        # isdigit() alone would read "٣" (Arabic-Indic three) as version 3.
        if inner.isascii() and inner.isdigit():
            versions.add(int(inner))
    return frozenset(versions)


def require_if_match(header: str | None) -> frozenset[int] | None:
    """Like `parse_if_match`, answering 428 when a state-changing call has no header."""
    if header is None or not header.strip():
        raise PRECONDITION_REQUIRED(
            "send If-Match with the ETag of the dossier you read, so that a change made "
            "meanwhile by someone else is not overwritten"
        )
    return parse_if_match(header)


def _list(sort: str) -> str:
    # Each order is its own list: a cursor of one order means nothing in the other.
    return f"queue.{sort}"


def encode_cursor(sort: str, value: Any, dossier_id: str) -> str:
    if isinstance(value, datetime | date):
        value = value.isoformat()
    return pagination.encode_cursor(_list(sort), value, dossier_id)


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    """The (sort value, dossier id) a page ended with; a 422 problem for a cursor not
    from this queue and order."""
    position = pagination.decode_cursor(cursor, _list(sort))
    if len(position) != 2 or not all(isinstance(part, str) for part in position):
        raise pagination.invalid_cursor()
    value, dossier_id = position
    if sort in ("received", "search"):
        try:
            return datetime.fromisoformat(value), dossier_id
        except ValueError as exc:
            raise pagination.invalid_cursor() from exc
    return value, dossier_id
