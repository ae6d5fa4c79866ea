"""Where the citizens' notices arrive: an SMTP server, an SMS gateway, the portal's inbox.

All three keep every arrival with the delivery id it carries (``X-Hoso-Delivery`` in a
mail, ``reference`` in an SMS request, ``X-Hoso-Delivery`` on the inbox webhook). The
gateway and the inbox behave as the real ones are specified to: a delivery id seen
before is acknowledged and dropped, so a repeated attempt reaches nobody twice.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from deploy.launcher.spawn import free_port


@dataclass(frozen=True)
class Arrival:
    channel: str
    delivery_id: str
    message_id: str | None = None


class _SmtpHandler:
    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.lock = threading.Lock()
        self._parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        headers = self._parser.parsebytes(envelope.content)
        # A long header arrives folded over two lines; the id itself has no spaces.
        delivery_id = "".join(str(headers.get("X-Hoso-Delivery", "")).split())
        arrival = Arrival("email", delivery_id, headers.get("Message-ID"))
        with self.lock:
            self.arrivals.append(arrival)
        return "250 OK"


class MailServer:
    def __init__(self) -> None:
        self._handler = _SmtpHandler()
        self.port = free_port()
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def arrivals(self) -> list[Arrival]:
        with self._handler.lock:
            return list(self._handler.arrivals)


class _GatewayState:
    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.lock = threading.Lock()


def _handler_for(state: _GatewayState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.path == "/sms":
                try:
                    delivery_id = str(json.loads(body)["reference"])
                except (ValueError, KeyError, TypeError):
                    self._answer(400, {"error": "reference missing"})
                    return
                channel = "sms"
            elif self.path == "/inbox":
                delivery_id = self.headers.get("X-Hoso-Delivery", "")
                channel = "webhook"
            else:
                self._answer(404, {"error": "no such path"})
                return
            with state.lock:
                state.arrivals.append(Arrival(channel, delivery_id))
            self._answer(200, {"status": "accepted", "reference": delivery_id})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            return  # thousands of requests; the arrivals are the record

    return Handler


class GatewayServer:
    """The SMS gateway (``POST /sms``) and the portal inbox (``POST /inbox``) in one."""

    def __init__(self) -> None:
        self._state = _GatewayState()
        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self._state))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def sms_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sms"

    @property
    def inbox_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/inbox"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def arrivals(self) -> list[Arrival]:
        with self._state.lock:
            return list(self._state.arrivals)


def tally(arrivals: list[Arrival]) -> Counter[tuple[str, str]]:
    return Counter((a.channel, a.delivery_id) for a in arrivals)
