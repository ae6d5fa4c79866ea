"""The benchmarks' reading of hey's per-request CSV and of py-spy profiles, without
running either."""

from __future__ import annotations

import json
from pathlib import Path

from bench.hey import GENERATOR_CORES_PER_1000, HeyRun, parse_csv
from bench.profile_summary import summarise

CSV = """response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset
0.0100,0.0001,0.0000,0.0000,0.0099,0.0000,202,0.0012
0.0200,0.0000,0.0000,0.0000,0.0199,0.0000,202,0.5000
2.5000,0.0000,0.0000,0.0000,2.4999,0.0000,503,1.0000
0.0300,0.0000,0.0000,0.0000,0.0299,0.0000,202,1.2000
"""


def test_hey_csv_gives_statuses_latencies_and_the_slowest_with_their_start() -> None:
    run = parse_csv("intake", CSV)
    run.seconds = 2.0
    assert run.requests == 4
    assert run.statuses == {202: 3, 503: 1}
    assert run.per_second(202) == 1.5
    assert run.over(2.0) == 1
    assert run.max_ms() == 2500.0
    assert run.slowest(1) == [(1.0, 2.5)]


def test_a_generator_over_half_a_core_per_thousand_requests_a_second_says_so() -> None:
    busy = HeyRun("bare", seconds=10.0, latencies_s=[0.001] * 10_000, generator_cpu_s=8.0)
    # 1,000 req/s at 0.8 cores.
    assert busy.generator_cores_per_1000() == 0.8 > GENERATOR_CORES_PER_1000
    assert busy.generator_warning() is not None
    light = HeyRun("bare", seconds=10.0, latencies_s=[0.001] * 10_000, generator_cpu_s=2.0)
    assert light.generator_warning() is None


def test_merged_rounds_add_up() -> None:
    first, second = parse_csv("intake", CSV), parse_csv("intake", CSV)
    first.seconds, second.seconds = 2.0, 3.0
    first.merge(second)
    assert first.requests == 8
    assert first.seconds == 5.0
    assert first.statuses[202] == 6


def test_profile_summary_leaves_out_waiting_threads(tmp_path: Path) -> None:
    frames = [
        {"name": "Runner.run", "file": "/usr/lib/python3.11/asyncio/runners.py", "line": 118},
        {"name": "handle", "file": "/app/src/svc/api.py", "line": 10},
        {"name": "encode", "file": "/venv/site-packages/json/encoder.py", "line": 5},
    ]
    profile = {
        "shared": {"frames": frames},
        # Three samples waiting in the event loop, one in handle, two in encode under it.
        "profiles": [
            {"samples": [[0], [0], [0], [1], [1, 2], [1, 2]], "weights": [1, 1, 1, 1, 1, 1]}
        ],
    }
    path = tmp_path / "p.speedscope.json"
    path.write_text(json.dumps(profile))
    summary = summarise(path)
    assert summary["samples"] == 3
    assert summary["self"][0] == ("encode (json/encoder.py:5)", 66.7)
    assert dict(summary["inclusive"])["handle (svc/api.py:10)"] == 100.0
