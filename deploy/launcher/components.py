"""The infrastructure components: how each is prepared, started and probed."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from deploy.launcher.base import (
    DEPLOY_DIR,
    HOST,
    PG_MAJOR,
    REPO_ROOT,
    STORE_DIR,
    STORE_PACKAGES,
    LauncherError,
    Layout,
    _debian_packages,
    _go,
    _java,
    _maven,
    _port,
    _probe_http,
    _probe_kafka,
    _probe_mongo,
    _probe_smtp,
    _run_tool,
    _say,
    _sha256,
    _stamp_matches,
    _store_sources,
)

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
