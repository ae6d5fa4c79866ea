"""Delivery records: one per (event, channel, recipient), created before sending."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo.errors import DuplicateKeyError


class DeliveryStore:
    def __init__(self, db: AsyncIOMotorDatabase[Any]) -> None:
        self._deliveries = db["deliveries"]

    async def create_indexes(self) -> None:
        await self._deliveries.create_index("dossier_id")

    async def claim(self, document: dict[str, Any]) -> bool:
        """Record the delivery; False if this (event, channel, recipient) exists already."""
        try:
            await self._deliveries.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def get(self, delivery_id: str) -> dict[str, Any] | None:
        return await self._deliveries.find_one({"_id": delivery_id})

    async def mark_sent(self, delivery_id: str, attempts: int) -> None:
        await self._deliveries.update_one(
            {"_id": delivery_id},
            {"$set": {"status": "sent", "attempts": attempts, "sent_at": datetime.now(UTC)}},
        )
