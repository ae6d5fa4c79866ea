"""Telling a store that is away, or a write that lost a race, from a defect, on MongoDB
and on FerretDB v2."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    DuplicateKeyError,
    OperationFailure,
    WriteError,
)

from chassis.kafka.consumer import is_outage, is_transient
from chassis.mongo import (
    conflict_retrying,
    error_summary,
    lost_a_race,
    store_unreachable,
    write_conflict,
)

# What FerretDB v2.7 answered while its PostgreSQL restarted (seen in a chaos run).
POSTGRES_REFUSED = (
    "msg_find.go:70 (handler.(*Handler).msgFind): pool.go:90 (documentdb.(*Pool).Acquire): "
    "failed to connect to `user=postgres database=postgres`: 127.0.0.1:5433 (127.0.0.1): "
    "dial error: dial tcp 127.0.0.1:5433: connect: connection refused"
)
POSTGRES_SHUTTING_DOWN = (
    "FATAL: terminating connection due to administrator command (SQLSTATE 57P01)"
)


@pytest.mark.parametrize("message", [POSTGRES_REFUSED, POSTGRES_SHUTTING_DOWN])
def test_ferretdb_without_its_postgresql_is_an_outage(message: str) -> None:
    failure = OperationFailure(message, code=1)
    assert store_unreachable(failure)
    assert is_outage(failure)


def test_the_drivers_own_network_errors_are_outages() -> None:
    assert store_unreachable(AutoReconnect("connection closed"))


@pytest.mark.parametrize(
    "failure",
    [
        DuplicateKeyError("E11000 duplicate key error", code=11000),
        OperationFailure("unknown operator: $foo", code=2),
        # Code 1 is FerretDB's catch-all: only a failed connection is an outage.
        OperationFailure("msg_update.go: invalid document", code=1),
    ],
)
def test_a_refused_command_is_a_defect_not_an_outage(failure: OperationFailure) -> None:
    assert not store_unreachable(failure)
    assert not is_outage(failure)


def test_other_errors_are_not_outages() -> None:
    assert not is_outage(ValueError("connection refused"))


# PostgreSQL's deadlock_detected and serialization_failure, packed as FerretDB passes them.
DEADLOCK = 16908292
SERIALIZATION = 16777220


@pytest.mark.parametrize("code", [DEADLOCK, SERIALIZATION, 112])
def test_a_lost_race_is_a_write_conflict_not_an_outage(code: int) -> None:
    assert write_conflict(code)
    assert not store_unreachable(OperationFailure("deadlock detected", code=code))


@pytest.mark.parametrize("code", [11000, 1, 2, None])
def test_other_refusals_are_not_write_conflicts(code: int | None) -> None:
    assert not write_conflict(code)


def test_the_summary_of_a_refused_write_names_codes_not_the_document() -> None:
    document = {"_id": "d1", "applicant": {"name": "Nguyễn Văn An", "id_number": "079200001234"}}
    refused = BulkWriteError(
        {
            "writeErrors": [
                {"index": 0, "code": DEADLOCK, "errmsg": "deadlock detected", "op": document},
                {"index": 1, "code": 11000, "errmsg": "E11000 duplicate key", "op": document},
            ]
        }
    )
    summary = error_summary(refused)
    assert summary == f"BulkWriteError (codes 11000, {DEADLOCK})"
    assert "Nguyễn" not in summary
    assert error_summary(OperationFailure("no such thing", code=2)) == "OperationFailure (code 2)"
    assert error_summary(AutoReconnect("connection closed")) == "AutoReconnect"


async def _with_retries(write: Callable[[], Awaitable[str]], tries: int = 4) -> str:
    async for attempt in conflict_retrying(tries=tries):
        with attempt:
            return await write()
    raise AssertionError("tenacity neither returned nor raised")


async def test_a_write_that_loses_a_race_is_tried_again_and_then_given_up() -> None:
    calls = 0

    async def insert() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise WriteError("deadlock detected", code=DEADLOCK)
        return "in"

    assert await _with_retries(insert) == "in"
    assert calls == 3

    calls = -100  # never gets through
    with pytest.raises(WriteError):
        await _with_retries(insert, tries=2)
    assert calls == -98


async def test_a_defect_is_not_tried_again() -> None:
    calls = 0

    async def insert() -> str:
        nonlocal calls
        calls += 1
        raise DuplicateKeyError("E11000 duplicate key error", code=11000)

    with pytest.raises(DuplicateKeyError):
        await _with_retries(insert)
    assert calls == 1


def _bulk_refusal(*codes: int) -> BulkWriteError:
    errors = [{"index": i, "code": code, "errmsg": "refused"} for i, code in enumerate(codes)]
    return BulkWriteError({"writeErrors": errors})


@pytest.mark.parametrize(
    ("refusal", "lost"),
    [
        (WriteError("deadlock detected", code=DEADLOCK), True),
        (_bulk_refusal(DEADLOCK), True),
        # Losers and the winners' duplicates: a second try settles every one of them.
        (_bulk_refusal(11000, DEADLOCK, 11000), True),
        (_bulk_refusal(11000), False),
        # A defect among the losers is still a defect.
        (_bulk_refusal(DEADLOCK, 2), False),
        (DuplicateKeyError("E11000 duplicate key error", code=11000), False),
    ],
)
def test_a_consumed_record_whose_write_lost_a_race_is_tried_again_not_dead_lettered(
    refusal: OperationFailure, lost: bool
) -> None:
    assert lost_a_race(refusal) is lost
    assert is_transient(refusal) is lost
    assert not is_outage(refusal)
