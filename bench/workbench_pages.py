"""The workbench's officers' pages under 50 officers at once: the queue and the dossier
page, their server time (p50/p95/p99) and what an officer waits.

    uv run python -m bench.workbench_pages [--officers 50] [--seconds 20] [--dossiers 300]
        [--pace 2]

Intake, processing and the workbench run as processes of their own
(``deploy.launcher.spawn.ServiceProcess``) against the real broker and store, with their
own topics and databases, removed afterwards. ``--dossiers`` MT-004 dossiers are submitted
through intake and received by processing first, so the queue holds real rows.

Each officer is a person of their own: an opaque subject, a token of the agency signed
with the run's key (the services hold its public half, as they would the identity
provider's), and a session cookie sealed with the workbench's session key, as its
sign-in would have made. Each officer is one ``hey`` process on one keep-alive
connection, requesting back to back (no think time: a harsher load than people at
desks), then once more with each officer opening a page every ``--pace`` seconds (a brisk
officer); the dossier page is each officer's own dossier.

Server time is the workbench's own span of each request (its OpenTelemetry server span,
from the ``SPANS_FILE`` it writes), which includes its calls to processing and intake
("API call": the client spans under it, nearly all processing's); "waited" is ``hey``'s
response time, which adds the time a request queued before the workbench's single
process took it.

Prints a table; writes ``bench/results/workbench-<time>/result.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from bench.hey import HeyRun, run_hey
from bench.pipeline.infra import ROOT, CpuMeter, Infra, drop, provide
from bench.pipeline.platform import service_env
from bench.pipeline.stats import percentile, table
from deploy.launcher.spawn import ServiceProcess

AGENCY = "STNMT-MT"
EXAMPLE = ROOT / "docs" / "examples" / "submission.json"


def _pdf(text: str) -> bytes:
    from reportlab.pdfgen.canvas import Canvas

    buffer = BytesIO()
    canvas = Canvas(buffer)
    canvas.drawString(72, 720, text)
    canvas.save()
    return buffer.getvalue()


def seed(intake: str, processing: str, portal: str, officer: str, count: int) -> list[str]:
    """``count`` dossiers submitted and received; their ids."""
    submission = json.loads(EXAMPLE.read_text())
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {portal}"}) as client:
        for attachment in submission["attachments"]:
            stored = client.post(
                f"{intake}/v1/documents",
                params={"name": attachment["name"]},
                content=_pdf(attachment["name"]),
                headers={"Content-Type": "application/pdf"},
            )
            stored.raise_for_status()
            attachment |= {"sha256": stored.json()["sha256"], "size": stored.json()["size"]}
        ids = []
        for _ in range(count):
            answer = client.post(f"{intake}/v1/dossiers", json=submission)
            answer.raise_for_status()
            ids.append(answer.json()["dossier_id"])
    deadline = time.monotonic() + 300
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {officer}"}) as client:
        pending = set(ids)
        while pending and time.monotonic() < deadline:
            for dossier_id in list(pending):
                answer = client.get(f"{processing}/v1/officer/dossiers/{dossier_id}")
                if answer.status_code == 200:
                    pending.discard(dossier_id)
            if pending:
                time.sleep(0.5)
        if pending:
            raise RuntimeError(f"{len(pending)} dossiers never reached processing")
    return ids


def session_cookie(fernet: Fernet, token: str, subject: str) -> str:
    """What the workbench's sign-in puts in the cookie (workbench.domain.session)."""
    record = {
        "t": token,
        "s": subject,
        "r": ["officer"],
        "a": AGENCY,
        "c": uuid.uuid4().hex,
        "e": time.time() + 3600,
        "sc": [],
    }
    return fernet.encrypt(json.dumps(record, separators=(",", ":")).encode()).decode()


def load(urls: list[tuple[str, str]], seconds: float, rate: float | None = None) -> HeyRun:
    """One hey per officer, one connection each, all at once; each back to back, or at
    most ``rate`` pages a second."""

    def one(item: tuple[str, str]) -> HeyRun:
        url, cookie = item
        return run_hey(
            "officer",
            url,
            seconds=seconds,
            connections=1,
            method="GET",
            headers={"Cookie": f"hoso_session={cookie}", "Content-Type": "text/html"},
            per_connection_rate=rate,
        )

    merged = HeyRun("page", 0.0)
    with ThreadPoolExecutor(len(urls)) as pool:
        runs = list(pool.map(one, urls))
    for run in runs:
        merged.merge(run)
    merged.seconds = max(r.seconds for r in runs)
    return merged


def span_times(
    spans_file: Path, route: str, since_ns: int, until_ns: int
) -> tuple[list[float], list[float]]:
    """The workbench's server spans of ``route`` that started in the window, and the
    calls they made to the services (client spans under them), in ms."""
    spans = [json.loads(line) for line in spans_file.read_text().splitlines() if line]
    server = {
        s["span_id"]: (s["end"] - s["start"]) / 1e6
        for s in spans
        if s["kind"] == "SERVER"
        and s["attributes"].get("http.route") == route
        and since_ns <= s["start"] <= until_ns
    }
    calls = [
        (s["end"] - s["start"]) / 1e6
        for s in spans
        if s["kind"] == "CLIENT" and s["parent_span_id"] in server
    ]
    return list(server.values()), calls


def _ms(samples: list[float], q: float) -> float | None:
    value = percentile(samples, q)
    return None if value is None else round(value, 1)


