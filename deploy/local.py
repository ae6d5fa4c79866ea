"""Local infrastructure for development and tests, as plain processes (no containers).

Components (default ports; each overridable by the environment variable shown):

* ``kafka``  - Apache Kafka, KRaft single node, 127.0.0.1:9092 (``HOSO_KAFKA_PORT``),
  controller on 127.0.0.1:9093 (``HOSO_KAFKA_CONTROLLER_PORT``);
* ``postgres`` - PostgreSQL 15 (Debian's) with the DocumentDB extension, pg_cron and
  pgvector built from their source archives (``deploy/store/``), 127.0.0.1:5433
  (``HOSO_POSTGRES_PORT``);
* ``store``  - FerretDB v2 speaking the MongoDB protocol in front of ``postgres`` (which
  asking for ``store`` starts first), 127.0.0.1:27017 (``HOSO_MONGO_PORT``);
* ``smtp``   - SMTP sink on 127.0.0.1:1025 (``HOSO_SMTP_PORT``) storing ``.eml`` files in
  ``HOSO_MAIL_DIR``, with a read-only HTTP listing on 127.0.0.1:8025
  (``HOSO_SMTP_HTTP_PORT``);
* ``zipkin`` - Zipkin with in-memory storage, 127.0.0.1:9411 (``HOSO_ZIPKIN_PORT``);
* ``idp``    - the local identity provider (``deploy/idp/server.py``), 127.0.0.1:8090
  (``HOSO_IDP_PORT``): the services trust its JWKS, ``hoso-token`` and the status command
  are its clients; its signing keys stay in ``.local/idp/`` (``HOSO_IDP_DIR``).

The four services themselves (``services``) run as ``python -m <name>.main`` on 8001-8004
(``<NAME>_HTTP_PORT``), with their environment in ``.local/env``: secrets made on the
first run (mode 0600) and the components' addresses; never a token signing key.

Everything downloaded, built or written lives under ``<repo>/.local`` (``HOSO_LOCAL_DIR``):
``bin/``, ``kafka/``, ``zipkin/``, ``store/`` (``pg`` the built server, ``pgdata``,
``ferretdb-state``), ``mail/``, ``idp/`` (the identity provider's keys and clients, its
own), ``logs/<component>.log`` and ``run/<component>.pid``.

CLI::

    uv run python deploy/local.py up [COMPONENT...]      # start (idempotent), wait until ready
    uv run python deploy/local.py down [COMPONENT...]    # SIGTERM, then SIGKILL after a grace
    uv run python deploy/local.py reset [COMPONENT...]   # down + delete data, keep downloads
    uv run python deploy/local.py status [COMPONENT...]  # table; exit 3 if any is not ready
    uv run python deploy/local.py env                    # shell exports for the services
    uv run python deploy/local.py services               # the four services, in the background
    uv run python deploy/local.py down --services        # stop the services, then the rest

Python API (test fixtures): :func:`ensure_up`, :func:`stop`, :func:`restart`, :func:`kill`,
:func:`reset`, :func:`status`, :func:`endpoints`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pymongo
from pymongo.errors import PyMongoError

DEPLOY_DIR = Path(__file__).resolve().parent
REPO_ROOT = DEPLOY_DIR.parent
HOST = "127.0.0.1"

ALL: tuple[str, ...] = ("kafka", "postgres", "store", "smtp", "zipkin", "idp")
ALIASES = {
    "mongodb": "store",
    "mongo": "store",
    "ferretdb": "store",
    "postgresql": "postgres",
    "pg": "postgres",
    "mail": "smtp",
}
# What a component cannot run without: asking for it starts these first.
REQUIRES: dict[str, tuple[str, ...]] = {"store": ("postgres",)}

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
        return brokers


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


# --------------------------------------------------------------------------- components


class Component:
    name: ClassVar[str]
    timeout: ClassVar[float]
    grace: ClassVar[float] = 10.0
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM

    def __init__(self, lay: Layout) -> None:
        self.lay = lay

    def config(self) -> dict[str, Any]:
        """Settings that, when changed, require a restart; stored in the pid file."""
        raise NotImplementedError

    def ports(self, config: dict[str, Any]) -> dict[str, int]:
        return {k: v for k, v in config.items() if k.endswith("port")}

    def endpoints(self, config: dict[str, Any]) -> dict[str, str]:
        raise NotImplementedError

    def address(self, config: dict[str, Any]) -> str:
        return next(iter(self.endpoints(config).values()))

    def prepare(self) -> None:
        """Fetch or build whatever is missing; prints progress only when work is done."""

    def command(self, config: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def marker(self) -> str:
        """A string found in the command line of this checkout's process and no other."""
        raise NotImplementedError

    def probe(self, config: dict[str, Any]) -> bool:
        raise NotImplementedError

    def data_paths(self) -> list[Path]:
        return []


