"""The reconciliation pages against the real services: the statements list (and upload), one
statement with its balances, matched pairs and why they matched, the progress fragment, the
breaks queue with ageing, a break's case section with the resolve form, the report with its
CSV, the sources and their form, and who may see what.

Statements, lines, matches and breaks are inserted directly (the workflow that makes them is
tested on its own). Each test uses a source of its own, and filters by it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlmodel import select

from core.db import Database, run_sql
from models.aml import Transaction
from models.base import utcnow
from models.cases import Case, Decision, Task
from models.changes import ChangeRequest
from models.reconciliation import (
    ReconBreak,
    ReconLine,
    ReconMatch,
    ReconMatchLine,
    ReconMatchRecord,
    ReconSource,
    ReconStatement,
    ReconWriteOff,
)
from reconciliation.queries.report import OpenBreakRow, ReconReport, to_csv
from tests.aml_data import CustomerRef, new_customer
from tests.helpers import Staff, api_headers, eventually, new_staff, task_of, web_login

HOSTILE_REF = '<script>alert("x")</script>'
HOSTILE_NAME = '"><img src=x onerror=alert(1)>'


def _client(http: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=http._transport, base_url="http://testserver")


def _row(html: str, marker: str) -> str:
    """The table row (<tr …>…</tr>) holding `marker`."""
    at = html.index(marker)
    start = html.rindex("<tr", 0, at)
    return html[start : html.index("</tr>", at) + 5]


def _section(html: str, element_id: str) -> str:
    return html.split(f'id="{element_id}"', 1)[1].split("</article>", 1)[0]


# ----------------------------------------------------------------------------- test data
@dataclass
class Book:
    """One source of this test's own, a customer for our records, and who uploads."""

    db: Database
    source_id: uuid.UUID
    source_name: str
    customer: CustomerRef
    uploader: Staff

    async def statement(
        self,
        *,
        status: str = "matched",
        lines: int = 0,
        matched: int = 0,
        balances: list[dict[str, Any]] | None = None,
        balance_ok: bool | None = None,
        window: datetime | None = None,
        uploaded_at: datetime | None = None,
        lines_total: int = 0,
        lines_read: int = 0,
        refused: tuple[str, str] | None = None,
    ) -> ReconStatement:
        sid = uuid.uuid4()
        summary = {"lines": lines, "matched_lines": matched} if status == "matched" else {}
        row = ReconStatement(
            id=sid,
            reference=f"STM-T{sid.hex[:8].upper()}",
            source_id=self.source_id,
            filename=f"statement-{sid.hex[:6]}.xml",
            format="camt053",
            sha256=hashlib.sha256(sid.bytes).hexdigest(),
            size=2048,
            uploaded_by=self.uploader.actor.user_id,
            uploaded_at=uploaded_at or utcnow(),
            status=status,
            workflow_id=f"recon-statement-{sid}",
            lines_total=lines_total or lines,
            lines_read=lines_read,
            currency="EUR",
            account="DE89370400440532013000",
            balances=balances or [],
            balance_ok=balance_ok,
            summary=summary,
            record_window_ends_at=window,
            refused_location=refused[0] if refused else None,
            refused_reason=refused[1] if refused else None,
        )
        async with self.db.transaction() as session:
            session.add(row)
        return row

    async def lines(
        self, statement: ReconStatement, *rows: tuple[int, str, str | None, str | None]
    ) -> None:
        """(line no, amount, reference, counterparty) per line, booked three days ago."""
        async with self.db.transaction() as session:
            for line_no, amount, reference, counterparty in rows:
                session.add(
                    ReconLine(
                        statement_id=statement.id,
                        line_no=line_no,
                        booked_on=(utcnow() - timedelta(days=3)).date(),
                        amount=Decimal(amount),
                        currency="EUR",
                        reference=reference,
                        counterparty_name=counterparty,
                    )
                )

    async def record(
        self,
        amount: str,
        *,
        direction: str = "in",
        channel: str = "sepa",
        external_id: str | None = None,
        counterparty: str | None = "Customer payment",
        days_ago: float = 3,
    ) -> Transaction:
        account = self.customer.accounts[0]
        tx = Transaction(
            external_id=external_id or f"tx-{uuid.uuid4().hex}",
            account_id=account.id,
            customer_id=self.customer.id,
            booked_at=utcnow() - timedelta(days=days_ago),
            amount=Decimal(amount),
            currency="EUR",
            direction=direction,
            channel=channel,
            counterparty_name=counterparty,
        )
        async with self.db.transaction() as session:
            session.add(tx)
        return tx

    async def match(
        self,
        statement: ReconStatement,
        match_no: int,
        via: str,
        line_nos: list[int],
        records: list[Transaction],
        lines_amount: str,
        records_amount: str,
        days_apart: int = 0,
    ) -> None:
        async with self.db.transaction() as session:
            session.add(
                ReconMatch(
                    statement_id=statement.id,
                    match_no=match_no,
                    pass_name=via,
                    line_count=len(line_nos),
                    record_count=len(records),
                    lines_amount=Decimal(lines_amount),
                    records_amount=Decimal(records_amount),
                    days_apart=days_apart,
                )
            )
            await session.flush()
            for n in line_nos:
                session.add(ReconMatchLine(statement_id=statement.id, line_no=n, match_no=match_no))
            for tx in records:
                session.add(
                    ReconMatchRecord(
                        transaction_id=tx.id, statement_id=statement.id, match_no=match_no
                    )
                )

    async def brk(
        self,
        statement: ReconStatement,
        *,
        kind: str = "unmatched_line",
        amount: str = "12.34",
        currency: str = "EUR",
        line_nos: list[int] | None = None,
        records: list[Transaction] | None = None,
        candidates: list[Transaction] | None = None,
        age_days: float = 1,
        status: str = "open",
        resolution: str | None = None,
        task_status: str | None = "open",
        assignee: Staff | None = None,
        due_in: timedelta = timedelta(hours=30),
    ) -> tuple[ReconBreak, Case, Task | None]:
        break_id = uuid.uuid4()
        created = utcnow() - timedelta(days=age_days)
        case = Case(
            reference=f"REC-T{break_id.hex[:8].upper()}",
            case_type="recon_exception",
            title=f"Break on {statement.reference}",
            status="open" if status == "open" else "closed",
            subject_type="recon_break",
            subject_id=str(break_id),
            workflow_id=f"recon-break-{break_id}",
            opened_at=created,
        )
        row = ReconBreak(
            id=break_id,
            dedupe_key=f"test:{break_id}",
            statement_id=statement.id,
            source_id=self.source_id,
            kind=kind,
            line_nos=line_nos or [],
            record_ids=[t.id for t in records or []],
            candidate_record_ids=[t.id for t in candidates or []],
            amount=Decimal(amount),
            currency=currency,
            booked_on=(utcnow() - timedelta(days=3)).date(),
            case_id=case.id,
            status=status,
            resolution=resolution,
            reason_code="timing_difference" if resolution == "explained" else None,
            created_at=created,
        )
        task = None
        if task_status:
            task = Task(
                case_id=case.id,
                workflow_id=case.workflow_id,
                task_key="finance#resolve-1",
                kind="recon_break",
                title=f"Resolve break {case.reference}",
                candidate_role="finance_ops",
                status=task_status,
                assignee_id=assignee.actor.user_id if assignee else None,
                allowed_outcomes=["matched", "explained", "write_off"],
                reason_required_for=["explained", "write_off"],
                due_at=utcnow() + due_in,
                claimed_at=utcnow() if assignee else None,
            )
        async with self.db.transaction() as session:
            session.add(case)
            await session.flush()
            session.add(row)
            if task is not None:
                session.add(task)
        return row, case, task


