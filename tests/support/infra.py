"""Where the tests find a real Kafka broker and a real MongoDB-wire store.

In order: addresses given in the environment (``KAFKA_BOOTSTRAP_SERVERS``,
``MONGODB_URI``); containers through testcontainers when a Docker-compatible engine
answers and holds the project's images (``HOSO_TEST_INFRA=containers`` forces it; see
``deploy/containers/setup.sh``); otherwise the project's own local launcher
(``deploy/local.py``), which downloads and starts the real servers.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Infra:
    kafka: str
    mongodb: str
    how: str


def load_launcher() -> ModuleType:
    """The local launcher, ``deploy.launcher``."""
    return importlib.import_module("deploy.launcher")


def _docker_answers() -> bool:
    # An engine without the locally built images would try to pull them from a registry.
    from tests.support.containers import engine_ready

    return engine_ready()


def provide() -> tuple[Infra, list[object]]:
    """Return the infrastructure and the objects to stop at the end of the session."""
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    mongodb = os.environ.get("MONGODB_URI")
    mode = os.environ.get("HOSO_TEST_INFRA", "auto")
    if kafka and mongodb and mode == "auto":
        return Infra(kafka, mongodb, "environment"), []
    if mode == "containers" or (mode == "auto" and _docker_answers()):
        from tests.support.containers import start_containers

        return start_containers()
    endpoints = load_launcher().ensure_up(["kafka", "store"])
    return Infra(endpoints["kafka"], endpoints["mongodb"], "local launcher"), []
