"""The four services as local processes, one or several replicas each, and the
workbench (the people's pages over their APIs) started after them."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from deploy.launcher.base import (
    HOST,
    LauncherError,
    Layout,
    _port,
    _port_free,
    _probe_http,
    _say,
    layout,
)
from deploy.launcher.components import (
    ALL,
    Component,
    Idp,
)
from deploy.launcher.processes import (
    Running,
    Status,
    _alive,
    _failure,
    _launch,
    _lock,
    _running,
    _terminate,
    ensure_up,
)

# --------------------------------------------------------------------------- services

# The workbench comes last: it talks to the four through their APIs, so it starts once
# they are ready.
BACKEND: tuple[str, ...] = ("intake", "processing", "notification", "audit")
SERVICES: tuple[str, ...] = (*BACKEND, "workbench")
SERVICE_PORTS = {
    "intake": 8001,
    "processing": 8002,
    "notification": 8003,
    "audit": 8004,
    "workbench": 8005,
}
# Names .local/env holds that are secrets: made once, kept across runs.
_SECRETS = (
    "INTAKE_FOLLOW_UP_KEY",
    "INTAKE_IDENTITY_KEY",
    "PROCESSING_SEARCH_KEY",
    "AUDIT_SIGNING_KEY",
    "AUDIT_PII_KEY",
    # Seals the workbench's session cookies; every replica has the same.
    "WORKBENCH_SESSION_KEY",
)
# Names earlier versions wrote that must not linger: a shared token secret let every
# service mint any role.
_RETIRED = ("JWT_SECRET",)


def env_file(lay: Layout) -> Path:
    return lay.root / "env"


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#") and "=" in line:
                key, _, raw = line.partition("=")
                words = shlex.split(raw)
                values[key.strip()] = words[0] if words else ""
    return values


def _new_secret(name: str) -> str:
    from cryptography.fernet import Fernet

    if name in ("INTAKE_FOLLOW_UP_KEY", "PROCESSING_SEARCH_KEY"):
        return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    if name == "AUDIT_SIGNING_KEY":
        from audit.domain.checkpoint import generate_private_key, private_key_to_base64

        return private_key_to_base64(generate_private_key())
    return Fernet.generate_key().decode()


# The identity provider makes this confidential client (role portal) on its first start:
# the workbench hands citizens' supplement files to intake with it.
WORKBENCH_PORTAL_CREDENTIALS = "workbench-portal.json"


def workbench_portal_client(idp_dir: Path) -> dict[str, str]:
    """The workbench's portal client from the identity provider's state directory, as
    the workbench's settings name it; empty if the provider has not made it (one started
    before the client existed makes it when restarted)."""
    try:
        document = json.loads((idp_dir / WORKBENCH_PORTAL_CREDENTIALS).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {
        "WORKBENCH_PORTAL_CLIENT_ID": str(document["client_id"]),
        "WORKBENCH_PORTAL_CLIENT_SECRET": str(document["client_secret"]),
    }


def write_service_env(lay: Layout, ep: dict[str, str]) -> dict[str, str]:
    """The services' environment in ``.local/env`` (mode 0600): secrets are made on the
    first run and kept, so tokens and sealed data stay valid; the infrastructure's
    addresses are brought up to date with the running components."""
    path = env_file(lay)
    values = _read_env_file(path)
    for name in _RETIRED:
        values.pop(name, None)
    for name in _SECRETS:
        if not values.get(name):
            values[name] = _new_secret(name)
    smtp_host, smtp_port = ep["smtp"].rsplit(":", 1)
    values |= {
        "KAFKA_BOOTSTRAP_SERVERS": ep["kafka"],
        # One copy on the lone broker; 3 and 2 on a cluster of three.
        "KAFKA_REPLICATION_FACTOR": ep.get("kafka_replication_factor", "1"),
        "KAFKA_MIN_INSYNC_REPLICAS": ep.get("kafka_min_insync_replicas", "1"),
        "MONGODB_URI": ep["mongodb"],
        "NOTIFICATION_SMTP_HOST": smtp_host,
        "NOTIFICATION_SMTP_PORT": smtp_port,
        "ZIPKIN_ENDPOINT": f"{ep['zipkin']}/api/v2/spans",
        "LOG_JSON": values.get("LOG_JSON") or "true",
    }
    # The test PKI stands in for the province's: intake signs issued results with it,
    # audit trusts its root when anyone verifies a document. An operator who pointed
    # INTAKE_SIGNING_PKCS12 at another file keeps it.
    if values.get("INTAKE_SIGNING_PKCS12", "") in ("", str(lay.root / "pki" / "signing.p12")):
        from deploy.launcher.pki import ensure_test_pki

        pki = ensure_test_pki(lay.root)
        values |= {
            "INTAKE_SIGNING_PKCS12": str(pki.pkcs12_path),
            "INTAKE_SIGNING_PKCS12_PASSWORD": pki.password,
            "AUDIT_DOCUMENT_TRUST_ROOTS": str(pki.ca_pem),
        }
    if "idp" in ep:
        # Public keys only: the services can check tokens, not make them.
        values |= {
            "JWT_JWKS_URL": f"{ep['idp']}/.well-known/jwks.json",
            "JWT_ISSUER": ep["idp"],
            "JWT_AUDIENCE": "hoso",
            # Where people sign in to the workbench.
            "WORKBENCH_IDP_URL": ep["idp"],
        }
        portal = workbench_portal_client(Idp(lay).state_dir())
        if portal:
            values |= portal
        else:
            # Not stale ones of a provider since reset: without, the citizens' page says
            # it takes no files rather than failing.
            for name in ("WORKBENCH_PORTAL_CLIENT_ID", "WORKBENCH_PORTAL_CLIENT_SECRET"):
                values.pop(name, None)
    text = (
        "# The local services' environment, written by deploy/local.py. Secrets for this\n"
        "# machine only; never commit. In a shell: set -a; . .local/env; set +a\n"
        + "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())
    )
    if not path.exists() or path.read_text() != text:
        lay.root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        # Created with 0600 from the start: the secrets are never readable by others.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        tmp.replace(path)
    path.chmod(0o600)
    return values


class Service(Component):
    """One replica of one of the four services, ``python -m <service>.main``, configured by
    ``.local/env``. Replica 1 is named after the service and listens on its port; replica
    k is ``<service>-k`` on the port plus 100 x (k - 1), so 8001, 8101, 8201… for intake."""

    timeout = 90.0
    grace = 25.0  # uvicorn's graceful shutdown is 20 s; consumers commit before exit

    def __init__(self, lay: Layout, service: str, replica: int = 1) -> None:
        super().__init__(lay)
        self.service = service
        self.replica = replica
        self.name = service if replica == 1 else f"{service}-{replica}"  # type: ignore[misc]

    def config(self) -> dict[str, Any]:
        port = _port(f"{self.service.upper()}_HTTP_PORT", SERVICE_PORTS[self.service])
        return {"port": port + 100 * (self.replica - 1)}

    def endpoints(self, config: dict[str, Any]) -> dict[str, str]:
        return {self.name: f"http://{HOST}:{config['port']}"}

    def marker(self) -> str:
        return f"{sys.executable} -m {self.service}.main"

    def command(self, config: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        env = {**os.environ, **_read_env_file(env_file(self.lay))}
        # Tells the replicas' spans and metrics apart; the SDK reads this variable.
        attributes = [env.get("OTEL_RESOURCE_ATTRIBUTES", ""), f"service.instance.id={self.name}"]
        env |= {
            f"{self.service.upper()}_HTTP_PORT": str(config["port"]),
            "OTEL_RESOURCE_ATTRIBUTES": ",".join(a for a in attributes if a),
            "PYTHONUNBUFFERED": "1",
        }
        return [sys.executable, "-m", f"{self.service}.main"], env

    def probe(self, config: dict[str, Any]) -> bool:
        return _probe_http(f"http://{HOST}:{config['port']}/readyz")


def _replicas(raw: int | None = None) -> int:
    """How many processes of each service: the argument, else ``HOSO_REPLICAS``, else 1."""
    if raw is None:
        text = os.environ.get("HOSO_REPLICAS", "").strip() or "1"
        try:
            raw = int(text)
        except ValueError:
            raise LauncherError("config", f"HOSO_REPLICAS={text!r} is not a number") from None
    if not 1 <= raw <= 9:
        raise LauncherError("config", f"{raw} replicas: choose 1 to 9")
    return raw


def _service_replicas(lay: Layout) -> list[Service]:
    """Every replica that has a pid file, whatever the number asked for now."""
    found = []
    for service in SERVICES:
        for replica in range(1, 10):
            comp = Service(lay, service, replica)
            if replica == 1 or lay.pidfile(comp.name).exists():
                found.append(comp)
    return found


def _start_wave(lay: Layout, comps: list[Service]) -> list[LauncherError]:
    """Start ``comps`` side by side (those not running, or running with another
    configuration) and wait until each is ready; the failures."""
    pending: dict[str, tuple[Component, Running, float]] = {}
    errors: list[LauncherError] = []
    for comp in comps:
        rec = _running(comp)
        if rec is not None and rec.config != comp.config():
            _say(f"{comp.name}: configuration changed, restarting")
            _terminate(comp)
            rec = None
        if rec is None:
            try:
                rec = _launch(comp, comp.config())
            except LauncherError as exc:
                errors.append(exc)
                continue
            _say(f"{comp.name}: starting (pid {rec.pid}, log {lay.log(comp.name)})")
        pending[comp.name] = (comp, rec, time.monotonic() + comp.timeout)
    while pending:
        for name, (waiting, rec, deadline) in list(pending.items()):
            if waiting.probe(rec.config):
                del pending[name]
            elif not _alive(rec.pid, waiting.marker()):
                lay.pidfile(name).unlink(missing_ok=True)
                errors.append(_failure(waiting, "exited during start-up"))
                del pending[name]
            elif time.monotonic() > deadline:
                message = f"not ready within {waiting.timeout:.0f} s (pid {rec.pid} left running)"
                errors.append(_failure(waiting, message))
                del pending[name]
        if pending:
            time.sleep(0.25)
    return errors


def start_services(lay: Layout | None = None, replicas: int | None = None) -> list[Status]:
    """Start ``replicas`` processes of each of the four services against the running
    infrastructure (started first if need be), then as many of the workbench, stop
    replicas beyond that number, and wait until each is ready; returns their status rows."""
    lay = lay or layout()
    count = _replicas(replicas)
    ep = ensure_up(ALL)
    with _lock(lay):
        write_service_env(lay, ep)
        for extra in _service_replicas(lay):
            if extra.replica > count and _terminate(extra):
                _say(f"{extra.name}: stopped (asked for {count} replicas)")
        errors: list[LauncherError] = []
        for wave in (BACKEND, ("workbench",)):
            if errors:
                break  # the workbench is no use without the services
            comps = [Service(lay, n, k) for n in wave for k in range(1, count + 1)]
            errors += _start_wave(lay, comps)
    if errors:
        joined = "; ".join(str(e) for e in errors)
        tails = "\n".join(e.log_tail for e in errors if e.log_tail)
        raise LauncherError(",".join(e.component for e in errors), joined, tails)
    return service_status(lay)


def stop_services(lay: Layout | None = None) -> list[str]:
    lay = lay or layout()
    stopped = []
    with _lock(lay):
        for comp in reversed(_service_replicas(lay)):
            if _terminate(comp):
                stopped.append(comp.name)
    return stopped


def service_status(lay: Layout | None = None) -> list[Status]:
    lay = lay or layout()
    rows = []
    for comp in _service_replicas(lay):
        rec = _running(comp)
        config = rec.config if rec else comp.config()
        if rec is not None:
            state = "ready" if comp.probe(config) else "not ready"
        elif comp.replica > 1:
            continue  # a stale pid file of a replica no longer asked for
        elif not _port_free(config["port"]):
            state = "port in use (not ours)"
        else:
            state = "stopped"
        rows.append(Status(comp.name, comp.address(config), rec.pid if rec else None, state))
    return rows


def _print_services(rows: list[Status], ep: dict[str, str], lay: Layout) -> None:
    table = [("SERVICE", "URL", "API DOCS", "PID", "STATE")]
    table += [
        (r.component, r.address, f"{r.address}/docs", str(r.pid or "-"), r.state) for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[4])
    env = env_file(lay)
    shown = os.path.relpath(env) if env.is_relative_to(Path.cwd()) else str(env)
    print()
    print(f"traces (Zipkin UI)   {ep['zipkin']}/zipkin/")
    print(f"sent mail            {ep['smtp_http']}/messages")
    print(f"identity provider    {ep['idp']}/.well-known/openid-configuration")
    passwords = lay.root / "idp" / "passwords.json"
    print(f"workbench sign-in    users and passwords in {passwords} (mode 0600)")
    print("operators' status    make status")
    print(f"environment          {shown} (secrets, mode 0600)")
    print("a token, e.g. for an officer of the environment division:")
    print(
        f"  set -a; . {shown}; set +a; "
        "uv run hoso-token --role officer --agency STNMT-MT --sub officer-1"
    )
