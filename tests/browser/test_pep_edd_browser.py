"""Enhanced due diligence in a real browser: a declared politically exposed person applies
through the API; the analyst sees the PEP badge on the case, is refused an incomplete source of
funds field by field, records it, and the case moves on to a different senior's approval."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DataMaker, Tab
from tests.browser.test_maker_checker_browser import reload_until, sign_in
from tests.browser.test_onboarding_browser import submit_via_api
from tests.onboarding_data import clean_individual

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("onboarding_ready")]


def test_analyst_records_the_source_of_funds_of_a_pep_then_a_senior_approves(
    tab: Tab, data_maker: DataMaker
) -> None:
    page = tab.page
    service = data_maker.staff("upstream_system", prefix="svc")
    analyst = data_maker.staff("kyc_analyst", prefix="analyst")
    status = submit_via_api(tab.server.url, service, clean_individual(pep=True))
    reference = status["case_reference"]
    case_url = f"/cases/{status['case_id']}"

    sign_in(page, analyst)
    page.goto(f"/inbox?q={reference}")
    row = page.locator("#task-list tbody tr", has_text=reference)
    reload_until(page, row, what=f"{reference} in the analyst's inbox")
    expect(row).to_contain_text("Enhanced due diligence")
    row.get_by_role("button", name="Claim").click()
    expect(page.locator("#notices")).to_contain_text(f"You hold {reference} now.")
    page.goto(case_url)
    expect(page.locator("#risk .pep-badge").first).to_contain_text("PEP · declared")
    expect(page.locator("#application")).to_contain_text("enhanced due diligence")

    form = page.locator("form.edd-form")
    form.locator("textarea[name=note]").fill("x" * 25)
    # Submitted without a source or evidence: the browser's own check stops an empty
    # select; pick one, leave the evidence out, and the server names the field.
    form.locator("select[name=source]").select_option("public_office")
    form.get_by_role("button", name="Record source of funds").click()
    form = page.locator("form.edd-form")
    expect(form.locator(".field-error")).to_contain_text("Tick the evidence you saw")
    expect(form.locator("select[name=source]")).to_have_value("public_office")

    form.get_by_label("Payslips / employment contract").check()
    form.get_by_label("Tax return").check()
    form.locator("textarea[name=note]").fill(
        "Parliamentary salary slips and the 2024 tax return explain the stated volume."
    )
    form.get_by_role("button", name="Record source of funds").click()
    expect(page).to_have_url(re.compile(re.escape(case_url)))
    expect(page.locator("#notices")).to_contain_text("Your approval was recorded.")
    expect(page.locator("#decide .edd-record")).to_contain_text("Salary of a public office")
    expect(page.locator("#decide .edd-record")).to_contain_text("Payslips / employment contract")
    senior_step = page.locator("#decide .step", has_text="Senior review")
    reload_until(page, senior_step, what="the senior review step")
    expect(senior_step).to_contain_text("for kyc_senior")
