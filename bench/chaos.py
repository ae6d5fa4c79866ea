"""``uv run python -m bench.chaos``: kill everything under load, then check nothing was lost.

Starts the four services, each as several replicas (fresh topics and databases), an SMTP
server, an SMS gateway and a portal inbox; submits dossiers at a steady rate while
officers decide them through the officer API; kills -9 every replica several times, one
at a time while its siblings serve, and once every replica of one service together;
restarts the broker, FerretDB and PostgreSQL once each (through the local launcher;
skipped when KAFKA_BOOTSTRAP_SERVERS and MONGODB_URI name servers the run does not own).
Then checks that every accepted dossier reached
result_returned, that each notice arrived exactly once, that the audit log holds every
event exactly once and verifies, and that only the run's own poison sits on dead-letter
topics. Prints a table; exits 1 if any invariant fails. See docs/reliability.md.

``--kafka-brokers 3`` runs the platform on a Kafka cluster of its own instead (three
brokers through the launcher, in ``.local/kafka-failover`` on 19092/19192/19292, the store
as usual): the broker leading the busiest partitions is killed -9 and started again, then
a second broker is restarted, while a probe measures how long producers and consumers take
to fail over; topics carry three copies and ``min.insync.replicas`` 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from bench.chaos_support.cluster import DEFAULT_PORT, KafkaCluster
from bench.chaos_support.infra import ChaosInfra, launcher, provide
from bench.chaos_support.plan import Plan, Report
from bench.chaos_support.run import run_chaos


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


def parse_args(argv: list[str] | None = None) -> tuple[Plan, bool, KafkaCluster | None]:
    defaults = Plan()
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--dossiers", type=_positive_int, default=defaults.dossiers)
    parser.add_argument(
        "--rate", type=_positive_float, default=defaults.rate, help="submissions per second"
    )
    parser.add_argument(
        "--replicas",
        type=_positive_int,
        default=defaults.replicas,
        help="processes of each service",
    )
    parser.add_argument(
        "--kills", type=int, default=defaults.kills, help="kill -9 of each replica, one at a time"
    )
    parser.add_argument(
        "--outages",
        type=int,
        default=defaults.outages,
        help="kill -9 of every replica of one service at once",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--no-broker-restart", action="store_true")
    parser.add_argument("--no-store-restart", action="store_true", help="FerretDB")
    parser.add_argument("--no-postgres-restart", action="store_true")
    parser.add_argument(
        "--officers", type=_positive_int, default=defaults.officers, help="dossiers in hand"
    )
    parser.add_argument(
        "--no-claim", action="store_true", help="officers review without claiming first"
    )
    parser.add_argument("--drain-timeout", type=_positive_float, default=defaults.drain_timeout_s)
    parser.add_argument("--out", type=Path, default=defaults.work_dir, help="logs and report")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the run's topics and databases afterwards (and its Kafka cluster running)",
    )
    parser.add_argument(
        "--kafka-brokers",
        type=_positive_int,
        default=None,
        help="run on a Kafka cluster of this many brokers of the run's own (3)",
    )
    parser.add_argument(
        "--kafka-port",
        type=_positive_int,
        default=DEFAULT_PORT,
        help="the cluster's first client port; broker k adds 100 x (k - 1), its "
        "controller listens one above",
    )
    parser.add_argument(
        "--broker-kills", type=int, default=1, help="kill -9 of the busiest leader (cluster)"
    )
    parser.add_argument(
        "--broker-rolls", type=int, default=1, help="graceful restarts of a second broker"
    )
    parser.add_argument(
        "--broker-down",
        type=_positive_float,
        default=10.0,
        help="seconds a killed broker stays down",
    )
    args = parser.parse_args(argv)
    cluster = None
    if args.kafka_brokers is not None and args.kafka_brokers > 1:
        cluster = KafkaCluster(
            brokers=args.kafka_brokers,
            port=args.kafka_port,
            controller_port=args.kafka_port + 1,
        )
    plan = Plan(
        dossiers=args.dossiers,
        rate=args.rate,
        replicas=args.replicas,
        kills=max(0, args.kills),
        outages=max(0, args.outages),
        broker_restarts=0 if args.no_broker_restart or cluster else 1,
        store_restarts=0 if args.no_store_restart or cluster else 1,
        postgres_restarts=0 if args.no_postgres_restart or cluster else 1,
        broker_kills=max(0, args.broker_kills) if cluster else 0,
        broker_rolls=max(0, args.broker_rolls) if cluster else 0,
        broker_down_s=args.broker_down,
        seed=args.seed,
        officers=args.officers,
        claim=not args.no_claim,
        drain_timeout_s=args.drain_timeout,
        work_dir=args.out,
    )
    return plan, args.keep, cluster


def on_cluster(cluster: KafkaCluster) -> ChaosInfra:
    """The cluster (started if need be) and the store: the environment's, else the
    launcher's."""
    print(f"chaos: starting a Kafka cluster of {cluster.brokers} in {cluster.local_dir}…")
    bootstrap = cluster.up()
    mongodb = os.environ.get("MONGODB_URI") or launcher().ensure_up(["store"])["mongodb"]
    return ChaosInfra.on_cluster(cluster, bootstrap, mongodb)


async def _until_interrupted(plan: Plan, infra: ChaosInfra, keep: bool) -> Report:
    # Ctrl-C or SIGTERM cancels the run, so its clean-up stops the services (each runs in
    # a session of its own and would outlive this process otherwise).
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    return await run_chaos(plan, infra, keep=keep)


def main(argv: list[str] | None = None) -> int:
    plan, keep, cluster = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    infra = provide() if cluster is None else on_cluster(cluster)
    print(f"chaos: Kafka {infra.kafka}, store {infra.mongodb.split('@')[-1]} ({infra.how})")
    if not infra.restartable:
        print(f"chaos: broker, store and database restarts {infra.why_not_restartable}")
    try:
        report = asyncio.run(_until_interrupted(plan, infra, keep))
    except asyncio.CancelledError:
        print("chaos: interrupted; the services were stopped", file=sys.stderr)
        return 130
    finally:
        if cluster is not None and not keep:
            # Three JVMs: memory the machine wants back. Their data stays for the next run.
            cluster.stop()
    print(report.table())
    out = Path(plan.work_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "latest.json"
    path.write_text(json.dumps(report.as_dict(), indent=2, default=str) + "\n")
    print(f"report: {path}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
