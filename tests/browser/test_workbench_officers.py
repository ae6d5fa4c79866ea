"""Officers and leaders at work in the browser: the queue, a dossier, claiming it,
asking for a supplement, forwarding, approving; two officers deciding the same dossier."""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import (
    AGENCY_A,
    Stack,
    assert_accessible,
    mt001_submission,
    mt004_submission,
    sign_in,
    submit_and_wait,
)

pytestmark = pytest.mark.browser


def _heading(driver: WebDriver) -> str:
    return str(driver.find_element(By.TAG_NAME, "h1").text)


def test_an_officer_finds_the_dossier_in_the_queue_takes_it_and_asks_for_a_supplement(
    stack: Stack, browser: WebDriver, axe_source: str
) -> None:
    officer = stack.add_person("officer", "officer", agency=AGENCY_A)
    receipt = stack.submit(mt004_submission())
    stack.wait_for_status(receipt["dossier_id"], "received")

    sign_in(browser, stack, officer, "/queue")
    assert _heading(browser) == "Hồ sơ cần xử lý"
    assert_accessible(browser, axe_source)
    link = browser.find_element(By.LINK_TEXT, receipt["receipt_code"])
    submit_and_wait(browser, link.click)
    assert receipt["receipt_code"] in _heading(browser)
    assert_accessible(browser, axe_source)
    # Its documents open from the page (streamed from intake, which audits the read).
    links = browser.find_elements(By.CSS_SELECTOR, "ul.documents a")
    assert [link.text for link in links] == ["don-dang-ky.pdf", "dang-ky-kinh-doanh.pdf"]
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    document = httpx.get(str(links[0].get_attribute("href")), cookies=cookies, timeout=30)
    assert document.status_code == 200
    assert document.headers["content-type"] == "application/pdf"
    assert document.content.startswith(b"%PDF")

    submit_and_wait(browser, browser.find_element(By.ID, "claim").click)
    assert (
        browser.find_element(By.CSS_SELECTOR, "[role=status]").text == "Đã thực hiện: Nhận xử lý."
    )
    assert browser.find_element(By.ID, "dossier-assignee").text == "Bạn"

    browser.find_element(By.ID, "missing-business_registration").send_keys(Keys.SPACE)
    _act(
        browser,
        "request_supplement",
        **{"reason-request_supplement": "Giấy đăng ký kinh doanh bị mờ, đề nghị nộp bản rõ hơn"},
    )
    assert _status(browser) == "supplement_requested"
    dossier = stack.officer_view(receipt["dossier_id"])
    assert dossier is not None
    assert dossier["missing_documents"] == ["business_registration"]
    assert dossier["history"][-1]["actor"] == f"officer:{officer.subject}"


def _status(driver: WebDriver) -> str:
    return str(driver.find_element(By.ID, "dossier-status").get_attribute("data-status"))


def _act(driver: WebDriver, action: str, **fields: str) -> None:
    """Fill an action's form and press its button, by keyboard; wait for the answer."""
    for field_id, text in fields.items():
        driver.find_element(By.ID, field_id).send_keys(text)
    button = driver.find_element(By.ID, f"action-{action}-button")
    submit_and_wait(driver, lambda: button.send_keys(Keys.ENTER))


def test_two_officers_deciding_at_once_the_second_is_told_who_acted_first(
    stack: Stack, browser: WebDriver, second_browser: WebDriver, axe_source: str
) -> None:
    first = stack.add_person("first", "officer", agency=AGENCY_A)
    second = stack.add_person("second", "officer", agency=AGENCY_A)
    receipt = stack.submit(mt004_submission())
    stack.wait_for_status(receipt["dossier_id"], "received")
    page = f"/dossiers/{receipt['dossier_id']}"
    sign_in(browser, stack, first, page)
    sign_in(second_browser, stack, second, page)

    _act(browser, "start_review")
    assert _status(browser) == "in_review"
    # The second officer's page still shows the dossier as it was: same button, old version.
    _act(second_browser, "start_review")
    alert = second_browser.find_element(By.ID, "conflict")
    assert alert.get_attribute("role") == "alert"
    assert alert.text.startswith("Một đồng nghiệp đã bắt đầu thẩm định hồ sơ này")
    assert "vừa xong" in alert.text or "phút trước" in alert.text
    # Not an error page: the dossier as it is now, with the way back to it.
    assert receipt["receipt_code"] in _heading(second_browser)
    assert _status(second_browser) == "in_review"
    assert_accessible(second_browser, axe_source)
    submit_and_wait(
        second_browser, second_browser.find_element(By.LINK_TEXT, "Tải lại hồ sơ").click
    )
    assert not second_browser.find_elements(By.ID, "conflict")


def test_a_leader_approves_what_an_officer_forwarded(
    stack: Stack, browser: WebDriver, axe_source: str
) -> None:
    officer = stack.add_person("reviewer", "officer", agency=AGENCY_A)
    leader = stack.add_person("director", "leader", agency=AGENCY_A)
    receipt = stack.submit(mt001_submission())
    stack.wait_for_status(receipt["dossier_id"], "received")
    page = f"/dossiers/{receipt['dossier_id']}"

    sign_in(browser, stack, officer, page)
    _act(browser, "start_review")
    assert _status(browser) == "in_review"
    _act(browser, "forward_for_approval")
    assert _status(browser) == "awaiting_approval"
    # An officer cannot approve: the page offers no such button.
    assert not browser.find_elements(By.ID, "action-approve-button")

    browser.delete_all_cookies()
    sign_in(browser, stack, leader, "/approvals")
    assert _heading(browser) == "Hồ sơ chờ phê duyệt"
    assert_accessible(browser, axe_source)
    submit_and_wait(browser, browser.find_element(By.LINK_TEXT, receipt["receipt_code"]).click)
    _act(browser, "approve", **{"reference-approve": "QĐ-123/STNMT"})
    assert _status(browser) == "approved"
    dossier = stack.officer_view(receipt["dossier_id"])
    assert dossier is not None
    assert dossier["result_reference"] == "QĐ-123/STNMT"
    assert dossier["history"][-1]["actor"] == f"officer:{leader.subject}"

    browser.get(f"{stack.workbench}/statistics")
    assert _heading(browser) == "Thống kê giải quyết đúng hạn"
    assert browser.find_element(By.CSS_SELECTOR, "figure.chart svg[role=img]")
    assert "MT-001" in browser.find_element(By.TAG_NAME, "table").text
    assert_accessible(browser, axe_source)


def test_an_officer_rejects_with_a_reason_the_applicant_will_read(
    stack: Stack, browser: WebDriver
) -> None:
    officer = stack.add_person("decider", "officer", agency=AGENCY_A)
    receipt = stack.submit(mt004_submission())
    stack.wait_for_status(receipt["dossier_id"], "received")
    sign_in(browser, stack, officer, f"/dossiers/{receipt['dossier_id']}")
    _act(browser, "start_review")
    # Without its reason the browser itself keeps the form back (the field is required).
    reason = browser.find_element(By.ID, "reason-reject")
    assert browser.execute_script("return arguments[0].validity.valueMissing", reason)
    assert not browser.execute_script("return arguments[0].form.checkValidity()", reason)
    _act(browser, "reject", **{"reason-reject": "Cơ sở không thuộc đối tượng phải đăng ký"})
    assert _status(browser) == "rejected"
    timeline = browser.find_element(By.CSS_SELECTOR, "ol.timeline li").text
    assert "Bạn: Từ chối" in timeline
    assert "Cơ sở không thuộc đối tượng phải đăng ký" in timeline
