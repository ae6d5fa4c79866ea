"""Structured JSON logs carrying the current trace and span ids, personal data masked.

Besides the message, a record may carry structured fields, passed as
``log.info("...", extra={"fields": {...}})``; they are written as top-level keys of the
JSON line (never overriding the standard ones) and masked like the message.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from opentelemetry import trace

from chassis.privacy import scrub


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, instance: str | None = None) -> None:
        super().__init__()
        self._service = service
        self._instance = instance

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service,
            **({"instance": self._instance} if self._instance else {}),
            "logger": record.name,
            "message": scrub(message),
        }
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            entry["trace_id"] = format(ctx.trace_id, "032x")
            entry["span_id"] = format(ctx.span_id, "016x")
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                if str(key) not in entry:
                    entry[str(key)] = _masked(value)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _masked(value: object) -> object:
    if value is None or isinstance(value, bool):
        return value
    text = str(value)
    masked = scrub(text)
    # Numbers stay numbers unless they look like an ID or a phone number.
    if isinstance(value, int | float) and masked == text:
        return value
    return masked


class ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def setup_logging(
    service: str, level: str = "INFO", as_json: bool = True, instance: str | None = None
) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(service, instance)
        if as_json
        else ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # aiokafka reports every reconnect attempt at WARNING; our own loop says it once.
    logging.getLogger("aiokafka").setLevel("ERROR")
    # httpx logs every request's full URL at INFO, query included (an uploaded file's name,
    # which may name a person): clients log what they need in their own words.
    logging.getLogger("httpx").setLevel("WARNING")
