"""What the observability tests need besides the platform: submissions that carry
personal data, a Zipkin reader, a /metrics reader, and the personal-data detectors."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.documents import attachment_for

SERVICES = ("intake", "processing", "notification", "audit")

# Every value of a person the tests below send; the final scan looks for each of them.
SENT_PERSONAL_DATA: set[str] = set()

SYLLABLES = ["Mai", "Lan", "Cúc", "Đào", "Huệ", "Thư", "Yến", "Quỳnh", "Trâm", "Ngân"]


def citizen_id() -> str:
    return "0" + "".join(secrets.choice("0123456789") for _ in range(11))


def mobile_number() -> str:
    """A valid Vietnamese mobile number written as people write it: 0912 345 678."""
    digits = "".join(secrets.choice("0123456789") for _ in range(6))
    return f"0912 {digits[:3]} {digits[3:]}"


def phone_spellings(written: str) -> set[str]:
    """The spellings one number may take on its way through the system."""
    national = written.replace(" ", "")
    return {written, national, "+84" + national[1:], "84" + national[1:]}


def traceparent() -> tuple[str, dict[str, str]]:
    """A fresh sampled trace the caller starts, as a portal would: (trace id, header)."""
    trace_id = secrets.token_hex(16)
    return trace_id, {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}


@dataclass
class Applicant:
    name: str
    id_number: str
    phone: str
    email: str

    def remember(self) -> None:
        SENT_PERSONAL_DATA.update({self.name, self.id_number, self.email})
        SENT_PERSONAL_DATA.update(phone_spellings(self.phone))


def new_applicant(family: str = "Trần Thị") -> Applicant:
    applicant = Applicant(
        name=f"{family} {secrets.choice(SYLLABLES)} {secrets.choice(SYLLABLES)}",
        id_number=citizen_id(),
        phone=mobile_number(),
        email=f"obs.{secrets.token_hex(4)}@example.vn",
    )
    applicant.remember()
    return applicant


def attachment(document_code: str) -> dict[str, Any]:
    """The code's sample PDF, which the platform fixture uploaded."""
    return attachment_for(document_code)


def waste_registration(applicant: Applicant) -> dict[str, Any]:
    """MT-004 (registration as a hazardous-waste source owner), online, by a person, with
    every mandatory document, so that an officer can start reviewing it at once."""
    return {
        "procedure_code": "MT-004",
        "channel": "online",
        "applicant": {
            "type": "person",
            "name": applicant.name,
            "id_number": applicant.id_number,
            "phone": applicant.phone,
            "email": applicant.email,
        },
        "form": {
            "facility_name": "Xưởng sửa chữa ô tô Minh Khai",
            "facility_address": "Phường Minh Khai, Bắc Từ Liêm, Hà Nội",
            "waste_items": [
                {
                    "waste_code": "17 02 03",
                    "name": "Dầu thải",
                    "state": "liquid",
                    "quantity_kg_per_year": 200,
                }
            ],
        },
        "attachments": [attachment("application_form"), attachment("business_registration")],
    }


DENOUNCER_ADDRESS = "Số 9 ngõ 41 phố Thái Hà, Đống Đa, Hà Nội"


def denunciation(denouncer: Applicant) -> dict[str, Any]:
    """TC-001, keyed in at the inspectorate's counter: the denouncer is confidential."""
    SENT_PERSONAL_DATA.add(DENOUNCER_ADDRESS)
    return {
        "procedure_code": "TC-001",
        "channel": "counter",
        "applicant": {
            "type": "person",
            "name": denouncer.name,
            "id_number": denouncer.id_number,
            "phone": denouncer.phone,
            "email": denouncer.email,
            "address": DENOUNCER_ADDRESS,
        },
        "form": {
            "denounced_person_name": "Ông X",
            "denounced_unit": "Phòng Y",
            "violation_description": "Bỏ qua vi phạm xả thải của một cơ sở.",
            "occurred_on": "2026-09-15",
        },
        "attachments": [attachment("denunciation_letter")],
        "content": "Tố cáo hành vi bao che vi phạm.",
    }


# --------------------------------------------------------------------------- Zipkin


