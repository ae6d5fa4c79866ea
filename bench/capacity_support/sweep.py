"""For each replica count: the four services as processes, then a ladder of offered rates,
each held for a while, until one is not held (p99 above the limit, or fallen behind)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.capacity_support.load import AuditWatch, Submissions, VegetaLoad
from bench.hey import upload_examples_if_supported
from bench.pipeline.infra import Infra, drop
from bench.pipeline.platform import (
    SERVICES,
    Service,
    scrape,
    service_env,
    start_services,
    stop_services,
    store_commands,
)
from bench.pipeline.processes import Watched, infrastructure, sample, spent
from bench.pipeline.stats import Progress, percentile
from bench.profiling import profiled
from chassis.auth import mint_token, new_signing_key

# vegeta, the compiled load generator, in the CPU tables.
LOAD_GENERATOR = "vegeta"
INFRASTRUCTURE = ("kafka", "postgresql", "ferretdb")
SMTP_SINK = "smtp sink"


@dataclass(frozen=True)
class SweepPlan:
    replicas: tuple[int, ...]
    rates: tuple[float, ...]
    duration_s: float
    # After the last POST of a step, how long its dossiers may take to reach the audit.
    drain_s: float
    p99_limit_s: float
    warmup_s: float
    idle_s: float
    # A step at this rate before the ladder, for the CPU budget per dossier; with
    # ``profile``, every service process is sampled by py-spy during it.
    budget_rate: float | None = None
    budget_s: float = 30.0
    profile: bool = False
    # Settings the services get besides the benchmark's own (``KEY=VALUE``), to try one.
    service_env: tuple[str, ...] = ()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpSink:
    """An SMTP server that accepts and drops every message, in a process of its own so
    that its CPU is not counted as the load generator's."""

    def __init__(self, logs: Path) -> None:
        self.port = _free_port()
        self._logs = logs
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        log = (self._logs / "smtp-sink.log").open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{self.port}",
            "-c",
            "aiosmtpd.handlers.Sink",
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 20
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            if self.process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the SMTP sink did not start; see {self._logs}")
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), timeout=10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@dataclass
class _Rig:
    """What one replica count's steps share."""

    replicas: int
    load: VegetaLoad
    watch: AuditWatch
    watched: list[Watched]
    plan: SweepPlan
    progress: Progress
    kafka: str
    mongodb: str
    missing: list[str]
    # The service processes, for their consumer lag (``/metrics``) when sending ends.
    services: dict[str, Any] = field(default_factory=dict)
    steps: int = 0


def _seconds(value: float) -> float | None:
    return None if math.isinf(value) else round(value, 3)


