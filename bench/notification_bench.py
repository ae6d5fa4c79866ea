"""Notifications handled per second by the real notification service.

    uv run python -m bench.notification_bench [--events 1000] [--scenario email,all]

The service runs as its own process against the real broker and store
(``KAFKA_BOOTSTRAP_SERVERS`` / ``MONGODB_URI`` if set, else the local launcher starts
them), with its own topics and database, removed afterwards. Email goes to an SMTP
server on loopback (aiosmtpd in this process); in the ``all`` scenario SMS and the
portal inbox go to a local HTTP server that answers 200. The bench publishes the
lifecycle events itself, in batches, after one warm-up event has gone through.

A notification counts as handled when its delivery record is ``sent``: the message was
accepted by the SMTP server or gateway *and* the broker acknowledged the
``notification.sent`` event for audit. Latency is from publishing an event to the SMTP
server receiving its email.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.policy
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from aiokafka.admin import AIOKafkaAdminClient
from aiosmtpd.controller import Controller
from pymongo import AsyncMongoClient

from chassis.auth import new_signing_key, publish_jwks
from chassis.events import DossierStatusChanged, Envelope, Recipient, make_event
from chassis.kafka import EventPublisher
from chassis.mongo import StoreClient
from chassis.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = {"email": "email only", "all": "email + SMS + portal webhook"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _infra() -> tuple[str, str]:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    mongodb = os.environ.get("MONGODB_URI")
    if kafka and mongodb:
        return kafka, mongodb
    import deploy.launcher as launcher

    endpoints = launcher.ensure_up(["kafka", "store"])
    return endpoints["kafka"], endpoints["mongodb"]


class _SmtpCounter:
    """Remembers when the email for each receipt code arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self._parser = BytesHeaderParser(policy=email.policy.default)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.perf_counter()
        subject = str(self._parser.parsebytes(envelope.content).get("Subject", ""))
        receipt = next((w for w in subject.split() if w.startswith("BENCH-")), subject)
        with self._lock:
            self.arrived.setdefault(receipt, at)
        return "250 OK"


