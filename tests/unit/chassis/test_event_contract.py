"""The event contract and its AsyncAPI document say the same as the code that uses them."""

from __future__ import annotations

import types
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka.structs import ConsumerRecord
from jsonschema import Draft202012Validator

from chassis import asyncapi, catalogue
from chassis.events import (
    CONSUMER_GROUPS,
    EVENT_TYPES,
    PUBLISHERS,
    SUBSCRIPTIONS,
    TOPIC_PARTITIONS,
    Applicant,
    ApplicantType,
    Attachment,
    CatalogueVersionActivated,
    Channel,
    DossierApologyIssued,
    DossierAssigned,
    DossierDeadlineExtended,
    DossierDocumentRead,
    DossierIdentityResolved,
    DossierKind,
    DossierNoteAdded,
    DossierOverdue,
    DossierResultIssued,
    DossierStatus,
    DossierStatusChanged,
    DossierSubmitted,
    DossierSupplemented,
    DossierWithdrawalRequested,
    Envelope,
    EventData,
    EventType,
    FieldChange,
    NotificationFailed,
    NotificationSent,
    PoisonMessage,
    Recipient,
    Topics,
    decode,
    encode,
    make_event,
)
from chassis.kafka import ConsumerLoop, DeadLetter
from chassis.settings import ServiceSettings
from intake.adapters.projection import HANDLED_EVENTS as INTAKE_HANDLED_EVENTS
from notification.adapters.consumer import HANDLED_EVENTS
from notification.service.delivery import Deliverer
from notification.settings import NotificationSettings
from processing.adapters.consumer import submission_handlers
from processing.domain import workflow

DOCUMENT = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.yaml"
AT = datetime(2025, 3, 20, 2, 15, tzinfo=UTC)
DOSSIER = "8f14e45f-ceea-4e6a-9b6f-2d0c1e7a5b31"
RECEIPT = "000.00.12.H12-250317-0042"
REF: dict[str, Any] = {
    "dossier_id": DOSSIER,
    "receipt_code": RECEIPT,
    "procedure_code": "1.004228",
    "procedure_name_vi": "Cấp giấy phép khai thác, sử dụng nước dưới đất",
    "procedure_name_en": "Licence for groundwater extraction and use",
    "agency": "STNMT",
    "agency_name_vi": "Sở Tài nguyên và Môi trường",
    "agency_name_en": "Department of Natural Resources and Environment",
    "kind": DossierKind.PROCEDURE,
}
TO = Recipient(display_name="Lê Thị Hoa", email="hoa@example.vn", portal_account="cd-0001")
ATTACHMENT = Attachment(
    document_code="application_form",
    name="don.pdf",
    media_type="application/pdf",
    size=1024,
    sha256="0" * 64,
)
DELIVERY: dict[str, Any] = {
    "delivery_id": "f" * 64,
    "dossier_id": DOSSIER,
    "source_event_id": "evt-1",
    "source_event_type": EventType.STATUS_CHANGED.value,
    "channel": "email",
    "attempts": 2,
    "recipient_masked": "h***@e***.vn",
}

