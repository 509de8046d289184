"""The Screening page in a real browser: a kyc_analyst sees which lists are screened, checks a
Cyrillic name (the HTMX form swaps the results in), finds the OFAC entry with its list, version
and reference, and opens the entry by its list-and-reference address."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DataMaker, Tab
from tests.browser.test_maker_checker_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("onboarding_ready")]


def test_a_cyrillic_name_is_checked_and_its_listed_entry_opened(
    tab: Tab, data_maker: DataMaker
) -> None:
    page = tab.page
    analyst = data_maker.staff("kyc_analyst", prefix="kyc.scr")
    sign_in(page, analyst)
    page.goto("/screening")
    expect(page.get_by_role("heading", name="Sanctions and PEP screening")).to_be_visible()
    panel = page.locator("#screening-lists")
    panel.locator("summary").click()
    ofac = panel.locator('tr[data-list="OFAC-SDN"]')
    expect(ofac).to_contain_text("OFAC Specially Designated Nationals")
    expect(ofac).to_contain_text("2024-05-03")
    expect(ofac).to_contain_text("out of date")  # a 2024 list; 7 days are allowed
    expect(panel.locator('tr[data-list="EU-FSF"]')).to_contain_text("never imported")

    page.get_by_label("Name").fill("Олег Дерипаска")
    page.get_by_role("button", name="Check").click()
    row = page.locator('#results tr[data-entry-key="OFAC-SDN:24283"]')
    expect(row).to_contain_text("DERIPASKA, Oleg Vladimirovich")
    expect(row.locator(".hit-list")).to_contain_text("OFAC Specially Designated Nationals")
    expect(row.locator(".hit-list")).to_contain_text("OFAC-SDN 2024-05-03")
    expect(row.locator(".hit-list")).to_contain_text("Sanction")
    expect(row).to_contain_text("reference 24283")
    expect(page).to_have_url(re.compile(r"/screening$"))  # swapped in, not a new page

    row.get_by_role("link", name="DERIPASKA, Oleg Vladimirovich").click()
    expect(page).to_have_url(re.compile(r"/screening/lists/OFAC-SDN/entries/24283\?version="))
    expect(page.get_by_role("heading", name="DERIPASKA, Oleg Vladimirovich")).to_be_visible()
    expect(page.locator("hgroup")).to_contain_text("reference 24283")
    expect(page.locator(".listed-names")).to_contain_text("listed name")
