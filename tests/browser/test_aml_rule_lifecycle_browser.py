"""A rule without code, from the form to an alert, in a real browser: a risk manager writes
it, the change's page shows its backtest, a second risk manager approves it once the backtest
has finished, and the next transactions raise its alert with the reason in words."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from models.base import utcnow
from tests.aml_cases import customer_with_account
from tests.browser.conftest import DataMaker, Tab
from tests.browser.test_aml_browser import post_transaction
from tests.browser.test_maker_checker_browser import reload_until, sign_in, sign_out

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("onboarding_ready")]


def test_a_rule_written_in_the_form_is_backtested_approved_and_raises_alerts(
    tab: Tab, data_maker: DataMaker
) -> None:
    page = tab.page
    maker = data_maker.staff("risk_manager", prefix="rulemk")
    checker = data_maker.staff("risk_manager", prefix="rulechk")
    service = data_maker.staff("upstream_system", prefix="svc")
    _, account = data_maker._run(lambda db: customer_with_account(db))
    slug = f"five_senders_{uuid.uuid4().hex[:6]}"

    # --- the maker writes the rule and proposes it ---------------------------------------
    sign_in(page, maker)
    page.goto("/aml/rules/new")
    page.get_by_label("Short name").fill(slug)
    page.locator("input[name=title]").fill("Five senders in a week")
    # An amount band no other test pays in: the rule stays live for the rest of the suite.
    page.get_by_label("Expression").fill(
        'distinct_counterparties(days=7, direction="in", min_amount=4321, max_amount=4322) >= 5'
    )
    page.locator("select[name=severity]").select_option("high")
    page.locator("select[name=mode]").select_option("live")
    page.get_by_label("Why the rule is needed").fill("Mule accounts collect from many payers.")
    page.locator("#check-rule").click()
    expect(page.locator("#rule-meaning")).to_contain_text(
        "distinct senders of at least 4 321 EUR each"
    )
    page.locator("#propose-rule").click()
    expect(page).to_have_url(re.compile(r"/cases/[0-9a-f-]{36}\?notice=proposed"))
    case_url = page.url.split("?")[0]
    # The maker sees the backtest too, and is offered no decision.
    expect(page.locator("#change-backtest")).to_be_visible()
    expect(page.locator("form.decision-form")).to_have_count(0)
    sign_out(page)

    # --- the checker sees the backtest's result, then approves --------------------------
    sign_in(page, checker)
    page.goto(case_url)
    done = page.locator("#change-backtest .backtest-table")
    reload_until(page, done, what="the finished backtest")
    expect(page.locator("#change-backtest")).to_contain_text("as proposed, against the rules")
    expect(page.locator("#change-backtest")).to_contain_text("L1 workload")
    claim = page.get_by_role("button", name="Claim this task")
    reload_until(page, claim, what="the approval step")
    claim.click()
    decision = page.locator("form.decision-form")
    decision.get_by_role("radio", name="approve").check()
    decision.get_by_role("textbox", name="Comment").fill("Backtest reviewed: a handful a week.")
    decision.get_by_role("button", name="Submit decision").click()
    expect(page.locator("#notices")).to_contain_text("Your approval was recorded.")
    expect(page.locator("h2")).to_contain_text("applied")
    page.goto("/aml/rules")
    expect(page.locator(f"#rule-aml_expr_{slug}")).to_contain_text("live")

    # --- new transactions raise the rule's alert, with why in words ---------------------
    now = utcnow()
    raised: list[dict[str, str]] = []
    for i in range(5):
        answer = post_transaction(
            tab.server.url,
            service,
            {
                "external_id": f"rule-e2e-{uuid.uuid4().hex}",
                "account": account.iban,
                "booked_at": (now - timedelta(hours=5 - i)).isoformat(),
                "amount": "4321.50",
                "currency": "EUR",
                "direction": "in",
                "channel": "sepa",
                "counterparty": {
                    "name": f"Payer {i}",
                    "account": f"FR76300060000112345678{i:03d}",
                    "country": "FR",
                },
            },
        )
        raised += [a for a in answer["alerts"] if a["rule"] == f"expr_{slug}"]
    assert len(raised) == 1, raised
    assert raised[0]["reason"] == (
        "Five senders in a week: 5 distinct senders of at least 4 321 EUR each of at most "
        "4 322 EUR each within 7 days (rule: at least 5)"
    )
    assert raised[0]["severity"] == "high"
