"""The MongoDB client every service's store adapter is built on.

Everything here works on MongoDB and on FerretDB v2 (PostgreSQL with DocumentDB) alike:
single-document atomic updates with the condition in the filter, unique and secondary
indexes, ``find``/``aggregate`` with simple stages, bulk writes. No multi-document
transactions and no change streams: on DocumentDB a transaction's writes apply at once
and its commit fails, FerretDB has no change streams, and the design needs neither
(outboxes live inside the document they belong to).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.command_cursor import AsyncCommandCursor
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ConnectionFailure, OperationFailure
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random,
)

from chassis.settings import ServiceSettings

__all__ = [
    "StoreClient",
    "StoreCollection",
    "StoreCommandCursor",
    "StoreCursor",
    "StoreDatabase",
    "conflict_retrying",
    "connect",
    "error_summary",
    "lost_a_race",
    "ping",
    "store_unreachable",
    "uses_index",
    "write_conflict",
]

# PyMongo's own asyncio client. Motor, which MongoDB has deprecated in its favour, runs
# every command on a thread pool: measured here, its hand-offs between the event loop
# and those threads were the largest frames of every service's profile, and one command
# cost the client 0.17-0.22 ms of CPU against 0.14 with this client (docs/performance.md).
StoreClient = AsyncMongoClient[Any]
StoreDatabase = AsyncDatabase[Any]
StoreCollection = AsyncCollection[Any]
StoreCursor = AsyncCursor[Any]
StoreCommandCursor = AsyncCommandCursor[Any]

STORE_COMMANDS = Counter(
    "hoso_store_commands_total",
    "Commands sent to the store (one round trip each), by command name",
    ["service", "command"],
)


class _CommandCounter(monitoring.CommandListener):
    """Counts the store's round trips: what a dossier costs the store is mostly how many
    commands it takes, each a PostgreSQL transaction under FerretDB."""

    def __init__(self, service: str) -> None:
        self._service = service
        self._children: dict[str, Any] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        child = self._children.get(event.command_name)
        if child is None:
            child = STORE_COMMANDS.labels(self._service, event.command_name)
            self._children[event.command_name] = child
        child.inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def connect(settings: ServiceSettings) -> tuple[StoreClient, StoreDatabase]:
    client: StoreClient = AsyncMongoClient(
        settings.mongodb_uri.get_secret_value(),
        serverSelectionTimeoutMS=3000,
        connectTimeoutMS=3000,
        tz_aware=True,
        appname=settings.service_name,
        event_listeners=[_CommandCounter(settings.service_name)],
    )
    return client, client[settings.mongodb_database]


# FerretDB v2 answers a command it cannot pass on to PostgreSQL with an InternalError
# (code 1) quoting the driver's connection error, not with a network error the MongoDB
# driver would raise as ConnectionFailure.
_POSTGRES_AWAY = (
    "failed to connect to",
    "connection refused",
    "terminating connection",
    "the database system is starting up",
    "the database system is shutting down",
    "server closed the connection",
)


def store_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the store cannot be reached now (a restart, a network cut),
    as opposed to a defect: MongoDB's driver raises ConnectionFailure; FerretDB v2 with
    its PostgreSQL away answers an OperationFailure with code 1 naming the failed
    connection."""
    if isinstance(exc, ConnectionFailure):
        return True
    if isinstance(exc, OperationFailure) and exc.code == 1:
        text = str(exc).lower()
        return any(sign in text for sign in _POSTGRES_AWAY)
    return False


# A write that lost a race with another writer and only needs trying again: PostgreSQL's
# deadlock_detected (40P01) and serialization_failure (40001), which FerretDB v2 passes on
# as PostgreSQL's packed SQLSTATE, and MongoDB's WriteConflict. DocumentDB enforces a
# unique index as an exclusion constraint, which writes the key first and then waits for
# any other writer of the same key: two requests inserting one key at once wait for each
# other, and after `deadlock_timeout` (1 s) PostgreSQL fails one of them with 40P01
# rather than with a duplicate key.
_CONFLICTS = frozenset({16908292, 16777220, 112})
_DUPLICATE_KEY = 11000


