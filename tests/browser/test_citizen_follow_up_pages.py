"""Citizens in the browser, without an account: the dossier opened by its receipt code
and secret posted in a form (never in an address), its steps in plain Vietnamese and in
English, and the supplement an officer asked for handed in with a document."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import (
    AGENCY_A,
    Stack,
    assert_accessible,
    mt004_submission,
    small_pdf,
    submit_and_wait,
    wait_until,
)

pytestmark = pytest.mark.browser


def _citizen_status(driver: WebDriver) -> str:
    return str(driver.find_element(By.ID, "citizen-status").get_attribute("data-status"))


def _ask_for_a_supplement(stack: Stack, dossier_id: str) -> None:
    """An officer of the unit asks for the business registration again (the API, as the
    officers' pages are tested on their own)."""
    officer = stack.token("officer", agency=AGENCY_A, sub="citizen-test-officer")
    dossier = stack.officer_view(dossier_id)
    assert dossier is not None
    answer = stack.api(
        "processing",
        "POST",
        f"/v1/officer/dossiers/{dossier_id}/actions",
        officer,
        json={
            "action": "request_supplement",
            "reason": "Giấy đăng ký kinh doanh bị mờ, đề nghị nộp bản rõ hơn",
            "missing_documents": ["business_registration"],
        },
        headers={"If-Match": f'"{dossier["version"]}"'},
    )
    assert answer.status_code == 200, answer.text


def test_the_citizen_follows_the_dossier_and_hands_in_the_supplement_asked_for(
    stack: Stack, browser: WebDriver, axe_source: str, tmp_path: Path
) -> None:
    receipt = stack.submit(mt004_submission())
    stack.wait_for_status(receipt["dossier_id"], "received")

    browser.get(f"{stack.workbench}/follow-up")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Tra cứu hồ sơ"
    assert_accessible(browser, axe_source)
    browser.find_element(By.ID, "f-receipt_code").send_keys(receipt["receipt_code"].lower())
    secret = browser.find_element(By.ID, "f-secret")
    secret.send_keys(receipt["follow_up_secret"])
    submit_and_wait(browser, lambda: secret.send_keys(Keys.ENTER))
    assert _citizen_status(browser) == "received"
    assert "Sở đã tiếp nhận hồ sơ của bạn." in browser.page_source
    assert browser.find_element(By.CSS_SELECTOR, '[aria-current="step"]').text.startswith(
        "Cơ quan tiếp nhận"
    )
    assert_accessible(browser, axe_source)
    # Posted, never in the address.
    for private in (receipt["follow_up_secret"], receipt["receipt_code"]):
        assert private not in browser.current_url

    _ask_for_a_supplement(stack, receipt["dossier_id"])

    def asked(driver: WebDriver) -> bool:
        driver.get(f"{stack.workbench}/follow-up/dossier")
        return _citizen_status(driver) == "supplement_requested"

    wait_until(browser, asked, "intake to learn of the supplement asked for")
    assert (
        "Giấy chứng nhận đăng ký doanh nghiệp"
        in browser.find_element(By.ID, "missing-documents").text
    )
    assert_accessible(browser, axe_source)

    scan = tmp_path / "dang-ky-kinh-doanh-ban-ro.pdf"
    scan.write_bytes(small_pdf("business registration, readable"))
    browser.find_element(By.ID, "f-document-business_registration").send_keys(str(scan))
    browser.find_element(By.ID, "f-note").send_keys("Bản chụp rõ hơn")
    submit_and_wait(
        browser, lambda: browser.find_element(By.ID, "send-supplement").send_keys(Keys.ENTER)
    )
    assert browser.find_element(By.ID, "notice").get_attribute("role") == "status"
    assert_accessible(browser, axe_source)
    dossier = stack.wait_for_status(receipt["dossier_id"], "supplemented")
    assert dossier["missing_documents"] == []
    assert [a["name"] for a in dossier["attachments"]][-1] == scan.name

    # The English switch keeps the dossier open and words the status for the citizen.
    submit_and_wait(browser, browser.find_element(By.LINK_TEXT, "English").click)
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Dossier {receipt['receipt_code']}"
    assert_accessible(browser, axe_source)
