"""Telling a store that is away from a defect, on MongoDB and on FerretDB v2."""

from __future__ import annotations

import pytest
from pymongo.errors import AutoReconnect, DuplicateKeyError, OperationFailure

from chassis.kafka.consumer import is_outage
from chassis.mongo import store_unreachable

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
