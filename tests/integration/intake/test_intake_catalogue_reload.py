"""The province changes a time limit in its catalogue file while intake and processing
run: dossiers lodged afterwards get the new limit, the dossier lodged before keeps its
own, and the change is on the audit topic, once per version."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography.fernet import Fernet

from chassis.catalogue import Catalogue
from chassis.events import Topics
from intake.domain.submission import appointment_date
from tests.integration.intake.intake_bodies import waste_registration
from tests.integration.intake.intake_support import read_topic
from tests.support.documents import upload_samples
from tests.support.services import ServiceProcess, service_env
from tests.support.tokens import bearer
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

DATA_FILE = Path(__file__).parents[3] / "libs/chassis/src/chassis/catalogue/procedures.yaml"
PROCEDURE = "MT-004"


def write_catalogue(path: Path, version: str, processing_days: int) -> Catalogue:
    data: dict[str, Any] = copy.deepcopy(yaml.safe_load(DATA_FILE.read_text(encoding="utf-8")))
    data["version"] = version
    for item in data["procedures"]:
        if item["code"] == PROCEDURE:
            item["processing_days"] = processing_days
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return Catalogue.load(path)


async def test_a_reloaded_time_limit_applies_to_new_dossiers_only(
    base_env: dict[str, str],
    run_id: str,
    infra: Any,
    jwt_secret: str,
    tmp_path: Path,
) -> None:
    catalogue_file = tmp_path / "catalogue.yaml"
    first = write_catalogue(catalogue_file, "2027.1.0", 15)
    prefix = f"{run_id}-reload."
    shared = {
        "KAFKA_TOPIC_PREFIX": prefix,
        "CATALOGUE_PATH": str(catalogue_file),
        "CATALOGUE_RELOAD_INTERVAL_S": "0.5",
    }
    intake = ServiceProcess(
        "intake",
        service_env(
            base_env,
            run_id,
            "intake",
            {
                **shared,
                "INTAKE_MONGODB_DATABASE": f"{run_id}_reload_intake",
                "INTAKE_IDENTITY_KEY": Fernet.generate_key().decode(),
            },
        ),
        tmp_path / "intake.log",
    )
    processing = ServiceProcess(
        "processing",
        service_env(
            base_env,
            run_id,
            "processing",
            {
                **shared,
                "PROCESSING_MONGODB_DATABASE": f"{run_id}_reload_processing",
                "PROCESSING_DEADLINE_SCAN_INTERVAL_S": "3600",
                "PROCESSING_OUTBOX_POLL_INTERVAL_S": "0.1",
            },
        ),
        tmp_path / "processing.log",
    )
    portal = bearer(jwt_secret, f"portal-{uuid.uuid4().hex[:8]}", "portal")
    officer = bearer(jwt_secret, f"officer-{uuid.uuid4().hex[:8]}", "officer", agency="STNMT-MT")
    intake.start()
    processing.start()
    try:
        intake.wait_ready()
        processing.wait_ready()
        upload_samples(
            intake.url,
            lambda code: bearer(jwt_secret, f"samples-{code}", "portal"),
            ["application_form", "business_registration"],
        )
        async with httpx.AsyncClient(timeout=30) as client:

            async def submit() -> dict[str, Any]:
                answer = await client.post(
                    f"{intake.url}/v1/dossiers",
                    json=waste_registration(),
                    headers={**portal, "Idempotency-Key": str(uuid.uuid4())},
                )
                assert answer.status_code == 202, answer.text
                receipt: dict[str, Any] = answer.json()
                return receipt

            async def in_force() -> str | None:
                answer = await client.get(f"{intake.url}/v1/catalogue")
                version: str = answer.json()["version_id"]
                return version

            async def due_at_processing(dossier_id: str) -> str | None:
                answer = await client.get(
                    f"{processing.url}/v1/officer/dossiers/{dossier_id}", headers=officer
                )
                if answer.status_code != 200:
                    return None
                due: str = answer.json()["due_date"]
                return due

            assert await in_force() == first.version_id
            before = await submit()

            second = write_catalogue(catalogue_file, "2027.1.1", 25)
            await eventually(lambda: _equals(in_force(), second.version_id), what="the new version")
            after = await submit()
            procedure = (await client.get(f"{intake.url}/v1/procedures/{PROCEDURE}")).json()

            due_before = await eventually(lambda: due_at_processing(before["dossier_id"]))
            due_after = await eventually(lambda: due_at_processing(after["dossier_id"]))
    finally:
        processing.stop()
        intake.stop()

    assert procedure["processing_days"] == 25
    old_rules, new_rules = first.procedures[PROCEDURE], second.procedures[PROCEDURE]
    # Intake's receipt and processing's deadline agree, each under its dossier's version.
    expected_before = appointment_date(old_rules, datetime.fromisoformat(before["received_at"]))
    expected_after = appointment_date(new_rules, datetime.fromisoformat(after["received_at"]))
    assert before["due_date"] == due_before == expected_before.isoformat()
    assert after["due_date"] == due_after == expected_after.isoformat()
    assert due_after > due_before

    submissions = await read_topic(infra.kafka, f"{prefix}{Topics.SUBMISSIONS}")
    lodged_under = {
        document["data"]["dossier_id"]: document["data"].get("catalogue_version")
        for document in (json.loads(r.value or b"{}") for r in submissions)
        if document.get("type") == "dossier.submitted.v1"
    }
    assert lodged_under[before["dossier_id"]] == first.version_id
    assert lodged_under[after["dossier_id"]] == second.version_id

    changes = await read_topic(infra.kafka, f"{prefix}{Topics.CATALOGUE}", partitions=1)
    activated = [json.loads(r.value or b"{}") for r in changes]
    assert [a["data"]["version_id"] for a in activated] == [
        first.version_id,
        second.version_id,
    ]
    assert activated[1]["data"]["changed"] == [PROCEDURE]
    assert activated[1]["id"] != activated[0]["id"]


async def _equals(probe: Any, wanted: str) -> bool:
    return bool(await probe == wanted)
