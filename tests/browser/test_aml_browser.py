"""AML in a real browser: core banking posts a large SWIFT payment to a high-risk country;
an L1 analyst escalates the case, an L2 investigator escalates it to the MLRO, who files a
SAR with a rationale; the SAR report is printable from the case."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.aml_cases import customer_with_account
from tests.browser.conftest import DataMaker, Tab, signed_api
from tests.browser.test_maker_checker_browser import reload_until, sign_in, sign_out

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("onboarding_ready")]


def post_transaction(base_url: str, username: str, row: dict[str, Any]) -> dict[str, Any]:
    with signed_api(base_url, username) as client:
        response = client.post("/api/v1/transactions", json=row)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def post_iran_wire(
    base_url: str, username: str, iban: str, *, external_id: str, amount: str, description: str
) -> dict[str, Any]:
    """A large outgoing SWIFT payment from `iban` to Kish Trading Co in Iran (an AML case at
    L1): the API's answer."""
    return post_transaction(
        base_url,
        username,
        {
            "external_id": external_id,
            "account": iban,
            "booked_at": "2026-11-25T10:00:00+00:00",
            "amount": amount,
            "currency": "EUR",
            "direction": "out",
            "channel": "swift",
            "counterparty": {
                "name": "Kish Trading Co",
                "account": "IR580540105180021273113007",
                "country": "IR",
            },
            "description": description,
        },
    )


def decide_in_browser(tab: Tab, user: str, reference: str, step: str, outcome: str) -> None:
    page = tab.page
    sign_in(page, user)
    page.goto(f"/inbox?q={reference}")
    row = page.locator("#task-list tbody tr", has_text=reference)
    reload_until(page, row, what=f"{reference} in {user}'s inbox")
    expect(row).to_contain_text(step)
    row.get_by_role("button", name="Claim").click()
    expect(page.locator("#notices")).to_contain_text(f"You hold {reference} now.")
    row.get_by_role("button", name="Decide").click()
    decision = page.locator("form.decision-form")
    decision.get_by_role("radio", name=outcome, exact=True).check()
    decision.locator("textarea[name=comment]").fill(f"{step}: pattern needs the next tier.")
    decision.get_by_role("button", name="Submit decision").click()
    expect(page.locator("#notices")).to_contain_text("Escalated")
    sign_out(page)


def test_l1_to_l2_to_mlro_to_sar_in_the_browser(tab: Tab, data_maker: DataMaker) -> None:
    page = tab.page
    service = data_maker.staff("upstream_system", prefix="svc")
    analyst = data_maker.staff("aml_analyst", prefix="l1")
    investigator = data_maker.staff("aml_investigator", prefix="l2")
    mlro = data_maker.staff("mlro", prefix="mlro")
    customer, account = data_maker._run(lambda db: customer_with_account(db))

    posted = post_iran_wire(
        tab.server.url,
        service,
        account.iban,
        external_id=f"browser-{account.iban}",
        amount="48000.00",
        description="Invoice 2211",
    )
    assert posted["accepted"] == 1 and posted["alerts"], posted
    [case] = posted["cases"]
    reference = case["reference"]

    decide_in_browser(tab, analyst, reference, "L1 triage", "escalate")
    decide_in_browser(tab, investigator, reference, "L2 investigation", "escalate")

    # --- the MLRO sees the alerts and the SAR clock, and files a SAR --------------------
    sign_in(page, mlro)
    page.goto("/aml?tier=mlro")
    row = page.locator("tr", has_text=reference)
    reload_until(page, row, what=f"{reference} in the MLRO queue")
    page.goto(f"/inbox?q={reference}")
    row = page.locator("#task-list tbody tr", has_text=reference)
    reload_until(page, row, what=f"{reference} in the MLRO's inbox")
    row.get_by_role("button", name="Claim").click()
    expect(page.locator("#notices")).to_contain_text(f"You hold {reference} now.")
    row.get_by_role("button", name="Decide").click()
    expect(page.locator("body")).to_contain_text("Kish Trading Co")
    expect(page.locator("body")).to_contain_text(customer.reference)
    decision = page.locator("form.decision-form")
    reasons = decision.locator("select[name=reason]")
    # The reason list follows the outcome (static/decision-form.js): a no-SAR reason picked
    # first is dropped once the MLRO chooses to file a SAR, and is no longer offered.
    decision.get_by_role("radio", name="decide no SAR", exact=True).check()
    reasons.select_option("activity_explained")
    decision.get_by_role("radio", name="file a SAR", exact=True).check()
    expect(reasons).to_have_value("")
    expect(decision.locator("optgroup[data-outcome=no_sar]")).to_have_js_property("disabled", True)
    expect(decision.locator("optgroup[data-outcome=sar]")).to_have_js_property("disabled", False)
    expect(decision.locator("textarea[name=comment]")).to_have_attribute("minlength", "30")
    reasons.select_option("high_risk_jurisdiction")
    decision.locator("textarea[name=comment]").fill(
        "48,000 EUR to an Iranian trading company with no business relationship on file."
    )
    decision.get_by_role("button", name="Submit decision").click()
    expect(page.locator("#notices")).to_contain_text("SAR decision recorded")

    sar_link = page.locator("a[href$='/sar']")
    reload_until(page, sar_link, what="the SAR report link")
    sar_link.first.click()
    expect(page).to_have_url(re.compile(r"/aml/cases/[0-9a-f-]{36}/sar$"))
    expect(page.locator("body")).to_contain_text(re.compile(r"SAR-\d{6}"))
    expect(page.locator("body")).to_contain_text("Kish Trading Co")
    expect(page.locator("body")).to_contain_text("no business relationship on file")

    tab.problems.assert_clean()
