"""Event contracts: the CloudEvents envelope, one model per event type, topic names.

This module is the one contract between the services: every enum and payload model an
event carries is declared here once, and the services import it. Who publishes each
topic and which event types each consumer group acts on are declared here too, so that
``python -m chassis.asyncapi`` can write the AsyncAPI document (docs/asyncapi.yaml)
from this module alone.

Serialisation lives here and nowhere else: producers call `encode`, consumers `decode`.
The wire format is CloudEvents 1.0 in structured mode (the whole envelope is the Kafka
value, ``content-type: application/cloudevents+json``); the Kafka key is the dossier id
so that every event of one dossier lands on one partition, in order.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

CONTENT_TYPE = "application/cloudevents+json"


class Topics:
    """Logical topic names; `ServiceSettings.topic()` adds the environment's prefix."""

    SUBMISSIONS = "dossier.submissions"  # intake -> processing: what citizens and counters send
    LIFECYCLE = "dossier.lifecycle"  # processing -> everyone: what happened to a dossier
    NOTIFICATIONS = "notification.outcomes"  # notification -> audit: what the citizen was told
    CATALOGUE = "catalogue.changes"  # intake -> audit: which catalogue version is in force

    ALL: ClassVar[tuple[str, ...]] = (SUBMISSIONS, LIFECYCLE, NOTIFICATIONS, CATALOGUE)

    @staticmethod
    def dead_letter(group: str) -> str:
        """One dead-letter topic per consumer group: an operator sees whose input failed."""
        return f"{group}.dlq"


# Dossier topics are keyed by dossier id; three partitions let three consumers share them.
TOPIC_PARTITIONS: dict[str, int] = {
    Topics.SUBMISSIONS: 3,
    Topics.LIFECYCLE: 3,
    Topics.NOTIFICATIONS: 3,
    # A few events a year, in the order they happened.
    Topics.CATALOGUE: 1,
}
DEAD_LETTER_PARTITIONS = 1
CONSUMER_GROUPS = ("intake", "processing", "notification", "audit")

# Every event on a topic comes from one service.
PUBLISHERS: dict[str, str] = {
    Topics.SUBMISSIONS: "intake",
    Topics.LIFECYCLE: "processing",
    Topics.NOTIFICATIONS: "notification",
    Topics.CATALOGUE: "intake",
}


class EventType(StrEnum):
    """Every ``type`` an envelope may carry; each is the ``event_type`` of one model below."""

    SUBMITTED = "dossier.submitted.v1"
    SUPPLEMENTED = "dossier.supplemented.v1"
    WITHDRAWAL_REQUESTED = "dossier.withdrawal-requested.v1"
    IDENTITY_RESOLVED = "dossier.identity-resolved.v1"
    DOCUMENT_READ = "dossier.document-read.v1"
    RESULT_ISSUED = "dossier.result-issued.v1"
    STATUS_CHANGED = "dossier.status-changed.v1"
    OVERDUE = "dossier.overdue.v1"
    APOLOGY_ISSUED = "dossier.apology-issued.v1"
    ASSIGNED = "dossier.assigned.v1"
    NOTE_ADDED = "dossier.note-added.v1"
    DEADLINE_EXTENDED = "dossier.deadline-extended.v1"
    NOTIFICATION_SENT = "notification.sent.v1"
    NOTIFICATION_FAILED = "notification.failed.v1"
    CATALOGUE_VERSION_ACTIVATED = "catalogue.version-activated.v1"


# The event types each consumer group acts on. A group reads every record of the topics
# these types travel on; records of other types there are committed without effect.
SUBSCRIPTIONS: dict[str, tuple[EventType, ...]] = {
    "intake": (EventType.STATUS_CHANGED, EventType.APOLOGY_ISSUED, EventType.DEADLINE_EXTENDED),
    "processing": (
        EventType.SUBMITTED,
        EventType.SUPPLEMENTED,
        EventType.WITHDRAWAL_REQUESTED,
        EventType.RESULT_ISSUED,
    ),
    "notification": (EventType.STATUS_CHANGED, EventType.OVERDUE, EventType.APOLOGY_ISSUED),
    "audit": tuple(EventType),
}


