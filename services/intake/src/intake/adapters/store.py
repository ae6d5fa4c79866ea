"""Intake's store: submissions it accepted and the status projection it keeps."""

from __future__ import annotations

from typing import Any

from motor.motor_asyncio import AsyncIOMotorDatabase


class IntakeStore:
    def __init__(self, db: AsyncIOMotorDatabase[Any]) -> None:
        self._submissions = db["submissions"]

    async def create_indexes(self) -> None:
        await self._submissions.create_index("receipt_code", unique=True)

    async def save_submission(self, document: dict[str, Any]) -> None:
        await self._submissions.insert_one(document)
