"""Intake's public API: the catalogue, the counter, the citizens' follow-up."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from workbench.adapters.api import ServiceApi
from workbench.adapters.streaming import Download, open_download, send_stream

# The catalogue changes with a release; intake itself lets clients cache it 5 minutes.
CATALOGUE_CACHE_S = 300.0


class IntakeApi(ServiceApi):
    name = "intake"
    _procedures: list[dict[str, Any]] | None = None
    _fetched_at = 0.0

    async def procedures(self) -> list[dict[str, Any]]:
        """Every procedure of the catalogue (summaries), cached for a while."""
        now = time.monotonic()
        if self._procedures is None or now - self._fetched_at > CATALOGUE_CACHE_S:
            answer = await self.call("GET", "/v1/procedures")
            self._procedures = list(answer.body["procedures"])
            self._fetched_at = now
        return self._procedures

    async def procedures_of(self, agency: str | None) -> list[dict[str, Any]]:
        return [p for p in await self.procedures() if p["agency"]["code"] == agency]

    _details: dict[str, tuple[float, dict[str, Any]]] | None = None

    async def procedure(self, code: str) -> dict[str, Any]:
        """One procedure with its documents and form schema, cached like the list."""
        if self._details is None:
            self._details = {}
        now = time.monotonic()
        cached = self._details.get(code)
        if cached is None or now - cached[0] > CATALOGUE_CACHE_S:
            answer = await self.call("GET", f"/v1/procedures/{code}")
            cached = (now, dict(answer.body))
            self._details[code] = cached
        return cached[1]

    # ----------------------------------------------------------------- the desk

    async def upload(
        self, token: str, name: str, media_type: str, body: AsyncIterator[bytes]
    ) -> dict[str, Any]:
        """One document, streamed to intake as it is read; its ``sha256`` and ``size``."""
        stored = await send_stream(
            self, "/v1/documents", body, media_type, token, params={"name": name}
        )
        return dict(stored)

    async def submit(
        self, token: str, submission: dict[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        """The receipt; a retry with the same key gets the first one again."""
        answer = await self.call(
            "POST",
            "/v1/dossiers",
            token,
            json=submission,
            headers={"Idempotency-Key": idempotency_key},
        )
        return dict(answer.body)

    async def slip(self, token: str, receipt_code: str) -> Download:
        return await open_download(self, f"/v1/dossiers/{receipt_code}/slip.pdf", token)

    # ----------------------------------------------------------------- citizens

    @staticmethod
    def _second_factor(secret: str | None, phone: str | None) -> dict[str, str]:
        if secret:
            return {"X-Follow-Up-Secret": secret}
        return {"X-Applicant-Phone": phone or ""}

    async def status(
        self, receipt_code: str, secret: str | None, phone: str | None
    ) -> dict[str, Any]:
        answer = await self.call(
            "GET",
            f"/v1/dossiers/{receipt_code}/status",
            headers=self._second_factor(secret, phone),
        )
        return dict(answer.body)

    async def supplement(
        self, receipt_code: str, secret: str | None, phone: str | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        answer = await self.call(
            "POST",
            f"/v1/dossiers/{receipt_code}/supplements",
            json=body,
            headers=self._second_factor(secret, phone),
        )
        return dict(answer.body)

    async def citizen_document(
        self, receipt_code: str, document_id: str, secret: str | None, phone: str | None
    ) -> Download:
        return await open_download(
            self,
            f"/v1/dossiers/{receipt_code}/documents/{document_id}",
            headers=self._second_factor(secret, phone),
        )

    async def officer_document(self, token: str, receipt_code: str, document_id: str) -> Download:
        """One of a dossier's documents for an officer of its agency (intake records the
        read in the audit log before it sends a byte)."""
        return await open_download(
            self, f"/v1/officer/dossiers/{receipt_code}/documents/{document_id}", token
        )
