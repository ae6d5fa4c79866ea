"""The operators' docs' links to the local Zipkin UI work as written, in a real browser.

Each ``http://127.0.0.1:9411/zipkin/…`` link of docs/operations.md is put on a page as it
is written (its placeholders filled with a trace this test sends to Zipkin) and clicked
in headless Chromium, driven through chromedriver's W3C WebDriver protocol. A search link
must show the trace found, not an empty search form; a trace link the trace itself.

Chromium and chromedriver are Debian's (`make browser`); the fixture installs them when
it may (root, apt-get) and otherwise skips, saying why.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.infra import load_launcher

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "operations.md"
ZIPKIN_LINK = re.compile(r"http://127\.0\.0\.1:9411/zipkin/[^\s`<>)]*(?:<[^>]+>[^\s`<>)]*)*")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def doc_links() -> list[str]:
    return sorted(set(ZIPKIN_LINK.findall(DOC.read_text(encoding="utf-8"))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _browser_binaries() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("needs Debian's chromium and chromium-driver: run `make browser` as root")
    subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=600)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
        check=True,
        timeout=900,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium, "apt-get installed no chromium"
    assert driver, "apt-get installed no chromedriver"
    return chromium, driver


class Browser:
    """The few WebDriver commands the test needs, over chromedriver's HTTP API."""

    def __init__(self, driver_url: str, chromium: str) -> None:
        self._http = httpx.Client(base_url=driver_url, timeout=60)
        answer = self._call(
            "POST",
            "/session",
            {
                "capabilities": {
                    "alwaysMatch": {
                        "browserName": "chrome",
                        "goog:chromeOptions": {"binary": chromium, "args": CHROMIUM_ARGS},
                    }
                }
            },
        )
        self._session = f"/session/{answer['sessionId']}"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, path, json=body)
        value = response.json()["value"]
        assert response.status_code == 200, value
        return value

    def open(self, url: str) -> None:
        self._call("POST", f"{self._session}/url", {"url": url})

    def click(self, css: str) -> None:
        found = self._call(
            "POST", f"{self._session}/element", {"using": "css selector", "value": css}
        )
        self._call("POST", f"{self._session}/element/{found[ELEMENT]}/click", {})

    def script(self, source: str) -> Any:
        return self._call("POST", f"{self._session}/execute/sync", {"script": source, "args": []})

    def text_within(self, wanted: str, timeout_s: float = 20) -> str:
        deadline = time.monotonic() + timeout_s
        text = ""
        while time.monotonic() < deadline:
            text = str(self.script("return document.body ? document.body.innerText : ''"))
            if wanted in text:
                return text
            time.sleep(0.3)
        return text

    def close(self) -> None:
        self._http.delete(self._session)
        self._http.close()


@pytest.fixture(scope="module")
def zipkin() -> str:
    try:
        return str(load_launcher().ensure_up(["zipkin"])["zipkin"])
    except Exception as exc:
        pytest.skip(f"no local Zipkin ({exc})")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium, driver = _browser_binaries()
    port = free_port()
    process = subprocess.Popen(
        [driver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/status", timeout=1).json()["value"]["ready"]:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        session = Browser(url, chromium)
        try:
            yield session
        finally:
            session.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class SentTrace:
    trace_id: str
    dossier_id: str
    service: str
    span: str


@pytest.fixture(scope="module")
def sent_trace(zipkin: str) -> SentTrace:
    """One producer span keyed by a fresh dossier id, as the services send them."""
    sent = SentTrace(
        trace_id=secrets.token_hex(16),
        dossier_id=str(uuid.uuid4()),
        service=f"doclink-{secrets.token_hex(3)}",
        span="send dossier.submissions",
    )
    now_us = int(time.time() * 1_000_000)
    span = {
        "traceId": sent.trace_id,
        "id": secrets.token_hex(8),
        "name": sent.span,
        "kind": "PRODUCER",
        "timestamp": now_us - 5_000,
        "duration": 4_000,
        "localEndpoint": {"serviceName": sent.service},
        "tags": {"messaging.kafka.message.key": sent.dossier_id, "messaging.system": "kafka"},
    }
    response = httpx.post(
        f"{zipkin}/api/v2/spans",
        content=json.dumps([span]),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return sent


def filled(link: str, trace: SentTrace) -> str:
    return (
        link.replace("<dossier id>", urllib.parse.quote(trace.dossier_id))
        .replace("<trace id>", trace.trace_id)
        .replace("<now>", str(int(time.time() * 1000) + 60_000))
    )


def click(browser: Browser, link: str) -> None:
    """Put the link on a page as a reader finds it and click it."""
    page = f'<a id="doc-link" href="{link.replace("&", "&amp;")}">the link</a>'
    browser.open("data:text/html;charset=utf-8," + urllib.parse.quote(page))
    browser.click("#doc-link")


def test_the_docs_name_a_search_link_and_a_trace_link() -> None:
    links = doc_links()
    assert any("annotationQuery=" in link for link in links), links
    assert any("/traces/<trace id>" in link for link in links), links


@pytest.mark.parametrize("link", doc_links())
def test_each_zipkin_link_opens_what_the_docs_promise(
    browser: Browser, sent_trace: SentTrace, link: str
) -> None:
    click(browser, filled(link, sent_trace))
    if "annotationQuery=" in link:
        # The query ran: the trace is listed, under the service that sent it.
        text = browser.text_within(sent_trace.service)
        assert sent_trace.service in text, f"{link} did not run the search:\n{text[:600]}"
        assert "1 Result" in text or "1 result" in text.lower(), text[:600]
    elif "/traces/" in link:
        text = browser.text_within(sent_trace.span)
        assert sent_trace.span in text, f"{link} did not show the trace:\n{text[:600]}"
    else:
        text = browser.text_within("RUN QUERY")
        assert "RUN QUERY" in text.upper(), f"{link} is not Zipkin's search page:\n{text[:600]}"
