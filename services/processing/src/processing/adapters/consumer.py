"""Handlers for what intake publishes."""

from __future__ import annotations

from datetime import UTC, datetime

from chassis.events import DossierStatusChanged, DossierSubmitted, Recipient, make_event
from chassis.kafka import ConsumedEvent
from chassis.telemetry import capture_context
from processing.adapters.relay import OutboxRelay
from processing.adapters.store import DossierStore

SOURCE = "/hoso/processing"


class SubmissionHandlers:
    def __init__(self, store: DossierStore, relay: OutboxRelay) -> None:
        self._store = store
        self._relay = relay

    async def on_submitted(self, event: ConsumedEvent) -> None:
        submitted = event.payload
        assert isinstance(submitted, DossierSubmitted)
        now = datetime.now(UTC)
        applicant = submitted.applicant
        changed = DossierStatusChanged(
            dossier_id=submitted.dossier_id,
            receipt_code=submitted.receipt_code,
            procedure_code=submitted.procedure_code,
            procedure_name_vi=submitted.procedure_code,
            procedure_name_en=submitted.procedure_code,
            agency=submitted.agency,
            agency_name_vi=submitted.agency,
            agency_name_en=submitted.agency,
            kind=submitted.kind,
            old_status="submitted",
            new_status="received",
            action="receive",
            due_date=submitted.due_date,
            occurred_at=now,
            version=1,
            recipient=Recipient(
                display_name=applicant.name,
                email=applicant.email,
                phone=applicant.phone,
                language=applicant.language,
                sms_opt_out=applicant.sms_opt_out,
                portal_account=applicant.portal_account,
            ),
        )
        envelope = make_event(changed, source=SOURCE, actor="system:processing")
        created = await self._store.create(
            {
                "_id": submitted.dossier_id,
                "receipt_code": submitted.receipt_code,
                "procedure_code": submitted.procedure_code,
                "agency": submitted.agency,
                "status": "received",
                "version": 1,
                "submitted_at": submitted.submitted_at,
                "due_date": submitted.due_date.isoformat(),
                "outbox": [
                    {
                        "id": envelope.id,
                        "event": envelope.model_dump(mode="json"),
                        "trace": capture_context(),
                    }
                ],
                "outbox_pending": True,
            },
            event.id,
        )
        if created:
            self._relay.wake()
