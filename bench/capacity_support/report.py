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
        f"\n{replicas} replica(s) of each service, an even load from vegeta: the POST as "
        "vegeta saw it, then end to end from the start of the POST to the audit entry of the "
        f"dossier's notification.sent (held = end-to-end p99 <= {p99_limit_s:g} s and not "
        "behind)",
        table(
            [
                "offered/s",
                "202/s",
                "POST p50 ms",
                "POST p99 ms",
                "e2e p50 s",
                "e2e p99 s",
                "e2e max s",
                "not audited",
                "lag when sent",
                "vegeta cores/1000 req/s",
                "load 1m",
                "held",
            ],
            [
                [
                    s["offered_per_s"],
                    s["accepted_per_s"],
                    (s.get("post_ms") or {}).get("p50"),
                    (s.get("post_ms") or {}).get("p99"),
                    s["latency_s"]["p50"],
                    s["latency_s"]["p99"],
                    s["latency_s"]["max"],
                    s["accepted"] - s["finished"],
                    _lags(s.get("lag_at_sent") or {}),
                    (s.get("generator") or {}).get("cores_per_1000"),
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
            ["offered/s", *names, "all", f"{LOAD_GENERATOR} cores", "busiest cores"],
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
                (step.get("post_ms") or {}).get("p99") if step else None,
                step["latency_s"]["p99"] if step else None,
                top[0] if top else None,
                top[1] if top else None,
                step["cores_while_sending"].get(top[0]) if step and top else None,
                (result.get("idle_cores") or {}).get(top[0]) if top else None,
            ]
        )
    out = [
        f"\ncapacity: the highest offered rate held (end-to-end p99 <= {p99_limit_s:g} s, "
        "not behind)",
        table(
            [
                "replicas",
                "dossiers/s held",
                "POST p99 ms",
                "end-to-end p99 s",
                "busiest process there",
                "its CPU ms/dossier",
                "its cores",
                "its cores idle",
            ],
            rows,
        ),
    ]
    generator = [
        (r["replicas"], s["offered_per_s"], s.get("generator") or {})
        for r in results
        for s in r["steps"]
    ]
    over = [(n, rate, g) for n, rate, g in generator if g.get("cores", 0) > GENERATOR_LIMIT_CORES]
    out.extend(
        f"WARNING: {LOAD_GENERATOR} used {g['cores']:.2f} cores at {rate:g}/s with {n} "
        "replica(s), more than half a core: it may be what limited the rate"
        for n, rate, g in over
    )
    # The rule for every HTTP benchmark: at most half a core per 1,000 requests a second.
    per_1000 = [
        (n, rate, g["cores_per_1000"])
        for n, rate, g in generator
        if g.get("cores_per_1000") is not None
    ]
    if per_1000:
        peak = max(per_1000, key=lambda x: x[2])
        cores = max(g.get("cores", 0.0) for _, _, g in generator)
        text = (
            f"{LOAD_GENERATOR} used at most {cores:.3f} cores in any step and at most "
            f"{peak[2]:.2f} cores per 1,000 req/s ({peak[1]:g}/s with {peak[0]} replica(s))"
        )
        if peak[2] > GENERATOR_CORES_PER_1000:
            text += f": more than {GENERATOR_CORES_PER_1000:g}"
        out.append(text)
    return "\n".join(out)


def generator_line(step: dict[str, Any]) -> str:
    """vegeta's own CPU in a step, and whether it is over the rule of half a core per 1,000
    requests a second."""
    generator = step.get("generator") or {}
    per_1000 = generator.get("cores_per_1000")
    text = (
        f"{LOAD_GENERATOR} ({generator.get('processes', 1)} process(es), "
        f"{generator.get('workers')} workers each, at most {generator.get('max_workers')}): "
        f"{generator.get('cores', 0.0):.3f} cores at {step['offered_per_s']:g}/s offered, "
        f"sent at {generator.get('sent_per_s')}/s"
    )
    if per_1000 is not None:
        text += f", {per_1000:.2f} cores per 1,000 req/s"
        if per_1000 > GENERATOR_CORES_PER_1000:
            text += f" (more than {GENERATOR_CORES_PER_1000:g})"
    return text


def render_store_commands(commands: dict[str, Any]) -> str:
    """The store commands per dossier of a step: a row per service, a column per command,
    the busiest first."""
    per: dict[str, dict[str, float]] = commands.get("per_dossier") or {}
    totals: dict[str, float] = {}
    for by_command in per.values():
        for command, n in by_command.items():
            totals[command] = totals.get(command, 0.0) + n
    names = sorted(totals, key=lambda c: (-totals[c], c))
    services = sorted(per, key=lambda s: (-sum(per[s].values()), s))
    rows: list[list[Any]] = [
        [service, round(sum(per[service].values()), 2), *(per[service].get(c) for c in names)]
        for service in services
    ]
    rows.append(["all", round(sum(totals.values()), 2), *(round(totals[c], 2) for c in names)])
    return "\n".join(
        [
            f"\nstore commands per dossier ({commands.get('dossiers')} audited): each service's "
            "hoso_store_commands_total over the step and its drain, background work included",
            table(["service", "all", *names], rows),
        ]
    )
