"""The second factor in a real browser: an operations manager without one is sent to set it
up (QR code, first code, recovery codes), then approving a change after the step-up window
asks for a fresh code; a wrong one is refused, the right one records the approval."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from playwright.sync_api import expect

from core.db import Database, run_sql
from models.base import utcnow
from tests.browser.conftest import DataMaker, Tab, signed_api
from tests.browser.test_maker_checker_browser import CASE_URL, reload_until
from tests.helpers import PASSWORD, TOTP_SECRETS, Plan, proposal

pytestmark = pytest.mark.browser


def _sql(data_maker: DataMaker, statement: str, params: dict[str, object]) -> None:
    async def run(db: Database) -> None:
        async with db.transaction() as session:
            await run_sql(session, statement, params)

    data_maker._run(run)


def test_a_manager_enrols_then_approving_asks_for_a_fresh_code(
    tab: Tab, data_maker: DataMaker, plan: Plan, product_manager: str
) -> None:
    page = tab.page
    checker = data_maker.staff("ops_manager", prefix="mfa")
    # new_staff gave them a factor: take it away, as if they never enrolled.
    _sql(
        data_maker,
        "DELETE FROM staff_mfa WHERE user_id = (SELECT id FROM staff_user WHERE username = :u)",
        {"u": checker},
    )
    TOTP_SECRETS.pop(checker)

    # --- signing in sends them to set up a second factor first ---------------------------
    page.goto("/login")
    page.get_by_label("Username").fill(checker)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/mfa/enrol$"))
    expect(page.locator(".notice.warn")).to_contain_text("Your roles need a second factor")
    page.goto("/inbox")
    expect(page).to_have_url(re.compile(r"/mfa/enrol$"))  # nothing else before that
    qr = page.locator("#mfa-qr")
    expect(qr).to_be_visible()
    assert (qr.get_attribute("src") or "").startswith("data:image/svg+xml")
    secret = page.locator("#mfa-secret").inner_text().strip()
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Turn on the second factor").click()
    expect(page.locator("#enrol-error")).to_contain_text("does not match")
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on the second factor").click()
    expect(page.locator("#recovery-codes")).to_contain_text("Shown only now")
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.get_by_role("button", name="Continue to your inbox").click()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.locator(".topbar .who")).to_contain_text(checker)

    # --- a change to approve ---------------------------------------------------------------
    with signed_api(tab.server.url, product_manager) as api:
        created = api.post(
            "/api/v1/changes", json=proposal("fee", plan.fee_id, fixed_amount="2.40")
        )
        assert created.status_code == 201, created.text
        case_id = created.json()["case_id"]
    page.goto(f"/cases/{case_id}")
    expect(page).to_have_url(CASE_URL)
    claim = page.get_by_role("button", name="Claim this task")
    reload_until(page, claim, what="the approval step")
    claim.click()
    decision = page.locator("form.decision-form")
    expect(decision).to_be_visible()
    code_field = decision.get_by_label("Authenticator code")
    expect(code_field).to_be_visible()

    # The code they entered at enrolment is older than the step-up window allows.
    _sql(
        data_maker,
        "UPDATE staff_session SET mfa_at = :old "
        "WHERE user_id = (SELECT id FROM staff_user WHERE username = :u)",
        {"old": utcnow() - timedelta(minutes=30), "u": checker},
    )
    decision.get_by_role("radio", name="approve").check()
    decision.get_by_role("textbox", name="Comment").fill("Matches the new schedule.")
    decision.get_by_role("button", name="Submit decision").click()
    decision = page.locator("form.decision-form")
    expect(decision.locator(".notice.bad")).to_contain_text("second factor")
    expect(decision.get_by_label("Authenticator code")).to_have_attribute("aria-invalid", "true")

    # A wrong code: refused, nothing decided.
    decision.get_by_role("radio", name="approve").check()
    decision.get_by_label("Authenticator code").fill("000000")
    decision.get_by_role("button", name="Submit decision").click()
    decision = page.locator("form.decision-form")
    expect(decision.locator(".notice.bad")).to_contain_text("wrong or was already used")

    # The current code: the approval goes through.
    decision.get_by_role("radio", name="approve").check()
    decision.get_by_label("Authenticator code").fill(
        pyotp.TOTP(secret).at(utcnow() + timedelta(seconds=30))  # the enrolment used this step
    )
    decision.get_by_role("button", name="Submit decision").click()
    expect(page.locator("#notices")).to_contain_text("Your approval was recorded.")
    expect(page.locator("#decide")).to_contain_text(f"Decided approve by {checker}")
    # The refused codes answered 422 (the browser logs those); nothing else went wrong.
    tab.problems.console_errors = [
        e
        for e in tab.problems.console_errors
        if "status of 422" not in e and "Error Code 422" not in e
    ]
    tab.problems.assert_clean()
