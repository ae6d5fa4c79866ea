"""SMTP sink for local development and tests.

Accepts every message (and any AUTH credentials, so a service configured with a login
still works) and stores it as ``<id>.eml`` in the mail directory. The envelope sender and
recipients are prepended as ``X-Envelope-From``/``X-Envelope-To`` headers because Bcc
recipients appear nowhere else in the stored message.

A read-only HTTP view lets a person (or a test) read what was sent:

* ``GET /messages`` -> JSON list ``[{id, from, to, subject, date, envelope_from,
  envelope_to, size}]``, oldest first;
* ``GET /messages/{id}`` -> the raw message.

Run: ``python deploy/smtp/sink.py [--host H] [--port P] [--http-port P] [--mail-dir D]``;
the defaults come from ``HOSO_SMTP_PORT``, ``HOSO_SMTP_HTTP_PORT`` and ``HOSO_MAIL_DIR``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
import signal
import threading
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from chassis.privacy import mask_email, scrub

log = logging.getLogger("smtp-sink")

# Ids are generated here, so anything else in a URL is either a typo or path traversal.
_ID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.-]*$")
_DEFAULT_MAIL_DIR = Path(__file__).resolve().parents[2] / ".local" / "mail"


def _new_id() -> str:
    # Lexicographic order of ids is arrival order, which is what the listing sorts by.
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{secrets.token_hex(4)}"


class MailDirHandler:
    """aiosmtpd handler writing each accepted message to its own file."""

    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        recipients = ", ".join(envelope.rcpt_tos)
        prefix = (
            f"X-Envelope-From: <{envelope.mail_from or ''}>\r\n"
            f"X-Envelope-To: {recipients}\r\n"
            f"X-Received-At: {format_datetime(datetime.now(UTC))}\r\n"
        ).encode()
        msg_id = _new_id()
        await asyncio.to_thread(self._store, msg_id, prefix + content)
        # The stored message keeps the addresses (it is what the sink is for); the log,
        # which ends up in .local/logs beside the services' logs, never does.
        log.info(
            "stored %s.eml from=%s to=%s",
            msg_id,
            mask_email(envelope.mail_from or ""),
            ", ".join(mask_email(r) for r in envelope.rcpt_tos),
        )
        return f"250 Message accepted as {msg_id}"

    def _store(self, msg_id: str, data: bytes) -> None:
        # Write-then-rename so a reader polling the directory never sees half a message.
        tmp = self.mail_dir / f".{msg_id}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, self.mail_dir / f"{msg_id}.eml")


class _Masked(logging.Filter):
    """The net under every line the sink writes, aiosmtpd's own included: a recipient's
    address or phone number in a warning about a failed command is masked like any other
    (chassis.privacy, as in the services' logs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        if record.exc_info:
            # A traceback can quote the command that failed, address and all.
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def _accept_any_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    return AuthResult(success=True)


def _summary(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        headers = BytesHeaderParser(policy=default_policy).parse(f)

    def header(name: str) -> str:
        # A malformed header in one message must not break the whole listing.
        try:
            return str(headers.get(name, "") or "")
        except Exception:
            return str(headers.get_all(name, [""])[0])

    envelope_to = [a.strip() for a in header("X-Envelope-To").split(",") if a.strip()]
    return {
        "id": path.stem,
        "from": header("From"),
        "to": header("To"),
        "subject": header("Subject"),
        "date": header("Date") or header("X-Received-At"),
        "envelope_from": header("X-Envelope-From").strip("<>"),
        "envelope_to": envelope_to,
        "size": path.stat().st_size,
    }


def _make_http_handler(mail_dir: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "hoso-smtp-sink"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            if path in ("", "/messages"):
                self._send_listing()
            elif path.startswith("/messages/"):
                self._send_message(path.removeprefix("/messages/"))
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

        def _send_listing(self) -> None:
            items = []
            for p in sorted(mail_dir.glob("*.eml")):
                # The file can vanish between glob and open when someone clears the dir.
                with contextlib.suppress(FileNotFoundError):
                    items.append(_summary(p))
            body = json.dumps(items, ensure_ascii=False, indent=1).encode("utf-8")
            self._send(HTTPStatus.OK, body, "application/json")

        def _send_message(self, msg_id: str) -> None:
            target = mail_dir / f"{msg_id}.eml"
            if not _ID_RE.match(msg_id) or not target.is_file():
                self._send(HTTPStatus.NOT_FOUND, b"no such message\n", "text/plain")
                return
            # text/plain rather than message/rfc822 so a browser shows it instead of
            # offering a download.
            self._send(HTTPStatus.OK, target.read_bytes(), "text/plain; charset=utf-8")

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # Tests poll the listing; logging every request would bury the SMTP lines.
            pass

    return Handler


async def serve(host: str, port: int, http_host: str, http_port: int, mail_dir: Path) -> None:
    httpd = ThreadingHTTPServer((http_host, http_port), _make_http_handler(mail_dir))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, name="http", daemon=True).start()

    handler = MailDirHandler(mail_dir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="hoso-smtp-sink",
            enable_SMTPUTF8=True,
            authenticator=_accept_any_login,
            auth_require_tls=False,
        ),
        host=host,
        port=port,
    )
    log.info(
        "SMTP on %s:%d, HTTP on http://%s:%d/messages, mail in %s",
        host,
        port,
        http_host,
        http_port,
        mail_dir,
    )

    stopped = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    try:
        await stopped.wait()
    finally:
        server.close()
        await server.wait_closed()
        httpd.shutdown()
        httpd.server_close()
        log.info("stopped")


def main(argv: list[str] | None = None) -> None:
    env = os.environ
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(env.get("HOSO_SMTP_PORT", "1025")))
    parser.add_argument("--http-host", default="127.0.0.1")
    parser.add_argument(
        "--http-port", type=int, default=int(env.get("HOSO_SMTP_HTTP_PORT", "8025"))
    )
    parser.add_argument(
        "--mail-dir", type=Path, default=Path(env.get("HOSO_MAIL_DIR", _DEFAULT_MAIL_DIR))
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_Masked())
    # aiosmtpd logs every connection and command at INFO; its warnings are what matter.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    mail_dir = args.mail_dir.expanduser().resolve()
    mail_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.host, args.port, args.http_host, args.http_port, mail_dir))


if __name__ == "__main__":
    main()
