"""The processing + audit core done by each contender on the same broker and store.

For each contender, with topics of its own and a database per stage:

1. the input topic is pre-loaded with the same number of ``dossier.submitted`` events;
2. the contender starts in a process of its own and drains it: throughput is the number of
   pre-loaded events over the time from its first record to the moment the audit
   collection holds every event (both kinds), and CPU is measured over that window;
3. then events arrive at a set, modest rate that every contender can keep up with: the
   latency of each dossier is its produce time to the acknowledgement of its status
   change's audit entry, so it covers both stages and both hops through the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.pipeline.infra import ROOT, Infra, drop
from bench.pipeline.processes import infrastructure, sample, spent
from bench.pipeline.stats import Progress, summary_ms
from bench.pipeline.work import AUDIT_GROUP, PROCESSING_GROUP, submitted_record
from chassis.events import CONTENT_TYPE, DossierSubmitted, Topics
from chassis.kafka import ensure_topics
from chassis.settings import ServiceSettings

STAGES = (PROCESSING_GROUP, AUDIT_GROUP)


@dataclass(frozen=True)
class CoreLoad:
    messages: int  # pre-loaded dossier.submitted events
    paced: int  # events sent afterwards at `rate`
    rate: float  # events per second of the paced phase


class _Producer:
    """Writes submitted events to a contender's input topic, remembering when."""

    def __init__(self, bootstrap: str, topic: str, run: str) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
        )
        self._topic = topic
        self._run = run
        self.sent_at: dict[str, float] = {}
        self.sizes: list[int] = []

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, n: int) -> asyncio.Future[Any]:
        key, value = submitted_record(n, self._run)
        headers = [
            ("content-type", CONTENT_TYPE.encode()),
            ("ce_type", DossierSubmitted.event_type.encode()),
            ("ce_id", key),
        ]
        self.sent_at[key.decode()] = time.time()
        self.sizes.append(len(value))
        return await self._producer.send(self._topic, value, key=key, headers=headers)

    async def burst(self, first: int, count: int) -> None:
        futures = [await self.send(n) for n in range(first, first + count)]
        await asyncio.gather(*futures)

    async def paced(self, first: int, count: int, rate: float) -> None:
        started = time.monotonic()
        futures = []
        for i in range(count):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            futures.append(await self.send(first + i))
        await asyncio.gather(*futures)


async def run_contender(
    infra: Infra,
    name: str,
    load: CoreLoad,
    run: str,
    workdir: Path,
    progress: Progress,
    *,
    profile: bool = False,
) -> dict[str, Any]:
    prefix = f"bench{run}-{name}."
    database = f"bench{run}_{name.replace('-', '_')}"
    settings = ServiceSettings(kafka_bootstrap_servers=infra.kafka, kafka_topic_prefix=prefix)
    await ensure_topics(settings)
    producer = _Producer(infra.kafka, settings.topic(Topics.SUBMISSIONS), run)
    await producer.start()
    try:
        progress.show(f"{name}: pre-loading {load.messages} events", force=True)
        await producer.burst(0, load.messages)
        preloaded = set(producer.sent_at)
        result = await _drive(
            infra, name, load, prefix, database, workdir, producer, progress, profile
        )
    finally:
        await producer.stop()
        await drop(infra, prefix, [f"{database}_{stage}" for stage in STAGES])
    acks: dict[str, float] = result.pop("acks")
    paced_ids = [d for d in producer.sent_at if d not in preloaded]
    paced = [acks[d] - producer.sent_at[d] for d in paced_ids if d in acks]
    queued = [acks[d] - producer.sent_at[d] for d in preloaded if d in acks]
    result.update(
        {
            "contender": name,
            "messages": load.messages,
            "message_bytes_mean": round(sum(producer.sizes) / max(1, len(producer.sizes))),
            "paced": {"messages": load.paced, "rate": load.rate},
            "latency_ms": summary_ms(paced),
            "queued_latency_ms": summary_ms(queued),
            "missing": len(producer.sent_at) - len(acks),
        }
    )
    return result


