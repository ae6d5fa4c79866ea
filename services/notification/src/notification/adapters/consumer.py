"""Handlers for lifecycle events: tell the citizen."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from chassis.events import DossierStatusChanged, NotificationSent, make_event
from chassis.kafka import ConsumedEvent, EventPublisher
from chassis.privacy import mask_email
from notification.adapters.email import SmtpSender
from notification.adapters.store import DeliveryStore

SOURCE = "/hoso/notification"


class LifecycleHandlers:
    def __init__(self, store: DeliveryStore, email: SmtpSender, publisher: EventPublisher) -> None:
        self._store = store
        self._email = email
        self._publisher = publisher

    async def on_status_changed(self, event: ConsumedEvent) -> None:
        changed = event.payload
        assert isinstance(changed, DossierStatusChanged)
        address = changed.recipient.email
        if not address:
            return
        delivery_id = hashlib.sha256(f"{event.id}|email|{address}".encode()).hexdigest()
        existing = await self._store.get(delivery_id)
        if existing and existing.get("status") == "sent":
            return
        if existing is None:
            await self._store.claim(
                {
                    "_id": delivery_id,
                    "dossier_id": changed.dossier_id,
                    "event_id": event.id,
                    "channel": "email",
                    "status": "pending",
                    "created_at": datetime.now(UTC),
                }
            )
        subject = f"Hồ sơ {changed.receipt_code}: {changed.new_status}"
        text = (
            f"Hồ sơ {changed.receipt_code} ({changed.procedure_name_vi}) "
            f"chuyển sang trạng thái: {changed.new_status}."
        )
        await self._email.send(address, subject, text, headers={"X-Hoso-Delivery": delivery_id})
        await self._store.mark_sent(delivery_id, 1)
        await self._publisher.publish(
            make_event(
                NotificationSent(
                    delivery_id=delivery_id,
                    dossier_id=changed.dossier_id,
                    source_event_id=event.id,
                    source_event_type=event.envelope.type,
                    channel="email",
                    attempts=1,
                    recipient_masked=mask_email(address),
                    sent_at=datetime.now(UTC),
                ),
                source=SOURCE,
                actor="system:notification",
            )
        )
