"""The performance budget in one command: ``make bench`` (``uv run python -m bench.perf``).

Three tables, measured on the real broker and store, one part after the other so that none
measures another's load:

1. intake vs bare FastAPI: POST /v1/dossiers from `hey` (a compiled load generator), the
   same connections and time for both, alternating rounds (``bench.intake_bench``);
2. the CPU budget per dossier: the four services as processes, one replica each, an even
   load of submissions from `vegeta` (compiled, open loop), and the CPU milliseconds every
   process spends per dossier that reached the audit (each service, Kafka, PostgreSQL,
   FerretDB, the SMTP sink, vegeta), with a py-spy profile of each service kept under
   ``bench/results/`` and its top costs printed; then the store commands per dossier, per
   service and command (each service's ``hoso_store_commands_total`` before and after the
   step);
3. the capacity sweep of ``bench.capacity`` on the same processes, its load from vegeta
   too: offered rates, lowest first, until one is not held (end-to-end p99, from the
   start of the POST to the audit entry of the dossier's notification, above 2 s, or
   fallen behind).

The default takes about five minutes on 2 cores; ``--quick`` about two; ``--long`` runs
the sweep's steps for 60 s each. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import intake_bench
from bench.capacity_support.report import (
    generator_line,
    render_replicas,
    render_store_commands,
    render_summary,
)
from bench.capacity_support.sweep import LOAD_GENERATOR, SmtpSink, SweepPlan, sweep_replicas
from bench.pipeline.infra import ROOT, machine, provide
from bench.pipeline.stats import Progress, table
from bench.profile_summary import summarise

RESULTS = ROOT / "bench" / "results"


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, SweepPlan]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.perf", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="short steps: checks the harness")
    parser.add_argument("--long", action="store_true", help="60 s per rate, 90 s budget step")
    parser.add_argument("--budget-rate", type=float, default=20.0, help="dossiers/s (default 20)")
    parser.add_argument(
        "--rates",
        default="20,30,40,50,60,80,100,120,140",
        help="capacity sweep: offered dossiers/s, lowest first",
    )
    parser.add_argument("--connections", type=int, default=32, help="hey's, intake vs bare")
    parser.add_argument("--no-profile", action="store_true", help="no py-spy during the budget")
    parser.add_argument(
        "--only", default="intake,budget", help="parts: intake, budget (budget includes the sweep)"
    )
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for the services of the budget and the sweep (repeatable)",
    )
    parser.add_argument("--keep-infra", action="store_true", help="leave Kafka and the store up")
    args = parser.parse_args(argv)
    rates = tuple(sorted(float(r) for r in args.rates.split(",") if r.strip()))
    step_s = 60.0 if args.long else (10.0 if args.quick else 20.0)
    plan = SweepPlan(
        replicas=(1,),
        rates=rates[:2] if args.quick else rates,
        duration_s=step_s,
        drain_s=15.0 if args.quick else 20.0,
        p99_limit_s=2.0,
        warmup_s=5.0 if args.quick else 10.0,
        idle_s=3.0 if args.quick else 5.0,
        budget_rate=args.budget_rate,
        budget_s=90.0 if args.long else (10.0 if args.quick else 30.0),
        profile=not args.no_profile,
        service_env=tuple(args.service_env),
    )
    return args, plan


async def main(args: argparse.Namespace, plan: SweepPlan) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = RESULTS / f"perf-{stamp}"
    workdir.mkdir(parents=True, exist_ok=True)
    progress = Progress()
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    infra = provide(keep=args.keep_infra)
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    results: dict[str, Any] = {
        "run": run,
        "started_at": stamp,
        "machine": await machine(infra),
        # The machine is shared: a load average far above the CPU count before a part
        # means its figures are not comparable with quiet ones.
        "load_average_before": os.getloadavg(),
        "plan": {**vars(plan), "replicas": list(plan.replicas), "rates": list(plan.rates)},
    }
    try:
        if "intake" in parts:
            progress.show("intake vs bare FastAPI (hey)", force=True)
            results["intake"] = await intake_bench.compare(
                infra,
                seconds=5.0 if args.quick else 10.0,
                rounds=2,
                connections=args.connections,
                warm_up_s=2.0 if args.quick else 3.0,
                logs=workdir / "intake",
                # Not profiled here: py-spy's own CPU would be taken from the two cores
                # the ratio is measured on. The budget step profiles intake.
            )
            results["intake"]["load_average_after"] = os.getloadavg()
            progress.done("intake vs bare FastAPI: done")
        if "budget" in parts:
            smtp = SmtpSink(workdir)
            try:
                await smtp.start()
                results["pipeline"] = await sweep_replicas(
                    infra, 1, plan, run, workdir, smtp, progress
                )
            finally:
                await smtp.stop()
            profiles = results["pipeline"].get("profiles") or {}
            results["profiles"] = {
                name: summarise(Path(path), top=8) for name, path in profiles.items()
            }
    finally:
        results["load_average_after"] = os.getloadavg()
        infra.stop_what_we_started()
        path = RESULTS / f"perf-{stamp}.json"
        path.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(render(results, plan))
    print(f"\nresults: {path.relative_to(ROOT)}  (logs and profiles: {workdir.relative_to(ROOT)}/)")
    return results


def render(results: dict[str, Any], plan: SweepPlan) -> str:
    m = results["machine"]
    before, after = results["load_average_before"], results["load_average_after"]
    out = [
        f"\nmachine: {m['cpus']} CPU ({m['cpu_model']}), Python {m['python']}, "
        f"Kafka {m['kafka']}, FerretDB {m.get('store', {}).get('ferretdb')} on PostgreSQL",
        f"load average (1, 5, 15 min) before {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}, "
        f"after {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}",
    ]
    if "intake" in results:
        out.append(intake_bench.render(results["intake"]))
    pipeline = results.get("pipeline")
    if pipeline and pipeline.get("budget"):
        out.append(render_budget(pipeline["budget"], results.get("profiles") or {}))
        if pipeline["budget"].get("store_commands"):
            out.append(render_store_commands(pipeline["budget"]["store_commands"]))
    if pipeline:
        out.append(render_replicas(pipeline, plan.p99_limit_s))
        out.append(render_summary([pipeline], plan.p99_limit_s))
    return "\n".join(out)


def render_budget(step: dict[str, Any], profiles: dict[str, Any]) -> str:
    per = step["cpu_ms_per_dossier"]
    cores = step["cores_while_sending"]
    total = sum(v for v in per.values() if v)
    rows = [
        [
            name,
            per[name],
            round(100 * per[name] / total, 1) if per[name] and total else None,
            cores.get(name),
        ]
        for name in sorted(per, key=lambda n: -(per[n] or 0))
    ]
    rows.append(["all", round(total, 1), 100.0, round(sum(v for v in cores.values() if v), 2)])
    latency, post = step["latency_s"], step.get("post_ms") or {}
    out = [
        f"\nCPU budget per dossier: {step['offered_per_s']:g} dossiers/s offered by vegeta for "
        f"{step['duration_s']:g} s, {step['finished']} audited (POST p50 {post.get('p50')} ms, "
        f"p99 {post.get('p99')} ms; end to end p50 {latency['p50']} s, p99 {latency['p99']} s); "
        "CPU of each process over the step and its drain, per dossier that reached the audit",
        table(["process", "CPU ms/dossier", "share %", "cores while sending"], rows),
    ]
    if total:
        out.append(
            f"at this budget the 2 cores could carry at most {2000 / total:.0f} dossiers/s "
            "if nothing else ran"
        )
    generator = cores.get(LOAD_GENERATOR)
    if generator is not None and step["offered_per_s"]:
        out.append(generator_line(step))
    for name, summary in profiles.items():
        top = ", ".join(f"{pct}% {fn}" for fn, pct in summary["self"][:5])
        out.append(f"  {name} (py-spy, self time): {top}")
    return "\n".join(out)


if __name__ == "__main__":
    asyncio.run(main(*parse_args()))
