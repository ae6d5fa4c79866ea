"""The broker and the store the benchmark runs on, their processes, and clean-up.

``KAFKA_BOOTSTRAP_SERVERS`` and ``MONGODB_URI`` in the environment name servers to use as
they are; otherwise the project's launcher (``deploy/local.py``) starts Kafka and FerretDB,
and stops them again at the end if it was this run that started them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

ROOT = Path(__file__).resolve().parents[2]
KAFKA_LIBS = ROOT / ".local" / "kafka" / "libs"


def _launcher() -> ModuleType:
    import deploy.launcher

    return deploy.launcher


@dataclass
class Infra:
    kafka: str
    mongodb: str
    how: str
    started: list[str] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)

    def stop_what_we_started(self) -> None:
        if self.started:
            _launcher().stop(self.started)


def _port_owner(address: str) -> int | None:
    """The pid listening on ``host:port`` (the last part of a URI), if this user may see it."""
    match = re.search(r":(\d+)(?:/.*)?$", address)
    if match is None:
        return None
    port = int(match[1])
    with contextlib.suppress(psutil.AccessDenied):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return conn.pid
    return None


def _pid_from_file(component: str) -> int | None:
    path = ROOT / ".local" / "run" / f"{component}.pid"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return int(json.loads(path.read_text())["pid"])
    return None


def provide(*, keep: bool) -> Infra:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    mongodb = os.environ.get("MONGODB_URI")
    if kafka and mongodb:
        infra = Infra(kafka, mongodb, "environment")
    else:
        launcher = _launcher()
        before = {s.component: s.state for s in launcher.status(["kafka", "store"])}
        endpoints = launcher.ensure_up(["kafka", "store"])
        started = [name for name, state in before.items() if state != "ready"]
        infra = Infra(
            endpoints["kafka"],
            endpoints["mongodb"],
            "local launcher",
            started=[] if keep else started,
        )
    for component, address in (("kafka", infra.kafka), ("store", infra.mongodb)):
        pid = _pid_from_file(component) if infra.how == "local launcher" else None
        pid = pid or _port_owner(address)
        if pid is not None:
            infra.pids[component] = pid
    return infra


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a running process."""
    try:
        times = psutil.Process(pid).cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return times.user + times.system


class CpuMeter:
    """CPU seconds a set of processes spent between `start` and `stop`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = dict(pids)
        self._before: dict[str, float] = {}
        self._after: dict[str, float] = {}

    def add(self, name: str, pid: int) -> None:
        self._pids[name] = pid

    def start(self) -> None:
        self._before = self._sample()

    def stop(self) -> dict[str, float]:
        self._after = self._sample()
        return self.spent()

    def spent(self) -> dict[str, float]:
        return {
            name: round(self._after[name] - self._before[name], 3)
            for name in self._before
            if name in self._after
        }

    def _sample(self) -> dict[str, float]:
        found = {name: cpu_seconds(pid) for name, pid in self._pids.items()}
        return {name: value for name, value in found.items() if value is not None}


async def drop(infra: Infra, prefix: str, databases: list[str]) -> None:
    """Delete a run's topics and databases, leaving everybody else's alone."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb)
    try:
        for name in databases:
            await client.drop_database(name)
    finally:
        await client.close()
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return ""


def _ferretdb_module() -> str | None:
    with contextlib.suppress(OSError):
        found = re.search(
            r"github\.com/FerretDB/FerretDB(?:/v2)? (v[\w.\-]+)",
            (ROOT / "deploy" / "ferretdb" / "go.mod").read_text(),
        )
        if found:
            return found[1]
    return None


def _java_version() -> str:
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    lines = (java.stderr or java.stdout).splitlines()
    return lines[0] if lines else ""


async def machine(infra: Infra) -> dict[str, Any]:
    """What the figures were measured on."""
    kafka_version = next(
        (
            m[1]
            for jar in sorted(KAFKA_LIBS.glob("kafka-clients-*.jar"))
            if (m := re.match(r"kafka-clients-(.+)\.jar$", jar.name))
        ),
        "unknown",
    )
    store: dict[str, Any] = {}
    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb, serverSelectionTimeoutMS=5000)
    try:
        info = await client.admin.command("buildInfo")
        reported = (info.get("ferretdb") or {}).get("version")
        store = {
            "wire_version": info.get("version"),
            # A build that cannot tell its release reports "unknown"; the module it was
            # built from says which one it is.
            "ferretdb": reported if reported not in (None, "unknown") else _ferretdb_module(),
        }
    except Exception as exc:
        store = {"error": type(exc).__name__}
    finally:
        await client.close()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "kafka": kafka_version,
        "java": await asyncio.to_thread(_java_version),
        "store": store,
        "infra": infra.how,
    }
