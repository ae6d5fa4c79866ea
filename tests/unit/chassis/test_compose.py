"""docker-compose.yml cannot run here, so this keeps it honest: every variable it gives a
service must be one that service's settings read, its ports must be the defaults the
local launcher uses, one image serves every container of ours, and .env.example, the
key generator and the preflight check agree with it. `make compose-check` loads the same
file with the docker compose CLI's own loader."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
import yaml

from audit.settings import AuditSettings
from chassis.service import CONSUMER_DRAIN_S, GRACEFUL_SHUTDOWN_S
from chassis.settings import SHARED_FIELDS, ServiceSettings
from deploy.docker import keygen
from intake.settings import IntakeSettings
from notification.settings import NotificationSettings
from processing.settings import ProcessingSettings
from workbench.settings import WorkbenchSettings

ROOT = Path(__file__).resolve().parents[3]
SETTINGS: dict[str, type[ServiceSettings]] = {
    "intake": IntakeSettings,
    "processing": ProcessingSettings,
    "notification": NotificationSettings,
    "audit": AuditSettings,
    "workbench": WorkbenchSettings,
}
BACKEND = ("intake", "processing", "notification", "audit")


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
    for service in BACKEND:
        depends = compose["services"][service]["depends_on"]
        assert depends["kafka"]["condition"] == "service_healthy"
        assert depends["mongo"]["condition"] == "service_healthy"
        assert "healthcheck" in compose["services"][service]
    # The workbench knows the services only by their APIs: it waits for them instead.
    workbench = compose["services"]["workbench"]
    for service in BACKEND:
        assert workbench["depends_on"][service]["condition"] == "service_healthy"
    assert "healthcheck" in workbench


def test_the_workbench_reaches_each_service_by_its_name_and_port(compose: dict) -> None:
    environment = compose["services"]["workbench"]["environment"]
    assert compose["services"]["workbench"]["command"] == ["hoso-workbench"]
    for service in BACKEND:
        port = compose["services"][service]["environment"][f"{service.upper()}_HTTP_PORT"]
        assert environment[f"WORKBENCH_{service.upper()}_URL"] == f"http://{service}:{port}"


def test_the_signing_key_and_the_trust_roots_are_mounted_where_the_settings_say(
    compose: dict,
) -> None:
    intake = compose["services"]["intake"]
    [secret] = intake["secrets"]
    assert intake["environment"]["INTAKE_SIGNING_PKCS12"] == f"/run/secrets/{secret}"
    assert compose["secrets"][secret]["file"].startswith("${INTAKE_SIGNING_PKCS12_FILE:-")
    audit = compose["services"]["audit"]
    [config] = audit["configs"]
    assert audit["environment"]["AUDIT_DOCUMENT_TRUST_ROOTS"] == config["target"]
    assert config["source"] in compose["configs"]
    # Nothing starts without the key's password or the workbench's sign-in address.
    assert {"INTAKE_SIGNING_PKCS12_PASSWORD", "WORKBENCH_IDP_URL"} <= set(keygen.REQUIRED)


def test_no_secret_is_written_into_compose(compose: dict) -> None:
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in ("SECRET", "PASSWORD", "KEY", "TOKEN", "PEPPER")):
                assert str(value).startswith("${"), f"{name}.{key} must come from the environment"


# ---------------------------------------------------------------- one image, its settings

OUR_IMAGE = "hoso:local"
# Containers that run the project's code: the four services and the workbench, the
# preflight check, the key generator and the trial's identity provider and token command.
OURS = {*SETTINGS, "preflight", "keygen", "idp", "token"}
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
# Read by docker compose itself, never interpolated.
COMPOSE_OWN = {"COMPOSE_PROFILES"}


def _env_example() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            found[name.strip()] = value
    return found


def _dockerfile() -> str:
    return (ROOT / "deploy" / "Dockerfile").read_text()


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert duration, "empty duration"
    assert match, f"unexpected duration {duration!r}"
    return int(match[1] or 0) * 60 + int(match[2] or 0)


def test_one_image_is_built_once_and_run_by_every_container_of_ours(compose: dict) -> None:
    services = compose["services"]
    assert {name for name, s in services.items() if s.get("image") == OUR_IMAGE} == OURS
    builders = {name for name, s in services.items() if "build" in s}
    # One builder per way in: `up` (preflight runs first) and `run keygen` on its own.
    assert builders == {"preflight", "keygen"}
    for name in builders:
        assert services[name]["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile"}
        assert services[name]["pull_policy"] == "build"
    for name in OURS - builders:
        # Never pulled: a registry's "hoso:local" is not this checkout's.
        assert services[name]["pull_policy"] == "never", name
        assert "build" not in services[name], name


def test_services_outlast_their_drain_when_stopped(compose: dict) -> None:
    drain = GRACEFUL_SHUTDOWN_S + CONSUMER_DRAIN_S
    for name in SETTINGS:
        grace = _seconds(compose["services"][name]["stop_grace_period"])
        assert grace > drain, f"{name}: {grace} s is not longer than the {drain} s drain"


def test_every_env_example_variable_is_used_and_every_used_one_is_there(compose: dict) -> None:
    used = set(VARIABLE.findall((ROOT / "docker-compose.yml").read_text()))
    example = set(_env_example())
    assert used - example == set(), "used by docker-compose.yml, missing from .env.example"
    assert example - used - COMPOSE_OWN == set(), "in .env.example, used by nothing"


def test_keygen_fills_exactly_the_blank_secrets_of_env_example() -> None:
    blank = {name for name, value in _env_example().items() if not value.strip()}
    assert set(keygen.GENERATED) <= blank
    # The other blanks are the province's to give (relay account, gateways, addresses).
    assert blank - set(keygen.GENERATED) == {
        "COMPOSE_PROFILES",
        "NOTIFICATION_LOOKUP_URL",
        "NOTIFICATION_MAIL_FROM",
        "NOTIFICATION_SMTP_HOST",
        "NOTIFICATION_SMTP_USERNAME",
        "NOTIFICATION_SMTP_PASSWORD",
        "NOTIFICATION_SMS_GATEWAY_URL",
        "NOTIFICATION_SMS_GATEWAY_TOKEN",
        "NOTIFICATION_PORTAL_WEBHOOK_URL",
        "INTAKE_SIGNING_PKCS12_PASSWORD",
        "WORKBENCH_PUBLIC_URL",
        "WORKBENCH_PORTAL_CLIENT_ID",
        "WORKBENCH_PORTAL_CLIENT_SECRET",
    }


def test_preflight_sees_everything_it_checks_and_guards_what_needs_it(compose: dict) -> None:
    services = compose["services"]
    preflight = services["preflight"]
    assert set(preflight["environment"]) == set(keygen.REQUIRED)
    for name in preflight["environment"]:
        assert preflight["environment"][name] == f"${{{name}}}"
    assert preflight["command"] == ["check"]
    # MongoDB would start without authentication, Grafana with admin/admin.
    for name in (*SETTINGS, "mongo", "grafana"):
        condition = services[name]["depends_on"]["preflight"]["condition"]
        assert condition == "service_completed_successfully", name


def test_kafka_keeps_its_data_and_has_a_listener_for_the_host(compose: dict) -> None:
    kafka = compose["services"]["kafka"]
    env = kafka["environment"]
    log_dir = env["KAFKA_LOG_DIRS"]
    mounts = dict(volume.split(":", 1) for volume in kafka["volumes"])
    assert mounts["kafka-data"] == log_dir
    assert "kafka-data" in compose["volumes"]
    assert env["CLUSTER_ID"], "a recreated container must find its data its own"

    advertised = dict(
        listener.split("://") for listener in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    )
    bound = dict(listener.split("://") for listener in env["KAFKA_LISTENERS"].split(","))
    # The services, through the network's name for the broker.
    assert advertised[env["KAFKA_INTER_BROKER_LISTENER_NAME"]] == "kafka:9092"
    for service_name in SETTINGS:
        common = compose["services"][service_name]["environment"]
        assert common["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    # Tools on the host, through a published loopback port the broker advertises as such.
    host_listeners = [name for name, address in advertised.items() if address.startswith("127.")]
    assert len(host_listeners) == 1
    host_address = advertised[host_listeners[0]]
    port = host_address.rsplit(":", 1)[1]
    assert bound[host_listeners[0]] == f":{port}"
    assert kafka["ports"] == [f"{host_address}:{port}"]


def test_health_checks_start_no_jvm_and_relax_once_started(compose: dict) -> None:
    for name, entry in compose["services"].items():
        check = entry.get("healthcheck")
        if not check:
            continue
        command = " ".join(check.get("test", []))
        assert "kafka-" not in command, name
        assert "java" not in command, name
        assert _seconds(check["interval"]) >= 30, name
        assert _seconds(check["start_interval"]) <= 5, name


def test_the_image_serves_on_every_interface_and_exposes_the_services_ports() -> None:
    dockerfile = _dockerfile()
    exposed = re.search(r"^EXPOSE (.+)$", dockerfile, re.M)
    assert exposed
    defaults = {s.model_fields["http_port"].default for s in SETTINGS.values()}
    assert {int(port) for port in exposed[1].split()} == defaults
    for settings in SETTINGS.values():
        prefix = str(settings.model_config["env_prefix"]).upper()
        assert f"{prefix}HTTP_HOST=0.0.0.0" in dockerfile
    assert re.search(r"^HEALTHCHECK .*\n?.*CMD \[", dockerfile, re.M)
    assert re.search(r"^USER (?!0$|root$)\S+$", dockerfile, re.M)


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in ignore if line.strip() and not line.startswith("#")]
    # Everything is left out but what is named: .local/ and .venv/ never reach the engine.
    assert patterns[0] == "*"
    allowed = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    copied = [
        source
        for line in re.findall(r"^COPY (?!--from)(.+)$", _dockerfile(), re.M)
        for source in line.split()[:-1]
    ]
    assert copied
    for source in copied:
        assert any(source == a or source.startswith(a + "/") for a in allowed), source
        assert (ROOT / source).exists(), source


def test_blank_optional_settings_from_compose_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # docker-compose hands the service every variable, blank when .env leaves it blank.
    for name in (
        "NOTIFICATION_SMTP_USERNAME",
        "NOTIFICATION_SMTP_PASSWORD",
        "NOTIFICATION_SMS_GATEWAY_URL",
        "NOTIFICATION_SMS_GATEWAY_TOKEN",
        "NOTIFICATION_PORTAL_WEBHOOK_URL",
        "NOTIFICATION_WEBHOOK_SECRETS",
    ):
        monkeypatch.setenv(name, "")
    settings = NotificationSettings()
    assert settings.smtp_username is None
    assert settings.smtp_password is None
    assert settings.sms_gateway_token is None
    assert not settings.sms_enabled
    assert not settings.webhook_enabled


def test_traces_go_to_jaeger_v2_over_otlp(compose: dict) -> None:
    jaeger = compose["services"]["jaeger"]
    assert jaeger["image"].startswith("jaegertracing/jaeger:2.")
    for name in SETTINGS:
        endpoint = compose["services"][name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
        assert endpoint == "http://jaeger:4318"


def test_grafana_admin_password_comes_from_the_environment(compose: dict) -> None:
    grafana = compose["services"]["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == "${GRAFANA_ADMIN_PASSWORD}"


def test_the_trusted_proxy_is_the_pinned_networks_gateway(compose: dict) -> None:
    # A reverse proxy on the host reaches the containers from the network's gateway (its
    # first address); that is the one address whose X-Forwarded-For the services believe.
    example = _env_example()
    subnet = ipaddress.ip_network(example["HOSO_SUBNET"])
    gateway = str(next(subnet.hosts()))
    assert example["FORWARDED_ALLOW_IPS"] == gateway
    [pool] = compose["networks"]["default"]["ipam"]["config"]
    assert pool["subnet"] == f"${{HOSO_SUBNET:-{subnet}}}"
    for name in SETTINGS:
        trusted = compose["services"][name]["environment"]["FORWARDED_ALLOW_IPS"]
        assert trusted == f"${{FORWARDED_ALLOW_IPS:-{gateway}}}"
