"""The use case of a lifecycle notice: decide, render, claim, first attempt.

For each notice the policy picks the channels, the templates give the wording, and one
delivery record per (event, channel, recipient) is inserted before anything is sent; a
record that already exists means the event was seen before (a batch handled again after
a restart, or by another replica after a rebalance) and nothing more is done for it here.
Each new delivery's first attempt is then made with a short time limit. Everything after
that is the retry worker's, so a failing gateway costs a batch seconds at most, never a
blocked partition.

Deliveries of one dossier are attempted in event order; different dossiers in parallel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chassis.events import (
    DeliveryChannel,
    DossierApologyIssued,
    DossierKind,
    DossierOverdue,
    DossierStatusChanged,
)
from chassis.privacy import scrub
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
from notification.service.delivery import Deliverer
from notification.service.ports import Clock, DeliveryLog, utcnow
from notification.settings import NotificationSettings

__all__ = [
    "HANDLED_EVENTS",
    "LifecycleNotice",
    "NoticeData",
    "NoticeHandler",
    "PlannedDelivery",
    "Rejected",
]

log = logging.getLogger(__name__)

# The lifecycle event types this service acts on; the consumer passes on no others.
HANDLED_EVENTS = frozenset(t.value for t in NOTICE_TYPES)
NoticeData = DossierStatusChanged | DossierOverdue | DossierApologyIssued


@dataclass(frozen=True, slots=True)
class LifecycleNotice:
    """One consumed lifecycle event as the use case needs it."""

    event_id: str
    event_type: str
    occurred_at: datetime
    data: NoticeData
    # The trace context the event arrived in: attempts and outcome events made later, by
    # whichever process, continue the dossier's trace.
    trace: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A notice that can never be sent (a status with no wording, say), with the reason
    for the group's dead-letter topic; it never contains a contact detail."""

    notice: LifecycleNotice
    reason: str


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    # The delivery as it is inserted, the rendered message (``content``) included, so
    # every attempt sends the same words.
    document: dict[str, Any]
    # True: inserted as attempt 1 in 'sending', made at once by the handler. False while
    # the channel is paused: inserted 'pending', due now, for the retry worker.
    inline: bool


class NoticeHandler:
    def __init__(
        self,
        settings: NotificationSettings,
        catalogue: TemplateCatalogue,
        store: DeliveryLog,
        deliverer: Deliverer,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._settings = settings
        self._catalogue = catalogue
        self._store = store
        self._deliverer = deliverer
        self._clock = clock
        pepper = settings.delivery_key_pepper
        self._pepper = pepper.get_secret_value().encode() if pepper else None

    async def handle_batch(self, notices: Sequence[LifecycleNotice]) -> list[Rejected]:
        """Claim and attempt every delivery the notices call for; returns the notices
        that can never be sent, for the caller to dead-letter."""
        now = self._clock()
        rejected: list[Rejected] = []
        by_dossier: dict[str, list[list[PlannedDelivery]]] = {}
        for notice in notices:
            try:
                planned = self.plan(notice, now)
            except NotificationDomainError as exc:
                rejected.append(Rejected(notice, _reason(exc)))
                continue
            if planned:
                by_dossier.setdefault(notice.data.dossier_id, []).append(planned)

        documents = [p.document for events in by_dossier.values() for ps in events for p in ps]
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
        return rejected

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

    def plan(self, notice: LifecycleNotice, now: datetime) -> list[PlannedDelivery]:
        """The deliveries one lifecycle event calls for, rendered and keyed."""
        event = notice.data
        event_type = notice.event_type
        new_status = event.new_status if isinstance(event, DossierStatusChanged) else None
        data = event.model_dump(mode="json")
        if event.kind is DossierKind.DENUNCIATION:
            # A denouncer is never addressed by name, whatever the producer put there.
            data["recipient"]["display_name"] = None
        recipient = as_recipient(data["recipient"])

        planned: list[PlannedDelivery] = []
        for channel in decide_channels(event_type, new_status, recipient):
            address = address_for(channel, recipient)
            if channel not in self._deliverer.channels or address is None:
                continue
            key = delivery_key(notice.event_id, channel, address, pepper=self._pepper)
            content, subject = self._render(channel, notice, data, key, address)
            inline = self._deliverer.gate.allows(channel)
            document: dict[str, Any] = {
                "_id": key,
                "dossier_id": event.dossier_id,
                "receipt_code": event.receipt_code,
                "dossier_kind": event.kind.value,
                "source_event_id": notice.event_id,
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
                "trace": notice.trace,
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
        notice: LifecycleNotice,
        data: dict[str, Any],
        delivery_id: str,
        address: str,
    ) -> tuple[dict[str, Any], str | None]:
        event_type = notice.event_type
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
            "source_event_id": notice.event_id,
            "occurred_at": notice.occurred_at.isoformat(),
        }
        return {"payload": payload}, inbox["title"]


def _reason(exc: NotificationDomainError) -> str:
    # Validation messages can quote input values; keep the first line, scrubbed.
    return scrub(f"cannot notify: {type(exc).__name__}: {str(exc).splitlines()[0]}")[:500]
