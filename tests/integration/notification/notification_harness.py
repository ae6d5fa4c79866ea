"""What the notification integration tests share: a local HTTP server standing in for the
SMS gateway and the portal inbox, a reader of the outcome and dead-letter topics, and
builders of lifecycle events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from chassis.events import (
    DossierKind,
    DossierOverdue,
    DossierStatusChanged,
    Envelope,
    EventData,
    Recipient,
    Topics,
    decode,
    make_event,
)
from notification.webhook_verify import (
    DuplicateDelivery,
    InvalidSignature,
    ReplayGuard,
    verify_delivery,
)
from tests.support.services import ServiceProcess

# The portal is mid-rotation: the service signs with both, the portal may hold either.
NEW_SECRET = secrets.token_urlsafe(24)
OLD_SECRET = secrets.token_urlsafe(24)
SMS_TOKEN = secrets.token_urlsafe(16)
MAX_ATTEMPTS = 3
SMS_PATH = "/sms"
INBOX_PATH = "/inbox"
HANG = "hang"


@dataclass(frozen=True)
class Deployed:
    service: ServiceProcess
    prefix: str
    database: str
    log_path: Path

    @property
    def group(self) -> str:
        return f"{self.prefix}notification"


@dataclass
class Received:
    """One request as the gateway saw it, and what it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    verdict: str  # accepted | duplicate | rejected:<reason> | failed

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def key(self) -> str:
        """Who the request is for: the phone number or the portal account."""
        body = self.json
        return str(body.get("to") or body.get("portal_account"))


class _Server(ThreadingHTTPServer):
    # A service attempts dozens of deliveries at once; the default listen queue (5)
    # would refuse some of their connections.
    request_queue_size = 128


class FakeGateway:
    """Real HTTP on loopback. ``/sms`` behaves like an SMS gateway (bearer token, drops
    a reference it has accepted before); ``/inbox`` like the portal, verifying every
    delivery with the documented helper and its replay guard. Per recipient it can be
    told to answer with given statuses first, or always, or to hang."""

    def __init__(self, token: str, secrets: list[bytes], hang_s: float = 3.0) -> None:
        self.token = token
        self.secrets = secrets
        self.hang_s = hang_s
        self.guard = ReplayGuard()
        self._lock = threading.Lock()
        self._scripts: dict[str, list[int | str]] = {}
        self._always: dict[str, int | str] = {}
        self._accepted_refs: set[str] = set()
        self.received: list[Received] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                # Recorded on arrival: a request that hangs has still been made.
                record = Received(self.path, dict(self.headers.items()), body, 0, "in progress")
                with gateway._lock:
                    gateway.received.append(record)
                status, verdict = gateway._answer(self.path, record.headers, body)
                with gateway._lock:
                    record.status, record.verdict = status, verdict
                payload = json.dumps({"verdict": verdict}).encode()
                with contextlib.suppress(OSError):
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, key: str, *answers: int | str) -> None:
        """Answer the next requests for ``key`` with these statuses (or ``HANG``)."""
        with self._lock:
            self._scripts[key] = list(answers)

    def always(self, key: str, answer: int | str | None) -> None:
        with self._lock:
            if answer is None:
                self._always.pop(key, None)
            else:
                self._always[key] = answer

    def requests_for(self, key: str, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.key == key and (path is None or r.path == path)]

    def accepted(self, key: str, path: str | None = None) -> list[Received]:
        return [r for r in self.requests_for(key, path) if r.verdict == "accepted"]

    def verdicts(self) -> Counter[str]:
        with self._lock:
            return Counter(r.verdict.split(":")[0] for r in self.received)

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        try:
            document = json.loads(body)
            key = str(document.get("to") or document.get("portal_account"))
        except ValueError:
            return 400, "rejected:not json"
        with self._lock:
            script = self._scripts.get(key)
            scripted = script.pop(0) if script else self._always.get(key)
        if scripted == HANG:
            time.sleep(self.hang_s)
            return 503, "failed"
        if isinstance(scripted, int):
            return scripted, "failed"
        if path == SMS_PATH:
            if headers.get("Authorization") != f"Bearer {self.token}":
                return 401, "rejected:token"
            with self._lock:
                if document["reference"] in self._accepted_refs:
                    return 200, "duplicate"
                self._accepted_refs.add(document["reference"])
            return 200, "accepted"
        if path == INBOX_PATH:
            try:
                verify_delivery(body, headers, secret=self.secrets, guard=self.guard)
            except DuplicateDelivery:
                return 200, "duplicate"
            except InvalidSignature as exc:
                return 400, f"rejected:{exc.reason}"
            return 200, "accepted"
        return 404, "rejected:path"


