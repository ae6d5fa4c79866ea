"""The real pipeline: the four services as processes, fed through intake's HTTP API.

Per dossier it measures from the start of its POST to (a) the audit entry of the
``notification.sent`` event (its ``recorded_at``, read from the audit database) and (b) the
arrival of the citizen's email in the SMTP sink running in this process. Each stage's
throughput comes from the services' own ``hoso_events_consumed_total`` counters, scraped
from ``/metrics`` every second; CPU from the kernel's per-process accounting.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from prometheus_client.parser import text_string_to_metric_families
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from bench.pipeline.infra import Infra, drop
from bench.pipeline.processes import Watched, infrastructure, sample, spent
from bench.pipeline.stats import Progress, summary_ms
from chassis.auth import mint_token, new_signing_key, publish_jwks
from deploy.launcher.spawn import SERVICES, ServiceProcess, free_port
from tests.support.documents import attachment_for, upload_samples

NOTIFICATION_SENT = "notification.sent.v1"
PROCEDURE = "MT-004"


# --------------------------------------------------------------------------- mail


class _Arrivals:
    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.time()
        with self.lock:
            for address in envelope.rcpt_tos:
                self.at.setdefault(address.lower(), now)
        return "250 OK"


class MailSink:
    """A real SMTP server that only notes when each recipient's first message arrived."""

    def __init__(self) -> None:
        self._arrivals = _Arrivals()
        self.port = free_port()
        self._controller = Controller(self._arrivals, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def arrivals(self) -> dict[str, float]:
        with self._arrivals.lock:
            return dict(self._arrivals.at)


# --------------------------------------------------------------------------- services


# One process of one service, as the tests run them too (``deploy.launcher.spawn``); its
# label in the dicts below is the service's name, "<service>-<k>" for the k-th replica.
Service = ServiceProcess


def service_env(
    infra: Infra,
    prefix: str,
    databases: dict[str, str],
    signing_key: str,
    smtp_port: int,
) -> dict[str, str]:
    """What the four services are started with: their own topic prefix and databases, mail
    to a local sink, intake's per-client limit lifted."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "MONGODB_URI": infra.mongodb,
        "KAFKA_TOPIC_PREFIX": prefix,
        # The public half of the run's token signing key; the bench keeps the private one.
        "JWT_JWKS_FILE": publish_jwks(signing_key),
        "INTAKE_FOLLOW_UP_KEY": secrets.token_urlsafe(32),
        "LOG_JSON": "true",
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "NOTIFICATION_SMTP_HOST": "127.0.0.1",
        "NOTIFICATION_SMTP_PORT": str(smtp_port),
        # All the load comes from one portal client; its per-client limit would otherwise
        # be what is measured.
        "INTAKE_RATE_LIMIT_PER_CLIENT": "1000000/second",
        **{f"{name.upper()}_MONGODB_DATABASE": db for name, db in databases.items()},
    }
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


async def start_services(
    env: dict[str, str], logs: Path, *, profile: bool = False, replicas: int = 1
) -> dict[str, Service]:
    """``replicas`` processes of each service, each on a port of its own and otherwise
    configured alike: the same databases and consumer groups, as the launcher runs them."""
    services: dict[str, Service] = {}
    for name in SERVICES:
        for replica in range(1, replicas + 1):
            label = name if replica == 1 else f"{name}-{replica}"
            wrapper: list[str] = []
            if profile:
                report = logs / f"profile-{label}.txt"
                wrapper = ["-m", "pyinstrument", "-r", "text", "-o", str(report)]
            service = Service(name, env, logs / f"{label}.log", replica=replica, wrapper=wrapper)
            service.start()
            services[label] = service
    await asyncio.gather(*(s.wait_ready_async(120) for s in services.values()))
    return services


async def stop_services(services: dict[str, Service], *, profiled: bool = False) -> None:
    # Uvicorn re-raises the signal it stopped on; SIGINT then ends as KeyboardInterrupt,
    # which pyinstrument survives to write its report, where SIGTERM would kill it first.
    sig = signal.SIGINT if profiled else signal.SIGTERM
    for service in services.values():
        service.send(sig)
    await asyncio.gather(
        *(asyncio.to_thread(service.stop, sig, 20.0) for service in services.values())
    )


# --------------------------------------------------------------------------- metrics


@dataclass
class StageSamples:
    """(time, events consumed so far, lag) per service, one sample a scrape."""

    samples: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)

    def add(self, service: str, at: float, consumed: float, lag: float) -> None:
        self.samples.setdefault(service, []).append((at, consumed, lag))

    def throughput(self) -> dict[str, dict[str, float]]:
        result: dict[str, dict[str, float]] = {}
        for service, points in self.samples.items():
            if len(points) < 2:
                continue
            first, last = points[0][1], points[-1][1]
            # The active window: from the last sample before the count moved to the first
            # sample that shows the final count.
            start = max((t for t, c, _ in points if c == first), default=points[0][0])
            end = min((t for t, c, _ in points if c == last), default=points[-1][0])
            events = last - first
            peak = max(
                (
                    (c2 - c1) / (t2 - t1)
                    for (t1, c1, _), (t2, c2, _) in itertools.pairwise(points)
                    if t2 > t1
                ),
                default=0.0,
            )
            result[service] = {
                "events": events,
                "events_per_s": round(events / (end - start), 1) if end > start else 0.0,
                "peak_events_per_s": round(peak, 1),
                "max_lag": max(lag for _, _, lag in points),
            }
        return result


async def scrape(client: httpx.AsyncClient, service: Service) -> tuple[float, float]:
    """Events consumed (all outcomes) and the summed consumer lag of one service."""
    text = (await client.get(f"{service.url}/metrics")).text
    consumed = lag = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == "hoso_events_consumed":
            consumed += sum(s.value for s in family.samples if s.name.endswith("_total"))
        elif family.name == "hoso_consumer_lag":
            lag += sum(s.value for s in family.samples)
    return consumed, lag


async def store_commands(client: httpx.AsyncClient, service: Service) -> dict[str, float]:
    """The commands one service process has sent to the store so far, by command name
    (``hoso_store_commands_total``)."""
    text = (await client.get(f"{service.url}/metrics")).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "hoso_store_commands":
            continue
        for point in family.samples:
            if point.name.endswith("_total"):
                command = point.labels.get("command", "?")
                counts[command] = counts.get(command, 0.0) + point.value
    return counts


# --------------------------------------------------------------------------- load


def submission(n: int, run: str) -> dict[str, Any]:
    """A complete online hazardous-waste registration with a recipient of its own."""

    def attachment(code: str) -> dict[str, Any]:
        # The code's sample PDF, uploaded once before the load (_post_all).
        return attachment_for(code)

    return {
        "procedure_code": PROCEDURE,
        "channel": "online",
        "applicant": {
            "type": "organisation",
            "name": "Công ty TNHH Giấy Hòa Bình",
            "id_number": "0101234567",
            "email": f"enterprise{n}.{run}@example.vn",
            "address": "KCN Lương Sơn, Hòa Bình",
        },
        "form": {
            "facility_name": "Nhà máy giấy Lương Sơn",
            "facility_address": "KCN Lương Sơn, Hòa Bình",
            "waste_items": [
                {
                    "waste_code": "16 01 06",
                    "name": "Bóng đèn huỳnh quang thải",
                    "state": "solid",
                    "quantity_kg_per_year": 120,
                }
            ],
        },
        "attachments": [attachment("application_form"), attachment("business_registration")],
    }


@dataclass
class Posted:
    n: int
    email: str
    started: float
    finished: float = 0.0
    status: int | str = 0
    dossier_id: str | None = None


@dataclass
class PipelineLoad:
    dossiers: int
    rate: float
    in_flight: int


async def _post_all(
    url: str,
    token: str,
    load: PipelineLoad,
    run: str,
    posted: list[Posted],
) -> None:
    """Open-loop at ``load.rate`` with at most ``load.in_flight`` requests outstanding: a
    slow intake holds the sender back rather than piling requests up."""
    slots = asyncio.Semaphore(load.in_flight)
    limits = httpx.Limits(max_connections=load.in_flight, max_keepalive_connections=load.in_flight)
    headers = {"Authorization": f"Bearer {token}"}
    # Every submission names the same two uploaded documents, as the samples are.
    await asyncio.to_thread(
        upload_samples,
        url,
        lambda code: headers,
        ("application_form", "business_registration"),
    )
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def one(n: int) -> None:
            try:
                body = submission(n, run)
                item = Posted(n, body["applicant"]["email"], time.time())
                posted.append(item)
                try:
                    response = await client.post("/v1/dossiers", json=body, headers=headers)
                    item.status = response.status_code
                    if response.status_code == 202:
                        item.dossier_id = response.json()["dossier_id"]
                except httpx.HTTPError as exc:
                    item.status = type(exc).__name__
                item.finished = time.time()
            finally:
                slots.release()

        started = time.monotonic()
        tasks = []
        for n in range(load.dossiers):
            delay = started + n / load.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)


def unix_time(value: Any) -> float:
    """An audit entry's timestamp as a Unix time, whether stored as text or a date."""
    moment = value
    if not isinstance(moment, datetime):
        moment = datetime.fromisoformat(str(moment).replace("Z", "+00:00"))
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def recorded_time(entry: dict[str, Any]) -> float:
    """An audit entry's ``recorded_at`` as a Unix time."""
    return unix_time(entry["recorded_at"])


async def _audit_times(entries: AsyncCollection[Any]) -> dict[str, float]:
    """When the audit service recorded each dossier's notification (its ``recorded_at``)."""
    cursor = entries.find({"event_type": NOTIFICATION_SENT}, {"dossier_id": 1, "recorded_at": 1})
    found: dict[str, float] = {}
    async for entry in cursor:
        found.setdefault(entry["dossier_id"], recorded_time(entry))
    return found


async def run_pipeline(
    infra: Infra,
    load: PipelineLoad,
    run: str,
    workdir: Path,
    progress: Progress,
    *,
    profile: bool = False,
) -> dict[str, Any]:
    prefix = f"bench{run}-pipeline."
    databases = {name: f"bench{run}_{name}" for name in SERVICES}
    secret = new_signing_key()
    sink = MailSink()
    sink.start()
    env = service_env(infra, prefix, databases, secret, sink.port)
    services: dict[str, Service] = {}
    try:
        progress.show("pipeline: starting the four services", force=True)
        services = await start_services(env, workdir, profile=profile)
        result = await _measure(infra, load, run, services, databases, secret, sink, progress)
    finally:
        await stop_services(services, profiled=profile)
        sink.stop()
        await drop(infra, prefix, list(databases.values()))
    return result


class _Measurement:
    """Drives the load and watches the pipeline until every accepted dossier arrived."""

    # No progress at all for this long after the last POST ends the wait; what arrived by
    # then is reported, the rest counted as not audited or not mailed.
    STUCK_S = 30.0

    def __init__(
        self,
        infra: Infra,
        load: PipelineLoad,
        services: dict[str, Service],
        sink: MailSink,
        entries: AsyncCollection[Any],
        progress: Progress,
    ) -> None:
        self.load = load
        self.services = services
        self.sink = sink
        self.entries = entries
        self.progress = progress
        self.stages = StageSamples()
        self.posted: list[Posted] = []
        self.notified = 0
        # The broker and the whole store: FerretDB and PostgreSQL with its backends.
        self.watched, _ = infrastructure(infra.kafka, infra.mongodb)
        self.watched += [
            Watched(label, s.process.pid) for label, s in services.items() if s.process
        ]
        self.watched.append(Watched("bench (load, SMTP sink)", os.getpid()))

    def accepted(self) -> int:
        return sum(1 for p in self.posted if p.status == 202)

    def show(self) -> None:
        refused = sum(1 for p in self.posted if p.finished and p.status != 202)
        self.progress.show(
            f"pipeline: posted {len(self.posted)}/{self.load.dossiers}, "
            f"accepted {self.accepted()}, refused {refused}, "
            f"mailed {len(self.sink.arrivals())}, audited {self.notified}"
        )

    async def keep_showing(self) -> None:
        while True:
            self.show()
            await asyncio.sleep(0.2)

    async def sample_stages(self, client: httpx.AsyncClient) -> None:
        at = time.time()
        for label, service in self.services.items():
            with contextlib.suppress(httpx.HTTPError):
                consumed, lag = await scrape(client, service)
                self.stages.add(label, at, consumed, lag)

    async def run(self, token: str, run: str) -> dict[str, float]:
        """Send the load, wait for delivery; the CPU each process spent meanwhile."""
        intake = self.services["intake"].url
        async with httpx.AsyncClient(timeout=5) as client:
            await self.sample_stages(client)
            cpu_before = sample(self.watched)
            sender = asyncio.create_task(_post_all(intake, token, self.load, run, self.posted))
            last_change = time.monotonic()
            previous = (-1, -1)
            while True:
                await asyncio.sleep(1.0)
                await self.sample_stages(client)
                self.notified = await self.entries.count_documents(
                    {"event_type": NOTIFICATION_SENT}
                )
                if not sender.done():
                    continue
                sender.result()
                mailed = len(self.sink.arrivals())
                if min(self.notified, mailed) >= self.accepted():
                    break
                if (self.notified, mailed) != previous:
                    previous, last_change = (self.notified, mailed), time.monotonic()
                elif time.monotonic() - last_change > self.STUCK_S:
                    break
            cpu = {
                name: round(seconds, 3)
                for name, seconds in spent(cpu_before, sample(self.watched)).items()
            }
            await self.sample_stages(client)
        return cpu

    async def result(self, cpu: dict[str, float]) -> dict[str, Any]:
        posted = self.posted
        accepted = [p for p in posted if p.status == 202 and p.dossier_id]
        refusals: dict[str, int] = {}
        for p in posted:
            if p.status != 202:
                refusals[str(p.status)] = refusals.get(str(p.status), 0) + 1
        audited_at = await _audit_times(self.entries)
        mailed_at = self.sink.arrivals()
        to_audit = [
            audited_at[p.dossier_id] - p.started for p in accepted if p.dossier_id in audited_at
        ]
        to_mail = [mailed_at[p.email] - p.started for p in accepted if p.email in mailed_at]
        both = [
            max(audited_at[p.dossier_id], mailed_at[p.email]) - p.started
            for p in accepted
            if p.dossier_id in audited_at and p.email in mailed_at
        ]
        window = (
            max(p.finished for p in accepted) - min(p.started for p in posted) if accepted else 0.0
        )
        self.progress.done(
            f"pipeline: {len(accepted)} accepted, {len(mailed_at)} mailed, "
            f"{len(audited_at)} audited"
        )
        load = self.load
        return {
            "dossiers": load.dossiers,
            "rate": load.rate,
            "in_flight": load.in_flight,
            "accepted": len(accepted),
            "refused": refusals,
            "accepted_per_s": round(len(accepted) / window, 1) if window > 0 else None,
            "http_ms": summary_ms([p.finished - p.started for p in accepted]),
            "to_audit_ms": summary_ms(to_audit),
            "to_mail_ms": summary_ms(to_mail),
            "to_both_ms": summary_ms(both),
            "not_audited": len(accepted) - len(to_audit),
            "not_mailed": len(accepted) - len(to_mail),
            "stages": self.stages.throughput(),
            "cpu_s": cpu,
        }


async def _measure(
    infra: Infra,
    load: PipelineLoad,
    run: str,
    services: dict[str, Service],
    databases: dict[str, str],
    secret: str,
    sink: MailSink,
    progress: Progress,
) -> dict[str, Any]:
    token = mint_token(secret, "portal-bench", ["portal"], ttl_s=4 * 3600)
    store: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb)
    measurement = _Measurement(
        infra, load, services, sink, store[databases["audit"]]["audit_entries"], progress
    )
    ticker = asyncio.create_task(measurement.keep_showing())
    try:
        cpu = await measurement.run(token, run)
    finally:
        ticker.cancel()
    try:
        return await measurement.result(cpu)
    finally:
        await store.close()
