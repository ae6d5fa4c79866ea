"""Paths, errors, the tools the components are built with, and readiness probes."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shlex
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pymongo
from pymongo.errors import PyMongoError

DEPLOY_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = DEPLOY_DIR.parent
HOST = "127.0.0.1"

STORE_DIR = DEPLOY_DIR / "store"
PG_MAJOR = "15"
STORE_PACKAGES = tuple(
    line.strip()
    for line in (STORE_DIR / "packages.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)


class LauncherError(RuntimeError):
    """A component could not be prepared, started or stopped."""

    def __init__(self, component: str, message: str, log_tail: str = "") -> None:
        super().__init__(f"{component}: {message}")
        self.component = component
        self.log_tail = log_tail


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def pidfile(self, component: str) -> Path:
        return self.run / f"{component}.pid"


def layout() -> Layout:
    # Read on every call so a test can point HOSO_LOCAL_DIR elsewhere before starting.
    root = os.environ.get("HOSO_LOCAL_DIR") or REPO_ROOT / ".local"
    return Layout(Path(root).expanduser().resolve())


def _port(var: str, default: int) -> int:
    raw = os.environ.get(var, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise LauncherError("config", f"{var}={raw!r} is not a port number") from None
    if not 0 < value < 65536:
        raise LauncherError("config", f"{var}={value} is outside 1-65535")
    return value


def _sha256(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    return digest.hexdigest()


def _stamp_matches(stamp: Path, value: str) -> bool:
    try:
        return stamp.read_text().strip() == value
    except FileNotFoundError:
        return False


def _tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            data = f.read()
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def _run_tool(
    component: str, argv: list[str], cwd: Path, env: dict[str, str] | None = None
) -> None:
    """Run a build/download step, showing its output only when it fails."""
    proc = subprocess.run(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    if proc.returncode != 0:
        output = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        raise LauncherError(
            component, f"`{shlex.join(argv)}` failed with exit code {proc.returncode}", output
        )


# --------------------------------------------------------------------------- tools


@functools.cache
def _java_version(java: str) -> tuple[int, str]:
    proc = subprocess.run([java, "-version"], capture_output=True, text=True)
    out = (proc.stderr + proc.stdout).strip()
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return 0, out
    return (int(match[2]) if match[1] == "1" else int(match[1])), out


def _java(component: str) -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home, "bin", "java") if java_home else None
    java = str(candidate) if candidate and candidate.exists() else shutil.which("java")
    if not java:
        raise LauncherError(
            component,
            "needs Java 17 or newer, but `java` is not on PATH and JAVA_HOME is unset "
            "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless)",
        )
    major, out = _java_version(java)
    if major == 0:
        raise LauncherError(component, f"`{java} -version` did not report a version", out)
    if major < 17:
        raise LauncherError(component, f"needs Java 17 or newer, but {java} is Java {major}", out)
    return java


def _maven(component: str, what: str) -> str:
    mvn = shutil.which("mvn")
    if not mvn:
        raise LauncherError(
            component,
            f"{what} is missing and Maven (`mvn`) is not on PATH to fetch it "
            "(Debian/Ubuntu: apt-get install maven)",
        )
    return mvn


def _go(component: str) -> str:
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if not go:
        raise LauncherError(
            component,
            "the FerretDB binary is missing and Go (`go`, 1.24 or newer) is not on PATH "
            "to build it (see https://go.dev/dl/)",
        )
    return go


def _debian_packages(component: str, packages: Iterable[str]) -> None:
    """Install the Debian packages a component builds or runs with, when missing."""
    query = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\\n", *packages],
        capture_output=True,
        text=True,
    )
    installed = {
        line.split()[0] for line in query.stdout.splitlines() if line.split()[1:2] == ["ii"]
    }
    missing = [p for p in packages if p not in installed]
    if not missing:
        return
    command = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise LauncherError(component, f"needs Debian packages; run as root: {shlex.join(command)}")
    _say(f"{component}: installing {' '.join(missing)} (apt-get; first run)…")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run_tool(component, ["apt-get", "update", "-qq"], REPO_ROOT, env)
    _run_tool(component, command, REPO_ROOT, env)


def _store_sources() -> Path:
    """Where the extensions' source archives are: HOSO_STORE_SOURCES, else the shared
    folder beside the repository, else a download folder under ``.local``."""
    raw = os.environ.get("HOSO_STORE_SOURCES")
    if raw:
        return Path(raw).expanduser().resolve()
    shared = REPO_ROOT.parent / "shared" / "sources"
    if shared.is_dir():
        return shared
    return layout().root / "store" / "sources"


# --------------------------------------------------------------------------- probes


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return bytes(buf)


def _kafka_request(sock: socket.socket, api_key: int, version: int, body: bytes) -> bytes:
    client_id = b"hoso-local-probe"
    header = struct.pack(">hhih", api_key, version, 1, len(client_id)) + client_id
    sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    return _recv_exact(sock, size)[4:]  # drop the correlation id


def kafka_broker_count(port: int, timeout: float = 2.0) -> int:
    """Number of brokers a Metadata request reports; raises when the broker cannot answer.

    A raw request rather than aiokafka keeps the probe synchronous, so it also works from
    inside a running event loop (async test fixtures).
    """
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        # ApiVersions v0 is answered by every broker; it tells which Metadata versions
        # this one still accepts (Kafka 4 dropped v0-v3).
        resp = _kafka_request(sock, 18, 0, b"")
        error, count = struct.unpack_from(">hi", resp, 0)
        if error:
            raise ConnectionError(f"ApiVersions error {error}")
        low, high = 0, -1
        for i in range(count):
            key, lo, hi = struct.unpack_from(">hhh", resp, 6 + 6 * i)
            if key == 3:
                low, high = lo, hi
        # v4-v8 share the non-flexible layout parsed below.
        version = max(low, 4)
        if version > min(high, 8):
            raise ConnectionError(f"broker supports Metadata v{low}-v{high} only")
        # Empty topic list: brokers only, no topic is created or listed.
        resp = _kafka_request(sock, 3, version, struct.pack(">i", 0) + b"\x00")
        (brokers,) = struct.unpack_from(">i", resp, 4)
        return int(brokers)


def _probe_kafka(port: int) -> bool:
    try:
        return kafka_broker_count(port) >= 1
    except (OSError, struct.error):
        return False


def _probe_mongo(port: int) -> bool:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        HOST,
        port,
        directConnection=True,
        serverSelectionTimeoutMS=1500,
        connectTimeoutMS=1500,
        socketTimeoutMS=3000,
    )
    try:
        return client.admin.command("ping").get("ok") == 1
    except PyMongoError:
        return False
    finally:
        client.close()


def _probe_smtp(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=2) as sock:
            banner = sock.recv(512)
            sock.sendall(b"QUIT\r\n")
            return banner.startswith(b"220")
    except OSError:
        return False


def _probe_http(url: str) -> bool:
    try:
        # trust_env=False: an HTTP(S)_PROXY in the environment must not capture loopback.
        with httpx.Client(trust_env=False, timeout=2) as client:
            return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False
