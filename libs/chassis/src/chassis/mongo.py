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

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase
from pymongo.errors import ConnectionFailure, OperationFailure

from chassis.settings import ServiceSettings


def connect(settings: ServiceSettings) -> tuple[AsyncIOMotorClient[Any], AsyncIOMotorDatabase[Any]]:
    client: AsyncIOMotorClient[Any] = AsyncIOMotorClient(
        settings.mongodb_uri.get_secret_value(),
        serverSelectionTimeoutMS=3000,
        connectTimeoutMS=3000,
        tz_aware=True,
        appname=settings.service_name,
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


async def ping(database: AsyncIOMotorDatabase[Any]) -> bool:
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
