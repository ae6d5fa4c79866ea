"""One dossier's whole journey through the workbench, each person at their own page: the
desk keys it in and prints the slip, an officer takes it and asks for a supplement, the
citizen hands it in, the officer forwards it, a leader approves, the citizen sees the
decision, an auditor reads its trail and verifies the log."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import (
    AGENCY_A,
    Stack,
    sign_in,
    small_pdf,
    submit_and_wait,
    wait_until,
)

pytestmark = pytest.mark.browser


def _press(driver: WebDriver, element_id: str) -> None:
    button = driver.find_element(By.ID, element_id)
    submit_and_wait(driver, lambda: button.send_keys(Keys.ENTER))


def _type(driver: WebDriver, element_id: str, text: str) -> None:
    driver.find_element(By.ID, element_id).send_keys(text)


def _status(driver: WebDriver) -> str:
    return str(driver.find_element(By.ID, "dossier-status").get_attribute("data-status"))


def _scan(directory: Path, name: str) -> str:
    path = directory / name
    path.write_bytes(small_pdf(f"{name}, scanned"))
    return str(path)


def test_a_dossier_from_the_desk_to_the_leaders_approval_and_the_auditors_trail(
    stack: Stack, browser: WebDriver, tmp_path: Path
) -> None:
    desk = stack.add_person("journey-desk", "desk", agency="STNMT-VP")
    officer = stack.add_person("journey-officer", "officer", agency=AGENCY_A)
    leader = stack.add_person("journey-leader", "leader", agency=AGENCY_A)
    auditor = stack.add_person("journey-auditor", "auditor")

    # The desk: an EIA appraisal (MT-001, the leader approves) keyed in, the slip printed.
    sign_in(browser, stack, desk, "/desk")
    Select(browser.find_element(By.ID, "procedure")).select_by_value("MT-001")
    _press(browser, "open-form")
    Select(browser.find_element(By.ID, "f-applicant-type")).select_by_value("organisation")
    _type(browser, "f-applicant-name", "Công ty TNHH Sông Xanh")
    _type(browser, "f-applicant-id_number", "0101234567")
    _type(browser, "f-applicant-phone", "0912345678")
    _type(browser, "f-form-project_name", "Nhà máy xử lý nước thải Sông Xanh")
    _type(browser, "f-form-project_location", "Khu công nghiệp Quang Minh, Mê Linh")
    Select(browser.find_element(By.ID, "f-form-project_group")).select_by_value("II")
    _type(browser, "f-form-total_investment_billion_vnd", "120")
    _type(browser, "f-form-capacity", "5.000 m³/ngày đêm")
    for code in ("application_form", "eia_report", "feasibility_study"):
        _type(browser, f"f-document-{code}", _scan(tmp_path, f"{code}.pdf"))
    _press(browser, "submit-dossier")
    code = browser.find_element(By.ID, "receipt-code").text
    secret = browser.find_element(By.ID, "follow-up-secret").text
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    slip_url = str(browser.find_element(By.ID, "print-slip").get_attribute("href"))
    slip = httpx.get(slip_url, cookies=cookies, timeout=30)
    assert slip.headers["content-type"] == "application/pdf"

    # The officer: finds it in the queue, takes it, asks for a clearer EIA report.
    browser.delete_all_cookies()
    sign_in(browser, stack, officer, "/queue")

    def listed(driver: WebDriver) -> bool:
        driver.get(f"{stack.workbench}/queue")
        return bool(driver.find_elements(By.LINK_TEXT, code))

    wait_until(browser, listed, "the dossier in the officer's queue")
    submit_and_wait(browser, browser.find_element(By.LINK_TEXT, code).click)
    dossier_page = browser.current_url
    _press(browser, "claim")
    browser.find_element(By.ID, "missing-eia_report").send_keys(Keys.SPACE)
    _type(browser, "reason-request_supplement", "Báo cáo ĐTM thiếu chữ ký, đề nghị nộp lại")
    _press(browser, "action-request_supplement-button")
    assert _status(browser) == "supplement_requested"

    # The citizen: opens it with the receipt's code and secret, hands in the report.
    browser.delete_all_cookies()
    browser.get(f"{stack.workbench}/follow-up")
    _type(browser, "f-receipt_code", code)
    _type(browser, "f-secret", secret)
    _press(browser, "f-secret")

    def asked(driver: WebDriver) -> bool:
        driver.get(f"{stack.workbench}/follow-up/dossier")
        status = driver.find_element(By.ID, "citizen-status").get_attribute("data-status")
        return status == "supplement_requested"

    wait_until(browser, asked, "the citizen to see the supplement asked for")
    _type(browser, "f-document-eia_report", _scan(tmp_path, "bao-cao-dtm-co-chu-ky.pdf"))
    _press(browser, "send-supplement")
    assert browser.find_element(By.ID, "notice").get_attribute("role") == "status"
    dossier_id = dossier_page.rsplit("/", 1)[-1]
    stack.wait_for_status(dossier_id, "supplemented")

    # The officer again: reviews and forwards it for approval.
    sign_in(browser, stack, officer, f"/dossiers/{dossier_id}")
    _press(browser, "action-start_review-button")
    _press(browser, "action-forward_for_approval-button")
    assert _status(browser) == "awaiting_approval"

    # The leader: approves it from the approvals page.
    browser.delete_all_cookies()
    sign_in(browser, stack, leader, "/approvals")
    submit_and_wait(browser, browser.find_element(By.LINK_TEXT, code).click)
    _type(browser, "reference-approve", "QĐ-501/STNMT")
    _press(browser, "action-approve-button")
    assert _status(browser) == "approved"

    # The citizen sees the decision.
    browser.delete_all_cookies()
    browser.get(f"{stack.workbench}/follow-up")
    _type(browser, "f-receipt_code", code)
    _type(browser, "f-secret", secret)
    _press(browser, "f-secret")

    def decided(driver: WebDriver) -> bool:
        driver.get(f"{stack.workbench}/follow-up/dossier")
        status = driver.find_element(By.ID, "citizen-status").get_attribute("data-status")
        return status == "approved"

    wait_until(browser, decided, "the citizen to see the approval")

    # ...and, once intake has issued it, downloads the signed result document.
    def result_offered(driver: WebDriver) -> bool:
        driver.get(f"{stack.workbench}/follow-up/dossier")
        return bool(driver.find_elements(By.ID, "download-result"))

    wait_until(browser, result_offered, "the signed result to be offered")
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    link = browser.find_element(By.ID, "download-result").get_attribute("href")
    downloaded = httpx.get(str(link), cookies=cookies, timeout=30)
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.headers["content-type"] == "application/pdf"
    assert downloaded.content.startswith(b"%PDF")
    issued = stack.officer_view(dossier_id)
    assert issued is not None
    assert hashlib.sha256(downloaded.content).hexdigest() == issued["result_document"]["sha256"]

    # The auditor: the dossier's trail, and a verification that passes.
    sign_in(browser, stack, auditor, f"/audit/dossiers/{dossier_id}")

    def trail_complete(driver: WebDriver) -> bool:
        driver.get(f"{stack.workbench}/audit/dossiers/{dossier_id}")
        return "approved" in driver.find_element(By.CSS_SELECTOR, "table.entries").text

    wait_until(browser, trail_complete, "the approval in the audit trail")
    trail = browser.find_element(By.CSS_SELECTOR, "table.entries").text
    for status in ("supplement_requested", "supplemented", "awaiting_approval", "approved"):
        assert status in trail
    browser.get(f"{stack.workbench}/audit/verify")
    _press(browser, "run-verification")
    assert browser.find_element(By.ID, "verification").get_attribute("data-ok") == "true"