async def _book(db: Database, *, prefix: str = "Recon Test") -> Book:
    uploader = await new_staff(db, "finance_ops", prefix="fin")
    customer = await new_customer(db, prefix="Recon")
    name = f"{prefix} {uuid.uuid4().hex[:8]}"
    async with db.transaction() as session:
        source = ReconSource(
            name=name,
            format="camt053",
            account="DE89370400440532013000",
            currency="EUR",
            channels=["sepa", "card"],
            batch_channels=["card"],
        )
        session.add(source)
    return Book(db, source.id, name, customer, uploader)


async def _denied(db: Database, actor: str, action: str) -> int:
    async with db.session() as session:
        count: int = (
            await run_sql(
                session,
                "SELECT count(*) FROM audit_event WHERE action = :a AND outcome = 'denied' "
                "AND actor = :who",
                {"a": action, "who": actor},
            )
        ).scalar_one()
    return count


# ----------------------------------------------------------------------------- statements
async def test_statements_list_filters_pages_derives_reconciled_and_has_a_json_twin(
    http: httpx.AsyncClient, db: Database
) -> None:
    book = await _book(db)
    now = utcnow()
    open_one = await book.statement(lines=4, matched=3, uploaded_at=now - timedelta(hours=5))
    await book.brk(open_one)
    done = await book.statement(
        lines=2, matched=2, window=now - timedelta(hours=1), uploaded_at=now - timedelta(hours=4)
    )
    waiting = await book.statement(
        lines=2, matched=2, window=now + timedelta(days=2), uploaded_at=now - timedelta(hours=3)
    )
    refused = await book.statement(
        status="refused",
        refused=("entry 3 of statement 1", "'31.02.2026' is not a date"),
        uploaded_at=now - timedelta(hours=2),
    )
    running = await book.statement(
        status="parsing", lines_total=1000, lines_read=250, uploaded_at=now - timedelta(hours=1)
    )
    mine = {"source": str(book.source_id)}

    async with _client(http) as web:
        await web_login(web, book.uploader.username)
        page = await web.get("/reconciliation", params=mine)
        assert page.status_code == 200, page.text
        listing = page.text.split('id="statement-list"', 1)[1]
        # The latest upload first.
        order = [s.reference for s in (running, refused, waiting, done, open_one)]
        assert [listing.index(r) for r in order] == sorted(listing.index(r) for r in order)
        row = _row(listing, f'id="statement-{open_one.id}"')
        assert "75 %" in row and "3 of 4" in row and ">Matched<" in row
        assert '<span class="badge warn">1</span>' in row
        assert ">Reconciled<" in _row(listing, f'id="statement-{done.id}"')
        assert ">Matched<" in _row(listing, f'id="statement-{waiting.id}"')
        refused_row = _row(listing, f'id="statement-{refused.id}"')
        assert ">Refused<" in refused_row and "is not a date" in refused_row
        running_row = _row(listing, f'id="statement-{running.id}"')
        assert '<progress value="25" max="100"' in running_row
        assert "5 statements · page 1 of 1" in listing
        # The upload form, for finance, with its CSRF token and the source to choose.
        upload = page.text.split('id="statement-upload"', 1)[1].split("</article>", 1)[0]
        assert 'enctype="multipart/form-data"' in upload and 'name="csrf_token"' in upload
        assert f'value="{book.source_id}"' in upload

        async def references(**params: str) -> set[str]:
            found = await web.get("/reconciliation", params={**mine, **params})
            assert found.status_code == 200, found.text
            text = found.text.split('id="statement-list"', 1)[1]
            every = (open_one, done, waiting, refused, running)
            return {s.reference for s in every if s.reference in text}

        assert await references(status="reconciled") == {done.reference}
        assert await references(status="matched") == {open_one.reference, waiting.reference}
        assert await references(status="parsing") == {running.reference}
        assert await references(status="refused") == {refused.reference}
        assert await references(q=open_one.reference) == {open_one.reference}
        by_name = await web.get("/reconciliation", params={"q": book.source_name})
        assert running.reference in by_name.text and done.reference in by_name.text
        assert (await web.get("/reconciliation", params={"status": "lost"})).status_code == 422
        assert (await web.get("/reconciliation", params={"source": "junk"})).status_code == 422

        # Paging keeps the filters.
        first = await web.get("/reconciliation", params={**mine, "per_page": "2"})
        listing = first.text.split('id="statement-list"', 1)[1]
        assert "5 statements · page 1 of 3" in listing
        assert running.reference in listing and open_one.reference not in listing
        assert f"source={book.source_id}" in listing and "per_page=2" in listing
        last = await web.get("/reconciliation", params={**mine, "per_page": "2", "page": "3"})
        assert open_one.reference in last.text.split('id="statement-list"', 1)[1]

        # The HTMX filter request gets only the list.
        block = await web.get(
            "/reconciliation",
            params=mine,
            headers={"HX-Request": "true", "HX-Target": "statement-list"},
        )
        assert "<html" not in block.text and 'id="statement-list"' in block.text

    headers = await api_headers(http, book.uploader.username)
    found = await http.get(
        "/api/v1/reconciliation/statements",
        params={"source_id": str(book.source_id)},
        headers=headers,
    )
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["total"] == 5 and body["items"][0]["reference"] == running.reference
    by_ref = {i["reference"]: i for i in body["items"]}
    assert by_ref[open_one.reference]["match_rate"] == "75.0"
    assert by_ref[open_one.reference]["open_breaks"] == 1
    assert by_ref[done.reference]["display_status"] == "reconciled"
    assert by_ref[done.reference]["reconciled"] is True
    assert by_ref[waiting.reference]["reconciled"] is False
    assert by_ref[running.reference]["progress_pct"] == 25
    paged = await http.get(
        "/api/v1/reconciliation/statements",
        params={"source_id": str(book.source_id), "per_page": 2, "page": 3},
        headers=headers,
    )
    assert [i["reference"] for i in paged.json()["items"]] == [open_one.reference]


