"""Staff administration in a real browser: an admin invites a person, she sets her password
through the one-time link and signs in; disabled, her next click gets the sign-in page."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import DataMaker, LiveServer, Tab, watched_page
from tests.browser.test_maker_checker_browser import sign_in

pytestmark = pytest.mark.browser

NEW_PASSWORD = "nia-sets-her-own-passphrase"


def test_an_invited_person_sets_her_password_signs_in_and_is_cut_off_when_disabled(
    tab: Tab, data_maker: DataMaker, browser: Browser, live_server: LiveServer
) -> None:
    page = tab.page
    alex = data_maker.staff("admin", prefix="alex")
    username = f"nia-{uuid.uuid4().hex[:6]}"
    sign_in(page, alex)
    page.goto("/admin/staff")
    page.locator("#invite-staff").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Name", exact=True).fill("Nia Invited")
    page.get_by_label("E-mail").fill("nia@bank.example")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator("h2")).to_contain_text(f"{username} is invited")
    link = page.locator("#set-password-link").input_value()
    assert re.search(r"/set-password/[A-Za-z0-9_-]{40,}$", link), link

    with watched_page(browser, live_server.url) as (her, problems):
        her.goto(link)
        expect(her.locator("h2")).to_contain_text("Set your password")
        her.get_by_label("New password").fill(NEW_PASSWORD)
        her.get_by_label("Repeat it").fill("not-the-same-passphrase")
        her.get_by_role("button", name="Set password").click()
        expect(her.locator(".field-error")).to_contain_text("differ")
        her.get_by_label("New password").fill(NEW_PASSWORD)
        her.get_by_label("Repeat it").fill(NEW_PASSWORD)
        her.get_by_role("button", name="Set password").click()
        expect(her.locator("#password-set")).to_be_visible()
        her.get_by_role("link", name="Sign in").click()
        her.get_by_label("Username").fill(username)
        her.get_by_label("Password").fill(NEW_PASSWORD)
        her.get_by_role("button", name="Sign in").click()
        expect(her).to_have_url(re.compile(r"/inbox$"))
        # The link worked once.
        her.goto(link)
        expect(her.locator("#invalid-link")).to_be_visible()
        her.goto("/inbox")

        # alex finds her in the list (invited no more) and disables her.
        page.goto(f"/admin/staff?q={username}")
        page.get_by_role("link", name=username).click()
        expect(page.locator("#staff-status")).to_contain_text("active")
        expect(page.locator("#staff-sessions")).to_contain_text("browser")
        page.locator("#disable-staff").click()
        expect(page.locator("#staff-status")).to_contain_text("disabled")
        expect(page.locator("#notices")).to_contain_text("every session and API token ended")

        her.get_by_role("link", name="Inbox").first.click()
        expect(her).to_have_url(re.compile(r"/login"))
        # The refused form (422) and the spent link (404) are logged by the browser as
        # failed loads; anything else (a CSP violation, a script error, a 5xx) is a defect.
        expected = ("status of 422", "status of 404")
        assert not problems.csp_violations, problems.csp_violations
        assert [
            e
            for e in problems.console_errors
            if not e.startswith("Failed to load resource") or not any(x in e for x in expected)
        ] == []
        assert not problems.page_errors and not problems.server_errors
