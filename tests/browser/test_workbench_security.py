"""The workbench's guards, through the real stack: another agency's dossier looks like a
missing one, a form without the session's CSRF token changes nothing, the session cookie
cannot be read by script, and no personal data travels in a URL."""

from __future__ import annotations

import uuid
from urllib.parse import quote, unquote

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import (
    AGENCY_A,
    AGENCY_B,
    Stack,
    mt004_submission,
    sign_in,
    submit_and_wait,
)

pytestmark = pytest.mark.browser


def _cookies(driver: WebDriver) -> dict[str, str]:
    return {c["name"]: c["value"] for c in driver.get_cookies()}


def _main_text(driver: WebDriver) -> str:
    return str(driver.find_element(By.TAG_NAME, "main").text)


def test_another_agencys_dossier_gets_the_page_of_a_missing_one(
    stack: Stack, browser: WebDriver
) -> None:
    outsider = stack.add_person("outsider", "officer", agency=AGENCY_B)
    receipt = stack.submit(mt004_submission())
    stack.wait_for_status(receipt["dossier_id"], "received")

    sign_in(browser, stack, outsider, f"/dossiers/{receipt['dossier_id']}")
    theirs = (browser.title, _main_text(browser))
    browser.get(f"{stack.workbench}/dossiers/{uuid.uuid4()}")
    missing = (browser.title, _main_text(browser))
    assert theirs == missing
    assert "Không tìm thấy" in theirs[0]
    assert receipt["receipt_code"] not in theirs[1]

    cookies = _cookies(browser)
    seen = stack.officer_view(receipt["dossier_id"])
    assert seen is not None
    document = seen["attachments"][0]["document_id"]
    assert document
    for path in (
        f"/dossiers/{receipt['dossier_id']}",
        f"/dossiers/{uuid.uuid4()}",
        f"/dossiers/{receipt['dossier_id']}/documents/{document}",
    ):
        answer = httpx.get(f"{stack.workbench}{path}", cookies=cookies, timeout=10)
        assert answer.status_code == 404


def test_a_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing(
    stack: Stack, browser: WebDriver
) -> None:
    officer = stack.add_person("careful", "officer", agency=AGENCY_A)
    receipt = stack.submit(mt004_submission())
    before = stack.wait_for_status(receipt["dossier_id"], "received")
    page = f"/dossiers/{receipt['dossier_id']}"
    sign_in(browser, stack, officer, page)
    cookies = _cookies(browser)
    token = browser.find_element(By.NAME, "csrf_token").get_attribute("value")
    assert token

    posts = {
        f"{page}/notes": {"text": "ghi chú giả mạo"},
        f"{page}/claim": {"version": str(before["version"])},
        f"{page}/actions": {"version": str(before["version"]), "action": "start_review"},
    }
    for path, form in posts.items():
        for forged in ({}, {"csrf_token": "not-the-token"}, {"csrf_token": ""}):
            answer = httpx.post(
                f"{stack.workbench}{path}", data=form | forged, cookies=cookies, timeout=10
            )
            assert answer.status_code == 403, (path, forged)
            assert "Biểu mẫu đã hết hiệu lực" in answer.text
    after = stack.officer_view(receipt["dossier_id"])
    assert after is not None
    assert after["version"] == before["version"]
    assert after["notes"] == []
    assert after["assignee"] is None

    # The same request with the session's token goes through: the refusals were the token's.
    answer = httpx.post(
        f"{stack.workbench}{page}/notes",
        data={"text": "ghi chú thật", "csrf_token": token},
        cookies=cookies,
        timeout=10,
    )
    assert answer.status_code == 303
    noted = stack.officer_view(receipt["dossier_id"])
    assert noted is not None
    assert [n["text"] for n in noted["notes"]] == ["ghi chú thật"]


def test_the_session_cookie_is_http_only_and_same_site(stack: Stack, browser: WebDriver) -> None:
    officer = stack.add_person("cookie", "officer", agency=AGENCY_A)
    sign_in(browser, stack, officer, "/queue")
    [session] = [c for c in browser.get_cookies() if c["name"] == "hoso_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert browser.execute_script("return document.cookie") == ""
    answer = httpx.get(f"{stack.workbench}/queue", cookies=_cookies(browser), timeout=10)
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert answer.headers["cache-control"] == "no-store"


def test_no_personal_data_in_any_url_of_an_officers_work(stack: Stack, browser: WebDriver) -> None:
    officer = stack.add_person("private", "officer", agency=AGENCY_A)
    submission = mt004_submission(email="tran.thi.binh@example.vn")
    submission["applicant"] |= {"name": "Trần Thị Bình", "id_number": "001190004321"}
    submission["applicant"]["phone"] = "0912345678"
    receipt = stack.submit(submission)
    stack.wait_for_status(receipt["dossier_id"], "received")
    personal = [
        "Trần Thị Bình",
        "001190004321",
        "0912345678",
        "tran.thi.binh@example.vn",
        receipt["follow_up_secret"],
    ]

    seen: list[str] = []

    def visit() -> None:
        seen.append(browser.current_url)
        for tag, attribute in (("a", "href"), ("form", "action")):
            for element in browser.find_elements(By.TAG_NAME, tag):
                seen.append(str(element.get_attribute(attribute) or ""))

    sign_in(browser, stack, officer, "/queue")
    visit()
    submit_and_wait(browser, browser.find_element(By.LINK_TEXT, receipt["receipt_code"]).click)
    visit()
    assert "Trần Thị Bình" in browser.find_element(By.TAG_NAME, "main").text  # shown, yes
    submit_and_wait(browser, browser.find_element(By.ID, "claim").click)
    visit()
    browser.find_element(By.ID, "note-text").send_keys("Đã gọi cho Trần Thị Bình")
    button = browser.find_element(By.CSS_SELECTOR, "form[action$='/notes'] button")
    submit_and_wait(browser, button.click)
    visit()
    for url in seen:
        for value in personal:
            assert value not in unquote(url), url
            assert quote(value) not in url, url
