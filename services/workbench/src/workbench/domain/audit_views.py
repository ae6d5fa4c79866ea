"""What the auditors' pages show of audit's answers: the search's filters read from the
query, the entries with what changed, the verification's and a document's verdicts in
words. Pure, so each rule is tested on its own."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from workbench.domain.i18n import Translator
from workbench.domain.views import local_time

# Audit's own patterns for its filters: a value that does not match is dropped here
# (a hand-edited URL gets the unfiltered search) rather than refused there.
DOSSIER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
ACTOR = re.compile(r"^[a-z]{1,16}:[A-Za-z0-9][A-Za-z0-9._@-]{0,110}$")
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9-]{0,40}(?:\.[a-z0-9-]{1,40}){1,4}$")
DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
CURSOR = re.compile(r"^[A-Za-z0-9_=-]{1,512}$")
# Days are the department's: midnight in Vietnam.
LOCAL_OFFSET = "+07:00"
# The event types an auditor picks from (others can still be typed in the URL).
EVENT_TYPES = (
    "dossier.submitted.v1",
    "dossier.status-changed.v1",
    "dossier.assigned.v1",
    "dossier.note-added.v1",
    "dossier.supplemented.v1",
    "dossier.withdrawal-requested.v1",
    "dossier.deadline-extended.v1",
    "dossier.overdue.v1",
    "dossier.apology-issued.v1",
    "dossier.document-read.v1",
    "dossier.result-issued.v1",
    "dossier.identity-resolved.v1",
    "notification.sent.v1",
    "notification.failed.v1",
    "catalogue.version-activated.v1",
)
# Changes' values longer than this are cut on the page (the export has them whole).
VALUE_CHARS = 120


@dataclass(frozen=True)
class Search:
    """The search as asked: what the form shows back, and audit's query for it."""

    dossier_id: str = ""
    actor: str = ""
    event_type: str = ""
    day_from: str = ""
    day_to: str = ""
    cursor: str | None = None

    def query(self) -> dict[str, str]:
        """Audit's query parameters (``from``/``to`` as instants: a day's start in
        Vietnam; ``to`` is exclusive, so the day after the last)."""
        found: dict[str, str] = {}
        if self.dossier_id:
            found["dossier_id"] = self.dossier_id
        if self.actor:
            found["actor"] = self.actor
        if self.event_type:
            found["event_type"] = self.event_type
        if self.day_from:
            found["from"] = f"{self.day_from}T00:00:00{LOCAL_OFFSET}"
        if self.day_to:
            after = date.fromisoformat(self.day_to) + timedelta(days=1)
            found["to"] = f"{after.isoformat()}T00:00:00{LOCAL_OFFSET}"
        return found

    def page_params(self) -> list[tuple[str, str]]:
        """This page's own query (for the export links and the next page)."""
        return [
            (name, value)
            for name, value in (
                ("dossier_id", self.dossier_id),
                ("actor", self.actor),
                ("event_type", self.event_type),
                ("from", self.day_from),
                ("to", self.day_to),
            )
            if value
        ]


def _day(value: str | None) -> str:
    if not value or not DAY.match(value):
        return ""
    try:
        date.fromisoformat(value)
    except ValueError:
        return ""
    return value


def _kept_if(pattern: re.Pattern[str], value: str | None) -> str:
    text = (value or "").strip()
    return text if pattern.match(text) else ""


def read_search(
    dossier_id: str | None,
    actor: str | None,
    event_type: str | None,
    day_from: str | None,
    day_to: str | None,
    cursor: str | None,
) -> Search:
    """The filters as asked, each kept only if it is one audit accepts; an empty or
    reversed period keeps its start only."""
    first, last = _day(day_from), _day(day_to)
    if first and last and last < first:
        last = ""
    return Search(
        dossier_id=_kept_if(DOSSIER_ID, dossier_id),
        actor=_kept_if(ACTOR, actor),
        event_type=_kept_if(EVENT_TYPE, event_type),
        day_from=first,
        day_to=last,
        cursor=cursor if cursor and CURSOR.match(cursor) else None,
    )


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class Change:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class EntryRow:
    seq: int
    at: str
    event_type: str
    event_label: str
    actor: str
    dossier_id: str | None
    changes: list[Change]
    entry_hash: str


def shown(value: Any) -> str:
    """A changed value as text: JSON for structures, cut when long, "—" for none."""
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def event_label(event_type: str, t: Translator) -> str:
    key = f"auditor.event.{event_type}"
    return t(key) if t.has(key) else event_type


