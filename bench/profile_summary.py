"""The top costs of a py-spy speedscope profile, as text.

    uv run python -m bench.profile_summary bench/results/<run>/intake.speedscope.json [--top 25]

Self time is where the samples were taken; inclusive time counts a function once per
sample whatever its depth, so it shows which calls the time was spent under. Idle
samples (py-spy's ``--idle`` off, the event loop's ``select``) are left out by py-spy.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

# Leaf frames where a thread waits rather than works: the event loop's select (py-spy
# shows it as ``Runner.run`` when the native frame is hidden), worker threads waiting for
# a job or blocked on the store's socket (profiles taken with Motor, which ran PyMongo in
# threads), the driver's monitor sleeping, a condition variable. Left out, so percentages
# are of work; a profile taken with ``--nonblocking`` cannot tell these apart by thread state.
IDLE = (
    "Runner.run (",
    "_worker (",
    "Condition.wait (",
    "select (",
    "Event.wait (",
    "wait (",
    "PeriodicExecutor._run (",
    "NetworkingInterface.recv_into (",
)


def _idle(leaf: str) -> bool:
    return leaf.startswith(IDLE)


def summarise(path: Path, top: int = 25) -> dict[str, Any]:
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for profile in data["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            total += weight
            if not stack:
                continue
            names = [_name(frames[i]) for i in stack]
            if _idle(names[-1]):
                total -= weight
                continue
            self_time[names[-1]] += weight
            for name in set(names):
                inclusive[name] += weight
    return {
        "samples": round(total, 2),
        "self": [(n, round(100 * w / total, 1)) for n, w in self_time.most_common(top)],
        "inclusive": [(n, round(100 * w / total, 1)) for n, w in inclusive.most_common(top)],
    }


def _name(frame: dict[str, Any]) -> str:
    file = str(frame.get("file", ""))
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{frame['name']} ({file}:{frame.get('line', '')})"


def render(summary: dict[str, Any]) -> str:
    lines = [f"{summary['samples']:.1f} s of busy samples; self % (where the CPU was):"]
    lines += [f"  {pct:5.1f}  {name}" for name, pct in summary["self"]]
    lines.append("inclusive % (under which calls):")
    lines += [f"  {pct:5.1f}  {name}" for name, pct in summary["inclusive"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(render(summarise(args.profile, args.top)))


if __name__ == "__main__":
    main()
