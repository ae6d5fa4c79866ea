"""Email over SMTP (aiosmtplib)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from notification.adapters.channels import DeliveryFailure, Outgoing
from notification.domain.policy import Channel
from notification.domain.retry import smtp_reply_is_transient
from notification.settings import NotificationSettings

__all__ = ["SmtpSender", "message_id"]


def message_id(delivery_id: str) -> str:
    """The Message-ID of a delivery: the same on every attempt, so a repeat after a
    crash is recognisable as the same message by mail systems and by people."""
    return f"<{delivery_id}@hoso>"


class SmtpSender:
    channel = Channel.EMAIL
    # SMTP has no idempotency key; the stable Message-ID only lets a duplicate be
    # recognised, it does not prevent one.
    idempotent = False

    def __init__(self, settings: NotificationSettings) -> None:
        if settings.smtp_host is None:
            raise ValueError("SMTP host is not configured")
        self._settings = settings
        self._host = settings.smtp_host

    def compose(self, message: Outgoing) -> EmailMessage:
        content = message.content
        email = EmailMessage()
        email["From"] = self._settings.mail_from
        email["To"] = message.address
        email["Subject"] = content["subject"]
        email["Date"] = formatdate(localtime=False, usegmt=True)
        email["Message-ID"] = message_id(message.delivery_id)
        email["X-Hoso-Delivery"] = message.delivery_id
        # Tells auto-responders not to answer a notice nobody reads replies to.
        email["Auto-Submitted"] = "auto-generated"
        email.set_content(content["text"])
        if content.get("html"):
            email.add_alternative(content["html"], subtype="html")
        # After the body: setting content drops every Content-* header set before.
        email["Content-Language"] = message.language
        return email

    async def send(self, message: Outgoing) -> None:
        settings = self._settings
        password = settings.smtp_password
        try:
            await aiosmtplib.send(
                self.compose(message),
                hostname=self._host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=password.get_secret_value() if password else None,
                start_tls=False if settings.smtp_implicit_tls else settings.smtp_starttls,
                use_tls=settings.smtp_implicit_tls,
                timeout=settings.send_timeout_s,
            )
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
            detail = f"SMTP unreachable: {type(exc).__name__}"
            raise DeliveryFailure(detail, transient=True) from None
