"""What the audit routes declare they need, as ``Annotated`` aliases.

The routers are module-level, so what depends on the running configuration (the service
object, the settings) is looked up per request in the ``ApiContext`` that ``main.py`` puts
on the application.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from pydantic import AfterValidator, AwareDatetime, BeforeValidator

from audit.api.models import ACTOR_PATTERN, DOSSIER_ID_PATTERN, EVENT_TYPE_PATTERN
from audit.domain.canonical import MAX_SAFE_INTEGER
from audit.domain.chain import iso_utc
from audit.service.auditors import AuditService, LimitTooLarge
from audit.service.documents import DocumentVerifier
from audit.service.ports import EntryFilter
from audit.settings import AuditSettings
from chassis.auth import Principal, Role, Scope, caller_with
from chassis.problems import VALIDATION_FAILED, Problem, validation_problem

# The published bounds of the page sizes (the OpenAPI document's); a deployment may lower
# the maximums and change the defaults within them (AuditSettings).
PAGE_SIZE_DEFAULT: int = AuditSettings.model_fields["page_size_default"].default
PAGE_SIZE_MAX: int = AuditSettings.model_fields["page_size_max"].default
TRAIL_SIZE_MAX: int = AuditSettings.model_fields["trail_size_max"].default


@dataclass(frozen=True, slots=True)
class ApiContext:
    """Built once in main.py and kept in ``app.state.audit``."""

    service: AuditService
    settings: AuditSettings
    documents: DocumentVerifier


def context(request: Request) -> ApiContext:
    found: ApiContext = request.app.state.audit
    return found


def service(request: Request) -> AuditService:
    return context(request).service


# Checked with the serving app's settings (chassis.auth), so a module-level router can
# declare it.
auditor = caller_with(Role.AUDITOR)


def documents(request: Request) -> DocumentVerifier:
    return context(request).documents


Service = Annotated[AuditService, Depends(service)]
Documents = Annotated[DocumentVerifier, Depends(documents)]
Auditor = Annotated[Principal, Depends(auditor)]
Context = Annotated[ApiContext, Depends(context)]


def cleared(principal: Principal) -> bool:
    """Whether the caller may read personal data in plain text."""
    return Scope.AUDIT_PII.value in principal.scopes


def limit_refused(exc: LimitTooLarge) -> Problem:
    """A limit above the deployment's maximum: the same document as one above the published
    maximum gets from validation."""
    message = f"Input should be less than or equal to {exc.maximum}"
    return validation_problem([{"loc": ("query", "limit"), "msg": message}])


def page_limit(request: Request, limit: int, configured_default: int) -> int:
    """``limit`` as asked, or the deployment's default when the query leaves it out."""
    return limit if "limit" in request.query_params else configured_default


SeqParam = Annotated[int, Query(ge=0, le=MAX_SAFE_INTEGER)]
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _date_time_text(value: Any) -> Any:
    # Pydantic would also read "0.0" as seconds since 1970; the API documents date-time.
    if isinstance(value, str) and not _DATE_TIME.match(value):
        raise ValueError("expected an RFC 3339 date-time with a UTC offset")
    return value


def _representable_in_utc(value: datetime) -> datetime:
    # 0001-01-01T00:00+04:00 is a valid date-time whose UTC instant is before year 1.
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date-time falls outside years 1 to 9999 in UTC") from None
    return value


Timestamp = Annotated[
    AwareDatetime, BeforeValidator(_date_time_text), AfterValidator(_representable_in_utc)
]


def entry_filter(
    dossier_id: Annotated[str | None, Query(pattern=DOSSIER_ID_PATTERN)] = None,
    actor: Annotated[str | None, Query(pattern=ACTOR_PATTERN)] = None,
    event_type: Annotated[str | None, Query(pattern=EVENT_TYPE_PATTERN)] = None,
    occurred_from: Annotated[
        Timestamp | None,
        Query(alias="from", description="occurred at or after (with UTC offset)"),
    ] = None,
    occurred_to: Annotated[
        Timestamp | None, Query(alias="to", description="occurred before (with offset)")
    ] = None,
) -> EntryFilter:
    if occurred_from and occurred_to and occurred_to <= occurred_from:
        raise VALIDATION_FAILED(
            "the time range is empty",
            errors=[{"pointer": "query:/to", "detail": "must be after from"}],
        )
    return EntryFilter(
        dossier_id=dossier_id,
        actor=actor,
        event_type=event_type,
        occurred_from=iso_utc(occurred_from) if occurred_from else None,
        occurred_to=iso_utc(occurred_to) if occurred_to else None,
    )


Filter = Annotated[EntryFilter, Depends(entry_filter)]
