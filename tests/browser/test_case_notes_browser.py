"""Case notes and files in a real browser: on an AML case, aml.ana writes a note that
@mentions aml.ivan (he finds it in his notifications), attaches a PDF and downloads it
again (the download is audited)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import FilePayload, expect

from core.db import Database
from tests.aml_cases import customer_with_account
from tests.browser.conftest import DataMaker, Tab
from tests.browser.test_aml_browser import post_iran_wire
from tests.browser.test_maker_checker_browser import reload_until, sign_in, sign_out
from tests.helpers import audit_count

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("onboarding_ready")]

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def downloads_of(data_maker: DataMaker, case_id: uuid.UUID) -> int:
    async def count(db: Database) -> int:
        return await audit_count(db, "case.attachment_downloaded", case_id)

    return data_maker._run(count)


def test_a_note_mentions_a_colleague_and_a_pdf_is_attached_and_downloaded(
    tab: Tab, data_maker: DataMaker, tmp_path: Path
) -> None:
    page = tab.page
    service = data_maker.staff("upstream_system", prefix="svc")
    ana = data_maker.staff("aml_analyst", prefix="aml.ana")
    ivan = data_maker.staff("aml_investigator", prefix="aml.ivan")
    _, account = data_maker._run(lambda db: customer_with_account(db))
    posted = post_iran_wire(
        tab.server.url,
        service,
        account.iban,
        external_id=f"notes-{account.iban}",
        amount="31000.00",
        description="Invoice 2212",
    )
    [case] = posted["cases"]
    case_id, reference = uuid.UUID(case["case_id"]), case["reference"]

    # --- aml.ana writes a note that tells aml.ivan ------------------------------------------
    sign_in(page, ana)
    page.goto(f"/cases/{case_id}")
    reload_until(page, page.locator("#add-note"), what="the note form on the case page")
    page.locator("#add-note textarea[name=body]").fill(
        f"Customer says Invoice 2212 is for machine parts; @{ivan} please compare with <b>last year</b>."
    )
    page.get_by_role("button", name="Add note", exact=True).click()
    section = page.locator("#case-notes")
    expect(section.locator("#case-notes-notice")).to_contain_text(
        f"Note N-1 was added; @{ivan} was notified."
    )
    note = section.locator("#note-1")
    expect(note).to_contain_text("<b>last year</b>")  # plain text, shown as typed
    expect(note.locator("b")).to_have_count(0)
    expect(note).to_contain_text(f"told {ivan}")

    # --- she attaches the bank's letter as a PDF, and downloads it back --------------------
    page.locator("#add-file input[type=file]").set_input_files(
        files=FilePayload(name="bank-letter.pdf", mimeType="application/pdf", buffer=PDF)
    )
    page.get_by_role("button", name="Attach", exact=True).click()
    expect(section.locator("#case-notes-notice")).to_contain_text(
        "F-1 (bank-letter.pdf) was attached."
    )
    with page.expect_download() as downloading:
        section.locator("#file-1").get_by_role("link", name="bank-letter.pdf").click()
    saved = tmp_path / "downloaded.pdf"
    downloading.value.save_as(saved)
    assert saved.read_bytes() == PDF
    assert downloading.value.suggested_filename == "bank-letter.pdf"
    assert downloads_of(data_maker, case_id) == 1

    # The note is on the case's timeline too (after a reload, as anyone opening the case).
    page.reload()
    expect(page.locator("#timeline-note-1")).to_contain_text("machine parts")
    sign_out(page)

    # --- aml.ivan is told -------------------------------------------------------------------
    sign_in(page, ivan)
    page.goto("/notifications")
    told = page.locator("body")
    expect(told).to_contain_text(f"{ana} mentioned you in a note on {reference}")
    expect(told).to_contain_text(f"{reference} N-1")
    page.goto(f"/cases/{case_id}")
    expect(page.locator("#note-1")).to_contain_text("machine parts")
    expect(page.locator("#file-1")).to_contain_text("bank-letter.pdf")

    tab.problems.assert_clean()
