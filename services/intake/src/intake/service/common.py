"""What intake's use cases share: the event source, the problems they answer with."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import NoReturn

from chassis.problems import SERVICE_UNAVAILABLE, Problem
from intake.domain.follow_up import FollowUpKeys
from intake.domain.submission import AttachmentLimits, Refusal
from intake.ports import StoreUnavailable
from intake.problems import DOSSIER_NOT_FOUND, REFUSALS, SERVICE_NOT_CONFIGURED
from intake.settings import IntakeSettings

__all__ = [
    "SOURCE",
    "ConcealedNotFound",
    "attachment_limits",
    "refusal_problem",
    "require_keys",
    "store_failed",
    "unavailable",
    "utc_now",
]

log = logging.getLogger("intake")

SOURCE = "/hoso/intake"


def utc_now() -> datetime:
    return datetime.now(UTC)


class ConcealedNotFound(Problem):
    """The one answer to an unknown code and to a wrong second factor alike; rendered
    without ``instance`` so not even the echoed path tells two answers apart."""

    def __init__(self) -> None:
        super().__init__(
            404,
            DOSSIER_NOT_FOUND.title,
            "no dossier matches this receipt code and second factor",
            kind=DOSSIER_NOT_FOUND,
        )


def refusal_problem(refusal: Refusal) -> Problem:
    return Problem(
        refusal.status,
        refusal.title,
        refusal.detail,
        kind=REFUSALS[refusal.reason],
        errors=[error.as_dict() for error in refusal.errors],
    )


def unavailable(what: str, settings: IntakeSettings) -> Problem:
    return SERVICE_UNAVAILABLE(
        f"{what}; nothing was recorded, retry later",
        headers={"Retry-After": str(settings.retry_after_s)},
    )


def store_failed(exc: StoreUnavailable, settings: IntakeSettings) -> NoReturn:
    log.warning("store unavailable: %s", exc)
    raise unavailable("the store cannot be reached", settings) from exc


def require_keys(keys: FollowUpKeys | None) -> FollowUpKeys:
    if keys is None:
        raise SERVICE_NOT_CONFIGURED("no follow-up key is configured")
    return keys


def attachment_limits(settings: IntakeSettings) -> AttachmentLimits:
    return AttachmentLimits(
        max_count=settings.attachment_max_count,
        max_bytes=settings.attachment_max_bytes,
        max_total_bytes=settings.attachment_max_total_bytes,
        media_types=frozenset(settings.attachment_media_types),
    )
