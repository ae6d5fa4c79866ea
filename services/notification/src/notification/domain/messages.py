"""Wording of every notice the department sends about a dossier.

Templates live in ``templates/<language>/<event>.<part>``, where ``part`` is
one of ``subject.txt``, ``email.txt``, ``email.html``, ``sms.txt`` and
``inbox.txt`` (the portal inbox body). Only ``.html`` templates are
autoescaped: an officer's free-text reason is data, not markup, in an HTML
email, while the plain-text parts must show it verbatim.

Templates never see the recipient block, only the display name used in the
greeting. That is what keeps a denouncer's contact details out of every
message whatever a template author writes: a denunciation arrives with no
display name and is greeted neutrally.
"""

from __future__ import annotations

import copy
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import jinja2
from pydantic import BaseModel, ConfigDict, ValidationError

from chassis.events import (
    DeliveryChannel,
    DossierApologyIssued,
    DossierKind,
    DossierOverdue,
    DossierStatus,
    DossierStatusChanged,
    EventType,
    Recipient,
)
from notification.domain.policy import (
    Language,
    NotificationDomainError,
    as_recipient,
    parse_event_type,
    parse_status,
)

__all__ = [
    "DEFAULT_LOOKUP_URL",
    "SMS_MAX_CHARS",
    "InvalidEventDataError",
    "Notice",
    "RenderedMessage",
    "TemplateCatalogue",
    "UnsupportedLanguageError",
    "format_date",
    "sample_data",
    "sms_segments",
    "to_gsm_text",
]

DEFAULT_LOOKUP_URL = "https://dichvucong.tnmt.example/tra-cuu"

# Vietnamese SMS is sent without diacritics so that it stays in the GSM 7-bit
# alphabet: with diacritics a message falls back to UCS-2 and one segment
# holds only 70 characters. Vietnamese wording is longer than English, so it
# may use two concatenated segments (2 × 153); English must fit in one.
SMS_MAX_CHARS: dict[str, int] = {"vi": 306, "en": 160}

# Vietnam has no daylight saving time, so a fixed offset is exact.
_VIETNAM_TZ = timezone(timedelta(hours=7), "ICT")

_LANGUAGES: tuple[Language, ...] = ("vi", "en")
_TEMPLATE_KEYS: dict[EventType, str] = {
    EventType.STATUS_CHANGED: "status_changed",
    EventType.OVERDUE: "overdue",
    EventType.APOLOGY_ISSUED: "apology_issued",
}
_CHANNEL_PARTS: dict[DeliveryChannel, tuple[str, ...]] = {
    DeliveryChannel.EMAIL: ("subject.txt", "email.txt", "email.html"),
    DeliveryChannel.SMS: ("sms.txt",),
    DeliveryChannel.WEBHOOK: ("subject.txt", "inbox.txt"),
}
# A link the citizen cannot reach in full is worse than none; the look-up URL
# is part of every SMS, so it has to leave room for the dossier details.
_MAX_LOOKUP_URL = 60


class InvalidEventDataError(NotificationDomainError, ValueError):
    """The event's ``data`` lacks a field the notice needs, or has a bad value."""


class UnsupportedLanguageError(NotificationDomainError, LookupError):
    """No templates exist in the requested language."""


class RenderedMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    channel: DeliveryChannel
    subject: str | None
    text: str
    html: str | None


Notice = DossierStatusChanged | DossierOverdue | DossierApologyIssued

_NOTICE_MODELS: dict[EventType, type[Notice]] = {
    EventType.STATUS_CHANGED: DossierStatusChanged,
    EventType.OVERDUE: DossierOverdue,
    EventType.APOLOGY_ISSUED: DossierApologyIssued,
}
_DATE_FIELDS = ("due_date", "old_due_date", "new_due_date")


def _read_notice(event: EventType, data: Mapping[str, Any] | BaseModel) -> Notice:
    """The event contract's model of ``data``, read as leniently as a message allows:
    fields the contract does not know are dropped, the recipient block is read by
    `as_recipient`, and a deadline sent as a timestamp is the calendar day in Vietnam."""
    if isinstance(data, BaseModel):
        data = data.model_dump()
    model = _NOTICE_MODELS[event]
    fields = {k: v for k, v in data.items() if k in model.model_fields}
    for name in _DATE_FIELDS:
        if name in fields:
            fields[name] = _date_in_vietnam(fields[name])
    try:
        fields["recipient"] = as_recipient(fields.get("recipient"))
        return model.model_validate(fields)
    except ValidationError as exc:
        raise InvalidEventDataError(f"{event.value} data is invalid: {exc}") from exc


