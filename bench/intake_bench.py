"""POST /v1/dossiers of the real intake service next to a bare FastAPI endpoint.

    uv run python -m bench.intake_bench [--requests 2000] [--concurrency 32]

Intake runs as its own process against the real broker and store
(``KAFKA_BOOTSTRAP_SERVERS`` / ``MONGODB_URI`` if set, else the local launcher starts
them), with its own topics and database, removed afterwards. The bare endpoint runs as
a process too, under the same uvicorn settings (`chassis.service.serve`), and takes the
same bodies as a plain ``dict``. Both get the same concurrent load from one httpx client:
distinct valid submissions (MT-004, fully online), each with its own Idempotency-Key.
The table shows accepted submissions per second, latency percentiles and the ratio; the
number of events on intake's topic is checked against the number of 202 answers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]


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


# --------------------------------------------------------------------------- the bare endpoint


def serve_bare(port: int) -> None:
    """A FastAPI app that accepts any JSON object and answers 202, served like a service."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from chassis.service import serve
    from chassis.settings import ServiceSettings

    app = FastAPI()

    @app.post("/v1/dossiers", status_code=202)
    async def accept(body: dict[str, Any]) -> JSONResponse:
        return JSONResponse(
            {"dossier_id": str(uuid.uuid4()), "receipt_code": "MT-000000-000000"},
            status_code=202,
        )

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    serve(app, ServiceSettings(service_name="bare", http_port=port))


# --------------------------------------------------------------------------- load


def submission(n: int) -> dict[str, Any]:
    return {
        "procedure_code": "MT-004",
        "channel": "online",
        "applicant": {
            "type": "organisation",
            "name": f"Công ty TNHH Môi trường Xanh số {n}",
            "id_number": "0101234567",
            "email": f"bench{n}@example.vn",
            "phone": "0912345678",
        },
        "form": {
            "facility_name": f"Nhà máy số {n}",
            "facility_address": "KCN Quang Minh, Mê Linh, Hà Nội",
            "waste_items": [
                {
                    "waste_code": "16 01 06",
                    "name": "Bóng đèn huỳnh quang thải",
                    "state": "solid",
                    "quantity_kg_per_year": 100 + n % 50,
                }
            ],
        },
        "attachments": [
            {
                "document_code": "application_form",
                "name": "don-dang-ky.pdf",
                "media_type": "application/pdf",
                "size": 250_000,
                "sha256": f"{n:064x}",
            }
        ],
    }