# One real payload of every event type, filled as a producer fills it.
SAMPLES: list[EventData] = [
    DossierSubmitted(
        dossier_id=DOSSIER,
        receipt_code=RECEIPT,
        procedure_code="1.004228",
        agency="STNMT",
        kind=DossierKind.PROCEDURE,
        channel=Channel.ONLINE,
        submitted_at=AT,
        due_date=date(2025, 4, 8),
        applicant=Applicant(type=ApplicantType.PERSON, name="Lê Thị Hoa", email="hoa@example.vn"),
        form={"well_depth_m": 80},
        attachments=[ATTACHMENT],
    ),
    DossierSupplemented(
        dossier_id=DOSSIER, receipt_code=RECEIPT, supplemented_at=AT, attachments=[ATTACHMENT]
    ),
    DossierWithdrawalRequested(dossier_id=DOSSIER, receipt_code=RECEIPT, requested_at=AT),
    DossierIdentityResolved(
        dossier_id=DOSSIER, receipt_code=RECEIPT, pseudonym="tc-7f3a", resolved_at=AT
    ),
    DossierStatusChanged(
        **REF,
        old_status=DossierStatus.IN_REVIEW,
        new_status=DossierStatus.APPROVED,
        action="approve",
        occurred_at=AT,
        version=5,
        recipient=TO,
        changes=[FieldChange(field="status", old="in_review", new="approved")],
    ),
    DossierOverdue(**REF, due_date=date(2025, 4, 8), detected_at=AT, recipient=TO),
    DossierApologyIssued(
        **REF,
        old_due_date=date(2025, 4, 8),
        new_due_date=date(2025, 4, 22),
        reason="Cần lấy thêm ý kiến",
        issued_at=AT,
        recipient=TO,
    ),
    DossierAssigned(**REF, officer_id="o-1", assigned_by="l-1", occurred_at=AT),
    DossierNoteAdded(**REF, note_id="n-1", officer_id="o-1", text="Gọi lại", occurred_at=AT),
    DossierDeadlineExtended(
        **REF,
        old_due_date=date(2025, 4, 8),
        new_due_date=date(2025, 5, 8),
        reason="Vụ việc phức tạp",
        occurred_at=AT,
    ),
    NotificationSent(**DELIVERY, sent_at=AT),
    NotificationFailed(**DELIVERY, error="HTTP 400", failed_at=AT),
    CatalogueVersionActivated(
        version="2026.12.1",
        version_id="2026.12.1+288b01dbbefb",
        sha256="288b01dbbefb" + "0" * 52,
        published_on=date(2026, 12, 7),
        department_name_vi="Sở Nông nghiệp và Môi trường",
        changed=["DD-003"],
        activated_at=AT,
    ),
    DossierDocumentRead(
        dossier_id=DOSSIER,
        receipt_code=RECEIPT,
        document_id="65f0c2a9e7d1b4c3a9e8f2b6",
        sha256="0" * 64,
        read_at=AT,
        range="bytes=0-1023",
    ),
    DossierResultIssued(
        dossier_id=DOSSIER,
        receipt_code=RECEIPT,
        document_id="65f0c2a9e7d1b4c3a9e8f2b7",
        sha256="1" * 64,
        size=48_213,
        decision_number="123/QĐ-STNMT",
        issued_at=AT,
    ),
]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi.document()


def schema_of(document: dict[str, Any], name: str) -> Draft202012Validator:
    # The components travel along so that every "#/components/..." reference resolves.
    root = {"components": document["components"], "$ref": f"#/components/schemas/{name}"}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


# --------------------------------------------------------------------------- one contract


def test_each_event_type_has_exactly_one_model() -> None:
    assert set(EVENT_TYPES) == {t.value for t in EventType}
    assert {type(s) for s in SAMPLES} == set(EVENT_TYPES.values())
    for event_type, model in EVENT_TYPES.items():
        assert model.event_type == event_type
        # A plain str: it is stored in documents and written into headers as it is.
        assert type(model.event_type) is str
        assert model.topic in Topics.ALL


def test_services_use_the_contracts_enums() -> None:
    assert catalogue.DossierKind is DossierKind
    assert workflow.DossierStatus is DossierStatus


def test_subscriptions_are_what_the_services_handle() -> None:
    noop = types.SimpleNamespace(receive=None, supplement=None, withdraw=None)
    processing = submission_handlers(noop)  # type: ignore[arg-type]
    assert set(SUBSCRIPTIONS["intake"]) == INTAKE_HANDLED_EVENTS
    assert set(processing) == set(SUBSCRIPTIONS["processing"])
    assert set(SUBSCRIPTIONS["notification"]) == HANDLED_EVENTS
    assert set(SUBSCRIPTIONS["audit"]) == set(EVENT_TYPES)
    assert set(SUBSCRIPTIONS) == set(CONSUMER_GROUPS)
    assert set(PUBLISHERS) == set(Topics.ALL) == set(TOPIC_PARTITIONS)


# --------------------------------------------------------------------------- the document


def test_checked_in_document_is_the_one_the_contract_gives() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == asyncapi.render(), (
        "docs/asyncapi.yaml is stale: run `make asyncapi` and commit the result"
    )


def test_document_is_yaml_of_the_document(document: dict[str, Any]) -> None:
    assert yaml.safe_load(asyncapi.render()) == document
    assert document["asyncapi"] == "3.0.0"


def test_every_topic_and_dead_letter_topic_is_a_channel(document: dict[str, Any]) -> None:
    addresses = {c["address"] for c in document["channels"].values()}
    expected = set(Topics.ALL) | {Topics.dead_letter(g) for g in CONSUMER_GROUPS}
    assert addresses == {"{prefix}" + topic for topic in expected}
    for channel in document["channels"].values():
        topic = channel["address"].removeprefix("{prefix}")
        partitions = channel["bindings"]["kafka"]["partitions"]
        assert partitions == TOPIC_PARTITIONS.get(topic, 1)


