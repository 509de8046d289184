"""Maker-checker in a real browser: propose a fee change, approve it as someone else."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Tab
from tests.helpers import EVENTUALLY, PASSWORD, TOTP_SECRETS, Plan, totp_code_now

pytestmark = pytest.mark.browser

CASE_URL = re.compile(r"/cases/[0-9a-f-]{36}")


def sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    second_factor(page, username)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.locator(".topbar .who")).to_contain_text(username)


def second_factor(page: Page, username: str) -> None:
    """Someone with a second factor (tests.helpers.new_staff gives one to whoever needs
    it): the code after the password."""
    if username not in TOTP_SECRETS:
        return
    expect(page).to_have_url(re.compile(r"/mfa/verify"))
    page.get_by_label("Code").fill(totp_code_now(username))
    page.get_by_role("button", name="Continue").click()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def field_error(form: Locator, name: str) -> Locator:
    """The error message printed inside the label of field `name`."""
    return form.locator(f"label:has([name={name}]) .field-error")


def reload_until(page: Page, locator: Locator, *, what: str, within: float = EVENTUALLY) -> None:
    """Reload the page, as a person would, until the workflow's next step shows up."""
    deadline = time.monotonic() + within
    while locator.count() == 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} on {page.url}")
        page.wait_for_timeout(250)
        page.reload()


def test_maker_proposes_and_checker_approves_a_fee_change_in_the_browser(
    tab: Tab, plan: Plan, maker: str, checker: str
) -> None:
    page = tab.page

    # --- the maker proposes a new fixed fee -------------------------------------------
    sign_in(page, maker)
    page.get_by_role("link", name="Tariffs").click()
    fee_row = page.locator(f"#fee-{plan.fee_id}")
    expect(fee_row).to_contain_text("2.00 EUR")
    expect(fee_row).to_contain_text("v1")
    fee_row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(f"/tariffs/fee/{plan.fee_id}$"))

    form = page.locator("#propose-form")
    form.locator("input[name=fixed_amount]").fill("3.25")
    form.locator("textarea[name=reason]").fill("Interchange costs for ATM withdrawals went up.")
    changed = page.locator("#preview table.diff tr.changed")
    expect(changed).to_have_count(1)
    expect(changed.locator("td")).to_have_text(["fixed amount", "2.00", "3.25"])
    expect(page.locator("#preview")).to_contain_text("one operations manager (not you)")
    form.get_by_role("button", name="Submit for approval").click()

    expect(page).to_have_url(CASE_URL)
    case_url = page.url.split("?")[0]
    expect(page.locator("#notices")).to_contain_text("Your change was submitted for approval")
    diff = page.locator("table.diff tr.changed td")
    expect(diff).to_have_text(["fixed amount", "2.00", "3.25"])
    reference = page.locator("h2").inner_text().split()[0]
    assert re.fullmatch(r"CHG-\d+", reference), reference

    # The maker holds ops_manager too, yet is offered nothing to claim or decide.
    step = page.locator("#decide .step")
    reload_until(page, step, what="the approval step")
    expect(step).to_contain_text("for ops_manager")
    expect(step).to_contain_text("You made this request")
    expect(page.get_by_role("button", name="Claim this task")).to_have_count(0)
    expect(page.get_by_role("button", name="Submit decision")).to_have_count(0)
    expect(page.locator("form.decision-form")).to_have_count(0)
    page.goto(f"/inbox?q={reference}")
    expect(page.locator("#task-list")).to_contain_text("Nothing is waiting for your roles")
    sign_out(page)

    # --- the checker claims it in the inbox (an HTMX swap, not a page load) -----------
    sign_in(page, checker)
    page.goto(f"/inbox?q={reference}")
    row = page.locator("#task-list tbody tr", has_text=reference)
    reload_until(page, row, what=f"{reference} in the checker's inbox")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("unclaimed")
    page.evaluate("window.__marker = 'same document'")
    row.get_by_role("button", name="Claim").click()
    expect(page.locator("#notices")).to_contain_text(f"You hold {reference} now.")
    expect(row.locator("td").nth(5)).to_have_text("you")  # the holder column
    expect(row.get_by_role("button", name="Claim")).to_have_count(0)
    assert page.evaluate("window.__marker") == "same document", "the claim reloaded the page"

    # --- ... opens the case and approves -----------------------------------------------
    row.get_by_role("button", name="Decide").click()
    expect(page).to_have_url(re.compile(re.escape(case_url) + "#decide$"))
    expect(page.locator("table.diff tr.changed td")).to_have_text(["fixed amount", "2.00", "3.25"])
    decision = page.locator("form.decision-form")
    decision.get_by_role("radio", name="approve").check()
    decision.get_by_role("textbox", name="Comment").fill(
        "Checked against the new interchange schedule."
    )
    page.evaluate("window.__marker = 'case page'")
    decision.get_by_role("button", name="Submit decision").click()
    expect(page.locator("#notices")).to_contain_text("Your approval was recorded.")
    expect(page.locator("h2")).to_contain_text("applied")
    expect(page.locator("#decide")).to_contain_text(f"Decided approve by {checker}")
    assert page.evaluate("window.__marker") == "case page", "the decision reloaded the page"

    # --- the new fee is live, as version 2 --------------------------------------------
    page.get_by_role("link", name="Tariffs").click()
    fee_row = page.locator(f"#fee-{plan.fee_id}")
    expect(fee_row).to_contain_text("3.25 EUR")
    expect(fee_row).to_contain_text("v2")
    fee_row.get_by_role("link").click()
    history = page.locator("table.striped tbody tr")
    expect(history).to_have_count(2)
    expect(history.nth(0)).to_contain_text("v2")
    expect(history.nth(0)).to_contain_text("current")
    expect(history.nth(0)).to_contain_text("fixed amount 3.25")
    expect(history.nth(0)).to_contain_text(reference)
    expect(history.nth(1)).to_contain_text("v1")
    expect(history.nth(1)).to_contain_text("fixed amount 2.00")

    tab.problems.assert_clean()


