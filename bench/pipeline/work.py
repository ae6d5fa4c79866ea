"""The work every contender does, written once so that only the I/O strategy differs.

Per ``dossier.submitted`` event on the input topic:

1. *processing core*: decode and validate the CloudEvents envelope and its payload, write
   the dossier document holding its ``dossier.status-changed`` event to the processing
   database (``_id`` = dossier id, so a redelivered event writes nothing new), and publish
   that status change to the lifecycle topic with ``acks=all``;
2. *audit core*: consume both topics and store one audit entry per event in the audit
   database (``_id`` = the event id, so an event delivered twice is recorded once).

The status change's event id is derived from the submitted event's id: a consumer that
crashes between the store write and the publish publishes the very same event again on
redelivery, which the audit core then skips. Every contender commits offsets only after
the work of a message is done (at-least-once delivery, exactly-once effect).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chassis.catalogue import load_default_catalogue
from chassis.events import (
    Applicant,
    ApplicantType,
    Attachment,
    Channel,
    DossierKind,
    DossierStatusChanged,
    DossierSubmitted,
    Envelope,
    Recipient,
    encode,
    make_event,
)

PROCEDURE = "MT-004"
SOURCE = "/hoso/bench"
PROCESSING_GROUP = "processing"
AUDIT_GROUP = "audit"
DOSSIERS = "dossiers"
AUDIT_ENTRIES = "audit_entries"
# Fixed, so a status change's id is a pure function of the submitted event it answers.
_STATUS_CHANGE_IDS = uuid.UUID("6f1c9b52-6d0e-4f55-9a53-1c8f0c4b9e21")


def prepare() -> None:
    """Load the catalogue before the first message, so its one-off parsing (YAML, schema
    checks) is not counted as work on the first batch."""
    load_default_catalogue()


def submitted_event(n: int, run: str, submitted_at: datetime | None = None) -> Envelope:
    """A complete online dossier for a hazardous waste registration (about 1 KB on the
    wire), one distinct applicant address per ``n``."""
    catalogue = load_default_catalogue()
    procedure = catalogue.get(PROCEDURE)
    assert procedure is not None
    now = submitted_at or datetime.now(UTC)
    dossier_id = str(uuid.uuid4())
    data = DossierSubmitted(
        dossier_id=dossier_id,
        receipt_code=f"MT-{now:%y%m%d}-{n:06d}",
        procedure_code=procedure.code,
        agency=procedure.agency,
        kind=DossierKind.PROCEDURE,
        channel=Channel.ONLINE,
        submitted_at=now,
        due_date=now.date() + timedelta(days=21),
        applicant=Applicant(
            type=ApplicantType.ORGANISATION,
            name="Công ty TNHH Giấy Hòa Bình",
            id_number="0101234567",
            email=f"enterprise{n}.{run}@example.vn",
            address="KCN Lương Sơn, Hòa Bình",
        ),
        form={
            "facility_name": "Nhà máy giấy Lương Sơn",
            "facility_address": "KCN Lương Sơn, Hòa Bình",
            "waste_items": [
                {
                    "waste_code": "16 01 06",
                    "name": "Bóng đèn huỳnh quang thải",
                    "state": "solid",
                    "quantity_kg_per_year": 120,
                }
            ],
        },
        attachments=[
            Attachment(
                document_code=code,
                name=f"{code}.pdf",
                media_type="application/pdf",
                size=120_000,
                sha256=uuid.uuid5(_STATUS_CHANGE_IDS, f"{dossier_id}/{code}").hex * 2,
            )
            for code in ("application_form", "business_registration")
        ],
    )
    return make_event(data, source=SOURCE, actor="portal:bench", time=now)


def submitted_record(n: int, run: str) -> tuple[bytes, bytes]:
    """Kafka key and value of the ``n``-th submitted event."""
    envelope = submitted_event(n, run)
    assert envelope.subject is not None
    return envelope.subject.encode(), encode(envelope)


def open_dossier(
    envelope: Envelope, submitted: DossierSubmitted, now: datetime
) -> tuple[dict[str, Any], Envelope]:
    """The dossier document and the status change that receiving it publishes."""
    catalogue = load_default_catalogue()
    procedure = catalogue.get(submitted.procedure_code)
    agency = catalogue.agencies.get(submitted.agency)
    applicant = submitted.applicant
    change = DossierStatusChanged(
        dossier_id=submitted.dossier_id,
        receipt_code=submitted.receipt_code,
        procedure_code=submitted.procedure_code,
        procedure_name_vi=procedure.name_vi if procedure else submitted.procedure_code,
        procedure_name_en=procedure.name_en if procedure else submitted.procedure_code,
        agency=submitted.agency,
        agency_name_vi=agency.name_vi if agency else submitted.agency,
        agency_name_en=agency.name_en if agency else submitted.agency,
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
    event = make_event(
        change,
        source=SOURCE,
        actor="system:processing",
        event_id=str(uuid.uuid5(_STATUS_CHANGE_IDS, envelope.id)),
        time=now,
    )
    dossier = {
        "_id": submitted.dossier_id,
        "receipt_code": submitted.receipt_code,
        "procedure_code": submitted.procedure_code,
        "agency": submitted.agency,
        "status": "received",
        "version": 1,
        "received_at": submitted.submitted_at,
        "due_date": _iso(submitted.due_date),
        "applied_event_ids": [envelope.id],
        "events": [event.model_dump(mode="json")],
    }
    return dossier, event


def audit_entry(envelope: Envelope, now: datetime) -> dict[str, Any]:
    """One audit entry per event; the event id is the key that makes it unique."""
    return {
        "_id": envelope.id,
        "event_type": envelope.type,
        "dossier_id": envelope.subject,
        "actor": envelope.actor,
        "occurred_at": envelope.time,
        "recorded_at": now,
        "payload": envelope.data,
    }


def _iso(day: date) -> str:
    return day.isoformat()