@dataclass(frozen=True)
class ZipkinSpan:
    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    name: str
    kind: str | None
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, raw: dict[str, Any]) -> ZipkinSpan:
        return cls(
            trace_id=raw["traceId"],
            span_id=raw["id"],
            parent_id=raw.get("parentId"),
            service=raw.get("localEndpoint", {}).get("serviceName", ""),
            name=raw.get("name", ""),
            kind=raw.get("kind"),
            tags=dict(raw.get("tags") or {}),
        )


async def zipkin_trace(client: httpx.AsyncClient, zipkin: str, trace_id: str) -> list[ZipkinSpan]:
    response = await client.get(f"{zipkin}/api/v2/trace/{trace_id}")
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return [ZipkinSpan.of(raw) for raw in response.json()]


async def zipkin_traces_tagged(
    client: httpx.AsyncClient, zipkin: str, tag: str, value: str, limit: int = 1000
) -> list[list[dict[str, Any]]]:
    """Raw traces with a span tagged ``tag=value`` in the last hour, as Zipkin stores them."""
    response = await client.get(
        f"{zipkin}/api/v2/traces",
        params={"annotationQuery": f"{tag}={value}", "limit": limit, "lookback": 3_600_000},
    )
    response.raise_for_status()
    return list(response.json())


# --------------------------------------------------------------------------- metrics


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient, url: str) -> tuple[str, Samples]:
    """A service's /metrics as text and as {(sample name, labels): value}."""
    response = await client.get(f"{url}/metrics")
    response.raise_for_status()
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return response.text, samples


async def scrape_replicas(
    client: httpx.AsyncClient, urls: Iterable[str]
) -> tuple[dict[str, str], list[Samples]]:
    """Each replica's /metrics: {url: text} and the samples, one mapping per replica."""
    texts: dict[str, str] = {}
    each: list[Samples] = []
    for url in urls:
        text, samples = await scrape(client, url)
        texts[url] = text
        each.append(samples)
    return texts, each


def merged(each: Iterable[Samples]) -> Samples:
    """The replicas' samples added up per (name, labels): what the service as a whole did.
    (Each replica counts only its own requests and events, and reports the lag of only
    the partitions it holds.)"""
    together: Samples = {}
    for samples in each:
        for key, value in samples.items():
            together[key] = together.get(key, 0.0) + value
    return together


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def series(samples: Samples, name: str, **labels: str) -> list[dict[str, str]]:
    wanted = set(labels.items())
    return [dict(ls) for (n, ls), _ in samples.items() if n == name and wanted <= ls]


# --------------------------------------------------------------------------- logs


def log_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a service log; anything else in it (a crash dump) is skipped."""
    lines = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            lines.append(entry)
    return lines


# --------------------------------------------------------------------------- personal data

# The department writes from this address; every other address is somebody's.
SENDER_DOMAINS = ("stnmt.example.gov.vn",)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A citizen ID: exactly 12 digits standing alone (not part of a hex id, a UUID's last
# group, a float or a longer number such as a timestamp).
_CITIZEN_ID = re.compile(r"(?<![\w.-])\d{12}(?![\w.-])")
# A Vietnamese phone number, national (0912345678, 0912 345 678) or international.
_PHONE = re.compile(
    r"(?<![\w.+-])(?:(?:\+|00)?84|0)[1-9]\d(?:[ .-]?\d){7,8}(?![\w.-])",
)


@dataclass(frozen=True)
class Finding:
    source: str
    what: str
    excerpt: str


def personal_data_in(source: str, text: str, known: Iterable[str]) -> list[Finding]:
    findings: list[Finding] = []

    def found(what: str, start: int, end: int) -> None:
        findings.append(Finding(source, what, text[max(0, start - 60) : end + 60]))

    for value in known:
        for form in {value, json.dumps(value).strip('"')}:
            at = text.find(form)
            if at >= 0:
                found(f"sent value {value!r}", at, at + len(form))
    for match in _EMAIL.finditer(text):
        if not match.group().lower().endswith(SENDER_DOMAINS):
            found("email address", match.start(), match.end())
    for match in _CITIZEN_ID.finditer(text):
        found("12-digit citizen ID", match.start(), match.end())
    for match in _PHONE.finditer(text):
        found("phone number", match.start(), match.end())
    return findings
