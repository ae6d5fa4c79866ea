"""The capacity sweep's load from vegeta: its sizing, the reading of its results and the
sweep's tables, without running vegeta or the services."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench.capacity_support.load import AuditWatch, Submissions, VegetaLoad
from bench.capacity_support.report import generator_line, render_store_commands
from bench.capacity_support.sweep import _per_dossier
from bench.capacity_support.vegeta import (
    MIN_WORKERS,
    TIMEOUT_S,
    Hit,
    VegetaRun,
    Workers,
    parse_results,
    rate_flag,
    side_by_side,
    targets,
)

AT = datetime(2026, 12, 7, 4, 0, 0, tzinfo=UTC).timestamp()


def _line(code: int, timestamp: str, latency_ns: int, body: bytes | None, error: str = "") -> str:
    return json.dumps(
        {
            "attack": "intake 1",
            "seq": 0,
            "code": code,
            "timestamp": timestamp,
            "latency": latency_ns,
            "bytes_out": 900,
            "bytes_in": len(body or b""),
            "error": error,
            "body": None if body is None else base64.b64encode(body).decode(),
            "method": "POST",
            "url": "http://127.0.0.1:8001/v1/dossiers",
            "headers": None,
        }
    )


# Three answers and a refused connection, as `vegeta encode --to json` writes them: the
# time with up to nine digits (trailing zeros left out), the latency in nanoseconds.
RESULTS = "\n".join(
    [
        _line(202, "2026-12-07T04:00:00.000123456Z", 12_500_000, b'{"dossier_id":"d-1"}'),
        _line(202, "2026-12-07T04:00:00.05Z", 30_000_000, b'{"dossier_id":"d-2","x":1}'),
        _line(503, "2026-12-07T11:00:00.1+07:00", 2_500_000_000, b'{"type":"busy"}', "503"),
        _line(0, "2026-12-07T04:00:00.15Z", 800_000, None, "connect: connection refused"),
        "",
    ]
)


def test_vegetas_json_results_give_each_posts_start_latency_status_and_dossier() -> None:
    run = parse_results("intake", RESULTS)
    assert [h.started for h in run.hits] == pytest.approx(
        [AT + 0.000123, AT + 0.05, AT + 0.1, AT + 0.15]
    )
    assert [h.latency_s for h in run.hits] == pytest.approx([0.0125, 0.03, 2.5, 0.0008])
    assert run.requests == 4
    assert run.statuses == {202: 2, 503: 1}
    assert run.errors == 1
    # The 202s' bodies name the dossiers, each with the start of its POST.
    assert run.accepted() == {"d-1": pytest.approx(AT + 0.000123), "d-2": pytest.approx(AT + 0.05)}
    # Latencies are of the answered requests; the refused connection has none.
    assert run.latency_ms(50) == 30.0
    assert run.max_ms() == 2500.0
    assert run.sent_per_s() == pytest.approx(3 / 0.149877, rel=1e-3)


def test_a_202_whose_body_names_no_dossier_is_not_followed() -> None:
    run = VegetaRun("intake", 1.0, [Hit(AT, 0.01, 202, b"not json"), Hit(AT, 0.01, 202, b"[]")])
    assert run.accepted() == {}


@pytest.mark.parametrize(
    ("rate", "start", "most"), [(2.0, MIN_WORKERS, 40), (20.0, 10, 400), (101.0, 51, 2020)]
)
def test_vegeta_gets_a_worker_for_every_request_that_can_be_open_at_once(
    rate: float, start: int, most: int
) -> None:
    workers = Workers.for_rate(rate)
    assert (workers.start, workers.most) == (start, most)
    # Every request of a timeout's worth could be open at once, and none more is needed.
    assert workers.most >= rate * TIMEOUT_S
    assert workers.start <= workers.most


def test_each_intake_replicas_vegeta_is_sized_for_its_share_of_the_rate() -> None:
    load = VegetaLoad(["http://a", "http://b"], "token", Submissions("run"))
    assert load.workers(40.0) == Workers.for_rate(20.0)


def test_a_rate_is_written_as_vegeta_reads_it() -> None:
    assert rate_flag(20.0) == "20/1s"
    # A fraction of a second's rate: one request every so many nanoseconds.
    assert rate_flag(2.5) == "1/400000000ns"


def test_vegetas_target_is_the_post_with_its_headers_and_the_bodys_file() -> None:
    text = targets(
        "http://127.0.0.1:8001/v1/dossiers",
        {"Authorization": "Bearer t", "Content-Type": "application/json"},
        Path("/tmp/body"),
    )
    assert text.splitlines() == [
        "POST http://127.0.0.1:8001/v1/dossiers",
        "Authorization: Bearer t",
        "Content-Type: application/json",
        "@/tmp/body",
    ]


def test_each_step_posts_a_body_with_an_applicant_address_of_its_own() -> None:
    submissions = Submissions("run1")
    first, second = submissions.body("s1"), submissions.body("s2")
    assert json.loads(first)["applicant"]["email"] == "citizen.s1.run1@example.vn"
    assert json.loads(second)["applicant"]["email"] == "citizen.s2.run1@example.vn"


def test_attacks_side_by_side_add_their_requests_over_the_longest_time() -> None:
    one = VegetaRun("a", 10.0, [Hit(AT, 0.01, 202, b"")] * 100, 0.2)
    two = VegetaRun("b", 10.5, [Hit(AT, 0.02, 202, b"")] * 99 + [Hit(AT, 0.0, 0, b"")], 0.3)
    both = side_by_side("intake", [one, two])
    assert both.seconds == 10.5
    assert both.statuses == {202: 199}
    assert both.errors == 1
    assert both.requests == 200
    assert both.generator_cpu_s == pytest.approx(0.5)
    assert both.generator_cores_per_1000() == pytest.approx(0.5 / 10.5 / (200 / 10.5) * 1000)


def test_the_watchs_receipts_inside_a_window_are_counted_while_sending() -> None:
    watch = AuditWatch(None)  # type: ignore[arg-type]  # only the bookkeeping is used
    watch.submitted = {"before": 99.9, "first": 100.0, "inside": 105.0, "last": 110.0, "after": 111}
    assert set(watch.received_between(100.0, 110.0)) == {"first", "inside", "last"}


def test_store_commands_per_dossier_are_each_services_own_during_the_step() -> None:
    before = {"intake": {"insert": 10.0, "find": 5.0}, "audit": {"insert": 3.0}}
    after = {
        "intake": {"insert": 30.0, "find": 5.0, "update": 20.0},
        "audit": {"insert": 13.0},
        "notification": {"findAndModify": 40.0},
    }
    commands = _per_dossier(before, after, 20)
    assert commands["sent"] == {
        "intake": {"insert": 20.0, "update": 20.0},
        "audit": {"insert": 10.0},
        "notification": {"findAndModify": 40.0},
    }
    assert commands["per_dossier"]["intake"] == {"insert": 1.0, "update": 1.0}
    assert commands["per_dossier"]["notification"] == {"findAndModify": 2.0}
    lines = render_store_commands(commands).splitlines()
    # A row per service, the busiest first, a column per command, the most sent first.
    assert lines[2].split() == ["service", "all", "findAndModify", "insert", "update"]
    assert lines[4].split() == ["intake", "2.00", "-", "1.00", "1.00"]
    assert lines[5].split() == ["notification", "2.00", "2.00", "-", "-"]
    assert lines[-1].split() == ["all", "4.50", "2.00", "1.50", "1.00"]


def test_a_step_with_no_dossier_audited_has_no_commands_per_dossier() -> None:
    assert _per_dossier({}, {"intake": {"insert": 5.0}}, 0)["per_dossier"] == {}


def test_vegetas_cpu_over_half_a_core_per_thousand_requests_a_second_is_said() -> None:
    step: dict[str, Any] = {
        "offered_per_s": 20.0,
        "generator": {"processes": 1, "workers": 10, "max_workers": 400, "cores": 0.02},
    }
    light = {**step, "generator": {**step["generator"], "cores_per_1000": 0.4}}
    heavy = {**step, "generator": {**step["generator"], "cores_per_1000": 0.9}}
    assert "more than" not in generator_line(light)
    assert "0.90 cores per 1,000 req/s (more than 0.5)" in generator_line(heavy)