async def _drive(
    infra: Infra,
    name: str,
    load: CoreLoad,
    prefix: str,
    database: str,
    workdir: Path,
    producer: _Producer,
    progress: Progress,
    profile: bool,
) -> dict[str, Any]:
    acks_file = workdir / f"{name}-acks.json"
    module = ["-m", "bench.pipeline.contender"]
    profile_file = workdir / f"profile-{name}.txt"
    if profile:
        module = ["-m", "pyinstrument", "-r", "text", "-o", str(profile_file), *module]
    argv = [
        sys.executable,
        *module,
        name,
        "--bootstrap",
        infra.kafka,
        "--mongodb",
        infra.mongodb,
        "--prefix",
        prefix,
        "--database",
        database,
        "--drain",
        str(2 * load.messages),
        "--final",
        str(2 * (load.messages + load.paced)),
        "--acks",
        str(acks_file),
    ]
    log = (workdir / f"{name}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=log, cwd=ROOT
    )
    assert process.stdout is not None
    # The broker and the whole store: FerretDB and PostgreSQL with its backends.
    watched, _ = infrastructure(infra.kafka, infra.mongodb)
    infra_before: dict[str, float] = {}
    infra_cpu: dict[str, float] = {}
    first = drained = finished = 0.0
    cpu_drain = cpu_all = 0.0
    waits: dict[str, float] = {}
    pacing: asyncio.Task[None] | None = None
    # Generous: even the slowest contender drains a few dozen events per second.
    deadline = time.monotonic() + 60 + 0.1 * (load.messages + load.paced)
    target = 2 * (load.messages + load.paced)
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{name} did not finish in time; see {log.name}")
            try:
                line = await asyncio.wait_for(process.stdout.readline(), timeout=remaining)
            except TimeoutError:
                continue
            if not line:
                raise RuntimeError(f"{name} exited early (code {await process.wait()})")
            try:
                message = json.loads(line)
                event = message["event"]
            except (ValueError, TypeError, KeyError):
                # A library printing to stdout: keep it with the contender's log.
                log.write(line)
                continue
            if event == "first":
                first = message["t"]
                infra_before = sample(watched)
            elif event == "progress":
                phase = "pacing" if pacing else "draining"
                progress.show(f"{name}: {phase}, audit entries {message['audited']}/{target}")
            elif event == "drained":
                drained, cpu_drain = message["t"], message["cpu_s"]
                waits = message.get("waits", {})
                infra_cpu = {
                    part: round(seconds, 3)
                    for part, seconds in spent(infra_before, sample(watched)).items()
                }
                pacing = asyncio.create_task(producer.paced(load.messages, load.paced, load.rate))
            elif event == "done":
                finished, cpu_all = message["t"], message["cpu_s"]
                break
        if pacing is not None:
            await pacing
        code = await asyncio.wait_for(process.wait(), timeout=60)
        if code != 0:
            raise RuntimeError(f"{name} exited with code {code}; see {log.name}")
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        log.close()
        if pacing is not None and not pacing.done():
            pacing.cancel()
    drain_s = drained - first
    progress.done(f"{name}: {load.messages} events drained in {drain_s:.2f} s")
    return {
        "drain_s": round(drain_s, 3),
        "msgs_per_s": round(load.messages / drain_s, 1) if drain_s > 0 else None,
        "cpu_s": round(cpu_drain, 3),
        "cpu_ms_per_msg": round(1000 * cpu_drain / load.messages, 3),
        "cpu_s_with_paced": round(cpu_all, 3),
        "infra_cpu_s": infra_cpu,
        "waits_s": waits,
        "total_s": round(finished - first, 3),
        "profile": str(profile_file) if profile else None,
        "acks": json.loads(acks_file.read_text()),
    }
