"""When a failed delivery is tried again, and when it is given up."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notification.domain.retry import (
    UNPUBLISHED,
    DeliveryStatus,
    backoff_delay,
    decide_after_failure,
    http_status_is_transient,
    published,
    smtp_reply_is_transient,
)


@pytest.mark.parametrize(
    ("code", "transient"),
    [(421, True), (450, True), (451, True), (452, True), (550, False), (553, False), (554, False)],
)
def test_smtp_4xx_is_worth_another_try_and_5xx_is_final(code: int, transient: bool) -> None:
    assert smtp_reply_is_transient(code) is transient


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (429, True),
        (408, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (410, False),
        (422, False),
    ],
)
def test_http_server_errors_and_throttling_pass_other_refusals_repeat(
    status: int, transient: bool
) -> None:
    assert http_status_is_transient(status) is transient


@given(
    attempt=st.integers(min_value=1, max_value=80),
    initial=st.floats(min_value=0.01, max_value=30),
    cap=st.floats(min_value=30, max_value=3600),
    seed=st.integers(),
)
def test_backoff_stays_between_half_the_first_step_and_the_exponential_ceiling(
    attempt: int, initial: float, cap: float, seed: int
) -> None:
    delay = backoff_delay(attempt, initial_s=initial, max_s=cap, rng=random.Random(seed))
    ceiling = min(cap, initial * 2 ** (attempt - 1))
    assert min(initial / 2, ceiling) <= delay <= ceiling


def test_backoff_grows_and_is_jittered() -> None:
    rng = random.Random(7)
    draws = {
        attempt: [backoff_delay(attempt, initial_s=1, max_s=1000, rng=rng) for _ in range(200)]
        for attempt in (1, 4, 8)
    }
    # Later attempts wait longer on average ...
    means = [sum(d) / len(d) for d in draws.values()]
    assert means == sorted(means)
    assert means[-1] > 10 * means[0]
    # ... and instances that failed together do not retry in step.
    assert len({round(d, 6) for d in draws[8]}) == 200


def test_retry_after_is_a_floor_within_the_cap() -> None:
    rng = random.Random(1)
    assert backoff_delay(1, initial_s=1, max_s=60, retry_after_s=30, rng=rng) >= 30
    assert backoff_delay(1, initial_s=1, max_s=60, retry_after_s=3600, rng=rng) <= 60


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        backoff_delay(0, initial_s=1, max_s=10)


def test_transient_failure_with_attempts_left_is_scheduled_again() -> None:
    decision = decide_after_failure(
        attempts=2, max_attempts=5, transient=True, initial_s=1, max_s=10
    )
    assert decision.status is DeliveryStatus.RETRY_SCHEDULED
    assert decision.delay_s is not None
    assert 0.5 <= decision.delay_s <= 2


@pytest.mark.parametrize(
    ("attempts", "transient"),
    [(5, True), (6, True), (1, False), (5, False)],
)
def test_last_attempt_or_permanent_failure_gives_up(attempts: int, transient: bool) -> None:
    decision = decide_after_failure(
        attempts=attempts, max_attempts=5, transient=transient, initial_s=1, max_s=10
    )
    assert decision.status is DeliveryStatus.FAILED_UNPUBLISHED
    assert decision.delay_s is None


def test_an_acknowledged_outcome_becomes_final_and_nothing_else_is_an_outcome() -> None:
    assert published(DeliveryStatus.SENT_UNPUBLISHED) is DeliveryStatus.SENT
    assert published(DeliveryStatus.FAILED_UNPUBLISHED) is DeliveryStatus.FAILED
    for status in set(DeliveryStatus) - set(UNPUBLISHED):
        with pytest.raises(ValueError, match="not an unpublished outcome"):
            published(status)
