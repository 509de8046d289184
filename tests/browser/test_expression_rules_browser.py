"""Writing a rule without code in a real browser: start from a template, get a mistake
explained, check the meaning in words, propose it, and land on the change awaiting approval."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DataMaker, Tab
from tests.browser.test_maker_checker_browser import sign_in

pytestmark = [pytest.mark.browser]


def test_a_risk_manager_writes_a_rule_in_the_form_and_proposes_it(
    tab: Tab, data_maker: DataMaker
) -> None:
    page = tab.page
    maker = data_maker.staff("risk_manager", prefix="rsk")
    slug = f"senders_{uuid.uuid4().hex[:6]}"
    sign_in(page, maker)
    page.goto("/aml/rules")
    page.locator("#new-rule").click()
    page.locator("#rule-templates").get_by_role(
        "link", name="Many senders, far above the segment"
    ).click()
    expect(page.get_by_label("Expression")).to_have_value(
        'distinct_counterparties(days=60, direction="in") >= 8 and '
        'sum(days=60, direction="in") >= 3 * peer_median(sum(days=60, direction="in"))'
    )

    page.get_by_label("Short name").fill(slug)
    page.get_by_label("Expression").fill('distinct_counterparties(days=400, direction="in") >= 8')
    page.locator("#check-rule").click()
    expect(page.locator("#expression-error")).to_contain_text("from 1 to 365")
    expect(page.locator("#rule-meaning")).to_contain_text("Not a rule yet")

    page.get_by_label("Expression").fill(
        'distinct_counterparties(days=60, direction="in") >= 8 and '
        'sum(days=60, direction="in") >= 3 * peer_median(sum(days=60, direction="in"))'
    )
    page.locator("#check-rule").click()
    expect(page.locator("#rule-meaning")).to_contain_text(
        "Raises an alert when distinct senders within 60 days is at least 8 and"
    )
    expect(page.locator("#rule-checked")).to_be_visible()
    page.get_by_label("Why the rule is needed").fill("Small fan-ins far above the segment's usual")
    page.locator("#propose-rule").click()
    expect(page).to_have_url(re.compile(r"notice=proposed"))

    page.goto("/aml/rules")
    row = page.locator(f"#rule-aml_expr_{slug}")
    expect(row).to_contain_text("awaiting approval")
    expect(row).to_contain_text("Many senders, far above the segment")