class PoisonMessage(Exception):
    """A record that can never be handled: not JSON, not an envelope, unknown type, bad data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Envelope(BaseModel):
    """CloudEvents 1.0 attributes plus one extension, ``actor``."""

    model_config = ConfigDict(extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=128)
    source: str = Field(min_length=1, max_length=256)
    type: str = Field(min_length=1, max_length=128)
    subject: str | None = Field(default=None, max_length=128)
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    # Who caused the event: "officer:<id>", "desk:<id>", "hotline:<id>",
    # "system:<service>", "citizen:<pseudonym>", "portal:<client>". Never a name or an
    # ID number.
    actor: str = Field(min_length=1, max_length=128)
    data: dict[str, Any]


class EventData(BaseModel):
    """Base of every event payload; subclasses name their type and topic."""

    model_config = ConfigDict(extra="forbid")

    event_type: ClassVar[str]
    topic: ClassVar[str]


# --------------------------------------------------------------------------- shared parts


class DossierKind(StrEnum):
    """What a dossier is; the catalogue gives each procedure one of these."""

    PROCEDURE = "procedure"
    PETITION = "petition"
    COMPLAINT = "complaint"
    DENUNCIATION = "denunciation"


class Channel(StrEnum):
    """Where a dossier was lodged: the portal, the department's counter, the post (keyed
    by the one-stop desk) or the hotline (petitions taken by phone)."""

    ONLINE = "online"
    COUNTER = "counter"
    POST = "post"
    PHONE = "phone"


class DeliveryChannel(StrEnum):
    """How the citizen is told: email, SMS, or an item in their portal inbox."""

    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"


class DossierStatus(StrEnum):
    """The states of processing's workflow; status changes name them by value."""

    SUBMITTED = "submitted"
    RECEIVED = "received"
    # A complaint or denunciation received and waiting for the decision to accept it
    # (thụ lý) or not; its time limit runs from acceptance.
    AWAITING_ACCEPTANCE = "awaiting_acceptance"
    IN_REVIEW = "in_review"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    SUPPLEMENTED = "supplemented"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    RESULT_RETURNED = "result_returned"
    WITHDRAWN = "withdrawn"


def _one_of(values: type[StrEnum]) -> str:
    return ", ".join(v.value for v in values)


# Statuses and delivery channels travel as plain strings, so a value a producer adds
# later reaches consumers (audit records it; notification dead-letters what it cannot
# word) instead of being refused as a malformed event by every consumer at once.
_STATUS_TEXT = f"A dossier status: {_one_of(DossierStatus)}."
_DELIVERY_CHANNEL_TEXT = f"A delivery channel: {_one_of(DeliveryChannel)}."


