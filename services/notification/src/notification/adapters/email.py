"""Email over SMTP (aiosmtplib)."""

from __future__ import annotations

from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import formataddr, formatdate, parseaddr
from typing import Any, cast

import aiosmtplib

from chassis.events import DeliveryChannel
from notification.domain.policy import message_id
from notification.domain.retry import smtp_reply_is_transient
from notification.service.ports import DeliveryFailure, Handover, Outgoing
from notification.settings import NotificationSettings

__all__ = ["SmtpSender"]

# Bodies in quoted-printable UTF-8: readable in a raw message, safe on any relay.
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP


class _TrackedSmtp(aiosmtplib.SMTP):
    """An SMTP client that reports when the message goes on the wire and when the
    server answers it: the only stretch in which a lost connection leaves the outcome
    unknown."""

    def __init__(self, handover: Handover, **options: Any) -> None:
        super().__init__(**options)
        self._handover = handover

    async def data(self, message: str | bytes, /, **options: Any) -> aiosmtplib.SMTPResponse:
        self._handover.started()
        try:
            response = await super().data(message, **options)
        except aiosmtplib.SMTPResponseException:
            self._handover.answered(accepted=False)  # a refusal is a clear answer
            raise
        self._handover.answered(accepted=True)
        return response


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part.set_payload(text, _UTF8)
    return part


class SmtpSender:
    channel = DeliveryChannel.EMAIL
    # SMTP has no idempotency key; the stable Message-ID only lets a duplicate be
    # recognised, it does not prevent one.
    idempotent = False

    def __init__(self, settings: NotificationSettings) -> None:
        if settings.smtp_host is None:
            raise ValueError("SMTP host is not configured")
        self._settings = settings
        self._host = settings.smtp_host

    def compose(self, message: Outgoing) -> Message[str, str | Header]:
        """The message, built with the email package's classic MIME classes and encoded
        headers: its modern header objects re-parse and re-fold every header when the
        message is written out, which was half of this service's CPU per dossier."""
        content = message.content
        text = _text_part(content["text"], "plain")
        whole: Message = text
        if content.get("html"):
            whole = MIMEMultipart("alternative")
            whole.attach(text)
            whole.attach(_text_part(content["html"], "html"))
        # A classic message takes a `Header` (an encoded, foldable value) as well as a str.
        email = cast("Message[str, str | Header]", whole)
        name, address = parseaddr(self._settings.mail_from)
        email["From"] = formataddr((name, address), charset="utf-8")
        email["To"] = message.address
        email["Subject"] = Header(content["subject"], "utf-8")
        email["Date"] = formatdate(localtime=False, usegmt=True)
        email["Message-ID"] = message_id(message.delivery_id)
        email["X-Hoso-Delivery"] = message.delivery_id
        # Tells auto-responders not to answer a notice nobody reads replies to.
        email["Auto-Submitted"] = "auto-generated"
        email["Content-Language"] = message.language
        return email

    async def send(self, message: Outgoing) -> None:
        settings = self._settings
        password = settings.smtp_password
        client = _TrackedSmtp(
            message.handover,
            hostname=self._host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=password.get_secret_value() if password else None,
            start_tls=False if settings.smtp_implicit_tls else settings.smtp_starttls,
            use_tls=settings.smtp_implicit_tls,
            timeout=settings.send_timeout_s,
        )
        try:
            async with client:
                await client.send_message(self.compose(message))
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            raise DeliveryFailure(
                f"SMTP refused the recipient ({', '.join(map(str, codes))})",
                transient=all(smtp_reply_is_transient(code) for code in codes),
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            # The reply text may quote the address; only the code is kept.
            raise DeliveryFailure(
                f"SMTP replied {exc.code} ({type(exc).__name__})",
                transient=smtp_reply_is_transient(exc.code),
            ) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            if message.handover.accepted:
                return  # the server took the message; only the goodbye went wrong
            if message.handover.in_doubt:
                raise DeliveryFailure(
                    f"SMTP connection lost after the message was handed over "
                    f"({type(exc).__name__}); delivery unknown",
                    transient=False,
                    in_doubt=True,
                ) from None
            detail = f"SMTP unreachable: {type(exc).__name__}"
            raise DeliveryFailure(detail, transient=True) from None
