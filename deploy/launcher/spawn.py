"""The four services as short-lived processes on free ports: the one spawner the tests
and the benchmarks share (the launcher's own ``Service`` component, with pid files and
fixed ports, is for ``make run``).

Each service may run as several replicas, each its own process on its own port with the
same environment (the same databases, the same consumer groups), as a deployment's
replicas behind a load balancer.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

SERVICES = ("intake", "processing", "notification", "audit")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def instance_id(name: str, replica: int) -> str:
    """How one replica is named in its log file, its spans and its metrics."""
    return f"{name}-{replica}"


def with_instance(env: dict[str, str], instance: str) -> dict[str, str]:
    """``env`` with ``service.instance.id`` in the OpenTelemetry resource (the chassis reads
    it as the process's instance), keeping whatever other attributes it names."""
    attributes = [
        item
        for item in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",")
        if item.strip() and not item.strip().startswith("service.instance.id=")
    ]
    attributes.append(f"service.instance.id={instance}")
    return {**env, "OTEL_RESOURCE_ATTRIBUTES": ",".join(attributes)}


@dataclass
class ServiceProcess:
    """One replica of one service: ``python -m <name>.main`` on ``port``."""

    name: str
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # 1, 2, … among the processes of the same service.
    replica: int = 1
    # Put before ``-m <name>.main``, e.g. a profiler: ``["-m", "pyinstrument", …]``.
    wrapper: list[str] = field(default_factory=list)
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def instance(self) -> str:
        return instance_id(self.name, self.replica)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start (or start again, on the same port, appending to the same log)."""
        if self._log is None:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = with_instance(
            {**self.env, f"{self.name.upper()}_HTTP_PORT": str(self.port)}, self.instance
        )
        self.process = subprocess.Popen(
            [sys.executable, *self.wrapper, "-m", f"{self.name}.main"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _not_ready(self, last: str) -> str | None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.instance} exited: {self.tail()}")
        return last

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            self._not_ready(last)
            try:
                response = httpx.get(f"{self.url}/readyz", timeout=2)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.25)
        raise TimeoutError(f"{self.instance} not ready after {timeout_s}s: {last}\n{self.tail()}")

    async def wait_ready_async(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        last = ""
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                self._not_ready(last)
                try:
                    response = await client.get(f"{self.url}/readyz")
                    if response.status_code == 200:
                        return
                    last = response.text
                except httpx.HTTPError as exc:
                    last = repr(exc)
                await asyncio.sleep(0.25)
        raise TimeoutError(f"{self.instance} not ready after {timeout_s}s: {last}\n{self.tail()}")

    def send(self, sig: int) -> None:
        """Send ``sig`` without waiting, so that several processes shut down side by side
        (each takes a while to finish its batch and leave its consumer group)."""
        if self.running:
            assert self.process is not None
            self.process.send_signal(sig)

    def terminate(self) -> None:
        self.send(signal.SIGTERM)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> None:
        if self.process is not None:
            self.send(sig)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
