"""Onboarding in a real browser: a listed person applies through the API; an analyst reviews
the hit and approves; the same analyst may not take the senior review; a different senior
approves; the customer 360 shows the new customer with an account."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from core.db import Database
from models.onboarding import Application, ScreeningResult
from tests.browser.conftest import DataMaker, Tab, signed_api
from tests.browser.test_maker_checker_browser import reload_until, sign_in, sign_out
from tests.onboarding_data import listed_individual

# The OFAC list and the default plans live in the shared database the live server reads.
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("onboarding_ready")]


def submit_via_api(base_url: str, username: str, payload: dict[str, Any]) -> dict[str, Any]:
    with signed_api(base_url, username) as client:
        accepted = client.post("/api/v1/applications", json=payload)
        assert accepted.status_code == 202, accepted.text
        application_id = accepted.json()["application_id"]
        status = client.get(f"/api/v1/applications/{application_id}")
        assert status.status_code == 200, status.text
        body: dict[str, Any] = status.json()
        return body


def reviewed_facts(data_maker: DataMaker, application_id: str) -> tuple[str, list[str]]:
    """The risk explanation and the first hit's reasons, as stored by the workflow."""

    async def load(db: Database) -> tuple[str, list[str]]:
        async with db.session() as session:
            application = await session.get(Application, uuid.UUID(application_id))
            results = list(
                (
                    await session.exec(
                        select(ScreeningResult).where(
                            ScreeningResult.application_id == uuid.UUID(application_id)
                        )
                    )
                ).all()
            )
        assert application is not None and application.risk is not None
        hits = [h for r in results for h in r.hits]
        assert hits, "the listed person was not hit"
        return application.risk["explanation"], list(hits[0]["reasons"])

    return data_maker._run(load)


def test_high_risk_application_needs_an_analyst_and_a_different_senior(
    tab: Tab, data_maker: DataMaker
) -> None:
    page = tab.page
    service = data_maker.staff("upstream_system", prefix="svc")
    analyst = data_maker.staff("kyc_analyst", "kyc_senior", prefix="analyst")
    senior = data_maker.staff("kyc_senior", prefix="senior")
    status = submit_via_api(tab.server.url, service, listed_individual())
    reference = status["case_reference"]
    case_url = f"/cases/{status['case_id']}"

    # --- the analyst finds it in the inbox and claims it --------------------------------
    sign_in(page, analyst)
    page.goto(f"/inbox?q={reference}")
    row = page.locator("#task-list tbody tr", has_text=reference)
    reload_until(page, row, what=f"{reference} in the analyst's inbox")
    expect(row).to_contain_text("KYC review")
    row.get_by_role("button", name="Claim").click()
    expect(page.locator("#notices")).to_contain_text(f"You hold {reference} now.")
    row.get_by_role("button", name="Decide").click()
    expect(page).to_have_url(re.compile(re.escape(case_url) + "#decide$"))

    # --- ... sees the hit with its reasons beside the listed entry, and the risk ---------
    explanation, reasons = reviewed_facts(data_maker, status["application_id"])
    party = page.locator(".party").first
    expect(party.locator(":scope > header")).to_contain_text("Eduardo Restrepo Victoria")
    hit = party.locator(".screening-hit").first
    expect(hit).to_contain_text("RESTREPO VICTORIA, Eduardo")
    for reason in reasons:
        expect(hit).to_contain_text(reason)
    expect(party).to_contain_text("Hit on listed entry #")
    expect(page.locator("#risk header")).to_contain_text("high")
    expect(page.locator("#risk")).to_contain_text(explanation)
    expect(page.locator("#risk table.risk-factors tbody tr").first).to_be_visible()
    expect(page.locator("#application")).to_contain_text("four-eyes")

    # --- ... and approves -------------------------------------------------------------
    decision = page.locator("form.decision-form")
    expect(decision.locator("optgroup[label='To request information']")).to_have_count(1)
    decision.get_by_role("radio", name="approve", exact=True).check()
    decision.locator("textarea[name=comment]").fill("Different person: date of birth differs.")
    decision.get_by_role("button", name="Submit decision").click()
    expect(page.locator("#notices")).to_contain_text("Your approval was recorded.")
    expect(page.locator("#decide")).to_contain_text(f"Decided approve by {analyst}")

    # --- the same analyst holds kyc_senior too, yet may not take the senior review -----
    senior_step = page.locator("#decide .step", has_text="Senior review")
    reload_until(page, senior_step, what="the senior review step")
    expect(senior_step).to_contain_text("for kyc_senior")
    expect(senior_step).to_contain_text("You already decided another step of this case")
    expect(senior_step.get_by_role("button", name="Claim this task")).to_have_count(0)
    expect(page.locator("form.decision-form")).to_have_count(0)
    sign_out(page)

    # --- a different senior claims and approves ----------------------------------------
    sign_in(page, senior)
    page.goto(f"/inbox?q={reference}")
    row = page.locator("#task-list tbody tr", has_text=reference)
    reload_until(page, row, what=f"{reference} in the senior's inbox")
    expect(row).to_contain_text("Senior review")
    row.get_by_role("button", name="Claim").click()
    expect(page.locator("#notices")).to_contain_text(f"You hold {reference} now.")
    row.get_by_role("button", name="Decide").click()
    decision = page.locator("form.decision-form")
    decision.get_by_role("radio", name="approve", exact=True).check()
    decision.locator("textarea[name=comment]").fill("Agree: the listed person was born 1961.")
    decision.get_by_role("button", name="Submit decision").click()
    expect(page.locator("#notices")).to_contain_text("Your approval was recorded.")
    expect(page.locator("#decide")).to_contain_text(f"Decided approve by {senior}")

    # --- the customer 360 shows an approved customer with an account --------------------
    customer_link = page.locator("#application a[href*='/customers/']")
    reload_until(page, customer_link, what="the new customer's link")
    expect(page.locator("#application")).to_contain_text("approved")
    customer_link.click()
    expect(page).to_have_url(re.compile(r"/customers/[0-9a-f-]{36}$"))
    expect(page.locator("h2")).to_contain_text("Eduardo Restrepo Victoria")
    expect(page.locator("h2")).to_contain_text("KYC approved")
    expect(page.locator("#accounts code.iban")).to_have_text(
        re.compile(r"^DE\d{2}( \d{4}){4} \d{2}$")
    )
    expect(page.locator("#cases")).to_contain_text(reference)
    expect(page.locator("#kyc")).to_contain_text(f"by {analyst}")
    expect(page.locator("#kyc")).to_contain_text(f"by {senior}")
    expect(page.locator("#timeline")).to_contain_text("account.opened")

    tab.problems.assert_clean()
