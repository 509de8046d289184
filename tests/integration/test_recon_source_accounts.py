"""Sources know their accounts (issue 14): real MT940 files whose `:25:` is written the
bank's way are taken by the source that lists the account and refused, naming the account,
by one that does not; a source listing none takes nothing; and a source is created or
re-mapped only through maker-checker (the proposer never approves, at any door)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from core.db import Database
from core.settings import Settings
from models.changes import ChangeRequest
from models.reconciliation import ReconSource, ReconStatement
from reconciliation.commands.statements import receive_statement
from tests.helpers import Staff, api_headers, eventually, new_staff, task_of, web_login

SAMPLES = Path(__file__).parents[2] / "data" / "statements" / "mt940"
CHANNELS = ["sepa", "swift", "cash", "card"]


def real_file(name: str) -> bytes:
    """A real sample with its statement references made unique (so every upload is a new
    file and a new statement), the `:25:` lines untouched."""
    tag = uuid.uuid4().hex[:12].upper()
    lines = (SAMPLES / name).read_bytes().splitlines(keepends=True)
    return b"".join(
        b":20:" + tag.encode() + line[line.index(b"\r") if b"\r" in line else -1 :]
        if line.startswith(b":20:")
        else line
        for line in lines
    )


async def source_listing(db: Database, *accounts: str, currency: str = "EUR") -> ReconSource:
    async with db.transaction() as session:
        source = ReconSource(
            name=f"Accounts test {uuid.uuid4().hex[:8]}",
            format="mt940",
            accounts=list(accounts),
            account=accounts[0] if accounts else None,
            currency=currency,
            channels=CHANNELS,
            batch_channels=[],
        )
        session.add(source)
    return source


async def uploaded(
    db: Database,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    who: Staff,
    source: ReconSource,
    content: bytes,
) -> ReconStatement:
    """Upload the file and await its verdict: refused, or read and matching."""
    received = await receive_statement(
        db,
        temporal_env.client,
        settings,
        who.actor,
        source_id=source.id,
        filename="statement.sta",
        content=content,
    )

    async def verdict() -> ReconStatement | None:
        async with db.session() as session:
            statement = await session.get(ReconStatement, received.statement_id)
        if statement is not None and statement.status in ("refused", "matching", "matched"):
            return statement
        return None

    found = await eventually(verdict, what=f"statement {received.statement_id} read")
    assert found is not None
    return found


async def test_a_real_triodos_file_goes_to_the_source_listing_its_account_and_nowhere_else(
    db: Database, temporal_env: WorkflowEnvironment, settings: Settings, worker: None
) -> None:
    finance = await new_staff(db, "finance_ops")
    wrong = await source_listing(db, "TRIODOSBANK/0390999999")
    refused = await uploaded(
        db, temporal_env, settings, finance, wrong, real_file("jejik_triodos.sta")
    )
    assert refused.status == "refused"
    assert "TRIODOSBANK/0390123456" in (refused.refused_reason or "")
    assert "does not list" in (refused.refused_reason or "")

    # Listed as the bank prints it elsewhere (spaces, no bank): the same account.
    right = await source_listing(db, "NL26VAYB8060476890", "0390 1234 56")
    taken = await uploaded(
        db, temporal_env, settings, finance, right, real_file("jejik_triodos.sta")
    )
    assert taken.status in ("matching", "matched"), taken.refused_reason
    assert taken.account == "TRIODOSBANK/0390123456"


async def test_a_file_mixing_accounts_is_refused_naming_the_one_not_listed(
    db: Database, temporal_env: WorkflowEnvironment, settings: Settings, worker: None
) -> None:
    """jejik_rabobank.sta holds statements of 1291.99.348EUR and of 1526.89.184EUR."""
    finance = await new_staff(db, "finance_ops")
    one = await source_listing(db, "1291.99.348")
    refused = await uploaded(
        db, temporal_env, settings, finance, one, real_file("jejik_rabobank.sta")
    )
    assert refused.status == "refused"
    assert "1526.89.184EUR" in (refused.refused_reason or "")
    assert (refused.refused_location or "").startswith("statement")

    both = await source_listing(db, "129199348EUR", "1526.89.184")
    taken = await uploaded(
        db, temporal_env, settings, finance, both, real_file("jejik_rabobank.sta")
    )
    assert taken.status in ("matching", "matched"), taken.refused_reason

    usd = await source_listing(db, "1291.99.348", "1526.89.184", currency="USD")
    wrong_currency = await uploaded(
        db, temporal_env, settings, finance, usd, real_file("jejik_rabobank.sta")
    )
    assert wrong_currency.status == "refused"
    assert "in EUR" in (wrong_currency.refused_reason or "")


@pytest.mark.parametrize(
    ("statement_account", "listed", "currency"),
    [
        ("50880050/0194791600888", "50880050 / 0194 7916 00888", "EUR"),
        ("UBRTHUHB/12010611-01424475-00100006/HUF", "UBRTHUHBXXX/120106110142447500100006", "HUF"),
    ],
)
async def test_the_other_real_forms_match_the_source_listing_them(
    db: Database,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    worker: None,
    statement_account: str,
    listed: str,
    currency: str,
) -> None:
    """The Deutsche Bank and Raiffeisen Hungary `:25:` forms (not among the shared samples:
    the Triodos file carries them here, in the account's currency)."""
    finance = await new_staff(db, "finance_ops")
    content = real_file("jejik_triodos.sta").replace(
        b":25:TRIODOSBANK/0390123456", b":25:" + statement_account.encode()
    )
    content = content.replace(b"EUR", currency.encode())
    right = await source_listing(db, listed, currency=currency)
    taken = await uploaded(db, temporal_env, settings, finance, right, content)
    assert taken.status in ("matching", "matched"), taken.refused_reason
    other = await source_listing(db, "50880050/0194791600889", currency=currency)
    refused = await uploaded(
        db, temporal_env, settings, finance, other, content.replace(b":20:", b":20:X", 1)
    )
    # Named as the parser read it (the MT940 reader keeps a `/CCY` part apart).
    named = statement_account.removesuffix(f"/{currency}")
    assert refused.status == "refused" and named in (refused.refused_reason or "")


async def test_a_source_listing_no_accounts_takes_no_statement_and_says_what_to_add(
    db: Database, temporal_env: WorkflowEnvironment, settings: Settings, worker: None
) -> None:
    finance = await new_staff(db, "finance_ops")
    bare = await source_listing(db)
    refused = await uploaded(
        db, temporal_env, settings, finance, bare, real_file("jejik_triodos.sta")
    )
    assert refused.status == "refused"
    reason = refused.refused_reason or ""
    assert "lists no accounts" in reason and "TRIODOSBANK/0390123456" in reason


async def test_the_proposer_cannot_approve_a_source_and_another_finance_member_applies_it(
    http: httpx.AsyncClient,
    db: Database,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
) -> None:
    maker = await new_staff(db, "finance_ops", prefix="fin")
    checker = await new_staff(db, "finance_ops", prefix="fin")
    outsider = await new_staff(db, "product_manager", prefix="pm")
    name = f"Triodos EUR {uuid.uuid4().hex[:8]}"
    body = {
        "name": name,
        "format": "mt940",
        "accounts": ["TRIODOSBANK/0390123456"],
        "currency": "EUR",
        "channels": ["sepa"],
        "reason": "Triodos sends our EUR statements as MT940 from now on.",
    }
    maker_headers = await api_headers(http, maker.username)
    refused = await http.post(
        "/api/v1/reconciliation/sources", json={**body, "accounts": ["NL27VAYB8060476890"]},
        headers=maker_headers,
    )  # fmt: skip
    assert refused.status_code == 422 and "not a valid IBAN" in refused.text
    proposed = await http.post("/api/v1/reconciliation/sources", json=body, headers=maker_headers)
    assert proposed.status_code == 202, proposed.text
    created = proposed.json()
    assert created["reference"].startswith("CHG-")
    async with db.session() as session:
        assert (
            await session.exec(select(ReconSource).where(ReconSource.name == name))
        ).first() is None
        change = await session.get(ChangeRequest, uuid.UUID(created["id"]))
    assert change is not None and change.target_type == "recon_source" and change.base_version == 0

    # The maker may not take the approval (excluded), by the API or the web form.
    task = await task_of(db, created["workflow_id"])
    assert task.kind == "source_approval" and maker.actor.user_id in task.excluded_actors
    claim = await http.post(f"/api/v1/tasks/{task.id}/claim", headers=maker_headers)
    assert claim.status_code == 403, claim.text
    decide = await http.post(
        f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=maker_headers
    )
    assert decide.status_code in (403, 409), decide.text
    transport = http._transport  # the web form door: a browser session of the maker
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
        token = await web_login(browser, maker.username)
        form_claim = await browser.post(
            f"/tasks/{task.id}/claim", data={"csrf_token": token}, follow_redirects=False
        )
        assert form_claim.status_code == 403, form_claim.text
        form_decision = await browser.post(
            f"/tasks/{task.id}/decision",
            data={"csrf_token": token, "outcome": "approve"},
            follow_redirects=False,
        )
        assert form_decision.status_code in (403, 409), form_decision.text
    # Nor anyone without the approving role.
    pm_headers = await api_headers(http, outsider.username)
    assert (await http.post(f"/api/v1/tasks/{task.id}/claim", headers=pm_headers)).status_code in (
        403,
        404,
    )

    # The approval page shows what the source would be, field by field.
    checker_headers = await api_headers(http, checker.username)
    read = await http.get(f"/api/v1/changes/{created['id']}", headers=checker_headers)
    assert read.status_code == 200, read.text
    shown = read.json()
    assert shown["after"]["accounts"] == "TRIODOSBANK/0390123456"
    assert (
        shown["before"]["accounts"] is None
        and shown["target_label"] == f"New statement source {name}"
    )

    claim = await http.post(f"/api/v1/tasks/{task.id}/claim", headers=checker_headers)
    assert claim.status_code == 200, claim.text
    decided = await http.post(
        f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=checker_headers
    )
    assert decided.status_code == 200, decided.text

    async def applied() -> ReconSource | None:
        async with db.session() as session:
            return (await session.exec(select(ReconSource).where(ReconSource.name == name))).first()

    source = await eventually(applied, what="the approved source")
    assert source is not None
    assert source.id == change.target_id and source.current_version == 1
    assert (
        source.accounts == ["TRIODOSBANK/0390123456"] and source.created_by == maker.actor.user_id
    )
    taken = await uploaded(
        db, temporal_env, settings, maker, source, real_file("jejik_triodos.sta")
    )
    assert taken.status in ("matching", "matched"), taken.refused_reason

    # Two re-maps of version 1: approving the first voids the second (bound to version 1).
    remaps = []
    for accounts in (
        ["TRIODOSBANK/0390123456", "50880050/0194791600888"],
        ["TRIODOSBANK/0390123456", "UBRTHUHB/12010611-01424475-00100006/EUR"],
    ):
        remap = await http.put(
            f"/api/v1/reconciliation/sources/{source.id}",
            json={**body, "accounts": accounts, "reason": "Another account of ours too."},
            headers=maker_headers,
        )
        assert remap.status_code == 202, remap.text
        remaps.append(remap.json())
    first, second = remaps
    ops = await new_staff(db, "ops_manager", prefix="ops")
    ops_headers = await api_headers(http, ops.username)
    task = await task_of(db, first["workflow_id"])
    assert (await http.post(f"/api/v1/tasks/{task.id}/claim", headers=ops_headers)).is_success
    approved = await http.post(
        f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=ops_headers
    )
    assert approved.status_code == 200, approved.text

    async def superseded() -> bool:
        async with db.session() as session:
            change = await session.get(ChangeRequest, uuid.UUID(second["id"]))
        return change is not None and change.status == "superseded"

    await eventually(superseded, what="the second re-map voided")
    async with db.session() as session:
        remapped = await session.get(ReconSource, source.id)
    assert remapped is not None and remapped.current_version == 2
    assert remapped.accounts == ["TRIODOSBANK/0390123456", "50880050/0194791600888"]
