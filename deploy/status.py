"""The operators' table of the live system: ``uv run python deploy/status.py`` (``make status``).

Shows, each as far as it can be read (a part that does not answer is reported as such,
never as a traceback):

* each service: alive (``/healthz``) and ready (``/readyz``, with the failing checks);
* each consumer group: its state and, per topic and partition, the committed offset, the
  partition's end and the lag between them;
* each dead-letter topic: how many records it holds;
* dossiers overdue per agency (processing's ``hoso_dossiers_overdue`` gauge);
* the newest signed audit checkpoint (audit's API, with an auditor token from the identity
  provider: ``HOSO_STATUS_TOKEN`` when set, else one asked for with the status command's
  own client, which may have the auditor role and nothing else: ``.local/idp/status.json``
  written by ``make run``, or ``HOSO_STATUS_CLIENT_FILE``).

Settings come from the environment, else from ``.local/env`` (written by
``deploy/local.py services``; ``HOSO_STATUS_ENV_FILE`` names another file):
``KAFKA_BOOTSTRAP_SERVERS``, ``KAFKA_TOPIC_PREFIX`` and the services'
``<NAME>_HTTP_PORT``. ``--service NAME=URL`` points at a service elsewhere.

Exit status: 0 when every service is ready and Kafka answers, 3 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from prometheus_client.parser import text_string_to_metric_families

from chassis.auth import ClientCredentials, request_token
from chassis.events import CONSUMER_GROUPS, Topics

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES = {"intake": 8001, "processing": 8002, "notification": 8003, "audit": 8004}
HTTP_TIMEOUT_S = 3.0
KAFKA_TIMEOUT_S = 10.0


# --------------------------------------------------------------------------- settings


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines as a shell with ``set -a; . FILE`` would read them."""
    values: dict[str, str] = {}
    try:
        text = path.read_text()
    except OSError:
        return values
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.removeprefix("export ").partition("=")
        with contextlib.suppress(ValueError):
            words = shlex.split(raw)
            values[key.strip()] = words[0] if words else ""
    return values


