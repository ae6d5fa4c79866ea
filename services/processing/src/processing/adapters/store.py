"""Processing's store. A dossier document carries its own outbox: a state change and the
events it emits are written in one single-document update, which MongoDB and FerretDB
both make atomic, so no multi-document transaction is needed."""

from __future__ import annotations

from typing import Any

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo.errors import DuplicateKeyError


class DossierStore:
    def __init__(self, db: AsyncIOMotorDatabase[Any]) -> None:
        self._dossiers = db["dossiers"]

    async def create_indexes(self) -> None:
        await self._dossiers.create_index("outbox_pending", sparse=True)

    async def create(self, document: dict[str, Any], event_id: str) -> bool:
        """Insert a dossier born from ``event_id``; False if it already exists."""
        document = {**document, "applied_events": [event_id]}
        try:
            await self._dossiers.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def pending_outboxes(self, limit: int = 200) -> list[dict[str, Any]]:
        cursor = self._dossiers.find({"outbox_pending": True}, {"outbox": 1}, limit=limit)
        return [doc async for doc in cursor]

    async def mark_published(self, dossier_id: str, event_ids: list[str]) -> None:
        await self._dossiers.update_one(
            {"_id": dossier_id}, {"$pull": {"outbox": {"id": {"$in": event_ids}}}}
        )
        # The flag is cleared only if nothing was appended meanwhile.
        await self._dossiers.update_one(
            {"_id": dossier_id, "outbox": {"$size": 0}}, {"$unset": {"outbox_pending": ""}}
        )

    async def get(self, dossier_id: str) -> dict[str, Any] | None:
        return await self._dossiers.find_one({"_id": dossier_id})
