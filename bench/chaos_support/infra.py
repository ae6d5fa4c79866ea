"""The broker and the store under the chaos run, and whether the run may restart them.

``KAFKA_BOOTSTRAP_SERVERS`` and ``MONGODB_URI`` in the environment name servers that are
used as they are: nobody here owns them, so they are never restarted. Otherwise the local
launcher (``deploy/local.py``) provides Kafka and the store (FerretDB in front of
PostgreSQL with DocumentDB), and its ``restart`` (stop, then start on the same data) is
how the run restarts them: ``kafka``, ``store`` (FerretDB alone) and ``postgres`` (the
database under it, while FerretDB stays up).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.chaos_support.cluster import KafkaCluster

ROOT = Path(__file__).resolve().parents[2]
# The launcher's components the run restarts, and must therefore own.
RESTARTABLE = ("kafka", "store", "postgres")


def launcher() -> ModuleType:
    import deploy.launcher

    return deploy.launcher


@dataclass(frozen=True)
class ChaosInfra:
    kafka: str
    mongodb: str
    how: str
    # Only the launcher's own instances may be restarted by the run.
    restartable: bool
    # A Kafka cluster of the run's own, whose brokers the run kills and restarts one at a
    # time (bench/chaos_support/cluster.py); None on the single broker.
    cluster: KafkaCluster | None = None
    # What the services create their topics with (KAFKA_REPLICATION_FACTOR and
    # KAFKA_MIN_INSYNC_REPLICAS).
    replication: tuple[int, int] = (1, 1)

    @classmethod
    def of(cls, kafka: str, mongodb: str, how: str) -> ChaosInfra:
        return cls(kafka, mongodb, how, how == "local launcher" and launcher_owns_all())

    @classmethod
    def on_cluster(cls, cluster: KafkaCluster, bootstrap: str, mongodb: str) -> ChaosInfra:
        """The run's own Kafka cluster beside a store it does not own (never restarted)."""
        how = f"Kafka cluster of {cluster.brokers}"
        return cls(bootstrap, mongodb, how, False, cluster, cluster.replication)

    @property
    def why_not_restartable(self) -> str | None:
        if self.restartable:
            return None
        if self.cluster is not None:
            return "skipped: the run kills its cluster's brokers instead; the store is not its own"
        if self.how == "local launcher":
            return "skipped: the launcher does not own the running broker, store and database"
        return f"skipped: {self.how} servers are not the run's to restart"

    async def restart(self, component: str) -> None:
        """Stop and start one of ``RESTARTABLE`` with its data, off the event loop."""
        if component not in RESTARTABLE:
            raise ValueError(f"the run restarts only {', '.join(RESTARTABLE)}, not {component}")
        if not self.restartable:
            raise RuntimeError(self.why_not_restartable)
        await asyncio.to_thread(launcher().restart, component)


def launcher_owns_all() -> bool:
    """Whether the launcher started each component it would restart (one listening on its
    port that the launcher has no record of, it cannot restart)."""
    rows = launcher().status(list(RESTARTABLE))
    return {row.component for row in rows} >= set(RESTARTABLE) and all(
        row.state == "ready" for row in rows
    )


def provide() -> ChaosInfra:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    mongodb = os.environ.get("MONGODB_URI")
    if kafka and mongodb:
        return ChaosInfra.of(kafka, mongodb, "environment")
    endpoints = launcher().ensure_up(list(RESTARTABLE))
    return ChaosInfra.of(endpoints["kafka"], endpoints["mongodb"], "local launcher")
