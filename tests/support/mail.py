"""A real SMTP server in the test process that keeps what it receives."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.services import free_port


class _Collector:
    def __init__(self, recipient_delay_s: float, answer_delay_s: float) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self._recipient_delay_s = recipient_delay_s
        self._answer_delay_s = answer_delay_s

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        await asyncio.sleep(self._recipient_delay_s)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        # A server that has the message but is slow to say so: the client cannot tell
        # whether it arrived.
        await asyncio.sleep(self._answer_delay_s)
        return "250 OK"


class MailSink:
    """``recipient_delay_s`` slows the envelope (before the message is handed over),
    ``answer_delay_s`` the reply to the message itself."""

    def __init__(self, *, recipient_delay_s: float = 0.0, answer_delay_s: float = 0.0) -> None:
        self._collector = _Collector(recipient_delay_s, answer_delay_s)
        self.port = free_port()
        self._controller = Controller(self._collector, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        with self._collector.lock:
            return list(self._collector.messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]
