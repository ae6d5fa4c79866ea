"""The pipeline beside the alternatives, one command: ``uv run python -m bench``.

Starts Kafka and the store unless ``KAFKA_BOOTSTRAP_SERVERS`` and ``MONGODB_URI`` name
running ones, runs the four services under load, then the processing + audit core written
naively, with FastStream and on the chassis, and Kafka's own performance tools, and prints
the tables. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio

from bench.pipeline.alternatives import CoreLoad
from bench.pipeline.harness import CONTENDER_ORDER, PARTS, Plan, run
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
        "--contenders",
        default=",".join(CONTENDER_ORDER),
        help=f"comma-separated contenders of the core part, of {', '.join(CONTENDER_ORDER)}",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the services and the contenders under pyinstrument (reports beside the logs)",
    )
    parser.add_argument(
        "--keep-infra", action="store_true", help="leave Kafka and the store running"
    )
    args = parser.parse_args(argv)
    parts = tuple(p.strip() for p in args.only.split(",") if p.strip())
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    contenders = tuple(c.strip() for c in args.contenders.split(",") if c.strip())
    strangers = set(contenders) - set(CONTENDER_ORDER)
    if strangers:
        parser.error(f"unknown contender(s): {', '.join(sorted(strangers))}")
    # Defaults: about four minutes on 2 cores; --quick about one.
    quick = args.quick
    dossiers: int = args.dossiers or (40 if quick else 150)
    rate: float = args.rate or 3.0
    messages: int = args.messages or (300 if quick else 2000)
    paced: int = args.paced or (30 if quick else 150)
    paced_rate: float = args.paced_rate or 10.0
    return Plan(
        pipeline=PipelineLoad(dossiers, rate, args.in_flight),
        core=CoreLoad(messages, paced, paced_rate),
        parts=parts,
        contenders=contenders,
        profile=args.profile,
        keep_infra=args.keep_infra,
    )


if __name__ == "__main__":
    asyncio.run(run(parse_args()))
