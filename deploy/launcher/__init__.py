"""Local infrastructure for development and tests, as plain processes (no containers).

The package behind ``deploy/local.py``: ``base`` (paths, tools, probes), ``components``
(what each component is), ``processes`` (starting and stopping them; the public API),
``services`` (the four services, one or several replicas each), ``cli``.

Components (default ports; each overridable by the environment variable shown):

* ``kafka``  - Apache Kafka, KRaft single node, 127.0.0.1:9092 (``HOSO_KAFKA_PORT``),
  controller on 127.0.0.1:9093 (``HOSO_KAFKA_CONTROLLER_PORT``); with
  ``HOSO_KAFKA_BROKERS=3`` (``up --kafka-brokers 3``) a cluster of three brokers, each also
  a controller: ``kafka``, ``kafka-2``, ``kafka-3`` on 9092/9192/9292 (controllers
  9093/9193/9293), data in ``kafka/cluster/broker-k``, topics and internal topics with
  three copies and ``min.insync.replicas`` 2;
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
(``<NAME>_HTTP_PORT``), then the workbench (the people's pages) on 8005, with their
environment in ``.local/env``: secrets made on the first run (mode 0600) and the
components' addresses; never a token signing key.

Everything downloaded, built or written lives under ``<repo>/.local`` (``HOSO_LOCAL_DIR``):
``bin/``, ``kafka/``, ``zipkin/``, ``store/`` (``pg`` the built server, ``pgdata``,
``ferretdb-state``), ``mail/``, ``idp/`` (the identity provider's keys and clients, its
own), ``pki/`` (the test CA and the document-signing PKCS#12, :mod:`deploy.launcher.pki`),
``logs/<component>.log`` and ``run/<component>.pid``.

CLI::

    uv run python deploy/local.py up [COMPONENT...]      # start (idempotent), wait until ready
    uv run python deploy/local.py up --kafka-brokers 3   # Kafka as a cluster of three
    uv run python deploy/local.py down [COMPONENT...]    # SIGTERM, then SIGKILL after a grace
    uv run python deploy/local.py reset [COMPONENT...]   # down + delete data, keep downloads
    uv run python deploy/local.py status [COMPONENT...]  # table; exit 3 if any is not ready
    uv run python deploy/local.py env                    # shell exports for the services
    uv run python deploy/local.py services               # the four services, in the background
    uv run python deploy/local.py down --services        # stop the services, then the rest

Python API (``import deploy.launcher``; tests and benchmarks): :func:`ensure_up`,
:func:`stop`, :func:`restart`, :func:`kill`, :func:`reset`, :func:`status`,
:func:`endpoints`, :func:`start_services`, :func:`ensure_test_pki`.
"""

from deploy.launcher.base import (
    DEPLOY_DIR,
    HOST,
    REPO_ROOT,
    LauncherError,
    Layout,
    kafka_broker_count,
    layout,
)
from deploy.launcher.cli import main
from deploy.launcher.components import (
    ALIASES,
    ALL,
    COMPONENTS,
    REQUIRES,
    Component,
    Idp,
    Kafka,
    Postgres,
    Smtp,
    Store,
    Zipkin,
    component,
    kafka_brokers,
    kafka_replication,
)
from deploy.launcher.pki import TestPki, ensure_test_pki
from deploy.launcher.processes import (
    Status,
    endpoints,
    ensure_up,
    kill,
    reset,
    restart,
    status,
    stop,
)
from deploy.launcher.services import (
    SERVICE_PORTS,
    SERVICES,
    Service,
    env_file,
    service_status,
    start_services,
    stop_services,
    write_service_env,
)

__all__ = [
    "ALIASES",
    "ALL",
    "COMPONENTS",
    "DEPLOY_DIR",
    "HOST",
    "REPO_ROOT",
    "REQUIRES",
    "SERVICES",
    "SERVICE_PORTS",
    "Component",
    "Idp",
    "Kafka",
    "LauncherError",
    "Layout",
    "Postgres",
    "Service",
    "Smtp",
    "Status",
    "Store",
    "TestPki",
    "Zipkin",
    "component",
    "endpoints",
    "ensure_test_pki",
    "ensure_up",
    "env_file",
    "kafka_broker_count",
    "kafka_brokers",
    "kafka_replication",
    "kill",
    "layout",
    "main",
    "reset",
    "restart",
    "service_status",
    "start_services",
    "status",
    "stop",
    "stop_services",
    "write_service_env",
]
