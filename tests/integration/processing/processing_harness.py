"""What the processing integration tests share: the service as a real process, an
intake stand-in that publishes submissions, and a reader of the lifecycle topic."""

from __future__ import annotations

import secrets
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from chassis.catalogue import load_default_catalogue
from chassis.events import (
    TOPIC_PARTITIONS,
    Applicant,
    ApplicantType,
    Attachment,
    Channel,
    DossierKind,
    DossierResultIssued,
    DossierSubmitted,
    Envelope,
    EventData,
    Topics,
    decode,
    make_event,
)
from chassis.kafka import EventPublisher
from chassis.settings import ServiceSettings
from tests.support.services import ServiceProcess, service_env
from tests.support.tokens import bearer
from tests.support.waiting import eventually

CATALOGUE = load_default_catalogue()
SEARCH_KEY = secrets.token_urlsafe(32)


def processing_process(
    base_env: dict[str, str],
    run_id: str,
    name: str,
    log_dir: Path,
    extra: dict[str, str] | None = None,
) -> ServiceProcess:
    """A processing process with its own topics and database, so other test modules and
    other people's runs on the same broker never see its events."""
    env = service_env(
        base_env,
        run_id,
        "processing",
        {
            "KAFKA_TOPIC_PREFIX": f"{run_id}-{name}.",
            "PROCESSING_MONGODB_DATABASE": f"{run_id}_{name}".replace("-", "_"),
            # Scans run when a test asks for them (the start-up pass finds nothing).
            "PROCESSING_DEADLINE_SCAN_INTERVAL_S": "3600",
            "PROCESSING_STATISTICS_CACHE_S": "0",
            "PROCESSING_OUTBOX_POLL_INTERVAL_S": "0.1",
            # The officers' search by phone or ID number hashes with it.
            "PROCESSING_SEARCH_KEY": SEARCH_KEY,
            **(extra or {}),
        },
    )
    return ServiceProcess("processing", env, log_dir / f"{name}.log")


@dataclass(frozen=True)
class Deployed:
    """A running processing process and where its events go."""

    service: ServiceProcess
    name: str
    bootstrap: str

    @property
    def url(self) -> str:
        return self.service.url


def attachment(code: str) -> Attachment:
    return Attachment(
        document_code=code,
        name=f"{code}.pdf",
        media_type="application/pdf",
        size=1024,
        sha256=secrets.token_hex(32),
    )


def mandatory_documents(procedure_code: str) -> tuple[str, ...]:
    procedure = CATALOGUE.get(procedure_code)
    assert procedure is not None, procedure_code
    return tuple(d.code for d in procedure.required_documents if d.mandatory)


@dataclass
class Intake:
    """Publishes what intake would, on the test's own topics."""

    settings: ServiceSettings
    publisher: EventPublisher = field(init=False)

    def __post_init__(self) -> None:
        self.publisher = EventPublisher(self.settings)

    async def start(self) -> None:
        await self.publisher.start()

    async def stop(self) -> None:
        await self.publisher.stop()

    async def submit(
        self,
        procedure_code: str,
        *,
        documents: Iterable[str] | None = None,
        submitted_at: datetime | None = None,
        applicant: Applicant | None = None,
        email: str | None = None,
        content: str | None = None,
    ) -> str:
        procedure = CATALOGUE.get(procedure_code)
        assert procedure is not None, procedure_code
        dossier_id = str(uuid.uuid4())
        codes = mandatory_documents(procedure_code) if documents is None else tuple(documents)
        data = DossierSubmitted(
            dossier_id=dossier_id,
            receipt_code=f"T-{secrets.token_hex(4).upper()}",
            procedure_code=procedure_code,
            agency=procedure.agency,
            kind=DossierKind(procedure.kind.value),
            channel=Channel.ONLINE,
            submitted_at=submitted_at or datetime.now(UTC),
            due_date=date.today(),
            applicant=applicant
            or Applicant(
                type=ApplicantType.PERSON,
                name="Lê Văn Cường",
                email=email or f"c{secrets.token_hex(3)}@example.vn",
            ),
            form={},
            attachments=[attachment(code) for code in codes],
            content=content,
        )
        await self.send(data, actor="portal:test-portal")
        return dossier_id

    async def send(self, data: EventData, *, actor: str, event_id: str | None = None) -> Envelope:
        envelope = make_event(data, source="/hoso/intake", actor=actor, event_id=event_id)
        await self.publisher.publish(envelope)
        return envelope

    async def issue_result(self, dossier_id: str) -> DossierResultIssued:
        """What intake announces once it signed an approved dossier's result document."""
        issued = DossierResultIssued(
            dossier_id=dossier_id,
            receipt_code="T-RESULT",
            document_id=secrets.token_hex(12),
            sha256=secrets.token_hex(32),
            size=48_000,
            decision_number="T-RESULT/QĐ",
            issued_at=datetime.now(UTC),
        )
        await self.send(issued, actor="system:intake")
        return issued

    async def resend(self, envelope: Envelope) -> None:
        """The same envelope again, as a redelivery after a crash would bring it."""
        await self.publisher.publish(envelope)


def officer(secret: str, subject: str, agency: str, *roles: str) -> dict[str, str]:
    return bearer(secret, subject, *(roles or ("officer",)), agency=agency)


async def wait_for_dossier(
    client: httpx.AsyncClient,
    base_url: str,
    dossier_id: str,
    headers: dict[str, str],
    *,
    status: str | None = None,
) -> httpx.Response:
    async def probe() -> httpx.Response | None:
        response = await client.get(f"{base_url}/v1/officer/dossiers/{dossier_id}", headers=headers)
        if response.status_code != 200:
            return None
        if status is not None and response.json()["status"] != status:
            return None
        return response

    return await eventually(probe, timeout_s=30, what=f"dossier {dossier_id} ({status or 'any'})")


async def act(
    client: httpx.AsyncClient,
    base_url: str,
    dossier_id: str,
    headers: dict[str, str],
    version: int | str | None,
    action: str,
    **body: Any,
) -> httpx.Response:
    extra = {} if version is None else {"If-Match": f'"{version}"'}
    return await client.post(
        f"{base_url}/v1/officer/dossiers/{dossier_id}/actions",
        json={"action": action, **body},
        headers=headers | extra,
    )


async def read_topic(
    bootstrap: str, topic: str, partitions: int = TOPIC_PARTITIONS[Topics.LIFECYCLE]
) -> list[tuple[Envelope, EventData]]:
    """Everything on ``topic`` from the beginning to its current end, read by a fresh
    consumer outside any group."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        end = await consumer.end_offsets(assigned)
        records = []
        while [tp for tp in assigned if await consumer.position(tp) < end[tp]]:
            batch = await consumer.getmany(*assigned, timeout_ms=500)
            for items in batch.values():
                records.extend(items)
    finally:
        await consumer.stop()
    return [decode(record.value) for record in records]


def lifecycle_topic(run_id: str, name: str) -> str:
    return f"{run_id}-{name}.{Topics.LIFECYCLE}"


def of_dossier(
    events: list[tuple[Envelope, EventData]], dossier_id: str
) -> list[tuple[Envelope, EventData]]:
    return [(e, d) for e, d in events if e.subject == dossier_id]


def kinds(events: list[tuple[Envelope, EventData]]) -> Counter[str]:
    """Event type, with the action for status changes: ``status:approve``."""
    counted: Counter[str] = Counter()
    for envelope, data in events:
        action = getattr(data, "action", None)
        counted[f"status:{action}" if action else envelope.type] += 1
    return counted
