"""Streamed downloads: NDJSON and CSV lines, written in chunks."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

NDJSON = "application/x-ndjson"
CSV_COLUMNS = (
    "seq",
    "event_id",
    "event_type",
    "dossier_id",
    "actor",
    "occurred_at",
    "recorded_at",
    "trace_id",
    "changes",
    "payload",
    "prev_hash",
    "entry_hash",
)
# Lines per chunk of a streamed export: one write per chunk, not per entry.
_CHUNK_LINES = 500
# A spreadsheet would run a cell starting with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def json_line(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _csv_row(values: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()


async def ndjson_lines(documents: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    async for document in documents:
        yield json_line(document)


async def csv_lines(documents: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    # The byte order mark lets spreadsheet programs read Vietnamese text as UTF-8.
    yield "\ufeff" + _csv_row(CSV_COLUMNS)
    async for document in documents:
        yield _csv_row(_csv_cell(document.get(column)) for column in CSV_COLUMNS)


async def _chunked(lines: AsyncIterator[str]) -> AsyncIterator[bytes]:
    buffer: list[str] = []
    async for line in lines:
        buffer.append(line)
        if len(buffer) >= _CHUNK_LINES:
            yield "".join(buffer).encode("utf-8")
            buffer.clear()
    if buffer:
        yield "".join(buffer).encode("utf-8")


async def primed_chunks(lines: AsyncIterator[str]) -> AsyncIterator[bytes]:
    """The lines in chunks, the first one fetched before the response starts, so a store
    failure still becomes a problem document instead of a cut-off download."""
    chunks = _chunked(lines)
    first = await anext(chunks, None)

    async def stream() -> AsyncIterator[bytes]:
        if first is not None:
            yield first
        async for chunk in chunks:
            yield chunk

    return stream()
