"""A three-broker Kafka cluster of the run's own, through the local launcher.

It lives in a folder of its own (``HOSO_LOCAL_DIR``) on ports of its own, so the single
broker everybody else uses is never touched: the launcher reads its settings from the
environment on every call, and each call here sets them for that call alone.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from bench.chaos_support.infra import ROOT, launcher

log = logging.getLogger("chaos")

# Clients on 19092/19192/19292, controllers on 19093/19193/19293.
DEFAULT_PORT = 19092
DEFAULT_CONTROLLER_PORT = 19093
DEFAULT_DIR = ROOT / ".local" / "kafka-failover"

# os.environ is the whole process's: one launcher call with the cluster's settings at a time.
_env_lock = threading.Lock()


@dataclass(frozen=True)
class KafkaCluster:
    brokers: int = 3
    port: int = DEFAULT_PORT
    controller_port: int = DEFAULT_CONTROLLER_PORT
    local_dir: Path = DEFAULT_DIR

    @property
    def names(self) -> list[str]:
        return [launcher().Kafka.broker_name(k) for k in range(1, self.brokers + 1)]

    @property
    def replication(self) -> tuple[int, int]:
        factor, min_insync = launcher().kafka_replication(self.brokers)
        return int(factor), int(min_insync)

    @contextmanager
    def _settings(self) -> Iterator[None]:
        wanted = {
            "HOSO_LOCAL_DIR": str(self.local_dir),
            "HOSO_KAFKA_BROKERS": str(self.brokers),
            "HOSO_KAFKA_PORT": str(self.port),
            "HOSO_KAFKA_CONTROLLER_PORT": str(self.controller_port),
        }
        with _env_lock:
            saved = {name: os.environ.get(name) for name in wanted}
            os.environ.update(wanted)
            try:
                yield
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value

    def _call(self, what: str, *args: Any) -> Any:
        with self._settings():
            return getattr(launcher(), what)(*args)

    def up_now(self) -> float:
        """Start the cluster; the seconds it took."""
        started = time.monotonic()
        self.up()
        return time.monotonic() - started

    def up(self) -> str:
        """Start the brokers that are not running and wait for each; the bootstrap list."""
        return str(self._call("ensure_up", ["kafka"])["kafka"])

    def stop(self) -> list[str]:
        return list(self._call("stop", ["kafka"]))

    def reset(self) -> list[str]:
        """Stop the brokers and delete their data (the jars stay). They are killed: what
        a graceful stop would save is deleted right after."""
        for name in self.names:
            self._call("kill", name)
        return list(self._call("reset", ["kafka"]))

    async def kill(self, name: str) -> None:
        await asyncio.to_thread(self._call, "kill", name)

    async def start(self, name: str) -> None:
        await asyncio.to_thread(self._call, "ensure_up", [name])

    async def restart(self, name: str) -> None:
        """Stop gracefully (the broker hands its leaderships over first), start again."""
        await asyncio.to_thread(self._call, "restart", name)

    def status(self) -> list[Any]:
        return list(self._call("status", ["kafka"]))


async def leaders(bootstrap: str, topics: list[str]) -> dict[tuple[str, int], int]:
    """The broker (node id) leading each partition of ``topics``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {
        (topic["topic"], part["partition"]): part["leader"]
        for topic in described
        for part in topic.get("partitions") or []
        if part["leader"] >= 0
    }


async def busiest_leader(
    bootstrap: str, led: dict[tuple[str, int], int]
) -> tuple[int, list[tuple[str, int]]]:
    """The broker leading the partitions that have taken the most records, and those
    partitions."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(t, p) for t, p in led])
    finally:
        await consumer.stop()
    score: Counter[int] = Counter()
    for (topic, partition), node in led.items():
        score[node] += ends.get(TopicPartition(topic, partition), 0)
    node = min(score, key=lambda n: (-score[n], n))
    return node, sorted(tp for tp, leader in led.items() if leader == node)


async def in_sync(bootstrap: str, topics: list[str], timeout_s: float = 90.0) -> bool:
    """Wait until every replica of ``topics`` is in sync again (a broker that came back
    has caught up), so the next broker taken away leaves two copies of everything."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            await admin.start()
            described = await admin.describe_topics(topics)
            if all(
                set(p["isr"]) == set(p["replicas"])
                for topic in described
                for p in topic.get("partitions") or []
            ):
                return True
        except KafkaError as exc:
            log.info("in-sync check: %r", exc)
        finally:
            await admin.close()
        await asyncio.sleep(1.0)
    return False


async def replication_of(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """The fewest copies any partition of each topic has."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {
        topic["topic"]: min(len(p["replicas"]) for p in topic["partitions"])
        for topic in described
        if topic.get("partitions")
    }
