"""An intake process of its own: own topic prefix, own database, own identity key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.integration.intake.intake_support import CLIENT_LIMIT, Intake
from tests.support.documents import catalogue_document_codes, upload_samples
from tests.support.services import ServiceProcess, service_env


@pytest.fixture(scope="session")
def intake_service(
    base_env: dict[str, str],
    run_id: str,
    infra: Any,
    jwt_secret: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Intake]:
    work = tmp_path_factory.mktemp("intake")
    prefix = f"{run_id}-intake."
    database = f"{run_id}_intake_it"
    spans = work / "spans.jsonl"
    env = service_env(
        base_env,
        run_id,
        "intake",
        {
            "KAFKA_TOPIC_PREFIX": prefix,
            "INTAKE_MONGODB_DATABASE": database,
            "INTAKE_IDENTITY_KEY": Fernet.generate_key().decode(),
            "INTAKE_RATE_LIMIT_PER_CLIENT": f"{CLIENT_LIMIT}/minute",
            "INTAKE_RATE_LIMIT_FOLLOW_UP_PER_IP": "30/minute",
            "INTAKE_MAX_BODY_BYTES": "65536",
            # Small enough for a test to upload a file over it.
            "INTAKE_ATTACHMENT_MAX_BYTES": str(1024 * 1024),
            "SPANS_FILE": str(spans),
        },
    )
    process = ServiceProcess("intake", env, work / "intake.log")
    process.start()
    try:
        process.wait_ready()
        intake = Intake(process, prefix, database, infra.kafka, infra.mongodb, jwt_secret, spans)
        # The attachments of the tests' submissions name these files (intake_bodies).
        upload_samples(
            intake.url, lambda code: intake.portal(f"samples-{code}"), catalogue_document_codes()
        )
        yield intake
    finally:
        process.stop()