@dataclass(frozen=True)
class Settings:
    services: dict[str, str]
    kafka: str
    topic_prefix: str
    token: str | None  # an auditor's, given by the operator
    client_file: Path | None  # else the status command's own client of the provider

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @classmethod
    def load(cls, overrides: Sequence[str]) -> Settings:
        default_file = REPO_ROOT / ".local" / "env"
        env_file = Path(os.environ.get("HOSO_STATUS_ENV_FILE") or default_file)
        env = read_env_file(env_file) | dict(os.environ)
        services = {
            name: f"http://127.0.0.1:{env.get(f'{name.upper()}_HTTP_PORT') or port}"
            for name, port in SERVICES.items()
        }
        for item in overrides:
            name, _, url = item.partition("=")
            if name not in SERVICES or not url:
                raise SystemExit(f"--service wants NAME=URL with NAME one of {', '.join(SERVICES)}")
            services[name] = url.rstrip("/")
        return cls(
            services=services,
            kafka=env.get("KAFKA_BOOTSTRAP_SERVERS") or "127.0.0.1:9092",
            topic_prefix=env.get("KAFKA_TOPIC_PREFIX", ""),
            token=env.get("HOSO_STATUS_TOKEN") or None,
            client_file=Path(
                env.get("HOSO_STATUS_CLIENT_FILE") or REPO_ROOT / ".local" / "idp" / "status.json"
            ),
        )

    def auditor_token(self) -> str:
        """Raises ``LookupError`` with the reason when no token can be had."""
        if self.token:
            return self.token
        if self.client_file is None or not self.client_file.is_file():
            raise LookupError(
                "no auditor token: set HOSO_STATUS_TOKEN, or run `make run`, whose identity "
                "provider has a client for this command"
            )
        try:
            client = ClientCredentials.from_file(self.client_file)
            return request_token(client, roles=["auditor"], ttl_s=60, timeout_s=HTTP_TIMEOUT_S)
        except (OSError, ValueError, KeyError) as exc:
            raise LookupError(f"cannot read {self.client_file}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise LookupError(f"the identity provider did not answer ({_reason(exc)})") from exc
        except PermissionError as exc:
            raise LookupError(str(exc)) from exc


# --------------------------------------------------------------------------- services


@dataclass
class ServiceState:
    name: str
    url: str
    state: str  # ready | not ready | down
    detail: str = ""
    metrics: str | None = None


async def service_state(client: httpx.AsyncClient, name: str, url: str) -> ServiceState:
    try:
        ready = await client.get(f"{url}/readyz")
    except httpx.HTTPError as exc:
        return ServiceState(name, url, "down", _reason(exc))
    metrics: str | None = None
    with contextlib.suppress(httpx.HTTPError):
        scraped = await client.get(f"{url}/metrics")
        if scraped.status_code == 200:
            metrics = scraped.text
    if ready.status_code == 200:
        return ServiceState(name, url, "ready", metrics=metrics)
    try:
        checks = ready.json().get("checks", {})
        failing = ", ".join(k for k, ok in checks.items() if not ok) or f"HTTP {ready.status_code}"
    except ValueError:
        failing = f"HTTP {ready.status_code}"
    return ServiceState(name, url, "not ready", f"waiting for {failing}", metrics)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    return type(exc).__name__


# --------------------------------------------------------------------------- Kafka


@dataclass
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int | None
    end: int
    start: int

    @property
    def lag(self) -> int:
        # No commit yet: the group starts from the earliest record, so all of it is lag.
        return max(0, self.end - (self.start if self.committed is None else self.committed))


@dataclass
class KafkaView:
    groups: dict[str, str] = field(default_factory=dict)  # group -> state and members
    lags: list[PartitionLag] = field(default_factory=list)
    dead_letters: dict[str, int] = field(default_factory=dict)
    error: str | None = None


async def kafka_view(settings: Settings) -> KafkaView:
    view = KafkaView()
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka, request_timeout_ms=int(KAFKA_TIMEOUT_S * 1000)
    )
    # A consumer without a group reads partition ends and starts and commits nothing.
    offsets = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka,
        enable_auto_commit=False,
        request_timeout_ms=int(KAFKA_TIMEOUT_S * 1000),
    )
    try:
        await asyncio.wait_for(asyncio.gather(admin.start(), offsets.start()), KAFKA_TIMEOUT_S)
        topics = set(await admin.list_topics())
        committed = {
            group: await admin.list_consumer_group_offsets(settings.topic(group))
            for group in CONSUMER_GROUPS
        }
        dead_letter_topics = {
            group: settings.topic(Topics.dead_letter(group))
            for group in CONSUMER_GROUPS
            if settings.topic(Topics.dead_letter(group)) in topics
        }
        # Every partition of each topic a group has committed on, so that a partition
        # stuck without any commit still shows.
        read = {tp.topic for offsets_of in committed.values() for tp in offsets_of}
        described = await admin.describe_topics(
            sorted((read & topics) | {*dead_letter_topics.values()})
        )
        partitions = {
            d["topic"]: sorted(TopicPartition(d["topic"], p["partition"]) for p in d["partitions"])
            for d in described
            if not d["error_code"]
        }
        wanted = [tp for tps in partitions.values() for tp in tps]
        ends = await offsets.end_offsets(wanted) if wanted else {}
        starts = await offsets.beginning_offsets(wanted) if wanted else {}

        for group in CONSUMER_GROUPS:
            view.groups[group] = await _group_state(admin, settings.topic(group))
            group_topics = sorted({tp.topic for tp in committed[group]} & set(partitions))
            for tp in (tp for topic in group_topics for tp in partitions[topic]):
                at = committed[group].get(tp)
                view.lags.append(
                    PartitionLag(
                        group,
                        tp.topic.removeprefix(settings.topic_prefix),
                        tp.partition,
                        at.offset if at is not None and at.offset >= 0 else None,
                        ends[tp],
                        starts[tp],
                    )
                )
        for group, dlq in dead_letter_topics.items():
            tps = partitions.get(dlq, [])
            view.dead_letters[Topics.dead_letter(group)] = sum(ends[tp] - starts[tp] for tp in tps)
    except (KafkaError, TimeoutError, OSError) as exc:
        view.error = f"Kafka at {settings.kafka} did not answer ({type(exc).__name__})"
    finally:
        with contextlib.suppress(Exception):
            await offsets.stop()
        with contextlib.suppress(Exception):
            await admin.close()
    return view


async def _group_state(admin: AIOKafkaAdminClient, group_id: str) -> str:
    try:
        [response] = await admin.describe_consumer_groups([group_id])
        # DescribeGroups v0+: (error_code, group_id, state, protocol_type, protocol, members…)
        _, _, state, _, _, members, *_ = response.groups[0]
    except (KafkaError, ValueError, IndexError, TypeError):
        return "unknown"
    return f"{state}, {len(members)} member{'s' if len(members) != 1 else ''}"


# --------------------------------------------------------------------------- figures


