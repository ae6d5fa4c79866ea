"""Use cases of one delivery: make the attempt its caller has won, record the outcome,
fail an attempt a dead process left in doubt, and tell audit (and the dead-letter topic)
about settled outcomes.

Shared by the notice handler (first attempts, with a short time limit) and the retry
worker (every later attempt), so both follow one set of rules.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode

from chassis import metrics
from chassis.events import (
    CONTENT_TYPE,
    DeliveryChannel,
    Envelope,
    NotificationFailed,
    NotificationSent,
    Topics,
    encode,
    make_event,
)
from chassis.kafka import KafkaUnavailable, dead_letter_headers
from chassis.privacy import scrub
from chassis.telemetry import context_from, tracer
from notification import metrics as notification_metrics
from notification.domain.policy import message_id
from notification.domain.retry import UNPUBLISHED, DeliveryStatus, decide_after_failure
from notification.service.ports import (
    Clock,
    DeliveryFailure,
    DeliveryLog,
    Handover,
    Outgoing,
    Publisher,
    Sender,
    utcnow,
)
from notification.settings import NotificationSettings

__all__ = ["ACTOR", "GROUP", "SOURCE", "Deliverer", "InlineGate"]

log = logging.getLogger(__name__)

SOURCE = "/hoso/notification"
ACTOR = "system:notification"
GROUP = "notification"
_OUTCOME_IDS = uuid.UUID("5b0f6f4e-2d7e-4a53-9a55-8f1f3c2b7a10")
_UNPUBLISHED = {status.value for status in UNPUBLISHED}


def _allow_an_answer(limit: asyncio.Timeout, wait_s: float) -> None:
    """Once a message is on the wire, wait up to ``wait_s`` for the server's answer even
    past the attempt's own limit: an answer, either way, beats an unknown outcome."""
    at_least = asyncio.get_running_loop().time() + wait_s
    when = limit.when()
    if when is not None and when < at_least:
        limit.reschedule(at_least)


