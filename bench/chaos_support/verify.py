"""What is on the topics, in the stores and in the receivers once the run has settled,
and the invariants over them.

The expected notices are computed with the notification policy itself (which statuses
are announced, on which channels, under which delivery id) from the status changes that
processing actually published, so the comparison follows the policy rather than a copy
of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from chassis import events
from chassis.events import CONSUMER_GROUPS, EVENT_TYPES, PoisonMessage, Topics
from notification.domain.policy import (
    NotificationDomainError,
    address_for,
    as_recipient,
    decide_channels,
    delivery_key,
)

POISON_HEADER = "chaos_poison"
NOTICE_TYPES = ("dossier.status-changed.v1", "dossier.overdue.v1", "dossier.apology-issued.v1")


@dataclass
class TopicRecord:
    topic: str
    value: bytes | None
    headers: dict[str, bytes]


async def partitions_of(admin: AIOKafkaAdminClient, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of those of ``topics`` that exist."""
    existing = set(await admin.list_topics())
    present = [t for t in topics if t in existing]
    if not present:
        return []
    described = await admin.describe_topics(present)
    return [
        TopicPartition(topic["topic"], part["partition"])
        for topic in described
        for part in topic["partitions"]
    ]


async def read_topics(bootstrap: str, topics: Iterable[str]) -> dict[str, list[TopicRecord]]:
    """Every record on ``topics`` from the first offset to the current end."""
    wanted = list(topics)
    found: dict[str, list[TopicRecord]] = {t: [] for t in wanted}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        partitions = await partitions_of(admin, wanted)
    finally:
        await admin.close()
    if not partitions:
        return found
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=5000)
            for tp, records in batch.items():
                for record in records:
                    headers = dict(record.headers or ())
                    found[tp.topic].append(TopicRecord(tp.topic, record.value, headers))
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return found


@dataclass
class TopicFacts:
    # Distinct valid events on the three dossier topics, by id.
    events: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    republished: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    injected_dead_letters: int = 0
    # Failed deliveries that notification reports on its dead-letter topic for an
    # operator, and that the operator has dealt with.
    handled_dead_letters: int = 0
    unexpected_dead_letters: int = 0
    unexpected_reasons: Counter[str] = field(default_factory=Counter)


def topic_facts(
    prefix: str, records: dict[str, list[TopicRecord]], handled_deliveries: set[str]
) -> TopicFacts:
    facts = TopicFacts()
    seen: Counter[str] = Counter()
    for name in Topics.ALL:
        for record in records.get(prefix + name, []):
            try:
                envelope, _ = events.decode(record.value)
            except PoisonMessage:
                continue  # the run's own poison, or a fuzzer's; not an event
            seen[envelope.id] += 1
            facts.events[envelope.id] = (envelope.type, envelope.data)
    facts.republished = sum(1 for count in seen.values() if count > 1)
    for group in CONSUMER_GROUPS:
        topic = prefix + Topics.dead_letter(group)
        letters = records.get(topic, [])
        facts.dead_letters[Topics.dead_letter(group)] = len(letters)
        for letter in letters:
            delivery = letter.headers.get("dlq_delivery_id", b"").decode(errors="replace")
            if POISON_HEADER in letter.headers:
                facts.injected_dead_letters += 1
            elif delivery and delivery in handled_deliveries:
                facts.handled_dead_letters += 1
            else:
                facts.unexpected_dead_letters += 1
                reason = letter.headers.get("dlq_reason", b"").decode(errors="replace")
                facts.unexpected_reasons[f"{group}: {reason[:160]}"] += 1
    return facts


@dataclass(frozen=True)
class Notice:
    dossier_id: str
    status: str | None
    channel: str


def expected_notices(facts: TopicFacts, pepper: bytes | None) -> dict[tuple[str, str], Notice]:
    """(channel, delivery id) of every notice the policy calls for."""
    expected: dict[tuple[str, str], Notice] = {}
    for event_id, (event_type, data) in facts.events.items():
        if event_type not in NOTICE_TYPES:
            continue
        new_status = data.get("new_status")
        recipient = as_recipient(data.get("recipient") or {})
        try:
            channels = decide_channels(event_type, new_status, recipient)
        except NotificationDomainError:
            continue
        for channel in channels:
            address = address_for(channel, recipient)
            if address is None:
                continue
            key = delivery_key(event_id, channel, address, pepper=pepper)
            expected[(channel.value, key)] = Notice(data["dossier_id"], new_status, channel.value)
    return expected


