"""Runs the four services as separate processes, the way they run in production: each
service may run as several replicas, each its own process on its own port with the same
environment (same databases, same consumer groups)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SERVICES = ("intake", "processing", "notification", "audit")

# How many processes of each service the end-to-end platform runs.
REPLICAS_VARIABLE = "HOSO_E2E_REPLICAS"
DEFAULT_REPLICAS = 2


def replica_count(environ: dict[str, str] | None = None) -> int:
    """The replicas per service asked for in ``HOSO_E2E_REPLICAS`` (default 2)."""
    raw = (os.environ if environ is None else environ).get(REPLICAS_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_REPLICAS
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"{REPLICAS_VARIABLE} must be a whole number of at least 1, not {raw!r}")
    return count


def instance_id(name: str, replica: int) -> str:
    """How one replica is named in its log file, its spans file and its traces."""
    return f"{name}-{replica}"


def with_instance(env: dict[str, str], instance: str) -> dict[str, str]:
    """``env`` with ``service.instance.id`` added to the OpenTelemetry resource, so that
    traces and spans tell the replicas of one service apart."""
    attributes = [
        item
        for item in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",")
        if item.strip() and not item.strip().startswith("service.instance.id=")
    ]
    attributes.append(f"service.instance.id={instance}")
    return {**env, "OTEL_RESOURCE_ATTRIBUTES": ",".join(attributes)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServiceProcess:
    name: str
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # 1, 2, … among the processes of the same service.
    replica: int = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def instance(self) -> str:
        return instance_id(self.name, self.replica)

    def start(self) -> None:
        prefix = self.name.upper()
        env = {**self.env, f"{prefix}_HTTP_PORT": str(self.port)}
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"{self.name}.main"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.instance} exited: {self.tail()}")
            try:
                response = httpx.get(f"{self.url}/readyz", timeout=2)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.25)
        raise TimeoutError(f"{self.instance} not ready after {timeout_s}s: {last}\n{self.tail()}")

    def terminate(self) -> None:
        """SIGTERM without waiting, so that several processes shut down side by side (each
        takes a while to finish its batch and leave its consumer group)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self._log.close()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def service_env(
    base_env: dict[str, str], run_id: str, name: str, extra: dict[str, str]
) -> dict[str, str]:
    prefix = name.upper()
    env = {
        **base_env,
        f"{prefix}_MONGODB_DATABASE": f"{run_id}_{name}",
        **extra,
    }
    pythonpath = os.environ.get("PYTHONPATH")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env
