"""The operators' view of the running platform: one trace per dossier across the four
services and Kafka, an officer's action as its own linked trace, metrics that move,
logs that carry the trace id, the status command, and no personal data in any of it.

Every service runs as several replicas (``HOSO_E2E_REPLICAS``): requests are spread over
them, and what is read back (spans, logs, metrics) is read from every one."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from chassis.events import Topics
from tests.e2e.conftest import Platform
from tests.e2e.observability_support import (
    SENT_PERSONAL_DATA,
    SERVICES,
    Samples,
    ZipkinSpan,
    denunciation,
    log_lines,
    merged,
    new_applicant,
    personal_data_in,
    scrape_replicas,
    series,
    total,
    traceparent,
    waste_registration,
    zipkin_trace,
    zipkin_traces_tagged,
)
from tests.support.services import free_port
from tests.support.tokens import bearer
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MT = "STNMT-MT"  # the agency that handles MT-004
INSPECTORATE = "STNMT-TTR"  # the agency that handles denunciations
# Whose turn it is among a service's replicas, so that the tests' requests are spread
# over all of them as a load balancer would.
_TURNS = itertools.count()


def _portal(jwt_secret: str) -> dict[str, str]:
    return bearer(jwt_secret, "portal-observability", "portal")


async def _submit(
    client: httpx.AsyncClient,
    platform: Platform,
    body: dict[str, Any],
    headers: dict[str, str],
    intake: str | None = None,
) -> dict[str, Any]:
    """Submit through ``intake`` (an address), else through the next intake replica."""
    url = intake or platform.url_of("intake", next(_TURNS))
    response = await client.post(f"{url}/v1/dossiers", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return dict(response.json())


async def _audited(
    client: httpx.AsyncClient, platform: Platform, jwt_secret: str, dossier_id: str, count: int
) -> list[dict[str, Any]]:
    auditor = bearer(jwt_secret, "auditor-observability", "auditor")

    async def trail() -> list[dict[str, Any]] | None:
        audit = platform.url_of("audit", next(_TURNS))
        response = await client.get(f"{audit}/v1/audit/dossiers/{dossier_id}", headers=auditor)
        assert response.status_code == 200, response.text
        entries = response.json()["entries"]
        return entries if len(entries) >= count else None

    return await eventually(trail, what=f"{count} audit entries of {dossier_id}")


def _producer_of(consumer: ZipkinSpan, spans: dict[str, ZipkinSpan]) -> ZipkinSpan:
    """The consumer span's parent, checked to be the producer of the very same message."""
    assert consumer.parent_id in spans, f"{consumer.name} of {consumer.service} has no parent"
    producer = spans[consumer.parent_id]
    assert producer.kind == "PRODUCER", (consumer, producer)
    for tag in ("messaging.destination.name", "messaging.message.id"):
        assert producer.tags[tag] == consumer.tags[tag], (tag, producer, consumer)
    return producer


def _check_messaging_conventions(span: ZipkinSpan, group_prefix: str) -> None:
    tags = span.tags
    assert tags["messaging.system"] == "kafka"
    assert tags["messaging.destination.name"].startswith(group_prefix)
    assert tags["messaging.destination.partition.id"].isdigit()
    assert tags["messaging.kafka.offset"].isdigit()
    assert tags["messaging.message.id"]
    assert tags["messaging.kafka.message.key"]
    if span.kind == "PRODUCER":
        assert (tags["messaging.operation.type"], tags["messaging.operation.name"]) == (
            "send",
            "send",
        )
        assert span.name == f"send {tags['messaging.destination.name']}"
    else:
        assert (tags["messaging.operation.type"], tags["messaging.operation.name"]) == (
            "process",
            "process",
        )
        assert span.name == f"process {tags['messaging.destination.name']}"
        assert tags["messaging.consumer.group.name"].startswith(group_prefix)


