"""What the use cases need from the outside world, as protocols the adapters implement:
the delivery log (`DeliveryLog`, implemented on MongoDB by `adapters.store`), the event
publisher (`Publisher`, the chassis's Kafka publisher) and one `Sender` per channel
(`adapters.email`, `adapters.sms`, `adapters.webhook`), plus a clock.

The delivery log's promises are what keeps every message single across replicas: each
method that starts, records or abandons an attempt changes the delivery only if it is
still in the state the caller read, and answers None when another caller got there
first. A fake must keep those promises, or the use cases' tests prove nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from chassis.events import DeliveryChannel, Envelope

__all__ = [
    "Clock",
    "DeliveryFailure",
    "DeliveryLog",
    "Due",
    "Handover",
    "Outgoing",
    "Page",
    "Position",
    "Publisher",
    "Sender",
    "utcnow",
]

Clock = Callable[[], datetime]
# Where a listing page ended: the last delivery's creation time and id.
Position = tuple[datetime, str]
Page = tuple[list[dict[str, Any]], Position | None]
# A delivery whose next attempt is due: its id and how many attempts it has had.
Due = tuple[str, int]


def utcnow() -> datetime:
    """Now, at the store's millisecond precision, so a time read back compares equal."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class DeliveryLog(Protocol):
    """One document per (event, channel, recipient), its ``_id`` the delivery key."""

    async def insert_new(self, documents: Sequence[dict[str, Any]]) -> set[str]:
        """Insert the deliveries whose id is new; returns the ids this call created."""
        ...

    async def start_attempts(
        self, due: Sequence[Due], *, now: datetime, lease_s: float
    ) -> list[dict[str, Any]]:
        """Each due pending/retry_scheduled delivery of ``due`` (id, attempts so far) →
        sending, as its next attempt; returns those this caller won (each with its
        message), the others being someone else's."""
        ...

    async def retake_stale(
        self, delivery_id: str, attempts: int, *, now: datetime, lease_s: float
    ) -> dict[str, Any] | None:
        """sending with ``attempts`` attempts and its lease over → the next attempt."""
        ...

    async def finish_attempt(
        self,
        delivery: dict[str, Any],
        attempt: int,
        *,
        fields: dict[str, Any],
        history: dict[str, Any],
    ) -> dict[str, Any] | None:
        """Record attempt ``attempt``'s outcome unless a newer attempt started."""
        ...

    async def give_up_stale(
        self,
        delivery_id: str,
        attempts: int,
        *,
        now: datetime,
        fields: dict[str, Any],
        history: dict[str, Any],
    ) -> dict[str, Any] | None:
        """Fail a sending delivery whose lease ran out, if this caller wins doing so."""
        ...

    async def mark_published(self, documents: Iterable[dict[str, Any]], now: datetime) -> None:
        """``*_unpublished`` → final, for outcomes whose event was acknowledged."""
        ...

    async def due(self, now: datetime, limit: int) -> list[Due]:
        """Deliveries whose next attempt is due, longest waiting first."""
        ...

    async def stale(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        """sending deliveries whose lease ran out (without their message)."""
        ...

    async def claim_unpublished(
        self, now: datetime, hold_s: float, limit: int
    ) -> list[dict[str, Any]]:
        """Outcomes unpublished past their ``publish_at``, each claimed for ``hold_s``."""
        ...

    async def get(self, delivery_id: str) -> dict[str, Any] | None:
        """One delivery without its message."""
        ...

    async def page(
        self,
        *,
        dossier_id: str | None,
        status: str | None,
        channel: str | None,
        after: Position | None,
        limit: int,
    ) -> Page:
        """One page, newest first, strictly after ``after``; and where it ended, if more."""
        ...

    async def resend(
        self, delivery_id: str, *, now: datetime, extra_attempts: int, actor: str
    ) -> dict[str, Any] | None:
        """failed → retry_scheduled, due now, with ``extra_attempts`` more attempts."""
        ...


class Publisher(Protocol):
    """Events to their topics (acknowledged by the broker when the call returns), and
    raw records, such as dead letters, to a named topic. Raises
    `chassis.kafka.KafkaUnavailable` when the broker cannot be reached."""

    async def publish_many(
        self,
        envelopes: Sequence[Envelope],
        *,
        keys: Sequence[str | None] | None = None,
        trace_carriers: Sequence[Mapping[str, str] | None] | None = None,
    ) -> None: ...

    async def send_raw(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None,
        headers: list[tuple[str, bytes]],
    ) -> None: ...


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
