"""The one interface every channel implements, and the failure it reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from notification.domain.policy import Channel
from notification.domain.retry import http_status_is_transient

__all__ = ["DeliveryFailure", "Outgoing", "Sender", "failure_from_http", "failure_from_transport"]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message as the delivery record keeps it, ready to hand to a channel."""

    delivery_id: str
    address: str
    language: str
    content: dict[str, Any]


class DeliveryFailure(Exception):
    """An attempt did not deliver. ``detail`` must never contain the address."""

    def __init__(self, detail: str, *, transient: bool, retry_after_s: float | None = None):
        super().__init__(detail)
        self.detail = detail
        self.transient = transient
        self.retry_after_s = retry_after_s


class Sender(Protocol):
    channel: Channel
    # Whether the receiving side recognises a repeated delivery id, so that an attempt
    # whose outcome was lost in a crash may be made again without a visible duplicate.
    idempotent: bool

    async def send(self, message: Outgoing) -> None:
        """Deliver or raise `DeliveryFailure`; time limits are the caller's."""
        ...


def failure_from_http(response: httpx.Response, what: str) -> DeliveryFailure:
    status = response.status_code
    retry_after: float | None = None
    header = response.headers.get("Retry-After", "")
    if header.strip().isdigit():
        retry_after = float(header.strip())
    return DeliveryFailure(
        f"{what} answered HTTP {status}",
        transient=http_status_is_transient(status),
        retry_after_s=retry_after,
    )


def failure_from_transport(exc: httpx.HTTPError, what: str) -> DeliveryFailure:
    # Connection refused, reset, DNS and timeouts: the request may never have arrived.
    return DeliveryFailure(f"{what} unreachable: {type(exc).__name__}", transient=True)