async def test_statement_page_shows_matched_pairs_with_why_balances_and_breaks_escaped(
    http: httpx.AsyncClient, db: Database
) -> None:
    book = await _book(db)
    balances = [
        {
            "section": 0,
            "statement_id": "STMT-2026-11-A",
            "account": "DE89370400440532013000",
            "opening": "1000.00",
            "closing": "1500.00",
            "entries": 7,
            "sum": "480.00",
            "expected_closing": "1480.00",
            "ok": False,
        }
    ]
    st = await book.statement(lines=7, matched=6, balances=balances, balance_ok=False)
    await book.lines(
        st,
        (1, "120.00", "INV-1", "ACME GmbH"),
        (2, "75.00", None, "Beta Ltd"),
        (3, "98.50", "PAY-9", None),
        (4, "2140.00", "SETTLEMENT", "Card processor"),
        (5, "60.00", "SPLIT-7", None),
        (6, "40.00", "SPLIT-7", None),
        (7, "12.34", HOSTILE_REF, HOSTILE_NAME),
    )
    t1 = await book.record("120.00", external_id=f"INV-1-{uuid.uuid4().hex[:6]}")
    t2 = await book.record("75.00", days_ago=5)
    t3 = await book.record("100.00")
    cards = [await book.record(a, channel="card") for a in ("1000.00", "1000.00", "140.00")]
    t5 = await book.record("100.00")
    await book.match(st, 1, "reference", [1], [t1], "120.00", "120.00")
    await book.match(st, 2, "amount_date", [2], [t2], "75.00", "75.00", days_apart=2)
    await book.match(st, 3, "fee", [3], [t3], "98.50", "100.00")
    await book.match(st, 4, "batch", [4], cards, "2140.00", "2140.00")
    await book.match(st, 5, "split", [5, 6], [t5], "100.00", "100.00")
    brk, case, _ = await book.brk(st, line_nos=[7], amount="12.34")
    day = cards[0].booked_at.date().isoformat()

    async with _client(http) as web:
        await web_login(web, book.uploader.username)
        page = await web.get(f"/reconciliation/statements/{st.id}")
        assert page.status_code == 200, page.text
        html = page.text
        assert 'id="balance-flag"' in html  # the balance check is flagged at the top
        balance = _row(_section(html, "statement-balances"), 'id="balance-0"')
        assert "does not agree" in balance and "off by 20.00 EUR" in balance
        assert "STMT-2026-11-A" in balance and "1480.00" in balance
        matches = _section(html, "statement-matches")
        assert "reference INV-1 on both; same amount" in _row(matches, 'id="match-1"')
        assert "same amount, 2 days apart, no shared reference" in _row(matches, 'id="match-2"')
        assert "98.50 is 100.00 less the known fee 1.50" in _row(matches, 'id="match-3"')
        batch = _row(matches, 'id="match-4"')
        assert f"one line settles 3 card payments of {day}" in batch
        assert batch.count("<code>tx-") == 3
        split = _row(matches, 'id="match-5"')
        assert "2 lines with reference SPLIT-7 add up to the record" in split
        assert "-1.50" in _row(matches, 'id="match-3"')  # lines minus records
        passes = _section(html, "statement-passes")
        assert "14.3 %" in _row(passes, 'id="pass-reference"')
        assert ">2<" in _row(passes, 'id="pass-split"')  # two lines
        assert "1" in _row(passes, 'id="pass-unmatched"')
        assert "85.7 %" in html  # 6 of 7 lines matched
        # The break, linked to its case; the hostile line escaped wherever it shows.
        breaks = _section(html, "statement-breaks")
        assert f'href="http://testserver/cases/{case.id}">{case.reference}</a>' in breaks
        assert "On the statement, not in our records" in breaks
        assert HOSTILE_REF not in html and HOSTILE_NAME not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
        assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html

        fee_only = await web.get(f"/reconciliation/statements/{st.id}", params={"pass": "fee"})
        only = _section(fee_only.text, "statement-matches")
        assert 'id="match-3"' in only and 'id="match-1"' not in only
        bad = await web.get(f"/reconciliation/statements/{st.id}", params={"pass": "guess"})
        assert bad.status_code == 422
        missing = await web.get(f"/reconciliation/statements/{uuid.uuid4()}")
        assert missing.status_code == 404

        queue = await web.get("/reconciliation/breaks", params={"source": str(book.source_id)})
        assert HOSTILE_REF not in queue.text and HOSTILE_NAME not in queue.text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in queue.text
        case_page = await web.get(f"/cases/{case.id}")
        assert case_page.status_code == 200
        assert HOSTILE_REF not in case_page.text and HOSTILE_NAME not in case_page.text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in case_page.text

    headers = await api_headers(http, book.uploader.username)
    found = await http.get(
        f"/api/v1/reconciliation/statements/{st.id}",
        params={"match_per_page": 2, "match_page": 2},
        headers=headers,
    )
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["match_total"] == 5 and [m["match_no"] for m in body["matches"]] == [3, 4]
    assert body["matches"][0]["why"] == "98.50 is 100.00 less the known fee 1.50"
    assert body["matches"][0]["difference"] == "-1.50"
    assert body["balances"][0]["ok"] is False and body["balances"][0]["gap"] == "20.00"
    assert body["breaks"]["items"][0]["id"] == str(brk.id)
    assert {p["pass_name"]: p["lines"] for p in body["passes"]} == {
        "reference": 1,
        "amount_date": 1,
        "fee": 1,
        "batch": 1,
        "split": 2,
    }


