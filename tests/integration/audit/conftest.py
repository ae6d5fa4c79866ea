"""The audit service as a real process on the real broker and store, and what the tests need
around it: a publisher on its topics, a direct store connection (for tampering) and tokens."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pymongo import AsyncMongoClient, MongoClient

from audit.domain.checkpoint import private_key_to_base64
from chassis.events import (
    Applicant,
    ApplicantType,
    Channel,
    DossierKind,
    DossierStatusChanged,
    DossierSubmitted,
    Envelope,
    FieldChange,
    Recipient,
    make_event,
)
from chassis.kafka import EventPublisher, ensure_topics
from chassis.mongo import StoreClient, StoreDatabase
from chassis.settings import ServiceSettings
from tests.support.infra import Infra
from tests.support.services import ServiceProcess, service_env
from tests.support.tokens import bearer
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

# Twelve digits, the shape of a CCCD: what must never reach an auditor without clearance.
CITIZEN_ID = "079204001234"


@dataclass
class AuditService:
    process: ServiceProcess
    database: str
    topic_prefix: str
    signing_key: Ed25519PrivateKey
    pii_key: str
    jwt_secret: str
    db: StoreDatabase = field(init=False)

    @property
    def url(self) -> str:
        return self.process.url

    def auditor(self, *, cleared: bool = False) -> dict[str, str]:
        scopes = ("audit:pii",) if cleared else ()
        return bearer(self.jwt_secret, f"auditor-{uuid.uuid4().hex[:6]}", "auditor", scopes=scopes)


def _start(
    base_env: dict[str, str],
    run_id: str,
    area: str,
    jwt_secret: str,
    log_dir: Path,
    replica_of: AuditService | None = None,
) -> AuditService:
    # A replica is the same service: same keys, same topics (so the same consumer group)
    # and the same database.
    key = replica_of.signing_key if replica_of else Ed25519PrivateKey.generate()
    pii_key = replica_of.pii_key if replica_of else Fernet.generate_key().decode()
    prefix = f"{run_id}-{area}."
    env = service_env(
        base_env,
        run_id,
        "audit",
        {
            "KAFKA_TOPIC_PREFIX": prefix,
            "AUDIT_MONGODB_DATABASE": f"{run_id}_it_{area}".replace("-", "_"),
            "AUDIT_SIGNING_KEY": private_key_to_base64(key),
            "AUDIT_PII_KEY": pii_key,
            "AUDIT_CHECKPOINT_INTERVAL_S": "0.3",
            "AUDIT_KAFKA_CONSUMER_BATCH": "50",
        },
    )
    process = ServiceProcess("audit", env, log_dir / f"{area}-{uuid.uuid4().hex[:6]}.log")
    process.start()
    try:
        process.wait_ready()
    except Exception:
        process.stop()
        raise
    return AuditService(
        process, f"{run_id}_it_{area}".replace("-", "_"), prefix, key, pii_key, jwt_secret
    )


@pytest.fixture(scope="session")
async def mongo_client(infra: Infra) -> AsyncIterator[StoreClient]:
    client: StoreClient = AsyncMongoClient(infra.mongodb, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture(scope="session")
def audit_factory(
    infra: Infra,
    base_env: dict[str, str],
    run_id: str,
    jwt_secret: str,
    mongo_client: StoreClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    """``audit_factory(area)`` starts an audit service with its own topics and database;
    ``audit_factory(area, replica_of=service)`` one more replica of that service."""
    started: list[AuditService] = []
    log_dir = tmp_path_factory.mktemp("audit-services")

    def start(area: str, replica_of: AuditService | None = None) -> AuditService:
        service = _start(base_env, run_id, area, jwt_secret, log_dir, replica_of)
        service.db = mongo_client[service.database]
        started.append(service)
        return service

    yield start
    for service in started:
        service.process.stop()
    # Leave the shared store as found; the session's loop is gone by now, hence pymongo.
    client = MongoClient(infra.mongodb)
    for database in {service.database for service in started}:
        client.drop_database(database)
    client.close()


@pytest.fixture(scope="session")
def audit(audit_factory: Any) -> AuditService:
    """The audit service most modules share; each test uses its own dossiers."""
    return audit_factory("audit")


async def make_publisher(infra: Infra, topic_prefix: str) -> EventPublisher:
    settings = ServiceSettings(
        service_name="audit-tests",
        kafka_bootstrap_servers=infra.kafka,
        kafka_topic_prefix=topic_prefix,
    )
    await ensure_topics(settings)
    publisher = EventPublisher(settings)
    await publisher.start()
    return publisher


@pytest.fixture(scope="session")
async def publisher(infra: Infra, audit: AuditService) -> AsyncIterator[EventPublisher]:
    publisher = await make_publisher(infra, audit.topic_prefix)
    yield publisher
    await publisher.stop()


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


# --------------------------------------------------------------------------- events


def new_dossier_id() -> str:
    return str(uuid.uuid4())


def submitted(dossier_id: str, *, citizen_id: str = CITIZEN_ID, note: str = "") -> Envelope:
    now = datetime.now(UTC)
    return make_event(
        DossierSubmitted(
            dossier_id=dossier_id,
            receipt_code=dossier_id[:8].upper(),
            procedure_code="MT-01",
            agency="STNMT",
            kind=DossierKind.PROCEDURE,
            channel=Channel.ONLINE,
            submitted_at=now,
            due_date=date(2030, 1, 15),
            applicant=Applicant(
                type=ApplicantType.PERSON,
                name="Nguyễn Văn An",
                id_number=citizen_id,
                email="an.nguyen@example.vn",
                phone="0912345678",
                address="12 Lê Lợi, Phường Bến Nghé",
            ),
            form={"thua_dat": "số 12, tờ bản đồ 3", "ghi_chu": note or "không"},
        ),
        source="/hoso/intake",
        actor="portal:portal-client-1",
    )


def status_changed(
    dossier_id: str, old: str | None, new: str, *, version: int, officer: str = "officer:cb-07"
) -> Envelope:
    return make_event(
        DossierStatusChanged(
            dossier_id=dossier_id,
            receipt_code=dossier_id[:8].upper(),
            procedure_code="MT-01",
            procedure_name_vi="Cấp giấy phép môi trường",
            procedure_name_en="Environmental licence",
            agency="STNMT",
            agency_name_vi="Sở Tài nguyên và Môi trường",
            agency_name_en="Department of Natural Resources and Environment",
            old_status=old,
            new_status=new,
            action="advance",
            occurred_at=datetime.now(UTC),
            version=version,
            recipient=Recipient(
                display_name="Nguyễn Văn An", email="an.nguyen@example.vn", phone="0912345678"
            ),
            changes=[FieldChange(field="assignee", old=None, new="cb-07")],
        ),
        source="/hoso/processing",
        actor=officer,
    )


def traceparent(trace_id: str) -> tuple[str, bytes]:
    return ("traceparent", f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01".encode())


async def wait_for_entries(
    http: httpx.AsyncClient, audit: AuditService, dossier_id: str, count: int
) -> list[dict[str, Any]]:
    async def trail() -> list[dict[str, Any]] | None:
        response = await http.get(
            f"{audit.url}/v1/audit/dossiers/{dossier_id}", headers=audit.auditor()
        )
        assert response.status_code == 200, response.text
        entries = response.json()["entries"]
        return entries if len(entries) >= count else None

    return await eventually(trail, timeout_s=60, what=f"{count} audit entries of {dossier_id}")


async def wait_for_checkpoint(
    http: httpx.AsyncClient, audit: AuditService, tree_size: int
) -> dict[str, Any]:
    async def latest() -> dict[str, Any] | None:
        response = await http.get(
            f"{audit.url}/v1/audit/checkpoints/latest", headers=audit.auditor()
        )
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        body = response.json()
        return body if body["tree_size"] >= tree_size else None

    return await eventually(latest, timeout_s=60, what=f"a checkpoint of size {tree_size}")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
