"""Access to an intake process of its own and to the raw records on its topics."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from chassis.events import (
    DEAD_LETTER_PARTITIONS,
    TOPIC_PARTITIONS,
    DossierStatusChanged,
    Envelope,
    EventData,
    Recipient,
    Topics,
    make_event,
)
from chassis.kafka import EventPublisher
from chassis.settings import ServiceSettings
from tests.support.services import ServiceProcess
from tests.support.tokens import bearer

# Low enough to reach in a test, high enough for every other test of the module.
CLIENT_LIMIT = 40


@dataclass
class Intake:
    process: ServiceProcess
    prefix: str
    database: str
    kafka: str
    mongodb: str
    jwt_secret: str
    spans_file: Path

    @property
    def url(self) -> str:
        return self.process.url

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def portal(self, subject: str | None = None) -> dict[str, str]:
        return bearer(self.jwt_secret, subject or f"portal-{secrets.token_hex(4)}", "portal")

    def officer(self, agency: str, *scopes: str, role: str = "officer") -> dict[str, str]:
        return bearer(
            self.jwt_secret, f"officer-{secrets.token_hex(4)}", role, agency=agency, scopes=scopes
        )

    def settings(self) -> ServiceSettings:
        return ServiceSettings(
            service_name="intake-test",
            kafka_bootstrap_servers=self.kafka,
            kafka_topic_prefix=self.prefix,
        )

    async def publish(self, data: EventData, actor: str = "system:processing") -> Envelope:
        """Publish as another service would (e.g. processing's lifecycle events)."""
        publisher = EventPublisher(self.settings())
        await publisher.start()
        try:
            envelope = make_event(data, source="/hoso/test", actor=actor)
            await publisher.publish(envelope)
        finally:
            await publisher.stop()
        return envelope


async def read_topic(
    bootstrap: str, topic: str, partitions: int | None = None
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record now on ``topic``, from the beginning up to its current end."""
    if partitions is None:
        named = [count for name, count in TOPIC_PARTITIONS.items() if topic.endswith(name)]
        partitions = DEAD_LETTER_PARTITIONS if topic.endswith(".dlq") else named[0]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + 30
        while [tp for tp in assigned if await consumer.position(tp) < ends[tp]]:
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            batch = await consumer.getmany(timeout_ms=500)
            for tp, items in batch.items():
                records.extend(r for r in items if r.offset < ends[tp])
        return records
    finally:
        await consumer.stop()


def all_topics(prefix: str) -> list[str]:
    names = [*Topics.ALL, *(Topics.dead_letter(g) for g in ("intake", "processing"))]
    return [f"{prefix}{name}" for name in names]


def events_of(records: list[ConsumerRecord[bytes, bytes]], event_type: str) -> list[dict[str, Any]]:
    found = []
    for record in records:
        document = json.loads(record.value or b"{}")
        if document.get("type") == event_type:
            found.append(document)
    return found


def status_changed(
    dossier_id: str,
    receipt_code: str,
    version: int,
    new_status: str,
    *,
    old_status: str | None = None,
    missing_documents: list[str] | None = None,
    due_date: date | None = None,
) -> DossierStatusChanged:
    """A lifecycle event as processing publishes it."""
    return DossierStatusChanged(
        dossier_id=dossier_id,
        receipt_code=receipt_code,
        procedure_code="MT-004",
        procedure_name_vi="Đăng ký chủ nguồn thải chất thải nguy hại",
        procedure_name_en="Registration as a hazardous waste source owner",
        agency="STNMT-MT",
        agency_name_vi="Chi cục Bảo vệ môi trường",
        agency_name_en="Environmental Protection Sub-Department",
        old_status=old_status,
        new_status=new_status,
        action="test",
        missing_documents=missing_documents,
        due_date=due_date,
        occurred_at=datetime.now(UTC),
        version=version,
        recipient=Recipient(),
    )