async def test_progress_fragment_polls_while_processing_and_stops_when_done(
    http: httpx.AsyncClient, db: Database
) -> None:
    book = await _book(db)
    st = await book.statement(status="parsing", lines_total=1000, lines_read=250)
    progress_url = f"/reconciliation/statements/{st.id}/progress"
    async with _client(http) as web:
        await web_login(web, book.uploader.username)
        page = await web.get(f"/reconciliation/statements/{st.id}")
        assert page.status_code == 200, page.text
        box = page.text.split('id="statement-progress"', 1)[1].split("</div>", 1)[0]
        assert f'hx-get="http://testserver{progress_url}"' in box
        assert 'hx-trigger="every 1s"' in box
        assert '<progress value="25" max="100"' in box
        assert "Reading: 250 of 1,000 entries" in box
        assert '<meta http-equiv="refresh" content="5">' in box  # without JavaScript

        fragment = await web.get(progress_url, headers={"HX-Request": "true"})
        assert fragment.status_code == 200
        assert "<html" not in fragment.text and 'hx-trigger="every 1s"' in fragment.text
        assert "hx-refresh" not in {k.lower() for k in fragment.headers}

        async with db.transaction() as session:
            await run_sql(
                session,
                "UPDATE recon_statement SET status = 'matching', lines_read = 1000 WHERE id = :s",
                {"s": st.id},
            )
        matching = await web.get(progress_url, headers={"HX-Request": "true"})
        assert "Matching the lines" in matching.text and "<progress aria-label" in matching.text

        async with db.transaction() as session:
            await run_sql(
                session,
                "UPDATE recon_statement SET status = 'matched', "
                'summary = \'{"lines": 1000, "matched_lines": 1000}\' WHERE id = :s',
                {"s": st.id},
            )
        done = await web.get(progress_url, headers={"HX-Request": "true"})
        assert "hx-trigger" not in done.text and "<progress" not in done.text
        assert done.headers.get("hx-refresh") == "true"  # the whole page once more
        assert "Reconciled" in done.text
        page = await web.get(f"/reconciliation/statements/{st.id}")
        assert 'hx-trigger="every 1s"' not in page.text


# ----------------------------------------------------------------------------- breaks
async def test_breaks_queue_ages_oldest_first_with_filters_tasks_and_json_twin(
    http: httpx.AsyncClient, db: Database
) -> None:
    book = await _book(db)
    st = await book.statement(lines=3, matched=0)
    await book.lines(st, (1, "10.00", "NEW-1", "Fresh GmbH"), (2, "30.00", "MIS-3", None))
    lost = await book.record("55.00", external_id=f"LOST-{uuid.uuid4().hex[:6]}", days_ago=6)
    maybe = [await book.record("70.00"), await book.record("70.00")]
    newest, _, _ = await book.brk(
        st, line_nos=[1], amount="10.00", age_days=1, assignee=book.uploader, task_status="claimed"
    )
    middle, _, _ = await book.brk(
        st, kind="unmatched_record", records=[lost], amount="-55.00", age_days=5,
        due_in=-timedelta(hours=2),
    )  # fmt: skip
    older, _, _ = await book.brk(st, kind="amount_mismatch", line_nos=[2], age_days=10)
    oldest, _, _ = await book.brk(
        st, kind="ambiguous", amount="70.00", candidates=maybe, age_days=40
    )
    resolved, _, _ = await book.brk(
        st, status="resolved", resolution="explained", age_days=20, task_status=None
    )
    mine = {"source": str(book.source_id)}

    async with _client(http) as web:
        await web_login(web, book.uploader.username)
        page = await web.get("/reconciliation/breaks", params=mine)
        assert page.status_code == 200, page.text
        listing = page.text.split('id="break-queue"', 1)[1]
        order = [f'id="break-{b.id}"' for b in (oldest, older, middle, newest)]
        assert [listing.index(o) for o in order] == sorted(listing.index(o) for o in order)
        assert f'id="break-{resolved.id}"' not in listing  # open ones by default
        old_row = _row(listing, f'id="break-{oldest.id}"')
        assert "40 d" in old_row and "over 30 days" in old_row and "age-31plus" in old_row
        assert "Several candidates: not guessed" in old_row and "2 candidates" in old_row
        assert "8-30 days" in _row(listing, f'id="break-{older.id}"')
        middle_row = _row(listing, f'id="break-{middle.id}"')
        assert "3-7 days" in middle_row and "-55.00 EUR" in middle_row
        assert "overdue by 2 h" in middle_row and "unclaimed" in middle_row
        new_row = _row(listing, f'id="break-{newest.id}"')
        assert "0-2 days" in new_row and f"held by {book.uploader.username}" in new_row
        assert "due in 29 h" in new_row and "NEW-1" in new_row and "Fresh GmbH" in new_row
        assert st.reference in new_row
        assert "4 breaks · page 1 of 1" in listing

        async def ids(**params: str) -> set[uuid.UUID]:
            found = await web.get("/reconciliation/breaks", params={**mine, **params})
            assert found.status_code == 200, found.text
            text = found.text.split('id="break-queue"', 1)[1]
            every = (newest, middle, older, oldest, resolved)
            return {b.id for b in every if f'id="break-{b.id}"' in text}

        assert await ids(age="3-7") == {middle.id}
        assert await ids(age="31+") == {oldest.id}
        assert await ids(age="0-2") == {newest.id}
        assert await ids(kind="amount_mismatch") == {older.id}
        assert await ids(status="resolved") == {resolved.id}
        assert await ids(status="all") == {newest.id, middle.id, older.id, oldest.id, resolved.id}
        assert await ids(q=lost.external_id) == {middle.id}
        assert await ids(q="fresh gmbh") == {newest.id}
        resolved_page = await web.get(
            "/reconciliation/breaks", params={**mine, "status": "resolved"}
        )
        assert "Explained" in _row(resolved_page.text, f'id="break-{resolved.id}"')
        assert (await web.get("/reconciliation/breaks", params={"age": "old"})).status_code == 422
        paged = await web.get("/reconciliation/breaks", params={**mine, "per_page": "2"})
        listing = paged.text.split('id="break-queue"', 1)[1]
        assert "4 breaks · page 1 of 2" in listing
        assert f'id="break-{oldest.id}"' in listing and f'id="break-{newest.id}"' not in listing
        assert "page=2" in listing and "per_page=2" in listing

    headers = await api_headers(http, book.uploader.username)
    found = await http.get(
        "/api/v1/reconciliation/breaks", params={"source_id": str(book.source_id)}, headers=headers
    )
    assert found.status_code == 200, found.text
    items = found.json()["items"]
    assert [i["id"] for i in items] == [str(b.id) for b in (oldest, older, middle, newest)]
    assert [i["age_bucket"] for i in items] == ["31+", "8-30", "3-7", "0-2"]
    assert items[3]["assignee"] == book.uploader.username and items[3]["task_status"] == "claimed"
    assert items[2]["overdue"] is True and items[2]["reference"] == lost.external_id


