"""The testcontainers path: Kafka and the store as containers of a Docker-compatible engine.

The images are the project's own, built without any registry by
``deploy/containers/setup.sh`` (podman, from the jars and the FerretDB binary the local
launcher uses): ``hoso/kafka:<Kafka version>`` and ``hoso/ferretdb:<FerretDB version>``,
the versions read from ``deploy/kafka/pom.xml`` and ``deploy/ferretdb/go.mod``.
``HOSO_TEST_KAFKA_IMAGE`` and ``HOSO_TEST_STORE_IMAGE`` name others built the same way.

Every port is published on 127.0.0.1 only. Kafka's client port is chosen here, before the
container starts, because the broker must advertise the address that clients on the host
connect to.
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pymongo
from pymongo.errors import PyMongoError

from tests.support.infra import ROOT, Infra, load_launcher
from tests.support.services import free_port

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

HOST = "127.0.0.1"
KAFKA_PORT = 9092
STORE_PORT = 27017
# Marks the containers of this path, so they can be told apart from anything else the
# engine runs (and found by hand if a session was killed before it removed them).
LABEL = "hoso.containers-path"
READY_TIMEOUT_S = 90.0
SETUP_HINT = 'run `eval "$(bash deploy/containers/setup.sh)"` first (see docs/testing.md)'


def kafka_image() -> str:
    if image := os.environ.get("HOSO_TEST_KAFKA_IMAGE"):
        return image
    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    match = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", pom)
    if not match:
        raise RuntimeError("deploy/kafka/pom.xml names no kafka.version")
    return f"hoso/kafka:{match[1]}"


def store_image() -> str:
    if image := os.environ.get("HOSO_TEST_STORE_IMAGE"):
        return image
    gomod = (ROOT / "deploy" / "ferretdb" / "go.mod").read_text()
    module = r"^\s*(?:require\s+)?github\.com/FerretDB/FerretDB(?:/v2)? v(\S+)"
    match = re.search(module, gomod, re.M)
    if not match:
        raise RuntimeError("deploy/ferretdb/go.mod requires no FerretDB version")
    return f"hoso/ferretdb:{match[1]}"


def missing_images() -> list[str]:
    """The images of this path that the engine lacks; raises when no engine answers."""
    import docker
    from docker.errors import ImageNotFound

    client = docker.from_env(timeout=5)
    try:
        client.ping()
        missing = []
        for image in (kafka_image(), store_image()):
            try:
                client.images.get(image)
            except ImageNotFound:
                missing.append(image)
        return missing
    finally:
        client.close()


def engine_ready() -> bool:
    """True when a Docker-compatible engine answers and holds both images."""
    try:
        return not missing_images()
    except Exception:
        return False


def start_containers() -> tuple[Infra, list[object]]:
    """Start the store and Kafka, wait until both answer on the host, return where."""
    _configure_testcontainers()
    try:
        missing = missing_images()
    except Exception as exc:
        raise RuntimeError(
            f"no container engine answers at DOCKER_HOST={os.environ.get('DOCKER_HOST', '')!r} "
            f"({exc}); {SETUP_HINT}"
        ) from exc
    if missing:
        # The engine would try to pull them, and no registry is reachable.
        raise RuntimeError(f"the container engine lacks {', '.join(missing)}: {SETUP_HINT}")

    started: list[DockerContainer] = []
    try:
        store = _container(store_image())
        _publish(store, STORE_PORT, None)
        # Listed before it starts: a start that fails after creating it must remove it.
        started.append(store)
        store.start()
        # Both boot while we wait: the broker's JVM takes the longest.
        kafka, kafka_port = _start_kafka()
        started.append(kafka)
        store_port = int(store.get_exposed_port(STORE_PORT))
        launcher = load_launcher()
        _wait_until("store", store, lambda: _store_answers(store_port))
        _wait_until("kafka", kafka, lambda: _kafka_answers(launcher, kafka_port))
    except BaseException:
        for container in started:
            with contextlib.suppress(Exception):
                container.stop()
        raise
    infra = Infra(f"{HOST}:{kafka_port}", f"mongodb://{HOST}:{store_port}", "testcontainers")
    return infra, list(started)


def _configure_testcontainers() -> None:
    from testcontainers.core.config import testcontainers_config

    # Ryuk, the reaper, is an image of its own that cannot be pulled here; the session
    # fixture removes the containers itself. An explicit setting still wins.
    if "TESTCONTAINERS_RYUK_DISABLED" not in os.environ:
        testcontainers_config.ryuk_disabled = True


def _container(image: str) -> DockerContainer:
    from testcontainers.core.container import DockerContainer

    return DockerContainer(image).with_kwargs(labels={LABEL: "1"})


def _publish(container: DockerContainer, port: int, host_port: int | None) -> None:
    # docker-py's (address, port) binding: testcontainers' with_bind_ports takes no host
    # address, and without one the engine publishes on every interface.
    binding = (HOST, host_port) if host_port else (HOST,)
    container.ports[f"{port}/tcp"] = binding  # type: ignore[assignment]


def _start_kafka(attempts: int = 3) -> tuple[DockerContainer, int]:
    from docker.errors import APIError

    for attempt in range(1, attempts + 1):
        port = free_port()
        kafka = _container(kafka_image()).with_env("KAFKA_ADVERTISED_PORT", str(port))
        _publish(kafka, KAFKA_PORT, port)
        try:
            kafka.start()
        except APIError as exc:
            with contextlib.suppress(Exception):
                kafka.stop()
            # Another process may take the port between free_port() and the start.
            if attempt == attempts or "address already in use" not in str(exc).lower():
                raise
            continue
        return kafka, port
    raise AssertionError("unreachable")


def _wait_until(what: str, container: DockerContainer, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if ready():
            return
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        if wrapped.status in {"exited", "dead"}:
            raise RuntimeError(f"the {what} container exited:\n{_logs(container)}")
        time.sleep(0.25)
    raise TimeoutError(
        f"the {what} container did not answer within {READY_TIMEOUT_S:.0f} s:\n{_logs(container)}"
    )


def _logs(container: DockerContainer, lines: int = 40) -> str:
    try:
        stdout, stderr = container.get_logs()
    except Exception as exc:
        return f"(no logs: {exc!r})"
    text = (stdout + stderr).decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


def _kafka_answers(launcher: Any, port: int) -> bool:
    try:
        return int(launcher.kafka_broker_count(port)) >= 1
    except (OSError, struct.error):
        return False


def _store_answers(port: int) -> bool:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        HOST, port, directConnection=True, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
    )
    try:
        return client.admin.command("ping").get("ok") == 1
    except PyMongoError:
        return False
    finally:
        client.close()
