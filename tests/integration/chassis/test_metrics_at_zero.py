"""Right after the services start, every series a dashboard or an alert reads is there at
0: a counter that only appears with its first increment hides that first increment from
``increase()``, so the first dead letter or failed notice would raise no alert."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chassis.events import EVENT_TYPES, PUBLISHERS, Topics
from tests.integration.chassis.inprocess import InProcess

pytestmark = pytest.mark.integration

# What each service's consumer group reads (main.py of each service).
READS = {
    "intake": [Topics.LIFECYCLE],
    "processing": [Topics.SUBMISSIONS],
    "notification": [Topics.LIFECYCLE],
    "audit": [Topics.SUBMISSIONS, Topics.LIFECYCLE, Topics.NOTIFICATIONS, Topics.CATALOGUE],
}
Labels = frozenset[tuple[str, str]]


async def scrape(services: InProcess, name: str) -> dict[str, dict[Labels, float]]:
    async with services.client(name) as client:
        text = (await client.get("/metrics")).text
    found: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return found


def at_zero(found: dict[str, dict[Labels, float]], name: str, **labels: str) -> bool:
    """The series is there. Its value is 0 in a process of its own; here the registry is
    shared with every in-process test before this one, which may have counted already."""
    return found.get(name, {}).get(frozenset(labels.items()), -1.0) >= 0.0


def types_on(topic: str) -> list[str]:
    return [t for t, model in EVENT_TYPES.items() if model.topic == topic]


async def test_labelled_counters_start_at_zero(four_services: InProcess) -> None:
    prefix = four_services.topic_prefix
    missing: list[str] = []
    for service, topics in READS.items():
        found = await scrape(four_services, service)
        reasons = ["poison", "handler_failed"]
        if service == "notification":
            reasons.append("delivery_failed")
        for reason in reasons:
            if not at_zero(
                found, "hoso_dead_letters_total", service=service, group=service, reason=reason
            ):
                missing.append(f"dead letters {service}/{reason}")
        for topic in topics:
            for event_type in types_on(topic):
                for outcome in ("handled", "ignored", "dead_letter"):
                    if not at_zero(
                        found,
                        "hoso_events_consumed_total",
                        service=service,
                        topic=prefix + topic,
                        type=event_type,
                        outcome=outcome,
                    ):
                        missing.append(f"consumed {service}/{topic}/{event_type}/{outcome}")
        for topic, publisher in PUBLISHERS.items():
            if publisher != service:
                continue
            for event_type in types_on(topic):
                if not at_zero(
                    found,
                    "hoso_events_produced_total",
                    service=service,
                    topic=prefix + topic,
                    type=event_type,
                ):
                    missing.append(f"produced {service}/{topic}/{event_type}")
    notification = await scrape(four_services, "notification")
    # Email is the channel configured by default; SMS and webhook are off until set up.
    for outcome in ("sent", "failed"):
        if not at_zero(notification, "hoso_notifications_total", channel="email", outcome=outcome):
            missing.append(f"notifications email/{outcome}")
    # The services that hold the catalogue count its reloads and refused files.
    for service in ("intake", "processing"):
        found = await scrape(four_services, service)
        if not at_zero(found, "hoso_catalogue_reloads_total", service=service):
            missing.append(f"catalogue reloads {service}")
        for reason in ("invalid", "unreadable", "version_reused"):
            if not at_zero(
                found, "hoso_catalogue_reload_failures_total", service=service, reason=reason
            ):
                missing.append(f"catalogue reload failures {service}/{reason}")
    audit = await scrape(four_services, "audit")
    if not at_zero(audit, "hoso_audit_chain_failures_total"):
        missing.append("audit chain failures")
    assert missing == []
