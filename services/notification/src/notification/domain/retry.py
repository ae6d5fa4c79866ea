"""The life of one delivery: its states, which failures are worth retrying, and when.

::

    pending ──> sending ──> sent_unpublished ──> sent
                   │  ^
                   │  └── retry_scheduled <──┐
                   │                         │ transient failure, attempts left
                   └─────────────────────────┘
                   └──> failed_unpublished ──> failed ──(operator resend)──> retry_scheduled

``*_unpublished`` means the outcome is settled but the event telling audit about it is
not acknowledged by the broker yet; the retry worker publishes it again under the same
event id, which audit deduplicates.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "CLAIMABLE",
    "UNPUBLISHED",
    "DeliveryStatus",
    "FailureDecision",
    "backoff_delay",
    "decide_after_failure",
    "http_status_is_transient",
    "published",
    "smtp_reply_is_transient",
]


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    RETRY_SCHEDULED = "retry_scheduled"
    SENT_UNPUBLISHED = "sent_unpublished"
    SENT = "sent"
    FAILED_UNPUBLISHED = "failed_unpublished"
    FAILED = "failed"


# States from which an attempt may start once ``next_attempt_at`` has come.
CLAIMABLE: tuple[DeliveryStatus, ...] = (DeliveryStatus.PENDING, DeliveryStatus.RETRY_SCHEDULED)
# Settled outcomes whose event the broker has not acknowledged yet.
UNPUBLISHED: tuple[DeliveryStatus, ...] = (
    DeliveryStatus.SENT_UNPUBLISHED,
    DeliveryStatus.FAILED_UNPUBLISHED,
)


def published(status: DeliveryStatus) -> DeliveryStatus:
    """The final state of an outcome once its event is acknowledged."""
    if status is DeliveryStatus.SENT_UNPUBLISHED:
        return DeliveryStatus.SENT
    if status is DeliveryStatus.FAILED_UNPUBLISHED:
        return DeliveryStatus.FAILED
    raise ValueError(f"{status.value} is not an unpublished outcome")


def smtp_reply_is_transient(code: int) -> bool:
    """RFC 5321: 4yz is "try again later", 5yz is final."""
    return 400 <= code < 500


def http_status_is_transient(status: int) -> bool:
    """Server trouble, throttling and timeouts pass; any other refusal will repeat."""
    return status in (408, 425, 429) or status >= 500


def backoff_delay(
    attempt: int,
    *,
    initial_s: float,
    max_s: float,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    Exponential growth with "full jitter" (a uniform draw below the exponential
    ceiling), the same formula as tenacity's ``wait_random_exponential``; tenacity
    itself wants to own the retry loop, while here the loop spans processes through
    the delivery store. Instances that failed together therefore retry apart. A
    gateway's ``Retry-After`` is honoured as a floor, within ``max_s``.
    """
    if attempt < 1:
        raise ValueError("attempt numbers start at 1")
    ceiling = min(max_s, initial_s * 2 ** min(attempt - 1, 62))
    # Half of the first step as a floor keeps a retry from hammering at once.
    floor = min(initial_s / 2, ceiling)
    delay = (rng or random).uniform(floor, ceiling)
    if retry_after_s is not None and retry_after_s > 0:
        delay = max(delay, min(retry_after_s, max_s))
    return delay


@dataclass(frozen=True, slots=True)
class FailureDecision:
    status: DeliveryStatus
    delay_s: float | None  # set when another attempt is scheduled


def decide_after_failure(
    *,
    attempts: int,
    max_attempts: int,
    transient: bool,
    initial_s: float,
    max_s: float,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> FailureDecision:
    """Schedule another attempt for a transient failure with attempts left; else give up."""
    if transient and attempts < max_attempts:
        delay = backoff_delay(
            attempts, initial_s=initial_s, max_s=max_s, retry_after_s=retry_after_s, rng=rng
        )
        return FailureDecision(DeliveryStatus.RETRY_SCHEDULED, delay)
    return FailureDecision(DeliveryStatus.FAILED_UNPUBLISHED, None)