@dataclass
class NoticeFacts:
    expected: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)
    missing: list[tuple[str, str]] = field(default_factory=list)
    duplicated_emails: int = 0
    duplicated_notices: int = 0
    retransmissions_dropped: int = 0


def compare_notices(
    expected: dict[tuple[str, str], Notice], arrived: Counter[tuple[str, str]]
) -> NoticeFacts:
    facts = NoticeFacts()
    for channel, _ in expected:
        facts.expected[channel] += 1
    per_notice: Counter[Notice] = Counter()
    for key, count in arrived.items():
        channel, _ = key
        notice = expected.get(key)
        if notice is None:
            # Nothing the policy asked for: a second notice under another id, or garbage.
            facts.duplicated_notices += count
            continue
        facts.delivered[channel] += 1
        per_notice[notice] += 1
        if count > 1:
            if channel == "email":
                # SMTP has no idempotency key: every copy reached the citizen's mailbox.
                facts.duplicated_emails += count - 1
                facts.duplicated_notices += count - 1
            else:
                # The gateway and the inbox drop a delivery id they have seen.
                facts.retransmissions_dropped += count - 1
    facts.duplicated_notices += sum(n - 1 for n in per_notice.values() if n > 1)
    facts.missing = [key for key in expected if key not in arrived]
    return facts


@dataclass
class AuditFacts:
    entries: int
    duplicated: int
    missing: set[str]
    unknown: set[str]


async def audit_facts(mongodb: str, database: str, topic_ids: set[str]) -> AuditFacts:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb, serverSelectionTimeoutMS=10_000)
    try:
        cursor = client[database]["audit_entries"].find({}, {"event_id": 1})
        counts = Counter([str(doc.get("event_id")) async for doc in cursor])
    finally:
        await client.close()
    recorded = set(counts)
    return AuditFacts(
        entries=sum(counts.values()),
        duplicated=sum(n - 1 for n in counts.values() if n > 1),
        missing=topic_ids - recorded,
        unknown=recorded - topic_ids,
    )


async def projection_behind(mongodb: str, database: str, dossier_ids: set[str]) -> set[str]:
    """Accepted dossiers whose status, as a citizen looks it up, is not the final one."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb, serverSelectionTimeoutMS=10_000)
    try:
        cursor = client[database]["statuses"].find({"status": "result_returned"}, {"_id": 1})
        done = {str(doc["_id"]) async for doc in cursor}
    finally:
        await client.close()
    return dossier_ids - done


async def statuses(mongodb: str, database: str, dossier_ids: set[str]) -> Counter[str]:
    """Processing's status of each dossier, counted; "absent" for one it never created."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb, serverSelectionTimeoutMS=10_000)
    try:
        cursor = client[database]["dossiers"].find({}, {"status": 1})
        found = {str(doc["_id"]): str(doc.get("status")) async for doc in cursor}
    finally:
        await client.close()
    return Counter(found.get(d, "absent") for d in dossier_ids)


def cli_verify(mongodb: str, database: str, public_key_pem: bytes, work_dir: Path) -> bool:
    """The auditors' offline tool, run on the stored log with the service's public key."""
    key_file = work_dir / "audit-public-key.pem"
    key_file.write_bytes(public_key_pem)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "audit.cli",
            "verify-store",
            "--database",
            database,
            "--public-key",
            str(key_file),
        ],
        env={"MONGODB_URI": mongodb, "PATH": ""},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    (work_dir / "audit-cli-verify.txt").write_text(result.stdout + result.stderr)
    return result.returncode == 0


def poison_records(count: int) -> list[tuple[bytes, str]]:
    """Records no consumer can handle, each with a reason it must be refused for."""
    shapes: list[tuple[bytes, str]] = [
        (b"\x00\xffnot json at all", "not JSON"),
        (json.dumps({"specversion": "1.0", "id": "x"}).encode(), "not an envelope"),
        (
            json.dumps(
                {
                    "specversion": "1.0",
                    "id": "chaos-poison-unknown-type",
                    "source": "/chaos",
                    "type": "dossier.teleported.v1",
                    "time": "2026-01-01T00:00:00Z",
                    "actor": "system:chaos",
                    "data": {},
                }
            ).encode(),
            "unknown type",
        ),
    ]
    assert set(EVENT_TYPES).isdisjoint({"dossier.teleported.v1"})
    return [shapes[i % len(shapes)] for i in range(count)]
