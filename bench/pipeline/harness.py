"""One run of the whole benchmark: infrastructure, the real pipeline, the alternatives, the
Kafka tools, then the tables on stdout and everything as JSON under ``bench/results/``."""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.pipeline.alternatives import CoreLoad, run_contender
from bench.pipeline.ceiling import run_ceiling
from bench.pipeline.infra import ROOT, machine, provide
from bench.pipeline.platform import PipelineLoad, run_pipeline
from bench.pipeline.stats import Progress, table
from bench.pipeline.store_probe import probe_store

RESULTS = ROOT / "bench" / "results"
PARTS = ("store", "pipeline", "core", "kafka")
CONTENDER_ORDER = ("naive", "faststream-single", "faststream-batch", "ours")


@dataclass(frozen=True)
class Plan:
    pipeline: PipelineLoad
    core: CoreLoad
    parts: tuple[str, ...]
    contenders: tuple[str, ...]
    profile: bool
    keep_infra: bool


async def run(plan: Plan) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = RESULTS / stamp
    workdir.mkdir(parents=True, exist_ok=True)
    progress = Progress()
    # Producing right after a topic is created meets a partition without a leader for a
    # moment; aiokafka retries and says so on stderr, through the progress line.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    progress.show("starting Kafka and the store", force=True)
    infra = provide(keep=plan.keep_infra)
    progress.done(f"Kafka {infra.kafka}, store {infra.mongodb} ({infra.how})")
    results: dict[str, Any] = {
        "run": run_id,
        "started_at": stamp,
        "machine": await machine(infra),
        # Other work on the machine during the run shows here; figures taken under a load
        # average far above the CPU count are not comparable with quiet ones.
        "load_average_before": os.getloadavg(),
        "plan": {
            "pipeline": vars(plan.pipeline),
            "core": vars(plan.core),
            "parts": list(plan.parts),
            "contenders": list(plan.contenders),
            "profile": plan.profile,
        },
    }
    try:
        if "store" in plan.parts:
            results["store"] = await probe_store(infra, run_id, progress)
        if "pipeline" in plan.parts:
            results["pipeline"] = await run_pipeline(
                infra, plan.pipeline, run_id, workdir, progress, profile=plan.profile
            )
        rows: list[dict[str, Any]] = []
        if "core" in plan.parts:
            for name in plan.contenders:
                rows.append(
                    await run_contender(
                        infra, name, plan.core, run_id, workdir, progress, profile=plan.profile
                    )
                )
        if "kafka" in plan.parts:
            size = next((r["message_bytes_mean"] for r in rows), 1400)
            rows.extend(
                await run_ceiling(infra, plan.core.messages, size, run_id, workdir, progress)
            )
        _ratios(rows)
        results["core"] = rows
    finally:
        results["load_average_after"] = os.getloadavg()
        infra.stop_what_we_started()
        # Written even when a part failed: what was measured before it still helps.
        path = RESULTS / f"{stamp}.json"
        path.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(render(results))
    print(f"\nresults: {path.relative_to(ROOT)}  (logs: {workdir.relative_to(ROOT)}/)")
    return results


def _ratios(rows: list[dict[str, Any]]) -> None:
    by_name = {r["contender"]: r for r in rows}
    for row in rows:
        for base in ("naive", "ours"):
            reference = by_name.get(base, {}).get("msgs_per_s")
            mine = row.get("msgs_per_s")
            row[f"vs_{base}"] = round(mine / reference, 2) if mine and reference else None