async def test_case_page_shows_the_break_and_its_resolve_form_and_refusals_per_field(
    http: httpx.AsyncClient, db: Database
) -> None:
    book = await _book(db)
    # An amount no other test books: the form offers up to 20 unmatched records of it.
    manager = await new_staff(db, "ops_manager", prefix="ops")
    st = await book.statement(lines=3, matched=0)
    await book.lines(st, (1, "250.37", "WIRE-88", "Gamma SA"), (2, "250.37", None, "Other"))
    candidate = await book.record("250.37", external_id=f"CAND-{uuid.uuid4().hex[:6]}")
    loose = await book.record("250.37", external_id=f"LOOSE-{uuid.uuid4().hex[:6]}")
    brk, case, task = await book.brk(
        st, line_nos=[1], amount="250.37", candidates=[candidate], assignee=book.uploader,
        task_status="claimed",
    )  # fmt: skip
    assert task is not None

    async with _client(http) as web:
        token = await web_login(web, book.uploader.username)
        page = await web.get(f"/cases/{case.id}")
        assert page.status_code == 200, page.text
        html = page.text
        section = html.split('id="recon"', 1)[1]
        assert "On the statement, not in our records" in section and "WIRE-88" in section
        assert f'href="http://testserver/reconciliation/statements/{st.id}"' in section
        assert candidate.external_id in _section(html, "recon-candidates")
        # The resolve form replaces the generic decision form for this task.
        form = html.split('id="recon-resolve"', 1)[1].split("</form>", 1)[0]
        assert f"/tasks/{task.id}/decision" not in html
        assert f'name="task_id" value="{task.id}"' in form
        assert f'name="csrf_token" value="{token}"' in form
        for action in ("matched", "explained", "write_off"):
            assert f'name="action" value="{action}"' in form
        assert 'name="line_nos" value="1" checked' in form  # the break's own line
        assert 'name="line_nos" value="2"' in form  # same amount, still unmatched
        assert f'name="record_ids" value="{candidate.id}"' in form
        assert f'name="record_ids" value="{loose.id}"' in form
        assert 'value="timing_difference"' in form and 'value="bank_charge"' in form
        assert 'name="amount" inputmode="decimal" value="250.37"' in form
        approval = form.split('id="write-off-approval"', 1)[1].split("</small>", 1)[0]
        assert "above the 100 EUR threshold" in approval and "ops manager" in approval

        # No action chosen: refused per field, nothing sent; the form keeps what was typed.
        typed = {
            "csrf_token": token,
            "task_id": str(task.id),
            "note": "Bank says <b>later</b>",
            "line_nos": ["1", "2"],
        }
        refused = await web.post(f"/reconciliation/breaks/{brk.id}/resolve", data=typed)
        assert refused.status_code == 422, refused.text
        assert 'id="recon"' in refused.text  # the whole case page again
        form = refused.text.split('id="recon-resolve"', 1)[1].split("</form>", 1)[0]
        assert "Choose what to do: match by hand, explain, or write off." in form
        assert "Bank says &lt;b&gt;later&lt;/b&gt;" in form and "<b>later" not in form
        assert 'name="line_nos" value="2" checked' in form
        partial = await web.post(
            f"/reconciliation/breaks/{brk.id}/resolve", data=typed, headers={"HX-Request": "true"}
        )
        assert partial.status_code == 422
        assert "<html" not in partial.text and partial.text.count('id="recon-resolve"') == 1
        assert "Choose what to do" in partial.text
        # The domain's own refusal (no reason to explain it) lands beside its field.
        unexplained = await web.post(
            f"/reconciliation/breaks/{brk.id}/resolve",
            data={**typed, "action": "explained"},
            headers={"HX-Request": "true"},
        )
        assert unexplained.status_code == 422, unexplained.text
        reason = unexplained.text.split('id="recon-reason_code-error">', 1)[1]
        assert reason.startswith("Choose what explains the break.")
        assert 'name="action" value="explained" required checked' in unexplained.text
        junk = await web.post(
            f"/reconciliation/breaks/{brk.id}/resolve",
            data={**typed, "action": "explained", "line_nos": ["one"]},
        )
        assert junk.status_code == 422 and "is not a statement line number" in junk.text

    # A write-off above the threshold waits for an ops manager: shown with who proposed it.
    pending_brk, pending_case, done_task = await book.brk(
        st, amount="180.00", age_days=2, task_status="done", assignee=book.uploader
    )
    assert done_task is not None
    async with db.transaction() as session:
        decision = Decision(
            case_id=pending_case.id,
            task_id=done_task.id,
            outcome="write_off",
            reason_code="bank_charge",
            actor_id=book.uploader.actor.user_id,
        )
        session.add(decision)
        await session.flush()
        session.add(
            ReconWriteOff(
                break_id=pending_brk.id,
                decision_id=decision.id,
                amount=Decimal("180.00"),
                currency="EUR",
                amount_eur=Decimal("180.00"),
                reason_code="bank_charge",
                note="Charged twice by the bank",
                proposed_by=book.uploader.actor.user_id,
                needs_approval=True,
            )
        )
        session.add(
            Task(
                case_id=pending_case.id,
                workflow_id=pending_case.workflow_id,
                task_key="checker#write-off-1",
                kind="recon_write_off",
                title=f"Approve write-off {pending_case.reference}",
                candidate_role="ops_manager",
                allowed_outcomes=["approve", "reject"],
                reason_required_for=["reject"],
                due_at=utcnow() + timedelta(hours=24),
            )
        )
    async with _client(http) as web:
        await web_login(web, manager.username)
        page = await web.get(f"/cases/{pending_case.id}")
        assert page.status_code == 200, page.text
        offs = _section(page.text, "recon-write-offs")
        assert "awaiting an ops manager's approval" in offs
        assert "180.00 EUR" in offs and book.uploader.username in offs
        assert "Charged twice by the bank" in offs and "approval needed" in offs
        assert "Claim this task" in page.text and 'id="recon-resolve"' not in page.text