async def _gateway_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The SMS gateway and the portal inbox, reduced to "200, accepted"."""
    while (await receive()).get("more_body"):
        pass
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": b"{}"})


@contextlib.contextmanager
def _gateway() -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            _gateway_app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class Result:
    scenario: str
    events: int
    deliveries: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.deliveries / self.seconds

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds


def _event(receipt: str, *, all_channels: bool) -> Envelope:
    tag = secrets.token_hex(4)
    return make_event(
        DossierStatusChanged(
            dossier_id=str(uuid.uuid4()),
            receipt_code=receipt,
            procedure_code="1.004228",
            procedure_name_vi="Cấp giấy phép khai thác, sử dụng nước dưới đất",
            procedure_name_en="Licence for groundwater extraction and use",
            agency="STNMT",
            agency_name_vi="Sở Tài nguyên và Môi trường",
            agency_name_en="Department of Natural Resources and Environment",
            old_status="submitted",
            new_status="received",
            action="receive",
            due_date=date(2025, 4, 8),
            occurred_at=datetime.now(UTC),
            version=1,
            recipient=Recipient(
                display_name="Nguyễn Văn An",
                email=f"bench.{tag}@example.vn",
                phone=f"09{secrets.randbelow(10**8):08d}" if all_channels else None,
                portal_account=f"bench-{tag}" if all_channels else None,
            ),
        ),
        source="/hoso/bench",
        actor="system:bench",
    )


def _start_service(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "notification.main"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("the notification service exited during start-up")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.25)
    raise TimeoutError("the notification service did not become ready")


async def run_scenario(
    scenario: str, events: int, batch: int, kafka: str, mongodb: str, log_dir: Path
) -> Result:
    all_channels = scenario == "all"
    name = f"bench{uuid.uuid4().hex[:8]}"
    prefix = f"{name}-notification."
    database = f"{name}_notification"
    counter = _SmtpCounter()
    smtp = Controller(counter, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    port = _free_port()
    with _gateway() as gateway:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/root"),
            "KAFKA_BOOTSTRAP_SERVERS": kafka,
            "MONGODB_URI": mongodb,
            "KAFKA_TOPIC_PREFIX": prefix,
            "JWT_JWKS_FILE": publish_jwks(new_signing_key()),
            "LOG_LEVEL": "WARNING",
            "OTEL_TRACES_SAMPLER_RATIO": "0",
            "NOTIFICATION_HTTP_PORT": str(port),
            "NOTIFICATION_MONGODB_DATABASE": database,
            "NOTIFICATION_SMTP_HOST": "127.0.0.1",
            "NOTIFICATION_SMTP_PORT": str(smtp.port),
            "NOTIFICATION_DELIVERY_KEY_PEPPER": secrets.token_urlsafe(16),
        }
        if all_channels:
            env |= {
                "NOTIFICATION_SMS_GATEWAY_URL": f"{gateway}/sms",
                "NOTIFICATION_PORTAL_WEBHOOK_URL": f"{gateway}/inbox",
                "NOTIFICATION_WEBHOOK_SECRETS": secrets.token_urlsafe(24),
            }
        process = _start_service(env, log_dir / f"notification-{scenario}.log")
        client: StoreClient = AsyncMongoClient(mongodb, tz_aware=True)
        deliveries = client[database]["deliveries"]
        publisher = EventPublisher(
            ServiceSettings(
                service_name="bench", kafka_bootstrap_servers=kafka, kafka_topic_prefix=prefix
            )
        )
        try:
            await _wait_ready(f"http://127.0.0.1:{port}", process, 90)
            await publisher.start()
            per_event = 3 if all_channels else 1

            # Warm-up: the consumer has joined its group once this email arrives.
            await publisher.publish(_event("BENCH-WARMUP", all_channels=all_channels))
            await _until(lambda: "BENCH-WARMUP" in counter.arrived, 60)
            await _until_sent(deliveries, per_event, 60)

            receipts = [f"BENCH-{n:07d}" for n in range(events)]
            published: dict[str, float] = {}
            started = time.perf_counter()
            for first in range(0, events, batch):
                chunk = receipts[first : first + batch]
                envelopes = [_event(r, all_channels=all_channels) for r in chunk]
                at = time.perf_counter()
                await publisher.publish_many(envelopes)
                published |= dict.fromkeys(chunk, at)
            total = per_event * (events + 1)
            await _until_sent(deliveries, total, 120 + events)
            seconds = time.perf_counter() - started
            latencies = [
                (counter.arrived[r] - published[r]) * 1000 for r in receipts if r in counter.arrived
            ]
            return Result(SCENARIOS[scenario], events, per_event * events, seconds, latencies)
        finally:
            await publisher.stop()
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
            await client.drop_database(database)
            await client.close()
            smtp.stop()
            await _delete_topics(kafka, prefix)


async def _until(condition: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the bench waited too long")
        await asyncio.sleep(0.05)


async def _until_sent(deliveries: Any, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while await deliveries.count_documents({"status": "sent"}) < count:
        if time.monotonic() > deadline:
            cursor = await deliveries.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
            states = await cursor.to_list(None)
            raise TimeoutError(
                f"fewer than {count} deliveries were sent in {timeout_s}s: "
                + ", ".join(f"{s['_id']}={s['n']}" for s in states)
            )
        await asyncio.sleep(0.5)


async def _delete_topics(kafka: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def render(results: list[Result]) -> str:
    header = (
        f"{'scenario':<30} {'events':>7} {'deliveries':>10} {'seconds':>8} "
        f"{'deliveries/s':>12} {'events/s':>9} {'email p50 ms':>12} {'email p95 ms':>12}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r.scenario:<30} {r.events:>7} {r.deliveries:>10} {r.seconds:>8.2f} "
            f"{r.per_second:>12.1f} {r.events_per_second:>9.1f} "
            f"{statistics.median(r.latencies_ms) if r.latencies_ms else float('nan'):>12.0f} "
            f"{_percentile(r.latencies_ms, 0.95):>12.0f}"
        )
    return "\n".join(lines)


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.notification_bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--events", type=int, default=1000, help="lifecycle events per scenario")
    parser.add_argument("--batch", type=int, default=200, help="events per publish_many")
    parser.add_argument("--scenario", default="email,all", help="comma-separated: email, all")
    args = parser.parse_args(argv)
    scenarios = [s.strip() for s in args.scenario.split(",") if s.strip()]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown or args.events <= 0 or args.batch <= 0:
        parser.error(f"bad arguments (unknown scenarios: {', '.join(sorted(unknown)) or '-'})")
    kafka, mongodb = _infra()
    log_dir = ROOT / ".local" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    results = [
        await run_scenario(s, args.events, args.batch, kafka, mongodb, log_dir) for s in scenarios
    ]
    store = mongodb.split("@")[-1]
    print(f"\nNotification service, SMTP on loopback (Kafka {kafka}, store {store})")
    print(render(results))
    print(f"service logs: {log_dir}")


if __name__ == "__main__":
    asyncio.run(main())