async def _step(rig: _Rig, rate: float, duration: float, label: str) -> dict[str, Any]:
    plan, watch, progress = rig.plan, rig.watch, rig.progress
    rig.steps += 1
    workers = rig.load.workers(rate)

    # Looked up again for every step: a broker or store restarted meanwhile has a new pid.
    found, rig.missing = infrastructure(rig.kafka, rig.mongodb)
    rig.watched = [w for w in rig.watched if w.name not in INFRASTRUCTURE] + found
    started = time.time()
    cpu_start = sample(rig.watched)
    sending = asyncio.create_task(rig.load.offer(rate, duration, f"s{rig.steps}"))
    while not sending.done():
        await asyncio.wait({sending}, timeout=1.0)
        await watch.poll()
        # vegeta hands back its answers when it exits: meanwhile the audit tells.
        received = watch.received_between(started, time.time())
        progress.show(
            f"{label}: sending ({time.time() - started:.0f}/{duration:g} s), received and "
            f"audited {len(received)}, notification audited "
            f"{sum(1 for d in received if d in watch.notified)}"
        )
    attack = sending.result()
    sent = time.time()
    cpu_sent = sample(rig.watched)
    lag_at_sent = await _lags(rig.services)
    # The step's dossiers: the ids of its 202 answers, each with the start of its POST.
    posted = attack.accepted()
    accepted = len(posted)
    deadline = sent + plan.drain_s
    while True:
        await watch.poll()
        finished = sum(1 for d in posted if d in watch.notified)
        if finished >= accepted or time.time() > deadline:
            break
        progress.show(
            f"{label}: draining, vegeta's 202s {accepted}, notification audited {finished}"
        )
        await asyncio.sleep(0.5)
    ended = time.time()
    cpu_end = sample(rig.watched)
    # A broker or store restarted during the step (other work on a shared machine may do
    # that) shows as a process that is gone: such a step measures the restart.
    restarted = sorted(w.name for w in found if w.name not in cpu_end)

    # End to end: from the start of the citizen's POST to the audit entry of the
    # dossier's notification.sent.
    journeys = sorted(
        (at, watch.notified[d] - at) for d, at in posted.items() if d in watch.notified
    )
    # An accepted dossier not seen through to its notification counts as infinitely late.
    latencies = [s for _, s in journeys] + [math.inf] * (accepted - len(journeys))
    window = sent - started
    # The pipeline's throughput: the pace its notifications were audited at, from the
    # first to the last; under an even load it is the offered rate while the pipeline
    # keeps up, and its own capacity when it falls behind.
    notified = sorted(at + latency for at, latency in journeys)
    span = notified[-1] - notified[0] if len(notified) > 1 else 0.0
    finished_per_s = (len(notified) - 1) / span if span > 0 else len(notified) / max(window, 1e-9)
    refused = {str(s): n for s, n in attack.statuses.items() if s != 202}
    if attack.errors:
        refused["no answer"] = attack.errors
    # vegeta sends exactly rate x duration requests unless it could not keep the pace.
    due = rate * duration
    accepted_per_s = accepted / duration
    p50 = percentile(latencies, 50)
    p99 = percentile(latencies, 99)
    behind: list[str] = []
    if attack.requests < 0.95 * due:
        behind.append(f"sent {attack.requests} of {due:.0f} due ({rate:g}/s offered)")
    if sum(refused.values()) > 0.01 * attack.requests:
        behind.append(f"{sum(refused.values())} of {attack.requests} refused")
    if accepted < 0.95 * due:
        behind.append(f"accepted {accepted} of {due:.0f} due")
    if finished_per_s < 0.9 * rate:
        behind.append(f"finished {finished_per_s:.1f}/s of {rate:g}/s offered")
    if len(journeys) < accepted:
        behind.append(f"{accepted - len(journeys)} not audited {plan.drain_s:g} s after sending")
    held = not behind and p99 is not None and p99 <= plan.p99_limit_s
    whole = spent(cpu_start, cpu_end)
    while_sending = spent(cpu_start, cpu_sent)
    # vegeta's CPU, from the kernel's accounting of the exited children, is all spent
    # sending (and reading back its answers).
    whole[LOAD_GENERATOR] = while_sending[LOAD_GENERATOR] = attack.generator_cpu_s
    finished = len(journeys)
    sent_per_s = attack.sent_per_s()
    result: dict[str, Any] = {
        "offered_per_s": rate,
        "duration_s": duration,
        "generator": {
            "name": LOAD_GENERATOR,
            "processes": len(rig.load.intakes),
            "workers": workers.start,
            "max_workers": workers.most,
            # The pace the POSTs actually went out at (all generators together).
            "sent_per_s": None if sent_per_s is None else round(sent_per_s, 2),
            "cpu_s": round(attack.generator_cpu_s, 3),
            "cores": round(attack.generator_cores(), 3),
            "cores_per_1000": _rounded(attack.generator_cores_per_1000()),
        },
        "posted": attack.requests,
        "due": round(due),
        "accepted": accepted,
        "refused": refused,
        "accepted_per_s": round(accepted_per_s, 2),
        "post_ms": {
            "p50": attack.latency_ms(50),
            "p99": attack.latency_ms(99),
            "max": attack.max_ms(),
        },
        "finished": finished,
        "finished_per_s": round(finished_per_s, 2),
        # From the start of the POST to the audit entry of the dossier's notification.sent.
        "latency_s": {
            "p50": None if p50 is None else _seconds(p50),
            "p99": None if p99 is None else _seconds(p99),
            "max": _seconds(max(latencies)) if latencies else None,
        },
        # When the slowest dossiers were posted (seconds into the step): a burst at one
        # moment points at a stall, slow dossiers all along at a lack of capacity.
        "slowest": [
            [round(at - started, 1), _seconds(latency)]
            for at, latency in sorted(journeys, key=lambda pair: pair[1], reverse=True)[:20]
        ],
        "behind": behind,
        # Events each consumer had still to handle when the last submission was sent:
        # the stage that fell behind is the one with a lag that grew.
        "lag_at_sent": lag_at_sent,
        "held": held,
        "restarted": restarted,
        "window_s": round(window, 2),
        "drain_s": round(ended - sent, 2),
        # CPU over the step and its drain, per dossier that reached the audit.
        "cpu_ms_per_dossier": {
            name: round(1000 * seconds / finished, 2) if finished else None
            for name, seconds in whole.items()
        },
        # Cores each process kept busy while the load was being offered.
        "cores_while_sending": {
            name: round(seconds / window, 3) if window > 0 else None
            for name, seconds in while_sending.items()
        },
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    latency, post = result["latency_s"], result["post_ms"]
    verdict = "held" if held else "NOT held: " + ("; ".join(behind) or "p99 above the limit")
    if restarted:
        verdict += f" ({', '.join(restarted)} restarted during the step)"
    progress.done(
        f"{label}: accepted {accepted_per_s:.1f}/s, POST p99 {_ms(post['p99'])}, "
        f"finished {finished_per_s:.1f}/s, end to end p50 {_text(latency['p50'])}, "
        f"p99 {_text(latency['p99'])}, max {_text(latency['max'])}, lag at the end of "
        f"sending {lag_at_sent}, vegeta {result['generator']['cores']:.2f} cores -> {verdict}"
    )
    return result


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _ms(millis: float | None) -> str:
    return "-" if millis is None else f"{millis:.0f} ms"


async def _lags(services: dict[str, Any]) -> dict[str, float]:
    lags: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=5) as client:
        for label, service in services.items():
            if label.startswith("intake"):
                continue
            with contextlib.suppress(httpx.HTTPError):
                lags[label] = (await scrape(client, service))[1]
    return lags


