"""MongoDB operator injection through every query parameter, path parameter and body field.

Every parameter and body field is read from the services' own OpenAPI documents, so a new
one is attacked as soon as it exists. Each attempt is made by a caller who may use the
route (so it is not simply refused at the door) and must be refused with a 4xx problem
document. Afterwards the four databases must be exactly as they were.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from tests.fuzz.fuzz_platform import RunningPlatform, Seeded
from tests.permissions.permission_table import (
    MATRIX,
    PRINCIPALS,
    Call,
    Row,
    credentials,
    requests_for,
)

# As a query or path value (all a URL can carry), and as a JSON value in a body.
OPERATOR_TEXTS = (
    '{"$ne": ""}',
    '{"$gt": ""}',
    '{"$where": "sleep(100) || true"}',
    "$where",
    '{"$regex": ".*"}',
)
OPERATOR_VALUES: tuple[Any, ...] = (
    {"$ne": None},
    {"$gt": ""},
    {"$where": "sleep(100) || true"},
    {"$regex": ".*"},
    {"a.b": 1},
    {"$set": {"status": "approved"}},
)
# Keys a store would read as an operator or a path, added beside the real fields.
OPERATOR_KEYS = ("$where", "$set", "a.b", "applicant.name")

# The catalogue's free-text search is matched in memory against the procedures' names;
# it reaches no store. An operator there is just words that match nothing.
LITERAL_TEXT = {("intake", "GET", "/v1/procedures", "text")}


def allowed_caller(row: Row) -> str:
    """A caller the table lets through, so that a refusal comes from the value."""
    codes = MATRIX[row]
    for principal in PRINCIPALS:
        if codes[principal] not in (401, 403):
            return principal
    raise AssertionError(f"nobody may call {row}")


def rows_by_route() -> dict[tuple[str, str, str], Row]:
    """One row per route: the first variant in the table."""
    found: dict[tuple[str, str, str], Row] = {}
    for row in MATRIX:
        found.setdefault(row.route, row)
    return found


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            option = resolve(document, option)
            if option.get("type") not in (None, "null"):
                return option
    return schema


def body_paths(
    document: dict[str, Any], schema: dict[str, Any], body: Any, prefix: tuple[Any, ...] = ()
) -> Iterator[tuple[Any, ...]]:
    """Every field the schema names, and every key the sample body holds, as paths."""
    schema = resolve(document, schema)
    if isinstance(body, dict):
        names = set(schema.get("properties", {})) | set(body)
        for name in sorted(names):
            yield (*prefix, name)
            if name in body:
                child = schema.get("properties", {}).get(name, {})
                yield from body_paths(document, child, body[name], (*prefix, name))
    elif isinstance(body, list) and body:
        yield from body_paths(document, schema.get("items", {}), body[0], (*prefix, 0))


def object_paths(body: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The body itself and every object inside it, as paths."""
    if isinstance(body, dict):
        yield prefix
        for name, child in body.items():
            yield from object_paths(child, (*prefix, name))
    elif isinstance(body, list) and body:
        yield from object_paths(body[0], (*prefix, 0))


def with_value(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(body))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


