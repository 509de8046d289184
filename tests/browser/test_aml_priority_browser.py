"""An AML case's priority in a real browser: the case page says why it is high, and the
queue's priority column sorts both ways (no inline script or style: the CSP stays clean)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.aml_data import new_customer
from tests.browser.conftest import DataMaker, Tab
from tests.browser.test_aml_browser import post_iran_wire
from tests.browser.test_maker_checker_browser import reload_until, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("onboarding_ready")]


def test_the_case_page_explains_its_priority_and_the_queue_sorts_by_it(
    tab: Tab, data_maker: DataMaker
) -> None:
    page = tab.page
    service = data_maker.staff("upstream_system", prefix="svc")
    analyst = data_maker.staff("aml_analyst", prefix="l1")
    customer = data_maker._run(lambda db: new_customer(db, risk_level="high", prefix="Prio"))
    posted = post_iran_wire(
        tab.server.url,
        service,
        customer.iban,
        external_id=f"prio-{customer.iban}",
        amount="48000.00",
        description="Invoice 7001",
    )
    [case] = posted["cases"]

    sign_in(page, analyst)
    page.goto(f"/cases/{case['case_id']}")
    section = page.locator("#aml-priority")
    expect(section).to_contain_text("high-risk customer")
    expect(section).to_contain_text("48 000 EUR in the alerts")
    expect(page.locator("#aml-priority-level")).to_have_text("high")

    page.goto("/aml?tier=l1")
    row = page.locator("tr", has_text=case["reference"])
    reload_until(page, row, what=f"{case['reference']} in the L1 queue")
    expect(row.locator(".priority-score")).to_have_text(re.compile(r"^\d+$"))
    header = page.locator("th", has=page.locator("#sort-priority"))
    expect(header).to_have_attribute("aria-sort", "descending")
    page.locator("#sort-priority").click()
    expect(page).to_have_url(re.compile(r"sort=priority_asc"))
    expect(header).to_have_attribute("aria-sort", "ascending")
    page.locator("#sort-priority").click()
    expect(page).to_have_url(re.compile(r"sort=priority(&|$)"))
    expect(header).to_have_attribute("aria-sort", "descending")

    tab.problems.assert_clean()
