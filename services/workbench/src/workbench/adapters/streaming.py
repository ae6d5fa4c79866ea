"""Files through the workbench without holding them whole: an upload read from the
browser's form in chunks and sent on as it is read, a download passed on to the browser
chunk by chunk as the service sends it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from workbench.adapters.api import ServiceApi, ServiceProblem, ServiceUnavailable

CHUNK_BYTES = 64 * 1024


class Readable(Protocol):
    """What a form's file offers (Starlette's ``UploadFile``)."""

    async def read(self, size: int = -1) -> bytes: ...


async def chunks_of(upload: Readable, size: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
    while chunk := await upload.read(size):
        yield chunk


@dataclass
class Download:
    """A service's answer whose body is still on the wire; ``chunks()`` reads it once and
    closes it (``close()`` if it is never read)."""

    response: httpx.Response

    @property
    def media_type(self) -> str:
        return str(self.response.headers.get("Content-Type", "application/octet-stream"))

    def header(self, name: str) -> str | None:
        value = self.response.headers.get(name)
        return str(value) if value is not None else None

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.aiter_bytes(CHUNK_BYTES):
                yield chunk
        finally:
            await self.response.aclose()

    async def close(self) -> None:
        await self.response.aclose()


def _problem(api: ServiceApi, status: int, body: bytes) -> Exception:
    try:
        problem: Any = json.loads(body) if body else {}
    except ValueError:
        problem = {}
    if status in (502, 503, 504) and not problem:
        return ServiceUnavailable(api.name, str(status))
    return ServiceProblem(api.name, status, problem if isinstance(problem, dict) else {})


async def open_download(
    api: ServiceApi,
    path: str,
    token: str | None = None,
    *,
    params: Any = None,
    headers: dict[str, str] | None = None,
) -> Download:
    """GET ``path`` and keep the body on the wire; a problem answer raises as
    ``ServiceApi.call`` does."""
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    request = api.http.build_request("GET", path, params=params, headers=sent)
    try:
        response = await api.http.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(api.name, type(exc).__name__) from exc
    if response.status_code >= 400:
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        raise _problem(api, response.status_code, body)
    return Download(response)


async def send_stream(
    api: ServiceApi,
    path: str,
    body: AsyncIterator[bytes],
    media_type: str,
    token: str | None = None,
    *,
    params: Any = None,
) -> Any:
    """POST ``body`` as it is read (chunked), the JSON answer back; a problem answer
    raises as ``ServiceApi.call`` does."""
    sent = {"Content-Type": media_type}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    try:
        response = await api.http.post(path, content=body, params=params, headers=sent)
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(api.name, type(exc).__name__) from exc
    if response.status_code >= 400:
        raise _problem(api, response.status_code, response.content)
    return response.json() if response.content else None
