"""The local SMTP sink keeps what it receives, but its log names nobody: a citizen's
address or phone number is masked in every line it writes, aiosmtpd's own included."""

from __future__ import annotations

import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
CITIZEN = "nguyen.van.an@example.vn"
SECOND = "tran.thi.binh@hanoi.gov.vn"
PHONE = "0912345678"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[int, int, Path, subprocess.Popen[str]]]:
    smtp_port, http_port = free_port(), free_port()
    mail_dir = tmp_path / "mail"
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "deploy" / "smtp" / "sink.py"),
            "--port",
            str(smtp_port),
            "--http-port",
            str(http_port),
            "--mail-dir",
            str(mail_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{http_port}/messages", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield smtp_port, http_port, mail_dir, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def test_the_log_masks_recipients_the_mailbox_keeps_them(
    sink: tuple[int, int, Path, subprocess.Popen[str]],
) -> None:
    smtp_port, http_port, _, process = sink
    message = EmailMessage()
    message["From"] = "no-reply@stnmt.example.vn"
    message["To"] = CITIZEN
    message["Subject"] = "Hồ sơ đã được tiếp nhận"
    message.set_content("Kính gửi ông An")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.send_message(message, to_addrs=[CITIZEN, SECOND])
        # A malformed command quoting a phone number: aiosmtpd answers it, and may log it.
        client.docmd("RCPT", f"TO:<{PHONE}>")
    listing = httpx.get(f"http://127.0.0.1:{http_port}/messages", timeout=5).json()
    assert listing[0]["envelope_to"] == [CITIZEN, SECOND]

    process.terminate()
    output, _ = process.communicate(timeout=10)
    assert "stored" in output
    assert "n***@e***.vn" in output
    assert "t***@h***.vn" in output
    for personal in (CITIZEN, SECOND, PHONE, "nguyen.van.an", "tran.thi.binh"):
        assert personal not in output, personal
