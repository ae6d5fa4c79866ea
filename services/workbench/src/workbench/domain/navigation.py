"""The navigation bar: each page, and the roles that see it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str  # an i18n key
    roles: frozenset[str]


# In the order shown. Another area's pages append theirs.
NAV: list[NavItem] = [
    NavItem("/queue", "nav.queue", frozenset({"officer", "leader"})),
    NavItem("/approvals", "nav.approvals", frozenset({"leader"})),
    NavItem("/statistics", "nav.statistics", frozenset({"leader"})),
    NavItem("/desk", "nav.desk", frozenset({"desk"})),
    NavItem("/audit", "nav.audit", frozenset({"auditor"})),
    NavItem("/audit/verify", "nav.audit_verify", frozenset({"auditor"})),
    NavItem("/audit/documents", "nav.audit_documents", frozenset({"auditor"})),
]


def visible(roles: frozenset[str]) -> list[NavItem]:
    return [item for item in NAV if item.roles & roles]
