"""POST /v1/dossiers of the real intake service next to a bare FastAPI endpoint, both
driven by `hey` (a compiled load generator) in the same run.

    uv run python -m bench.intake_bench [--seconds 10] [--rounds 2] [--connections 32]

Intake runs as its own process (``deploy.launcher.spawn.ServiceProcess``) against the real
broker and store (``KAFKA_BOOTSTRAP_SERVERS`` / ``MONGODB_URI`` if set, else the local
launcher starts them), with its own topics and database, removed afterwards; everything it
must do is done (validation, the durable write, the broker's ``acks=all``). The bare
endpoint runs as a process too, under the same uvicorn settings (`chassis.service.serve`):
one JSON parse, one JSON answer. Both get the README's example submission
(``docs/examples/submission.json``) from hey with the same connections, for the same time,
in alternating rounds so that a change in the machine's load falls on both alike.

Printed: accepted per second, p50/p99/max, requests over 2 s, the ratio, the CPU of each
server, of Kafka and the store and of hey itself; the number of events on intake's topic
is checked against the number of 202 answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from bench.capacity_support.sweep import SmtpSink
from bench.hey import HeyRun, run_hey, upload_examples_if_supported
from bench.pipeline.infra import ROOT, Infra, drop, provide
from bench.pipeline.platform import (
    NOTIFICATION_SENT,
    scrape,
    service_env,
    start_services,
    stop_services,
)
from bench.pipeline.processes import Watched, infrastructure, sample, spent
from bench.pipeline.stats import table
from bench.profiling import profiled
from deploy.launcher.spawn import SERVICES, ServiceProcess, free_port

EXAMPLE = ROOT / "docs" / "examples" / "submission.json"
# A request slower than this is a tail the issue asks to remove.
SLOW_S = 2.0


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


class BareProcess(ServiceProcess):
    """The bare endpoint, started and stopped like a service replica."""

    def start(self) -> None:
        import subprocess

        if self._log is None:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.intake_bench", "--bare-server", str(self.port)],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


# --------------------------------------------------------------------------- run


async def events_on(kafka: str, topic: str, partitions: int) -> int:
    """Records on ``topic`` (its partitions' end offsets added up)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
        return sum(ends.values())
    finally:
        await consumer.stop()


async def compare(
    infra: Infra,
    *,
    seconds: float,
    rounds: int,
    connections: int,
    warm_up_s: float,
    logs: Path,
    pipeline: bool = True,
    drain_s: float = 20.0,
    export_traces: bool = False,
    bare_too: bool = True,
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    """The intake vs bare FastAPI table's figures, as a dict (see `render`).

    With ``pipeline`` the other three services run too (as under ``make run``), consuming
    what intake accepts while it is loaded; afterwards they get ``drain_s`` more, and what
    reached the audit by then is counted: the rest is still in the consumer groups' lag,
    on the broker, not lost.
    """
    from chassis.auth import mint_token, new_signing_key
    from chassis.events import TOPIC_PARTITIONS, Topics

    run = uuid.uuid4().hex[:8]
    prefix = f"bench{run}-intake."
    databases = {name: f"bench{run}_burst_{name}" for name in SERVICES}
    signing_key = new_signing_key()
    await asyncio.to_thread(logs.mkdir, parents=True, exist_ok=True)
    smtp = SmtpSink(logs)
    await smtp.start()
    env = service_env(infra, prefix, databases, signing_key, smtp.port)
    names = ["OTEL_TRACES_SAMPLER_RATIO", "LOG_LEVEL"]
    if export_traces:
        names.append("ZIPKIN_ENDPOINT")  # as `make run` exports them
    for name in names:
        if name in os.environ:
            env[name] = os.environ[name]
    bare_env = {k: env[k] for k in ("PATH", "HOME")} | {
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(":")
    }
    bare = BareProcess("bare", bare_env, logs / "bare.log", port=free_port())
    services: dict[str, ServiceProcess] = {}
    token = mint_token(signing_key, "portal-bench", ["portal"], ttl_s=3600)
    body = EXAMPLE.read_bytes()
    headers = {"Content-Type": "application/json"}
    totals = {name: HeyRun(name, 0.0) for name in ("bare FastAPI", "intake")}
    cpu: dict[str, dict[str, float]] = {name: {} for name in totals}
    warm_accepted = 0
    drained: dict[str, Any] = {}
    try:
        bare.start()
        if pipeline:
            services = await start_services(env, logs)
        else:
            services = {"intake": ServiceProcess("intake", env, logs / "intake.log")}
            services["intake"].start()
        await asyncio.gather(services["intake"].wait_ready_async(120), bare.wait_ready_async(60))
        intake = services["intake"]
        # The example names two uploaded documents (docs/examples/*.pdf).
        await asyncio.to_thread(
            upload_examples_if_supported, intake.url, {"Authorization": f"Bearer {token}"}
        )
        targets = {
            "bare FastAPI": (bare, headers),
            "intake": (intake, headers | {"Authorization": f"Bearer {token}"}),
        }
        assert intake.process is not None
        assert bare.process is not None
        servers = {"intake": intake.process.pid, "bare FastAPI": bare.process.pid}
        others = [
            Watched(label, s.process.pid)
            for label, s in services.items()
            if label != "intake" and s.process
        ]
        found, _ = infrastructure(infra.kafka, infra.mongodb)
        if not bare_too:
            del targets["bare FastAPI"]
        for name, (server, extra) in targets.items():
            warm = await asyncio.to_thread(
                run_hey,
                name,
                f"{server.url}/v1/dossiers",
                seconds=warm_up_s,
                connections=connections,
                body=body,
                headers=extra,
            )
            if name == "intake":
                warm_accepted = warm.answered(202)
        pids = {"intake-burst": intake.process.pid} if profile_dir else {}
        with profiled(pids, profile_dir or logs):
            for _ in range(rounds):
                for name, (server, extra) in targets.items():
                    watched = [Watched("server", servers[name]), *others, *found]
                    before = sample(watched)
                    part = await asyncio.to_thread(
                        run_hey,
                        name,
                        f"{server.url}/v1/dossiers",
                        seconds=seconds,
                        connections=connections,
                        body=body,
                        headers=extra,
                    )
                    for process, used in spent(before, sample(watched)).items():
                        cpu[name][process] = cpu[name].get(process, 0.0) + used
                    totals[name].merge(part)
        published = await events_on(
            infra.kafka, prefix + Topics.SUBMISSIONS, TOPIC_PARTITIONS[Topics.SUBMISSIONS]
        )
        if pipeline:
            drained = await _drain(infra, databases["audit"], services, drain_s)
    finally:
        await asyncio.gather(asyncio.to_thread(bare.stop, timeout_s=15.0), stop_services(services))
        await smtp.stop()
        await drop(infra, prefix, list(databases.values()))
    rows = {}
    for name, result in totals.items():
        rows[name] = {
            "requests": result.requests,
            "accepted": result.answered(202),
            "other_statuses": {str(s): n for s, n in result.statuses.items() if s != 202},
            "seconds": round(result.seconds, 1),
            "accepted_per_s": round(result.per_second(202), 1),
            "p50_ms": result.latency_ms(50),
            "p99_ms": result.latency_ms(99),
            "max_ms": result.max_ms(),
            "over_2s": result.over(SLOW_S),
            "server_cpu_ms_per_request": round(
                1000 * cpu[name].get("server", 0.0) / max(1, result.requests), 2
            ),
            "cpu_s": {k: round(v, 2) for k, v in cpu[name].items()},
            "generator_cpu_s": round(result.generator_cpu_s, 2),
            "generator_cores": round(result.generator_cores(), 3),
            "generator_cores_per_1000": _round(result.generator_cores_per_1000()),
            "generator_warning": result.generator_warning(),
            # When the slowest requests started (seconds into their round): a cluster at
            # one moment is a stall, spread over the run a lack of capacity.
            "slowest": result.slowest(10),
        }
    bare_rate = rows["bare FastAPI"]["accepted_per_s"] if bare_too else None
    return {
        "seconds_per_round": seconds,
        "rounds": rounds,
        "connections": connections,
        "pipeline": pipeline,
        "rows": rows,
        "ratio": round(rows["intake"]["accepted_per_s"] / bare_rate, 3) if bare_rate else None,
        "events_on_topic": published,
        "accepted_incl_warm_up": rows["intake"]["accepted"] + warm_accepted,
        "drain": drained,
    }


async def _drain(
    infra: Infra, audit_db: str, services: dict[str, ServiceProcess], seconds: float
) -> dict[str, Any]:
    """After the burst: how many dossiers reached the audit over ``seconds`` more, and the
    consumer lag left, per service (what is still on the broker, waiting)."""
    import httpx
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb)
    entries = client[audit_db]["audit_entries"]
    try:
        start = await entries.count_documents({"event_type": NOTIFICATION_SENT})
        await asyncio.sleep(seconds)
        end = await entries.count_documents({"event_type": NOTIFICATION_SENT})
    finally:
        await client.close()
    lags: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=5) as http:
        for label, service in services.items():
            if label != "intake":
                lags[label] = (await scrape(http, service))[1]
    return {
        "seconds": seconds,
        "notified_at_start": start,
        "notified_at_end": end,
        "notified_per_s": round((end - start) / seconds, 1),
        "lag_at_end": lags,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def render(result: dict[str, Any]) -> str:
    rows = result["rows"]
    lines = [
        f"\nintake vs bare FastAPI: POST /v1/dossiers (docs/examples/submission.json) from hey, "
        f"{result['connections']} connections, {result['rounds']} alternating rounds of "
        f"{result['seconds_per_round']:g} s each",
        table(
            [
                "endpoint",
                "requests",
                "202/s",
                "p50 ms",
                "p99 ms",
                "max ms",
                f">{SLOW_S:g} s",
                "server CPU ms/req",
                "hey cores",
                "hey cores/1000 req/s",
            ],
            [
                [
                    name,
                    r["requests"],
                    r["accepted_per_s"],
                    r["p50_ms"],
                    r["p99_ms"],
                    r["max_ms"],
                    r["over_2s"],
                    r["server_cpu_ms_per_request"],
                    r["generator_cores"],
                    r["generator_cores_per_1000"],
                ]
                for name, r in rows.items()
            ],
        ),
        f"ratio intake/bare (202/s): {result['ratio']}; "
        f"events on intake's topic {result['events_on_topic']} "
        f"for {result['accepted_incl_warm_up']} 202 answers (warm-up included)",
    ]
    intake = rows["intake"]
    if result.get("pipeline"):
        drain = result.get("drain") or {}
        lines.append(
            "with processing, notification and audit running; after the burst they notified "
            f"{drain.get('notified_per_s')} dossiers/s over {drain.get('seconds')} s more, "
            f"lag left (events on the broker, waiting): {drain.get('lag_at_end')}"
        )
    if intake["over_2s"]:
        lines.append(f"intake's slowest (start s into the round, seconds): {intake['slowest']}")
    if intake["other_statuses"]:
        lines.append(f"intake's other answers: {intake['other_statuses']}")
    infra_cpu = {k: v for k, v in intake["cpu_s"].items() if k != "server"}
    if infra_cpu and intake["accepted"]:
        lines.append(
            "CPU ms per intake request: intake "
            f"{intake['server_cpu_ms_per_request']}, "
            + ", ".join(
                f"{k} {1000 * v / intake['requests']:.1f}" for k, v in sorted(infra_cpu.items())
            )
        )
    for r in rows.values():
        if r["generator_warning"]:
            lines.append("WARNING: " + r["generator_warning"])
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per round and endpoint")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warm-up", type=float, default=3.0, help="seconds per endpoint")
    parser.add_argument("--profile", action="store_true", help="py-spy on intake's rounds")
    parser.add_argument(
        "--alone", action="store_true", help="intake only, without the rest of the pipeline"
    )
    parser.add_argument("--drain", type=float, default=20.0, help="seconds after the burst")
    parser.add_argument(
        "--export-traces", action="store_true", help="spans to ZIPKIN_ENDPOINT, as `make run`"
    )
    parser.add_argument(
        "--no-bare", action="store_true", help="intake only, its rounds back to back"
    )
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        serve_bare(args.bare_server)
        return
    from datetime import UTC, datetime

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = ROOT / "bench" / "results" / f"intake-{stamp}"
    workdir.mkdir(parents=True, exist_ok=True)
    infra = provide(keep=True)
    result = asyncio.run(
        compare(
            infra,
            seconds=args.seconds,
            rounds=max(1, args.rounds),
            connections=args.connections,
            warm_up_s=args.warm_up,
            logs=workdir,
            pipeline=not args.alone,
            export_traces=args.export_traces,
            bare_too=not args.no_bare,
            drain_s=args.drain,
            profile_dir=workdir if args.profile else None,
        )
    )
    result["load_average"] = os.getloadavg()
    (workdir / "result.json").write_text(json.dumps(result, indent=2))
    print(render(result))
    print(f"load average (1, 5, 15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
