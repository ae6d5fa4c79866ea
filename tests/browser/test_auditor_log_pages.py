"""Auditors in the browser: searching the log, a dossier's trail with what changed, a
verification that passes, the exports and the public key, and an issued-document check."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import (
    Stack,
    assert_accessible,
    mt004_submission,
    sign_in,
    small_pdf,
    submit_and_wait,
)

pytestmark = pytest.mark.browser


def _wait_for_trail(stack: Stack, dossier_id: str, entries: int) -> None:
    token = stack.token("auditor")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = stack.api("audit", "GET", f"/v1/audit/dossiers/{dossier_id}", token)
        if answer.status_code == 200 and len(answer.json()["entries"]) >= entries:
            return
        time.sleep(0.25)
    raise AssertionError(f"audit has not recorded {entries} entries of {dossier_id}")


def test_the_auditor_sees_the_trail_with_what_changed_and_a_passing_verification(
    stack: Stack, browser: WebDriver, axe_source: str, tmp_path: Path
) -> None:
    auditor = stack.add_person("inspector", "auditor")
    receipt = stack.submit(mt004_submission())
    dossier_id = receipt["dossier_id"]
    stack.wait_for_status(dossier_id, "received")
    # Submitted, then received: a status change with its change of status.
    _wait_for_trail(stack, dossier_id, 2)

    sign_in(browser, stack, auditor, "/audit")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Tra cứu nhật ký kiểm toán"
    assert_accessible(browser, axe_source)
    search = browser.find_element(By.ID, "dossier_id")
    search.send_keys(dossier_id)
    submit_and_wait(browser, lambda: search.send_keys(Keys.ENTER))
    rows = browser.find_elements(By.CSS_SELECTOR, "table.entries tbody tr")
    assert len(rows) >= 2
    assert_accessible(browser, axe_source)

    export = str(browser.find_element(By.ID, "export-ndjson").get_attribute("href"))
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    lines = httpx.get(export, cookies=cookies, timeout=30).text.splitlines()
    assert {json.loads(line)["dossier_id"] for line in lines} == {dossier_id}
    key = httpx.get(
        str(browser.find_element(By.ID, "public-key").get_attribute("href")),
        cookies=cookies,
        timeout=30,
    )
    assert key.text.startswith("-----BEGIN PUBLIC KEY-----")

    link = browser.find_element(By.CSS_SELECTOR, f'a[href="/audit/dossiers/{dossier_id}"]')
    submit_and_wait(browser, link.click)
    assert browser.find_element(By.ID, "trail-dossier").text == dossier_id
    changes = browser.find_element(By.CSS_SELECTOR, "table.entries").text
    assert "status" in changes
    assert "received" in changes
    assert_accessible(browser, axe_source)

    browser.get(f"{stack.workbench}/audit/verify")
    assert_accessible(browser, axe_source)
    submit_and_wait(
        browser,
        lambda: browser.find_element(By.ID, "run-verification").send_keys(Keys.ENTER),
    )
    assert browser.find_element(By.ID, "verification").get_attribute("data-ok") == "true"
    assert_accessible(browser, axe_source)

    browser.get(f"{stack.workbench}/audit/documents")
    assert_accessible(browser, axe_source)
    forged = tmp_path / "giay-phep-tu-lam.pdf"
    forged.write_bytes(small_pdf("a licence nobody issued"))
    browser.find_element(By.ID, "document").send_keys(str(forged))
    submit_and_wait(
        browser, lambda: browser.find_element(By.ID, "check-document").send_keys(Keys.ENTER)
    )
    verdict = browser.find_element(By.ID, "document-verdict")
    assert verdict.get_attribute("data-genuine") == "false"
    assert verdict.text == "Không có văn bản nào như thế này trong nhật ký ban hành."
    assert_accessible(browser, axe_source)
