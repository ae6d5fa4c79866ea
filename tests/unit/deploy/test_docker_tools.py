"""The two scripts the services' image carries for docker-compose: the key generator and
preflight check (deploy/docker/keygen.py), and the HEALTHCHECK (deploy/docker/healthcheck.py).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from deploy.docker import healthcheck, keygen

ROOT = Path(__file__).resolve().parents[3]


def _as_env(lines: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in lines:
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    return env


def _complete(lines: list[str]) -> dict[str, str]:
    env = _as_env(lines)
    env.update(
        JWT_JWKS_URL="https://id.example/jwks.json",
        JWT_ISSUER="https://id.example",
        NOTIFICATION_LOOKUP_URL="https://dvc.example/tra-cuu",
        NOTIFICATION_MAIL_FROM="STNMT <no-reply@stnmt.example>",
        INTAKE_SIGNING_PKCS12_PASSWORD="the-agency-key's-password",
        WORKBENCH_IDP_URL="https://id.example",
    )
    return env


def test_filling_env_example_gives_every_secret_a_value_and_keeps_the_rest() -> None:
    example = (ROOT / ".env.example").read_text().splitlines()
    filled = keygen.fill(example)
    env = _as_env(filled)
    for name in keygen.GENERATED:
        assert env[name], name
    # Every line of the input is still there, secrets aside, in its place.
    kept = [line for line in filled if line.partition("=")[0] not in keygen.GENERATED]
    assert kept[: len(example) - len(keygen.GENERATED)] == [
        line for line in example if line.partition("=")[0] not in keygen.GENERATED
    ]
    assert keygen.problems(_complete(filled)) == []


def test_filling_again_changes_no_key_in_use() -> None:
    once = keygen.fill((ROOT / ".env.example").read_text().splitlines())
    twice = keygen.fill(once)
    assert _as_env(twice) == _as_env(once)
    # Nothing new to announce: the auditors' note is only for a newly made signing key.
    assert sum("public key" in line for line in twice) == sum("public key" in line for line in once)


def test_a_secret_missing_from_the_file_is_added() -> None:
    env = _as_env(keygen.fill(["JWT_AUDIENCE=hoso", "INTAKE_FOLLOW_UP_KEY=keep-me-as-i-am-please"]))
    assert env["INTAKE_FOLLOW_UP_KEY"] == "keep-me-as-i-am-please"
    assert set(keygen.GENERATED) <= set(env)


def test_generated_values_are_what_the_services_accept() -> None:
    env = _as_env(keygen.generate())
    Fernet(env["INTAKE_IDENTITY_KEY"].encode())
    Fernet(env["AUDIT_PII_KEY"].encode())
    Fernet(env["WORKBENCH_SESSION_KEY"].encode())
    assert len(base64.b64decode(env["AUDIT_SIGNING_KEY"], validate=True)) == 32
    assert len(env["INTAKE_FOLLOW_UP_KEY"].encode()) >= 16
    # Two runs never share a value.
    assert set(env.values()) & set(_as_env(keygen.generate()).values()) == set()


def test_preflight_names_what_is_missing_or_malformed() -> None:
    env = _complete(keygen.generate())
    env.update(
        INTAKE_FOLLOW_UP_KEY="",
        NOTIFICATION_LOOKUP_URL=" ",
        AUDIT_PII_KEY=f"{Fernet.generate_key().decode()},not-a-key",
        AUDIT_SIGNING_KEY="c2hvcnQ=",
        INTAKE_DB_PASSWORD="p@ss/word",
        GRAFANA_ADMIN_PASSWORD="admin",
        WORKBENCH_SESSION_KEY="not-a-fernet-key",
    )
    found = "\n".join(keygen.problems(env))
    for name in (
        "INTAKE_FOLLOW_UP_KEY is not set",
        "NOTIFICATION_LOOKUP_URL is not set",
        "AUDIT_PII_KEY is not a Fernet key",
        "AUDIT_SIGNING_KEY is neither",
        "INTAKE_DB_PASSWORD may hold only",
        "GRAFANA_ADMIN_PASSWORD must not be",
        "WORKBENCH_SESSION_KEY is not a Fernet key",
    ):
        assert name in found
    assert len(keygen.problems(env)) == 7


def test_preflight_exits_non_zero_without_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in keygen.REQUIRED:
        monkeypatch.delenv(name, raising=False)
    assert keygen.main(["check"]) == 1
    assert "MONGO_ROOT_PASSWORD is not set" in capsys.readouterr().err
    for name, value in _complete(keygen.generate()).items():
        monkeypatch.setenv(name, value)
    assert keygen.main(["check"]) == 0


def _fake_proc(tmp_path: Path, commands: dict[int, list[str]]) -> Path:
    for pid, argv in commands.items():
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (tmp_path / "self").mkdir()
    return tmp_path


def test_healthcheck_finds_the_service_the_container_runs(tmp_path: Path) -> None:
    proc = _fake_proc(
        tmp_path,
        {
            1: ["/sbin/docker-init", "--", "true"],
            7: ["/app/.venv/bin/python", "/app/.venv/bin/hoso-audit"],
        },
    )
    # PID 1 may be an init process; the service is whichever process runs its command.
    assert healthcheck.running_service(proc) == "hoso-audit"


def test_healthcheck_fails_where_no_service_runs(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, {1: ["python", "/app/tools/keygen.py", "keygen"]})
    assert healthcheck.running_service(proc) is None


def test_healthcheck_asks_the_port_the_service_listens_on() -> None:
    assert healthcheck.readiness_url("hoso-intake", {}) == "http://127.0.0.1:8001/readyz"
    assert (
        healthcheck.readiness_url(
            "hoso-audit", {"AUDIT_HTTP_PORT": "9004", "AUDIT_HTTP_HOST": "0.0.0.0"}
        )
        == "http://127.0.0.1:9004/readyz"
    )
    assert (
        healthcheck.readiness_url("hoso-processing", {"PROCESSING_HTTP_HOST": "::1"})
        == "http://[::1]:8002/readyz"
    )
