from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from audit.domain.checkpoint import generate_private_key, private_key_to_base64
from tests.support.documents import catalogue_document_codes, upload_samples
from tests.support.infra import load_launcher
from tests.support.mail import MailSink
from tests.support.services import (
    SERVICES,
    ServiceProcess,
    instance_id,
    replica_count,
    service_env,
    with_instance,
)
from tests.support.tokens import bearer

# Tests that read what all the other end-to-end tests left behind (logs, spans, metrics)
# carry this marker and run after them.
AFTER_E2E = "after_e2e"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{AFTER_E2E}: runs after every other test, over what they left behind"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    last = [item for item in items if item.get_closest_marker(AFTER_E2E)]
    if last:
        items[:] = [item for item in items if item not in last] + last


@dataclass
class Platform:
    """The four services, each as ``HOSO_E2E_REPLICAS`` processes sharing one environment:
    the same databases and consumer groups, so they share the work as a deployment's
    replicas do. Every replica writes its own log and its own spans file."""

    replicas: dict[str, list[ServiceProcess]]
    mail: MailSink
    log_dir: Path
    spans_dir: Path
    # The local launcher's Zipkin, when it could be started: every service exports to it.
    zipkin: str | None = None
    # Tags every span of this platform (resource attribute), so that its traces can be
    # told from other sessions' in a shared Zipkin.
    environment: str = ""

    @property
    def services(self) -> dict[str, ServiceProcess]:
        """The first replica of each service."""
        return {name: processes[0] for name, processes in self.replicas.items()}

    def url(self, name: str) -> str:
        """The first replica's address."""
        return self.replicas[name][0].url

    def urls(self, name: str) -> list[str]:
        """Every replica's address, in replica order."""
        return [process.url for process in self.replicas[name]]

    def url_of(self, name: str, turn: int) -> str:
        """The replica whose turn ``turn`` is, round robin, as a load balancer would pick."""
        urls = self.urls(name)
        return urls[turn % len(urls)]

    def log_files(self, name: str | None = None) -> list[Path]:
        """The logs of every replica of ``name``, or of every process."""
        names = [name] if name else list(self.replicas)
        return [process.log_path for n in names for process in self.replicas[n]]

    def spans_file_of(self, process: ServiceProcess) -> Path:
        return self.spans_dir / f"{process.instance}.jsonl"

    @property
    def spans_files(self) -> list[Path]:
        return [self.spans_file_of(p) for processes in self.replicas.values() for p in processes]

    def spans(self) -> list[dict[str, Any]]:
        """Every span any replica has written so far, each with the ``instance`` that
        wrote it. A line still being written (no newline yet) is left for the next read."""
        found: list[dict[str, Any]] = []
        for processes in self.replicas.values():
            for process in processes:
                path = self.spans_file_of(process)
                if not path.exists():
                    continue
                text = path.read_text(encoding="utf-8", errors="replace")
                complete = text.split("\n")[:-1]
                for line in complete:
                    if line:
                        found.append(json.loads(line) | {"instance": process.instance})
        return found


def _zipkin() -> str | None:
    try:
        return str(load_launcher().ensure_up(["zipkin"])["zipkin"])
    except Exception as exc:  # no Java or no Maven here: traces still go to the file
        print(f"\n[e2e] no Zipkin ({exc}); spans go to the spans file only")
        return None


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def platform(
    base_env: dict[str, str],
    run_id: str,
    mail_sink: MailSink,
    jwt_secret: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Platform]:
    work = tmp_path_factory.mktemp("platform")
    spans_dir = work / "spans"
    spans_dir.mkdir()
    zipkin = _zipkin()
    environment = f"e2e-{run_id}"
    extra = {
        "NOTIFICATION_SMTP_HOST": "127.0.0.1",
        "NOTIFICATION_SMTP_PORT": str(mail_sink.port),
        "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment.name={environment}",
        # Spans reach Zipkin within a second instead of five.
        "OTEL_BSP_SCHEDULE_DELAY": "500",
        # Denunciations are accepted only with a key to seal the denouncer's identity.
        "INTAKE_IDENTITY_KEY": Fernet.generate_key().decode(),
        # A checkpoint soon after traffic, so the operators' status shows one.
        "AUDIT_CHECKPOINT_INTERVAL_S": "2",
        # One key for every audit replica, as a deployment shares its secrets: without it
        # each process would sign checkpoints with a key of its own, which the others'
        # verification could not check.
        "AUDIT_SIGNING_KEY": private_key_to_base64(generate_private_key()),
    }
    if zipkin:
        extra["ZIPKIN_ENDPOINT"] = f"{zipkin}/api/v2/spans"
    count = replica_count()
    replicas: dict[str, list[ServiceProcess]] = {}
    for name in SERVICES:
        shared = service_env(base_env, run_id, name, extra)
        replicas[name] = []
        for replica in range(1, count + 1):
            instance = instance_id(name, replica)
            # Each process appends to a spans file of its own: lines from two processes
            # appending to one file could interleave.
            env = with_instance(shared, instance) | {
                "SPANS_FILE": str(spans_dir / f"{instance}.jsonl")
            }
            replicas[name].append(
                ServiceProcess(name, env, work / f"{instance}.log", replica=replica)
            )
    platform = Platform(replicas, mail_sink, work, spans_dir, zipkin, environment)
    print(f"\n[e2e] {count} replica(s) of each service; logs and spans in {work}")
    processes = [p for group in replicas.values() for p in group]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.wait_ready()
        # The attachments the tests submit name these files (tests.support.documents).
        upload_samples(
            replicas["intake"][0].url,
            lambda code: bearer(jwt_secret, f"samples-{code}", "portal"),
            catalogue_document_codes(),
        )
        yield platform
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.stop()