@dataclass
class Result:
    name: str
    requests: int
    accepted: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.accepted / self.seconds

    def merge(self, other: Result) -> None:
        self.requests += other.requests
        self.accepted += other.accepted
        self.seconds += other.seconds
        self.latencies_ms += other.latencies_ms

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drive(
    name: str, url: str, headers: dict[str, str], requests: int, concurrency: int, offset: int
) -> Result:
    latencies: list[float] = []
    failures: list[str] = []
    accepted = 0
    counter = iter(range(offset, offset + requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            nonlocal accepted
            for n in counter:
                body = submission(n)
                started = time.perf_counter()
                try:
                    response = await client.post(
                        "/v1/dossiers",
                        json=body,
                        headers=headers | {"Idempotency-Key": f"bench-{n}"},
                    )
                except httpx.TransportError as exc:
                    failures.append(
                        f"{type(exc).__name__} after {time.perf_counter() - started:.1f} s"
                    )
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code == 202:
                    accepted += 1
                elif response.status_code >= 500 or accepted == 0:
                    raise RuntimeError(f"{name}: {response.status_code} {response.text[:300]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    for failure in failures:
        print(f"{name}: request failed: {failure}", file=sys.stderr)
    return Result(name, requests, accepted, seconds, latencies)


# --------------------------------------------------------------------------- processes


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str], log: Path, port: int) -> Iterator[str]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{args} exited; see {log}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{args} not ready; see {log}")
                time.sleep(0.25)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


async def events_on(kafka: str, topic: str) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(3)]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def clean_up(kafka: str, mongodb: str, prefix: str, database: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from motor.motor_asyncio import AsyncIOMotorClient

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()
    client: AsyncIOMotorClient[Any] = AsyncIOMotorClient(mongodb)
    try:
        await client.drop_database(database)
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warm-up", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        serve_bare(args.bare_server)
        return

    from chassis.auth import mint_token, new_signing_key, publish_jwks
    from chassis.events import Topics

    kafka, mongodb = _infra()
    run = uuid.uuid4().hex[:8]
    prefix, database = f"bench-{run}.", f"bench_{run}_intake"
    signing_key = new_signing_key()
    logs = ROOT / ".local" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    base_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "MONGODB_URI": mongodb,
        "KAFKA_TOPIC_PREFIX": prefix,
        "JWT_JWKS_FILE": publish_jwks(signing_key),
        "INTAKE_FOLLOW_UP_KEY": secrets.token_urlsafe(32),
        "LOG_LEVEL": "WARNING",
    }
    intake_port, bare_port = _free_port(), _free_port()
    intake_env = base_env | {
        "INTAKE_HTTP_PORT": str(intake_port),
        "INTAKE_MONGODB_DATABASE": database,
        # One portal client sends everything here; the limit must not be what is measured.
        "INTAKE_RATE_LIMIT_PER_CLIENT": "1000000/second",
        "OTEL_TRACES_SAMPLER_RATIO": "1.0",
    }
    portal = {"Authorization": "Bearer " + mint_token(signing_key, "portal-bench", ["portal"])}
    total = args.requests
    # Rounds alternate between the two endpoints so that a change in the machine's load
    # (other processes) falls on both alike.
    rounds = max(1, args.rounds)
    per_round = [total // rounds + (1 if r < total % rounds else 0) for r in range(rounds)]
    results = {"bare": Result("bare", 0, 0, 0.0, []), "intake": Result("intake", 0, 0, 0.0, [])}
    try:
        with (
            process(
                [sys.executable, "-m", "bench.intake_bench", "--bare-server", str(bare_port)],
                base_env | {"PYTHONPATH": str(ROOT)},
                logs / "bench-bare.log",
                bare_port,
            ) as bare_url,
            process(
                [sys.executable, "-m", "intake.main"],
                intake_env,
                logs / "bench-intake.log",
                intake_port,
            ) as intake_url,
        ):
            targets: dict[str, tuple[str, dict[str, str]]] = {
                "bare": (bare_url, {}),
                "intake": (intake_url, portal),
            }
            warm = 10_000_000  # numbers of their own for the warm-up submissions
            for name, (url, headers) in targets.items():
                asyncio.run(drive(name, url, headers, args.warm_up, args.concurrency, warm))
            offset = 0
            for count in per_round:
                for name, (url, headers) in targets.items():
                    part = asyncio.run(drive(name, url, headers, count, args.concurrency, offset))
                    results[name].merge(part)
                offset += count
        published = asyncio.run(events_on(kafka, prefix + Topics.SUBMISSIONS))
    finally:
        asyncio.run(clean_up(kafka, mongodb, prefix, database))

    bare, intake = results["bare"], results["intake"]
    print(
        f"\nPOST /v1/dossiers, {total} requests each in {rounds} alternating rounds, "
        f"concurrency {args.concurrency}"
    )
    print(
        f"{'endpoint':<8} {'requests':>9} {'accepted':>9} {'accepted/s':>11} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}"
    )
    for r in (bare, intake):
        print(
            f"{r.name:<8} {r.requests:>9} {r.accepted:>9} {r.per_second:>11.0f} "
            f"{r.percentile(0.50):>8.1f} {r.percentile(0.99):>8.1f} "
            f"{statistics.fmean(r.latencies_ms):>8.1f}"
        )
    print(f"ratio intake/bare (accepted/s): {intake.per_second / bare.per_second:.2f}")
    expected = intake.accepted + args.warm_up
    print(f"events on intake's topic: {published} (202 answers incl. warm-up: {expected})")


if __name__ == "__main__":
    main()
