"""The four services' apps built in this process, on the real broker and store, with their
start-up run as uvicorn would run it: what a test needs to ask every service's doors the
same question and read every service's metrics right after it starts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.fernet import Fernet
from fastapi import FastAPI

from audit.main import build_app as audit_app
from audit.settings import AuditSettings
from intake.main import build_app as intake_app
from intake.settings import IntakeSettings
from notification.main import build_app as notification_app
from notification.settings import NotificationSettings
from processing.main import build_app as processing_app
from processing.settings import ProcessingSettings
from tests.support.infra import Infra
from tests.support.waiting import eventually


@dataclass
class InProcess:
    apps: dict[str, FastAPI]
    databases: dict[str, str]
    topic_prefix: str

    def client(self, name: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.apps[name])
        return httpx.AsyncClient(transport=transport, base_url=f"http://{name}", timeout=30)


def build_all(infra: Infra, run_id: str, area: str) -> InProcess:
    shared: dict[str, Any] = {
        "kafka_bootstrap_servers": infra.kafka,
        "kafka_topic_prefix": f"{run_id}-{area}.",
        "mongodb_uri": infra.mongodb,
    }
    databases = {name: f"{run_id}_{area}_{name}" for name in SERVICES}
    apps = {
        "intake": intake_app(
            IntakeSettings(
                **shared,
                mongodb_database=databases["intake"],
                identity_key=Fernet.generate_key().decode(),
                follow_up_key=Fernet.generate_key().decode(),
            )
        ),
        "processing": processing_app(
            ProcessingSettings(**shared, mongodb_database=databases["processing"])
        ),
        "notification": notification_app(
            NotificationSettings(**shared, mongodb_database=databases["notification"])
        ),
        "audit": audit_app(
            AuditSettings(
                **shared,
                mongodb_database=databases["audit"],
                pii_key=Fernet.generate_key().decode(),
            )
        ),
    }
    return InProcess(apps, databases, shared["kafka_topic_prefix"])


SERVICES = ("intake", "processing", "notification", "audit")


@contextlib.asynccontextmanager
async def started(services: InProcess) -> AsyncIterator[InProcess]:
    """Each app's lifespan entered (Kafka, store set-up, consumers, workers) until ready."""
    async with contextlib.AsyncExitStack() as stack:
        for app in services.apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        for name in services.apps:
            async with services.client(name) as client:

                async def ready(client: httpx.AsyncClient = client) -> bool:
                    return (await client.get("/readyz")).status_code == 200

                await eventually(ready, timeout_s=90, what=f"{name} ready")
        yield services
