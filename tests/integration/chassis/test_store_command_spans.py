"""A request's store commands are spans of its trace: PyMongo's asyncio client sends
each command from the caller's own task, so the instrumentation's span takes the
request's span as its parent. Checked in a process of its own, wired as a service wires
itself (``setup_tracing`` before ``connect``), on the real store: the tracer provider
and PyMongo's listeners are global to a process, and the in-process services of the
other tests set them up their own way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.infra import Infra

pytestmark = pytest.mark.integration

PHONE = "0912345678"  # in a stored document: never in a span

PROBE = """
import asyncio, sys

from opentelemetry.trace import SpanKind

from chassis.mongo import connect
from chassis.settings import ServiceSettings
from chassis.telemetry import setup_tracing, shutdown_tracing, tracer


async def main(uri: str, database: str, spans_file: str, phone: str) -> None:
    settings = ServiceSettings(
        service_name="spans-probe",
        mongodb_uri=uri,
        mongodb_database=database,
        spans_file=spans_file,
        otel_traces_sampler_ratio=1.0,
    )
    setup_tracing(settings)
    client, db = connect(settings)
    try:
        await db.command("ping")  # a background poll's command: no trace of its own
        with tracer().start_as_current_span("POST /probe", kind=SpanKind.SERVER):
            await db.receipts.insert_one({"_id": "r1", "phone": phone})
            assert await db.receipts.find_one({"_id": "r1"}) is not None
            cursor = await db.receipts.aggregate([{"$match": {"phone": phone}}])
            assert len(await cursor.to_list(None)) == 1
        await client.drop_database(database)
    finally:
        await client.close()
        shutdown_tracing()  # flushes the spans file


asyncio.run(main(*sys.argv[1:]))
"""


def _spans(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_store_commands_are_spans_of_the_request_that_sent_them(
    infra: Infra, run_id: str, tmp_path: Path
) -> None:
    spans_file = tmp_path / "spans.jsonl"
    database = f"{run_id}_store_spans"
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, infra.mongodb, database, str(spans_file), PHONE],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    spans = _spans(spans_file)
    [request] = [s for s in spans if s["kind"] == "SERVER"]
    store = [s for s in spans if s["kind"] == "CLIENT"]
    assert sorted(s["name"] for s in store) == sorted(
        f"{database}.{command}" for command in ("insert", "find", "aggregate")
    )
    for span in store:
        assert (span["trace_id"], span["parent_span_id"]) == (
            request["trace_id"],
            request["span_id"],
        ), span
        assert span["attributes"]["db.system"] == "mongodb"
        assert span["service"] == "spans-probe"
    # The commands outside the request (ping, dropDatabase) start no trace of their own,
    # and no command's content is recorded: the stored documents hold personal data.
    assert len(spans) == 1 + len(store)
    assert PHONE not in spans_file.read_text()