def write_conflict(code: object) -> bool:
    """Whether a store error (or a bulk write's error) code says: a race, try again."""
    return code in _CONFLICTS


def lost_a_race(exc: BaseException) -> bool:
    """Whether ``exc`` is a write, or a bulk write, that failed only by losing races:
    done again, it goes through or meets the winner's write (a duplicate key)."""
    if isinstance(exc, BulkWriteError):
        codes = {failure.get("code") for failure in exc.details.get("writeErrors", [])}
        return any(write_conflict(code) for code in codes) and all(
            write_conflict(code) or code == _DUPLICATE_KEY for code in codes
        )
    return isinstance(exc, OperationFailure) and write_conflict(exc.code)


def conflict_retrying(*also: type[BaseException], tries: int = 4) -> AsyncRetrying:
    """Tries for a write that can lose a race with another writer (see `write_conflict`),
    or raise one of ``also`` when part of it did: ``async for attempt in
    conflict_retrying(): with attempt: ...``. The last failure is raised as it is."""
    return AsyncRetrying(
        retry=retry_if_exception(lost_a_race) | retry_if_exception_type(also),
        stop=stop_after_attempt(tries),
        wait=wait_random(0, 0.05),
        reraise=True,
    )


def error_summary(exc: BaseException) -> str:
    """The error's kind and codes, for a log line. Never its message: a refused write's
    message quotes the document, and a dossier's holds personal data."""
    name = type(exc).__name__
    if isinstance(exc, BulkWriteError):
        codes = sorted({str(f.get("code")) for f in exc.details.get("writeErrors", [])})
        return f"{name} (codes {', '.join(codes)})" if codes else name
    if isinstance(exc, OperationFailure) and exc.code is not None:
        return f"{name} (code {exc.code})"
    return name


async def ping(database: StoreDatabase) -> bool:
    try:
        await database.command("ping")
    except Exception:
        return False
    return True


# Plan nodes that read a collection without an index: MongoDB's stage names, and the
# PostgreSQL node types FerretDB v2 / DocumentDB report from `explain`.
_SCANS = {"COLLSCAN", "Seq Scan"}
_MONGODB_INDEX_READS = {"IXSCAN", "IDHACK", "EXPRESS_IXSCAN", "EXPRESS_CLUSTERED_IXSCAN"}
_POSTGRES_INDEX_READS = {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}
# DocumentDB reads a whole collection through its `_id_` index with no condition but the
# collection's shard key: an index node that is a scan in all but name.
_SHARD_KEY_ONLY = re.compile(r"^\(*shard_key_value = '\d+'::bigint\)*$")


def _plan_nodes(plan: Any) -> list[str]:
    """The plan's nodes as "index", "scan" or "other"."""
    found: list[str] = []
    if isinstance(plan, Mapping):
        stage, node = plan.get("stage"), plan.get("Node Type")
        if stage in _MONGODB_INDEX_READS:
            found.append("index")
        elif node in _POSTGRES_INDEX_READS:
            condition = str(plan.get("Index Cond") or "").strip()
            found.append("index" if condition and not _SHARD_KEY_ONLY.match(condition) else "scan")
        elif stage in _SCANS or node in _SCANS:
            found.append("scan")
        for value in plan.values():
            found.extend(_plan_nodes(value))
    elif isinstance(plan, list):
        for value in plan:
            found.extend(_plan_nodes(value))
    return found


def uses_index(explained: Mapping[str, Any]) -> bool:
    """Whether an ``explain`` answer, MongoDB's or FerretDB v2's, reads through an index
    with a condition on the query's own fields and never scans the whole collection. The
    rejected plans MongoDB lists are ignored."""
    plan: dict[str, Any] = {}
    planner = explained.get("queryPlanner")
    if isinstance(planner, Mapping):
        plan["winningPlan"] = planner.get("winningPlan")
        if "Plan" in planner:  # FerretDB v2 puts the PostgreSQL plan there
            plan["Plan"] = planner["Plan"]
    if "executionStats" in explained:
        plan["executionStages"] = explained["executionStats"].get("executionStages")
    nodes = _plan_nodes(plan)
    return "index" in nodes and "scan" not in nodes