async def _store_commands(services: dict[str, Service]) -> dict[str, dict[str, float]]:
    """Each service's store commands so far by command name, its replicas added up."""
    counts: dict[str, dict[str, float]] = {}
    async with httpx.AsyncClient(timeout=5) as client:
        for service in services.values():
            mine = counts.setdefault(service.name, {})
            for command, n in (await store_commands(client, service)).items():
                mine[command] = mine.get(command, 0.0) + n
    return counts


def _per_dossier(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], dossiers: int
) -> dict[str, Any]:
    """The store commands of a step and its drain, per dossier that reached the audit: what
    the services' background work (outbox sweeps, checkpoints) sent meanwhile included."""
    sent = {
        service: {
            command: n - before.get(service, {}).get(command, 0.0)
            for command, n in sorted(commands.items())
            if n > before.get(service, {}).get(command, 0.0)
        }
        for service, commands in after.items()
    }
    return {
        "dossiers": dossiers,
        "sent": sent,
        "per_dossier": {
            service: {c: round(n / dossiers, 2) for c, n in commands.items()}
            for service, commands in sent.items()
        }
        if dossiers
        else {},
    }


def _text(seconds: float | None) -> str:
    return "not all audited" if seconds is None else f"{seconds:.2f} s"


async def _idle(rig: _Rig) -> dict[str, float]:
    """Cores used with no load offered: the broker's and the store's share of other work on
    the machine, and the services' own idle polling."""
    rig.progress.show(f"replicas {rig.replicas}: measuring {rig.plan.idle_s:g} s idle", force=True)
    before = sample(rig.watched)
    started = time.time()
    await asyncio.sleep(rig.plan.idle_s)
    used = spent(before, sample(rig.watched))
    elapsed = time.time() - started
    return {name: round(seconds / elapsed, 3) for name, seconds in used.items()}