async def measure(
    infra: Infra, *, officers: int, seconds: float, dossiers: int, pace: float, logs: Path
) -> dict[str, Any]:
    from chassis.auth import mint_token, new_signing_key

    run = uuid.uuid4().hex[:8]
    prefix = f"bench{run}-wb."
    databases = {"intake": f"bench{run}_wb_intake", "processing": f"bench{run}_wb_processing"}
    key = new_signing_key()
    env = service_env(infra, prefix, databases, key, smtp_port=1025)
    spans_file = logs / "workbench-spans.jsonl"
    session_key = Fernet.generate_key()
    intake = ServiceProcess("intake", env, logs / "intake.log")
    processing = ServiceProcess("processing", env, logs / "processing.log")
    workbench = ServiceProcess(
        "workbench",
        env
        | {
            "WORKBENCH_INTAKE_URL": intake.url,
            "WORKBENCH_PROCESSING_URL": processing.url,
            "WORKBENCH_SESSION_KEY": session_key.decode(),
            "SPANS_FILE": str(spans_file),
            "OTEL_TRACES_SAMPLER_RATIO": "1.0",
            "LOG_LEVEL": "WARNING",
        },
        logs / "workbench.log",
    )
    processes = [intake, processing, workbench]
    result: dict[str, Any] = {
        "officers": officers,
        "seconds": seconds,
        "dossiers": dossiers,
        "pace_s": pace,
    }
    try:
        for process in processes:
            process.start()
        for process in processes:
            await process.wait_ready_async(120)
        portal = mint_token(key, "portal-bench", ["portal"], ttl_s=3600)
        seeder = mint_token(key, "seed", ["officer"], agency=AGENCY, ttl_s=3600)
        ids = await asyncio.to_thread(seed, intake.url, processing.url, portal, seeder, dossiers)
        fernet = Fernet(session_key)
        people = []
        for n in range(officers):
            subject = f"u-bench{n:03d}"
            token = mint_token(key, subject, ["officer"], agency=AGENCY, ttl_s=3600)
            people.append(session_cookie(fernet, token, subject))
        pages = {
            "queue": ("/queue", [(f"{workbench.url}/queue", c) for c in people]),
            "dossier": (
                "/dossiers/{dossier_id}",
                [
                    (f"{workbench.url}/dossiers/{ids[n % len(ids)]}", c)
                    for n, c in enumerate(people)
                ],
            ),
        }
        # Warm-up: connections, templates, the catalogue cache.
        await asyncio.to_thread(load, pages["queue"][1][:5], 2)
        await asyncio.to_thread(load, pages["dossier"][1][:5], 2)
        result["pages"] = {}
        meter = CpuMeter(
            {p.name: p.process.pid for p in (workbench, processing) if p.process is not None}
        )
        paces = {"back to back": None, f"a page every {pace:g} s": 1 / pace}
        for (name, (route, urls)), (how, rate) in itertools.product(pages.items(), paces.items()):
            await asyncio.sleep(1.5)  # the spans of the warm-up written out
            since = time.time_ns()
            meter.start()
            hey = await asyncio.to_thread(load, urls, seconds, rate)
            cpu = meter.stop()
            until = time.time_ns()
            await asyncio.sleep(1.5)
            server, calls = span_times(spans_file, route, since, until)
            result["pages"][f"{name}, {how}"] = {
                "requests": hey.requests,
                "statuses": hey.statuses,
                "per_second": round(hey.requests / hey.seconds, 1) if hey.seconds else 0.0,
                "server_ms": {q: _ms(server, q) for q in (50, 95, 99)},
                "server_spans": len(server),
                # Most pages make one call (the dossier, the queue); the catalogue is cached.
                "service_calls_ms": {q: _ms(calls, q) for q in (50, 95)},
                "waited_ms": {q: hey.latency_ms(q) for q in (50, 95, 99)},
                "generator_cores": round(hey.generator_cores(), 2),
                # CPU per page served: the workbench's own work, and processing's for it.
                "cpu_ms_per_request": {
                    k: round(v * 1000 / hey.requests, 2) if hey.requests else None
                    for k, v in cpu.items()
                },
            }
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            await asyncio.to_thread(process.stop, timeout_s=30.0)
        await drop(infra, prefix, list(databases.values()))
    return result


def render(result: dict[str, Any]) -> str:
    rows = []
    for name, page in result["pages"].items():
        server, waited = page["server_ms"], page["waited_ms"]
        rows.append(
            [
                name,
                page["requests"],
                page["per_second"],
                ", ".join(f"{s}: {n}" for s, n in sorted(page["statuses"].items())),
                server[50],
                server[95],
                server[99],
                page["service_calls_ms"][50],
                page["service_calls_ms"][95],
                waited[50],
                waited[95],
                waited[99],
                page["cpu_ms_per_request"].get("workbench"),
                page["cpu_ms_per_request"].get("processing"),
            ]
        )
    return table(
        [
            "page",
            "requests",
            "req/s",
            "statuses",
            "server p50 ms",
            "server p95 ms",
            "server p99 ms",
            "API call p50 ms",
            "API call p95 ms",
            "waited p50 ms",
            "waited p95 ms",
            "waited p99 ms",
            "workbench CPU ms/req",
            "processing CPU ms/req",
        ],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--officers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--dossiers", type=int, default=300)
    parser.add_argument(
        "--pace", type=float, default=2.0, help="seconds between an officer's pages, paced run"
    )
    args = parser.parse_args()
    from datetime import UTC, datetime

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = ROOT / "bench" / "results" / f"workbench-{stamp}"
    workdir.mkdir(parents=True, exist_ok=True)
    infra = provide(keep=True)
    result = asyncio.run(
        measure(
            infra,
            officers=max(1, args.officers),
            seconds=args.seconds,
            dossiers=max(1, args.dossiers),
            pace=max(0.05, args.pace),
            logs=workdir,
        )
    )
    result["load_average"] = os.getloadavg()
    (workdir / "result.json").write_text(json.dumps(result, indent=2))
    print(render(result))
    print(f"load average (1, 5, 15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