def overdue_by_agency(metrics_text: str | None) -> dict[str, int] | None:
    if metrics_text is None:
        return None
    found: dict[str, int] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name == "hoso_dossiers_overdue":
            for sample in family.samples:
                found[sample.labels.get("agency", "?")] = int(sample.value)
    return found


async def newest_checkpoint(
    client: httpx.AsyncClient, settings: Settings, audit: ServiceState
) -> str:
    if audit.state == "down":
        return "unknown: audit is down"
    try:
        token = await asyncio.to_thread(settings.auditor_token)
    except LookupError as exc:
        return f"unknown: {exc}"
    try:
        response = await client.get(
            f"{audit.url}/v1/audit/checkpoints/latest",
            headers={"Authorization": f"Bearer {token}"},
        )
    except httpx.HTTPError as exc:
        return f"unknown: {_reason(exc)}"
    if response.status_code == 404:
        return "none yet (the log has not been checkpointed)"
    if response.status_code != 200:
        return f"unknown: audit answered HTTP {response.status_code}"
    checkpoint: dict[str, Any] = response.json()
    issued = checkpoint["issued_at"]
    age = ""
    with contextlib.suppress(ValueError):
        seconds = (datetime.now(UTC) - datetime.fromisoformat(issued)).total_seconds()
        age = f" ({_ago(seconds)})"
    return (
        f"tree size {checkpoint['tree_size']}, issued {issued}{age}, "
        f"key {checkpoint['key_id']}, log {checkpoint['log_id']}"
    )


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{max(0, round(seconds))} s ago"
    if seconds < 5400:
        return f"{round(seconds / 60)} min ago"
    return f"{seconds / 3600:.1f} h ago"


# --------------------------------------------------------------------------- output


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    cells = [list(header)] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]


async def report(settings: Settings) -> tuple[list[str], bool]:
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, trust_env=False) as client:
        states, kafka = await asyncio.gather(
            asyncio.gather(*(service_state(client, n, u) for n, u in settings.services.items())),
            kafka_view(settings),
        )
        by_name = {s.name: s for s in states}
        checkpoint = await newest_checkpoint(client, settings, by_name["audit"])

    now = datetime.now(UTC).isoformat(timespec="seconds")
    prefix = f', topic prefix "{settings.topic_prefix}"' if settings.topic_prefix else ""
    out = [f"hoso status at {now} (Kafka {settings.kafka}{prefix})", ""]
    out += table(
        ("SERVICE", "URL", "STATE", "DETAIL"), [(s.name, s.url, s.state, s.detail) for s in states]
    )

    out.append("")
    if kafka.error:
        out.append(f"consumer lag and dead letters: {kafka.error}")
    else:
        rows = [
            (
                lag.group,
                lag.topic,
                lag.partition,
                "-" if lag.committed is None else lag.committed,
                lag.end,
                lag.lag,
            )
            for lag in kafka.lags
        ]
        if rows:
            out += table(("GROUP", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG"), rows)
            out.append("")
        groups = [
            (
                group,
                state,
                sum(lag.lag for lag in kafka.lags if lag.group == group)
                if any(lag.group == group for lag in kafka.lags)
                else "no offsets committed yet",
            )
            for group, state in kafka.groups.items()
        ]
        out += table(("GROUP", "STATE", "TOTAL LAG"), groups)
        out.append("")
        if kafka.dead_letters:
            out += table(("DEAD-LETTER TOPIC", "RECORDS"), list(kafka.dead_letters.items()))
        else:
            out.append("dead-letter topics: none yet (the services create them at start)")

    out.append("")
    overdue = overdue_by_agency(by_name["processing"].metrics)
    if overdue is None:
        out.append("dossiers overdue: unknown (processing does not answer)")
    elif not overdue:
        out.append("dossiers overdue: not counted yet (processing's first deadline scan)")
    else:
        per_agency: list[tuple[str, int]] = sorted(overdue.items())
        per_agency.append(("total", sum(overdue.values())))
        out += table(("AGENCY", "DOSSIERS OVERDUE"), per_agency)

    out.append("")
    out.append(f"newest audit checkpoint: {checkpoint}")
    healthy = all(s.state == "ready" for s in states) and kafka.error is None
    return out, healthy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="status.py", description="The operators' table of the live system."
    )
    parser.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="where a service answers (default http://127.0.0.1:<its port>)",
    )
    args = parser.parse_args(argv)
    # The table says when Kafka does not answer; aiokafka's own retry messages would
    # only bury it.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    lines, healthy = asyncio.run(report(Settings.load(args.service)))
    print("\n".join(lines))
    return 0 if healthy else 3


if __name__ == "__main__":
    sys.exit(main())
