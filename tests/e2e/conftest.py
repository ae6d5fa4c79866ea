from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.support.infra import load_launcher
from tests.support.mail import MailSink
from tests.support.services import SERVICES, ServiceProcess, service_env

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
    services: dict[str, ServiceProcess]
    mail: MailSink
    spans_file: Path
    log_dir: Path
    # The local launcher's Zipkin, when it could be started: every service exports to it.
    zipkin: str | None = None
    # Tags every span of this platform (resource attribute), so that its traces can be
    # told from other sessions' in a shared Zipkin.
    environment: str = ""

    def url(self, name: str) -> str:
        return self.services[name].url


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
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Platform]:
    work = tmp_path_factory.mktemp("platform")
    spans_file = work / "spans.jsonl"
    zipkin = _zipkin()
    environment = f"e2e-{run_id}"
    extra = {
        "SPANS_FILE": str(spans_file),
        "NOTIFICATION_SMTP_HOST": "127.0.0.1",
        "NOTIFICATION_SMTP_PORT": str(mail_sink.port),
        "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment.name={environment}",
        # Spans reach Zipkin within a second instead of five.
        "OTEL_BSP_SCHEDULE_DELAY": "500",
        # Denunciations are accepted only with a key to seal the denouncer's identity.
        "INTAKE_IDENTITY_KEY": Fernet.generate_key().decode(),
        # A checkpoint soon after traffic, so the operators' status shows one.
        "AUDIT_CHECKPOINT_INTERVAL_S": "2",
    }
    if zipkin:
        extra["ZIPKIN_ENDPOINT"] = f"{zipkin}/api/v2/spans"
    processes = {
        name: ServiceProcess(name, service_env(base_env, run_id, name, extra), work / f"{name}.log")
        for name in SERVICES
    }
    for process in processes.values():
        process.start()
    try:
        for process in processes.values():
            process.wait_ready()
        yield Platform(processes, mail_sink, spans_file, work, zipkin, environment)
    finally:
        for process in processes.values():
            process.stop()
