"""View models: what the officers' and leaders' pages show, computed from the services'
answers without I/O, so each rule is tested on its own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from workbench.domain.i18n import Translator

# Vietnam keeps one time zone and no daylight saving.
LOCAL_TIME = timezone(timedelta(hours=7), "ICT")

# Open statuses, in workflow order, for the queue's status filter.
OPEN_STATUSES = (
    "submitted",
    "received",
    "awaiting_acceptance",
    "in_review",
    "supplement_requested",
    "supplemented",
    "awaiting_approval",
    "approved",
    "rejected",
)
# What each action's form asks for, after processing's rules (its ActionIn).
REASON_REQUIRED = frozenset({"request_supplement", "reject", "decline", "extend_deadline"})
REASON_OFFERED = frozenset(
    {"request_supplement", "reject", "decline", "withdraw", "extend_deadline"}
)
RESULT_REFERENCE_REQUIRED = frozenset({"approve"})
MISSING_ASKED = frozenset({"request_supplement"})
# The written decision or conclusion of complaints and denunciations: required to approve
# or reject one (its number stands as the result's reference), offered when declining.
DECISION_ACTIONS = frozenset({"approve", "reject", "decline"})
DECISION_REQUIRED = frozenset({"approve", "reject"})
DECIDED_KINDS = frozenset({"complaint", "denunciation"})
# Actions that close a dossier for good: their button is drawn as a warning.
GRAVE_ACTIONS = frozenset({"reject", "decline", "withdraw"})


def parse_time(value: str | datetime) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def local_time(value: str | datetime) -> str:
    return parse_time(value).astimezone(LOCAL_TIME).strftime("%d/%m/%Y %H:%M")


def local_date(value: str | date) -> str:
    day = value if isinstance(value, date) else date.fromisoformat(value)
    return day.strftime("%d/%m/%Y")


def ago(moment: datetime, now: datetime, t: Translator) -> str:
    """ "3 phút trước": how long ago, in the largest whole unit."""
    seconds = max(0, int((now - moment).total_seconds()))
    minutes = seconds // 60
    if minutes < 1:
        return t("ago.now")
    if minutes == 1:
        return t("ago.minute")
    if minutes < 60:
        return t("ago.minutes", n=minutes)
    if minutes < 48 * 60:
        return t("ago.hours", n=minutes // 60)
    return t("ago.days", n=minutes // (24 * 60))


def actor_label(actor: str, me: str, t: Translator) -> str:
    """Who did it, in words: never the raw identifier of another person."""
    if actor == me:
        return t("actor.you")
    kind = actor.split(":", 1)[0]
    if kind == "officer":
        return t("actor.colleague")
    if kind == "system":
        return t("actor.system")
    if kind in ("citizen", "portal", "user"):
        return t("actor.citizen")
    return t("actor.someone")


def assignee_label(assignee: str | None, subject: str, t: Translator) -> str:
    if not assignee:
        return t("queue.nobody")
    return t("queue.you") if assignee == subject else t("queue.colleague")


@dataclass(frozen=True)
class QueueRow:
    dossier_id: str
    receipt_code: str
    procedure: str
    status: str
    status_label: str
    due: str
    overdue: bool
    paused: bool
    assignee: str


def queue_rows(items: list[dict[str, Any]], subject: str, t: Translator) -> list[QueueRow]:
    name = "procedure_name_en" if t.lang == "en" else "procedure_name_vi"
    return [
        QueueRow(
            dossier_id=item["dossier_id"],
            receipt_code=item["receipt_code"],
            procedure=f"{item['procedure_code']} · {item[name]}",
            status=item["status"],
            status_label=t(f"status.{item['status']}"),
            due=local_date(item["due_date"]),
            overdue=bool(item["overdue"]),
            paused=bool(item["clock_paused"]),
            assignee=assignee_label(item.get("assignee"), subject, t),
        )
        for item in items
    ]


@dataclass(frozen=True)
class TimelineEntry:
    at: str
    iso: str
    who: str
    what: str
    change: str
    reason: str | None


def timeline(history: list[dict[str, Any]], me: str, t: Translator) -> list[TimelineEntry]:
    """The dossier's history, newest first, in words."""
    entries = []
    for item in reversed(history):
        before = item.get("from_status")
        after = item["to_status"]
        change = (
            t("dossier.from_to", before=t(f"status.{before}"), after=t(f"status.{after}"))
            if before and before != after
            else t(f"status.{after}")
        )
        action = item["action"]
        entries.append(
            TimelineEntry(
                at=local_time(item["at"]),
                iso=parse_time(item["at"]).isoformat(),
                who=actor_label(item["actor"], me, t),
                what=action_label(action, t),
                change=change,
                reason=item.get("reason"),
            )
        )
    return entries


def conflict_message(history: list[dict[str, Any]], me: str, now: datetime, t: Translator) -> str:
    """Why the action was not taken: who acted on the dossier last, what they did and
    how long ago ("Một đồng nghiệp đã phê duyệt hồ sơ này 2 phút trước …")."""
    if not history:
        who, did, when = t("actor.someone"), t("did.changed"), t("ago.now")
    else:
        last = max(history, key=lambda h: parse_time(h["at"]))
        who = actor_label(last["actor"], me, t)
        key = f"did.{last['action']}"
        did = t(key) if t.has(key) else t("did.changed")
        when = ago(parse_time(last["at"]), now, t)
    return t("dossier.conflict", who=who, did=did, when=when)


