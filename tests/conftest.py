from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from chassis.auth import new_signing_key, write_jwks
from deploy.launcher.pki import TestPki, ensure_test_pki
from tests.support.infra import Infra, provide

# The suite's broker is a single node: every topic a test makes, in this process or in a
# service it starts, holds one copy. A run against a cluster sets both itself.
os.environ.setdefault("KAFKA_REPLICATION_FACTOR", "1")
os.environ.setdefault("KAFKA_MIN_INSYNC_REPLICAS", "1")


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
    """The session's token signing key: a private Ed25519 key (PEM) held by the test
    process alone, which acts as the identity provider; `bearer(jwt_secret, ...)` signs
    with it. The services only get its public half (`jwks_file`)."""
    return new_signing_key()


@pytest.fixture(scope="session")
def jwks_file(jwt_secret: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jwks(tmp_path_factory.mktemp("jwks") / "jwks.json", jwt_secret)


@pytest.fixture(scope="session")
def document_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """The session's test CA and agency signing certificate (deploy/launcher/pki.py):
    intake signs result documents with it, verifiers trust its root."""
    return ensure_test_pki(tmp_path_factory.mktemp("pki-root"))


@pytest.fixture(scope="session")
def base_env(infra: Infra, run_id: str, jwks_file: Path, document_pki: TestPki) -> dict[str, str]:
    """The environment every service process of this session gets."""
    return {
        "INTAKE_SIGNING_PKCS12": str(document_pki.pkcs12_path),
        "INTAKE_SIGNING_PKCS12_PASSWORD": document_pki.password,
        "AUDIT_DOCUMENT_TRUST_ROOTS": str(document_pki.ca_pem),
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "MONGODB_URI": infra.mongodb,
        "KAFKA_TOPIC_PREFIX": f"{run_id}.",
        "KAFKA_REPLICATION_FACTOR": os.environ["KAFKA_REPLICATION_FACTOR"],
        "KAFKA_MIN_INSYNC_REPLICAS": os.environ["KAFKA_MIN_INSYNC_REPLICAS"],
        "JWT_JWKS_FILE": str(jwks_file),
        "INTAKE_FOLLOW_UP_KEY": secrets.token_urlsafe(32),
        # Officers find dossiers by the applicant's phone or ID number through its hashes.
        "PROCESSING_SEARCH_KEY": secrets.token_urlsafe(32),
        "LOG_JSON": "true",
        "OTEL_TRACES_SAMPLER_RATIO": "1.0",
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
    }


# Each directory's tests carry its marker whether or not their files say so, so that
# `pytest -m "not chaos"` or `-m "not chaos and not e2e"` select by what a test needs.
# The permission matrix starts the four services as processes, as end-to-end tests do.
_DIRECTORY_MARKERS = {
    "integration": "integration",
    "e2e": "e2e",
    "permissions": "e2e",
    "chaos": "chaos",
    "fuzz": "fuzz",
    "browser": "browser",
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # tryfirst: the markers must be there before `-m` deselects by them.
    here = Path(__file__).parent
    for item in items:
        try:
            top = item.path.relative_to(here).parts[0]
        except ValueError:
            continue
        marker = _DIRECTORY_MARKERS.get(top)
        if marker is not None and item.get_closest_marker(marker) is None:
            item.add_marker(marker)


@pytest.fixture(autouse=True)
def _no_client_tracing_left_behind() -> Iterator[None]:
    """A test that builds a service in this process installs the chassis's tracing, which
    instruments httpx for the whole process. Its sampler drops root client spans, so every
    later request of the test client would carry `traceparent` with sampled=0, and the
    services, honouring their parent, would record no span of it: the tests that read the
    services' spans would find none. Each test leaves the client as it found it."""
    yield
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentor = HTTPXClientInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