async def test_a_dossier_is_one_trace_across_the_four_services_and_kafka(
    platform: Platform, jwt_secret: str, run_id: str
) -> None:
    if platform.zipkin is None:
        pytest.skip("the local launcher could not start Zipkin (needs Java 17+ and Maven)")
    applicant = new_applicant()
    trace_id, header = traceparent()
    prefix = f"{run_id}."
    async with httpx.AsyncClient(timeout=10) as client:
        accepted = await _submit(
            client, platform, waste_registration(applicant), _portal(jwt_secret) | header
        )
        await _audited(client, platform, jwt_secret, accepted["dossier_id"], 3)

        edges = {
            ("intake", "processing", Topics.SUBMISSIONS),
            ("processing", "intake", Topics.LIFECYCLE),
            ("processing", "notification", Topics.LIFECYCLE),
            ("processing", "audit", Topics.LIFECYCLE),
            ("notification", "audit", Topics.NOTIFICATIONS),
            ("intake", "audit", Topics.SUBMISSIONS),
        }

        async def whole_trace() -> list[ZipkinSpan] | None:
            spans = await zipkin_trace(client, str(platform.zipkin), trace_id)
            by_id = {s.span_id: s for s in spans}
            seen = {
                (by_id[s.parent_id].service, s.service, s.tags["messaging.destination.name"])
                for s in spans
                if s.kind == "CONSUMER" and s.parent_id in by_id
            }
            wanted = {(a, b, prefix + topic) for a, b, topic in edges}
            has_root = any(s.kind == "SERVER" and s.service == "intake" for s in spans)
            return spans if wanted <= seen and has_root else None

        spans = await eventually(whole_trace, what=f"the whole trace {trace_id} in Zipkin")

    by_id = {s.span_id: s for s in spans}
    assert {s.service for s in spans} == set(SERVICES)
    assert {s.trace_id for s in spans} == {trace_id}
    # Each span names the replica that made it (service.instance.id of the resource).
    replicas = {name: {p.instance for p in platform.replicas[name]} for name in SERVICES}
    for span in spans:
        assert span.tags.get("service.instance.id") in replicas[span.service], span
    # The trace starts at the portal's request to intake.
    [root] = [s for s in spans if s.parent_id not in by_id]
    # (Zipkin keeps span names in lower case.)
    assert (root.service, root.kind, root.name) == ("intake", "SERVER", "post /v1/dossiers")
    kafka_spans = [s for s in spans if s.kind in ("PRODUCER", "CONSUMER")]
    for span in kafka_spans:
        _check_messaging_conventions(span, prefix)
        if span.kind == "CONSUMER":
            _producer_of(span, by_id)
    # Every record of the dossier is keyed by the dossier, which is how an operator
    # finds this trace in the UI: a tag query for the dossier id.
    assert {s.tags["messaging.kafka.message.key"] for s in kafka_spans} == {accepted["dossier_id"]}
    async with httpx.AsyncClient(timeout=10) as client:
        found = await zipkin_traces_tagged(
            client, str(platform.zipkin), "messaging.kafka.message.key", accepted["dossier_id"]
        )
    assert [{span["traceId"] for span in trace} for trace in found] == [{trace_id}]
    # The spans of the Kafka hop are where the time between the services shows.
    submitted = [
        s
        for s in kafka_spans
        if s.kind == "PRODUCER"
        and s.tags["messaging.destination.name"] == prefix + "dossier.submissions"
    ]
    assert [s.service for s in submitted] == ["intake"]
    assert by_id[submitted[0].parent_id].kind == "SERVER"

    # Notification and audit handle batches: each batch span lives in its own trace and
    # links to the per-record span in this one. Zipkin has no links; the spans file does.
    record_spans = {
        service: {s.span_id for s in spans if s.service == service and s.kind == "CONSUMER"}
        for service in ("notification", "audit")
    }
    assert all(record_spans.values()), record_spans

    async def batches_link_to_the_records() -> bool:
        linked: dict[str, set[str]] = {}
        for span in platform.spans():
            if span["trace_id"] != trace_id and span["kind"] == "CONSUMER":
                for link in span["links"]:
                    if link["trace_id"] == trace_id:
                        linked.setdefault(span["service"], set()).add(link["span_id"])
        return all(ids <= linked.get(service, set()) for service, ids in record_spans.items())

    assert await eventually(batches_link_to_the_records, what="batch spans linking the records")