async def sweep_replicas(
    infra: Infra,
    replicas: int,
    plan: SweepPlan,
    run: str,
    logs: Path,
    smtp: SmtpSink,
    progress: Progress,
) -> dict[str, Any]:
    prefix = f"bench{run}-cap{replicas}."
    databases = {name: f"bench{run}_cap{replicas}_{name}" for name in SERVICES}
    secret = new_signing_key()
    env = service_env(infra, prefix, databases, secret, smtp.port)
    env.update(item.split("=", 1) for item in plan.service_env if "=" in item)
    workdir = logs / f"replicas-{replicas}"
    workdir.mkdir(parents=True, exist_ok=True)
    store: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb, tz_aware=True)
    services = {}
    try:
        progress.show(f"replicas {replicas}: starting {4 * replicas} service processes", force=True)
        services = await start_services(env, workdir, replicas=replicas)
        watched = [Watched(name, s.process.pid) for name, s in services.items() if s.process]
        assert smtp.process is not None
        watched.append(Watched(SMTP_SINK, smtp.process.pid))
        token = mint_token(secret, "portal-bench", ["portal"], ttl_s=4 * 3600)
        intakes = [s.url for s in services.values() if s.name == "intake"]
        # The example names two uploaded documents (docs/examples/*.pdf).
        await asyncio.to_thread(
            upload_examples_if_supported, intakes[0], {"Authorization": f"Bearer {token}"}
        )
        rig = _Rig(
            replicas,
            VegetaLoad(intakes, token, Submissions(f"{run}c{replicas}")),
            AuditWatch(store[databases["audit"]]["audit_entries"]),
            watched,
            plan,
            progress,
            infra.kafka,
            infra.mongodb,
            [],
            services,
        )
        result: dict[str, Any] = {"replicas": replicas}
        if plan.warmup_s > 0:
            # The first requests pay for imports, connection pools and the consumer groups'
            # first assignment (a rebalance per replica joining); none of that is capacity.
            warm = min(5.0, plan.rates[0])
            result["warmup"] = await _step(
                rig, warm, plan.warmup_s, f"replicas {replicas}, warm-up {warm:g}/s"
            )
        result["idle_cores"] = await _idle(rig) if plan.idle_s > 0 else {}
        if plan.budget_rate:
            pids = {label: s.process.pid for label, s in services.items() if s.process}
            commands_before = await _store_commands(services)
            with profiled(pids if plan.profile else {}, workdir / "profiles") as written:
                result["budget"] = await _step(
                    rig,
                    plan.budget_rate,
                    plan.budget_s,
                    f"replicas {replicas}, CPU budget at {plan.budget_rate:g}/s",
                )
            result["budget"]["store_commands"] = _per_dossier(
                commands_before, await _store_commands(services), result["budget"]["finished"]
            )
            result["profiles"] = {name: str(path) for name, path in written.items()}
        steps: list[dict[str, Any]] = []
        result["steps"] = steps
        for rate in plan.rates:
            label = f"replicas {replicas}, {rate:g}/s"
            outcome = await _step(rig, rate, plan.duration_s, label)
            if outcome["restarted"] and not outcome["held"]:
                # Once more, with what was found restarted: the rate, not the restart, is
                # what the ladder is about. The first attempt stays in the results.
                steps.append(outcome)
                await asyncio.sleep(5)
                outcome = await _step(rig, rate, plan.duration_s, f"{label}, again")
            steps.append(outcome)
            if not outcome["held"]:
                break
            await asyncio.sleep(2)
        result["processes"] = {w.name: w.pid for w in rig.watched}
        result["not_found"] = rig.missing
        return result
    finally:
        progress.show(f"replicas {replicas}: stopping the services", force=True)
        await stop_services(services)
        await store.close()
        await drop(infra, prefix, list(databases.values()))
