"""What the workbench remembers of a signed-in person between requests: their access
token and what it says (subject, roles, agency), the CSRF token and when it all ends.
It travels encrypted in a cookie, so any replica can serve the next request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STAFF_ROLES = frozenset({"officer", "leader"})


@dataclass(frozen=True)
class Session:
    token: str
    subject: str
    roles: frozenset[str]
    agency: str | None
    csrf: str
    expires_at: float
    scopes: frozenset[str] = field(default_factory=frozenset)

    def live(self, now: float) -> bool:
        return now < self.expires_at

    def has(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    @property
    def actor(self) -> str:
        """How processing names this person in a dossier's history."""
        return f"officer:{self.subject}"

    def to_record(self) -> dict[str, Any]:
        return {
            "t": self.token,
            "s": self.subject,
            "r": sorted(self.roles),
            "a": self.agency,
            "c": self.csrf,
            "e": self.expires_at,
            "sc": sorted(self.scopes),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Session:
        return cls(
            token=str(record["t"]),
            subject=str(record["s"]),
            roles=frozenset(record["r"]),
            agency=record.get("a"),
            csrf=str(record["c"]),
            expires_at=float(record["e"]),
            scopes=frozenset(record.get("sc", ())),
        )


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a path of this site only, never another site
    (``//host`` or ``/\\host`` would leave it)."""
    if not path or not path.startswith("/") or path.startswith(("//", "/\\")):
        return "/"
    return path
