"""Follow-up and manual cases in a real browser: an AML analyst snoozes a case from its page
(it leaves her inbox and says "snoozed until …"), tags it and finds it under the case
list's "snoozed" filter; support opens a complaint on a customer, which lands in the
disputes agents' inbox."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.aml_cases import customer_with_account
from tests.browser.conftest import DataMaker, Tab
from tests.browser.test_aml_browser import post_iran_wire
from tests.browser.test_maker_checker_browser import reload_until, sign_in, sign_out

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("onboarding_ready")]


def test_an_analyst_snoozes_and_tags_a_case_and_it_leaves_her_inbox(
    tab: Tab, data_maker: DataMaker
) -> None:
    page = tab.page
    service = data_maker.staff("upstream_system", prefix="svc")
    analyst = data_maker.staff("aml_analyst", prefix="ana")
    _, account = data_maker._run(lambda db: customer_with_account(db))
    posted = post_iran_wire(
        tab.server.url,
        service,
        account.iban,
        external_id=f"snooze-{account.iban}",
        amount="48000.00",
        description="Invoice 2211",
    )
    [case] = posted["cases"]
    reference = case["reference"]

    sign_in(page, analyst)
    page.goto(f"/inbox?q={reference}")
    row = page.locator("#task-list tbody tr", has_text=reference)
    reload_until(page, row, what=f"{reference} in the analyst's inbox")
    row.get_by_role("link", name=reference).click()
    expect(page.locator("h2")).to_contain_text(reference)

    # --- snooze it until a date, with a reason ----------------------------------------
    panel = page.locator("#follow-up")
    panel.locator("summary", has_text="Snooze until a date").click()
    day = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    form = panel.locator("form.snooze-form")
    form.locator("input[name=until]").fill(day)
    form.locator("select[name=reason]").select_option("awaiting_customer")
    form.locator("textarea[name=comment]").fill("Customer sends the invoice on Monday.")
    form.get_by_role("button", name="Snooze").click()
    expect(page.locator("#notices")).to_contain_text(f"is snoozed until {day} 08:00 UTC")
    expect(page.locator("#snoozed-until")).to_contain_text(f"Snoozed until {day} 08:00 UTC")
    expect(page.locator("#snoozed-until")).to_contain_text("Customer sends the invoice on Monday.")

    # --- tag it ---------------------------------------------------------------------------
    page.locator("#follow-up input[name=tag]").fill("callback")
    page.locator("#follow-up").get_by_role("button", name="Add tag").click()
    expect(page.locator("#notices")).to_contain_text("Tagged callback.")
    expect(page.locator("#case-tags .badge.tag")).to_contain_text("callback")

    # --- it left her inbox, and the case list lists it as snoozed -------------------------
    page.goto(f"/inbox?q={reference}")
    expect(page.locator("#task-list")).to_contain_text("Nothing is waiting for your roles")
    expect(page.locator("#task-list tbody tr", has_text=reference)).to_have_count(0)
    page.goto(f"/cases?snoozed=only&q={reference}")
    listed = page.locator("#case-list tbody tr", has_text=reference)
    expect(listed).to_contain_text(f"snoozed until {day} 08:00 UTC")
    expect(listed).to_contain_text("callback")

    # --- woken now, it is back ------------------------------------------------------------
    listed.get_by_role("link", name=reference).click()
    page.locator("#follow-up").get_by_role("button", name="Wake now").click()
    expect(page.locator("#notices")).to_contain_text("is awake")
    expect(page.locator("#snoozed-until")).to_have_count(0)
    page.goto(f"/inbox?q={reference}")
    expect(page.locator("#task-list tbody tr", has_text=reference)).to_have_count(1)
    sign_out(page)
    tab.problems.assert_clean()


def test_support_opens_a_complaint_that_reaches_the_disputes_agents_inbox(
    tab: Tab, data_maker: DataMaker
) -> None:
    page = tab.page
    support = data_maker.staff("support", prefix="sam")
    agent = data_maker.staff("disputes_agent", prefix="dee")
    customer, _ = data_maker._run(lambda db: customer_with_account(db))

    sign_in(page, support)
    page.goto(f"/customers/{customer.id}")
    page.get_by_role("button", name="Open a complaint").click()  # a link styled as a button
    expect(page.locator("#chosen-customer")).to_contain_text(customer.reference)
    form = page.locator("#manual-case-form")
    form.locator("input[name=title]").fill("Card fee charged twice")
    form.locator("select[name=reason]").select_option("fees_charges")
    # Too short: the form explains, keeps what was typed.
    form.locator("textarea[name=description]").fill("Twice.")
    form.locator("textarea[name=description]").evaluate("e => e.removeAttribute('minlength')")
    form.get_by_role("button", name="Open the complaint").click()
    expect(page.locator("#form-problems")).to_contain_text("20 to 2000 characters")
    form = page.locator("#manual-case-form")
    expect(form.locator("input[name=title]")).to_have_value("Card fee charged twice")
    form.locator("textarea[name=description]").fill(
        "The annual card fee was taken twice in November; the customer wants one back."
    )
    form.get_by_role("button", name="Open the complaint").click()
    expect(page).to_have_url(re.compile(r"/cases/[0-9a-f-]{36}\?notice=manual-opened$"))
    expect(page.locator("#manual-case")).to_contain_text("Complaint opened by hand")
    reference = page.locator("h2").inner_text().split()[0]
    assert reference.startswith("CMP-"), reference
    sign_out(page)

    sign_in(page, agent)
    page.goto(f"/inbox?q={reference}")
    row = page.locator("#task-list tbody tr", has_text=reference)
    reload_until(page, row, what=f"{reference} in the disputes agent's inbox")
    expect(row).to_contain_text("Work complaint")
    expect(row).to_contain_text("disputes_agent")
    sign_out(page)
    # The refused form came back as a 422 page, which Chromium logs as a failed load.
    tab.problems.console_errors = [
        e for e in tab.problems.console_errors if "status of 422" not in e
    ]
    tab.problems.assert_clean()