# ----------------------------------------------------------------------------- report
def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_report_match_rates_and_open_breaks_by_source_and_age_with_csv(
    http: httpx.AsyncClient, db: Database
) -> None:
    book = await _book(db, prefix="Report Source")
    finance = book.uploader
    period = {"from": "2001-03-01", "to": "2001-03-31"}
    in_period = datetime(2001, 3, 10, 12, tzinfo=UTC)
    await book.statement(lines=10, matched=8, balance_ok=True, uploaded_at=in_period)
    st = await book.statement(lines=10, matched=10, balance_ok=False, uploaded_at=in_period)
    await book.statement(status="refused", refused=("line 1", "no header"), uploaded_at=in_period)
    await book.statement(lines=50, matched=0, uploaded_at=datetime(2001, 4, 2, tzinfo=UTC))

    async with _client(http) as web:
        await web_login(web, finance.username)
        ages_before = {r[0]: r for r in _csv((await web.get(
            "/reconciliation/report.csv", params={**period, "table": "ages"})).text)[1:]}  # fmt: skip
        await book.lines(st, (1, "30.00", "@SUM(1+1)", '=HYPERLINK("http://evil.example","x")'))
        await book.brk(st, line_nos=[1], amount="30.00", age_days=5)
        await book.brk(st, amount="-20.00", currency="USD", age_days=40)

        summary = await web.get("/reconciliation/report.csv", params=period)
        assert summary.status_code == 200
        assert summary.headers["content-type"].startswith("text/csv")
        assert (
            'filename="recon-report-summary-2001-03-01-to-2001-03-31.csv"'
            in summary.headers["content-disposition"]
        )
        figures = dict(_csv(summary.text)[1:])
        assert figures["statements"] == "3" and figures["refused"] == "1"
        assert figures["lines"] == "20" and figures["matched_lines"] == "18"
        assert figures["match_rate_pct"] == "90.0" and figures["balance_check_failures"] == "1"

        sources = _csv((await web.get(
            "/reconciliation/report.csv", params={**period, "table": "sources"})).text)  # fmt: skip
        header, mine = sources[0], next(r for r in sources if r[0] == book.source_name)
        row = dict(zip(header, mine, strict=True))
        assert row["statements"] == "3" and row["match_rate_pct"] == "90.0"
        assert row["open_breaks"] == "2" and Decimal(row["open_amount_eur"]) == Decimal("48.4")
        assert row["open_3-7_days"] == "1" and row["open_31+_days"] == "1"

        ages = {r[0]: r for r in _csv((await web.get(
            "/reconciliation/report.csv", params={**period, "table": "ages"})).text)[1:]}  # fmt: skip
        unmatched_line = 1  # column of the kind, after the age
        assert int(ages["3-7 days"][unmatched_line]) == int(ages_before["3-7 days"][1]) + 1
        assert int(ages["31+ days"][-2]) == int(ages_before["31+ days"][-2]) + 1

        listed = _csv((await web.get(
            "/reconciliation/report.csv", params={**period, "table": "breaks"})).text)  # fmt: skip
        hostile = next(r for r in listed if r[2] == st.reference and r[5] == "EUR")
        assert hostile[10] == "'@SUM(1+1)"
        assert hostile[11] == '\'=HYPERLINK("http://evil.example","x")'
        usd = next(r for r in listed if r[2] == st.reference and r[5] == "USD")
        assert usd[4] == "'-20.00" and usd[6] == "18.40"

        page = await web.get("/reconciliation/report", params=period)
        assert page.status_code == 200, page.text
        html = page.text
        assert "90 %" in _row(html, f'id="source-{book.source_id}"')
        assert "18 ÷ 20" in html.split('id="report-match-rate"', 1)[1].split("</dd>", 1)[0]
        assert html.count('class="bar-chart"') == 3
        assert f'data-label="{book.source_name}"' in html
        assert "=HYPERLINK" not in html  # the page lists no break's text, only counts
        backwards = await web.get(
            "/reconciliation/report", params={"from": "2001-02-01", "to": "2001-01-01"}
        )
        assert backwards.status_code == 422

    support = await new_staff(db, "support", prefix="sup")
    auditor = await new_staff(db, "auditor", prefix="aud")
    async with _client(http) as web:
        await web_login(web, support.username)
        assert (await web.get("/reconciliation/report")).status_code == 403
        assert (await web.get("/reconciliation/report.csv")).status_code == 403
    async with _client(http) as web:
        await web_login(web, auditor.username)
        assert (await web.get("/reconciliation/report", params=period)).status_code == 200


def test_report_csv_neutralises_formula_injection() -> None:
    report = ReconReport(
        start=date(2025, 1, 1),
        end=date(2025, 1, 31),
        sources=[],
        ages=[],
        breaks=[
            OpenBreakRow(
                case_reference="+REC-1",
                source="=cmd|' /C calc'!A0",
                statement="STM-1",
                kind="unmatched_line",
                amount="-5.00",
                currency="EUR",
                amount_eur=Decimal("5.00"),
                booked_on=date(2025, 1, 2),
                created_at=datetime(2025, 1, 3, tzinfo=UTC),
                age_days=3,
                reference="@SUM(1+1)",
                counterparty="\t=1+1",
            )
        ],
    )
    _, text = to_csv(report, "breaks")
    row = _csv(text)[1]
    assert row[0] == "'+REC-1" and row[1] == "'=cmd|' /C calc'!A0"
    assert row[4] == "'-5.00" and row[10] == "'@SUM(1+1)" and row[11] == "'\t=1+1"


# ----------------------------------------------------------------------------- who may see
async def test_support_is_refused_and_audited_and_auditors_read_without_forms(
    http: httpx.AsyncClient, db: Database
) -> None:
    book = await _book(db)
    st = await book.statement(lines=1, matched=1)
    support = await new_staff(db, "support", prefix="sup")
    auditor = await new_staff(db, "auditor", prefix="aud")

    async with _client(http) as web:
        await web_login(web, support.username)
        for path in (
            "/reconciliation",
            "/reconciliation/breaks",
            f"/reconciliation/statements/{st.id}",
            f"/reconciliation/statements/{st.id}/progress",
            "/reconciliation/sources",
        ):
            refused = await web.get(path)
            assert refused.status_code == 403, path
            assert "do not allow you to see reconciliation" in refused.text
        assert 'href="http://testserver/reconciliation"' not in (await web.get("/inbox")).text
    support_api = await api_headers(http, support.username)
    for path in ("statements", "breaks", "sources", f"statements/{st.id}"):
        got = await http.get(f"/api/v1/reconciliation/{path}", headers=support_api)
        assert got.status_code == 403, path
    assert await _denied(db, support.username, "recon.statements") == 2
    assert await _denied(db, support.username, "recon.breaks") == 2
    assert await _denied(db, support.username, "recon.statement") == 3
    assert await _denied(db, support.username, "recon.sources") == 2

    async with _client(http) as web:
        token = await web_login(web, auditor.username)
        inbox = await web.get("/inbox")
        assert 'href="http://testserver/reconciliation"' in inbox.text
        page = await web.get("/reconciliation")
        assert page.status_code == 200 and st.reference in page.text
        assert 'id="statement-upload"' not in page.text
        assert (await web.get(f"/reconciliation/statements/{st.id}")).status_code == 200
        assert (await web.get("/reconciliation/breaks")).status_code == 200
        sources = await web.get("/reconciliation/sources")
        assert sources.status_code == 200 and book.source_name in sources.text
        assert "Add a source" not in sources.text
        assert f"/reconciliation/sources/{book.source_id}" not in sources.text
        assert (await web.get("/reconciliation/sources/new")).status_code == 403
        assert (await web.get(f"/reconciliation/sources/{book.source_id}")).status_code == 403
        upload = await web.post(
            "/reconciliation/statements",
            data={"csrf_token": token, "source_id": str(book.source_id)},
            files={"file": ("s.xml", b"<Document/>", "application/xml")},
        )
        assert upload.status_code == 403
    assert await _denied(db, auditor.username, "recon.statement_uploaded") == 1
    assert await _denied(db, auditor.username, "recon.source_saved") == 2


