from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.mail import MailSink
from tests.support.services import SERVICES, ServiceProcess, service_env


@dataclass
class Platform:
    services: dict[str, ServiceProcess]
    mail: MailSink
    spans_file: Path
    log_dir: Path

    def url(self, name: str) -> str:
        return self.services[name].url


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
    extra = {
        "SPANS_FILE": str(spans_file),
        "NOTIFICATION_SMTP_HOST": "127.0.0.1",
        "NOTIFICATION_SMTP_PORT": str(mail_sink.port),
    }
    processes = {
        name: ServiceProcess(name, service_env(base_env, run_id, name, extra), work / f"{name}.log")
        for name in SERVICES
    }
    for process in processes.values():
        process.start()
    try:
        for process in processes.values():
            process.wait_ready()
        yield Platform(processes, mail_sink, spans_file, work)
    finally:
        for process in processes.values():
            process.stop()