def test_invalid_proposal_names_each_bad_field_and_keeps_what_was_typed(
    tab: Tab, plan: Plan, product_manager: str
) -> None:
    page = tab.page
    sign_in(page, product_manager)
    page.goto(f"/tariffs/fee/{plan.fee_id}")
    form = page.locator("#propose-form")
    fixed = form.locator("input[name=fixed_amount]")
    percent = form.locator("input[name=percent]")
    reason = form.locator("textarea[name=reason]")
    original_percent = percent.input_value()

    # Two bad amounts: the live preview already names both...
    fixed.fill("1.234")
    percent.fill("150")
    reason.fill("Align the ATM fee with the new cost model.")
    preview = page.locator("#preview")
    expect(preview.locator("li", has_text="fixed_amount")).to_contain_text("2 decimal places")
    expect(preview.locator("li", has_text="percent")).to_contain_text("between 0 and 100")
    # ... and submitting anyway is refused with each field marked, nothing lost.
    form.get_by_role("button", name="Submit for approval").click()
    expect(page.locator(".notice.bad")).to_contain_text("not valid")
    form = page.locator("#propose-form")
    fixed = form.locator("input[name=fixed_amount]")
    percent = form.locator("input[name=percent]")
    reason = form.locator("textarea[name=reason]")
    expect(fixed).to_have_value("1.234")
    expect(fixed).to_have_attribute("aria-invalid", "true")
    expect(field_error(form, "fixed_amount")).to_contain_text("EUR has 2 decimal places")
    expect(percent).to_have_value("150")
    expect(percent).to_have_attribute("aria-invalid", "true")
    expect(field_error(form, "percent")).to_contain_text("between 0 and 100")
    expect(reason).to_have_value("Align the ATM fee with the new cost model.")
    expect(reason).not_to_have_attribute("aria-invalid", "true")
    expect(form.locator("input[name=min_amount]")).not_to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("Pending changes")).to_have_count(0)

    # A reason that is too short. The browser's own minlength check stops a plainly short
    # one; padded with spaces it reaches the server, which trims it and refuses it.
    fixed.fill("2.50")
    percent.fill(original_percent)
    reason.fill("Too short")
    reason.evaluate(
        "el => { window.__refused = new Promise((done) =>"
        " el.addEventListener('invalid', () => done(el.validationMessage), {once: true})); }"
    )
    form.get_by_role("button", name="Submit for approval").click()
    # Still the same document (a submitted form would have replaced it), and the browser
    # flagged the reason field itself.
    assert page.evaluate("window.__refused"), "the browser let a 9-character reason through"

    padded = "  costs   "
    reason.fill(padded)
    form.get_by_role("button", name="Submit for approval").click()
    expect(page.locator(".notice.bad")).to_contain_text("not valid")
    form = page.locator("#propose-form")
    reason = form.locator("textarea[name=reason]")
    expect(reason).to_have_value(padded)
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(field_error(form, "reason")).to_contain_text("at least 10 characters")
    expect(form.locator("input[name=fixed_amount]")).to_have_value("2.50")
    expect(form.locator("input[name=fixed_amount]")).not_to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("Pending changes")).to_have_count(0)

    # Refusals are 422 pages, which Chromium logs as failed loads; nothing else may appear.
    unexpected = [e for e in tab.problems.console_errors if "status of 422" not in e]
    assert not unexpected, unexpected
    assert not tab.problems.csp_violations
    assert not tab.problems.page_errors
    assert not tab.problems.server_errors


@pytest.mark.browser
def test_api_docs_render_from_local_files_under_the_csp(tab: Tab) -> None:
    """/docs works offline and under our CSP: Swagger UI comes from our static files."""
    page = tab.page
    external: list[str] = []
    page.on(
        "request",
        lambda r: (
            external.append(r.url)
            if not r.url.startswith(tab.server.url) and not r.url.startswith("data:")
            else None
        ),
    )
    page.goto("/docs")
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() >= 15
    assert page.locator("button.authorize").count() == 1
    assert external == []
    tab.problems.assert_clean()
