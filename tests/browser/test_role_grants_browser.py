"""Role grants under four-eyes in a real browser (issue 16, done-when 1): an admin invites a
new analyst, who sets her password through the one-time link and sets up a second factor;
the admin proposes aml_analyst for her, a second admin approves, and she signs in (password,
then code) and sees the AML queue. The maker cannot decide their own proposal, nor propose a
change of their own roles."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from core.db import Database
from models.staff import StaffUser
from tests.browser.conftest import DataMaker, Tab
from tests.browser.test_maker_checker_browser import reload_until, sign_in, sign_out
from tests.helpers import PASSWORD, TOTP_SECRETS, totp_code_now

pytestmark = pytest.mark.browser

CASE_URL = re.compile(r"/cases/[0-9a-f-]{36}")


def _id_of(data_maker: DataMaker, username: str) -> uuid.UUID:
    async def find(db: Database) -> uuid.UUID:
        async with db.session() as session:
            return (
                await session.exec(select(StaffUser.id).where(StaffUser.username == username))
            ).one()

    return data_maker._run(find)


def test_a_second_admin_approves_a_proposed_role_and_the_person_gets_its_queue(
    tab: Tab, data_maker: DataMaker
) -> None:
    page = tab.page
    alex = data_maker.staff("admin", prefix="alex")
    ava = data_maker.staff("admin", prefix="ava")
    analyst = f"analyst-{uuid.uuid4().hex[:8]}"
    alex_id = _id_of(data_maker, alex)

    # --- alex invites her; the one-time link sets her password ---------------------------
    sign_in(page, alex)
    page.goto("/admin/staff")
    page.locator("#invite-staff").click()
    page.get_by_label("Username").fill(analyst)
    page.get_by_label("Name", exact=True).fill(analyst)  # the top bar names people so
    page.get_by_label("E-mail").fill("nadia@bank.example")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator("h2")).to_contain_text(f"{analyst} is invited")
    link = page.locator("#set-password-link").input_value()
    sign_out(page)
    page.goto(link)
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("Repeat it").fill(PASSWORD)
    page.get_by_role("button", name="Set password").click()
    expect(page.locator("#password-set")).to_be_visible()

    # --- she signs in (no roles yet) and sets up her authenticator app -------------------
    sign_in(page, analyst)
    page.goto("/mfa/enrol")
    secret = page.locator("#mfa-secret").inner_text().strip()
    TOTP_SECRETS[analyst] = secret
    page.get_by_label("Code").fill(totp_code_now(analyst))
    page.get_by_role("button", name="Turn on the second factor").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.get_by_role("button", name="Continue to your inbox").click()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    # No roles, no AML queue yet.
    expect(page.get_by_role("link", name="AML", exact=True)).to_have_count(0)
    sign_out(page)
    analyst_id = _id_of(data_maker, analyst)

    # --- alex proposes aml_analyst for the new analyst ----------------------------------
    sign_in(page, alex)
    page.goto(f"/admin/staff/{analyst_id}/roles")
    page.get_by_text("Propose role change").first.click()
    form = page.locator("#propose-role-change")
    form.get_by_label("AML analyst (L1)").check()
    form.locator("textarea[name=reason]").fill("Joins the AML team as an L1 analyst.")
    form.get_by_role("button", name="Propose role change").click()
    expect(page).to_have_url(CASE_URL)
    case_url = page.url.split("?")[0]
    expect(page.locator("#role-change")).to_contain_text("+aml_analyst")
    # The maker is offered nothing to decide on their own proposal.
    step = page.locator("#decide .step")
    reload_until(page, step, what="the approval step")
    expect(step).to_contain_text("You made this request")
    expect(page.get_by_role("button", name="Claim this task")).to_have_count(0)
    # Nor may alex propose a change of his own roles.
    page.goto(f"/admin/staff/{alex_id}/roles")
    expect(page.locator("#staff-roles-panel")).to_contain_text(
        "You cannot propose a change of your own roles"
    )
    expect(page.locator("#propose-role-change")).to_have_count(0)
    sign_out(page)

    # --- ava approves it ----------------------------------------------------------------
    sign_in(page, ava)
    page.goto(case_url)
    page.get_by_role("button", name="Claim this task").click()
    decision = page.locator("form.decision-form")
    decision.get_by_role("radio", name="approve").check()
    decision.get_by_role("button", name="Submit decision").click()
    expect(page.locator("h2")).to_contain_text("applied")
    sign_out(page)

    # --- she now holds aml_analyst: password, then her code, then the AML queue ---------
    sign_in(page, analyst)
    page.get_by_role("link", name="AML", exact=True).click()
    expect(page).to_have_url(re.compile(r"/aml"))
    tab.problems.assert_clean()
