"""Accessibility of the workbench: axe-core finds no serious or critical violation on any
page of the officers and leaders, in both languages, nor on the provider's sign-in form;
the keyboard reaches everything, starting with the skip link."""

from __future__ import annotations

import uuid

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import (
    AGENCY_A,
    Stack,
    assert_accessible,
    axe_violations,
    mt001_submission,
    sign_in,
    submit_and_wait,
    wait_until,
)

pytestmark = pytest.mark.browser


def test_the_axe_check_does_find_a_serious_violation(browser: WebDriver, axe_source: str) -> None:
    # Without this, a check that never ran would pass every page.
    browser.get("data:text/html,<html><body><img src='x.png'><input></body></html>")
    found = {v["id"] for v in axe_violations(browser, axe_source)}
    assert "image-alt" in found


def test_the_sign_in_form_and_the_anonymous_pages_pass_axe(
    stack: Stack, browser: WebDriver, axe_source: str
) -> None:
    browser.get(f"{stack.workbench}/")
    assert_accessible(browser, axe_source)
    browser.get(f"{stack.workbench}/dossiers/{uuid.uuid4()}")  # off to the provider
    wait_until(browser, lambda d: d.find_elements(By.ID, "username"), "the sign-in form")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "vi"
    assert_accessible(browser, axe_source)


def test_every_page_of_a_leader_passes_axe_in_both_languages_and_by_keyboard(
    stack: Stack, browser: WebDriver, axe_source: str
) -> None:
    leader = stack.add_person("chief", "leader", agency=AGENCY_A)
    receipt = stack.submit(mt001_submission())
    stack.wait_for_status(receipt["dossier_id"], "received")
    sign_in(browser, stack, leader, "/queue")

    # The first Tab reaches the skip link; Enter takes the focus to the page's content.
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    skip = browser.switch_to.active_element
    assert skip.get_attribute("class") == "skip"
    skip.send_keys(Keys.ENTER)
    assert browser.switch_to.active_element.get_attribute("id") == "main"

    pages = [
        "/queue",
        "/queue?status=received&overdue=1",
        "/approvals",
        "/statistics",
        f"/dossiers/{receipt['dossier_id']}",
        f"/dossiers/{uuid.uuid4()}",
        "/",
    ]
    for lang, heading in (("vi", "Hồ sơ cần xử lý"), ("en", "Work queue")):
        browser.get(f"{stack.workbench}/language/{lang}?next=/queue")
        assert browser.find_element(By.TAG_NAME, "h1").text == heading
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang
        for path in pages:
            browser.get(f"{stack.workbench}{path}")
            assert_accessible(browser, axe_source)

    # The queue's filter form, by keyboard alone: choose a status, tick overdue, send.
    browser.get(f"{stack.workbench}/queue")
    status = browser.find_element(By.ID, "status")
    status.send_keys(Keys.DOWN, Keys.DOWN)  # "received"
    browser.find_element(By.ID, "overdue").send_keys(Keys.SPACE)
    button = browser.find_element(By.CSS_SELECTOR, "form.filters button")
    submit_and_wait(browser, lambda: button.send_keys(Keys.ENTER))
    assert "status=received" in browser.current_url
    assert "overdue=1" in browser.current_url
    assert browser.find_element(By.ID, "overdue").is_selected()
