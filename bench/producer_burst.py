"""Concurrent publishers on one chassis `EventPublisher`, as intake publishes under a burst:
the latency of each acknowledged publish, with the producer's batch size as the library
sets it (16 KB) and as the chassis sets it.

    uv run python -m bench.producer_burst [--seconds 10] [--concurrency 32,128]

Each of ``concurrency`` tasks publishes one ``dossier.submitted`` event (the size intake
publishes) and waits for the broker's acknowledgement (``acks=all``), again and again for
``seconds``, on a topic of its own with three partitions. aiokafka keeps one produce
request in flight per broker and one open batch per partition; a publisher that finds its
partition's batch full waits for it to drain, racing every other waiter, for up to the
request timeout (10 s). The table shows how often that wait happened and how long the
slowest publishes took. Uses ``KAFKA_BOOTSTRAP_SERVERS`` (else the local launcher).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.pipeline.infra import provide
from bench.pipeline.stats import percentile, table
from bench.pipeline.work import submitted_event
from chassis.events import Topics
from chassis.kafka import EventPublisher, KafkaUnavailable
from chassis.kafka import publisher as publisher_module
from chassis.settings import ServiceSettings

LIBRARY_DEFAULT = 16384


async def burst(
    kafka: str, prefix: str, batch_bytes: int, concurrency: int, seconds: float
) -> dict[str, Any]:
    settings = ServiceSettings(
        service_name="intake", kafka_bootstrap_servers=kafka, kafka_topic_prefix=prefix
    )
    # The chassis's producer with only its batch size changed.
    chosen = publisher_module.MAX_BATCH_BYTES
    publisher_module.MAX_BATCH_BYTES = batch_bytes
    publisher = EventPublisher(settings)
    try:
        await publisher.start()
    finally:
        publisher_module.MAX_BATCH_BYTES = chosen
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + seconds
    run = uuid.uuid4().hex[:6]

    async def one_publisher(k: int) -> None:
        nonlocal failures
        n = 0
        while time.monotonic() < deadline:
            envelope = submitted_event(k * 1_000_000 + n, run)
            n += 1
            started = time.perf_counter()
            try:
                await publisher.publish(envelope, key=envelope.subject)
            except KafkaUnavailable:
                failures += 1
            latencies.append(time.perf_counter() - started)

    try:
        started = time.perf_counter()
        cpu_started = time.process_time()
        await asyncio.gather(*(one_publisher(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        await publisher.stop()
    return {
        "batch_kb": batch_bytes // 1024,
        "concurrency": concurrency,
        "published_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * (percentile(latencies, 50) or 0), 1),
        "p99_ms": round(1000 * (percentile(latencies, 99) or 0), 1),
        "max_ms": round(1000 * max(latencies, default=0), 1),
        "over_1s": sum(1 for s in latencies if s > 1),
        "failed": failures,
        # This process's CPU (publishers and producer) per acknowledged publish.
        "cpu_ms_per_publish": round(1000 * cpu / max(1, len(latencies)), 3),
    }


async def main(seconds: float, concurrencies: list[int]) -> None:
    infra = provide(keep=True)
    prefix = f"bench{uuid.uuid4().hex[:8]}-producer."
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka)
    await admin.start()
    rows = []
    try:
        await admin.create_topics(
            [NewTopic(prefix + Topics.SUBMISSIONS, num_partitions=3, replication_factor=1)]
        )
        for concurrency in concurrencies:
            for batch in (LIBRARY_DEFAULT, publisher_module.MAX_BATCH_BYTES):
                rows.append(await burst(infra.kafka, prefix, batch, concurrency, seconds))
    finally:
        await admin.delete_topics([prefix + Topics.SUBMISSIONS])
        await admin.close()
    print(
        f"\nconcurrent publishes of dossier.submitted ({seconds:g} s each), acks=all, "
        "3 partitions, one broker"
    )
    print(
        table(
            [
                "batch KB",
                "publishers",
                "acked/s",
                "p50 ms",
                "p99 ms",
                "max ms",
                ">1 s",
                "failed",
                "CPU ms/publish",
            ],
            [list(r.values()) for r in rows],
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", default="32,128")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, [int(c) for c in args.concurrency.split(",")]))