@dataclass
class Seen:
    topic: str
    headers: dict[str, bytes]
    envelope: Envelope
    payload: EventData


@dataclass
class TopicReader:
    """Reads the notification outcome and dead-letter topics from the beginning."""

    bootstrap: str
    prefix: str
    seen: list[Seen] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    @property
    def outcomes_topic(self) -> str:
        return f"{self.prefix}{Topics.NOTIFICATIONS}"

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.prefix}{Topics.dead_letter('notification')}"

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            self.outcomes_topic,
            self.dead_letter_topic,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        self._task = asyncio.create_task(self._read(consumer))

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        try:
            async for record in consumer:
                headers = {k: v for k, v in record.headers or ()}
                with contextlib.suppress(Exception):
                    envelope, payload = decode(record.value)
                    self.seen.append(Seen(record.topic, headers, envelope, payload))
        finally:
            await consumer.stop()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def outcomes(self, dossier_id: str | None = None) -> list[Seen]:
        """Outcome events as audit keeps them: once per event id. A republished outcome
        carries the id it had, so at-least-once publishing never counts twice."""
        unique: dict[str, Seen] = {}
        for s in self.seen:
            if s.topic == self.outcomes_topic and (
                dossier_id is None or getattr(s.payload, "dossier_id", None) == dossier_id
            ):
                unique.setdefault(s.envelope.id, s)
        return list(unique.values())

    def dead_letters(self) -> list[Seen]:
        return [s for s in self.seen if s.topic == self.dead_letter_topic]


def recipient(
    *,
    email: str | None = None,
    phone: str | None = None,
    portal_account: str | None = None,
    language: str = "vi",
    name: str | None = "Nguyễn Văn An",
    sms_opt_out: bool = False,
) -> Recipient:
    return Recipient(
        display_name=name,
        email=email,
        phone=phone,
        language=language,  # type: ignore[arg-type]
        sms_opt_out=sms_opt_out,
        portal_account=portal_account,
    )


def new_dossier() -> tuple[str, str]:
    """A dossier id and a receipt code in the department's format."""
    serial = uuid.uuid4().int % 10_000
    return str(uuid.uuid4()), f"000.00.12.H12-{datetime.now(UTC):%y%m%d}-{serial:04d}"


def status_changed(
    dossier_id: str,
    receipt_code: str,
    new_status: str,
    to: Recipient,
    *,
    version: int = 1,
    reason: str | None = None,
    result_reference: str | None = None,
    kind: DossierKind = DossierKind.PROCEDURE,
) -> Envelope:
    data = DossierStatusChanged(
        dossier_id=dossier_id,
        receipt_code=receipt_code,
        procedure_code="1.004228",
        procedure_name_vi="Cấp giấy phép khai thác, sử dụng nước dưới đất",
        procedure_name_en="Licence for groundwater extraction and use",
        agency="STNMT",
        agency_name_vi="Sở Tài nguyên và Môi trường",
        agency_name_en="Department of Natural Resources and Environment",
        kind=kind,
        old_status="in_review",
        new_status=new_status,
        action="test",
        reason=reason,
        due_date=date(2025, 4, 8),
        result_reference=result_reference,
        occurred_at=datetime.now(UTC),
        version=version,
        recipient=to,
    )
    return make_event(data, source="/hoso/processing", actor="system:processing")


def overdue(dossier_id: str, receipt_code: str, to: Recipient) -> Envelope:
    data = DossierOverdue(
        dossier_id=dossier_id,
        receipt_code=receipt_code,
        procedure_code="1.004228",
        procedure_name_vi="Cấp giấy phép khai thác, sử dụng nước dưới đất",
        procedure_name_en="Licence for groundwater extraction and use",
        agency="STNMT",
        agency_name_vi="Sở Tài nguyên và Môi trường",
        agency_name_en="Department of Natural Resources and Environment",
        due_date=date(2025, 4, 8),
        detected_at=datetime.now(UTC),
        recipient=to,
    )
    return make_event(data, source="/hoso/processing", actor="system:processing")
