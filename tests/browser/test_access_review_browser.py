"""Access reviews in a real browser: an admin starts a campaign by hand, finds a person's
grant among everybody's, certifies it, and the campaign shows it certified."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.db import Database, run_sql
from tests.browser.conftest import DataMaker, Tab
from tests.browser.test_maker_checker_browser import reload_until, sign_in

pytestmark = [pytest.mark.browser]


async def _close_open_campaigns(db: Database) -> None:
    """One campaign is open at a time: close what other tests left open (their workflows
    only sleep until a deadline weeks away)."""
    async with db.transaction() as session:
        await run_sql(
            session,
            "UPDATE access_review SET status = 'closed', closed_at = now() WHERE status = 'open'",
        )


def test_an_admin_starts_a_campaign_and_certifies_a_grant(tab: Tab, data_maker: DataMaker) -> None:
    page = tab.page
    admin = data_maker.staff("admin", prefix="adm")
    person = data_maker.staff("finance_ops", prefix="fin")
    data_maker._run(_close_open_campaigns)
    try:
        sign_in(page, admin)
        page.get_by_role("link", name="Access reviews").click()
        page.get_by_role("button", name="Start a campaign now").click()
        expect(page.locator("#notices")).to_contain_text("is starting")
        campaign = page.locator("#access-reviews tbody tr", has_text="open").first
        reload_until(page, campaign, what="the campaign opened by its workflow")
        campaign.get_by_role("link").click()
        expect(page.locator("h2")).to_contain_text("Access review")

        # Everybody's grants are listed; find hers by name.
        page.get_by_label("Person").fill(person)
        row = page.locator("#review-items tbody tr", has_text=person)
        expect(row).to_have_count(1)
        expect(page.locator("#review-items tbody tr")).to_have_count(1)
        expect(row).to_contain_text("Awaiting review")
        row.get_by_role("button", name="Certify").click()
        expect(page.locator("#notices")).to_contain_text("Grant certified.")

        page.get_by_label("Person").fill(person)
        expect(row).to_contain_text("Certified")
        expect(row).to_contain_text(admin)
        expect(row.get_by_role("button", name="Certify")).to_have_count(0)
    finally:
        data_maker._run(_close_open_campaigns)
