"""A picture of one dossier's trace in the Zipkin UI, taken with headless Chromium.

    uv run python deploy/screenshot.py                  # submit a demo dossier, shoot its trace
    uv run python deploy/screenshot.py --trace-id ID    # shoot a trace that exists already

Without ``--trace-id`` it needs the local system running (``make run``): it submits a
dossier with made-up applicant data to intake, waits until Zipkin holds the whole trace
(spans of all four services, up to audit recording the notification), and opens the
trace page. The picture goes to ``docs/img/trace.png`` unless ``--out`` says otherwise.

Needs Debian's ``chromium`` package (``apt-get install -y chromium``).
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from status import Settings, read_env_file  # deploy/status.py, beside this file

from chassis.auth import ClientCredentials, request_token

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES = {"intake", "processing", "notification", "audit"}


def zipkin_url() -> str:
    endpoint = read_env_file(REPO_ROOT / ".local" / "env").get("ZIPKIN_ENDPOINT", "")
    base = endpoint.removesuffix("/api/v2/spans")
    return base or "http://127.0.0.1:9411"


_EXAMPLE_FILES = {
    "application_form": "don-dang-ky.pdf",
    "business_registration": "dang-ky-kinh-doanh.pdf",
}


def demo_dossier() -> dict[str, Any]:
    """Registration as a hazardous-waste source owner (MT-004) by a made-up person."""

    def document(code: str) -> dict[str, Any]:
        # The README's example documents, which submit_demo uploads first.
        name = _EXAMPLE_FILES[code]
        content = (REPO_ROOT / "docs" / "examples" / name).read_bytes()
        return {
            "document_code": code,
            "name": name,
            "media_type": "application/pdf",
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }

    return {
        "procedure_code": "MT-004",
        "channel": "online",
        "applicant": {
            "type": "person",
            "name": "Nguyễn Văn Mẫu",
            "id_number": "001090000001",
            "email": f"mau.{secrets.token_hex(3)}@example.vn",
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
        "attachments": [document("application_form"), document("business_registration")],
    }


def submit_demo(settings: Settings) -> str:
    """Submit the demo dossier under a trace id of our own; returns that id."""
    # Its own client of the local identity provider, which may have the portal role only.
    credentials = REPO_ROOT / ".local" / "idp" / "screenshot.json"
    if not credentials.is_file():
        raise SystemExit(f"{credentials} is missing: start the system with `make run` first")
    trace_id = secrets.token_hex(16)
    try:
        token = request_token(ClientCredentials.from_file(credentials), roles=["portal"], ttl_s=300)
    except (httpx.HTTPError, PermissionError) as exc:
        raise SystemExit(f"no token from the identity provider ({exc}); is `make run` up?") from exc
    headers = {
        "Authorization": f"Bearer {token}",
        "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
    }
    url = f"{settings.services['intake']}/v1/dossiers"
    try:
        for name in _EXAMPLE_FILES.values():
            stored = httpx.post(
                f"{settings.services['intake']}/v1/documents",
                params={"name": name},
                content=(REPO_ROOT / "docs" / "examples" / name).read_bytes(),
                headers={**headers, "Content-Type": "application/pdf"},
                timeout=15,
            )
            stored.raise_for_status()
        response = httpx.post(url, json=demo_dossier(), headers=headers, timeout=15)
    except httpx.HTTPError as exc:
        raise SystemExit(f"intake did not answer at {url} ({exc}); is `make run` up?") from exc
    if response.status_code != 202:
        raise SystemExit(f"intake refused the demo dossier: {response.status_code} {response.text}")
    print(f"submitted dossier {response.json()['dossier_id']}, trace {trace_id}")
    return trace_id


def wait_for_whole_trace(zipkin: str, trace_id: str, timeout_s: float = 60.0) -> int:
    """Wait until Zipkin holds spans of all four services and audit's record of the
    notification (the last hop); returns the number of spans."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{zipkin}/api/v2/trace/{trace_id}", timeout=5)
            spans = response.json() if response.status_code == 200 else []
        except (httpx.HTTPError, ValueError):
            spans = []
        services = {s.get("localEndpoint", {}).get("serviceName") for s in spans}
        last_hop = any(
            s.get("localEndpoint", {}).get("serviceName") == "audit"
            and s.get("tags", {})
            .get("messaging.destination.name", "")
            .endswith("notification.outcomes")
            for s in spans
        )
        if services >= SERVICES and last_hop:
            # One more export round, so late spans are in the picture too.
            time.sleep(2)
            return len(httpx.get(f"{zipkin}/api/v2/trace/{trace_id}", timeout=5).json())
        time.sleep(0.5)
    raise SystemExit(f"trace {trace_id} did not reach all four services in Zipkin at {zipkin}")


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("chromium is not installed (Debian/Ubuntu: apt-get install -y chromium)")


def screenshot(url: str, out: Path, *, wait_ms: int) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    # A fresh profile every time: no first-run dialogs, no state from earlier runs.
    with tempfile.TemporaryDirectory(prefix="hoso-chromium-") as profile:
        argv = [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={out}",
            "--window-size=1600,1000",
            # The Zipkin UI is a JavaScript app that fetches the trace after loading.
            f"--virtual-time-budget={wait_ms}",
            url,
        ]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0 or not out.exists():
        raise SystemExit(f"chromium failed ({result.returncode}):\n{result.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="screenshot.py", description=__doc__.splitlines()[0])
    parser.add_argument("--trace-id", help="an existing trace (default: submit a demo dossier)")
    parser.add_argument("--zipkin", default=None, help="Zipkin's base URL")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "img" / "trace.png")
    parser.add_argument("--wait-ms", type=int, default=10_000, help="time the page gets to draw")
    args = parser.parse_args(argv)
    zipkin = (args.zipkin or zipkin_url()).rstrip("/")
    trace_id = args.trace_id or submit_demo(Settings.load([]))
    spans = wait_for_whole_trace(zipkin, trace_id)
    screenshot(f"{zipkin}/zipkin/traces/{trace_id}", args.out, wait_ms=args.wait_ms)
    print(f"{args.out}: trace {trace_id} ({spans} spans)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