async def test_an_officer_action_is_its_own_trace_linked_to_the_dossier(
    platform: Platform, jwt_secret: str
) -> None:
    applicant = new_applicant()
    dossier_trace, header = traceparent()
    officer = bearer(jwt_secret, "officer-observability", "officer", agency=MT)
    async with httpx.AsyncClient(timeout=10) as client:
        accepted = await _submit(
            client, platform, waste_registration(applicant), _portal(jwt_secret) | header
        )
        # The officer reads the dossier through one processing replica and acts through
        # the next: the version in the ETag is the store's, whichever replica gave it.
        turn = next(_TURNS)
        path = f"/v1/officer/dossiers/{accepted['dossier_id']}"

        async def received() -> httpx.Response | None:
            response = await client.get(platform.url_of("processing", turn) + path, headers=officer)
            return response if response.status_code == 200 else None

        read = await eventually(received, what="the dossier in the officer's queue")
        acted = await client.post(
            f"{platform.url_of('processing', turn + 1)}{path}/actions",
            json={"action": "start_review"},
            headers=officer | {"If-Match": read.headers["ETag"]},
        )
        assert acted.status_code == 200, acted.text
        await _audited(client, platform, jwt_secret, accepted["dossier_id"], 4)

        async def officer_span() -> dict[str, Any] | None:
            found = [s for s in platform.spans() if s["name"] == "officer start_review"]
            return next(
                (
                    s
                    for s in found
                    if s["attributes"].get("hoso.dossier_id") == accepted["dossier_id"]
                ),
                None,
            )

        action = await eventually(officer_span, what="the officer's action span")
        assert action["service"] == "processing"
        assert action["trace_id"] != dossier_trace
        assert [link["trace_id"] for link in action["links"]] == [dossier_trace]
        assert action["attributes"]["hoso.linked_trace_id"] == dossier_trace

        # What the action set off (the event, its audit entry) continues the officer's
        # trace, not the dossier's.
        async def downstream() -> set[str] | None:
            services = {
                s["service"] for s in platform.spans() if s["trace_id"] == action["trace_id"]
            }
            return services if {"processing", "audit"} <= services else None

        await eventually(downstream, what="the officer's trace reaching audit")

        if platform.zipkin is not None:
            # In the UI: search by the tag to go from a dossier's trace to its actions.
            async def found_in_zipkin() -> list[Any] | None:
                traces = await zipkin_traces_tagged(
                    client, platform.zipkin or "", "hoso.linked_trace_id", dossier_trace
                )
                return traces or None

            traces = await eventually(found_in_zipkin, what="the action found by its link tag")
            assert {span["traceId"] for span in traces[0]} == {action["trace_id"]}


async def test_metrics_of_every_service_move_after_traffic(
    platform: Platform, jwt_secret: str, run_id: str
) -> None:
    prefix = f"{run_id}."
    submissions, lifecycle, outcomes = (
        prefix + t for t in (Topics.SUBMISSIONS, Topics.LIFECYCLE, Topics.NOTIFICATIONS)
    )
    async with httpx.AsyncClient(timeout=10) as client:

        async def each_replica(name: str) -> list[Samples]:
            return (await scrape_replicas(client, platform.urls(name)))[1]

        async def whole(name: str) -> Samples:
            return merged(await each_replica(name))

        before = {name: await whole(name) for name in SERVICES}
        applicant = new_applicant()
        accepted = await _submit(
            client, platform, waste_registration(applicant), _portal(jwt_secret)
        )

        async def mailed() -> list[Any]:
            return platform.mail.to(applicant.email)

        await eventually(mailed, what="the citizen's mail")
        await _audited(client, platform, jwt_secret, accepted["dossier_id"], 3)

        # Every figure below must grow by what this one dossier caused.
        expectations = {
            "intake": [
                (
                    "hoso_http_requests_total",
                    {"method": "POST", "route": "/v1/dossiers", "status": "202"},
                ),
                (
                    "hoso_http_request_duration_seconds_count",
                    {"method": "POST", "route": "/v1/dossiers"},
                ),
                ("hoso_events_produced_total", {"topic": submissions}),
                ("hoso_events_consumed_total", {"topic": lifecycle, "outcome": "handled"}),
            ],
            "processing": [
                ("hoso_events_consumed_total", {"topic": submissions, "outcome": "handled"}),
                ("hoso_events_produced_total", {"topic": lifecycle}),
                ("hoso_event_handler_duration_seconds_count", {"group": "processing"}),
            ],
            "notification": [
                ("hoso_events_consumed_total", {"topic": lifecycle, "outcome": "handled"}),
                ("hoso_notifications_total", {"channel": "email", "outcome": "sent"}),
                ("hoso_events_produced_total", {"topic": outcomes}),
            ],
            "audit": [
                ("hoso_events_consumed_total", {"topic": submissions, "outcome": "handled"}),
                ("hoso_events_consumed_total", {"topic": lifecycle, "outcome": "handled"}),
                ("hoso_events_consumed_total", {"topic": outcomes, "outcome": "handled"}),
            ],
        }

        async def all_moved() -> dict[str, Any] | None:
            after = {name: await whole(name) for name in SERVICES}
            for name, wanted in expectations.items():
                for metric, labels in wanted:
                    if (
                        total(after[name], metric, **labels)
                        < total(before[name], metric, **labels) + 1
                    ):
                        return None
            return after

        after = await eventually(all_moved, what="every service's counters to move")

        # Lag per group and partition: each replica reports the partitions it holds. The
        # replicas of a service share its consumer group, so between them they hold every
        # partition exactly once, and each replica holds some (there are 3 partitions a
        # topic); once everything is handled nobody is behind.
        held = {
            "processing": ("processing", (submissions,)),
            "notification": ("notification", (lifecycle,)),
            "intake": ("intake", (lifecycle,)),
            "audit": ("audit", (submissions, lifecycle, outcomes)),
        }

        async def partitions_shared() -> dict[str, Any] | None:
            holdings: dict[str, Any] = {}
            for service, (group, topics) in held.items():
                replicas = await each_replica(service)
                per_topic = {
                    topic: [
                        sorted(
                            p["partition"]
                            for p in series(samples, "hoso_consumer_lag", group=group, topic=topic)
                        )
                        for samples in replicas
                    ]
                    for topic in topics
                }
                holdings[service] = per_topic
                for owned in per_topic.values():
                    if sorted(p for mine in owned for p in mine) != ["0", "1", "2"]:
                        return None
                busy = [any(per_topic[t][n] for t in topics) for n in range(len(replicas))]
                if sum(busy) != min(len(replicas), 3 * len(topics)):
                    return None
            return holdings

        await eventually(partitions_shared, what="every partition held by exactly one replica")

        async def caught_up() -> bool:
            return total(await whole("processing"), "hoso_consumer_lag", group="processing") == 0

        assert await eventually(caught_up, what="processing's lag back to 0")
        # The overdue gauge exists for every agency of the catalogue, zero included.
        assert series(after["processing"], "hoso_dossiers_overdue", agency=MT)

        # A record nobody can read goes to the dead-letter topic, and the count says so.
        dead_before = total(after["processing"], "hoso_dead_letters_total", group="processing")
        await _send_poison(platform, submissions)

        async def dead_lettered() -> bool:
            samples = await whole("processing")
            now = total(samples, "hoso_dead_letters_total", group="processing", reason="poison")
            return now >= dead_before + 1

        assert await eventually(dead_lettered, what="the poison record dead-lettered")


