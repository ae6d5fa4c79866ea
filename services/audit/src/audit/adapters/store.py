"""The audit log's store: insert and find only. There is no update or delete path."""

from __future__ import annotations

from typing import Any

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import ASCENDING
from pymongo.errors import BulkWriteError


class AuditStore:
    def __init__(self, db: AsyncIOMotorDatabase[Any]) -> None:
        self._entries = db["audit_entries"]

    async def create_indexes(self) -> None:
        await self._entries.create_index("event_id", unique=True)
        await self._entries.create_index([("dossier_id", ASCENDING), ("seq", ASCENDING)])

    async def append(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        try:
            await self._entries.insert_many(entries, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise

    async def dossier_trail(self, dossier_id: str) -> list[dict[str, Any]]:
        cursor = self._entries.find({"dossier_id": dossier_id}, {"_id": 0}).sort("seq", ASCENDING)
        return [doc async for doc in cursor]
