from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator

import pytest

from tests.support.infra import Infra, provide


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    found, to_stop = provide()
    print(f"\n[infra] Kafka {found.kafka}, store {found.mongodb.split('@')[-1]} ({found.how})")
    try:
        yield found
    finally:
        for container in to_stop:
            container.stop()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def run_id() -> str:
    """Isolates one test session's topics, consumer groups and databases from others'."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def jwt_secret() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture(scope="session")
def base_env(infra: Infra, run_id: str, jwt_secret: str) -> dict[str, str]:
    """The environment every service process of this session gets."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "MONGODB_URI": infra.mongodb,
        "KAFKA_TOPIC_PREFIX": f"{run_id}.",
        "JWT_SECRET": jwt_secret,
        "LOG_JSON": "true",
        "OTEL_TRACES_SAMPLER_RATIO": "1.0",
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
    }
