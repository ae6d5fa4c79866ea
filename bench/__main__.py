"""``uv run python -m bench``: the pipeline beside the alternatives, one command.

Starts Kafka and the store unless ``KAFKA_BOOTSTRAP_SERVERS`` and ``MONGODB_URI`` name
running ones, runs the four services under load, then the processing + audit core written
naively, with FastStream and on the chassis, and Kafka's own performance tools, and prints
the tables. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio

from bench.pipeline.alternatives import CoreLoad
from bench.pipeline.harness import PARTS, Plan, run
from bench.pipeline.platform import PipelineLoad


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def parse_args(argv: list[str] | None = None) -> Plan:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, about a minute: checks the harness"
    )
    parser.add_argument("--dossiers", type=_positive_int, help="submissions through the pipeline")
    parser.add_argument("--rate", type=_positive_float, help="submissions per second offered")
    parser.add_argument("--in-flight", type=_positive_int, default=32, help="HTTP requests open")
    parser.add_argument("--messages", type=_positive_int, help="events pre-loaded per contender")
    parser.add_argument("--paced", type=_positive_int, help="events sent at --paced-rate after")
    parser.add_argument("--paced-rate", type=_positive_float, help="events per second")
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated parts to run, of {', '.join(PARTS)}",
    )
    parser.add_argument(
        "--profile", action="store_true", help="run the contenders under pyinstrument"
    )
    parser.add_argument(
        "--keep-infra", action="store_true", help="leave Kafka and the store running"
    )
    args = parser.parse_args(argv)
    parts = tuple(p.strip() for p in args.only.split(",") if p.strip())
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    if args.quick:
        defaults = {"dossiers": 40, "rate": 3.0, "messages": 300, "paced": 30, "paced_rate": 10.0}
    else:
        defaults = {
            "dossiers": 150,
            "rate": 3.0,
            "messages": 2000,
            "paced": 150,
            "paced_rate": 10.0,
        }
    value = {k: v if getattr(args, k) is None else getattr(args, k) for k, v in defaults.items()}
    return Plan(
        pipeline=PipelineLoad(value["dossiers"], value["rate"], args.in_flight),
        core=CoreLoad(value["messages"], value["paced"], value["paced_rate"]),
        parts=parts,
        profile=args.profile,
        keep_infra=args.keep_infra,
    )


if __name__ == "__main__":
    asyncio.run(run(parse_args()))
