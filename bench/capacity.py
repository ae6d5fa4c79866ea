"""How many dossiers a second the real pipeline holds: ``uv run python -m bench.capacity``.

For each replica count the four services run as processes (that many of each, same
databases and consumer groups); then for each offered rate, lowest first, `vegeta` (a
compiled load generator, one per intake replica) POSTs submissions at that rate, evenly
spaced, for the duration. The step's dossiers are the ids of its 202 answers; each one's
end-to-end latency runs from the start of its POST to the audit entry of its
``notification.sent`` event. A step is held when the end-to-end p99 is within the limit
and nothing fell behind; the ladder stops at the first that is not. CPU per dossier is
measured for every service replica, Kafka, PostgreSQL (all its processes), FerretDB, the
SMTP sink and vegeta. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import uuid
from datetime import UTC, datetime
from typing import Any

from bench.capacity_support.report import render_replicas, render_summary
from bench.capacity_support.sweep import SmtpSink, SweepPlan, sweep_replicas
from bench.pipeline.infra import ROOT, machine, provide
from bench.pipeline.stats import Progress

RESULTS = ROOT / "bench" / "results"


def _numbers(text: str, kind: type[int] | type[float]) -> tuple[Any, ...]:
    try:
        values = tuple(kind(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: comma-separated numbers") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: positive numbers, at least one")
    return values


def parse_args(argv: list[str] | None = None) -> tuple[SweepPlan, bool]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.capacity", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--replicas", default="1,2", help="replica counts (default 1,2)")
    parser.add_argument(
        "--rates",
        default="10,20,30,40,50,60,70,80",
        help="offered dossiers per second, tried in increasing order",
    )
    parser.add_argument("--duration", type=float, default=120.0, help="seconds per rate")
    parser.add_argument(
        "--drain", type=float, default=30.0, help="seconds a step's dossiers may take after it"
    )
    parser.add_argument("--p99-limit", type=float, default=2.0, help="seconds (default 2)")
    parser.add_argument(
        "--quick", action="store_true", help="1 replica, 5 and 10/s for 10 s: checks the sweep"
    )
    parser.add_argument("--keep-infra", action="store_true", help="leave Kafka and the store up")
    args = parser.parse_args(argv)
    try:
        replicas = _numbers(args.replicas, int)
        rates = tuple(sorted(_numbers(args.rates, float)))
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.quick:
        replicas, rates, args.duration = (1,), (5.0, 10.0), 10.0
    plan = SweepPlan(
        replicas=tuple(replicas),
        rates=rates,
        duration_s=args.duration,
        drain_s=args.drain,
        p99_limit_s=args.p99_limit,
        warmup_s=5.0 if args.quick else 15.0,
        idle_s=5.0 if args.quick else 10.0,
    )
    return plan, args.keep_infra


async def main(plan: SweepPlan, keep_infra: bool) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    logs = RESULTS / f"capacity-{stamp}"
    logs.mkdir(parents=True, exist_ok=True)
    progress = Progress()
    # A topic's first produce meets a partition without a leader for a moment; aiokafka
    # retries and says so on stderr.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    infra = provide(keep=keep_infra)
    progress.done(f"Kafka {infra.kafka}, store {infra.mongodb} ({infra.how})")
    results: dict[str, Any] = {
        "run": run,
        "started_at": stamp,
        "machine": await machine(infra),
        # The machine may be shared: figures under a load average above the CPU count are
        # not comparable with quiet ones.
        "load_average_before": os.getloadavg(),
        "plan": {**vars(plan), "replicas": list(plan.replicas), "rates": list(plan.rates)},
        "sweeps": [],
    }
    smtp = SmtpSink(logs)
    try:
        await smtp.start()
        for replicas in plan.replicas:
            results["sweeps"].append(
                await sweep_replicas(infra, replicas, plan, run, logs, smtp, progress)
            )
    finally:
        await smtp.stop()
        results["load_average_after"] = os.getloadavg()
        infra.stop_what_we_started()
        path = RESULTS / f"capacity-{stamp}.json"
        path.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(render(results, plan))
    print(f"\nresults: {path.relative_to(ROOT)}  (logs: {logs.relative_to(ROOT)}/)")
    return results


def render(results: dict[str, Any], plan: SweepPlan) -> str:
    m = results["machine"]
    before, after = results["load_average_before"], results["load_average_after"]
    out = [
        f"\nmachine: {m['cpus']} CPU ({m['cpu_model']}), Python {m['python']}, "
        f"Kafka {m['kafka']}, FerretDB {m.get('store', {}).get('ferretdb')} on PostgreSQL; "
        f"{plan.duration_s:g} s per rate, offered by vegeta",
        f"load average (1, 5, 15 min) before {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}, "
        f"after {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}",
    ]
    out += [render_replicas(r, plan.p99_limit_s) for r in results["sweeps"]]
    out.append(render_summary(results["sweeps"], plan.p99_limit_s))
    return "\n".join(out)


async def _until_done_or_terminated(plan: SweepPlan, keep_infra: bool) -> None:
    # SIGTERM cancels the sweep like Ctrl-C does, so that the services it started are
    # stopped and its topics and databases dropped rather than left behind.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await main(plan, keep_infra)


if __name__ == "__main__":
    asyncio.run(_until_done_or_terminated(*parse_args()))