def _date_in_vietnam(value: Any) -> Any:
    # Producers sometimes send a deadline as a timestamp; the appointment date is the
    # calendar day in Vietnam, not in UTC.
    if isinstance(value, str) and "T" in value:
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        return _in_vietnam(value).date()
    return value


def _in_vietnam(moment: datetime) -> datetime:
    # Event timestamps are stamped in UTC; a naive one is read as UTC.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(_VIETNAM_TZ)


def format_date(value: date | datetime | str | None) -> str:
    """dd/mm/yyyy, the way dates are written on Vietnamese administrative papers."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = (
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            if "T" in value
            else date.fromisoformat(value)
        )
    if isinstance(value, datetime):
        value = _in_vietnam(value).date()
    return value.strftime("%d/%m/%Y")


def _format_time(value: datetime | str | None) -> str:
    """HH:MM in Vietnam time; pair it with ``vn_date`` for the day."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return _in_vietnam(value).strftime("%H:%M")


# GSM 03.38 basic characters that are also ASCII. The extension table
# (^ { } [ ] ~ | \ €) costs two septets each and some handsets mangle it.
_GSM_ASCII = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 !\"#$%&'()*+,-./:;<=>?@_\n"
)
_GSM_SUBSTITUTES = {
    "đ": "d",
    "Đ": "D",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "«": '"',
    "»": '"',
    "–": "-",
    "—": "-",
    "…": "...",
    "[": "(",
    "]": ")",
    "{": "(",
    "}": ")",
    "|": "/",
    "\\": "/",
    "~": "-",
    "`": "'",
    "€": "EUR",
    "\t": " ",
}


def to_gsm_text(value: str) -> str:
    """Vietnamese text without diacritics, restricted to GSM-safe ASCII.

    ``Hồ sơ đã được tiếp nhận`` becomes ``Ho so da duoc tiep nhan``; characters
    with no sensible ASCII form are dropped rather than shown as ``?``.
    """
    out: list[str] = []
    for char in value:
        if char in _GSM_ASCII:
            out.append(char)
            continue
        if char in _GSM_SUBSTITUTES:
            out.append(_GSM_SUBSTITUTES[char])
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        if base and all(c in _GSM_ASCII for c in base):
            out.append(base)
        elif char.isspace():
            out.append(" ")
    return "".join(out)


def sms_segments(text: str) -> int:
    """Number of SMS segments ``text`` needs, concatenation headers included."""
    if not text:
        return 0
    if all(c in _GSM_ASCII for c in text):
        single, multi = 160, 153
    else:
        single, multi = 70, 67
    return 1 if len(text) <= single else math.ceil(len(text) / multi)


_SAMPLE_DOSSIER: dict[str, Any] = {
    "dossier_id": "8f14e45f-ceea-4e6a-9b6f-2d0c1e7a5b31",
    "receipt_code": "000.00.12.H12-250317-0042",
    "procedure_code": "1.004228",
    "procedure_name_vi": "Cấp giấy phép khai thác, sử dụng nước dưới đất",
    "procedure_name_en": "Licence for groundwater extraction and use",
    "agency": "STNMT",
    "agency_name_vi": "Sở Nông nghiệp và Môi trường",
    "agency_name_en": "Department of Agriculture and Environment",
    "kind": DossierKind.PROCEDURE,
    "recipient": Recipient(
        display_name="Nguyễn Văn An",
        email="nguyen.van.an@example.vn",
        phone="0912345678",
        language="vi",
        sms_opt_out=False,
        portal_account="cd-079085001234",
    ),
}
# Whole events as the contract defines them, so a preview renders what a real event
# would: a field the contract adds shows up here as a failure to import, not in a
# citizen's inbox.
_SAMPLE_DATA: dict[EventType, dict[str, Any]] = {
    EventType.STATUS_CHANGED: DossierStatusChanged(
        **_SAMPLE_DOSSIER,
        old_status=DossierStatus.IN_REVIEW,
        new_status=DossierStatus.SUPPLEMENT_REQUESTED,
        action="request_supplement",
        reason="Bản vẽ vị trí giếng khoan chưa có chữ ký của đơn vị tư vấn.",
        missing_documents=[
            "Bản vẽ vị trí công trình khai thác nước dưới đất có chữ ký, đóng dấu",
            "Kết quả phân tích chất lượng nguồn nước (bản chính)",
        ],
        due_date=date(2025, 4, 8),
        result_reference="125/GP-STNMT",
        occurred_at=datetime(2025, 3, 20, 2, 15, tzinfo=UTC),
        version=4,
    ).model_dump(mode="json"),
    EventType.OVERDUE: DossierOverdue(
        **_SAMPLE_DOSSIER,
        due_date=date(2025, 4, 8),
        detected_at=datetime(2025, 4, 8, 17, 5, tzinfo=UTC),
    ).model_dump(mode="json"),
    EventType.APOLOGY_ISSUED: DossierApologyIssued(
        **_SAMPLE_DOSSIER,
        old_due_date=date(2025, 4, 8),
        new_due_date=date(2025, 4, 22),
        reason="Cần lấy thêm ý kiến của Ủy ban nhân dân cấp huyện về vị trí công trình.",
        issued_at=datetime(2025, 4, 9, 1, 30, tzinfo=UTC),
    ).model_dump(mode="json"),
}


