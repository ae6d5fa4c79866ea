"""One chaos run from start to verdict.

1. Start an SMTP server, an SMS gateway and a portal inbox, and the four services, each
   as several replicas, with a fresh topic prefix and fresh databases.
2. Publish a few poison records (the only ones allowed on a dead-letter topic).
3. At the same time: citizens submit at a steady rate through the intake replicas in
   turn, officers work through the queue through the processing replicas in turn, and
   the monkey kills every replica several times (one at a time, and once a whole
   service), and restarts the broker, FerretDB and PostgreSQL.
4. Wait until everything has settled: every consumer group committed to the end of its
   topics, processing's outbox empty, every delivery sent or failed.
5. Act as the operator on email deliveries that a kill cut off mid-attempt (the service
   marks them failed rather than risk a second email): resend those whose message never
   arrived, and settle again.
6. Read every topic back and compare with the stores and the receivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from cryptography.fernet import Fernet
from pymongo import AsyncMongoClient

from audit.domain.checkpoint import generate_private_key, private_key_to_base64
from bench.chaos_support import verify
from bench.chaos_support.citizens import PORTAL_CLIENTS, Citizens, plan_submissions
from bench.chaos_support.cluster import replication_of
from bench.chaos_support.failover import FailoverProbe
from bench.chaos_support.infra import ChaosInfra
from bench.chaos_support.monkey import Monkey, schedule
from bench.chaos_support.officers import AGENCY, Officers
from bench.chaos_support.plan import SERVICES, Plan, Report
from bench.chaos_support.receivers import GatewayServer, MailServer, tally
from bench.chaos_support.services import Platform, inherited_env
from chassis.auth import mint_token, new_signing_key, publish_jwks
from chassis.events import CONSUMER_GROUPS, Topics
from deploy.launcher.pki import ensure_test_pki

log = logging.getLogger("chaos")

OFFICERS = 4
# Which topics each consumer group reads, for the lag check.
GROUP_TOPICS = {
    "intake": (Topics.LIFECYCLE,),
    "processing": (Topics.SUBMISSIONS,),
    "notification": (Topics.LIFECYCLE,),
    "audit": Topics.ALL,
}
assert set(GROUP_TOPICS) == set(CONSUMER_GROUPS)


class Keys:
    """Every secret of the run, made fresh for it."""

    def __init__(self) -> None:
        self.jwt = new_signing_key()  # the run signs its own tokens; services get the public half
        self.follow_up = secrets.token_urlsafe(32)
        self.identity = Fernet.generate_key().decode()
        self.signing = private_key_to_base64(generate_private_key())
        self.pii = Fernet.generate_key().decode()
        self.pepper = secrets.token_urlsafe(24)
        self.webhook = secrets.token_urlsafe(24)

    def token(self, subject: str, *roles: str, agency: str | None = None) -> str:
        return mint_token(self.jwt, subject, roles, agency=agency, ttl_s=6 * 3600)


def service_env(
    infra: ChaosInfra, prefix: str, keys: Keys, mail: MailServer, gateway: GatewayServer
) -> dict[str, str]:
    # Intake signs each approved dossier's result with the local test PKI's certificate.
    pki = ensure_test_pki(Path(__file__).resolve().parents[2] / ".local")
    return inherited_env() | {
        "INTAKE_SIGNING_PKCS12": str(pki.pkcs12_path),
        "INTAKE_SIGNING_PKCS12_PASSWORD": pki.password,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "MONGODB_URI": infra.mongodb,
        "KAFKA_TOPIC_PREFIX": prefix,
        "KAFKA_REPLICATION_FACTOR": str(infra.replication[0]),
        "KAFKA_MIN_INSYNC_REPLICAS": str(infra.replication[1]),
        "JWT_JWKS_FILE": publish_jwks(keys.jwt),
        "INTAKE_FOLLOW_UP_KEY": keys.follow_up,
        "LOG_JSON": "true",
        "INTAKE_IDENTITY_KEY": keys.identity,
        "AUDIT_SIGNING_KEY": keys.signing,
        "AUDIT_PII_KEY": keys.pii,
        "AUDIT_CHECKPOINT_INTERVAL_S": "5",
        "NOTIFICATION_SMTP_HOST": "127.0.0.1",
        "NOTIFICATION_SMTP_PORT": str(mail.port),
        "NOTIFICATION_SMS_GATEWAY_URL": gateway.sms_url,
        "NOTIFICATION_PORTAL_WEBHOOK_URL": gateway.inbox_url,
        "NOTIFICATION_WEBHOOK_SECRETS": keys.webhook,
        "NOTIFICATION_DELIVERY_KEY_PEPPER": keys.pepper,
        # A delivery cut off by a kill is taken over after this lease; the default of two
        # minutes would only make the run wait.
        "NOTIFICATION_SEND_TIMEOUT_S": "5",
        "NOTIFICATION_SENDING_LEASE_S": "15",
        "NOTIFICATION_RETRY_MAX_S": "10",
    }


async def group_lag(bootstrap: str, prefix: str) -> int:
    """Records on the dossier topics that some consumer group has not committed yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        partitions = await verify.partitions_of(admin, [prefix + t for t in Topics.ALL])
        ends = await consumer.end_offsets(partitions)
        behind = 0
        for group, topics in GROUP_TOPICS.items():
            committed = await admin.list_consumer_group_offsets(prefix + group)
            for tp in partitions:
                if tp.topic.removeprefix(prefix) not in topics:
                    continue
                meta = committed.get(tp)
                offset = meta.offset if meta is not None and meta.offset >= 0 else 0
                behind += max(0, ends[tp] - offset)
        return behind
    finally:
        await consumer.stop()
        await admin.close()


