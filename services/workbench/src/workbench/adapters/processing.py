"""Processing's officers' API and its public statistics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.adapters.api import ServiceApi


@dataclass(frozen=True)
class QueueFilters:
    statuses: tuple[str, ...] = ()
    procedure_code: str | None = None
    overdue: bool = False
    # "me", "none" or unset (everyone's).
    assigned_to: str | None = None
    cursor: str | None = None
    limit: int = 20

    def params(self) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = [("status", s) for s in self.statuses]
        if self.procedure_code:
            params.append(("procedure_code", self.procedure_code))
        if self.overdue:
            params.append(("overdue", "true"))
        if self.assigned_to:
            params.append(("assigned_to", self.assigned_to))
        if self.cursor:
            params.append(("cursor", self.cursor))
        params += [("sort", "due_date"), ("limit", str(self.limit))]
        return params


def _if_match(version: int) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


class ProcessingApi(ServiceApi):
    name = "processing"

    async def queue(self, token: str, filters: QueueFilters) -> dict[str, Any]:
        answer = await self.call("GET", "/v1/officer/queue", token, params=filters.params())
        return dict(answer.body)

    async def dossier(self, token: str, dossier_id: str) -> dict[str, Any]:
        answer = await self.call("GET", f"/v1/officer/dossiers/{dossier_id}", token)
        return dict(answer.body)

    async def act(
        self, token: str, dossier_id: str, version: int, body: dict[str, Any]
    ) -> dict[str, Any]:
        answer = await self.call(
            "POST",
            f"/v1/officer/dossiers/{dossier_id}/actions",
            token,
            json=body,
            headers=_if_match(version),
        )
        return dict(answer.body)

    async def claim(self, token: str, dossier_id: str, version: int) -> dict[str, Any]:
        answer = await self.call(
            "POST", f"/v1/officer/dossiers/{dossier_id}/claim", token, headers=_if_match(version)
        )
        return dict(answer.body)

    async def add_note(self, token: str, dossier_id: str, text: str) -> dict[str, Any]:
        answer = await self.call(
            "POST", f"/v1/officer/dossiers/{dossier_id}/notes", token, json={"text": text}
        )
        return dict(answer.body)

    async def statistics(
        self, agency: str | None, first: str | None = None, last: str | None = None
    ) -> dict[str, Any]:
        params = {k: v for k, v in (("agency", agency), ("from", first), ("to", last)) if v}
        answer = await self.call("GET", "/v1/statistics", params=params)
        return dict(answer.body)
