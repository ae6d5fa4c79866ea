"""The MongoDB client every service's store adapter is built on.

Everything here works on MongoDB and on FerretDB alike: single-document atomic updates,
unique indexes, ``find``/``aggregate`` with simple stages. No multi-document
transactions and no change streams: FerretDB has neither, and the design does not need
them (outboxes live inside the document they belong to).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection, AsyncIOMotorDatabase
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

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


async def ping(database: AsyncIOMotorDatabase[Any]) -> bool:
    try:
        await database.command("ping")
    except Exception:
        return False
    return True


async def is_ferretdb(database: AsyncIOMotorDatabase[Any]) -> bool:
    info = await database.command("buildInfo")
    return "ferretdbVersion" in info


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "$lt": operator.lt,
    "$lte": operator.le,
    "$gt": operator.gt,
    "$gte": operator.ge,
}


def _comparable(value: Any, operand: Any) -> bool:
    numbers = (int, float)
    if isinstance(value, bool) or isinstance(operand, bool):
        return type(value) is type(operand)
    if isinstance(value, numbers) and isinstance(operand, numbers):
        return True
    return value is not None and type(value) is type(operand)


def _as_stored(value: Any) -> Any:
    # BSON keeps milliseconds: a datetime in a query is cut to them before MongoDB
    # compares it, and so is one read back from the store.
    if isinstance(value, datetime):
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    return value


def matches(document: Mapping[str, Any], condition: Mapping[str, Any]) -> bool:
    """Whether ``document`` meets ``condition`` as MongoDB would judge it, for the few
    forms conditional writes use: equality (None also matching a missing field), ``$ne``
    (on an array: does not contain), ``$in`` and the four orderings. An ordering never
    matches a missing or null field, nor a value of another type (MongoDB compares
    within one type only)."""
    for name, wanted in condition.items():
        value = document.get(name)
        if not isinstance(wanted, Mapping):
            if value != wanted:
                return False
            continue
        for op, operand in wanted.items():
            if op == "$ne":
                present = operand in value if isinstance(value, list) else value == operand
                if present:
                    return False
            elif op == "$in":
                if value not in operand:
                    return False
            elif op in _ORDER:
                if not _comparable(value, operand):
                    return False
                if not _ORDER[op](_as_stored(value), _as_stored(operand)):
                    return False
            else:
                raise ValueError(f"condition operator {op} is not supported")
    return True


class GuardedWrites:
    """Single-document writes on one collection, addressed by id and guarded by a
    condition on the document ("only if it is still in this state").

    On MongoDB the condition goes into the filter: the ``_id`` index finds the document
    and the server applies the check and the write atomically. FerretDB 1.x answers a
    filter of ``_id`` alone with a look-up by id and every other filter by decoding the
    whole collection, so a guarded write there costs a scan that grows with the
    collection; its conditional writes are not atomic either (it reads, checks and
    writes the document as separate steps). There the document is read by id, the
    condition checked here and the write addressed by id alone: the same guarantee as
    FerretDB's own, for a look-up instead of a scan. Callers that need the condition to
    hold against concurrent writers on FerretDB serialise those writers themselves, as
    they must anyway.

    ``check_here`` stays False (correct on every store) until ``adapt`` has asked the
    server what it is.
    """

    def __init__(self, collection: AsyncIOMotorCollection[Any]) -> None:
        self._collection = collection
        self.check_here = False

    async def adapt(self, database: AsyncIOMotorDatabase[Any]) -> None:
        self.check_here = await is_ferretdb(database)

    async def find_one(
        self,
        _id: Any,
        condition: Mapping[str, Any],
        projection: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        if not self.check_here:
            found: dict[str, Any] | None = await self._collection.find_one(
                {"_id": _id, **condition}, projection
            )
            return found
        document = await self._read(_id, condition, projection)
        return document if document is not None and matches(document, condition) else None

    async def update_one(
        self,
        _id: Any,
        condition: Mapping[str, Any],
        update: Mapping[str, Any],
        *,
        upsert: bool = False,
    ) -> bool:
        """Whether the write happened: the document met the condition and was updated,
        or (``upsert``) did not exist and was created."""
        if not self.check_here:
            try:
                result = await self._collection.update_one(
                    {"_id": _id, **condition}, update, upsert=upsert
                )
            except DuplicateKeyError:
                return False  # it exists, and does not meet the condition
            return result.matched_count == 1 or result.upserted_id is not None
        document = await self._read(_id, condition, dict.fromkeys(condition, 1))
        if document is None and not upsert:
            return False
        if document is not None and not matches(document, condition):
            return False
        try:
            result = await self._collection.update_one({"_id": _id}, update, upsert=upsert)
        except DuplicateKeyError:
            return False  # created by someone else since the read
        return result.matched_count == 1 or result.upserted_id is not None

    async def find_one_and_update(
        self, _id: Any, condition: Mapping[str, Any], update: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The document as updated, or None if it did not meet the condition."""
        where: dict[str, Any] = {"_id": _id, **condition}
        if self.check_here:
            if await self.find_one(_id, condition, dict.fromkeys(condition, 1)) is None:
                return None
            where = {"_id": _id}
        document: dict[str, Any] | None = await self._collection.find_one_and_update(
            where, update, return_document=ReturnDocument.AFTER
        )
        return document

    async def _read(
        self, _id: Any, condition: Mapping[str, Any], projection: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        if projection is not None and all(v for v in projection.values()):
            # An inclusive projection must also bring the fields the condition reads.
            projection = {**projection, **dict.fromkeys(condition, 1)}
        found: dict[str, Any] | None = await self._collection.find_one({"_id": _id}, projection)
        return found