class Kafka(Component):
    name = "kafka"
    timeout = 120.0
    grace = 30.0  # controlled shutdown flushes and snapshots the metadata log

    @property
    def home(self) -> Path:
        return self.lay.root / "kafka"

    @property
    def libs(self) -> Path:
        return self.home / "libs"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def properties(self) -> Path:
        return self.home / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.home / "log4j2.properties"

    def config(self) -> dict[str, Any]:
        return {
            "port": _port("HOSO_KAFKA_PORT", 9092),
            "controller_port": _port("HOSO_KAFKA_CONTROLLER_PORT", 9093),
        }

    def endpoints(self, config: dict[str, Any]) -> dict[str, str]:
        return {"kafka": f"{HOST}:{config['port']}"}

    def marker(self) -> str:
        return str(self.properties)

    def data_paths(self) -> list[Path]:
        return [self.data]

    def prepare(self) -> None:
        java = _java(self.name)
        pom = DEPLOY_DIR / "kafka" / "pom.xml"
        stamp = self.libs / ".pom.sha256"
        digest = _sha256(pom)
        if not _stamp_matches(stamp, digest):
            mvn = _maven(self.name, "the Kafka broker")
            _say("kafka: downloading jars (first run)…")
            started = time.monotonic()
            # Fetch beside the old set and swap, so a failed download leaves no mixture of
            # versions on the classpath.
            staging = self.home / "libs.new"
            shutil.rmtree(staging, ignore_errors=True)
            _run_tool(
                self.name,
                [
                    mvn,
                    "-q",
                    "-B",
                    "-f",
                    str(pom),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={staging}",
                    "-DincludeScope=runtime",
                ],
                cwd=REPO_ROOT,
            )
            shutil.rmtree(self.libs, ignore_errors=True)
            staging.rename(self.libs)
            stamp.write_text(digest + "\n")
            jars = len(list(self.libs.glob("*.jar")))
            _say(f"kafka: {jars} jars in {time.monotonic() - started:.1f} s")

        self._write_config(self.config())
        if not (self.data / "meta.properties").exists():
            _say("kafka: formatting storage (new data directory)…")
            self.data.mkdir(parents=True, exist_ok=True)
            _run_tool(
                self.name,
                [
                    java,
                    *self._jvm_common(),
                    "kafka.tools.StorageTool",
                    "format",
                    "--cluster-id",
                    _new_cluster_id(),
                    "--config",
                    str(self.properties),
                    "--ignore-formatted",
                ],
                cwd=self.home,
            )

    def _jvm_common(self) -> list[str]:
        return [
            f"-Dlog4j2.configurationFile={self.log4j}",
            "-Djava.awt.headless=true",
            "-cp",
            str(self.libs / "*"),
        ]

    def _write_config(self, config: dict[str, Any]) -> None:
        port, cport = config["port"], config["controller_port"]
        self.home.mkdir(parents=True, exist_ok=True)
        self.lay.logs.mkdir(parents=True, exist_ok=True)
        # Regenerated on every start so port changes take effect; a static voter set
        # (rather than --standalone's dynamic quorum) keeps the controller port out of
        # the formatted metadata, so it can change too.
        self.properties.write_text(
            f"""# Generated by deploy/local.py on each start; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{HOST}:{cport}
listeners=PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{cport}
advertised.listeners=PLAINTEXT://{HOST}:{port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs={self.data}

# Topics are declared by the services; a typo must fail rather than create a topic.
auto.create.topics.enable=false
num.partitions=3
default.replication.factor=1
min.insync.replicas=1

# Single node: every internal topic must fit on one replica.
offsets.topic.replication.factor=1
# Fewer offset partitions than the default 50 make the first consumer group start faster.
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Tests start consumer groups constantly; the default 3 s delay only slows them down.
group.initial.rebalance.delay.ms=0

# After a hard kill the restarted broker is refused registration until the old
# incarnation's session expires (default 9 s); chaos tests restart the broker on purpose.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000

log.retention.hours=168
log.segment.bytes=104857600
num.network.threads=3
num.io.threads=4
"""
        )
        log_file = self.lay.log(self.name)
        self.log4j.write_text(
            f"""# Generated by deploy/local.py.
status = warn
name = hoso-kafka
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.filePattern = {log_file}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 2
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
# The full configuration dump on every start is hundreds of lines.
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""
        )

    def command(self, config: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        self._write_config(config)
        argv = [
            _java(self.name),
            "-Xms256m",
            "-Xmx768m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            *self._jvm_common(),
            "kafka.Kafka",
            str(self.properties),
        ]
        return argv, dict(os.environ)

    def probe(self, config: dict[str, Any]) -> bool:
        return _probe_kafka(config["port"])


def _new_cluster_id() -> str:
    # Same shape as Kafka's Uuid.randomUuid(): unpadded URL-safe base64 of 16 random bytes,
    # never starting with "-" (it would read as a command-line option).
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


class Postgres(Component):
    """PostgreSQL 15 (Debian's) with the DocumentDB extension and its dependencies built
    from source into ``.local/store/pg``: the engine under the FerretDB store."""

    name = "postgres"
    timeout = 60.0
    grace = 20.0
    # SIGTERM is PostgreSQL's "smart" shutdown, which waits for every client (FerretDB's
    # pool) to go away; SIGINT is the fast one: open transactions roll back, data is safe.
    stop_signal = signal.SIGINT

    @property
    def prefix(self) -> Path:
        return self.lay.root / "store" / "pg"

    @property
    def pg_bin(self) -> Path:
        return self.prefix / "usr" / "lib" / "postgresql" / PG_MAJOR / "bin"

    @property
    def pg_lib(self) -> Path:
        return self.prefix / "usr" / "lib" / "postgresql" / PG_MAJOR / "lib"

    @property
    def data(self) -> Path:
        return self.lay.root / "store" / "pgdata"

    def config(self) -> dict[str, Any]:
        # The settings' digest makes a changed deploy/store/postgresql.conf restart the
        # server with it (see `_up`).
        return {
            "port": _port("HOSO_POSTGRES_PORT", 5433),
            "settings": _sha256(STORE_DIR / "postgresql.conf")[:16],
        }

    def endpoints(self, config: dict[str, Any]) -> dict[str, str]:
        return {"postgresql": f"postgres://postgres@{HOST}:{config['port']}/postgres"}

    def marker(self) -> str:
        return str(self.data)

    def data_paths(self) -> list[Path]:
        return [self.data]

    def prepare(self) -> None:
        _debian_packages(self.name, STORE_PACKAGES)
        digest = _sha256(STORE_DIR / "build-extensions.sh", STORE_DIR / "sources.txt")
        stamp = self.prefix.with_name("pg.sha256")
        if not (self.pg_bin / "postgres").exists() or not _stamp_matches(stamp, digest):
            _say("store: building DocumentDB, pg_cron and pgvector for PostgreSQL (first run)…")
            started = time.monotonic()
            sources = _store_sources()
            _run_tool(
                self.name,
                ["bash", str(STORE_DIR / "build-extensions.sh"), str(sources), str(self.prefix)],
                REPO_ROOT,
            )
            stamp.write_text(digest + "\n")
            _say(f"store: extensions built in {time.monotonic() - started:.1f} s")
        if not (self.data / "PG_VERSION").exists():
            self._initdb()

    def _as_owner(self, argv: list[str]) -> list[str]:
        # PostgreSQL refuses to run as root. Our machines (CI's too) run as root, so the
        # server runs in a user namespace where it is an ordinary user, while on disk it
        # stays the owner of the files it creates: no system account, and the folder may
        # sit below a home that only root can enter.
        if os.geteuid() != 0:
            return argv
        return ["unshare", "--user", "--map-user=1000", "--map-group=1000", *argv]

    def _env(self) -> dict[str, str]:
        # pg_documentdb.so links pg_documentdb_core.so, which lives beside it.
        lib = str(self.pg_lib)
        old = os.environ.get("LD_LIBRARY_PATH")
        return {**os.environ, "LD_LIBRARY_PATH": f"{lib}:{old}" if old else lib}

    def _initdb(self) -> None:
        partial = self.data.with_name("pgdata.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            str(self.pg_bin / "initdb"),
            "-D",
            str(partial),
            "-U",
            "postgres",
            "--auth=trust",  # listens on loopback only; see postgresql.conf below
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ]
        _run_tool(self.name, self._as_owner(argv), REPO_ROOT, self._env())
        conf = partial / "postgresql.conf"
        conf.write_text(conf.read_text() + "\ninclude = 'hoso.conf'\n")
        partial.rename(self.data)

    def command(self, config: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        # Written at every start, so a data folder made by an older checkout runs with
        # the settings of this one.
        (self.data / "hoso.conf").write_text((STORE_DIR / "postgresql.conf").read_text())
        argv = [
            str(self.pg_bin / "postgres"),
            "-D",
            str(self.data),
            "-c",
            f"port={config['port']}",
            "-c",
            f"listen_addresses={HOST}",
        ]
        return self._as_owner(argv), self._env()

    def probe(self, config: dict[str, Any]) -> bool:
        ready = subprocess.run(
            [str(self.pg_bin / "pg_isready"), "-q", "-h", HOST, "-p", str(config["port"])],
            capture_output=True,
            env=self._env(),
        )
        if ready.returncode != 0:
            return False
        # The extension is made once, on the first start of a new data folder; a psql
        # round trip at every probe would cost more than the check of a marker file.
        marker = self.data / "hoso-documentdb.created"
        if marker.exists():
            return True
        create = subprocess.run(
            [
                str(self.pg_bin / "psql"),
                "-h",
                HOST,
                "-p",
                str(config["port"]),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-qc",
                "CREATE EXTENSION IF NOT EXISTS documentdb CASCADE",
            ],
            capture_output=True,
            text=True,
            env=self._env(),
        )
        if create.returncode != 0:
            raise LauncherError(self.name, "CREATE EXTENSION documentdb failed", create.stderr)
        marker.write_text("documentdb\n")
        return True


class Store(Component):
    """FerretDB v2 speaking MongoDB's protocol in front of :class:`Postgres`."""

    name = "store"
    timeout = 60.0

    @property
    def binary(self) -> Path:
        return self.lay.bin / "ferretdb-local"

    @property
    def state(self) -> Path:
        return self.lay.root / "store" / "ferretdb-state"

    def config(self) -> dict[str, Any]:
        return {
            "port": _port("HOSO_MONGO_PORT", 27017),
            "postgres_port": _port("HOSO_POSTGRES_PORT", 5433),
        }

    def ports(self, config: dict[str, Any]) -> dict[str, int]:
        return {"port": config["port"]}

    def endpoints(self, config: dict[str, Any]) -> dict[str, str]:
        return {"mongodb": f"mongodb://{HOST}:{config['port']}"}

    def marker(self) -> str:
        return str(self.binary)

    def data_paths(self) -> list[Path]:
        return [self.state]

    def prepare(self) -> None:
        src = DEPLOY_DIR / "ferretdb"
        stamp = self.binary.with_name(self.binary.name + ".sha256")
        digest = _sha256(src / "main.go", src / "go.mod", src / "go.sum")
        if self.binary.exists() and _stamp_matches(stamp, digest):
            return
        go = _go(self.name)
        _say("store: building FerretDB (first run; downloads Go modules)…")
        started = time.monotonic()
        self.lay.bin.mkdir(parents=True, exist_ok=True)
        staging = self.binary.with_name(self.binary.name + ".new")
        # go.sum is committed, so the default -mod=readonly build is reproducible.
        env = {**os.environ, "CGO_ENABLED": "0"}
        _run_tool(self.name, [go, "build", "-trimpath", "-o", str(staging), "."], src, env)
        staging.replace(self.binary)
        stamp.write_text(digest + "\n")
        _say(f"store: FerretDB built in {time.monotonic() - started:.1f} s")

    def command(self, config: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        argv = [
            str(self.binary),
            "-listen",
            f"{HOST}:{config['port']}",
            "-postgresql-url",
            f"postgres://postgres@{HOST}:{config['postgres_port']}/postgres",
            "-state",
            str(self.state),
            "-log-level",
            os.environ.get("HOSO_FERRETDB_LOG_LEVEL", "error"),
        ]
        return argv, dict(os.environ)

    def probe(self, config: dict[str, Any]) -> bool:
        return _probe_mongo(config["port"])


class Smtp(Component):
    name = "smtp"
    timeout = 20.0
    sink = DEPLOY_DIR / "smtp" / "sink.py"

    def mail_dir(self) -> Path:
        raw = os.environ.get("HOSO_MAIL_DIR")
        return Path(raw).expanduser().resolve() if raw else self.lay.root / "mail"

    def config(self) -> dict[str, Any]:
        return {
            "port": _port("HOSO_SMTP_PORT", 1025),
            "http_port": _port("HOSO_SMTP_HTTP_PORT", 8025),
            "mail_dir": str(self.mail_dir()),
        }

    def endpoints(self, config: dict[str, Any]) -> dict[str, str]:
        return {
            "smtp": f"{HOST}:{config['port']}",
            "smtp_http": f"http://{HOST}:{config['http_port']}",
            "mail_dir": config["mail_dir"],
        }

    def address(self, config: dict[str, Any]) -> str:
        return f"{HOST}:{config['port']} (http :{config['http_port']})"

    def marker(self) -> str:
        return str(self.sink)

    def data_paths(self) -> list[Path]:
        return [self.mail_dir()]

    def prepare(self) -> None:
        import importlib.util

        if importlib.util.find_spec("aiosmtpd") is None:
            raise LauncherError(
                self.name,
                f"aiosmtpd is not installed for {sys.executable}; run through `uv run` "
                "so the project's dev dependencies are available",
            )

    def command(self, config: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        argv = [
            sys.executable,
            str(self.sink),
            "--host",
            HOST,
            "--port",
            str(config["port"]),
            "--http-host",
            HOST,
            "--http-port",
            str(config["http_port"]),
            "--mail-dir",
            config["mail_dir"],
        ]
        # Unbuffered so the log shows each stored message as it arrives.
        return argv, {**os.environ, "PYTHONUNBUFFERED": "1"}

    def probe(self, config: dict[str, Any]) -> bool:
        # The sink binds HTTP before SMTP, so a banner means both are up.
        return _probe_smtp(config["port"])


class Zipkin(Component):
    name = "zipkin"
    timeout = 120.0

    @property
    def jar(self) -> Path:
        return self.lay.root / "zipkin" / "zipkin-server-exec.jar"

    def config(self) -> dict[str, Any]:
        return {"port": _port("HOSO_ZIPKIN_PORT", 9411)}

    def endpoints(self, config: dict[str, Any]) -> dict[str, str]:
        return {"zipkin": f"http://{HOST}:{config['port']}"}

    def marker(self) -> str:
        return str(self.jar)

    def prepare(self) -> None:
        _java(self.name)
        pom = DEPLOY_DIR / "zipkin" / "pom.xml"
        stamp = self.jar.with_name(self.jar.name + ".sha256")
        digest = _sha256(pom)
        if self.jar.exists() and _stamp_matches(stamp, digest):
            return
        mvn = _maven(self.name, "the Zipkin server jar")
        _say("zipkin: downloading server jar (first run)…")
        started = time.monotonic()
        self.jar.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.jar.parent) as staging:
            _run_tool(
                self.name,
                [
                    mvn,
                    "-q",
                    "-B",
                    "-f",
                    str(pom),
                    "dependency:copy",
                    f"-Dzipkin.outputDirectory={staging}",
                ],
                cwd=REPO_ROOT,
            )
            Path(staging, self.jar.name).replace(self.jar)
        stamp.write_text(digest + "\n")
        size = self.jar.stat().st_size / 2**20
        _say(f"zipkin: {size:.0f} MiB in {time.monotonic() - started:.1f} s")

    def command(self, config: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        port = config["port"]
        argv = [
            _java(self.name),
            "-Xms128m",
            "-Xmx512m",
            # A trace viewer needs start-up speed, not peak throughput: C1 only and the
            # serial collector roughly halve the CPU it competes with Kafka for at boot.
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            # Spring replaces a list wholesale when a higher source defines it, so the
            # whole port entry is restated; `ip` is what keeps it off 0.0.0.0.
            f"-Darmeria.ports[0].ip={HOST}",
            f"-Darmeria.ports[0].port={port}",
            "-Darmeria.ports[0].protocols[0]=http",
            "-jar",
            str(self.jar),
        ]
        env = {
            **os.environ,
            "STORAGE_TYPE": "mem",
            # The in-memory store evicts beyond this; sized for the 512 MiB heap.
            "MEM_MAX_SPANS": os.environ.get("HOSO_ZIPKIN_MAX_SPANS", "100000"),
            "QUERY_PORT": str(port),
            "SELF_TRACING_ENABLED": "false",
            # The services share KAFKA_BOOTSTRAP_SERVERS & co. with this environment; left
            # enabled, Zipkin would start consuming from the project's broker.
            "COLLECTOR_KAFKA_ENABLED": "false",
            "COLLECTOR_RABBITMQ_ENABLED": "false",
            "COLLECTOR_ACTIVEMQ_ENABLED": "false",
            "COLLECTOR_PULSAR_ENABLED": "false",
            "COLLECTOR_SCRIBE_ENABLED": "false",
            "DISCOVERY_EUREKA_ENABLED": "false",
        }
        return argv, env

    def probe(self, config: dict[str, Any]) -> bool:
        return _probe_http(f"http://{HOST}:{config['port']}/health")


class Idp(Component):
    """The local identity provider. It makes and keeps its own signing keys and client
    credentials under its directory; the launcher only starts it and hands the services
    its public address."""

    name = "idp"
    timeout = 20.0
    server = DEPLOY_DIR / "idp" / "server.py"

    def state_dir(self) -> Path:
        raw = os.environ.get("HOSO_IDP_DIR")
        return Path(raw).expanduser().resolve() if raw else self.lay.root / "idp"

    def config(self) -> dict[str, Any]:
        return {"port": _port("HOSO_IDP_PORT", 8090), "dir": str(self.state_dir())}

    def endpoints(self, config: dict[str, Any]) -> dict[str, str]:
        return {"idp": f"http://{HOST}:{config['port']}"}

    def marker(self) -> str:
        return str(self.server)

    def data_paths(self) -> list[Path]:
        return [self.state_dir()]

    def command(self, config: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        argv = [
            sys.executable,
            str(self.server),
            "serve",
            "--host",
            HOST,
            "--port",
            str(config["port"]),
            "--dir",
            config["dir"],
        ]
        return argv, {**os.environ, "PYTHONUNBUFFERED": "1"}

    def probe(self, config: dict[str, Any]) -> bool:
        return _probe_http(f"http://{HOST}:{config['port']}/.well-known/openid-configuration")


COMPONENTS: dict[str, type[Component]] = {
    c.name: c for c in (Kafka, Postgres, Store, Smtp, Zipkin, Idp)
}


def _resolve(components: Iterable[str] | str | None, *, requirements: bool = True) -> list[str]:
    if components is None:
        return list(ALL)
    if isinstance(components, str):
        components = [components]
    names: list[str] = []
    for raw in components:
        name = ALIASES.get(raw.lower(), raw.lower())
        if name not in COMPONENTS:
            raise LauncherError(raw, f"unknown component; choose from {', '.join(ALL)}")
        for needed in (*(REQUIRES.get(name, ()) if requirements else ()), name):
            if needed not in names:
                names.append(needed)
    # Always act in the canonical order so output and start-up are predictable.
    return [n for n in ALL if n in names]


# --------------------------------------------------------------------------- processes


# Children started by this interpreter, kept so they can be reaped instead of lingering
# as zombies in a long-lived test process.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass
class Running:
    pid: int
    config: dict[str, Any]
    started_at: str


def _cmdline(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        raw, stat = b"", ""
    if stat and stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return None  # a zombie has exited; its pid only awaits reaping
    if raw:
        return raw.replace(b"\0", b" ").decode("utf-8", "replace")
    # No procfs (macOS): ask ps.
    out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True)
    return out.stdout.decode("utf-8", "replace").strip() or None


def _alive(pid: int, marker: str) -> bool:
    proc = _children.get(pid)
    if proc is not None:
        # A child of this process: its pid cannot be recycled before it is reaped, so its
        # exit status decides. Its command line is no guide while it execs (the JVM's
        # launcher may exec itself again), when it can read as empty.
        return proc.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    cmd = _cmdline(pid)
    # The marker guards against a recycled pid now belonging to something else.
    return cmd is not None and marker in cmd


def _read_pidfile(comp: Component) -> Running | None:
    path = comp.lay.pidfile(comp.name)
    try:
        data = json.loads(path.read_text())
        return Running(int(data["pid"]), dict(data["config"]), str(data.get("started_at", "")))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)
        return None


def _running(comp: Component) -> Running | None:
    """The recorded process if it is still alive, cleaning up a stale pid file."""
    rec = _read_pidfile(comp)
    if rec is None:
        return None
    if _alive(rec.pid, comp.marker()):
        return rec
    comp.lay.pidfile(comp.name).unlink(missing_ok=True)
    _children.pop(rec.pid, None)
    return None


@contextlib.contextmanager
def _lock(lay: Layout) -> Iterator[None]:
    # Serialises launchers (parallel test workers, a CLI in another terminal) so two of
    # them never start the same component.
    lay.run.mkdir(parents=True, exist_ok=True)
    with (lay.run / ".lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _launch(comp: Component, config: dict[str, Any]) -> Running:
    busy = [f"{HOST}:{p} ({k})" for k, p in comp.ports(config).items() if not _port_free(p)]
    if busy:
        raise LauncherError(
            comp.name,
            f"{', '.join(busy)} already in use by a process this launcher did not start; "
            f"stop it or choose other ports (see `{Path(__file__).name} --help`)",
        )
    argv, env = comp.command(config)
    lay = comp.lay
    lay.logs.mkdir(parents=True, exist_ok=True)
    log_path = lay.log(comp.name)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    with log_path.open("ab") as log:
        log.write(f"\n===== {started_at} starting: {shlex.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=lay.root,
            env=env,
            # Own session: Ctrl-C in the terminal or the end of a test run leaves the
            # infrastructure up for the next run, and down can signal the whole group.
            start_new_session=True,
        )
    _children[proc.pid] = proc
    rec = Running(proc.pid, config, started_at)
    tmp = lay.pidfile(comp.name).with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": rec.pid, "config": config, "started_at": started_at}))
    tmp.replace(lay.pidfile(comp.name))
    return rec


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        # The group reaches helpers a component may have forked; only used when the pid
        # leads its own group, which start_new_session guarantees for ours.
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _wait_gone(pid: int, marker: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    proc = _children.get(pid)
    while time.monotonic() < deadline:
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.2)
        else:
            time.sleep(0.2)
        if not _alive(pid, marker):
            _wait_reaped(pid, deadline)
            return True
    return not _alive(pid, marker)


def _wait_reaped(pid: int, deadline: float) -> None:
    # A killed process stays a zombie until its parent (init, for an orphan) reaps it, and
    # while it does, a new PostgreSQL takes the pid in postmaster.pid for a live server.
    proc_dir = Path(f"/proc/{pid}")
    while proc_dir.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def _terminate(comp: Component, *, force: bool = False) -> bool:
    """Stop the component's process; True if one was running."""
    rec = _running(comp)
    if rec is None:
        return False
    marker = comp.marker()
    if not force:
        _signal(rec.pid, comp.stop_signal)
        if _wait_gone(rec.pid, marker, comp.grace):
            comp.lay.pidfile(comp.name).unlink(missing_ok=True)
            _children.pop(rec.pid, None)
            return True
        _say(f"{comp.name}: still running after {comp.grace:.0f} s, sending SIGKILL")
    _signal(rec.pid, signal.SIGKILL)
    if not _wait_gone(rec.pid, marker, 10):
        raise LauncherError(comp.name, f"pid {rec.pid} survived SIGKILL")
    comp.lay.pidfile(comp.name).unlink(missing_ok=True)
    _children.pop(rec.pid, None)
    return True


def _failure(comp: Component, message: str) -> LauncherError:
    log = comp.lay.log(comp.name)
    return LauncherError(comp.name, message, f"--- last lines of {log} ---\n{_tail(log)}")


def _up(names: list[str], lay: Layout) -> dict[str, str]:
    """Start the components in waves: one whose requirements are among ``names`` waits
    until they are ready (FerretDB would only answer errors without PostgreSQL)."""
    later = [n for n in names if set(REQUIRES.get(n, ())) & set(names)]
    first = [n for n in names if n not in later]
    result = _up_wave(first, lay)
    if later:
        result.update(_up_wave(later, lay))
    return result


def _up_wave(names: list[str], lay: Layout) -> dict[str, str]:
    comps = [COMPONENTS[n](lay) for n in names]
    pending: dict[str, tuple[Component, Running, float]] = {}
    result: dict[str, str] = {}
    errors: list[LauncherError] = []

    for comp in comps:
        try:
            wanted = comp.config()
            rec = _running(comp)
            if rec is not None and rec.config != wanted:
                _say(f"{comp.name}: configuration changed, restarting")
                _terminate(comp)
                rec = None
            if rec is not None and comp.probe(rec.config):
                result.update(comp.endpoints(rec.config))
                continue
            if rec is None:
                # Downloads and builds happen here, before the readiness clock starts;
                # earlier components boot meanwhile.
                comp.prepare()
                rec = _launch(comp, wanted)
                _say(f"{comp.name}: starting (pid {rec.pid}, log {lay.log(comp.name)})")
            else:
                _say(f"{comp.name}: running (pid {rec.pid}) but not answering yet, waiting")
            pending[comp.name] = (comp, rec, time.monotonic() + comp.timeout)
        except LauncherError as exc:
            errors.append(exc)

    first_round = True
    while pending:
        for name, (comp, rec, deadline) in list(pending.items()):
            if comp.probe(rec.config):
                result.update(comp.endpoints(rec.config))
                del pending[name]
                # Ready at the first look means it booted while later components were
                # being prepared; the time since launch would then measure the wrong thing.
                waited = time.monotonic() - (deadline - comp.timeout)
                _say(f"{name}: ready" if first_round else f"{name}: ready after {waited:.1f} s")
                continue
            if not _alive(rec.pid, comp.marker()):
                comp.lay.pidfile(name).unlink(missing_ok=True)
                code = _children.pop(rec.pid).returncode if rec.pid in _children else None
                how = f" with exit code {code}" if code is not None else ""
                errors.append(_failure(comp, f"exited during start-up{how}"))
                del pending[name]
            elif time.monotonic() > deadline:
                # Left running: it may only be slow, and its state helps diagnose why.
                message = (
                    f"did not become ready within {comp.timeout:.0f} s "
                    f"(still running as pid {rec.pid}; `down {name}` stops it)"
                )
                errors.append(_failure(comp, message))
                del pending[name]
        first_round = False
        if pending:
            time.sleep(0.25)

    if errors:
        if len(errors) == 1:
            raise errors[0]
        joined = "; ".join(str(e) for e in errors)
        tails = "\n".join(e.log_tail for e in errors if e.log_tail)
        raise LauncherError(",".join(e.component for e in errors), joined, tails)
    return result


# --------------------------------------------------------------------------- public API


def ensure_up(components: Iterable[str] | str = ALL) -> dict[str, str]:
    """Start whatever of ``components`` is not running and wait until each is ready.

    Returns the endpoints, e.g. ``{"kafka": "127.0.0.1:9092", "mongodb":
    "mongodb://127.0.0.1:27017", "smtp": "127.0.0.1:1025", "smtp_http":
    "http://127.0.0.1:8025", "zipkin": "http://127.0.0.1:9411", "mail_dir": "..."}``.
    Raises :class:`LauncherError` naming the component that did not come up.
    """
    lay = layout()
    with _lock(lay):
        return _up(_resolve(components), lay)


def stop(components: Iterable[str] | str = ALL) -> list[str]:
    """SIGTERM, then SIGKILL after the component's grace period; returns what was stopped."""
    lay = layout()
    stopped = []
    with _lock(lay):
        for name in reversed(_resolve(components)):
            if _terminate(COMPONENTS[name](lay)):
                stopped.append(name)
    return stopped


def kill(component: str) -> bool:
    """SIGKILL the component at once (crash simulation); True if it was running."""
    lay = layout()
    with _lock(lay):
        [name] = _resolve(component, requirements=False)
        return _terminate(COMPONENTS[name](lay), force=True)


def restart(component: str) -> dict[str, str]:
    """Stop (gracefully) and start one component again, keeping its data."""
    lay = layout()
    with _lock(lay):
        [name] = _resolve(component, requirements=False)
        _terminate(COMPONENTS[name](lay))
        return _up([name], lay)


def reset(components: Iterable[str] | str = ALL) -> list[str]:
    """Stop the components and delete their data; downloaded jars and binaries stay."""
    lay = layout()
    removed: list[str] = []
    with _lock(lay):
        for name in reversed(_resolve(components)):
            comp = COMPONENTS[name](lay)
            _terminate(comp)
            for path in comp.data_paths():
                if not path.exists():
                    continue
                if path.is_relative_to(lay.root):
                    shutil.rmtree(path)
                else:
                    # A mail dir pointed elsewhere may hold other files: only drop ours.
                    for f in [*path.glob("*.eml"), *path.glob(".*.tmp")]:
                        f.unlink(missing_ok=True)
                removed.append(str(path))
    return removed


def endpoints(components: Iterable[str] | str = ALL) -> dict[str, str]:
    """Endpoints of running components (their recorded ports), else the configured ones."""
    lay = layout()
    result: dict[str, str] = {}
    for name in _resolve(components):
        comp = COMPONENTS[name](lay)
        rec = _running(comp)
        result.update(comp.endpoints(rec.config if rec else comp.config()))
    return result


@dataclass
class Status:
    component: str
    address: str
    pid: int | None
    state: str  # ready | not answering | stopped | port in use (not ours)


def status(components: Iterable[str] | str = ALL) -> list[Status]:
    lay = layout()
    rows = []
    for name in _resolve(components):
        comp = COMPONENTS[name](lay)
        rec = _running(comp)
        config = rec.config if rec else comp.config()
        if rec is not None:
            state = "ready" if comp.probe(config) else "not answering"
        elif any(not _port_free(p) for p in comp.ports(config).values()):
            state = "port in use (not ours)"
        else:
            state = "stopped"
        rows.append(Status(name, comp.address(config), rec.pid if rec else None, state))
    return rows


# --------------------------------------------------------------------------- services

SERVICES: tuple[str, ...] = ("intake", "processing", "notification", "audit")
SERVICE_PORTS = {"intake": 8001, "processing": 8002, "notification": 8003, "audit": 8004}
# Names .local/env holds that are secrets: made once, kept across runs.
_SECRETS = ("INTAKE_FOLLOW_UP_KEY", "INTAKE_IDENTITY_KEY", "AUDIT_SIGNING_KEY", "AUDIT_PII_KEY")
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

    if name == "INTAKE_FOLLOW_UP_KEY":
        return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    if name == "AUDIT_SIGNING_KEY":
        from audit.domain.checkpoint import generate_private_key, private_key_to_base64

        return private_key_to_base64(generate_private_key())
    return Fernet.generate_key().decode()


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
        "MONGODB_URI": ep["mongodb"],
        "NOTIFICATION_SMTP_HOST": smtp_host,
        "NOTIFICATION_SMTP_PORT": smtp_port,
        "ZIPKIN_ENDPOINT": f"{ep['zipkin']}/api/v2/spans",
        "LOG_JSON": values.get("LOG_JSON") or "true",
    }
    if "idp" in ep:
        # Public keys only: the services can check tokens, not make them.
        values |= {
            "JWT_JWKS_URL": f"{ep['idp']}/.well-known/jwks.json",
            "JWT_ISSUER": ep["idp"],
            "JWT_AUDIENCE": "hoso",
        }
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


def start_services(lay: Layout | None = None, replicas: int | None = None) -> list[Status]:
    """Start ``replicas`` processes of each of the four services against the running
    infrastructure (started first if need be), stop replicas beyond that number, and wait
    until each is ready; returns their status rows."""
    lay = lay or layout()
    count = _replicas(replicas)
    ep = ensure_up(ALL)
    with _lock(lay):
        write_service_env(lay, ep)
        for extra in _service_replicas(lay):
            if extra.replica > count and _terminate(extra):
                _say(f"{extra.name}: stopped (asked for {count} replicas)")
        comps = [Service(lay, n, k) for n in SERVICES for k in range(1, count + 1)]
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
            for name, (comp, rec, deadline) in list(pending.items()):
                if comp.probe(rec.config):
                    del pending[name]
                elif not _alive(rec.pid, comp.marker()):
                    lay.pidfile(name).unlink(missing_ok=True)
                    errors.append(_failure(comp, "exited during start-up"))
                    del pending[name]
                elif time.monotonic() > deadline:
                    message = f"not ready within {comp.timeout:.0f} s (pid {rec.pid} left running)"
                    errors.append(_failure(comp, message))
                    del pending[name]
            if pending:
                time.sleep(0.25)
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
    print("operators' status    make status")
    print(f"environment          {shown} (secrets, mode 0600)")
    print("a token, e.g. for an officer of the environment division:")
    print(
        f"  set -a; . {shown}; set +a; "
        "uv run hoso-token --role officer --agency STNMT-MT --sub officer-1"
    )


# --------------------------------------------------------------------------- CLI


def _print_table(rows: list[Status]) -> None:
    table = [("COMPONENT", "ADDRESS", "PID", "STATE")]
    table += [(r.component, r.address, str(r.pid or "-"), r.state) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[3])


def _env_lines(ep: dict[str, str]) -> list[str]:
    # Names the services' settings read without a prefix (see chassis.settings).
    mapping = {
        "kafka": ("KAFKA_BOOTSTRAP_SERVERS", "{}"),
        "mongodb": ("MONGODB_URI", "{}"),
        "zipkin": ("ZIPKIN_ENDPOINT", "{}/api/v2/spans"),
        "idp": ("JWT_JWKS_URL", "{}/.well-known/jwks.json"),
    }
    lines = [
        f"export {var}={shlex.quote(fmt.format(ep[k]))}"
        for k, (var, fmt) in mapping.items()
        if k in ep
    ]
    if "idp" in ep:
        lines.append(f"export JWT_ISSUER={shlex.quote(ep['idp'])}")
    if "smtp" in ep:
        # Mail settings belong to the notification service alone, hence the prefix.
        host, port = ep["smtp"].rsplit(":", 1)
        lines += [
            f"export NOTIFICATION_SMTP_HOST={host}",
            f"export NOTIFICATION_SMTP_PORT={port}",
            f"# sent mail: {ep['smtp_http']}/messages (files in {ep['mail_dir']})",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="local.py",
        description="Run the local infrastructure (kafka, store, smtp, zipkin, idp) as processes.",
        epilog="Ports: HOSO_KAFKA_PORT, HOSO_KAFKA_CONTROLLER_PORT, HOSO_MONGO_PORT, "
        "HOSO_SMTP_PORT, HOSO_SMTP_HTTP_PORT, HOSO_ZIPKIN_PORT, HOSO_IDP_PORT. "
        "Paths: HOSO_LOCAL_DIR (default <repo>/.local), HOSO_MAIL_DIR, HOSO_IDP_DIR.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd, text in (
        ("up", "start components (idempotent) and wait until ready"),
        ("down", "stop components"),
        ("reset", "stop components and delete their data (keeps downloads)"),
        ("status", "show state; exit 3 if any listed component is not ready"),
        ("env", "print shell exports pointing the services at the components"),
    ):
        p = sub.add_parser(cmd, help=text)
        p.add_argument("components", nargs="*", metavar="COMPONENT", help=", ".join(ALL))
        if cmd == "down":
            p.add_argument("--services", action="store_true", help="stop the four services first")
    services = sub.add_parser(
        "services",
        help="start the four services in the background (environment in .local/env) and "
        "wait until each is ready",
    )
    services.add_argument(
        "--replicas",
        type=int,
        default=None,
        help="processes of each service (default HOSO_REPLICAS or 1); replica k of a "
        "service listens on its port + 100 x (k - 1)",
    )
    args = parser.parse_args(argv)
    names = getattr(args, "components", None) or list(ALL)

    try:
        if args.command == "up":
            started = time.monotonic()
            ensure_up(names)
            _say(f"up in {time.monotonic() - started:.1f} s")
            _print_table(status(names))
        elif args.command == "services":
            started = time.monotonic()
            rows = start_services(replicas=args.replicas)
            _say(f"services up in {time.monotonic() - started:.1f} s")
            _print_services(rows, endpoints(), layout())
        elif args.command == "down":
            stopped = stop_services() if args.services else []
            stopped += stop(names)
            _say(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
        elif args.command == "reset":
            for path in reset(names):
                _say(f"deleted {path}")
        elif args.command == "status":
            rows = status(names)
            _print_table(rows)
            return 0 if all(r.state == "ready" for r in rows) else 3
        elif args.command == "env":
            print("\n".join(_env_lines(endpoints(names))))
    except LauncherError as exc:
        _say(f"error: {exc}")
        if exc.log_tail:
            _say(exc.log_tail)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
