"""The one-stop desk in the browser: a paper dossier of another unit keyed in by
keyboard, intake's field error shown beside its input with the uploaded files kept, the
receipt, and the slip printed through the workbench (a PDF naming the receipt code)."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import (
    Stack,
    assert_accessible,
    sign_in,
    small_pdf,
    submit_and_wait,
)

pytestmark = pytest.mark.browser

# The desk sits in the department's office, not in the unit that settles MT-004.
DESK_UNIT = "STNMT-VP"


def _heading(driver: WebDriver) -> str:
    return str(driver.find_element(By.TAG_NAME, "h1").text)


def _type(driver: WebDriver, element_id: str, text: str) -> None:
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def _press(driver: WebDriver, element_id: str) -> None:
    """Press a button by keyboard and wait for the page it leads to."""
    submit_and_wait(driver, lambda: driver.find_element(By.ID, element_id).send_keys(Keys.ENTER))


def _scan(directory: Path, name: str) -> str:
    path = directory / name
    path.write_bytes(small_pdf(f"{name} scanned at the desk"))
    return str(path)


def test_the_desk_keys_in_another_units_dossier_and_prints_its_slip(
    stack: Stack, browser: WebDriver, axe_source: str, tmp_path: Path
) -> None:
    desk = stack.add_person("clerk", "desk", agency=DESK_UNIT)
    sign_in(browser, stack, desk, "/desk")
    assert _heading(browser) == "Tiếp nhận hồ sơ tại bộ phận một cửa"
    assert_accessible(browser, axe_source)

    Select(browser.find_element(By.ID, "procedure")).select_by_value("MT-004")
    _press(browser, "open-form")
    assert _heading(browser) == "Tiếp nhận hồ sơ MT-004"
    assert_accessible(browser, axe_source)

    Select(browser.find_element(By.ID, "f-applicant-type")).select_by_value("person")
    _type(browser, "f-applicant-name", "Nguyễn Thị Quầy")
    _type(browser, "f-applicant-id_number", "12345")  # not a citizen ID: intake says so
    _type(browser, "f-applicant-phone", "0912345678")
    _type(browser, "f-form-facility_name", "Xưởng sửa chữa ô tô Minh Khai")
    _type(browser, "f-form-facility_address", "Phường Minh Khai, Bắc Từ Liêm, Hà Nội")
    _type(browser, "f-form-waste_items-0-waste_code", "17 02 03")
    _type(browser, "f-form-waste_items-0-name", "Dầu thải")
    Select(browser.find_element(By.ID, "f-form-waste_items-0-state")).select_by_value("liquid")
    _type(browser, "f-form-waste_items-0-quantity_kg_per_year", "200")
    browser.find_element(By.ID, "f-document-application_form").send_keys(
        _scan(tmp_path, "don-dang-ky.pdf")
    )
    browser.find_element(By.ID, "f-document-business_registration").send_keys(
        _scan(tmp_path, "dang-ky-kinh-doanh.pdf")
    )
    _press(browser, "submit-dossier")

    # Intake's message beside the input, announced and linked from the summary.
    assert browser.find_element(By.ID, "error-summary").get_attribute("role") == "alert"
    error = browser.find_element(By.ID, "f-applicant-id_number-error").text
    assert error
    id_input = browser.find_element(By.ID, "f-applicant-id_number")
    assert id_input.get_attribute("aria-invalid") == "true"
    assert "f-applicant-id_number-error" in str(id_input.get_attribute("aria-describedby"))
    assert browser.find_element(By.CSS_SELECTOR, 'a[href="#f-applicant-id_number"]')
    # The two scans were uploaded once and are kept, not chosen again.
    assert len(browser.find_elements(By.CSS_SELECTOR, ".kept input:checked")) == 2
    assert_accessible(browser, axe_source)

    _type(browser, "f-applicant-id_number", "001090000001")
    _press(browser, "submit-dossier")
    assert _heading(browser).startswith("Đã tiếp nhận hồ sơ")
    assert_accessible(browser, axe_source)
    code = browser.find_element(By.ID, "receipt-code").text
    secret = browser.find_element(By.ID, "follow-up-secret").text
    assert code.startswith("MT-")
    # No personal data in any address the browser went to.
    assert "001090000001" not in browser.current_url

    slip_url = str(browser.find_element(By.ID, "print-slip").get_attribute("href"))
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    slip = httpx.get(slip_url, cookies=cookies, timeout=30)
    assert slip.status_code == 200
    assert slip.headers["Content-Type"] == "application/pdf"
    assert slip.content.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(BytesIO(slip.content)).pages)
    assert code in text

    # Intake has it, and the secret the desk read out opens it.
    status = httpx.get(
        f"{stack.services['intake']}/v1/dossiers/{code}/status",
        headers={"X-Follow-Up-Secret": secret},
        timeout=10,
    )
    assert status.status_code == 200, status.text
    assert status.json()["procedure_code"] == "MT-004"
