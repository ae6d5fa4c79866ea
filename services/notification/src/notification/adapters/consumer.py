"""What the consumer does with a batch of lifecycle events: decide, claim, first attempt.

For each event the policy picks the channels, the templates give the wording, and one
delivery record per (event, channel, recipient) is inserted before anything is sent; a
record that already exists means the event was seen before (a batch handled again after
a restart) and nothing more is done for it here. The consumer then makes each new
delivery's first attempt with a short time limit. Everything after that is the retry
worker's, so a failing gateway costs a batch seconds at most, never a blocked partition.

Deliveries of one dossier are attempted in event order; different dossiers in parallel.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan

from chassis.events import (
    DeliveryChannel,
    DossierApologyIssued,
    DossierKind,
    DossierOverdue,
    DossierStatusChanged,
    Topics,
)
from chassis.kafka import ConsumedEvent, EventPublisher
from chassis.privacy import scrub
from chassis.telemetry import capture_context
from notification.adapters.delivery import GROUP, Deliverer, utcnow
from notification.adapters.store import DeliveryStore
from notification.domain.messages import TemplateCatalogue
from notification.domain.policy import (
    NOTICE_TYPES,
    NotificationDomainError,
    address_for,
    as_recipient,
    decide_channels,
    delivery_key,
    mask_address,
)
from notification.domain.retry import DeliveryStatus
from notification.settings import NotificationSettings

__all__ = ["HANDLED_EVENTS", "LifecycleHandlers", "PlannedDelivery"]

log = logging.getLogger(__name__)

HANDLED_EVENTS = frozenset(t.value for t in NOTICE_TYPES)
Notice = DossierStatusChanged | DossierOverdue | DossierApologyIssued


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    # The delivery as it is inserted, the rendered message (``content``) included, so
    # every attempt sends the same words.
    document: dict[str, Any]
    # True: inserted as attempt 1 in 'sending', made by the consumer at once. False while
    # the channel is paused: inserted 'pending', due now, for the retry worker.
    inline: bool


class LifecycleHandlers:
    def __init__(
        self,
        settings: NotificationSettings,
        catalogue: TemplateCatalogue,
        store: DeliveryStore,
        deliverer: Deliverer,
        publisher: EventPublisher,
    ) -> None:
        self._settings = settings
        self._catalogue = catalogue
        self._store = store
        self._deliverer = deliverer
        self._publisher = publisher
        pepper = settings.delivery_key_pepper
        self._pepper = pepper.get_secret_value().encode() if pepper else None
        self._dead_letter_topic = settings.topic(Topics.dead_letter(GROUP))

    async def handle_batch(self, items: list[ConsumedEvent]) -> None:
        now = utcnow()
        by_dossier: dict[str, list[list[PlannedDelivery]]] = {}
        for item in items:
            if item.envelope.type not in HANDLED_EVENTS:
                continue
            try:
                planned = self.plan(item, now)
            except NotificationDomainError as exc:
                await self._dead_letter(item, exc)
                continue
            if planned:
                dossier_id = planned[0].document["dossier_id"]
                by_dossier.setdefault(dossier_id, []).append(planned)

        planned_all = [p for events in by_dossier.values() for ps in events for p in ps]
        documents = [p.document for p in planned_all]
        created = await self._store.insert_new(documents)
        if len(created) < len(documents):
            repeated = len(documents) - len(created)
            log.info("%d deliveries were claimed before; not sent again", repeated)

        limit = asyncio.Semaphore(self._settings.delivery_concurrency)

        async def dossier_in_order(events: list[list[PlannedDelivery]]) -> None:
            async with limit:
                outcomes: list[dict[str, Any] | None] = []
                for planned in events:
                    outcomes.extend(
                        await asyncio.gather(
                            *(
                                self._first_attempt(p)
                                for p in planned
                                if p.inline and p.document["_id"] in created
                            )
                        )
                    )
                # Published per dossier, as soon as its attempts are done, so a slow
                # gateway elsewhere in the batch does not hold this news back.
                await self._deliverer.publish_outcomes(outcomes)

        await asyncio.gather(*(dossier_in_order(events) for events in by_dossier.values()))

    async def _first_attempt(self, planned: PlannedDelivery) -> dict[str, Any] | None:
        try:
            return await self._deliverer.attempt(
                planned.document, timeout_s=self._settings.first_attempt_timeout_s
            )
        except Exception:
            # The store failed around the attempt. Raising would send the whole batch
            # round again for nothing: its deliveries are claimed already. This one
            # stays 'sending' and the retry worker settles it once the lease is over.
            log.exception("first attempt of delivery %s not recorded", planned.document["_id"][:16])
            return None

    # ------------------------------------------------------------------ deciding

    def plan(self, item: ConsumedEvent, now: datetime) -> list[PlannedDelivery]:
        """The deliveries one lifecycle event calls for, rendered and keyed."""
        notice = item.payload
        assert isinstance(notice, Notice)
        event_type = item.envelope.type
        new_status = notice.new_status if isinstance(notice, DossierStatusChanged) else None
        data = notice.model_dump(mode="json")
        if notice.kind is DossierKind.DENUNCIATION:
            # A denouncer is never addressed by name, whatever the producer put there.
            data["recipient"]["display_name"] = None
        recipient = as_recipient(data["recipient"])
        trace_carrier = self._trace_carrier(item)

        planned: list[PlannedDelivery] = []
        for channel in decide_channels(event_type, new_status, recipient):
            address = address_for(channel, recipient)
            if channel not in self._deliverer.channels or address is None:
                continue
            key = delivery_key(item.id, channel, address, pepper=self._pepper)
            content, subject = self._render(channel, event_type, data, item, key, address)
            inline = self._deliverer.gate.allows(channel)
            document = {
                "_id": key,
                "dossier_id": notice.dossier_id,
                "receipt_code": notice.receipt_code,
                "dossier_kind": notice.kind.value,
                "source_event_id": item.id,
                "source_event_type": event_type,
                "notice_status": new_status,
                "channel": channel.value,
                "language": recipient.language,
                "address": address,
                "recipient_masked": mask_address(channel, address),
                "subject": subject,
                "content": content,
                "max_attempts": self._settings.max_attempts,
                "resends": 0,
                "last_error": None,
                "history": [],
                "outcome_event_id": None,
                "outcome_at": None,
                "publish_at": None,
                "trace": trace_carrier,
                "created_at": now,
                "updated_at": now,
            }
            if inline:
                # Inserting the delivery claims it, so it is inserted as its own first
                # attempt under way: one write where pending → sending would take two.
                # If this process dies now, the lease runs out and the worker takes over.
                document |= {
                    "status": DeliveryStatus.SENDING.value,
                    "attempts": 1,
                    "next_attempt_at": None,
                    "lease_until": now + timedelta(seconds=self._settings.sending_lease_s),
                }
            else:
                document |= {
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "lease_until": None,
                }
            planned.append(PlannedDelivery(document, inline))
        return planned

    def _render(
        self,
        channel: DeliveryChannel,
        event_type: str,
        data: dict[str, Any],
        item: ConsumedEvent,
        delivery_id: str,
        address: str,
    ) -> tuple[dict[str, Any], str | None]:
        if channel is DeliveryChannel.EMAIL:
            email = self._catalogue.render_email(event_type, data)
            return {"subject": email.subject, "text": email.text, "html": email.html}, email.subject
        if channel is DeliveryChannel.SMS:
            return {"text": self._catalogue.render_sms(event_type, data).text}, None
        inbox = self._catalogue.render_webhook(event_type, data)
        payload = {
            **inbox,
            "delivery_id": delivery_id,
            "portal_account": address,
            "source_event_id": item.id,
            "occurred_at": item.envelope.time.isoformat(),
        }
        return {"payload": payload}, inbox["title"]

    @staticmethod
    def _trace_carrier(item: ConsumedEvent) -> dict[str, str]:
        # The consumer span of this record lives in the dossier's own trace; attempts
        # and outcome events made later by the worker continue that trace.
        if item.span_context is None:
            return capture_context()
        with trace.use_span(NonRecordingSpan(item.span_context)):
            return capture_context()

    async def _dead_letter(self, item: ConsumedEvent, exc: NotificationDomainError) -> None:
        record = item.record
        # Validation messages can quote input values; keep the first line, scrubbed.
        reason = scrub(f"cannot notify: {type(exc).__name__}: {str(exc).splitlines()[0]}")[:500]
        log.warning(
            "dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason
        )
        headers = [(k, v) for k, v in (record.headers or ()) if not k.startswith("dlq_")]
        headers += [
            ("dlq_reason", reason.encode()),
            ("dlq_group", GROUP.encode()),
            ("dlq_source_topic", record.topic.encode()),
            ("dlq_source_partition", str(record.partition).encode()),
            ("dlq_source_offset", str(record.offset).encode()),
        ]
        await self._publisher.send_raw(
            self._dead_letter_topic, record.value, key=record.key, headers=headers
        )
