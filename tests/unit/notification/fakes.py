"""In-memory stand-ins for notification's ports: the delivery log, the publisher, the
channels and the clock. The delivery log keeps the real one's promises: every change
that starts, records or abandons an attempt, claims an outcome for publishing or resends
happens only if the delivery is still in the state the filter names, in one step with no
await inside, so of several callers racing for it exactly one wins, as with MongoDB's
conditional updates."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chassis.events import DeliveryChannel, Envelope
from chassis.kafka import KafkaUnavailable
from notification.domain.retry import CLAIMABLE, UNPUBLISHED, DeliveryStatus, published
from notification.service.ports import DeliveryFailure, Due, Outgoing, Page, Position

START = datetime(2025, 3, 20, 2, 15, tzinfo=UTC)
_CLAIMABLE = {s.value for s in CLAIMABLE}
_UNPUBLISHED = {s.value for s in UNPUBLISHED}


class FakeClock:
    """Wall-clock time that moves only when a test says so."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _without_content(document: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in document.items() if k != "content"}


def _at_or_before(moment: datetime | None, now: datetime) -> bool:
    return moment is not None and moment <= now


class FakeDeliveryLog:
    """`notification.service.ports.DeliveryLog` in a dict. ``broken`` names methods that
    raise, as a store gone away would."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.broken: dict[str, Exception] = {}

    def _check(self, method: str) -> None:
        error = self.broken.get(method)
        if error is not None:
            raise error

    def __getitem__(self, delivery_id: str) -> dict[str, Any]:
        return self.documents[delivery_id]

    # ------------------------------------------------------------------ claiming

    async def insert_new(self, documents: Sequence[dict[str, Any]]) -> set[str]:
        self._check("insert_new")
        created: set[str] = set()
        for document in documents:
            if document["_id"] not in self.documents:
                self.documents[document["_id"]] = copy.deepcopy(document)
                created.add(document["_id"])
        return created

    def _next_attempt(
        self, document: dict[str, Any] | None, now: datetime, lease_s: float
    ) -> dict[str, Any] | None:
        if document is None:
            return None
        document.update(
            status=DeliveryStatus.SENDING.value,
            lease_until=now + timedelta(seconds=lease_s),
            next_attempt_at=None,
            updated_at=now,
            attempts=document["attempts"] + 1,
        )
        return copy.deepcopy(document)

    def _due(self, delivery_id: str, attempts: int, now: datetime) -> dict[str, Any] | None:
        document = self.documents.get(delivery_id)
        if (
            document is not None
            and document["status"] in _CLAIMABLE
            and document["attempts"] == attempts
            and _at_or_before(document["next_attempt_at"], now)
        ):
            return document
        return None

    def _abandoned(self, delivery_id: str, attempts: int, now: datetime) -> dict[str, Any] | None:
        document = self.documents.get(delivery_id)
        if (
            document is not None
            and document["status"] == DeliveryStatus.SENDING.value
            and document["attempts"] == attempts
            and _at_or_before(document["lease_until"], now)
        ):
            return document
        return None

    async def start_attempts(
        self, due: Sequence[Due], *, now: datetime, lease_s: float
    ) -> list[dict[str, Any]]:
        self._check("start_attempts")
        claimed = (self._next_attempt(self._due(i, n, now), now, lease_s) for i, n in due)
        return [document for document in claimed if document is not None]

    async def retake_stale(
        self, delivery_id: str, attempts: int, *, now: datetime, lease_s: float
    ) -> dict[str, Any] | None:
        self._check("retake_stale")
        return self._next_attempt(self._abandoned(delivery_id, attempts, now), now, lease_s)

    async def finish_attempt(
        self,
        delivery: dict[str, Any],
        attempt: int,
        *,
        fields: dict[str, Any],
        history: dict[str, Any],
    ) -> dict[str, Any] | None:
        self._check("finish_attempt")
        document = self.documents.get(delivery["_id"])
        if (
            document is None
            or document["status"] != DeliveryStatus.SENDING.value
            or document["attempts"] != attempt
        ):
            return None
        document.update(copy.deepcopy(fields), lease_until=None)
        document["history"].append(copy.deepcopy(history))
        return {
            **delivery,
            **fields,
            "lease_until": None,
            "history": [*delivery.get("history", []), history],
        }

    async def give_up_stale(
        self,
        delivery_id: str,
        attempts: int,
        *,
        now: datetime,
        fields: dict[str, Any],
        history: dict[str, Any],
    ) -> dict[str, Any] | None:
        self._check("give_up_stale")
        document = self._abandoned(delivery_id, attempts, now)
        if document is None:
            return None
        document.update(copy.deepcopy(fields), lease_until=None)
        document["history"].append(copy.deepcopy(history))
        return _without_content(document)

    async def mark_published(self, documents: Iterable[dict[str, Any]], now: datetime) -> None:
        self._check("mark_published")
        for settled in documents:
            document = self.documents.get(settled["_id"])
            if document is not None and document["status"] == settled["status"]:
                document.update(
                    status=published(DeliveryStatus(settled["status"])).value,
                    published_at=now,
                    publish_at=None,
                )

    # ------------------------------------------------------------------ the retry worker

    async def due(self, now: datetime, limit: int) -> list[Due]:
        self._check("due")
        found = [
            d
            for d in self.documents.values()
            if d["status"] in _CLAIMABLE and _at_or_before(d["next_attempt_at"], now)
        ]
        found.sort(key=lambda d: d["next_attempt_at"])
        return [(d["_id"], int(d["attempts"])) for d in found[:limit]]

    async def stale(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        self._check("stale")
        found = [
            _without_content(d)
            for d in self.documents.values()
            if d["status"] == DeliveryStatus.SENDING.value and _at_or_before(d["lease_until"], now)
        ]
        return found[:limit]

    async def claim_unpublished(
        self, now: datetime, hold_s: float, limit: int
    ) -> list[dict[str, Any]]:
        self._check("claim_unpublished")
        found = [
            d
            for d in self.documents.values()
            if d["status"] in _UNPUBLISHED and _at_or_before(d["publish_at"], now)
        ][:limit]
        claimed = []
        for document in found:
            document["publish_at"] = max(
                now + timedelta(seconds=hold_s), document["publish_at"] + timedelta(milliseconds=1)
            )
            claimed.append(_without_content(document))
        return claimed

    # ------------------------------------------------------------------ operators

    async def get(self, delivery_id: str) -> dict[str, Any] | None:
        self._check("get")
        document = self.documents.get(delivery_id)
        return None if document is None else _without_content(document)

    async def page(
        self,
        *,
        dossier_id: str | None,
        status: str | None,
        channel: str | None,
        after: Position | None,
        limit: int,
    ) -> Page:
        self._check("page")
        wanted = {"dossier_id": dossier_id, "status": status, "channel": channel}
        found = [
            d
            for d in self.documents.values()
            if all(value is None or d[key] == value for key, value in wanted.items())
            and (after is None or (d["created_at"], d["_id"]) < after)
        ]
        found.sort(key=lambda d: (d["created_at"], d["_id"]), reverse=True)
        documents = [_without_content(d) for d in found[: limit + 1]]
        if len(documents) <= limit:
            return documents, None
        documents = documents[:limit]
        return documents, (documents[-1]["created_at"], documents[-1]["_id"])

    async def resend(
        self, delivery_id: str, *, now: datetime, extra_attempts: int, actor: str
    ) -> dict[str, Any] | None:
        self._check("resend")
        document = self.documents.get(delivery_id)
        if document is None or document["status"] != DeliveryStatus.FAILED.value:
            return None
        document.update(
            status=DeliveryStatus.RETRY_SCHEDULED.value,
            next_attempt_at=now,
            max_attempts=document["attempts"] + extra_attempts,
            updated_at=now,
            resends=document["resends"] + 1,
        )
        document["history"].append({"at": now, "outcome": "resend", "by": actor})
        return _without_content(document)


@dataclass
class Published:
    envelope: Envelope
    key: str | None
    trace: Mapping[str, str] | None


@dataclass
class FakePublisher:
    """`notification.service.ports.Publisher` that keeps what it is given; with ``down``
    set it fails as the chassis's publisher does when the broker is away."""

    events: list[Published] = field(default_factory=list)
    raw: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = field(
        default_factory=list
    )
    down: bool = False

    async def publish_many(
        self,
        envelopes: Sequence[Envelope],
        *,
        keys: Sequence[str | None] | None = None,
        trace_carriers: Sequence[Mapping[str, str] | None] | None = None,
    ) -> None:
        if self.down:
            raise KafkaUnavailable("broker down")
        keys = keys or [None] * len(envelopes)
        carriers = trace_carriers or [None] * len(envelopes)
        for envelope, key, carrier in zip(envelopes, keys, carriers, strict=True):
            self.events.append(Published(envelope, key, carrier))

    async def send_raw(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None,
        headers: list[tuple[str, bytes]],
    ) -> None:
        if self.down:
            raise KafkaUnavailable("broker down")
        self.raw.append((topic, value, key, headers))

    def ids(self) -> list[str]:
        return [p.envelope.id for p in self.events]