class Probe:
    """Cheap questions to the stores about whether the platform has settled."""

    def __init__(self, infra: ChaosInfra, platform: Platform) -> None:
        self._infra = infra
        self._databases = platform.databases
        self._prefix = platform.prefix

    async def unsettled(self) -> dict[str, int]:
        client: AsyncMongoClient[Any] = AsyncMongoClient(
            self._infra.mongodb, serverSelectionTimeoutMS=5000
        )
        try:
            outbox = await client[self._databases["processing"]]["dossiers"].count_documents(
                {"outbox_pending": True}
            )
            deliveries = await client[self._databases["notification"]][
                "deliveries"
            ].count_documents({"status": {"$nin": ["sent", "failed"]}})
        finally:
            await client.close()
        lag = await group_lag(self._infra.kafka, self._prefix)
        return {"outbox": outbox, "deliveries": deliveries, "lag": lag}

    async def settle(
        self, timeout_s: float, on_poll: Callable[[dict[str, int]], None] | None = None
    ) -> dict[str, int]:
        """Wait until nothing is pending twice in a row; returns what was left if not."""
        deadline = time.monotonic() + timeout_s
        quiet = 0
        left: dict[str, int] = {}
        while time.monotonic() < deadline:
            try:
                left = await self.unsettled()
            except Exception as exc:  # the store or broker may still be coming back
                left = {"probe failed": 1}
                log.info("settle probe failed: %r", exc)
            if on_poll is not None:
                on_poll(left)
            quiet = quiet + 1 if not any(left.values()) else 0
            if quiet >= 2:
                return {}
            # Each probe counts documents across the stores; at a few thousand dossiers
            # that is work the store would rather spend on the platform.
            await asyncio.sleep(4.0)
        return left