# ----------------------------------------------------------------------------- upload
async def test_upload_refusals_name_the_field_and_an_upload_goes_to_its_page(
    http: httpx.AsyncClient, db: Database
) -> None:
    book = await _book(db)
    async with _client(http) as web:
        token = await web_login(web, book.uploader.username)
        no_source = await web.post(
            "/reconciliation/statements",
            data={"csrf_token": token, "source_id": ""},
            files={"file": ("s.xml", b"<Document/>", "application/xml")},
        )
        assert no_source.status_code == 422, no_source.text
        form = no_source.text.split('id="statement-upload"', 1)[1].split("</form>", 1)[0]
        assert "Choose where the statement comes from." in form
        assert 'aria-describedby="source_id-error"' in form
        empty = await web.post(
            "/reconciliation/statements",
            data={"csrf_token": token, "source_id": str(book.source_id)},
            files={"file": ("s.xml", b"", "application/xml")},
        )
        assert empty.status_code == 422 and "The file is empty." in empty.text
        assert f'value="{book.source_id}" selected' in empty.text

        content = f"<Document><!-- {uuid.uuid4()} --></Document>".encode()
        sent = await web.post(
            "/reconciliation/statements",
            data={"csrf_token": token, "source_id": str(book.source_id)},
            files={"file": ("camt.xml", content, "application/xml")},
        )
        assert sent.status_code == 303, sent.text
        location = sent.headers["location"]
        assert location.startswith("http://testserver/reconciliation/statements/")
        page = await web.get(location)
        assert page.status_code == 200 and "camt.xml" in page.text
        assert "It is read and matched in the background" in page.text
        # Not ISO 20022: refused once read, keeping nothing, so the same bytes go in again
        # (a duplicate of an accepted file is refused: test_recon_statement_refusals).
        first = uuid.UUID(location.split("?", 1)[0].rsplit("/", 1)[1])

        async def refused() -> bool:
            async with db.session() as session:
                statement = await session.get(ReconStatement, first)
            return statement is not None and statement.status == "refused"

        await eventually(refused, within=90, what="the non-statement to be refused")
        refused_page = await web.get(location)
        assert "does not count as uploaded" in refused_page.text
        again = await web.post(
            "/reconciliation/statements",
            data={"csrf_token": token, "source_id": str(book.source_id)},
            files={"file": ("camt-copy.xml", content, "application/xml")},
        )
        assert again.status_code == 303, again.text
        assert again.headers["location"] != location


# ----------------------------------------------------------------------------- sources
async def test_source_form_explains_each_bad_field_and_proposes_a_change_applied_on_approval(
    http: httpx.AsyncClient, db: Database
) -> None:
    book = await _book(db)
    checker = await new_staff(db, "ops_manager", prefix="ops")
    name = f"Processor {uuid.uuid4().hex[:8]}"
    async with _client(http) as web:
        token = await web_login(web, book.uploader.username)
        new = await web.get("/reconciliation/sources/new")
        assert new.status_code == 200
        assert 'name="csv_booked_on"' in new.text and 'name="csv_delimiter"' in new.text
        assert 'name="accounts"' in new.text and 'name="reason"' in new.text
        preset = await web.get(
            "/reconciliation/sources/new", params={"preset": "card_processor_settlement"}
        )
        assert 'value="Net Debit (NC)"' in preset.text

        bad = await web.post(
            "/reconciliation/sources/new",
            data={
                "csrf_token": token,
                "name": "  ",
                "format": "csv",
                "currency": "EURO",
                "channels": ["card", "telex"],
                "accounts": "NL27VAYB8060476890",
                "csv_booked_on": "",
                "csv_amount": "Amount",
                "csv_debit_amount": "Debit",
                "csv_date_format": "%Y",
                "csv_delimiter": ";;",
                "csv_currency": "EUR",
            },
        )
        assert bad.status_code == 422, bad.text
        html = bad.text

        def error(field: str) -> str:
            return html.split(f'id="{field}-error">', 1)[1].split("</small>", 1)[0]

        assert "Give the source a name" in error("name")
        assert "three-letter ISO 4217 currency" in error("currency")
        assert "Unknown channel telex" in error("channels")
        assert "NL27VAYB8060476890 is not a valid IBAN" in error("accounts")
        assert "Say why" in error("reason")
        assert "Name the column that holds the booking date." in error("csv_booked_on")
        assert "either one amount column or debit and credit columns" in error("csv_amount")
        assert "does not give the day, month and year" in error("csv_date_format")
        assert "The delimiter is one character" in error("csv_delimiter")
        assert 'value="Amount"' in html  # what was typed stays

        good = await web.post(
            "/reconciliation/sources/new",
            data={
                "csrf_token": token,
                "name": name,
                "format": "csv",
                "currency": "eur",
                "channels": ["card", "sepa"],
                "batch_channels": ["card"],
                "description": "Daily settlement <report>",
                "reason": "The processor's new daily settlement report.",
                "csv_booked_on": "Creation Date",
                "csv_amount": "Net",
                "csv_currency": "EUR",
                "csv_delimiter": "semicolon",
                "csv_thousands_separator": " ",
                "csv_credit_values": "",
            },
        )
        assert good.status_code == 303, good.text
        listing = await web.get(good.headers["location"])
        notice = listing.text.split('id="source-proposed">', 1)[1].split("</p>", 1)[0]
        assert "Proposed as" in notice and "applies when approved." in notice
        reference = notice.split(">CHG-", 1)[1].split("<", 1)[0]
        awaiting = listing.text.split('id="proposed-sources"', 1)[1].split("</section>", 1)[0]
        assert name in awaiting and f"CHG-{reference}" in awaiting
        async with db.session() as session:
            change = (
                await session.exec(
                    select(ChangeRequest)
                    .where(ChangeRequest.target_type == "recon_source")
                    .order_by(ChangeRequest.created_at.desc())  # type: ignore[attr-defined]
                )
            ).first()
            made = (await session.exec(select(ReconSource).where(ReconSource.name == name))).first()
        assert change is not None and made is None  # nothing applies before the approval
        case_page = await web.get(f"/cases/{change.case_id}")
        assert (
            f"CHG-{reference}" in case_page.text
            and "Daily settlement &lt;report&gt;" in case_page.text
        )

    await _approve_source_change(http, db, checker, change.workflow_id)
    async with _client(http) as web:
        token = await web_login(web, book.uploader.username)
        async with db.session() as session:
            saved = (await session.exec(select(ReconSource).where(ReconSource.name == name))).one()
        assert saved.currency == "EUR" and saved.batch_channels == ["card"]
        assert saved.current_version == 1 and saved.accounts == []
        assert saved.csv_mapping is not None
        assert (
            saved.csv_mapping["delimiter"] == ";"
            and saved.csv_mapping["booked_on"] == "Creation Date"
        )
        assert saved.csv_mapping["thousands_separator"] == " "
        assert saved.csv_mapping["credit_values"] == ["C", "CR", "CRDT", "credit"]
        listing = await web.get("/reconciliation/sources")
        row = _row(listing.text, f'id="source-{saved.id}"')
        assert "Daily settlement &lt;report&gt;" in row and "column mapping set" in row

        clash = await web.post(
            "/reconciliation/sources/new",
            data={"csrf_token": token, "name": name.upper(), "format": "camt053",
                  "currency": "EUR", "channels": ["sepa"], "reason": "A second one, same name."},
        )  # fmt: skip
        assert clash.status_code == 422 and "There is already a source named" in clash.text

        edit = await web.get(f"/reconciliation/sources/{saved.id}")
        assert edit.status_code == 200 and 'value="Creation Date"' in edit.text
        changed = await web.post(
            f"/reconciliation/sources/{saved.id}",
            data={"csrf_token": token, "name": name, "format": "camt053", "currency": "EUR",
                  "channels": ["sepa"], "batch_channels": ["card"],
                  "reason": "The bank sends camt.053 now."},
        )  # fmt: skip
        assert changed.status_code == 422
        assert "not one of the source&#39;s channels" in changed.text
        fixed = await web.post(
            f"/reconciliation/sources/{saved.id}",
            data={"csrf_token": token, "name": name, "format": "camt053", "currency": "EUR",
                  "channels": ["sepa"], "accounts": "DE89 3704 0044 0532 0130 00\n50880050/0194791600888",
                  "reason": "The bank sends camt.053 now."},
        )  # fmt: skip
        assert fixed.status_code == 303
        listing = await web.get(fixed.headers["location"])
        assert "awaiting approval" in _row(listing.text, f'id="source-{saved.id}"')
    async with db.session() as session:
        remap = (
            await session.exec(
                select(ChangeRequest).where(
                    ChangeRequest.target_id == saved.id, ChangeRequest.base_version == 1
                )
            )
        ).one()
    await _approve_source_change(http, db, checker, remap.workflow_id)
    async with db.session() as session:
        saved = (await session.exec(select(ReconSource).where(ReconSource.name == name))).one()
        events = (
            await run_sql(
                session,
                "SELECT outcome, details FROM audit_event WHERE action = 'change.propose' "
                "AND actor = :who AND object_type = 'recon_source' ORDER BY id",
                {"who": book.uploader.username},
            )
        ).all()
        saved_events = (
            await run_sql(
                session,
                "SELECT details FROM audit_event WHERE action = 'recon.source_saved' "
                "AND object_id = :id AND outcome = 'success' ORDER BY id",
                {"id": str(saved.id)},
            )
        ).all()
    assert saved.format == "camt053" and saved.csv_mapping is None
    assert saved.accounts == ["DE89 3704 0044 0532 0130 00", "50880050/0194791600888"]
    assert saved.account == "DE89 3704 0044 0532 0130 00" and saved.current_version == 2
    assert [e[0] for e in events] == ["failure", "failure", "failure"]
    assert [e[0]["created"] for e in saved_events] == [True, False]
    assert "accounts" in saved_events[1][0]["changed"]