def entry_rows(entries: list[dict[str, Any]], t: Translator) -> list[EntryRow]:
    return [
        EntryRow(
            seq=int(entry["seq"]),
            at=local_time(entry["occurred_at"]),
            event_type=str(entry["event_type"]),
            event_label=event_label(str(entry["event_type"]), t),
            actor=str(entry["actor"]),
            dossier_id=entry.get("dossier_id"),
            changes=[
                Change(str(c.get("field", "")), shown(c.get("old")), shown(c.get("new")))
                for c in entry.get("changes") or []
            ],
            entry_hash=str(entry.get("entry_hash", "")),
        )
        for entry in entries
    ]


# --------------------------------------------------------------------------- verdicts


def read_seq(value: object) -> int | None:
    """A sequence number typed in a form: a positive whole number, or None if empty."""
    text = str(value or "").strip()
    if not text:
        return None
    if not text.isdigit() or not text.isascii():
        raise ValueError(text)
    number = int(text)
    if number < 1:
        raise ValueError(text)
    return number


@dataclass(frozen=True)
class Verification:
    ok: bool
    headline: str
    facts: list[tuple[str, str]]
    failure: str | None


def verification(result: dict[str, Any], t: Translator) -> Verification:
    """Audit's verification in words: passed or where it first failed."""
    ok = bool(result.get("ok"))
    failure = result.get("first_failure")
    facts = [
        (t("auditor.verify.range"), f"{result.get('from_seq')} – {result.get('to_seq') or '…'}"),
        (t("auditor.verify.entries_checked"), str(result.get("entries_checked", 0))),
        (t("auditor.verify.checkpoints_checked"), str(result.get("checkpoints_checked", 0))),
        (t("auditor.verify.tree_size"), str(result.get("tree_size", 0))),
        (t("auditor.verify.checkpointed_size"), str(result.get("checkpointed_size", 0))),
        (t("auditor.verify.root_hash"), str(result.get("root_hash", ""))),
    ]
    failed = None
    if isinstance(failure, dict):
        failed = t(
            "auditor.verify.failure",
            seq=failure.get("seq"),
            reason=failure.get("reason", ""),
            detail=failure.get("detail", ""),
        )
    return Verification(
        ok=ok,
        headline=t("auditor.verify.passed") if ok else t("auditor.verify.failed"),
        facts=facts,
        failure=failed,
    )


@dataclass(frozen=True)
class DocumentVerdict:
    genuine: bool  # these very bytes were issued and the signature is valid and trusted
    headline: str
    facts: list[tuple[str, str]]


def document_verdict(verdict: dict[str, Any], t: Translator) -> DocumentVerdict:
    """Audit's verdict on a PDF in words: issued by the department and intact, or why
    not."""
    signature = verdict.get("signature") or {}
    entry = verdict.get("entry") or {}
    issued = bool(verdict.get("issued"))
    valid, trusted = bool(signature.get("valid")), bool(signature.get("trusted"))
    genuine = issued and valid and trusted
    if genuine:
        headline = t("auditor.document.genuine")
    elif not issued:
        headline = t("auditor.document.not_issued")
    else:
        headline = t("auditor.document.bad_signature")
    yes, no = t("auditor.yes"), t("auditor.no")
    facts = [
        (t("auditor.document.sha256"), str(verdict.get("sha256", ""))),
        (t("auditor.document.issued"), yes if issued else no),
        (t("auditor.document.signature_valid"), yes if valid else no),
        (t("auditor.document.signature_trusted"), yes if trusted else no),
    ]
    if signature.get("signer"):
        facts.append((t("auditor.document.signer"), str(signature["signer"])))
    if signature.get("signed_at"):
        facts.append((t("auditor.document.signed_at"), local_time(str(signature["signed_at"]))))
    if signature.get("problem"):
        facts.append((t("auditor.document.problem"), str(signature["problem"])))
    if entry:
        facts.append((t("auditor.document.receipt_code"), str(entry.get("receipt_code") or "—")))
        facts.append(
            (t("auditor.document.decision_number"), str(entry.get("decision_number") or "—"))
        )
        facts.append((t("auditor.document.entry"), str(entry.get("seq", ""))))
    status = str(verdict.get("proof_status", ""))
    key = f"auditor.proof.{status}"
    facts.append((t("auditor.document.proof"), t(key) if t.has(key) else status))
    return DocumentVerdict(genuine, headline, facts)
