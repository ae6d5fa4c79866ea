"""`deploy/local.py`'s command line."""

from __future__ import annotations

import argparse
import os
import shlex
import time

from deploy.launcher.base import (
    LauncherError,
    _say,
    layout,
)
from deploy.launcher.components import (
    ALL,
)
from deploy.launcher.processes import (
    Status,
    endpoints,
    ensure_up,
    reset,
    status,
    stop,
)
from deploy.launcher.services import (
    _print_services,
    start_services,
    stop_services,
)

# --------------------------------------------------------------------------- CLI


def _print_table(rows: list[Status]) -> None:
    table = [("COMPONENT", "ADDRESS", "PID", "STATE")]
    table += [(r.component, r.address, str(r.pid or "-"), r.state) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[3])


def _env_lines(ep: dict[str, str]) -> list[str]:
    # Names the services' settings read without a prefix (see chassis.settings).
    mapping = {
        "kafka": ("KAFKA_BOOTSTRAP_SERVERS", "{}"),
        "mongodb": ("MONGODB_URI", "{}"),
        "zipkin": ("ZIPKIN_ENDPOINT", "{}/api/v2/spans"),
        "idp": ("JWT_JWKS_URL", "{}/.well-known/jwks.json"),
    }
    mapping |= {
        "kafka_replication_factor": ("KAFKA_REPLICATION_FACTOR", "{}"),
        "kafka_min_insync_replicas": ("KAFKA_MIN_INSYNC_REPLICAS", "{}"),
    }
    lines = [
        f"export {var}={shlex.quote(fmt.format(ep[k]))}"
        for k, (var, fmt) in mapping.items()
        if k in ep
    ]
    if "idp" in ep:
        lines.append(f"export JWT_ISSUER={shlex.quote(ep['idp'])}")
    if "smtp" in ep:
        # Mail settings belong to the notification service alone, hence the prefix.
        host, port = ep["smtp"].rsplit(":", 1)
        lines += [
            f"export NOTIFICATION_SMTP_HOST={host}",
            f"export NOTIFICATION_SMTP_PORT={port}",
            f"# sent mail: {ep['smtp_http']}/messages (files in {ep['mail_dir']})",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="local.py",
        description="Run the local infrastructure (kafka, store, smtp, zipkin, idp) as processes.",
        epilog="Ports: HOSO_KAFKA_PORT, HOSO_KAFKA_CONTROLLER_PORT, HOSO_MONGO_PORT, "
        "HOSO_SMTP_PORT, HOSO_SMTP_HTTP_PORT, HOSO_ZIPKIN_PORT, HOSO_IDP_PORT. "
        "Paths: HOSO_LOCAL_DIR (default <repo>/.local), HOSO_MAIL_DIR, HOSO_IDP_DIR. "
        "A Kafka cluster: HOSO_KAFKA_BROKERS or --kafka-brokers (broker k on both Kafka "
        "ports + 100 x (k - 1)).",
    )
    brokers = argparse.ArgumentParser(add_help=False)
    brokers.add_argument(
        "--kafka-brokers",
        type=int,
        default=None,
        metavar="N",
        help="Kafka brokers, each also a controller (default HOSO_KAFKA_BROKERS, else as "
        "many as are running, else 1); 3 makes a cluster that survives a broker's death",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd, text in (
        ("up", "start components (idempotent) and wait until ready"),
        ("down", "stop components"),
        ("reset", "stop components and delete their data (keeps downloads)"),
        ("status", "show state; exit 3 if any listed component is not ready"),
        ("env", "print shell exports pointing the services at the components"),
    ):
        p = sub.add_parser(cmd, help=text, parents=[brokers])
        p.add_argument("components", nargs="*", metavar="COMPONENT", help=", ".join(ALL))
        if cmd == "down":
            p.add_argument("--services", action="store_true", help="stop the four services first")
    services = sub.add_parser(
        "services",
        parents=[brokers],
        help="start the four services in the background (environment in .local/env) and "
        "wait until each is ready",
    )
    services.add_argument(
        "--replicas",
        type=int,
        default=None,
        help="processes of each service (default HOSO_REPLICAS or 1); replica k of a "
        "service listens on its port + 100 x (k - 1)",
    )
    args = parser.parse_args(argv)
    if args.kafka_brokers is not None:
        # The launcher reads it on every call, as it does the ports.
        os.environ["HOSO_KAFKA_BROKERS"] = str(args.kafka_brokers)
    names = getattr(args, "components", None) or list(ALL)

    try:
        if args.command == "up":
            started = time.monotonic()
            ensure_up(names)
            _say(f"up in {time.monotonic() - started:.1f} s")
            _print_table(status(names))
        elif args.command == "services":
            started = time.monotonic()
            rows = start_services(replicas=args.replicas)
            _say(f"services up in {time.monotonic() - started:.1f} s")
            _print_services(rows, endpoints(), layout())
        elif args.command == "down":
            stopped = stop_services() if args.services else []
            stopped += stop(names)
            _say(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
        elif args.command == "reset":
            for path in reset(names):
                _say(f"deleted {path}")
        elif args.command == "status":
            rows = status(names)
            _print_table(rows)
            return 0 if all(r.state == "ready" for r in rows) else 3
        elif args.command == "env":
            print("\n".join(_env_lines(endpoints(names))))
    except LauncherError as exc:
        _say(f"error: {exc}")
        if exc.log_tail:
            _say(exc.log_tail)
        return 1
    return 0
