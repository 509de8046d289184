"""Disputes in a real browser, with the scheme's deadlines made to pass.

The web app and a worker run in this process against Temporal's time-skipping test server
(a real Temporal server whose clock the test moves), so a 45-day merchant response window
passes in a second while Chromium drives the pages:

- support opens a dispute from the customer 360; an agent submits the chargeback; the
  sandbox merchant stays silent and after 45 days the dispute is won;
- support opens a larger dispute; an agent grants provisional credit, scripts the sandbox
  merchant to represent, submits, and accepts the loss: the dispute is lost and the
  customer 360 shows the credit and its reversal.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SkipTab
from tests.browser.test_maker_checker_browser import reload_until, sign_in, sign_out
from tests.dispute_data import CardPayment, card_payment

pytestmark = pytest.mark.browser


def open_dispute_in_browser(
    page: Page, support: str, payment: CardPayment, *, amount: str | None = None
) -> str:
    """Support opens a dispute from the customer 360; returns its DSP reference."""
    sign_in(page, support)
    page.goto(f"/customers/{payment.customer.id}")
    row = page.locator(f"#transaction-{payment.transaction_id}")
    row.get_by_role("link", name=re.compile("Dispute")).click()
    form = page.locator("form#dispute-form")
    form.locator("select[name=category]").select_option("consumer_dispute")
    if amount is not None:
        form.locator("input[name=amount]").fill(amount)
    form.locator("textarea[name=statement]").fill(
        "I returned the goods on 3 November and the shop never refunded me."
    )
    form.get_by_role("button", name=re.compile("Open (the )?dispute")).click()
    expect(page).to_have_url(re.compile(r"/cases/"))
    heading = page.locator("h2").first
    expect(heading).to_contain_text("DSP-")
    reference = re.search(r"DSP-\d+", heading.inner_text())
    assert reference is not None
    sign_out(page)
    return reference.group(0)


def claim_and_decide(
    page: Page, reference: str, outcome: str, *, reason: str | None = None
) -> None:
    """On the dispute's case page: claim the open step and decide it."""
    step = page.locator("#decide")
    reload_until(
        page,
        step.get_by_role("button", name="Claim this task"),
        what=f"an open step of {reference}",
    )
    step.get_by_role("button", name="Claim this task").click()
    decision = page.locator("form.decision-form")
    decision.get_by_role("radio", name=outcome, exact=True).check()
    if reason is not None:
        decision.locator("select[name=reason]").select_option(reason)
    decision.locator("textarea[name=comment]").fill(f"{reference}: {outcome}.")
    decision.get_by_role("button", name="Submit decision").click()


def case_url_of(page: Page) -> str:
    return page.url.split("#")[0]


def test_a_dispute_opened_in_the_browser_is_won_when_the_merchant_stays_silent(
    skip_tab: SkipTab,
) -> None:
    server, page = skip_tab.server, skip_tab.page
    support = server.staff("support", prefix="sup")
    agent = server.staff("disputes_agent", prefix="agent")
    payment = server.run(card_payment(server.db, amount="64.90"))

    reference = open_dispute_in_browser(page, support, payment)

    sign_in(page, agent)
    page.goto(f"/disputes?q={reference}")
    page.get_by_role("link", name=reference).click()
    case_url = case_url_of(page)
    dispute = page.locator("#dispute")
    expect(dispute).to_contain_text("SANDBOX")
    # Under the 100 EUR threshold the provisional credit was booked at once.
    expect(dispute).to_contain_text("provisional credit", ignore_case=True)
    claim_and_decide(page, reference, "submit the chargeback")
    page.goto(case_url)
    reload_until(
        page,
        page.locator("#dispute", has_text="merchant response due"),
        what="the chargeback stage",
    )

    server.skip(timedelta(days=44, hours=23))
    page.goto(case_url)
    expect(page.locator("h2").first).not_to_contain_text("closed")

    server.skip(timedelta(hours=2))
    page.goto(case_url)
    reload_until(page, page.locator("h2 .status-closed"), what=f"{reference} closed")
    expect(page.locator("#dispute")).to_contain_text("won", ignore_case=True)
    skip_tab.problems.assert_clean()


def test_a_represented_dispute_is_lost_when_the_agent_accepts_and_the_credit_is_reversed(
    skip_tab: SkipTab,
) -> None:
    server, page = skip_tab.server, skip_tab.page
    support = server.staff("support", prefix="sup")
    agent = server.staff("disputes_agent", prefix="agent")
    payment = server.run(card_payment(server.db, amount="420.00"))

    reference = open_dispute_in_browser(page, support, payment, amount="400.00")

    sign_in(page, agent)
    page.goto(f"/disputes?q={reference}")
    page.get_by_role("link", name=reference).click()
    case_url = case_url_of(page)
    # Above the threshold: an agent decides the provisional credit.
    claim_and_decide(page, reference, "grant provisional credit")
    page.goto(case_url)
    # The sandbox merchant will represent.
    panel = page.locator("#sandbox-merchant")
    panel.locator("select[name=stage]").select_option("chargeback")
    panel.locator("select[name=response]").select_option("represent")
    panel.locator("textarea[name=note]").fill("Goods were delivered intact; signed receipt.")
    panel.get_by_role("button", name=re.compile("merchant", re.IGNORECASE)).click()
    page.goto(case_url)
    claim_and_decide(page, reference, "submit the chargeback")
    page.goto(case_url)
    claim_and_decide(page, reference, "accept the loss", reason="compelling_evidence")
    page.goto(case_url)
    reload_until(page, page.locator("h2 .status-closed"), what=f"{reference} closed")
    expect(page.locator("#dispute")).to_contain_text("lost", ignore_case=True)
    sign_out(page)

    sign_in(page, support)
    page.goto(f"/customers/{payment.customer.id}")
    adjustments = page.locator("#adjustments")
    expect(adjustments).to_contain_text(reference)
    credit = adjustments.locator("tr", has_text="Provisional credit")
    expect(credit).to_contain_text("+400.00 EUR")
    expect(credit).to_contain_text("reversed")
    expect(adjustments.locator("tr", has_text="Credit reversal")).to_contain_text(
        "\u2212400.00 EUR"
    )  # a minus sign
    skip_tab.problems.assert_clean()
