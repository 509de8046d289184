"""Assignment and bulk actions in a real browser: an AML lead assigns an L1 task to an analyst
(she is notified); an analyst closes 20 L1 cases in bulk as false positives and 2 of them open
a quality review; a KYC lead cannot assign the senior step to the analyst who decided the
first step of the same application."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.aml_cases import customer_with_account
from tests.browser.conftest import DataMaker, Tab, signed_api
from tests.browser.test_maker_checker_browser import reload_until, sign_in, sign_out
from tests.helpers import EVENTUALLY
from tests.onboarding_data import listed_individual

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("onboarding_ready")]


def alerted_cases(tab: Tab, data_maker: DataMaker, service: str, n: int) -> list[dict[str, Any]]:
    """n customers, each with one large SWIFT payment to Iran: n AML cases at L1."""
    cases = []
    with signed_api(tab.server.url, service) as client:
        for _ in range(n):
            _, account = data_maker._run(lambda db: customer_with_account(db))
            posted = client.post(
                "/api/v1/transactions",
                json={
                    "external_id": f"bulk-{account.iban}",
                    "account": account.iban,
                    "booked_at": "2026-11-25T10:00:00+00:00",
                    "amount": "48000.00",
                    "currency": "EUR",
                    "direction": "out",
                    "channel": "swift",
                    "counterparty": {
                        "name": "Payroll Services Ltd",
                        "account": "IR580540105180021273113007",
                        "country": "IR",
                    },
                    "description": "Salary batch",
                },
            )
            assert posted.status_code == 200, posted.text
            [case] = posted.json()["cases"]
            cases.append(case)
    return cases


def test_lead_assigns_and_analyst_bulk_closes_with_quality_reviews(
    tab: Tab, data_maker: DataMaker
) -> None:
    page = tab.page
    service = data_maker.staff("upstream_system", prefix="svc")
    lena = data_maker.staff("aml_lead", prefix="aml.lena")
    alba = data_maker.staff("aml_analyst", prefix="aml.alba")
    ana = data_maker.staff("aml_analyst", prefix="aml.ana")
    cases = alerted_cases(tab, data_maker, service, 21)
    assigned, bulk = cases[0], cases[1:]

    # --- the lead assigns one L1 task to Alba, from its case page ----------------------
    sign_in(page, lena)
    page.goto(f"/cases/{assigned['case_id']}")
    assign_link = page.get_by_role("link", name="Assign to a person…")
    reload_until(page, assign_link, what="the L1 step's assign link")
    assign_link.click()
    picker = page.locator("#assignee")
    expect(picker.locator("option", has_text=alba)).to_have_count(1)
    picker.select_option(alba)
    page.get_by_role("button", name="Assign").click()
    expect(page).to_have_url(re.compile(r"/cases/[0-9a-f-]{36}\?notice=assigned$"))
    expect(page.locator("body")).to_contain_text("its new holder has been notified")
    expect(page.locator("#decide")).to_contain_text(f"held by {alba}")
    sign_out(page)

    sign_in(page, alba)
    page.goto("/notifications")
    expect(page.locator("body")).to_contain_text(
        f"Assigned to you: L1 triage {assigned['reference']}"
    )
    sign_out(page)

    # --- Ana closes 20 L1 cases in bulk as false positives -----------------------------
    sign_in(page, ana)
    page.goto("/aml")
    page.locator("#bulk-link").click()
    page.get_by_role("link", name="L1 triage only").click()
    last = page.get_by_label(f"Select {bulk[-1]['reference']}")
    reload_until(page, last, what="the last L1 task in the bulk worklist")
    for case in bulk:
        page.get_by_label(f"Select {case['reference']}").check()
    form = page.locator("#bulk-form")
    form.get_by_role("radio", name="Close (L1)").check()
    form.get_by_label("Closing reason (to close)").select_option("false_positive")
    form.get_by_label("Comment (kept with every decision)").fill("Recurring payroll, known.")
    form.get_by_role("button", name="Run on the selected tasks").click()

    expect(page.locator("#bulk-summary")).to_be_visible()
    expect(page.locator("tr.bulk-item.done")).to_have_count(20)
    expect(page.locator("#bulk-done")).to_have_text("20")
    expect(page.locator("#bulk-refused")).to_have_text("0")
    expect(page.locator("#bulk-qa-count")).to_have_text("2")
    expect(page.locator("a.qa-case")).to_have_count(2)

    # The quality review is a task for a second analyst, never the closer.
    page.locator("a.qa-case").first.click()
    step = page.locator("#decide .step", has_text="Quality review")
    reload_until(page, step, what="the quality-review step")
    expect(step).not_to_contain_text("Claim this task")
    expect(page.locator("#quality-review a", has_text="Open the closed case")).to_be_visible()
    sign_out(page)

    sign_in(page, alba)
    page.goto("/inbox?q=QA-")
    expect(page.locator("#task-list")).to_contain_text("Quality review")
    sign_out(page)
    tab.problems.assert_clean()


def test_kyc_analyst_cannot_be_assigned_the_senior_step_of_a_case_she_decided(
    tab: Tab, data_maker: DataMaker
) -> None:
    page = tab.page
    service = data_maker.staff("upstream_system", prefix="svc")
    kai = data_maker.staff("kyc_analyst", "kyc_senior", prefix="kyc.kai")
    ken = data_maker.staff("kyc_senior", prefix="kyc.ken")
    kira = data_maker.staff("kyc_lead", prefix="kyc.kira")
    with signed_api(tab.server.url, service) as client:
        accepted = client.post("/api/v1/applications", json=listed_individual()).json()
    case_id = accepted["case_id"]

    # Kai decides the analyst step (through the API door).
    with signed_api(tab.server.url, kai) as client:

        def analyst_task() -> str | None:
            tasks = client.get("/api/v1/tasks", params={"kind": "kyc_review", "per_page": 100})
            ids = [t["id"] for t in tasks.json()["items"] if t["case_id"] == case_id]
            return ids[0] if ids else None

        deadline = time.monotonic() + EVENTUALLY
        while (task_id := analyst_task()) is None:
            assert time.monotonic() < deadline, "the analyst review never opened"
            page.wait_for_timeout(250)
        assert client.post(f"/api/v1/tasks/{task_id}/claim").status_code == 200
        decided = client.post(
            f"/api/v1/tasks/{task_id}/decision",
            json={"outcome": "approve", "comment": "Listed person is older; not a match."},
        )
        assert decided.status_code == 200, decided.text

    sign_in(page, kira)
    page.goto(f"/cases/{case_id}")
    senior = page.locator("#decide .step", has_text="senior")
    reload_until(page, senior, what="the senior step")
    senior.get_by_role("link", name="Assign to a person…").click()
    picker = page.locator("#assignee")
    expect(picker.locator("option", has_text=ken)).to_have_count(1)
    expect(picker.locator("option", has_text=kai)).to_have_count(0)
    refusal = page.locator("#not-eligible li", has_text=kai)
    expect(refusal).to_contain_text(re.compile(r"another step|excluded"))
    expect(refusal).to_contain_text("segregation of duties")
    sign_out(page)
    tab.problems.assert_clean()
