"""docker-compose.yml cannot run here, so this keeps it honest: every variable it gives a
service must be one that service's settings read, and its ports must be the defaults the
local launcher uses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from audit.settings import AuditSettings
from chassis.settings import SHARED_FIELDS, ServiceSettings
from intake.settings import IntakeSettings
from notification.settings import NotificationSettings
from processing.settings import ProcessingSettings

ROOT = Path(__file__).resolve().parents[3]
SETTINGS: dict[str, type[ServiceSettings]] = {
    "intake": IntakeSettings,
    "processing": ProcessingSettings,
    "notification": NotificationSettings,
    "audit": AuditSettings,
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _variables_read_by(settings: type[ServiceSettings]) -> set[str]:
    prefix = str(settings.model_config.get("env_prefix", "")).upper()
    prefixed = {prefix + name.upper() for name in settings.model_fields}
    shared = {name.upper() for name in SHARED_FIELDS}
    return prefixed | shared


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_every_compose_variable_is_read_by_the_service(compose: dict, service: str) -> None:
    environment = compose["services"][service]["environment"]
    unknown = set(environment) - _variables_read_by(SETTINGS[service])
    assert not unknown, f"{service} ignores {sorted(unknown)}"


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_compose_port_is_the_launcher_default(compose: dict, service: str) -> None:
    settings = SETTINGS[service]
    default_port = settings.model_fields["http_port"].default
    entry = compose["services"][service]
    prefix = str(settings.model_config["env_prefix"]).upper()
    assert int(entry["environment"][f"{prefix}HTTP_PORT"]) == default_port
    assert entry["ports"] == [f"127.0.0.1:{default_port}:{default_port}"]


def test_every_service_waits_for_healthy_infrastructure(compose: dict) -> None:
    for service in SETTINGS:
        depends = compose["services"][service]["depends_on"]
        assert depends["kafka"]["condition"] == "service_healthy"
        assert depends["mongo"]["condition"] == "service_healthy"
        assert "healthcheck" in compose["services"][service]


def test_no_secret_is_written_into_compose(compose: dict) -> None:
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in ("SECRET", "PASSWORD", "KEY")):
                assert str(value).startswith("${"), f"{name}.{key} must come from the environment"