def test_operations_name_who_sends_and_who_receives_each_event(
    document: dict[str, Any],
) -> None:
    senders: dict[str, set[str]] = {}
    receivers: dict[str, set[str]] = {}
    for operation_id, operation in document["operations"].items():
        service = next(s for s in CONSUMER_GROUPS if operation_id.startswith(s))
        for ref in operation["messages"]:
            channel, _, message = ref["$ref"].removeprefix("#/channels/").partition("/messages/")
            # An operation can only carry messages its own channel declares.
            assert operation["channel"]["$ref"] == f"#/channels/{channel}"
            assert message in document["channels"][channel]["messages"]
            target = senders if operation["action"] == "send" else receivers
            target.setdefault(message, set()).add(service)
    for event_type, model in EVENT_TYPES.items():
        assert senders[model.__name__] == {PUBLISHERS[model.topic]}
        expected = {g for g in CONSUMER_GROUPS if event_type in SUBSCRIPTIONS[g]}
        assert receivers.get(model.__name__, set()) == expected
    assert senders["DeadLetter"] == set(CONSUMER_GROUPS)
    assert senders["FailedDelivery"] == {"notification"}


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: d.event_type)
def test_document_describes_what_encode_writes(document: dict[str, Any], data: EventData) -> None:
    envelope = make_event(data, source="/hoso/test", actor="system:test")
    wire = yaml.safe_load(encode(envelope))  # JSON is YAML
    message = document["components"]["messages"][type(data).__name__]
    payload = message["payload"]["$ref"].rsplit("/", 1)[1]
    assert not list(schema_of(document, payload).iter_errors(wire))
    assert message["name"] == data.event_type
    # The schema tells one event type from another, as `decode` does.
    others = [m for m in EVENT_TYPES.values() if m is not type(data)]
    assert list(schema_of(document, f"{others[0].__name__}Event").iter_errors(wire))
    assert decode(encode(envelope))[1] == data


def test_document_refuses_what_decode_refuses(document: dict[str, Any]) -> None:
    envelope = make_event(SAMPLES[4], source="/hoso/test", actor="system:test")
    wire = envelope.model_dump(mode="json")
    wire["data"]["recipient"]["fax"] = "+84 24 3822 1234"
    assert list(schema_of(document, "DossierStatusChangedEvent").iter_errors(wire))
    with pytest.raises(PoisonMessage, match="fax"):
        decode(Envelope.model_validate(wire).model_dump_json().encode())


# --------------------------------------------------------------------------- headers


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = []

    async def send_raw(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None,
        headers: list[tuple[str, bytes]],
    ) -> None:
        self.sent.append((topic, value, key, headers))


def header_names(headers: list[tuple[str, bytes]]) -> set[str]:
    return {name for name, _ in headers}


async def test_dead_letter_headers_are_the_documented_ones(document: dict[str, Any]) -> None:
    publisher = RecordingPublisher()
    loop = ConsumerLoop(
        settings=ServiceSettings(kafka_topic_prefix="t."),
        group="audit",
        topics=[Topics.LIFECYCLE],
        publisher=publisher,  # type: ignore[arg-type]
    )
    record = ConsumerRecord(
        topic="t.dossier.lifecycle",
        partition=2,
        offset=41,
        timestamp=0,
        timestamp_type=0,
        key=DOSSIER.encode(),
        value=b"not json",
        checksum=None,
        serialized_key_size=36,
        serialized_value_size=8,
        headers=[("traceparent", b"00-1-2-01")],
    )
    await loop._dead_letter(DeadLetter(record, "value is not valid JSON", "poison"))
    ((topic, value, key, headers),) = publisher.sent
    assert topic == "t.audit.dlq"
    assert (value, key) == (b"not json", DOSSIER.encode())
    documented = set(asyncapi.DEAD_LETTER_HEADERS)
    required = set(document["components"]["schemas"]["DeadLetterHeaders"]["required"])
    assert required <= header_names(headers) - {"traceparent"} <= documented
    assert "traceparent" in header_names(headers)  # the record's own headers are kept


async def test_failed_delivery_headers_are_the_documented_ones() -> None:
    publisher = RecordingPublisher()
    deliverer = Deliverer(
        NotificationSettings(),
        store=None,  # type: ignore[arg-type]
        senders={},
        publisher=publisher,  # type: ignore[arg-type]
    )
    failed = make_event(SAMPLES[-1], source="/hoso/notification", actor="system:notification")
    delivery = {
        "_id": "f" * 64,
        "dossier_id": DOSSIER,
        "channel": "email",
        "source_event_id": "evt-1",
        "last_error": "HTTP 400",
    }
    await deliverer._dead_letter(delivery, failed)
    ((topic, value, key, headers),) = publisher.sent
    assert topic.endswith("notification.dlq")
    assert key == DOSSIER.encode()
    assert value == encode(failed)
    assert header_names(headers) == set(asyncapi.FAILED_DELIVERY_HEADERS)
