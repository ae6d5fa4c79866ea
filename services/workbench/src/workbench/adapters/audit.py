"""Audit's API: the log, a dossier's trail, verification, export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from workbench.adapters.api import ServiceApi
from workbench.adapters.streaming import Download, open_download, send_stream


class AuditApi(ServiceApi):
    name = "audit"

    async def trail(self, token: str, dossier_id: str) -> dict[str, Any]:
        answer = await self.call("GET", f"/v1/audit/dossiers/{dossier_id}", token)
        return dict(answer.body)

    async def entries(
        self, token: str, filters: dict[str, str], cursor: str | None = None, limit: int = 50
    ) -> dict[str, Any]:
        """One page of the log's entries matching ``filters`` (audit's query names)."""
        params = {**filters, "limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        answer = await self.call("GET", "/v1/audit/entries", token, params=params)
        return dict(answer.body)

    async def trail_page(
        self, token: str, dossier_id: str, cursor: str | None = None
    ) -> dict[str, Any]:
        params = {"cursor": cursor} if cursor else None
        answer = await self.call("GET", f"/v1/audit/dossiers/{dossier_id}", token, params=params)
        return dict(answer.body)

    async def verify(
        self, token: str, from_seq: int | None = None, to_seq: int | None = None
    ) -> dict[str, Any]:
        body: dict[str, int] = {}
        if from_seq is not None:
            body["from_seq"] = from_seq
        if to_seq is not None:
            body["to_seq"] = to_seq
        answer = await self.call("POST", "/v1/audit/verify", token, json=body)
        return dict(answer.body)

    async def export(self, token: str, kind: str, filters: dict[str, str]) -> Download:
        """The entries as ``ndjson`` (sealed, verifiable offline) or ``csv``, streamed."""
        return await open_download(self, f"/v1/audit/entries.{kind}", token, params=filters)

    async def public_key_pem(self) -> Download:
        return await open_download(self, "/v1/audit/public-key.pem")

    async def verify_document(self, body: AsyncIterator[bytes]) -> dict[str, Any]:
        """The verdict on a PDF (public: no token), streamed to audit as it is read."""
        verdict = await send_stream(self, "/v1/documents/verify", body, "application/pdf")
        return dict(verdict)