async def store_digest(platform: RunningPlatform, mongodb: str) -> dict[str, str]:
    """A hash of every document of every collection of the four databases."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb, tz_aware=True)
    digests: dict[str, str] = {}
    try:
        for service, name in platform.databases.items():
            database = client[name]
            for collection in sorted(await database.list_collection_names()):
                hasher = hashlib.sha256()
                async for document in database[collection].find({}).sort("_id", 1):
                    hasher.update(json.dumps(document, sort_keys=True, default=str).encode())
                digests[f"{service}.{collection}"] = hasher.hexdigest()
    finally:
        await client.close()
    return digests


async def quiet_digest(platform: RunningPlatform, mongodb: str) -> dict[str, str]:
    """The digest once it stopped changing: events of earlier tests may still flow."""
    previous = await store_digest(platform, mongodb)
    for _ in range(30):
        await asyncio.sleep(2.0)
        current = await store_digest(platform, mongodb)
        if current == previous:
            return current
        previous = current
    raise AssertionError("the stores never settled")


class Attempts:
    def __init__(self, client: httpx.AsyncClient, platform: RunningPlatform) -> None:
        self._client = client
        self._platform = platform
        self.made = 0
        self.wrong: list[str] = []

    async def send(
        self,
        row: Row,
        call: Call,
        what: str,
        *,
        path: str | None = None,
        params: dict[str, Any] | None = None,
        body: Any = None,
        literal: bool = False,
    ) -> None:
        principal = allowed_caller(row)
        response = await self._client.request(
            call.method,
            self._platform.url(row.service) + (path or call.path),
            params=params if params is not None else call.params,
            json=body if body is not None else call.json,
            headers=call.headers | credentials(self._platform, principal),
        )
        self.made += 1
        status = response.status_code
        if literal:
            # Taken as words: nothing matches them.
            if status != 200 or response.json().get("count") != 0:
                self.wrong.append(f"{row} {what}: {status} {response.text[:120]}")
            return
        content_type = response.headers.get("content-type", "")
        if not 400 <= status < 500 or not content_type.startswith("application/problem+json"):
            self.wrong.append(f"{row} {what}: {status} {content_type} {response.text[:120]}")


async def test_operator_injection_is_refused_everywhere_and_changes_nothing(
    permission_platform: RunningPlatform, permission_seeded: Seeded, infra: Any
) -> None:
    before = await quiet_digest(permission_platform, infra.mongodb)
    calls = requests_for(permission_seeded)
    rows = rows_by_route()
    async with httpx.AsyncClient(timeout=30) as client:
        attempts = Attempts(client, permission_platform)
        for service in ("intake", "processing", "notification", "audit"):
            answer = await client.get(f"{permission_platform.url(service)}/openapi.json")
            document = answer.json()
            for route_path, operations in document["paths"].items():
                for method, operation in operations.items():
                    row = rows[(service, method.upper(), route_path)]
                    call = calls[row]
                    for parameter in operation.get("parameters", []):
                        name, where = parameter["name"], parameter["in"]
                        for text in OPERATOR_TEXTS:
                            if where == "query":
                                literal = (service, method.upper(), route_path, name)
                                await attempts.send(
                                    row,
                                    call,
                                    f"query {name}={text}",
                                    params={**call.params, name: text},
                                    literal=literal in LITERAL_TEXT,
                                )
                            elif where == "path":
                                quoted = urllib.parse.quote(text, safe="")
                                path = route_path
                                for key, value in call.path_params.items():
                                    path = path.replace(
                                        "{" + key + "}", quoted if key == name else value
                                    )
                                await attempts.send(row, call, f"path {name}={text}", path=path)
                    content = operation.get("requestBody", {}).get("content", {})
                    schema = content.get("application/json", {}).get("schema")
                    if schema is None or call.json is None:
                        continue
                    for field_path in body_paths(document, schema, call.json):
                        for value in OPERATOR_VALUES:
                            await attempts.send(
                                row,
                                call,
                                f"body {'.'.join(map(str, field_path))}={value}",
                                body=with_value(call.json, field_path, value),
                            )
                    for where in object_paths(call.json):
                        for key in OPERATOR_KEYS:
                            await attempts.send(
                                row,
                                call,
                                f"body key {'.'.join(map(str, (*where, key)))}",
                                body=with_value(call.json, (*where, key), "x"),
                            )
    assert attempts.made > 300, f"only {attempts.made} attempts: the documents look empty"
    assert not attempts.wrong, f"{len(attempts.wrong)} attempt(s) not refused:\n" + "\n".join(
        attempts.wrong
    )
    after = await quiet_digest(permission_platform, infra.mongodb)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"injection attempts changed the stores: {changed}"
