"""Hypothesis-generated garbage on every consumed topic, with valid events in between.

Each example publishes a mix of records no consumer can handle (random bytes, JSON of
the wrong shape, envelopes with wrong types, unknown event types, known types with bad
data, empty values, one payload at the broker's maximum size) with missing, random or
forged headers, across the three dossier topics, and puts two valid events somewhere in
the mix. Then every garbage record must be on the dead-letter topic of every group that
reads its topic, with that group's reason, and the valid events must have been handled
all the same: the dossier exists in processing, the citizen got the notice, audit
recorded both.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import hypothesis.strategies as st
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import MessageSizeTooLargeError
from hypothesis import HealthCheck, Phase, given, settings

from chassis import events
from chassis.events import (
    EVENT_TYPES,
    Applicant,
    ApplicantType,
    Attachment,
    Channel,
    DossierKind,
    DossierStatusChanged,
    DossierSubmitted,
    PoisonMessage,
    Recipient,
    Topics,
    make_event,
)
from tests.fuzz.fuzz_platform import AGENCY_A, RunningPlatform

pytestmark = pytest.mark.fuzz

# Which consumer group reads which topic (each service's main.py).
READERS = {
    Topics.SUBMISSIONS: ("processing", "audit"),
    Topics.LIFECYCLE: ("intake", "notification", "audit"),
    Topics.NOTIFICATIONS: ("audit",),
}
MARKER = "fuzz-case"
FORGED_REASON = b"forged: nothing wrong here"
WAIT_S = 90.0


# --------------------------------------------------------------------------- garbage


def is_poison(value: bytes | None) -> bool:
    try:
        events.decode(value)
    except PoisonMessage:
        return True
    return False


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def envelope_template() -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/fuzz",
        "type": "dossier.withdrawal-requested.v1",
        "subject": "fuzz",
        "time": "2026-01-05T08:00:00Z",
        "datacontenttype": "application/json",
        "actor": "citizen:fuzz",
        "data": {
            "dossier_id": "fuzz-dossier",
            "receipt_code": "MT-260105-AAAAAAA",
            "requested_at": "2026-01-05T08:00:00Z",
        },
    }


@st.composite
def wrong_typed_envelope(draw: st.DrawFn) -> bytes:
    document = envelope_template()
    name = draw(st.sampled_from(sorted(document)))
    if draw(st.booleans()):
        document[name] = draw(json_values)
    else:
        del document[name]
    return json.dumps(document).encode()


@st.composite
def unknown_type_envelope(draw: st.DrawFn) -> bytes:
    document = envelope_template()
    document["type"] = draw(st.text(min_size=1, max_size=60).filter(lambda t: t not in EVENT_TYPES))
    return json.dumps(document).encode()


@st.composite
def bad_data_envelope(draw: st.DrawFn) -> bytes:
    document = envelope_template()
    document["type"] = draw(st.sampled_from(sorted(EVENT_TYPES)))
    document["data"] = draw(st.dictionaries(st.text(max_size=12), json_values, max_size=5))
    return json.dumps(document).encode()


garbage_values = st.one_of(
    st.binary(max_size=3000),
    json_values.map(lambda v: json.dumps(v).encode()),
    wrong_typed_envelope(),
    unknown_type_envelope(),
    bad_data_envelope(),
    st.none(),
).filter(is_poison)

forged_header = st.one_of(
    st.tuples(st.just("content-type"), st.binary(max_size=40)),
    st.tuples(st.just("ce_type"), st.sampled_from(sorted(EVENT_TYPES)).map(str.encode)),
    st.tuples(st.just("ce_id"), st.binary(max_size=40)),
    st.tuples(st.just("traceparent"), st.binary(max_size=60)),
    st.tuples(st.just("dlq_reason"), st.just(FORGED_REASON)),
    st.tuples(st.text(min_size=1, max_size=20), st.binary(max_size=50)),
)


@dataclass(frozen=True)
class Garbage:
    topic: str
    value: bytes | None
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]


def _keyed_tombstone(item: Garbage) -> Garbage:
    # A Kafka record has a key or a value; an empty value (a tombstone) needs the key.
    if item.value is None and item.key is None:
        return Garbage(item.topic, None, b"tombstone", item.headers)
    return item


garbage_records = st.builds(
    Garbage,
    topic=st.sampled_from(sorted(READERS)),
    value=garbage_values,
    key=st.none() | st.binary(min_size=1, max_size=40),
    headers=st.lists(forged_header, max_size=4).map(tuple),
).map(_keyed_tombstone)


# --------------------------------------------------------------------------- valid traffic


def valid_submission() -> tuple[str, bytes]:
    dossier_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    data = DossierSubmitted(
        dossier_id=dossier_id,
        receipt_code=f"MT-260105-{secrets.token_hex(3).upper()}",
        procedure_code="MT-004",
        agency=AGENCY_A,
        kind=DossierKind.PROCEDURE,
        channel=Channel.ONLINE,
        submitted_at=now,
        due_date=date(2026, 2, 1),
        applicant=Applicant(type=ApplicantType.PERSON, name="Fuzz", email="fuzz@example.vn"),
        form={"facility_name": "x", "facility_address": "y", "waste_items": []},
        attachments=[
            Attachment(
                document_code=code,
                name=f"{code}.pdf",
                media_type="application/pdf",
                size=1000,
                sha256="0" * 64,
            )
            for code in ("application_form", "business_registration")
        ],
    )
    return dossier_id, events.encode(make_event(data, source="/fuzz", actor="portal:fuzz"))


def valid_status_change(email: str) -> tuple[str, str, bytes]:
    dossier_id = str(uuid.uuid4())
    data = DossierStatusChanged(
        dossier_id=dossier_id,
        receipt_code=f"MT-260105-{secrets.token_hex(3).upper()}",
        procedure_code="MT-004",
        procedure_name_vi="Đăng ký chủ nguồn thải chất thải nguy hại",
        procedure_name_en="Registration of a hazardous waste source owner",
        agency=AGENCY_A,
        agency_name_vi="Chi cục Bảo vệ môi trường",
        agency_name_en="Environmental Protection Sub-department",
        old_status="submitted",
        new_status="received",
        action="receive",
        occurred_at=datetime.now(UTC),
        version=1,
        recipient=Recipient(display_name="Fuzz", email=email),
    )
    envelope = make_event(data, source="/fuzz", actor="system:processing")
    return dossier_id, envelope.id, events.encode(envelope)


# --------------------------------------------------------------------------- the broker


async def max_message_bytes(platform: RunningPlatform, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=platform.kafka)
    await admin.start()
    try:
        [answer] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        for resource in answer.resources:
            for entry in resource[4]:
                if entry[0] == "max.message.bytes":
                    return int(entry[1])
    finally:
        await admin.close()
    raise AssertionError(f"the broker names no max.message.bytes for {topic}")


async def dead_letter_ends(platform: RunningPlatform) -> dict[str, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=platform.kafka)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(platform.topic_prefix + Topics.dead_letter(g), 0)
            for g in events.CONSUMER_GROUPS
        ]
        ends = await consumer.end_offsets(partitions)
        return {tp.topic: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def read_dead_letters(
    platform: RunningPlatform, since: dict[str, int], wanted: set[tuple[str, str]]
) -> dict[tuple[str, str], list[tuple[str, bytes]]]:
    """(group, case) → headers of its dead letter, for the wanted ones, waiting for them."""
    consumer = AIOKafkaConsumer(bootstrap_servers=platform.kafka, enable_auto_commit=False)
    await consumer.start()
    found: dict[tuple[str, str], list[tuple[str, bytes]]] = {}
    try:
        partitions = [TopicPartition(topic, 0) for topic in since]
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, since[tp.topic])
        deadline = time.monotonic() + WAIT_S
        while not wanted <= set(found) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                group = tp.topic.removeprefix(platform.topic_prefix).removesuffix(".dlq")
                for record in records:
                    headers = list(record.headers or ())
                    case = dict(headers).get(MARKER)
                    if case is not None:
                        found[(group, case.decode())] = headers
    finally:
        await consumer.stop()
    return found


async def publish(
    platform: RunningPlatform, records: list[tuple[str, bytes | None, bytes | None, list[Any]]]
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=platform.kafka, acks="all", max_request_size=4 * 1024 * 1024
    )
    await producer.start()
    try:
        for topic, value, key, headers in records:
            await producer.send_and_wait(
                platform.topic_prefix + topic, value, key=key, headers=headers
            )
    finally:
        await producer.stop()


async def publish_largest(platform: RunningPlatform, topic: str, headers: list[Any]) -> int:
    """A garbage value as large as the broker takes on ``topic``; returns its size."""
    limit = await max_message_bytes(platform, platform.topic_prefix + topic)
    size = limit - 150
    while True:
        value = b'{"specversion": "1.0", "pad": "' + b"x" * size + b'"}'
        try:
            await publish(platform, [(topic, value, b"huge", headers)])
            return len(value)
        except MessageSizeTooLargeError:
            size -= 100


# --------------------------------------------------------------------------- the checks


async def valid_traffic_handled(
    platform: RunningPlatform, submitted_id: str, changed_id: str, event_ids: set[str], email: str
) -> None:
    officer = platform.token("fuzz-officer", "officer", agency=AGENCY_A)
    auditor = platform.token("fuzz-auditor", "auditor")
    deadline = time.monotonic() + WAIT_S
    missing = ["dossier in processing", "notice", "audit entries"]
    async with httpx.AsyncClient(timeout=10) as client:
        while missing and time.monotonic() < deadline:
            missing = []
            view = await client.get(
                f"{platform.url('processing')}/v1/officer/dossiers/{submitted_id}", headers=officer
            )
            if view.status_code != 200:
                missing.append("dossier in processing")
            if not platform.mail.to(email):
                missing.append("notice")
            recorded: set[str] = set()
            for dossier_id in (submitted_id, changed_id):
                trail = await client.get(
                    f"{platform.url('audit')}/v1/audit/dossiers/{dossier_id}", headers=auditor
                )
                if trail.status_code == 200:
                    recorded |= {e["event_id"] for e in trail.json()["entries"]}
            if not event_ids <= recorded:
                missing.append("audit entries")
            if missing:
                await asyncio.sleep(1.0)
    assert not missing, f"valid events among the garbage were not handled: {missing}"


async def one_round(
    platform: RunningPlatform, garbage: list[Garbage], where: tuple[int, int]
) -> None:
    round_id = secrets.token_hex(4)
    since = await dead_letter_ends(platform)
    expected: set[tuple[str, str]] = set()
    records: list[tuple[str, bytes | None, bytes | None, list[Any]]] = []
    for n, item in enumerate(garbage):
        case = f"{round_id}-{n}"
        records.append((item.topic, item.value, item.key, [*item.headers, (MARKER, case.encode())]))
        expected |= {(group, case) for group in READERS[item.topic]}

    # The valid events carry forged trace headers too: they must be handled regardless.
    submitted_id, submitted = valid_submission()
    email = f"fuzz.{round_id}@example.vn"
    changed_id, change_id, changed = valid_status_change(email)
    bogus = [("traceparent", b"00-zz-zz-zz"), ("ce_type", b"dossier.teleported.v1")]
    records.insert(where[0] % (len(records) + 1), (Topics.SUBMISSIONS, submitted, None, bogus))
    records.insert(where[1] % (len(records) + 1), (Topics.LIFECYCLE, changed, None, bogus))
    await publish(platform, records)

    huge_case = f"{round_id}-huge"
    huge_topic = sorted(READERS)[len(garbage) % len(READERS)]
    size = await publish_largest(platform, huge_topic, [(MARKER, huge_case.encode())])
    expected |= {(group, huge_case) for group in READERS[huge_topic]}

    found = await read_dead_letters(platform, since, expected)
    absent = sorted(expected - set(found))
    assert not absent, f"not dead-lettered (group, case): {absent}; the huge one was {size} B"
    for (group, case), headers in found.items():
        reasons = [v for k, v in headers if k == "dlq_reason"]
        assert len(reasons) == 1, (group, case, headers)
        assert reasons[0], (group, case)
        assert reasons[0] != FORGED_REASON, "a forged dlq_reason header survived"
        assert ("dlq_group", group.encode()) in headers, (group, case, headers)
        truncated = dict(headers).get("dlq_value_truncated")
        if truncated is not None:
            # Only a record too large to copy whole is cut, and it says how large it was.
            assert case == huge_case, (group, case)
            assert int(truncated) == size, (truncated, size)

    submitted_event = events.decode(submitted)[0].id
    await valid_traffic_handled(
        platform, submitted_id, changed_id, {submitted_event, change_id}, email
    )


@settings(
    max_examples=3,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(
    garbage=st.lists(garbage_records, min_size=12, max_size=24),
    where=st.tuples(st.integers(0, 30), st.integers(0, 30)),
)
def test_garbage_goes_to_dead_letters_while_valid_events_flow(
    fuzz_platform: RunningPlatform, garbage: list[Garbage], where: tuple[int, int]
) -> None:
    asyncio.run(one_round(fuzz_platform, garbage, where))
