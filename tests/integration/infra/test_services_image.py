"""The services' image, built from deploy/Dockerfile as a Docker user builds it (on a
locally made Debian Python instead of python:3.11-slim), runs a service that becomes
ready against the container path's Kafka and store, answers its own HEALTHCHECK, listens
on every interface of its container and stops cleanly on SIGTERM.

Runs with ``HOSO_TEST_INFRA=containers`` and ``HOSO_SERVICES_IMAGE`` set, as
``make image-check`` does (deploy/containers/services-image.sh builds the image).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from audit.settings import AuditSettings
from intake.settings import IntakeSettings
from notification.settings import NotificationSettings
from processing.settings import ProcessingSettings
from tests.support.infra import Infra
from tests.support.services import free_port
from workbench.settings import WorkbenchSettings

IMAGE = os.environ.get("HOSO_SERVICES_IMAGE", "")
READY_TIMEOUT_S = 90.0
SETTINGS = (
    IntakeSettings,
    ProcessingSettings,
    NotificationSettings,
    AuditSettings,
    WorkbenchSettings,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("HOSO_TEST_INFRA") != "containers" or not IMAGE,
        reason="needs the container path and the services' image (make image-check)",
    ),
]


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    import docker

    client = docker.from_env()
    try:
        yield client
    finally:
        client.close()


def _image_config(engine: Any) -> dict[str, Any]:
    config: dict[str, Any] = engine.images.get(IMAGE).attrs["Config"]
    if "Healthcheck" not in config and shutil.which("podman"):
        # Podman's Docker-compatible API leaves the health check out of an image's
        # config; its own command line has it, beside the config.
        done = subprocess.run(
            ["podman", "image", "inspect", IMAGE],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        config["Healthcheck"] = json.loads(done.stdout)[0]["Healthcheck"]
    return config


def test_the_image_is_one_for_the_four_services_and_the_workbench(engine: Any) -> None:
    config = _image_config(engine)
    ports = {int(p.split("/")[0]) for p in config["ExposedPorts"]}
    assert ports == {s.model_fields["http_port"].default for s in SETTINGS}
    env = dict(item.split("=", 1) for item in config["Env"])
    for settings in SETTINGS:
        prefix = str(settings.model_config["env_prefix"])
        assert env[f"{prefix}HTTP_HOST"] == "0.0.0.0"
    assert config["User"] not in {"", "0", "root"}
    assert config["Healthcheck"]["Test"][0] == "CMD"


def test_a_service_from_the_image_is_ready_and_healthy(
    engine: Any, infra: Infra, run_id: str
) -> None:
    port = free_port()
    healthcheck = _image_config(engine)["Healthcheck"]["Test"][1:]
    # The host's network: the container path publishes Kafka and the store on 127.0.0.1,
    # and Kafka advertises that address.
    container = engine.containers.run(
        IMAGE,
        command=["hoso-processing"],
        detach=True,
        network_mode="host",
        environment={
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
            "MONGODB_URI": infra.mongodb,
            "KAFKA_TOPIC_PREFIX": f"{run_id}.image.",
            "PROCESSING_MONGODB_DATABASE": f"{run_id}_image_processing",
            "PROCESSING_HTTP_PORT": str(port),
            "LOG_JSON": "true",
        },
        labels={"hoso.services-image-test": run_id},
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        status = None
        while time.monotonic() < deadline:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code
            except httpx.HTTPError:
                status = None
            if status == 200:
                break
            container.reload()
            assert container.status == "running", container.logs(tail=30).decode()
            time.sleep(1)
        assert status == 200, container.logs(tail=30).decode()

        code, output = container.exec_run(healthcheck)
        assert code == 0, output.decode()

        # The service listens on 0.0.0.0 (the image's default), not on its loopback only.
        code, output = container.exec_run(["cat", "/proc/net/tcp"])
        assert code == 0
        listening = {
            line.split()[1]
            for line in output.decode().splitlines()[1:]
            if line.split()[3] == "0A"  # TCP_LISTEN
        }
        assert f"00000000:{port:04X}" in listening

        # Intake's PDFs need DejaVu (intake.adapters.pdf_fonts).
        code, output = container.exec_run(["ls", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"])
        assert code == 0, output.decode()

        # SIGTERM: the drain ends well within docker-compose.yml's stop_grace_period.
        started = time.monotonic()
        container.stop(timeout=45)
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 0, container.logs(tail=30).decode()
        assert time.monotonic() - started < 40
    finally:
        container.remove(force=True)
