"""The sweep's tables: per replica count the steps and their CPU, then the capacity."""

from __future__ import annotations

from typing import Any

from bench.capacity_support.sweep import LOAD_GENERATOR
from bench.hey import GENERATOR_CORES_PER_1000
from bench.pipeline.stats import table

# A load generator busier than this may itself be what limits the offered rate.
GENERATOR_LIMIT_CORES = 0.5


def _processes(steps: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for step in steps:
        for name in step["cpu_ms_per_dossier"]:
            if name not in names:
                names.append(name)
    return names


def busiest(step: dict[str, Any]) -> tuple[str, float] | None:
    """The process that used the most CPU during a step (per dossier, the same ranking)."""
    used = {n: v for n, v in step["cpu_ms_per_dossier"].items() if v is not None}
    if not used:
        return None
    name = max(used, key=lambda n: used[n])
    return name, used[name]


def highest_held(result: dict[str, Any]) -> dict[str, Any] | None:
    held = [s for s in result["steps"] if s["held"]]
    return max(held, key=lambda s: s["offered_per_s"]) if held else None


def render_replicas(result: dict[str, Any], p99_limit_s: float) -> str:
    steps: list[dict[str, Any]] = result["steps"]
    replicas = result["replicas"]
    out = [
        f"\n{replicas} replica(s) of each service: from the POST to the audit entry of the "
        f"dossier's notification.sent (held = p99 <= {p99_limit_s:g} s and not behind)",
        table(
            [
                "offered/s",
                "accepted/s",
                "finished/s",
                "p50 s",
                "p99 s",
                "max s",
                "not audited",
                "lag when sent",
                "load 1m",
                "held",
            ],
            [
                [
                    s["offered_per_s"],
                    s["accepted_per_s"],
                    s["finished_per_s"],
                    s["latency_s"]["p50"],
                    s["latency_s"]["p99"],
                    s["latency_s"]["max"],
                    s["accepted"] - s["finished"],
                    _lags(s.get("lag_at_sent") or {}),
                    s["load_average_1m"],
                    _verdict(s),
                ]
                for s in steps
            ],
        ),
    ]
    names = _processes(steps)
    out += [
        f"\nCPU ms per dossier audited, {replicas} replica(s) (the step and its drain); "
        "the last two columns: cores busy while the load was offered",
        table(
            ["offered/s", *names, "all", "load generator cores", "busiest cores"],
            [
                [
                    s["offered_per_s"],
                    *(s["cpu_ms_per_dossier"].get(n) for n in names),
                    round(sum(v for v in s["cpu_ms_per_dossier"].values() if v), 1),
                    s["cores_while_sending"].get(LOAD_GENERATOR),
                    _busiest_cores(s),
                ]
                for s in steps
            ],
        ),
    ]
    idle = result.get("idle_cores") or {}
    if idle:
        out.append(
            "cores used with no load offered: "
            + ", ".join(f"{name} {cores:.2f}" for name, cores in idle.items())
        )
    if result.get("not_found"):
        out.append(f"not found, so not measured: {', '.join(result['not_found'])}")
    return "\n".join(out)


def _lags(lags: dict[str, float]) -> str:
    """The consumers' lag when sending ended, largest first, by the first letters of
    the service's name."""
    busy = {name: int(lag) for name, lag in lags.items() if lag}
    if not busy:
        return "0"
    return " ".join(f"{name[:5]} {lag}" for name, lag in sorted(busy.items(), key=lambda x: -x[1]))


def _verdict(step: dict[str, Any]) -> str:
    text = "yes" if step["held"] else "no: " + ("; ".join(step["behind"]) or "p99")
    if step.get("restarted"):
        text += f" ({', '.join(step['restarted'])} restarted during the step)"
    return text


def _busiest_cores(step: dict[str, Any]) -> str | None:
    cores = {n: v for n, v in step["cores_while_sending"].items() if v is not None}
    if not cores:
        return None
    name = max(cores, key=lambda n: cores[n])
    return f"{name} {cores[name]:.2f}"


def render_summary(results: list[dict[str, Any]], p99_limit_s: float) -> str:
    rows = []
    for result in results:
        step = highest_held(result)
        top = busiest(step) if step else None
        rows.append(
            [
                result["replicas"],
                step["offered_per_s"] if step else None,
                step["latency_s"]["p99"] if step else None,
                top[0] if top else None,
                top[1] if top else None,
                step["cores_while_sending"].get(top[0]) if step and top else None,
                (result.get("idle_cores") or {}).get(top[0]) if top else None,
            ]
        )
    out = [
        f"\ncapacity: the highest offered rate held (p99 <= {p99_limit_s:g} s, not behind)",
        table(
            [
                "replicas",
                "dossiers/s held",
                "p99 s",
                "busiest process there",
                "its CPU ms/dossier",
                "its cores",
                "its cores idle",
            ],
            rows,
        ),
    ]
    generator = [
        (r["replicas"], s["offered_per_s"], s["cores_while_sending"].get(LOAD_GENERATOR, 0.0))
        for r in results
        for s in r["steps"]
    ]
    over = [(n, rate, c) for n, rate, c in generator if c > GENERATOR_LIMIT_CORES]
    if over:
        out.extend(
            f"WARNING: the load generator used {c:.2f} cores at {rate:g}/s with {n} "
            "replica(s), more than half a core: it may be what limited the rate"
            for n, rate, c in over
        )
    elif generator:
        peak = max(c for _, _, c in generator)
        out.append(
            f"the load generator used at most {peak:.2f} cores in any step "
            f"(under {GENERATOR_LIMIT_CORES:g}): it was not the bottleneck"
        )
    # The rule for every HTTP benchmark: at most half a core per 1,000 requests a second.
    per_1000 = [1000 * c / rate for _, rate, c in generator if rate > 0 and c]
    if per_1000 and max(per_1000) > GENERATOR_CORES_PER_1000:
        out.append(
            f"note: this sender (Python, in the benchmark's process) costs up to "
            f"{max(per_1000):.2f} cores per 1,000 req/s, more than "
            f"{GENERATOR_CORES_PER_1000:g}: at these rates a small share of the machine, "
            "but at thousands a second it would be the bottleneck (the intake table uses hey)"
        )
    return "\n".join(out)