@dataclass(frozen=True)
class ActionForm:
    action: str
    label: str
    reason: bool
    reason_required: bool
    result_reference: bool
    grave: bool
    missing: bool = False
    decision: bool = False
    decision_required: bool = False
    acceptance: bool = False
    extension: bool = False
    apology: bool = False


def action_label(action: str, t: Translator) -> str:
    key = f"action.{action}"
    return t(key) if t.has(key) else action.replace("_", " ").capitalize()


def action_forms(allowed: list[str], t: Translator, kind: str = "procedure") -> list[ActionForm]:
    return [
        ActionForm(
            action=action,
            label=action_label(action, t),
            reason=action in REASON_OFFERED,
            reason_required=action in REASON_REQUIRED,
            result_reference=action in RESULT_REFERENCE_REQUIRED and kind not in DECIDED_KINDS,
            grave=action in GRAVE_ACTIONS,
            missing=action in MISSING_ASKED,
            decision=action in DECISION_ACTIONS and kind in DECIDED_KINDS,
            decision_required=action in DECISION_REQUIRED and kind in DECIDED_KINDS,
            acceptance=action == "accept",
            extension=action == "extend_deadline",
            apology=action == "propose_apology",
        )
        for action in allowed
    ]


def action_body(
    action: str, form: Mapping[str, Any], lists: Mapping[str, list[str]]
) -> dict[str, Any]:
    """processing's action body from the posted form: only what was filled in, so that
    processing's own rules say what is missing."""

    def text(name: str) -> str:
        return str(form.get(name) or "").strip()

    body: dict[str, Any] = {"action": action}
    for name in ("reason", "result_reference", "new_due_date", "apology_text"):
        if text(name):
            body[name] = text(name)
    if lists.get("missing_documents"):
        body["missing_documents"] = list(lists["missing_documents"])
    items = [line.strip() for line in text("missing_items").splitlines() if line.strip()]
    if items:
        body["missing_items"] = items
    for flag in ("complex", "remote_area", "particularly_complex"):
        if text(flag) == "1":
            body[flag] = True
    if text("extension_days").isdigit():
        body["extension_days"] = int(text("extension_days"))
    decision = {
        name: text(f"decision_{name}")
        for name in ("number", "issued_on", "summary")
        if text(f"decision_{name}")
    }
    if decision:
        body["decision"] = decision
    return body


def decision_view(decision: Mapping[str, Any] | None) -> dict[str, str] | None:
    """The recorded decision or conclusion with its date in local form; None if none."""
    if not decision:
        return None
    return {
        "number": str(decision["number"]),
        "issued_on": local_date(decision["issued_on"]),
        "summary": str(decision["summary"]),
    }


def apology_view(proposal: Mapping[str, Any] | None) -> dict[str, str] | None:
    """The drafted apology slip a leader signs: the new date and the words."""
    if not proposal:
        return None
    return {"new_due_date": local_date(proposal["new_due_date"]), "text": str(proposal["text"])}


# The fields of processing's action body, by their JSON pointer, and their labels.
FIELD_LABELS = {
    "/reason": "dossier.reason",
    "/result_reference": "dossier.result_reference",
    "/missing_documents": "dossier.missing_documents",
    "/missing_items": "dossier.missing_items",
    "/decision": "dossier.decision",
    "/decision/number": "dossier.decision_number",
    "/decision/issued_on": "dossier.decision_issued_on",
    "/decision/summary": "dossier.decision_summary",
    "/new_due_date": "dossier.new_due_date",
    "/apology_text": "dossier.apology_text",
    "/extension_days": "dossier.extension_days",
}


def invalid_message(problem: Mapping[str, Any], t: Translator) -> str:
    """A 422 of processing in the reader's words: which fields to fill in."""
    pointers = [str(e.get("pointer", "")) for e in problem.get("errors") or []]
    # An item of a list ("/missing_items/2") is named by its list.
    known = [p if p in FIELD_LABELS else "/".join(p.split("/")[:2]) for p in pointers]
    labels = [t(FIELD_LABELS[p]) for p in known if p in FIELD_LABELS]
    if labels:
        return t("dossier.fill_in", fields=", ".join(dict.fromkeys(labels)))
    return t("error.invalid.body")


@dataclass(frozen=True)
class Bar:
    """One bar of the on-time chart, in the SVG's user units."""

    label: str
    value_text: str
    y: float
    width: float
    label_y: float


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    height: float
    plot_x: float
    plot_width: float


CHART_BAR = 22.0
CHART_GAP = 14.0
CHART_LABEL_WIDTH = 96.0
CHART_PLOT_WIDTH = 420.0


def on_time_chart(rows: list[dict[str, Any]], t: Translator) -> Chart:
    """Horizontal bars of each procedure's on-time rate (0-100 %): server-drawn SVG, no
    script; a procedure without decided dossiers gets no bar and says so."""
    bars = []
    for index, row in enumerate(rows):
        rate = row.get("on_time_rate")
        y = CHART_GAP + index * (CHART_BAR + CHART_GAP)
        width = 0.0 if rate is None else round(CHART_PLOT_WIDTH * float(rate), 1)
        text = t("stats.no_rate") if rate is None else f"{float(rate) * 100:.0f} %"
        bars.append(Bar(row["procedure_code"], text, y, width, y + CHART_BAR * 0.7))
    height = CHART_GAP + len(rows) * (CHART_BAR + CHART_GAP)
    return Chart(bars, height, CHART_LABEL_WIDTH, CHART_PLOT_WIDTH)


def percent(rate: float | None, t: Translator) -> str:
    return t("stats.no_rate") if rate is None else f"{rate * 100:.1f} %"
