"""Kafka's own performance tools from the broker's jars: the transport's ceiling.

``ProducerPerformance`` writes the same number of records of the same mean size as the
contenders' input (``acks=all``, no throttle) and reports its produce-to-acknowledgement
latency; ``ConsumerPerformance`` then reads them back. Neither touches the store: they show
what Kafka alone costs on this machine.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.pipeline.infra import KAFKA_LIBS, CpuMeter, Infra, drop
from bench.pipeline.stats import Progress

_PRODUCED = re.compile(
    r"(?P<records>\d+) records sent, (?P<rate>[\d.]+) records/sec .*?, "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, "
    r"(?P<p50>\d+) ms 50th, (?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th"
)


def _java_tool(tool: str, args: list[str], log: Path) -> tuple[str, float, float]:
    """Run one tool; its output, wall seconds and CPU seconds (from the kernel's rusage)."""
    argv = [
        "java",
        "-Xmx512m",
        "-cp",
        f"{KAFKA_LIBS}/*",
        f"org.apache.kafka.tools.{tool}",
        *args,
    ]
    started = time.monotonic()
    with log.open("ab") as sink:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=sink)
        assert process.stdout is not None
        output = process.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    if process.returncode != 0:
        raise RuntimeError(f"{tool} failed (exit {process.returncode}); see {log}")
    with log.open("a") as sink:
        sink.write(output)
    return output, wall, usage.ru_utime + usage.ru_stime


async def run_ceiling(
    infra: Infra, messages: int, record_bytes: int, run: str, workdir: Path, progress: Progress
) -> list[dict[str, Any]]:
    prefix = f"bench{run}-kafka."
    topic = f"{prefix}records"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        for _ in range(50):
            if topic in await admin.list_topics():
                break
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    log = workdir / "kafka-tools.log"
    rows: list[dict[str, Any]] = []
    try:
        progress.show(f"kafka ProducerPerformance: {messages} records", force=True)
        meter = CpuMeter({"kafka": infra.pids["kafka"]} if "kafka" in infra.pids else {})
        meter.start()
        output, wall, cpu = await asyncio.to_thread(
            _java_tool,
            "ProducerPerformance",
            [
                "--topic",
                topic,
                "--num-records",
                str(messages),
                "--record-size",
                str(record_bytes),
                "--throughput",
                "-1",
                "--producer-props",
                f"bootstrap.servers={infra.kafka}",
                "acks=all",
            ],
            log,
        )
        broker_cpu = meter.stop()
        produced = [m for m in _PRODUCED.finditer(output)][-1]
        rows.append(
            {
                "contender": "kafka ProducerPerformance",
                "messages": int(produced["records"]),
                "msgs_per_s": float(produced["rate"]),
                # Produce to broker acknowledgement, as the tool measures it.
                "latency_ms": {
                    "p50": float(produced["p50"]),
                    "p95": float(produced["p95"]),
                    "p99": float(produced["p99"]),
                    "max": float(produced["max"]),
                },
                "cpu_s": round(cpu, 3),
                "cpu_ms_per_msg": round(1000 * cpu / messages, 3),
                "infra_cpu_s": broker_cpu,
                "wall_s": round(wall, 3),
                "record_bytes": record_bytes,
            }
        )
        progress.show(f"kafka ConsumerPerformance: {messages} records", force=True)
        meter.start()
        output, wall, cpu = await asyncio.to_thread(
            _java_tool,
            "ConsumerPerformance",
            [
                "--bootstrap-server",
                infra.kafka,
                "--topic",
                topic,
                "--messages",
                str(messages),
                "--group",
                f"{prefix}consumer",
            ],
            log,
        )
        broker_cpu = meter.stop()
        header, values = _csv_block(output)
        consumed = dict(zip(header, values, strict=True))
        rows.append(
            {
                "contender": "kafka ConsumerPerformance",
                "messages": int(float(consumed["data.consumed.in.nMsg"])),
                # Fetch rate, without the group join that precedes the first fetch.
                "msgs_per_s": float(consumed["fetch.nMsg.sec"]),
                "latency_ms": None,
                "cpu_s": round(cpu, 3),
                "cpu_ms_per_msg": round(1000 * cpu / messages, 3),
                "infra_cpu_s": broker_cpu,
                "wall_s": round(wall, 3),
                "rebalance_ms": float(consumed["rebalance.time.ms"]),
            }
        )
        progress.done(
            f"kafka tools: produced {rows[0]['msgs_per_s']:,.0f}/s, "
            f"consumed {rows[1]['msgs_per_s']:,.0f}/s"
        )
    finally:
        await drop(infra, prefix, [])
    return rows


def _csv_block(output: str) -> tuple[list[str], list[str]]:
    lines = [line for line in output.splitlines() if line.strip()]
    at = next(i for i, line in enumerate(lines) if line.startswith("start.time"))
    header = [h.strip() for h in lines[at].split(",")]
    values = [v.strip() for v in lines[at + 1].split(",")]
    return header, values
