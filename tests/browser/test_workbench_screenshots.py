"""Pictures of the workbench's pages for the README: `make screenshots` runs this module
with ``HOSO_SCREENSHOTS_DIR=docs/img``; in the suite it writes them to a temporary
directory, so the command stays working. Each picture is of a page in a known state,
made here through the pages themselves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import (
    AGENCY_A,
    Stack,
    mt001_submission,
    mt004_submission,
    sign_in,
    small_pdf,
    submit_and_wait,
)

pytestmark = pytest.mark.browser

DESKTOP = (1280, 900)
PHONE = (390, 844)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    target = Path(os.environ.get("HOSO_SCREENSHOTS_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def _shoot(driver: WebDriver, directory: Path, name: str, size: tuple[int, int] = DESKTOP) -> None:
    """The whole page, as tall as its content, at ``size``'s width."""
    driver.set_window_size(*size)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size[0], max(size[1], min(int(height) + 40, 2400)))
    path = directory / f"workbench-{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(*DESKTOP)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _act(driver: WebDriver, action: str, **fields: str) -> None:
    for field_id, text in fields.items():
        driver.find_element(By.ID, field_id).send_keys(text)
    button = driver.find_element(By.ID, f"action-{action}-button")
    submit_and_wait(driver, lambda: button.send_keys(Keys.ENTER))


def test_screenshots_of_the_officers_and_leaders_pages(
    stack: Stack, browser: WebDriver, second_browser: WebDriver, shots: Path
) -> None:
    officer = stack.add_person("lan", "officer", agency=AGENCY_A)
    colleague = stack.add_person("hung", "officer", agency=AGENCY_A)
    leader = stack.add_person("minh", "leader", agency=AGENCY_A)
    receipts = [stack.submit(mt004_submission()) for _ in range(3)]
    receipts.append(stack.submit(mt001_submission()))
    for receipt in receipts:
        stack.wait_for_status(receipt["dossier_id"], "received")
    first, second, _, eia = receipts

    browser.get(f"{stack.workbench}/auth/sign-in?next=/queue")
    browser.find_element(By.ID, "username")
    _shoot(browser, shots, "sign-in")

    sign_in(browser, stack, officer, f"/dossiers/{eia['dossier_id']}")
    _act(browser, "start_review")
    _act(browser, "forward_for_approval")

    page = f"/dossiers/{first['dossier_id']}"
    browser.get(f"{stack.workbench}{page}")
    submit_and_wait(browser, browser.find_element(By.ID, "claim").click)
    browser.find_element(By.ID, "note-text").send_keys("Đã gọi điện hẹn kiểm tra thực địa.")
    note = browser.find_element(By.CSS_SELECTOR, "form[action$='/notes'] button")
    submit_and_wait(browser, note.click)
    _act(browser, "start_review")
    _shoot(browser, shots, "dossier")

    browser.get(f"{stack.workbench}/queue")
    _shoot(browser, shots, "queue")
    _shoot(browser, shots, "queue-phone", PHONE)

    # A colleague decides first: the explanation, not an error.
    other = f"/dossiers/{second['dossier_id']}"
    browser.get(f"{stack.workbench}{other}")
    sign_in(second_browser, stack, colleague, other)
    _act(second_browser, "start_review")
    _act(browser, "start_review")
    assert browser.find_elements(By.ID, "conflict")
    _shoot(browser, shots, "conflict")

    # Decisions, so that the statistics have rates to draw.
    browser.get(f"{stack.workbench}{page}")
    _act(browser, "approve", **{"reference-approve": "GP-2026-0412"})

    browser.delete_all_cookies()
    sign_in(browser, stack, leader, "/approvals")
    _shoot(browser, shots, "approvals")
    browser.get(f"{stack.workbench}/dossiers/{eia['dossier_id']}")
    _act(browser, "approve", **{"reference-approve": "QĐ-77/STNMT"})
    browser.get(f"{stack.workbench}/statistics")
    _shoot(browser, shots, "statistics")


def test_screenshots_of_the_desk_the_citizen_and_the_auditor(
    stack: Stack, browser: WebDriver, shots: Path, tmp_path: Path
) -> None:
    desk = stack.add_person("thu", "desk", agency="STNMT-VP")
    auditor = stack.add_person("kiem", "auditor")

    sign_in(browser, stack, desk, "/desk")
    Select(browser.find_element(By.ID, "procedure")).select_by_value("MT-004")
    submit_and_wait(browser, browser.find_element(By.ID, "open-form").click)
    fields = {
        "f-applicant-name": "Nguyễn Thị Quầy",
        "f-applicant-id_number": "12345",
        "f-applicant-phone": "0912345678",
        "f-form-facility_name": "Xưởng sửa chữa ô tô Minh Khai",
        "f-form-facility_address": "Phường Minh Khai, Bắc Từ Liêm, Hà Nội",
        "f-form-waste_items-0-waste_code": "17 02 03",
        "f-form-waste_items-0-name": "Dầu thải",
        "f-form-waste_items-0-quantity_kg_per_year": "200",
    }
    Select(browser.find_element(By.ID, "f-applicant-type")).select_by_value("person")
    for field_id, text in fields.items():
        browser.find_element(By.ID, field_id).send_keys(text)
    Select(browser.find_element(By.ID, "f-form-waste_items-0-state")).select_by_value("liquid")
    for code in ("application_form", "business_registration"):
        scan = tmp_path / f"{code}.pdf"
        scan.write_bytes(small_pdf(f"{code} scanned at the desk"))
        browser.find_element(By.ID, f"f-document-{code}").send_keys(str(scan))
    submit_and_wait(browser, browser.find_element(By.ID, "submit-dossier").click)
    assert browser.find_elements(By.ID, "error-summary")
    _shoot(browser, shots, "desk-form")
    id_number = browser.find_element(By.ID, "f-applicant-id_number")
    id_number.clear()
    id_number.send_keys("001090000001")
    submit_and_wait(browser, browser.find_element(By.ID, "submit-dossier").click)
    code = browser.find_element(By.ID, "receipt-code").text
    secret = browser.find_element(By.ID, "follow-up-secret").text
    _shoot(browser, shots, "desk-receipt")

    browser.delete_all_cookies()
    browser.get(f"{stack.workbench}/follow-up")
    browser.find_element(By.ID, "f-receipt_code").send_keys(code)
    secret_field = browser.find_element(By.ID, "f-secret")
    secret_field.send_keys(secret)
    submit_and_wait(browser, lambda: secret_field.send_keys(Keys.ENTER))
    assert browser.find_elements(By.ID, "citizen-status")
    _shoot(browser, shots, "citizen", PHONE)

    sign_in(browser, stack, auditor, "/audit")
    search = browser.find_element(By.ID, "dossier_id")
    submit_and_wait(browser, lambda: search.send_keys(Keys.ENTER))
    assert browser.find_elements(By.CSS_SELECTOR, "table.entries tbody tr")
    _shoot(browser, shots, "audit-search")
    browser.get(f"{stack.workbench}/audit/verify")
    submit_and_wait(browser, browser.find_element(By.ID, "run-verification").click)
    assert browser.find_element(By.ID, "verification").get_attribute("data-ok") == "true"
    _shoot(browser, shots, "audit-verify")