class InlineGate:
    """Whether the consumer should try a channel itself right now.

    After a transient failure the channel's gateway is probably still unwell; trying it
    inside the consumer would only make every batch wait for the time limit, so first
    attempts go to the retry worker until a send on that channel succeeds again or the
    pause is over.
    """

    def __init__(self, pause_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._pause_s = pause_s
        self._clock = clock
        self._paused_until: dict[DeliveryChannel, float] = {}

    def allows(self, channel: DeliveryChannel) -> bool:
        return self._clock() >= self._paused_until.get(channel, 0.0)

    def failed(self, channel: DeliveryChannel) -> None:
        self._paused_until[channel] = self._clock() + self._pause_s

    def succeeded(self, channel: DeliveryChannel) -> None:
        self._paused_until.pop(channel, None)


class Deliverer:
    def __init__(
        self,
        settings: NotificationSettings,
        store: DeliveryLog,
        senders: Mapping[DeliveryChannel, Sender],
        publisher: Publisher,
        *,
        gate: InlineGate | None = None,
        rng: random.Random | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._senders = dict(senders)
        self._publisher = publisher
        self.gate = gate or InlineGate(settings.inline_pause_s)
        self._rng = rng or random.Random()
        self._dead_letter_topic = settings.topic(Topics.dead_letter(GROUP))

    @property
    def channels(self) -> frozenset[DeliveryChannel]:
        return frozenset(self._senders)

    def idempotent(self, channel: DeliveryChannel) -> bool:
        sender = self._senders.get(channel)
        return sender is not None and sender.idempotent

    # ------------------------------------------------------------------ one attempt

    async def attempt(self, delivery: dict[str, Any], *, timeout_s: float) -> dict[str, Any] | None:
        """Make the attempt the caller has just won (``delivery`` as claimed, with its
        rendered ``content``) and record its outcome.

        Returns the delivery as recorded, or None if a newer attempt took over meanwhile.
        """
        channel = DeliveryChannel(delivery["channel"])
        number = int(delivery["attempts"])
        with tracer().start_as_current_span(
            f"notification deliver {channel.value}",
            context=context_from(delivery.get("trace") or {}),
            kind=SpanKind.CLIENT,
            # The delivery id is a keyed hash: it names the delivery, not the person.
            attributes={
                "notification.channel": channel.value,
                "notification.attempt": number,
                "notification.delivery_id": delivery["_id"],
                "cloudevents.event_type": delivery["source_event_type"],
            },
        ) as span:
            failure = await self._send(delivery, channel, timeout_s)
            if failure is not None:
                span.set_status(Status(StatusCode.ERROR, failure.detail[:120]))
                span.set_attribute("notification.transient", failure.transient)
            return await self._record(delivery, channel, number, failure)

    async def _send(
        self, delivery: dict[str, Any], channel: DeliveryChannel, timeout_s: float
    ) -> DeliveryFailure | None:
        sender = self._senders.get(channel)
        content = delivery.get("content")
        handover = Handover()
        try:
            if sender is None:
                # Switched off after the delivery was claimed; it may come back.
                raise DeliveryFailure(f"{channel.value} is not configured", transient=True)
            async with asyncio.timeout(timeout_s) as limit:
                handover.on_handover = functools.partial(
                    _allow_an_answer, limit, self._settings.send_timeout_s
                )
                if content is None:
                    raise DeliveryFailure("the rendered message is missing", transient=False)
                await sender.send(
                    Outgoing(
                        delivery_id=delivery["_id"],
                        address=delivery["address"],
                        language=delivery["language"],
                        content=content,
                        handover=handover,
                    )
                )
        except DeliveryFailure as exc:
            return exc
        except TimeoutError:
            if handover.accepted:
                return None
            if handover.in_doubt and sender is not None and not sender.idempotent:
                return DeliveryFailure(
                    f"no answer within {timeout_s:g}s after the message was handed over; "
                    "delivery unknown",
                    transient=False,
                    in_doubt=True,
                )
            return DeliveryFailure(f"no answer within {timeout_s:g}s", transient=True)
        except Exception as exc:
            # A defect, not the gateway: retry within the budget, keep the trace.
            log.exception("unexpected error sending delivery %s", delivery["_id"][:16])
            return DeliveryFailure(f"unexpected {type(exc).__name__}", transient=True)
        return None

    async def _record(
        self,
        delivery: dict[str, Any],
        channel: DeliveryChannel,
        number: int,
        failure: DeliveryFailure | None,
    ) -> dict[str, Any] | None:
        now = self._clock()
        history: dict[str, Any] = {"attempt": number, "at": now}
        if failure is None:
            self.gate.succeeded(channel)
            fields: dict[str, Any] = {
                "status": DeliveryStatus.SENT_UNPUBLISHED.value,
                "sent_at": now,
                "last_error": None,
                **self._outcome(delivery["_id"], number, now, "sent"),
            }
            history["outcome"] = "sent"
        elif failure.in_doubt:
            # Like a crash mid-attempt: the message may be in the citizen's mailbox, so
            # it is not repeated blindly; it fails visibly and an operator may resend
            # (same Message-ID, so a repeat is recognisable). A server that slow is unwell:
            # first attempts go to the retry worker for a while.
            self.gate.failed(channel)
            fields, history = self._interrupted(delivery, number, now, failure.detail)
        else:
            if failure.transient:
                self.gate.failed(channel)
            error = self._redact(failure.detail, delivery)
            decision = decide_after_failure(
                attempts=number,
                max_attempts=int(delivery.get("max_attempts", self._settings.max_attempts)),
                transient=failure.transient,
                initial_s=self._settings.retry_initial_s,
                max_s=self._settings.retry_max_s,
                retry_after_s=failure.retry_after_s,
                rng=self._rng,
            )
            fields = {"status": decision.status.value, "last_error": error}
            if decision.delay_s is not None:
                fields["next_attempt_at"] = now + timedelta(seconds=decision.delay_s)
                history["outcome"] = "retry"
            else:
                fields |= {
                    "failed_at": now,
                    **self._outcome(delivery["_id"], number, now, "failed"),
                }
                history["outcome"] = "failed"
            history["error"] = error
        fields["updated_at"] = now
        recorded = await self._store.finish_attempt(
            delivery, number, fields=fields, history=history
        )
        self._count_and_log(delivery, history, recorded)
        return recorded

    def _interrupted(
        self, delivery: dict[str, Any], attempt: int, now: datetime, reason: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Fields and history entry of an attempt whose outcome nobody knows: failed, for
        an operator to check by Message-ID and resend, never repeated blindly."""
        error = self._redact(f"{reason} (Message-ID {message_id(delivery['_id'])})", delivery)
        fields = {
            "status": DeliveryStatus.FAILED_UNPUBLISHED.value,
            "last_error": error,
            "failed_at": now,
            **self._outcome(delivery["_id"], attempt, now, "interrupted"),
        }
        history = {"attempt": attempt, "at": now, "outcome": "interrupted", "error": error}
        return fields, history

    def _outcome(self, delivery_id: str, attempt: int, now: datetime, what: str) -> dict[str, Any]:
        # The event id is fixed before publishing and follows from the delivery and the
        # attempt, so a republish, or a racer recording the same outcome, is the same
        # event to audit, which deduplicates on the id. Whoever settles the outcome
        # publishes it at once; past ``publish_at`` the retry worker does it instead.
        event_id = uuid.uuid5(_OUTCOME_IDS, f"{delivery_id}#{attempt}#{what}")
        return {
            "outcome_event_id": str(event_id),
            "outcome_at": now,
            "publish_at": now + timedelta(seconds=self._settings.publish_grace_s),
        }

    @staticmethod
    def _redact(detail: str, delivery: dict[str, Any]) -> str:
        # Gateways and mail servers like to quote the address back; replace it before
        # the text reaches the store, a log line or an event.
        text = detail.replace(delivery["address"], delivery["recipient_masked"])
        return scrub(text)[:300]

    def _count_and_log(
        self,
        delivery: dict[str, Any],
        history: dict[str, Any],
        recorded: dict[str, Any] | None,
    ) -> None:
        channel = delivery["channel"]
        short_id = delivery["_id"][:16]
        if recorded is None:
            log.warning("delivery %s: lease lost before the outcome was recorded", short_id)
            return
        outcome = history["outcome"]
        # An interrupted attempt is a failure to whoever watches the dashboards.
        notification_metrics.NOTIFICATIONS.labels(
            channel, "failed" if outcome == "interrupted" else outcome
        ).inc()
        if outcome == "sent":
            log.info(
                "delivery %s (%s to %s, dossier %s) sent on attempt %d",
                short_id,
                channel,
                delivery["recipient_masked"],
                delivery["dossier_id"],
                history["attempt"],
            )
        else:
            log.warning(
                "delivery %s (%s to %s, dossier %s) attempt %d: %s%s",
                short_id,
                channel,
                delivery["recipient_masked"],
                delivery["dossier_id"],
                history["attempt"],
                history.get("error"),
                "; retry scheduled" if outcome == "retry" else "; giving up",
            )

    async def give_up_interrupted(
        self, delivery: dict[str, Any], reason: str
    ) -> dict[str, Any] | None:
        """A non-idempotent send whose process died mid-attempt: its outcome is unknown,
        so it is not repeated blindly; it fails, visibly, and an operator may resend."""
        now = self._clock()
        attempts = int(delivery["attempts"])
        fields, history = self._interrupted(delivery, attempts, now, reason)
        recorded = await self._store.give_up_stale(
            delivery["_id"],
            attempts,
            now=now,
            fields=fields | {"updated_at": now},
            history=history,
        )
        error = history["error"]
        if recorded is not None:
            notification_metrics.NOTIFICATIONS.labels(delivery["channel"], "failed").inc()
            log.warning(
                "delivery %s (%s, dossier %s) interrupted in an earlier process: %s",
                delivery["_id"][:16],
                delivery["channel"],
                delivery["dossier_id"],
                error,
            )
        return recorded

    # ------------------------------------------------------------------ telling audit

    async def publish_outcomes(
        self, deliveries: Iterable[dict[str, Any] | None]
    ) -> list[dict[str, Any]]:
        """Publish notification.sent / notification.failed for settled deliveries, put
        each failure on the dead-letter topic, then mark them published; returns those
        published. If the broker is away the deliveries stay ``*_unpublished`` for the
        retry worker."""
        settled = [d for d in deliveries if d is not None and d.get("status") in _UNPUBLISHED]
        if not settled:
            return []
        envelopes = [self.outcome_event(d) for d in settled]
        try:
            await self._publisher.publish_many(
                envelopes,
                keys=[d["dossier_id"] for d in settled],
                trace_carriers=[d.get("trace") for d in settled],
            )
            for delivery, envelope in zip(settled, envelopes, strict=True):
                if envelope.type == NotificationFailed.event_type:
                    await self._dead_letter(delivery, envelope)
        except KafkaUnavailable as exc:
            log.warning("outcomes of %d deliveries not published yet: %s", len(settled), exc)
            return []
        await self._store.mark_published(settled, self._clock())
        return settled

    def outcome_event(self, delivery: dict[str, Any]) -> Envelope:
        common = {
            "delivery_id": delivery["_id"],
            "dossier_id": delivery["dossier_id"],
            "source_event_id": delivery["source_event_id"],
            "source_event_type": delivery["source_event_type"],
            "channel": delivery["channel"],
            "attempts": int(delivery["attempts"]),
            "recipient_masked": delivery["recipient_masked"],
        }
        at: datetime = delivery["outcome_at"]
        if delivery["status"] == DeliveryStatus.SENT_UNPUBLISHED.value:
            data: NotificationSent | NotificationFailed = NotificationSent(**common, sent_at=at)
        else:
            data = NotificationFailed(
                **common, error=delivery.get("last_error") or "failed", failed_at=at
            )
        return make_event(
            data, source=SOURCE, actor=ACTOR, event_id=delivery["outcome_event_id"], time=at
        )

    async def _dead_letter(self, delivery: dict[str, Any], envelope: Envelope) -> None:
        # The failure event itself is the entry: it names the delivery and the source
        # event and carries only the masked recipient, unlike the source event.
        headers: list[tuple[str, bytes]] = [
            ("content-type", CONTENT_TYPE.encode()),
            ("ce_type", envelope.type.encode()),
            ("ce_id", envelope.id.encode()),
            *dead_letter_headers(
                f"delivery failed: {delivery.get('last_error')}",
                GROUP,
                extra=[
                    ("dlq_delivery_id", delivery["_id"]),
                    ("dlq_channel", delivery["channel"]),
                    ("dlq_source_event_id", delivery["source_event_id"]),
                ],
            ),
        ]
        await self._publisher.send_raw(
            self._dead_letter_topic,
            encode(envelope),
            key=delivery["dossier_id"].encode(),
            headers=headers,
        )
        metrics.DEAD_LETTERS.labels(self._settings.service_name, GROUP, "delivery_failed").inc()
