"""Reconciliation in a real browser: finance uploads a camt.053 statement, watches it
reconcile, matches an ambiguous break by hand and proposes a write-off above the threshold,
which an ops manager approves (four-eyes). The web app and a worker run in this process
on Temporal's time-skipping test server (tests/browser/conftest.py)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import col, select

from core.db import Database
from models.cases import Case
from models.reconciliation import ReconBreak, ReconMatch, ReconWriteOff
from tests.browser.conftest import SkipTab
from tests.browser.test_maker_checker_browser import reload_until, sign_in, sign_out
from tests.recon_data import recon_setup

pytestmark = pytest.mark.browser


async def _open_breaks(db: Database, statement_ref: str) -> list[tuple[ReconBreak, str]]:
    async with db.session() as session:
        rows = (
            await session.exec(
                select(ReconBreak, Case.reference)
                .join(Case, col(Case.id) == ReconBreak.case_id)
                .where(ReconBreak.status == "open", col(Case.title).contains(statement_ref))
            )
        ).all()
    return [(b, ref) for b, ref in rows]


async def _break(db: Database, break_id: uuid.UUID) -> tuple[ReconBreak, list[ReconWriteOff], int]:
    async with db.session() as session:
        brk = await session.get(ReconBreak, break_id)
        offs = (
            await session.exec(select(ReconWriteOff).where(ReconWriteOff.break_id == break_id))
        ).all()
        manual = (
            await session.exec(select(ReconMatch).where(ReconMatch.break_id == break_id))
        ).all()
    assert brk is not None
    return brk, list(offs), len(manual)


def open_case(page: Page, case_reference: str) -> None:
    page.goto(f"/reconciliation/breaks?q={case_reference}")
    page.get_by_role("link", name=case_reference).first.click()
    expect(page.locator("h2").first).to_contain_text(case_reference)


def claim(page: Page) -> None:
    step = page.locator("#decide")
    reload_until(page, step.get_by_role("button", name="Claim this task"), what="the break's task")
    step.get_by_role("button", name="Claim this task").click()


def test_finance_reconciles_a_statement_and_resolves_breaks_with_four_eyes(
    skip_tab: SkipTab, tmp_path: Path
) -> None:
    server, page = skip_tab.server, skip_tab.page
    finance = server.staff("finance_ops", prefix="fin")
    manager = server.staff("ops_manager", prefix="ops")
    setup = server.run(recon_setup(server.db, "camt053", lines=400))
    upload = tmp_path / "camt053-statement.xml"
    upload.write_bytes(setup.content)

    # Upload: the statement page shows it reconciling, then its passes and balance check.
    sign_in(page, finance)
    page.goto("/reconciliation")
    form = page.locator("form.recon-upload")
    form.locator("select[name=source_id]").select_option(str(setup.source_id))
    form.locator("input[name=file]").set_input_files(str(upload))
    form.get_by_role("button", name="Upload and reconcile").click()
    expect(page).to_have_url(re.compile(r"/reconciliation/statements/"))
    heading = page.locator("h2").first
    expect(heading).to_contain_text("STM-")
    statement_ref = re.search(r"STM-\d+", heading.inner_text())
    assert statement_ref is not None
    reload_until(page, page.get_by_text("Exact reference").first, what="the match summary")
    expect(page.locator("main")).to_contain_text("Amount less a known fee")
    expect(page.locator("main")).to_contain_text("One statement line to many of our records")

    breaks = server.run(_open_breaks(server.db, statement_ref.group(0)))
    ambiguous = next((b, ref) for b, ref in breaks if b.kind == "ambiguous")
    large = max(
        ((b, ref) for b, ref in breaks if b.kind in ("unmatched_line", "unmatched_record")),
        key=lambda pair: abs(pair[0].amount),
    )
    assert abs(large[0].amount) > 100

    # An ambiguous break matched by hand: the line, and the record Finance picks.
    open_case(page, ambiguous[1])
    claim(page)
    resolve = page.locator("form#recon-resolve")
    resolve.get_by_role("radio", name="Match by hand").check()
    record = str(ambiguous[0].candidate_record_ids[0])
    resolve.locator(f"input[name=record_ids][value='{record}']").check()
    resolve.locator("textarea[name=note]").fill("The remittance text names this payment.")
    resolve.get_by_role("button", name="Resolve").click()
    expect(page.locator("main")).to_contain_text("closed", ignore_case=True)
    brk, _, manual = server.run(_break(server.db, ambiguous[0].id))
    assert (brk.status, brk.resolution, manual) == ("resolved", "matched", 1)

    # A large break proposed for write-off: above the threshold it waits for a manager.
    open_case(page, large[1])
    claim(page)
    resolve = page.locator("form#recon-resolve")
    expect(resolve.locator("#write-off-approval")).to_contain_text("above")
    resolve.get_by_role("radio", name="Write off").check()
    resolve.locator("select[name=reason_code]").select_option("unrecoverable")
    resolve.locator("textarea[name=note]").fill("Cannot be traced with the bank.")
    resolve.get_by_role("button", name="Resolve").click()
    reload_until(
        page, page.get_by_text("Approve write-off").first, what="the write-off approval step"
    )
    _, offs, _ = server.run(_break(server.db, large[0].id))
    assert [(w.status, w.needs_approval) for w in offs] == [("proposed", True)]
    sign_out(page)

    # The ops manager approves this exact amount in the browser.
    sign_in(page, manager)
    page.goto(f"/reconciliation/breaks?q={large[1]}")
    page.get_by_role("link", name=large[1]).first.click()
    claim(page)
    decision = page.locator("form.decision-form")
    decision.get_by_role("radio", name=re.compile("approve", re.IGNORECASE)).check()
    decision.get_by_role("button", name="Submit decision").click()
    reload_until(page, page.get_by_text("written off", exact=False).first, what="the write-off")
    brk, offs, _ = server.run(_break(server.db, large[0].id))
    assert (brk.status, brk.resolution) == ("resolved", "written_off")
    assert [w.status for w in offs] == ["booked"]
    skip_tab.problems.assert_clean()
