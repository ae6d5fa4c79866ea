"""The broker's and the store's processes, and the CPU time of processes and their children.

Kafka, FerretDB and PostgreSQL are found by their command lines, so that the figures hold
whoever started them: Kafka is the JVM running ``kafka.Kafka`` (the one listening on the
bootstrap port when there are several), FerretDB the ``ferretdb-local`` process listening on
the store's port, PostgreSQL the postmaster (``postgres -D …``) listening on the port of
FerretDB's ``-postgresql-url``, together with all its children: one backend per FerretDB
connection, the WAL writer, the checkpointer.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from urllib.parse import urlsplit

import psutil


@dataclass(frozen=True)
class Watched:
    name: str
    pid: int
    # With every descendant, living or already exited (the CPU of a reaped child is added
    # to its parent's "children" times): PostgreSQL forks a process per connection.
    tree: bool = False


def port_of(address: str) -> int | None:
    """The port of ``host:port``, of the first of ``h1:p1,h2:p2`` or of a URI's authority."""
    first = address.split(",")[0].strip()
    netloc = urlsplit(first).netloc if "://" in first else first
    match = re.search(r":(\d+)$", netloc.split("@")[-1].split(",")[0])
    return int(match[1]) if match else None


def _cmdline(process: psutil.Process) -> list[str]:
    with contextlib.suppress(psutil.Error):
        return process.cmdline()
    return []


def _listens_on(process: psutil.Process, port: int) -> bool:
    with contextlib.suppress(psutil.Error):
        return any(
            conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
            for conn in process.net_connections(kind="tcp")
        )
    return False


def _pick(candidates: list[psutil.Process], port: int | None) -> psutil.Process | None:
    if port is not None:
        listening = [p for p in candidates if _listens_on(p, port)]
        if listening:
            return listening[0]
    return candidates[0] if len(candidates) == 1 else None


def find_kafka(bootstrap: str) -> psutil.Process | None:
    candidates = [p for p in psutil.process_iter() if "kafka.Kafka" in _cmdline(p)]
    return _pick(candidates, port_of(bootstrap))


def find_ferretdb(mongodb_uri: str) -> psutil.Process | None:
    port = port_of(mongodb_uri) or 27017
    candidates = [p for p in psutil.process_iter() if _is_ferretdb_on(_cmdline(p), port)]
    return _pick(candidates, port)


def _is_ferretdb_on(cmdline: list[str], port: int) -> bool:
    return any("ferretdb-local" in arg for arg in cmdline) and any(
        arg.endswith(f":{port}") for arg in cmdline
    )


def postgresql_port(ferretdb: psutil.Process) -> int | None:
    """The port of the PostgreSQL URL FerretDB was started with."""
    args = _cmdline(ferretdb)
    for i, arg in enumerate(args):
        url = None
        if arg.lstrip("-").startswith("postgresql-url="):
            url = arg.split("=", 1)[1]
        elif arg.lstrip("-") == "postgresql-url" and i + 1 < len(args):
            url = args[i + 1]
        if url:
            with contextlib.suppress(ValueError):
                return urlsplit(url).port or 5432
    return None


def find_postgresql(port: int | None) -> psutil.Process | None:
    postmasters = [
        p
        for p in psutil.process_iter()
        if (cmd := _cmdline(p)) and PurePath(cmd[0]).name == "postgres" and "-D" in cmd
    ]
    return _pick(postmasters, port)


def infrastructure(bootstrap: str, mongodb_uri: str) -> tuple[list[Watched], list[str]]:
    """Kafka, PostgreSQL and FerretDB as found; the names of those not found."""
    watched: list[Watched] = []
    missing: list[str] = []
    kafka = find_kafka(bootstrap)
    ferretdb = find_ferretdb(mongodb_uri)
    postgresql = find_postgresql(postgresql_port(ferretdb) if ferretdb else None)
    for name, process, tree in (
        ("kafka", kafka, False),
        ("postgresql", postgresql, True),
        ("ferretdb", ferretdb, False),
    ):
        if process is None:
            missing.append(name)
        else:
            watched.append(Watched(name, process.pid, tree))
    return watched, missing


def cpu_seconds(watched: Watched) -> float | None:
    """User + system CPU time so far; for a tree, of the process and all its descendants."""
    try:
        process = psutil.Process(watched.pid)
        times = process.cpu_times()
    except psutil.Error:
        return None
    total = times.user + times.system
    if watched.tree:
        total += times.children_user + times.children_system
        with contextlib.suppress(psutil.Error):
            for child in process.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child_times = child.cpu_times()
                    total += child_times.user + child_times.system
    return total


def sample(watched: Iterable[Watched]) -> dict[str, float]:
    """CPU seconds of each watched process (those that have gone are left out)."""
    found = {w.name: cpu_seconds(w) for w in watched}
    return {name: seconds for name, seconds in found.items() if seconds is not None}


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in before if name in after}
