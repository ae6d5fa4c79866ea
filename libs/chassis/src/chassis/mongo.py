"""The MongoDB client every service's store adapter is built on.

Everything here works on MongoDB and on FerretDB alike: single-document atomic updates,
unique indexes, ``find``/``aggregate`` with simple stages. No multi-document
transactions and no change streams: FerretDB has neither, and the design does not need
them (outboxes live inside the document they belong to).
"""

from __future__ import annotations

from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase

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
