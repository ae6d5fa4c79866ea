"""Rules a submission must pass before intake accepts it. Pure: no I/O, no clock.

Every rule reports what is wrong as a `FieldError` with an RFC 6901 pointer into the
request body, so a portal can put the message next to the field at fault.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from chassis.calendar import (
    RECEIPT_CUTOFF,
    VN_TZ,
    WorkingCalendar,
    calendar_days_due_date,
    due_date,
)
from chassis.catalogue import Clock, DossierKind, Procedure
from chassis.events import Channel
from intake.domain.lodging import accepts_online_lodging, kind_refusal

__all__ = [
    "AttachmentLimits",
    "AttachmentRef",
    "FieldError",
    "Refusal",
    "appointment_date",
    "attachment_errors",
    "channel_refusal",
    "content_errors",
    "fingerprint",
    "form_errors",
    "operator_key_errors",
    "pointer",
]

# Form answers are small; a deeper or longer error list only helps an attacker.
_MAX_FORM_ERRORS = 50


@dataclass(frozen=True)
class FieldError:
    pointer: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "detail": self.detail}


class Refusal(Exception):
    """The submission breaks a rule; nothing may be stored or published for it."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        errors: Sequence[FieldError] = (),
        reason: str = "invalid",
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = list(errors)
        self.reason = reason


def pointer(*parts: str | int) -> str:
    escaped = (str(part).replace("~", "~0").replace("/", "~1") for part in parts)
    return "/" + "/".join(escaped)


# --------------------------------------------------------------------------- the form


