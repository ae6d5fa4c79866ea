"""The capacity sweep's load from hey and its store-command table, without running hey or
the services."""

from __future__ import annotations

import pytest

from bench.capacity_support.load import MIN_CONNECTIONS, AuditWatch, HeyLoad, Pace, Submissions
from bench.capacity_support.report import generator_line, render_store_commands
from bench.capacity_support.sweep import _per_dossier
from bench.hey import HeyRun, side_by_side


@pytest.mark.parametrize(
    ("rate", "connections", "each"),
    [(2.0, MIN_CONNECTIONS, 0.5), (20.0, 10, 2.0), (101.0, 51, 101.0 / 51)],
)
def test_a_rate_becomes_enough_hey_workers_that_none_waits_on_a_slow_answer(
    rate: float, connections: int, each: float
) -> None:
    pace = Pace.for_rate(rate)
    assert pace.connections == connections
    assert pace.per_connection == pytest.approx(each)
    # The offered rate is kept whole, and no worker has to send more than 2 a second.
    assert pace.connections * pace.per_connection == pytest.approx(rate)
    assert pace.per_connection <= 2.0


def test_the_rate_is_shared_among_the_intake_replicas() -> None:
    load = HeyLoad(["http://a", "http://b"], "token", Submissions("run"))
    assert load.pace(40.0) == Pace.for_rate(20.0)


def test_each_step_sends_a_body_with_an_address_of_its_own() -> None:
    submissions = Submissions("run1")
    first, second = submissions.body("s1"), submissions.body("s2")
    assert b"citizen.s1.run1@example.vn" in first
    assert b"citizen.s2.run1@example.vn" in second


def test_runs_side_by_side_add_their_requests_over_the_longest_time() -> None:
    one = HeyRun("a", 10.0, {202: 100}, [0.01] * 100, [0.0] * 100, 0, 0.2)
    two = HeyRun("b", 10.5, {202: 99, 503: 1}, [0.02] * 100, [0.0] * 100, 2, 0.3)
    both = side_by_side("intake", [one, two])
    assert both.seconds == 10.5
    assert both.statuses == {202: 199, 503: 1}
    assert both.requests == 202
    assert both.generator_cpu_s == pytest.approx(0.5)
    assert both.per_second(202) == pytest.approx(199 / 10.5)


def test_a_steps_dossiers_are_those_received_inside_its_window() -> None:
    watch = AuditWatch(None)  # type: ignore[arg-type]  # only the bookkeeping is used
    watch.submitted = {"before": 99.9, "first": 100.0, "inside": 105.0, "last": 110.0, "after": 111}
    assert set(watch.received_between(100.0, 110.0)) == {"first", "inside", "last"}


def test_store_commands_per_dossier_are_what_each_service_sent_during_the_step() -> None:
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


def test_no_dossier_audited_gives_no_rate_per_dossier() -> None:
    assert _per_dossier({}, {"intake": {"insert": 5.0}}, 0)["per_dossier"] == {}


def test_heys_cpu_over_half_a_core_per_thousand_requests_a_second_is_said() -> None:
    step = {"offered_per_s": 20.0, "hey": {"processes": 1, "connections": 10, "cores": 0.02}}
    light = {**step, "hey": {**step["hey"], "cores_per_1000": 0.4}}
    heavy = {**step, "hey": {**step["hey"], "cores_per_1000": 0.9}}
    assert "more than" not in generator_line(light)
    assert "0.90 cores per 1,000 req/s (more than 0.5)" in generator_line(heavy)
