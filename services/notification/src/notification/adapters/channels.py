"""The one interface every channel implements, and the failure it reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from chassis.events import DeliveryChannel
from notification.domain.retry import http_status_is_transient

__all__ = [
    "DeliveryFailure",
    "Handover",
    "Outgoing",
    "Sender",
    "failure_from_http",
    "failure_from_transport",
]


@dataclass(slots=True)
class Handover:
    """How far an attempt got with the receiving server, for a sender without an
    idempotency key: before the message is on the wire a failure is safe to retry; once
    it is, until the server answers, nobody knows whether the citizen has it."""

    # Called once the message starts going out, e.g. to allow the server's answer more
    # time than the attempt's overall limit: an answer beats an unknown outcome.
    on_handover: Callable[[], None] | None = None
    on_the_wire: bool = False
    accepted: bool = False

    def started(self) -> None:
        self.on_the_wire = True
        if self.on_handover is not None:
            self.on_handover()

    def answered(self, *, accepted: bool) -> None:
        self.on_the_wire = False
        self.accepted = accepted

    @property
    def in_doubt(self) -> bool:
        return self.on_the_wire and not self.accepted


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message as the delivery record keeps it, ready to hand to a channel."""

    delivery_id: str
    address: str
    language: str
    content: dict[str, Any]
    handover: Handover = field(default_factory=Handover)


class DeliveryFailure(Exception):
    """An attempt did not deliver. ``detail`` must never contain the address.

    ``in_doubt``: the connection was lost after the message was handed over and before
    the server answered, so it may have arrived; repeating it could tell the citizen
    twice.
    """

    def __init__(
        self,
        detail: str,
        *,
        transient: bool,
        retry_after_s: float | None = None,
        in_doubt: bool = False,
    ):
        super().__init__(detail)
        self.detail = detail
        self.transient = transient and not in_doubt
        self.retry_after_s = retry_after_s
        self.in_doubt = in_doubt


class Sender(Protocol):
    channel: DeliveryChannel
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