class ApplicantType(StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"


class Applicant(BaseModel):
    """The applicant as events carry it. For a denunciation intake replaces the identity
    with a pseudonym before anything is published: name, id_number, phone and address
    are then None and ``pseudonym`` is set."""

    model_config = ConfigDict(extra="forbid")

    type: ApplicantType
    name: str | None = None
    id_number: str | None = None  # 12-digit citizen ID (CCCD) or tax code
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    language: Literal["vi", "en"] = "vi"
    sms_opt_out: bool = False
    portal_account: str | None = None
    pseudonym: str | None = None


class Recipient(BaseModel):
    """Where the citizen is told about their dossier; derived from the applicant."""

    model_config = ConfigDict(extra="forbid")

    display_name: str | None = None
    email: str | None = None
    phone: str | None = None
    language: Literal["vi", "en"] = "vi"
    sms_opt_out: bool = False
    portal_account: str | None = None


class Attachment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document_code: str
    name: str
    media_type: str
    size: int
    sha256: str
    # The uploaded file's id at intake (GET /v1/dossiers/{code}/documents/{id}).
    document_id: str | None = None


class FieldChange(BaseModel):
    """Before and after of one field, as an audit trail records them."""

    model_config = ConfigDict(extra="forbid")

    field: str
    old: Any = None
    new: Any = None


class DossierRef(EventData):
    """Identification every lifecycle event repeats so consumers need no look-ups."""

    dossier_id: str
    receipt_code: str
    procedure_code: str
    procedure_name_vi: str
    procedure_name_en: str
    agency: str
    agency_name_vi: str
    agency_name_en: str
    kind: DossierKind = DossierKind.PROCEDURE


# --------------------------------------------------------------------------- intake -> processing


class DossierSubmitted(EventData):
    """A citizen or a counter lodged a dossier; intake accepted and numbered it."""

    event_type: ClassVar[str] = EventType.SUBMITTED.value
    topic: ClassVar[str] = Topics.SUBMISSIONS

    dossier_id: str
    receipt_code: str
    procedure_code: str
    agency: str
    kind: DossierKind
    channel: Channel
    submitted_at: datetime
    due_date: date
    applicant: Applicant
    form: dict[str, Any]
    attachments: list[Attachment] = Field(default_factory=list)
    # The citizen's own words for a petition, complaint or denunciation.
    content: str | None = None
    # The catalogue version the dossier was lodged under (`Catalogue.version_id`): its
    # rules stay those of that version whatever the province changes later.
    catalogue_version: str | None = None


class DossierSupplemented(EventData):
    """The applicant sent the documents processing asked for."""

    event_type: ClassVar[str] = EventType.SUPPLEMENTED.value
    topic: ClassVar[str] = Topics.SUBMISSIONS

    dossier_id: str
    receipt_code: str
    supplemented_at: datetime
    attachments: list[Attachment]
    note: str | None = None


class DossierWithdrawalRequested(EventData):
    """The applicant asked to withdraw the dossier; processing decides whether it can."""

    event_type: ClassVar[str] = EventType.WITHDRAWAL_REQUESTED.value
    topic: ClassVar[str] = Topics.SUBMISSIONS

    dossier_id: str
    receipt_code: str
    requested_at: datetime
    reason: str | None = None


class DossierIdentityResolved(EventData):
    """An officer with clearance looked behind a denouncer's pseudonym. The event says
    who looked and at which dossier, never what they saw."""

    event_type: ClassVar[str] = EventType.IDENTITY_RESOLVED.value
    topic: ClassVar[str] = Topics.SUBMISSIONS

    dossier_id: str
    receipt_code: str
    pseudonym: str
    resolved_at: datetime


class DossierDocumentRead(EventData):
    """An officer opened one of the dossier's documents; who, which and when, never the
    bytes. ``range`` is the byte range read (``bytes=0-1023``), None for the whole file."""

    event_type: ClassVar[str] = EventType.DOCUMENT_READ.value
    topic: ClassVar[str] = Topics.SUBMISSIONS

    dossier_id: str
    receipt_code: str
    document_id: str
    sha256: str
    read_at: datetime
    range: str | None = None


class DossierResultIssued(EventData):
    """Intake issued the signed result document (licence, certificate or decision) of an
    approved dossier; one per dossier, its id and hash fixed once issued."""

    event_type: ClassVar[str] = EventType.RESULT_ISSUED.value
    topic: ClassVar[str] = Topics.SUBMISSIONS

    dossier_id: str
    receipt_code: str
    document_id: str
    sha256: str
    size: int
    decision_number: str
    issued_at: datetime


# --------------------------------------------------------------------------- processing -> all


class Decision(BaseModel):
    """The written answer to a complaint or denunciation: the settlement decision or the
    conclusion (or the notice declining to accept it), as the officer recorded it."""

    model_config = ConfigDict(extra="forbid")

    number: str
    issued_on: date
    summary: str


class DossierStatusChanged(DossierRef):
    """The dossier moved in the workflow; ``action`` names the step that moved it."""

    event_type: ClassVar[str] = EventType.STATUS_CHANGED.value
    topic: ClassVar[str] = Topics.LIFECYCLE

    old_status: str | None = Field(description=_STATUS_TEXT)
    new_status: str = Field(description=_STATUS_TEXT)
    action: str
    reason: str | None = None
    missing_documents: list[str] | None = None
    # What else the applicant must bring, in the officer's words (not catalogue documents).
    missing_items: list[str] | None = None
    due_date: date | None = None
    result_reference: str | None = None
    decision: Decision | None = None
    # The signed result document handed to the applicant (result_returned of an approved
    # dossier): its id at intake and its SHA-256.
    result_document_id: str | None = None
    result_sha256: str | None = None
    occurred_at: datetime
    version: int
    recipient: Recipient
    changes: list[FieldChange] = Field(default_factory=list)


class DossierOverdue(DossierRef):
    """The deadline scan found the dossier past its due date and not yet decided."""

    event_type: ClassVar[str] = EventType.OVERDUE.value
    topic: ClassVar[str] = Topics.LIFECYCLE

    due_date: date
    detected_at: datetime
    recipient: Recipient


class DossierApologyIssued(DossierRef):
    """The apology-and-new-appointment slip (phiếu xin lỗi và hẹn lại ngày trả kết quả)."""

    event_type: ClassVar[str] = EventType.APOLOGY_ISSUED.value
    topic: ClassVar[str] = Topics.LIFECYCLE

    old_due_date: date
    new_due_date: date
    reason: str
    issued_at: datetime
    recipient: Recipient
    changes: list[FieldChange] = Field(default_factory=list)


class DossierAssigned(DossierRef):
    """An officer claimed the dossier, or a leader assigned it to one."""

    event_type: ClassVar[str] = EventType.ASSIGNED.value
    topic: ClassVar[str] = Topics.LIFECYCLE

    officer_id: str
    assigned_by: str
    occurred_at: datetime
    changes: list[FieldChange] = Field(default_factory=list)


class DossierNoteAdded(DossierRef):
    """An officer wrote an internal note on the dossier."""

    event_type: ClassVar[str] = EventType.NOTE_ADDED.value
    topic: ClassVar[str] = Topics.LIFECYCLE

    note_id: str
    officer_id: str
    text: str
    occurred_at: datetime


class DossierDeadlineExtended(DossierRef):
    """A complaint or denunciation got the longer statutory time the law allows."""

    event_type: ClassVar[str] = EventType.DEADLINE_EXTENDED.value
    topic: ClassVar[str] = Topics.LIFECYCLE

    old_due_date: date
    new_due_date: date
    reason: str
    occurred_at: datetime
    changes: list[FieldChange] = Field(default_factory=list)


# --------------------------------------------------------------------------- notification -> audit


class NotificationSent(EventData):
    """One message about a lifecycle event reached the gateway of one channel."""

    event_type: ClassVar[str] = EventType.NOTIFICATION_SENT.value
    topic: ClassVar[str] = Topics.NOTIFICATIONS

    delivery_id: str
    dossier_id: str
    source_event_id: str
    source_event_type: str
    channel: str = Field(description=_DELIVERY_CHANNEL_TEXT)
    attempts: int
    recipient_masked: str
    sent_at: datetime


class NotificationFailed(EventData):
    """One message could not be delivered after its last attempt; operators may resend."""

    event_type: ClassVar[str] = EventType.NOTIFICATION_FAILED.value
    topic: ClassVar[str] = Topics.NOTIFICATIONS

    delivery_id: str
    dossier_id: str
    source_event_id: str
    source_event_type: str
    channel: str = Field(description=_DELIVERY_CHANNEL_TEXT)
    attempts: int
    recipient_masked: str
    error: str
    failed_at: datetime


# --------------------------------------------------------------------------- intake -> audit


class CatalogueVersionActivated(EventData):
    """A catalogue version came into force: the audit trail of every catalogue change.

    The event id is derived from ``sha256``, so replicas announcing one version leave one
    entry. ``added``, ``removed`` and ``changed`` are procedure codes against the version
    the announcing process had before (all added at its start)."""

    event_type: ClassVar[str] = EventType.CATALOGUE_VERSION_ACTIVATED.value
    topic: ClassVar[str] = Topics.CATALOGUE

    version: str
    version_id: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    published_on: date | None = None
    department_name_vi: str
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    changed: list[str] = Field(default_factory=list)
    activated_at: datetime


EVENT_TYPES: dict[str, type[EventData]] = {
    cls.event_type: cls
    for cls in (
        DossierSubmitted,
        DossierSupplemented,
        DossierWithdrawalRequested,
        DossierIdentityResolved,
        DossierDocumentRead,
        DossierResultIssued,
        DossierStatusChanged,
        DossierOverdue,
        DossierApologyIssued,
        DossierAssigned,
        DossierNoteAdded,
        DossierDeadlineExtended,
        NotificationSent,
        NotificationFailed,
        CatalogueVersionActivated,
    )
}


def new_event_id() -> str:
    return str(uuid.uuid4())


def make_event(
    data: EventData,
    *,
    source: str,
    actor: str,
    subject: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
) -> Envelope:
    return Envelope(
        id=event_id or new_event_id(),
        source=source,
        type=data.event_type,
        subject=subject if subject is not None else getattr(data, "dossier_id", None),
        time=time or datetime.now(UTC),
        actor=actor,
        data=data.model_dump(mode="json"),
    )


def encode(envelope: Envelope) -> bytes:
    return envelope.model_dump_json().encode()


def decode(raw: bytes | None) -> tuple[Envelope, EventData]:
    """Parse and validate one Kafka value; any defect raises `PoisonMessage` with a reason."""
    if raw is None:
        raise PoisonMessage("empty message value")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonMessage(f"value is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise PoisonMessage("value is not a JSON object")
    try:
        envelope = Envelope.model_validate(document)
    except ValidationError as exc:
        raise PoisonMessage(f"not a CloudEvents envelope: {_summarise(exc)}") from exc
    model = EVENT_TYPES.get(envelope.type)
    if model is None:
        raise PoisonMessage(f"unknown event type {envelope.type!r}")
    try:
        payload = model.model_validate(envelope.data)
    except ValidationError as exc:
        raise PoisonMessage(f"invalid {envelope.type} data: {_summarise(exc)}") from exc
    return envelope, payload


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