# What a fake channel does with one message: deliver (None), fail, or run a behaviour.
Behaviour = Callable[[Outgoing], Awaitable[None]]
Answer = DeliveryFailure | Behaviour | None


async def hang(message: Outgoing) -> None:
    """No answer at all, before anything was handed over."""
    await asyncio.Event().wait()


async def hang_after_handover(message: Outgoing) -> None:
    """The message went on the wire; the server never answers."""
    message.handover.started()
    await asyncio.Event().wait()


async def accepted_then_hang(message: Outgoing) -> None:
    """The server took the message; only saying goodbye hangs."""
    message.handover.started()
    message.handover.answered(accepted=True)
    await asyncio.Event().wait()


async def crash(message: Outgoing) -> None:
    raise RuntimeError("a defect in the sender")


class FakeSender:
    """`notification.service.ports.Sender`: answers each message with the next scripted
    answer for its address (``always`` once the script is used up) and keeps every
    message it was handed, delivered or not."""

    def __init__(self, channel: DeliveryChannel, *, idempotent: bool) -> None:
        self.channel = channel
        self.idempotent = idempotent
        self.scripts: dict[str, list[Answer]] = {}
        self.always: Answer = None
        self.handed: list[Outgoing] = []
        self.delivered: list[Outgoing] = []

    def script(self, address: str, *answers: Answer) -> None:
        self.scripts[address] = list(answers)

    async def send(self, message: Outgoing) -> None:
        self.handed.append(message)
        script = self.scripts.get(message.address)
        answer = script.pop(0) if script else self.always
        if isinstance(answer, DeliveryFailure):
            raise answer
        if answer is not None:
            await answer(message)
        self.delivered.append(message)

    def delivered_to(self, address: str) -> list[Outgoing]:
        return [m for m in self.delivered if m.address == address]

    def handed_to(self, address: str) -> list[Outgoing]:
        return [m for m in self.handed if m.address == address]


def senders() -> dict[DeliveryChannel, FakeSender]:
    """Email (no idempotency key, as SMTP), SMS and portal (both drop a repeated id)."""
    return {
        DeliveryChannel.EMAIL: FakeSender(DeliveryChannel.EMAIL, idempotent=False),
        DeliveryChannel.SMS: FakeSender(DeliveryChannel.SMS, idempotent=True),
        DeliveryChannel.WEBHOOK: FakeSender(DeliveryChannel.WEBHOOK, idempotent=True),
    }