def render(results: dict[str, Any]) -> str:
    out: list[str] = []
    m = results["machine"]
    server = m.get("store", {})
    out.append(
        f"\nmachine: {m['cpus']} CPU ({m['cpu_model']}), {m['memory_gib']} GiB, "
        f"Python {m['python']}, Kafka {m['kafka']}, FerretDB {server.get('ferretdb')} "
        f"(wire version {server.get('wire_version')}), infrastructure from {m['infra']}"
    )
    before, after = results.get("load_average_before"), results.get("load_average_after")
    if before and after:
        out.append(f"load average (1 min) before {before[0]:.2f}, after {after[0]:.2f}")
    probe = results.get("store")
    if probe:
        out.append(_render_store(probe))
    pipeline = results.get("pipeline")
    if pipeline:
        out.append(_render_pipeline(pipeline))
    rows = results.get("core") or []
    if rows:
        core = results["plan"]["core"]
        out.append(
            f"\nprocessing + audit core: {core['messages']} pre-loaded dossier.submitted "
            f"events drained, then {core['paced']} at {core['rate']:g}/s for latency "
            "(produce -> status change's audit entry acknowledged)"
        )
        out.append(
            table(
                [
                    "contender",
                    "messages",
                    "msgs/s",
                    "p50 ms",
                    "p99 ms",
                    "CPU s",
                    "CPU ms/msg",
                    "broker+store CPU s",
                    "vs naive",
                    "vs ours",
                ],
                [
                    [
                        r["contender"],
                        r["messages"],
                        r["msgs_per_s"],
                        (r.get("latency_ms") or {}).get("p50"),
                        (r.get("latency_ms") or {}).get("p99"),
                        r["cpu_s"],
                        r["cpu_ms_per_msg"],
                        round(sum((r.get("infra_cpu_s") or {}).values()), 2),
                        _times(r.get("vs_naive")),
                        _times(r.get("vs_ours")),
                    ]
                    for r in rows
                ],
            )
        )
        if any(r["contender"].startswith("faststream") for r in rows):
            out.append(
                "faststream-single: FastStream's subscriber, one message per call (insert_one, "
                "publish awaited, commit); faststream-batch: its batch subscriber (batch=True, "
                "the same max records and wait as ours; insert_many, publishes awaited together, "
                "commit per batch)"
            )
        out.append(
            "kafka rows: ProducerPerformance latency is produce -> broker ack; "
            "ConsumerPerformance rate excludes its group join. Neither touches the store."
        )
        out.append(_render_waits([r for r in rows if r.get("waits_s")]))
    return "\n".join(out)


WAITS = (
    "processing: store",
    "processing: publish",
    "processing: commit",
    "audit: store",
    "audit: commit",
)


def _render_waits(rows: list[dict[str, Any]]) -> str:
    """Seconds each stage spent awaiting the store and the broker during the drain. The two
    stages overlap; "-" is a wait done inside the library, out of the contender's sight."""
    return (
        "\nseconds awaited during the drain, per stage (stages run concurrently; "
        "'-' = inside the library)\n"
        + table(
            ["contender", "drain s", *WAITS],
            [[r["contender"], r["drain_s"], *(r["waits_s"].get(w) for w in WAITS)] for r in rows],
        )
    )


def _render_store(rows: list[dict[str, Any]]) -> str:
    return "\n" + table(
        [
            "store: collection size",
            "insert_many ms/doc",
            "insert_one ms",
            "find _id ms",
            "find indexed ms",
            "update _id ms",
        ],
        [
            [
                r["documents"],
                r["insert_many_ms_per_doc"],
                r["insert_one_ms"],
                r["find_by_id_ms"],
                r["find_by_indexed_field_ms"],
                r["update_by_id_ms"],
            ]
            for r in rows
        ],
    )


def _render_pipeline(p: dict[str, Any]) -> str:
    lines = [
        f"\nreal pipeline: {p['dossiers']} submissions offered at {p['rate']:g}/s "
        f"({p['in_flight']} in flight at most): {p['accepted']} accepted "
        f"({p['accepted_per_s']}/s), refused {p['refused'] or 0}, "
        f"not audited {p['not_audited']}, not mailed {p['not_mailed']}",
        table(
            ["end-to-end from POST", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"],
            [
                [label, s["n"], s["p50"], s["p95"], s["p99"], s["max"]]
                for label, s in (
                    ("HTTP 202 answered", p["http_ms"]),
                    ("audit entry of notification", p["to_audit_ms"]),
                    ("citizen's email received", p["to_mail_ms"]),
                    ("both", p["to_both_ms"]),
                )
            ],
        ),
        "",
        table(
            ["consumer group", "events", "events/s", "peak events/s", "max lag"],
            [
                [name, int(s["events"]), s["events_per_s"], s["peak_events_per_s"], s["max_lag"]]
                for name, s in p["stages"].items()
            ],
        ),
        "",
        table(
            ["process", "CPU s"],
            [[name, seconds] for name, seconds in p["cpu_s"].items()],
        ),
    ]
    return "\n".join(lines)


def _times(value: float | None) -> str | None:
    return None if value is None else f"{value:g}x"