class ProgressLine:
    def __init__(
        self, plan: Plan, citizens: Citizens, officers: Officers, monkey: Monkey, mail: MailServer
    ) -> None:
        self._plan = plan
        self._citizens = citizens
        self._officers = officers
        self._monkey = monkey
        self._mail = mail
        self.phase = "load"
        self.pending: dict[str, int] = {}
        self._tty = sys.stderr.isatty()

    def line(self, started: float) -> str:
        c = self._citizens.tally
        kills = "/".join(str(self._monkey.tally.kills_of(name)) for name in SERVICES)
        return (
            f"[{time.monotonic() - started:5.0f} s {self.phase:>8}] "
            f"submitted {c.submitted}/{self._plan.dossiers} accepted {c.accepted} "
            f"finished {len(self._officers.tally.finished)} | kills i/p/n/a {kills} "
            f"broker {self._monkey.tally.broker_restarts} store "
            f"{self._monkey.tally.store_restarts} pg {self._monkey.tally.postgres_restarts} "
            f"| emails {len(self._mail.arrivals())}"
            + (f" | pending {self.pending}" if self.pending else "")
        )

    async def run(self, started: float) -> None:
        every = 1.0 if self._tty else 10.0
        while True:
            text = self.line(started)
            if self._tty:
                sys.stderr.write("\r" + text.ljust(120))
            else:
                sys.stderr.write(text + "\n")
            sys.stderr.flush()
            await asyncio.sleep(every)

    def finish(self, started: float) -> None:
        sys.stderr.write(("\r" if self._tty else "") + self.line(started) + "\n")
        sys.stderr.flush()


async def inject_poison(infra: ChaosInfra, prefix: str, count: int) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka, acks="all")
    await producer.start()
    try:
        for n, (value, reason) in enumerate(verify.poison_records(count)):
            await producer.send_and_wait(
                prefix + Topics.SUBMISSIONS,
                value,
                key=f"poison-{n}".encode(),
                headers=[(verify.POISON_HEADER, reason.encode())],
            )
    finally:
        await producer.stop()
    # Processing and audit both read the submissions topic: each dead-letters a copy.
    return count * sum(1 for topics in GROUP_TOPICS.values() if Topics.SUBMISSIONS in topics)


async def operator_resends(
    notification: Callable[[], str], operator_token: str, arrived_email_ids: set[str]
) -> tuple[set[str], int]:
    """Failed email deliveries cut off by a kill: resend those whose mail never arrived.
    Each request goes to the notification replica ``notification()`` names.

    Returns the interrupted deliveries and how many were resent."""
    interrupted: set[str] = set()
    resent = 0
    headers = {"Authorization": f"Bearer {operator_token}"}
    async with httpx.AsyncClient(timeout=30) as client:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"status": "failed", "channel": "email", "limit": 200}
            if cursor:
                params["cursor"] = cursor
            response = await client.get(
                f"{notification()}/v1/deliveries", params=params, headers=headers
            )
            response.raise_for_status()
            page = response.json()
            for delivery in page["items"]:
                outcomes = {attempt["outcome"] for attempt in delivery["history"]}
                if "interrupted" not in outcomes:
                    continue
                interrupted.add(delivery["id"])
                if delivery["id"] in arrived_email_ids:
                    continue  # the server took it before the kill: the citizen has it
                answer = await client.post(
                    f"{notification()}/v1/deliveries/{delivery['id']}/resend", headers=headers
                )
                if answer.status_code == 202:
                    resent += 1
            cursor = page.get("next_cursor")
            if not cursor:
                return interrupted, resent


