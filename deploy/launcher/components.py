"""The infrastructure components: how each is prepared, started and probed."""

from __future__ import annotations

import base64
import json
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


MAX_KAFKA_BROKERS = 5


def _recorded_brokers(lay: Layout) -> int:
    """The size of the Kafka cluster the launcher last started here and has a pid file
    for (1 when none)."""
    size = 1
    for broker in range(1, MAX_KAFKA_BROKERS + 1):
        path = lay.pidfile(Kafka.broker_name(broker))
        try:
            size = max(size, int(json.loads(path.read_text())["config"].get("brokers", 1)))
        except (FileNotFoundError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return size


def kafka_brokers(lay: Layout) -> int:
    """How many Kafka brokers to run: ``HOSO_KAFKA_BROKERS``, else as many as are running
    (so `services` or a second `up` keep a cluster that `up --kafka-brokers 3` started),
    else one."""
    raw = os.environ.get("HOSO_KAFKA_BROKERS", "").strip()
    if not raw:
        return _recorded_brokers(lay)
    try:
        value = int(raw)
    except ValueError:
        raise LauncherError("config", f"HOSO_KAFKA_BROKERS={raw!r} is not a number") from None
    if not 1 <= value <= MAX_KAFKA_BROKERS:
        raise LauncherError("config", f"{value} Kafka brokers: choose 1 to {MAX_KAFKA_BROKERS}")
    return value


def kafka_replication(brokers: int) -> tuple[int, int]:
    """Replication factor and min.insync.replicas for a cluster of ``brokers``: 3 and 2
    on three (one broker may die with no acknowledged write lost and none refused), one
    copy on a lone broker."""
    factor = min(3, brokers)
    return factor, max(1, min(2, factor - 1))


class Kafka(Component):
    """One Kafka broker, combined broker and controller (KRaft).

    Alone (the default) it is ``kafka`` on 9092 with its controller on 9093 and its data
    in ``kafka/data``. In a cluster of n (``HOSO_KAFKA_BROKERS``), broker k is ``kafka``
    for k = 1 and ``kafka-k`` otherwise, on both ports plus 100 x (k - 1), with its data,
    configuration and formatted storage in ``kafka/cluster/broker-k``; the n controllers
    form the quorum and every broker carries the same cluster id."""

    name = "kafka"
    timeout = 120.0
    grace = 30.0  # controlled shutdown flushes and snapshots the metadata log

    def __init__(self, lay: Layout, broker: int = 1, brokers: int | None = None) -> None:
        super().__init__(lay)
        self.broker = broker
        self.brokers = max(broker, brokers if brokers is not None else kafka_brokers(lay))
        self.name = self.broker_name(broker)  # type: ignore[misc]

    @staticmethod
    def broker_name(broker: int) -> str:
        return "kafka" if broker == 1 else f"kafka-{broker}"

    @property
    def clustered(self) -> bool:
        return self.brokers > 1

    @property
    def home(self) -> Path:
        return self.lay.root / "kafka"

    @property
    def libs(self) -> Path:
        return self.home / "libs"

    @property
    def own(self) -> Path:
        """This broker's folder: the home itself when alone."""
        return self.home / "cluster" / f"broker-{self.broker}" if self.clustered else self.home

    @property
    def data(self) -> Path:
        return self.own / "data"

    @property
    def properties(self) -> Path:
        return self.own / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.own / "log4j2.properties"

    @property
    def cluster_id_file(self) -> Path:
        return self.home / "cluster" / "cluster.id"

    def config(self) -> dict[str, Any]:
        port = _port("HOSO_KAFKA_PORT", 9092)
        cport = _port("HOSO_KAFKA_CONTROLLER_PORT", 9093)
        if not self.clustered:
            return {"port": port, "controller_port": cport}
        step = 100 * (self.broker - 1)
        nodes = range(1, self.brokers + 1)
        return {
            "port": port + step,
            "controller_port": cport + step,
            "brokers": self.brokers,
            "bootstrap": ",".join(f"{HOST}:{port + 100 * (k - 1)}" for k in nodes),
            "voters": ",".join(f"{k}@{HOST}:{cport + 100 * (k - 1)}" for k in nodes),
        }

    def endpoints(self, config: dict[str, Any]) -> dict[str, str]:
        factor, min_insync = kafka_replication(int(config.get("brokers", 1)))
        return {
            "kafka": str(config.get("bootstrap") or f"{HOST}:{config['port']}"),
            "kafka_replication_factor": str(factor),
            "kafka_min_insync_replicas": str(min_insync),
        }

    def address(self, config: dict[str, Any]) -> str:
        return f"{HOST}:{config['port']}"

    def marker(self) -> str:
        # Every broker's command line holds the home (its classpath), alone or in a
        # cluster, so switching between the two finds the running broker to stop.
        return f"{self.home}{os.sep}"

    def data_paths(self) -> list[Path]:
        return [self.own] if self.clustered else [self.data]

    def prepare(self) -> None:
        java = _java(self.name)
        pom = DEPLOY_DIR / "kafka" / "pom.xml"
        stamp = self.libs / ".pom.sha256"
        digest = _sha256(pom)
        if not _stamp_matches(stamp, digest):
            self._fetch_libs(digest)

        self._write_config(self.config())
        if not (self.data / "meta.properties").exists():
            _say(f"{self.name}: formatting storage (new data directory)…")
            self.data.mkdir(parents=True, exist_ok=True)
            _run_tool(
                self.name,
                [
                    java,
                    *self._jvm_common(),
                    "kafka.tools.StorageTool",
                    "format",
                    "--cluster-id",
                    self._cluster_id(),
                    "--config",
                    str(self.properties),
                    "--ignore-formatted",
                ],
                cwd=self.home,
            )

    def _fetch_libs(self, digest: str) -> None:
        # Fetch beside the old set and swap, so a failed download leaves no mixture of
        # versions on the classpath.
        staging = self.home / "libs.new"
        shutil.rmtree(staging, ignore_errors=True)
        shared = REPO_ROOT / ".local" / "kafka" / "libs"
        if shared != self.libs and _stamp_matches(shared / ".pom.sha256", digest):
            # Another folder (a test's cluster) takes the checkout's jars as they are.
            shutil.copytree(shared, staging)
        else:
            mvn = _maven(self.name, "the Kafka broker")
            _say("kafka: downloading jars (first run)…")
            started = time.monotonic()
            _run_tool(
                self.name,
                [
                    mvn,
                    "-q",
                    "-B",
                    "-f",
                    str(DEPLOY_DIR / "kafka" / "pom.xml"),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={staging}",
                    "-DincludeScope=runtime",
                ],
                cwd=REPO_ROOT,
            )
            jars = len(list(staging.glob("*.jar")))
            _say(f"kafka: {jars} jars in {time.monotonic() - started:.1f} s")
        shutil.rmtree(self.libs, ignore_errors=True)
        staging.rename(self.libs)
        (self.libs / ".pom.sha256").write_text(digest + "\n")

    def _cluster_id(self) -> str:
        if not self.clustered:
            return _new_cluster_id()
        # Made by whichever broker is formatted first; the others must carry the same.
        path = self.cluster_id_file
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            cid = _new_cluster_id()
            handle.write(cid + "\n")
        return cid

    def _jvm_common(self) -> list[str]:
        return [
            f"-Dlog4j2.configurationFile={self.log4j}",
            "-Djava.awt.headless=true",
            "-cp",
            str(self.libs / "*"),
        ]

    def _quorum(self, config: dict[str, Any]) -> str:
        if not self.clustered:
            # A static voter set (rather than --standalone's dynamic quorum) keeps the
            # controller port out of the formatted metadata, so it can change too.
            return f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{HOST}:{config["controller_port"]}
"""
        return f"""process.roles=broker,controller
node.id={self.broker}
# Every broker is also a controller: a quorum of {self.brokers} voters outlives the loss of
# {(self.brokers - 1) // 2}.
controller.quorum.voters={config["voters"]}
"""

    def _replication(self) -> str:
        if not self.clustered:
            return """default.replication.factor=1
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
"""
        factor, min_insync = kafka_replication(self.brokers)
        return f"""default.replication.factor={factor}
min.insync.replicas={min_insync}

# The internal topics (committed offsets, transactions) survive a broker as the data does.
offsets.topic.replication.factor={factor}
# Fewer offset partitions than the default 50 make the first consumer group start faster.
offsets.topic.num.partitions=10
transaction.state.log.replication.factor={factor}
transaction.state.log.min.isr={min_insync}
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor={factor}
share.coordinator.state.topic.min.isr={min_insync}
# A replica that fell behind is never made leader: that would drop acknowledged writes.
unclean.leader.election.enable=false
"""

    def _write_config(self, config: dict[str, Any]) -> None:
        port, cport = config["port"], config["controller_port"]
        self.own.mkdir(parents=True, exist_ok=True)
        self.lay.logs.mkdir(parents=True, exist_ok=True)
        # Regenerated on every start so port changes take effect.
        self.properties.write_text(
            f"""# Generated by deploy/local.py on each start; edits are overwritten.
{self._quorum(config)}listeners=PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{cport}
advertised.listeners=PLAINTEXT://{HOST}:{port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs={self.data}

# Topics are declared by the services; a typo must fail rather than create a topic.
auto.create.topics.enable=false
num.partitions=3
{self._replication()}
# Tests start consumer groups constantly; the default 3 s delay only slows them down.
group.initial.rebalance.delay.ms=0

# After a hard kill the restarted broker is refused registration until the old
# incarnation's session expires (default 9 s); chaos tests restart the broker on purpose.
# In a cluster the same timeout is how soon a dead broker's partitions get new leaders.
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
name = hoso-{self.name}
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
        # Three JVMs share a developer's machine in a cluster: a smaller heap each.
        heap = ["-Xms128m", "-Xmx384m"] if self.clustered else ["-Xms256m", "-Xmx768m"]
        argv = [
            _java(self.name),
            *heap,
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


def component(name: str, lay: Layout) -> Component:
    """The component called ``name`` (``kafka-2`` is the cluster's second broker)."""
    base, _, number = name.partition("-")
    if base == "kafka" and number.isdigit():
        return Kafka(lay, int(number))
    return COMPONENTS[name](lay)


def _canonical(name: str) -> tuple[int, int]:
    base, _, number = name.partition("-")
    return ALL.index(base if number.isdigit() else name), int(number) if number.isdigit() else 1


def _resolve(
    components: Iterable[str] | str | None,
    *,
    requirements: bool = True,
    lay: Layout | None = None,
    brokers: int | None = None,
) -> list[str]:
    """Canonical names of ``components`` and what they require. With ``lay``, ``kafka``
    stands for every broker of the cluster (``brokers`` of them, else as many as
    :func:`kafka_brokers` says); without, for the first broker alone."""
    if components is None:
        components = ALL
    if isinstance(components, str):
        components = [components]
    names: list[str] = []
    for raw in components:
        name = ALIASES.get(raw.lower(), raw.lower())
        base, _, number = name.partition("-")
        if base == "kafka" and number.isdigit():
            if not 1 <= int(number) <= MAX_KAFKA_BROKERS:
                choose = f"choose kafka-2 to kafka-{MAX_KAFKA_BROKERS}"
                raise LauncherError(raw, f"no such broker; {choose}")
            name = Kafka.broker_name(int(number))
            wanted = [name]
        elif name not in COMPONENTS:
            raise LauncherError(raw, f"unknown component; choose from {', '.join(ALL)}")
        else:
            wanted = [*(REQUIRES.get(name, ()) if requirements else ()), name]
            if name == "kafka" and lay is not None:
                count = brokers if brokers is not None else kafka_brokers(lay)
                wanted += [Kafka.broker_name(k) for k in range(2, count + 1)]
        for needed in wanted:
            if needed not in names:
                names.append(needed)
    # Always act in the canonical order so output and start-up are predictable.
    return sorted(names, key=_canonical)


def extra_brokers(lay: Layout, keep: int) -> list[str]:
    """Brokers beyond the first ``keep`` that have a pid file (a larger cluster ran)."""
    return [
        Kafka.broker_name(k)
        for k in range(keep + 1, MAX_KAFKA_BROKERS + 1)
        if lay.pidfile(Kafka.broker_name(k)).exists()
    ]