async def _send_poison(platform: Platform, topic: str) -> None:
    bootstrap = platform.services["intake"].env["KAFKA_BOOTSTRAP_SERVERS"]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"this is not an event", key=b"poison")
    finally:
        await producer.stop()


async def test_a_log_line_written_while_handling_a_request_carries_its_trace_id(
    platform: Platform, jwt_secret: str
) -> None:
    trace_id, header = traceparent()
    # Sent to the last intake replica: its log, and no other's, has the request's line.
    intake = platform.replicas["intake"][-1]
    async with httpx.AsyncClient(timeout=10) as client:
        await _submit(
            client,
            platform,
            waste_registration(new_applicant()),
            _portal(jwt_secret) | header,
            intake=intake.url,
        )

    async def request_logged() -> dict[str, list[dict[str, Any]]] | None:
        found = {
            path.name: [line for line in log_lines(path) if line.get("trace_id") == trace_id]
            for path in platform.log_files("intake")
        }
        return found if found[intake.log_path.name] else None

    found = await eventually(request_logged, what="intake's log line of the request")
    lines = found[intake.log_path.name]
    accesses = {
        name: [line for line in logged if line["logger"] == "hoso.access"]
        for name, logged in found.items()
    }
    assert {name for name, logged in accesses.items() if logged} == {intake.log_path.name}
    [access] = [line for line in lines if line["logger"] == "hoso.access"]
    assert access["message"] == "POST /v1/dossiers 202"
    assert access["level"] == "INFO"
    assert access["http.route"] == "/v1/dossiers"
    assert access["http.response.status_code"] == 202
    assert len(access["span_id"]) == 16