def sample_data(event_type: str | EventType, new_status: str | None = None) -> dict[str, Any]:
    """Realistic event data for previews; a fresh copy the caller may change."""
    event = parse_event_type(event_type)
    data = copy.deepcopy(_SAMPLE_DATA[event])
    if new_status is not None:
        status = parse_status(event, new_status)
        if status is not None:  # only a status change announces a status
            data["new_status"] = status.value
    return data


class TemplateCatalogue:
    """Renders notices from the packaged templates.

    ``lookup_url`` is the public page where anyone can look up a dossier's
    status by its receipt code; every notice points there.
    """

    def __init__(
        self,
        lookup_url: str = DEFAULT_LOOKUP_URL,
        *,
        loader: jinja2.BaseLoader | None = None,
    ) -> None:
        if not lookup_url or len(lookup_url) > _MAX_LOOKUP_URL:
            raise ValueError(f"lookup_url must be 1 to {_MAX_LOOKUP_URL} characters")
        if to_gsm_text(lookup_url) != lookup_url:
            raise ValueError("lookup_url must be plain ASCII to survive SMS")
        self.lookup_url = lookup_url
        self._env = jinja2.Environment(
            loader=loader or jinja2.PackageLoader("notification.domain", "templates"),
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self._env.filters["vn_date"] = format_date
        self._env.filters["vn_time"] = _format_time

    def render_email(
        self,
        event_type: str | EventType,
        data: Mapping[str, Any] | BaseModel,
        language: str | None = None,
    ) -> RenderedMessage:
        """Subject, plain text and HTML of the email for this event.

        ``language`` defaults to the recipient's preference.
        """
        event, _, lang, context = self._prepare(event_type, data, language)
        subject = self._subject(event, lang, context)
        context["subject"] = subject
        text = _tidy_text(self._render(event, lang, "email.txt", context))
        html = self._render(event, lang, "email.html", context).strip() + "\n"
        return RenderedMessage(channel=DeliveryChannel.EMAIL, subject=subject, text=text, html=html)

    def render_sms(
        self,
        event_type: str | EventType,
        data: Mapping[str, Any] | BaseModel,
        language: str | None = None,
    ) -> RenderedMessage:
        """SMS text in GSM-safe ASCII, within :data:`SMS_MAX_CHARS` for the language.

        Free-text fields (procedure name, reason, document list) are shortened
        with ``...`` when the message would not fit; the receipt code, dates
        and look-up address are never cut.
        """
        event, _, lang, context = self._prepare(event_type, data, language)
        template = self._env.get_template(self._name(event, lang, "sms.txt"))
        for key in ("procedure_name", "reason", "documents", "result_reference", "agency_name"):
            if isinstance(context[key], str):
                context[key] = to_gsm_text(context[key])
        text = _fit_sms(
            lambda fields: _tidy_sms(template.render({**context, **fields})),
            {key: context[key] for key in _SHRINKABLE if context[key]},
            SMS_MAX_CHARS[lang],
        )
        return RenderedMessage(channel=DeliveryChannel.SMS, subject=None, text=text, html=None)

    def render_webhook(
        self,
        event_type: str | EventType,
        data: Mapping[str, Any] | BaseModel,
        language: str | None = None,
    ) -> dict[str, Any]:
        """Item for the citizen's inbox on the portal."""
        event, model, lang, context = self._prepare(event_type, data, language)
        title = self._subject(event, lang, context)
        context["subject"] = title
        return {
            "event_type": event.value,
            "dossier_id": model.dossier_id,
            "receipt_code": model.receipt_code,
            "status": context["new_status"],
            "language": lang,
            "title": title,
            "body": _tidy_text(self._render(event, lang, "inbox.txt", context)),
        }

    def list_templates(self) -> list[dict[str, Any]]:
        """Which event, in which language, can go out on which channel."""
        parts: dict[tuple[str, str], set[str]] = {}
        for name in self._env.list_templates():
            lang, sep, filename = name.partition("/")
            if not sep or "/" in filename or filename.startswith("_"):
                continue
            key, _, part = filename.partition(".")
            parts.setdefault((key, lang), set()).add(part)

        listing: list[dict[str, Any]] = []
        for event, key in _TEMPLATE_KEYS.items():
            for lang in _LANGUAGES:
                available = parts.get((key, lang), set())
                channels = [
                    channel.value
                    for channel, needed in _CHANNEL_PARTS.items()
                    if set(needed) <= available
                ]
                if channels:
                    listing.append(
                        {"event_type": event.value, "language": lang, "channels": channels}
                    )
        return listing

    def preview(
        self,
        event_type: str | EventType,
        language: str,
        channel: DeliveryChannel | str,
        sample: bool = True,
        *,
        data: Mapping[str, Any] | None = None,
        new_status: str | None = None,
    ) -> RenderedMessage:
        """Render one channel for review by the people who edit the wording.

        With ``sample`` the built-in sample data is used, shallowly overridden
        by ``data`` if given; without it ``data`` is rendered as is.
        ``new_status`` picks the status change to show.
        """
        event = parse_event_type(event_type)
        if sample:
            payload = sample_data(event, new_status)
            payload.update(data or {})
        elif data is None:
            raise InvalidEventDataError("preview without sample data needs data")
        else:
            payload = dict(data)
            if new_status is not None:
                payload["new_status"] = new_status

        try:
            kind = DeliveryChannel(channel)
        except ValueError:
            raise NotificationDomainError(f"unknown channel {channel!r}") from None
        if kind is DeliveryChannel.EMAIL:
            return self.render_email(event, payload, language)
        if kind is DeliveryChannel.SMS:
            return self.render_sms(event, payload, language)
        item = self.render_webhook(event, payload, language)
        return RenderedMessage(channel=kind, subject=item["title"], text=item["body"], html=None)

    def _prepare(
        self,
        event_type: str | EventType,
        data: Mapping[str, Any] | BaseModel,
        language: str | None,
    ) -> tuple[EventType, Notice, Language, dict[str, Any]]:
        event = parse_event_type(event_type)
        model = _read_notice(event, data)
        status = parse_status(event, getattr(model, "new_status", None))
        lang = _language(language, model.recipient)
        return event, model, lang, self._context(event, model, status, lang)

    def _context(
        self,
        event: EventType,
        model: Notice,
        status: DossierStatus | None,
        lang: Language,
    ) -> dict[str, Any]:
        english = lang == "en"
        # The catalogue's document codes and the officer's own words for anything else:
        # the one request lists everything missing.
        listed = [
            *(getattr(model, "missing_documents", None) or []),
            *(getattr(model, "missing_items", None) or []),
        ]
        documents = [d.strip() for d in listed if d and d.strip()]
        # Every name a template may use is present, None when not applicable,
        # so StrictUndefined flags misspelt names instead of hiding them.
        return {
            "event_type": event.value,
            "language": lang,
            "name": model.recipient.display_name,
            "dossier_id": model.dossier_id,
            "receipt_code": model.receipt_code,
            "procedure_code": model.procedure_code,
            "procedure_name": (english and model.procedure_name_en) or model.procedure_name_vi,
            "agency_name": (english and model.agency_name_en) or model.agency_name_vi,
            "old_status": getattr(model, "old_status", None),
            # The step that moved it: a complaint declined (không thụ lý) reads otherwise
            # than one rejected after settlement.
            "action": getattr(model, "action", None),
            "new_status": status.value if status else None,
            "reason": _clean(getattr(model, "reason", None)),
            "missing_documents": documents,
            "documents": "; ".join(documents),
            "due_date": getattr(model, "due_date", None),
            "old_due_date": getattr(model, "old_due_date", None),
            "new_due_date": getattr(model, "new_due_date", None),
            "result_reference": _clean(getattr(model, "result_reference", None)),
            # The signed result document's hash: the citizen can check a copy against it.
            "result_sha256": getattr(model, "result_sha256", None),
            "occurred_at": getattr(model, "occurred_at", None),
            "lookup_url": self.lookup_url,
            "subject": "",
        }

    def _subject(self, event: EventType, lang: Language, context: dict[str, Any]) -> str:
        # A subject is one header line: a stray newline would be read as the
        # end of the header, or the start of an injected one.
        return " ".join(self._render(event, lang, "subject.txt", context).split())

    def _render(self, event: EventType, lang: Language, part: str, context: dict[str, Any]) -> str:
        rendered = self._env.get_template(self._name(event, lang, part)).render(context)
        if not rendered.strip():
            raise NotificationDomainError(
                f"{self._name(event, lang, part)} produced no text for "
                f"status {context['new_status']!r}"
            )
        return rendered

    @staticmethod
    def _name(event: EventType, lang: Language, part: str) -> str:
        return f"{lang}/{_TEMPLATE_KEYS[event]}.{part}"


def _language(requested: str | None, recipient: Recipient) -> Language:
    if requested is None:
        return recipient.language
    normalized = requested.strip().lower()
    for lang in _LANGUAGES:
        if normalized == lang:
            return lang
    raise UnsupportedLanguageError(
        f"no templates in language {requested!r} (available: {', '.join(_LANGUAGES)})"
    )


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    return value.strip() or None


_BLANK_RUNS = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


def _tidy_text(text: str) -> str:
    # Conditional blocks leave uneven blank lines behind; a plain-text email
    # reads best with exactly one blank line between paragraphs.
    text = _TRAILING_SPACE.sub("\n", text.strip() + "\n")
    return _BLANK_RUNS.sub("\n\n", text)


_DOTS = re.compile(r"\.{4,}")


def _tidy_sms(text: str) -> str:
    # One paragraph: line breaks in an SMS template are for its authors only.
    # A shortened field ends in "..." and may meet the sentence's own full stop.
    return _DOTS.sub(_ELLIPSIS, " ".join(to_gsm_text(text).split()))


# Free-text fields that may be shortened to make an SMS fit, and how short
# one may get before shortening it stops being useful.
_SHRINKABLE = ("procedure_name", "reason", "documents")
_MIN_FIELD = 16
_ELLIPSIS = "..."


def _fit_sms(render: Callable[[dict[str, str]], str], fields: dict[str, str], limit: int) -> str:
    text = render(fields)
    if len(text) <= limit or not fields:
        return _last_resort(text, render, fields, limit)

    # Which fields this status's wording prints, and how often: probe with
    # one-letter values and see how the length moves.
    probe = dict.fromkeys(fields, "x")
    base = len(render(probe))
    uses = {key: len(render({**probe, key: "xx"})) - base for key in fields}
    printed = {key: count for key, count in uses.items() if count > 0}
    budget = limit - (base - sum(printed.values()))

    # Share the room left by the fixed wording fairly: short fields keep all
    # of their text and the long ones split what remains, so the list of
    # missing papers is not sacrificed to a long procedure name.
    allowance: dict[str, int] = {}
    pending = sorted(printed, key=lambda key: len(fields[key]))
    for position, key in enumerate(pending):
        weight = sum(printed[k] for k in pending[position:])
        share = max(_MIN_FIELD, budget // weight) if weight else _MIN_FIELD
        allowance[key] = min(len(fields[key]), share)
        budget -= allowance[key] * printed[key]

    # Cutting on word boundaries and tidying spaces can leave a few characters
    # over; take them from the largest allowance and try again.
    for _ in range(4):
        shortened = {
            key: _shorten(value, allowance.get(key, len(value))) for key, value in fields.items()
        }
        text = render(shortened)
        overflow = len(text) - limit
        if overflow <= 0 or not allowance:
            break
        largest = max(allowance, key=lambda key: allowance[key])
        if allowance[largest] <= _MIN_FIELD:
            break
        allowance[largest] = max(_MIN_FIELD, allowance[largest] - overflow)
    return _last_resort(text, render, fields, limit)


def _last_resort(
    text: str, render: Callable[[dict[str, str]], str], fields: dict[str, str], limit: int
) -> str:
    if len(text) <= limit:
        return text
    if fields:
        # The receipt code, dates and look-up address matter more than any
        # free text: drop the free text before touching the fixed wording.
        text = render(dict.fromkeys(fields, ""))
        if len(text) <= limit:
            return text
    # Only reachable if the fixed wording itself outgrows the limit, which
    # the template tests rule out; a cut message beats an undelivered one.
    return text[: limit - len(_ELLIPSIS)].rstrip() + _ELLIPSIS


def _shorten(value: str, width: int) -> str:
    if len(value) <= width:
        return value
    cut = value[: max(0, width - len(_ELLIPSIS))]
    # Prefer ending on a whole word unless that throws away too much.
    head, space, _ = cut.rpartition(" ")
    if space and len(head) >= len(cut) * 2 // 3:
        cut = head
    return cut.rstrip(" ,;:.-(") + _ELLIPSIS