def operator_key_errors(value: Any, path: tuple[str | int, ...] = ("form",)) -> list[FieldError]:
    """Keys a MongoDB query would read as an operator or a path.

    The form is stored and forwarded as a document; a key such as ``$where`` or
    ``a.b`` must never reach a store, whatever the procedure's schema says.
    """
    found: list[FieldError] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            text = str(key)
            if text.startswith("$") or "." in text or "\x00" in text:
                found.append(
                    FieldError(
                        pointer(*path, text),
                        "field names must not start with '$' or contain '.' or NUL",
                    )
                )
            found.extend(operator_key_errors(item, (*path, text)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(operator_key_errors(item, (*path, index)))
    return found


def _error_pointers(error: ValidationError) -> list[FieldError]:
    base = ("form", *error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, Mapping):
        missing = [name for name in error.validator_value if name not in instance]
        return [FieldError(pointer(*base, name), "this field is required") for name in missing]
    if error.validator == "additionalProperties" and isinstance(instance, Mapping):
        known = set(error.schema.get("properties", {}))
        extra = [name for name in instance if name not in known]
        if extra:
            return [FieldError(pointer(*base, name), "unknown field") for name in extra]
    return [FieldError(pointer(*base), error.message)]


def form_errors(validator: Draft202012Validator, form: Mapping[str, Any]) -> list[FieldError]:
    """The form checked against its procedure's JSON Schema, sorted by pointer."""
    found: list[FieldError] = []
    for error in validator.iter_errors(form):
        found.extend(_error_pointers(error))
        if len(found) >= _MAX_FORM_ERRORS:
            break
    return sorted(found, key=lambda e: e.pointer)


# --------------------------------------------------------------------------- channel and kind


def channel_refusal(procedure: Procedure, channel: str) -> Refusal | None:
    """Online only what accepts online lodging, by phone only petitions; the counter and
    the post take any procedure."""
    if channel == Channel.ONLINE and not accepts_online_lodging(procedure):
        return Refusal(
            422,
            "Procedure is not lodged online",
            f"procedure {procedure.code} (online level: {procedure.online_level.value}) is "
            f"not lodged online: the one-stop desk receives it for {procedure.agency}, at "
            "the counter (counter channel) or by post",
            [FieldError("/channel", "this procedure cannot be lodged online")],
            reason="not-fully-online",
        )
    refused = kind_refusal(procedure, Channel(channel))
    if refused is not None:
        return Refusal(
            422,
            "Channel not accepted",
            refused,
            [FieldError("/channel", "this procedure cannot be lodged on this channel")],
            reason="channel-not-accepted",
        )
    return None


def content_errors(procedure: Procedure, content: str | None, max_chars: int) -> list[FieldError]:
    if content is None:
        return []
    if procedure.kind is DossierKind.PROCEDURE:
        return [
            FieldError(
                "/content",
                "free text belongs to petitions, complaints and denunciations; "
                "an administrative procedure takes its answers in the form",
            )
        ]
    if len(content) > max_chars:
        return [FieldError("/content", f"at most {max_chars} characters")]
    return []


# --------------------------------------------------------------------------- attachments


@dataclass(frozen=True)
class AttachmentRef:
    document_code: str
    media_type: str
    size: int


@dataclass(frozen=True)
class AttachmentLimits:
    max_count: int
    max_bytes: int
    max_total_bytes: int
    media_types: frozenset[str]


def attachment_errors(
    procedure: Procedure,
    attachments: Sequence[AttachmentRef],
    limits: AttachmentLimits,
    base: str = "attachments",
) -> list[FieldError]:
    """Attachments are references to files already uploaded; intake checks what it can:
    each names a document the procedure asks for, has an accepted type and a size
    within the limits. Missing mandatory documents are not refused here: processing
    asks for them (yêu cầu bổ sung), which stops the clock."""
    found: list[FieldError] = []
    if len(attachments) > limits.max_count:
        found.append(FieldError(pointer(base), f"at most {limits.max_count} attachments"))
    known = {document.code for document in procedure.required_documents}
    total = 0
    for index, attachment in enumerate(attachments):
        if attachment.document_code not in known:
            found.append(
                FieldError(
                    pointer(base, index, "document_code"),
                    f"procedure {procedure.code} asks for: {', '.join(sorted(known))}",
                )
            )
        if attachment.media_type not in limits.media_types:
            found.append(
                FieldError(
                    pointer(base, index, "media_type"),
                    "accepted types: " + ", ".join(sorted(limits.media_types)),
                )
            )
        if attachment.size > limits.max_bytes:
            found.append(
                FieldError(pointer(base, index, "size"), f"at most {limits.max_bytes} bytes")
            )
        total += attachment.size
    if total > limits.max_total_bytes:
        found.append(FieldError(pointer(base), f"at most {limits.max_total_bytes} bytes in all"))
    return found


# --------------------------------------------------------------------------- receipt


def appointment_date(
    procedure: Procedure, received_at: datetime, calendar: WorkingCalendar | None = None
) -> date:
    """The date printed on the receipt for returning the result (ngày hẹn trả)."""
    if calendar is not None:
        return _appointment(procedure.clock, procedure.processing_days, received_at, calendar)
    # The date depends only on the local day of receipt and on which side of the
    # cut-off it came in, so each procedure needs it computed twice a day at most.
    local = received_at.astimezone(VN_TZ)
    return _default_appointment(
        procedure.clock, procedure.processing_days, local.date(), local.time() > RECEIPT_CUTOFF
    )


@lru_cache(maxsize=1024)
def _default_appointment(clock: Clock, days: int, received_on: date, after_cutoff: bool) -> date:
    moment = datetime.combine(received_on, time(23, 59) if after_cutoff else time(12), VN_TZ)
    return _appointment(clock, days, moment, None)


def _appointment(
    clock: Clock, days: int, received_at: datetime, calendar: WorkingCalendar | None
) -> date:
    if clock is Clock.CALENDAR_DAYS:
        return calendar_days_due_date(received_at, days, calendar)
    return due_date(received_at, days, calendar)


def fingerprint(document: Mapping[str, Any] | Iterable[Any]) -> str:
    """A stable hash of a request body: key order and spacing do not change it."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
