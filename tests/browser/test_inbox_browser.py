"""The inbox in a real browser: "Next case" claims the most urgent task and opens its case;
a column header sorts the list and puts the sort in the URL (and a second click reverses
it)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from core.db import Database, run_sql
from models.base import utcnow
from tests.browser.conftest import DataMaker, Tab
from tests.browser.test_maker_checker_browser import sign_in
from tests.integration.test_aml_pages import add_case, add_task, new_customer

pytestmark = [pytest.mark.browser]


def l1_tasks(
    data_maker: DataMaker, specs: list[tuple[str, timedelta]]
) -> tuple[str, list[tuple[str, uuid.UUID]]]:
    """One open L1 AML task per (priority, due from now), on cases whose references share a
    prefix no other test uses; returns the prefix and each (reference, case id)."""
    prefix = f"AML-B{uuid.uuid4().hex[:6].upper()}"

    async def work(db: Database) -> list[tuple[str, uuid.UUID]]:
        made = []
        now = utcnow()
        for i, (priority, due_in) in enumerate(specs):
            case = await add_case(db, await new_customer(db))
            reference = f"{prefix}-{i}"
            async with db.transaction() as session:
                await run_sql(
                    session,
                    'UPDATE "case" SET reference = :r WHERE id = :id',
                    {"r": reference, "id": case.id},
                )
            case.reference = reference
            await add_task(
                db,
                case,
                tier="l1",
                priority=priority,
                created_at=now - timedelta(hours=1) + min(due_in, timedelta(0)),
                due_at=now + due_in,
            )
            made.append((reference, case.id))
        return made

    return prefix, data_maker._run(work)


def test_a_column_header_sorts_the_inbox_and_the_url_says_so(
    tab: Tab, data_maker: DataMaker
) -> None:
    page = tab.page
    analyst = data_maker.staff("aml_analyst", prefix="aml.sort")
    prefix, made = l1_tasks(
        data_maker,
        [
            ("urgent", timedelta(hours=50)),
            ("normal", timedelta(hours=1)),
            ("high", timedelta(hours=20)),
        ],
    )
    urgent, normal, high = (ref for ref, _ in made)
    sign_in(page, analyst)
    page.goto(f"/inbox?q={prefix}")
    cases = page.locator("#task-list tbody tr td:first-child a")
    # Most urgent first: priority, then due.
    expect(cases).to_have_text([urgent, high, normal])
    expect(page.locator("#task-list tbody tr").first).to_contain_text("urgent")

    page.locator("#task-list thead a[data-sort=due]").click()
    expect(page).to_have_url(re.compile(r"/inbox\?.*sort=due(&|$)"))
    expect(page).to_have_url(re.compile(rf"q={prefix}"))
    expect(cases).to_have_text([normal, high, urgent])
    expect(page.locator("#task-list thead th[aria-sort=ascending]")).to_contain_text("Due")

    page.locator("#task-list thead a[data-sort=due]").click()
    expect(page).to_have_url(re.compile(r"/inbox\?.*sort=-due(&|$)"))
    expect(cases).to_have_text([urgent, high, normal])
    expect(page.locator("#task-list thead th[aria-sort=descending]")).to_contain_text("Due")

    # The URL is the view: opened afresh, it shows the same order.
    shared = page.url
    page.goto("/inbox")
    page.goto(shared)
    expect(cases).to_have_text([urgent, high, normal])
    assert not tab.problems.page_errors


def test_next_case_claims_the_most_urgent_task_and_opens_it(
    tab: Tab, data_maker: DataMaker
) -> None:
    page = tab.page
    analyst = data_maker.staff("aml_analyst", prefix="aml.next")
    # Overdue for years and urgent: ahead of anything else an analyst may take.
    _, made = l1_tasks(
        data_maker,
        [("normal", timedelta(hours=2)), ("urgent", -timedelta(days=3650))],
    )
    (_, later_case), (most_urgent, urgent_case) = made
    sign_in(page, analyst)
    page.get_by_role("button", name="Next case →").click()
    expect(page).to_have_url(re.compile(rf"/cases/{urgent_case}#decide$"))
    expect(page.locator("h2, h1").first).to_contain_text(most_urgent)
    expect(page.locator("#decide")).to_contain_text("L1 triage")
    # It is mine now: in "My tasks", and no longer available to others.
    page.goto("/inbox?scope=mine")
    expect(page.locator("#task-list")).to_contain_text(most_urgent)
    assert str(later_case) not in page.url
    assert not tab.problems.page_errors
