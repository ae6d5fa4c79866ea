"""The four services as processes that the run can kill -9 and start again on the same port.

Each service runs as ``replicas`` processes with the same environment (the same
databases, the same consumer groups), each on a port of its own, as a deployment's
replicas behind a load balancer.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from bench.chaos_support.plan import SERVICES


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """One replica of a service."""

    name: str
    env: dict[str, str]
    log_path: Path
    replica: int = 1
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    kills: int = 0
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def instance(self) -> str:
        return instance_id(self.name, self.replica)

    def start(self) -> None:
        if self._log is None:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = {
            **self.env,
            f"{self.name.upper()}_HTTP_PORT": str(self.port),
            # Tells the replicas apart in traces, should the run export any.
            "OTEL_RESOURCE_ATTRIBUTES": f"service.instance.id={self.instance}",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"{self.name}.main"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill9(self) -> None:
        """SIGKILL, as a power cut or the OOM killer would."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.kills += 1
        assert self._log is not None
        self._log.write(f"\n----- chaos: kill -9 number {self.kills} -----\n".encode())
        self._log.flush()

    def kill9_and_restart(self) -> None:
        """SIGKILL and start again at once, on the same port."""
        self.kill9()
        self.start()

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        self.terminate()
        if self.process is not None:
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        last = ""
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"{self.instance} exited: {self.tail()}")
                try:
                    response = await client.get(f"{self.url}/readyz")
                    if response.status_code == 200:
                        return
                    last = response.text
                except httpx.HTTPError as exc:
                    last = repr(exc)
                await asyncio.sleep(0.25)
        raise TimeoutError(
            f"{self.instance} not ready after {timeout_s:.0f} s: {last}\n{self.tail()}"
        )

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Platform:
    def __init__(self, env: dict[str, str], prefix: str, log_dir: Path, replicas: int = 1) -> None:
        self.prefix = prefix
        self.log_dir = log_dir
        self.replicas: dict[str, list[Service]] = {
            name: [
                Service(
                    name,
                    {**env, f"{name.upper()}_MONGODB_DATABASE": database(prefix, name)},
                    log_dir / f"{instance_id(name, replica)}.log",
                    replica=replica,
                )
                for replica in range(1, replicas + 1)
            ]
            for name in SERVICES
        }
        self._turns = itertools.count()

    @property
    def instances(self) -> list[Service]:
        return [service for group in self.replicas.values() for service in group]

    def url(self, name: str) -> str:
        """The first replica's address."""
        return self.replicas[name][0].url

    def urls(self, name: str) -> list[str]:
        return [service.url for service in self.replicas[name]]

    def any_url(self, name: str) -> str:
        """A replica's address, each in turn, as a load balancer would hand them out."""
        urls = self.urls(name)
        return urls[next(self._turns) % len(urls)]

    async def start(self) -> None:
        for service in self.instances:
            service.start()
        await asyncio.gather(*(s.wait_ready() for s in self.instances))

    def stop(self) -> None:
        # All at once: each takes a while to finish its batch and leave its group.
        for service in self.instances:
            service.terminate()
        for service in self.instances:
            service.stop()

    @property
    def databases(self) -> dict[str, str]:
        return {name: database(self.prefix, name) for name in SERVICES}


def instance_id(name: str, replica: int) -> str:
    return f"{name}-{replica}"


def database(prefix: str, service: str) -> str:
    return f"{prefix.rstrip('.')}_{service}"


def inherited_env() -> dict[str, str]:
    """What a service process needs from this one's environment, nothing more."""
    keep = ("PATH", "HOME", "PYTHONPATH", "LANG", "TZ")
    return {name: os.environ[name] for name in keep if name in os.environ}