async def drop(infra: ChaosInfra, platform: Platform) -> None:
    """Delete the run's topics and databases, leaving everybody else's alone."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb)
    try:
        for name in platform.databases.values():
            await client.drop_database(name)
    finally:
        await client.close()
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(platform.prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


async def run_chaos(plan: Plan, infra: ChaosInfra, *, keep: bool = False) -> Report:
    began = time.monotonic()
    rng = random.Random(plan.seed)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run = f"chaos{stamp[2:8]}{secrets.token_hex(3)}"
    prefix = f"{run}."
    work_dir = Path(plan.work_dir) / f"{stamp}-{run}"
    work_dir.mkdir(parents=True, exist_ok=True)
    report = Report(plan={k: str(v) for k, v in asdict(plan).items()}, infra=infra.how)
    report.replication_asked = infra.replication[0]
    if not infra.restartable:
        report.restarts_skipped = infra.why_not_restartable

    keys = Keys()
    mail, gateway = MailServer(), GatewayServer()
    mail.start()
    gateway.start()
    platform = Platform(
        service_env(infra, prefix, keys, mail, gateway), prefix, work_dir, plan.replicas
    )
    report.replicas = plan.replicas
    failover: FailoverProbe | None = None
    try:
        await platform.start()
        report.phases_s["start"] = round(time.monotonic() - began, 1)
        expected_poison = await inject_poison(infra, prefix, plan.poison)

        portal_tokens = [keys.token(f"portal-{n}", "portal") for n in range(PORTAL_CLIENTS)]
        officer_tokens = {
            f"officer-{n}": keys.token(f"officer-{n}", "officer", agency=AGENCY)
            for n in range(OFFICERS)
        }
        citizens = Citizens(
            plan, platform.urls("intake"), portal_tokens, plan_submissions(plan, run, rng)
        )
        officers = Officers(
            platform.urls("processing"),
            officer_tokens,
            plan.officers,
            submissions_done=lambda: citizens.tally.done,
            accepted=lambda: set(citizens.accepted),
            claim=plan.claim,
        )
        if infra.cluster is not None:
            failover = FailoverProbe(
                infra.kafka,
                f"{prefix}failover-probe",
                infra.replication,
                producers=plan.probe_producers,
                consumers=plan.probe_consumers,
            )
            await failover.start()
        monkey = Monkey(
            platform, infra, schedule(plan, infra, rng), failover, down_s=plan.broker_down_s
        )
        progress = ProgressLine(plan, citizens, officers, monkey, mail)

        interrupted: set[str] = set()
        load_started = time.monotonic()
        deadline = load_started + plan.load_s + plan.drain_timeout_s
        ticker = asyncio.create_task(progress.run(load_started))
        try:
            await asyncio.gather(citizens.run(), monkey.run(load_started), officers.run(deadline))
            if failover is not None:
                await failover.stop_producing()
            report.phases_s["load and work"] = round(time.monotonic() - load_started, 1)
            progress.phase = "settle"
            probe = Probe(infra, platform)

            def show(left: dict[str, int]) -> None:
                progress.pending = left

            left = await probe.settle(max(30.0, deadline - time.monotonic()), show)
            if left:
                report.failures.append(f"the platform did not settle: {left}")
            progress.phase = "operator"
            arrived_email = {a.delivery_id for a in mail.arrivals()}
            interrupted, resent = await operator_resends(
                lambda: platform.any_url("notification"),
                keys.token("operator-1", "operator"),
                arrived_email,
            )
            report.interrupted_deliveries, report.operator_resends = len(interrupted), resent
            if resent:
                left = await probe.settle(120.0, show)
                if left:
                    report.failures.append(f"resent deliveries did not settle: {left}")
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            progress.finish(load_started)
        if failover is not None:
            await failover.drain()
            report.failover = asdict(failover.figures())
        report.phases_s["settle"] = round(
            time.monotonic() - load_started - report.phases_s.get("load and work", 0.0), 1
        )

        # The last replica killed may still be starting; the checks below ask every one.
        try:
            await asyncio.gather(*(s.wait_ready() for s in platform.instances))
        except (RuntimeError, TimeoutError) as exc:
            report.failures.append(f"not every replica came back: {exc}".splitlines()[0])
        arrivals = tally(mail.arrivals() + gateway.arrivals())
        await _tally(
            report, infra, platform, keys, citizens, officers, monkey, arrivals, interrupted
        )
        report.dead_letters_injected = min(report.dead_letters_injected, expected_poison)
        if report.dead_letters_injected < expected_poison:
            report.failures.append(
                f"only {report.dead_letters_injected} of {expected_poison} poison records "
                "reached a dead-letter topic"
            )
        (work_dir / "monkey.log").write_text("\n".join(monkey.tally.log) + "\n")
    finally:
        if failover is not None:
            await failover.cancel()
        platform.stop()
        mail.stop()
        gateway.stop()
        if not keep:
            with contextlib.suppress(Exception):
                await drop(infra, platform)
    report.wall_s = round(time.monotonic() - began, 1)
    report.check()
    return report


async def _tally(
    report: Report,
    infra: ChaosInfra,
    platform: Platform,
    keys: Keys,
    citizens: Citizens,
    officers: Officers,
    monkey: Monkey,
    arrived: Counter[tuple[str, str]],
    handled_deliveries: set[str],
) -> None:
    report.submitted = citizens.tally.submitted
    report.accepted = citizens.tally.accepted
    report.refused = dict(citizens.tally.refused)
    report.submit_retries = citizens.tally.retries
    report.officer_retries = dict(officers.tally.retries)
    report.kills = dict(monkey.tally.kills)
    report.outages = dict(monkey.tally.outages)
    report.broker_restarts = monkey.tally.broker_restarts
    report.broker_kills = monkey.tally.broker_kills
    report.broker_rolls = monkey.tally.broker_rolls
    report.store_restarts = monkey.tally.store_restarts
    report.postgres_restarts = monkey.tally.postgres_restarts
    report.failures.extend(monkey.tally.failures)

    accepted = set(citizens.accepted)
    found = await verify.statuses(infra.mongodb, platform.databases["processing"], accepted)
    report.finished = found.get("result_returned", 0)
    report.lost = len(accepted) - report.finished
    if report.lost:
        report.failures.append(f"statuses of unfinished dossiers: {dict(found)}")

    names = [platform.prefix + t for t in Topics.ALL]
    names += [platform.prefix + Topics.dead_letter(g) for g in CONSUMER_GROUPS]
    copies = await replication_of(infra.kafka, names)
    report.topic_replication = min(copies.values(), default=0)
    records = await verify.read_topics(infra.kafka, names)
    facts = verify.topic_facts(platform.prefix, records, handled_deliveries)
    report.events_on_topics = len(facts.events)
    report.republished_events = facts.republished
    report.dead_letters = facts.dead_letters
    report.dead_letters_injected = facts.injected_dead_letters
    report.dead_letters_handled = facts.handled_dead_letters
    report.unexpected_dead_letters = facts.unexpected_dead_letters
    for reason, count in facts.unexpected_reasons.most_common(5):
        report.failures.append(f"dead letter x{count}: {reason}")

    expected = verify.expected_notices(facts, keys.pepper.encode())
    notices = verify.compare_notices(expected, arrived)
    report.notices_expected = dict(notices.expected)
    report.notices_delivered = dict(notices.delivered)
    report.notices_missing = len(notices.missing)
    report.duplicated_emails = notices.duplicated_emails
    report.duplicated_notices = notices.duplicated_notices
    report.retransmissions_dropped = notices.retransmissions_dropped

    audit = await verify.audit_facts(infra.mongodb, platform.databases["audit"], set(facts.events))
    report.audit_entries = audit.entries
    report.duplicated_audit_entries = audit.duplicated
    report.missing_from_audit = len(audit.missing)
    report.unknown_in_audit = len(audit.unknown)

    # Every audit replica wrote into the one chain; each must find it whole.
    auditor = {"Authorization": f"Bearer {keys.token('auditor-1', 'auditor')}"}
    async with httpx.AsyncClient(timeout=600) as client:
        verdicts = []
        for url in platform.urls("audit"):
            answer = await client.get(f"{url}/v1/audit/verify", headers=auditor)
            ok = answer.status_code == 200 and bool(answer.json().get("ok"))
            verdicts.append(ok)
            if not ok:
                report.failures.append(
                    f"verify at {url} answered {answer.status_code}: {answer.text[:300]}"
                )
        report.audit_verified = all(verdicts)
        key = await client.get(f"{platform.any_url('audit')}/v1/audit/public-key.pem")
    report.audit_cli_verified = await asyncio.to_thread(
        verify.cli_verify, infra.mongodb, platform.databases["audit"], key.content, platform.log_dir
    )
    behind = await verify.projection_behind(infra.mongodb, platform.databases["intake"], accepted)
    report.intake_projection_behind = len(behind)
