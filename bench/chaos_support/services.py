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
from dataclasses import dataclass
from pathlib import Path

from bench.chaos_support.plan import SERVICES
from deploy.launcher.spawn import ServiceProcess, instance_id


@dataclass
class Service(ServiceProcess):
    """One replica of a service, which the run kills -9 and starts again on its port."""

    kills: int = 0

    def kill9(self) -> None:
        """SIGKILL, as a power cut or the OOM killer would; the log says where."""
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

    async def wait_ready(self, timeout_s: float = 120.0) -> None:  # type: ignore[override]
        await self.wait_ready_async(timeout_s)


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


def database(prefix: str, service: str) -> str:
    return f"{prefix.rstrip('.')}_{service}"


def inherited_env() -> dict[str, str]:
    """What a service process needs from this one's environment, nothing more."""
    keep = ("PATH", "HOME", "PYTHONPATH", "LANG", "TZ")
    return {name: os.environ[name] for name in keep if name in os.environ}