def _status(
    platform: Platform, jwt_secret: str, **override: str
) -> subprocess.CompletedProcess[str]:
    urls = {name: platform.url(name) for name in SERVICES} | override
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "KAFKA_BOOTSTRAP_SERVERS": platform.services["intake"].env["KAFKA_BOOTSTRAP_SERVERS"],
        "KAFKA_TOPIC_PREFIX": platform.services["intake"].env["KAFKA_TOPIC_PREFIX"],
        # An operator's own auditor token; no identity provider runs in this test.
        "HOSO_STATUS_TOKEN": bearer(jwt_secret, "hoso-status", "auditor")["Authorization"][7:],
        # Not the developer's .local/env: only what is given here.
        "HOSO_STATUS_ENV_FILE": "/dev/null",
    }
    argv = [sys.executable, str(ROOT / "deploy" / "status.py")]
    for name, url in urls.items():
        argv += ["--service", f"{name}={url}"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


async def test_the_status_command_shows_the_live_system(
    platform: Platform, jwt_secret: str, run_id: str
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        accepted = await _submit(
            client, platform, waste_registration(new_applicant()), _portal(jwt_secret)
        )
        await _audited(client, platform, jwt_secret, accepted["dossier_id"], 3)
    await _send_poison(platform, f"{run_id}.{Topics.SUBMISSIONS}")

    async def complete() -> str | None:
        result = await asyncio.to_thread(_status, platform, jwt_secret)
        out = result.stdout
        ready = all(f"{name} " in out for name in SERVICES) and result.returncode == 0
        dead = any(
            line.split()[0] == "processing.dlq" and int(line.split()[1]) >= 1
            for line in out.splitlines()
            if line.startswith("processing.dlq")
        )
        return out if ready and dead and "tree size" in out else None

    out = await eventually(complete, timeout_s=60, every_s=1, what="a complete status table")
    lines = out.splitlines()
    for name in SERVICES:
        [row] = [
            line for line in lines if line.startswith(f"{name} ") and platform.url(name) in line
        ]
        assert row.split()[2] == "ready", row
    # One row per group and partition, with a number for the lag.
    for group, topic in (("processing", Topics.SUBMISSIONS), ("audit", Topics.NOTIFICATIONS)):
        rows = [line.split() for line in lines if line.split()[:2] == [group, topic]]
        assert sorted(row[2] for row in rows) == ["0", "1", "2"], out
        assert all(row[-1].isdigit() for row in rows), out
    assert any(line.startswith("STNMT-MT") for line in lines), out

    # A service that does not answer is shown as down, not as a traceback.
    down = await asyncio.to_thread(
        _status, platform, jwt_secret, audit=f"http://127.0.0.1:{free_port()}"
    )
    assert down.returncode == 3
    assert "Traceback" not in down.stdout + down.stderr
    [audit_row] = [
        line for line in down.stdout.splitlines() if line.startswith("audit ") and "http" in line
    ]
    assert audit_row.split()[2] == "down", audit_row


async def test_a_denunciation_goes_through_without_naming_the_denouncer(
    platform: Platform, jwt_secret: str
) -> None:
    denouncer = new_applicant("Quách Văn")
    inspector = bearer(jwt_secret, "inspector-observability", "officer", agency=INSPECTORATE)
    async with httpx.AsyncClient(timeout=10) as client:
        accepted = await _submit(client, platform, denunciation(denouncer), inspector)
        entries = await _audited(client, platform, jwt_secret, accepted["dossier_id"], 2)
    assert entries[0]["event_type"] == "dossier.submitted.v1"


@pytest.mark.after_e2e
async def test_no_personal_data_in_any_log_span_or_metric(platform: Platform) -> None:
    """Runs last (see conftest): what every end-to-end test wrote is scanned."""
    assert SENT_PERSONAL_DATA, "the tests above sent no personal data to look for"
    texts: dict[str, str] = {}
    logs = platform.log_files()
    # Every replica's own log, and nothing else in the folder is a log.
    assert sorted(logs) == sorted(platform.log_dir.glob("*.log"))
    for log in logs:
        texts[f"log {log.name}"] = log.read_text(encoding="utf-8", errors="replace")
    # A replica that served no request and held no busy partition may have no spans.
    texts["spans files"] = "".join(
        path.read_text(encoding="utf-8") for path in platform.spans_files if path.exists()
    )
    async with httpx.AsyncClient(timeout=20) as client:
        for name in SERVICES:
            metrics, _ = await scrape_replicas(client, platform.urls(name))
            for process, text in zip(platform.replicas[name], metrics.values(), strict=True):
                texts[f"metrics of {process.instance}"] = text
        if platform.zipkin is not None:
            traces = await zipkin_traces_tagged(
                client, platform.zipkin, "deployment.environment.name", platform.environment
            )
            assert traces, "Zipkin holds none of this platform's traces"
            texts["Zipkin"] = json.dumps(traces, ensure_ascii=False)
    assert all(texts.values())
    findings = [
        finding
        for source, text in texts.items()
        for finding in personal_data_in(source, text, SENT_PERSONAL_DATA)
    ]
    assert not findings, "\n".join(f"{f.source}: {f.what}: …{f.excerpt}…" for f in findings)