async def _approve_source_change(
    http: httpx.AsyncClient, db: Database, checker: Staff, workflow_id: str
) -> None:
    headers = await api_headers(http, checker.username)
    task = await task_of(db, workflow_id)
    claim = await http.post(f"/api/v1/tasks/{task.id}/claim", headers=headers)
    assert claim.status_code == 200, claim.text
    decided = await http.post(
        f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=headers
    )
    assert decided.status_code == 200, decided.text

    async def applied() -> bool:
        async with db.session() as session:
            change = (
                await session.exec(
                    select(ChangeRequest).where(ChangeRequest.workflow_id == workflow_id)
                )
            ).one()
        return change.status == "applied"

    await eventually(applied, what=f"{workflow_id} applied")


async def test_the_reconciliation_policy_is_a_maker_checker_document(
    http: httpx.AsyncClient, db: Database
) -> None:
    """Tolerances, windows, fees and the write-off threshold are the `reconciliation`
    document: proposed through maker-checker, its fee list checked item by item, and its
    free-text field offered as text (not a number keypad) on the settings page."""
    maker = await new_staff(db, "risk_manager")
    headers = await api_headers(http, maker.username)
    doc = (await http.get("/api/v1/config/reconciliation", headers=headers)).json()
    assert doc["values"]["known_fees"] == "0.20, 0.35, 1.50, 1.4%"
    assert doc["values"]["write_off_threshold_eur"] == 100
    refused = await http.post(
        "/api/v1/changes",
        json={"target_type": "config", "target_id": doc["id"], "changes": {"known_fees": "0.20, lots"},
              "reason": "Fees changed at the processor.", "effective_at": None},
        headers=headers,
    )  # fmt: skip
    assert refused.status_code == 422, refused.text
    assert "'lots' is neither an amount" in refused.text
    accepted = await http.post(
        "/api/v1/changes",
        json={"target_type": "config", "target_id": doc["id"], "changes": {"known_fees": "0.25; 2 %"},
              "reason": "Fees changed at the processor.", "effective_at": None},
        headers=headers,
    )  # fmt: skip
    assert accepted.status_code == 201, accepted.text
    change = accepted.json()
    detail = (await http.get(f"/api/v1/changes/{change['id']}", headers=headers)).json()
    assert detail["after"]["known_fees"] == "0.25, 2%", (
        "the fee list is kept as the schema reads it"
    )
    # Withdrawn again: approving it would change the policy every later test matches under.
    withdrawn = await http.post(
        f"/api/v1/changes/{change['id']}/withdraw", json={"reason": "Only a test."}, headers=headers
    )
    assert withdrawn.status_code == 200, withdrawn.text
    async with _client(http) as web:
        await web_login(web, maker.username)
        page = (await web.get("/settings/reconciliation")).text
    fees = page.split('name="known_fees"', 1)[1].split(">", 1)[0]
    window = page.split('name="date_window_days"', 1)[1].split(">", 1)[0]
    assert "inputmode" not in fees and 'inputmode="numeric"' in window
