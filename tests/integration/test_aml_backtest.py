"""A rule change replayed over history before anyone approves it, and history re-judged.

- `run_backtest` compares the rules in force with a proposed document, dry: alerts and
  accounts added and removed, overlap with false-positive closures and SAR cases, extra L1
  hours; nothing is written to `aml_alert`.
- Proposing an AML rule change starts its backtest (RuleBacktestWorkflow); an approval is
  refused while it runs, through the API and straight to Temporal, and accepted after; the
  change's page shows the progress, then the comparison.
- `rejudge` judges stored history live; a second run over the same dates raises nothing.
- The CLI: `backoffice aml backtest` and `backoffice aml rejudge`.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlmodel import select
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from aml.commands import rejudge as rejudge_module
from aml.commands.backtest import run_backtest
from aml.commands.backtest_runs import queue_backtest
from aml.commands.casework import CASE_TYPE_AML
from aml.commands.judges import load_judges
from aml.commands.rejudge import rejudge
from aml.engines.judging import Judge
from audit.trail import ActorRef
from casework import store
from configuration.documents import load_config
from core.db import Database, run_sql
from core.settings import Settings
from models.aml import AmlAlert, AmlCase, Transaction
from models.aml_backtests import AmlBacktest
from models.base import utcnow
from models.changes import ChangeRequest, ChangeStatus
from models.config import ConfigSetting
from models.workflow_io import DecisionInput
from tests.aml_data import CustomerRef, new_customers
from tests.conftest import DatabaseUrls
from tests.helpers import (
    api_headers,
    backtest_finished,
    environment_without_services,
    eventually,
    new_staff,
    propose_via_api,
    run_command,
    task_of,
    web_login,
)

RULE = "aml_rule_large_transaction"


def _window() -> datetime:
    """The end of a 30-day stretch decades ago that no other test books into."""
    return datetime(1975, 1, 1, tzinfo=UTC) + timedelta(days=random.randrange(0, 3000, 40))


async def _book(
    db: Database, owner: CustomerRef, amount: str, booked_at: datetime, channel: str = "sepa"
) -> uuid.UUID:
    async with db.transaction() as session:
        tx = Transaction(
            external_id=f"bt-{uuid.uuid4().hex}",
            account_id=owner.account_id,
            customer_id=owner.id,
            booked_at=booked_at,
            amount=Decimal(amount),
            currency="EUR",
            direction="out",
            channel=channel,
            counterparty_name="Autohaus Beispiel GmbH",
            counterparty_account="FR7630006000011234567890189",
        )
        session.add(tx)
        await session.flush()
        return tx.id


async def _aml_case(
    db: Database, owner: CustomerRef, *, outcome: str | None, sar: str | None, txns: list[uuid.UUID]
) -> None:
    """A closed AML case of `owner` (an alert over `txns`), decided as given."""
    async with db.transaction() as session:
        case = await store.open_case(
            session,
            case_type=CASE_TYPE_AML,
            title="backtest fixture",
            stage="closed",
            subject_type="customer",
            subject_id=str(owner.id),
            workflow_id=f"bt-fixture-{uuid.uuid4().hex}",
            customer_id=owner.id,
        )
        case.outcome = outcome
        case.status = "closed"
        now = datetime.now(UTC)
        session.add(
            AmlCase(
                case_id=case.id,
                customer_id=owner.id,
                detected_at=now,
                sar_due_at=now,
                sar_decision=sar,
                closed_at=now,
            )
        )
        session.add(
            AmlAlert(
                dedupe_key=f"bt-fixture:{uuid.uuid4()}",
                customer_id=owner.id,
                account_id=owner.account_id,
                rule_key="large_transaction",
                rule_version=1,
                transaction_ids=txns,
                reason="fixture",
                case_id=case.id,
            )
        )


async def _alerts_on(db: Database, txns: list[uuid.UUID]) -> int:
    async with db.session() as session:
        return int(
            (
                await run_sql(
                    session,
                    "SELECT count(*) FROM aml_alert WHERE transaction_ids && :t "
                    "AND reason <> 'fixture'",
                    {"t": txns},
                )
            ).scalar_one()
        )


async def test_a_lower_threshold_is_compared_with_the_rules_in_force_without_storing_alerts(
    db: Database,
) -> None:
    end = _window()
    noisy, guilty, quiet = await new_customers(db, 3, prefix="Backtest")
    fp_tx = await _book(db, noisy, "8000.00", end - timedelta(days=10))
    sar_tx = await _book(db, guilty, "12000.00", end - timedelta(days=9))
    big_tx = await _book(db, quiet, "60000.00", end - timedelta(days=8))  # over 50 000
    await _book(db, quiet, "900.00", end - timedelta(days=7))  # under either threshold
    await _aml_case(db, noisy, outcome="closed_false_positive", sar=None, txns=[fp_tx])
    await _aml_case(db, guilty, outcome="sar_filed", sar="sar", txns=[])
    current = (await load_config(db, RULE)).values.model_dump(mode="json")
    proposed = {**current, "threshold_eur": 5_000}
    seen: list[tuple[int, int]] = []

    async def progress(judged: int, total: int) -> None:
        seen.append((judged, total))

    result = await run_backtest(
        db, RULE, proposed, days=30, until=end, progress=progress, slice_size=2
    )
    assert result.transactions == 4 and seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert len(seen) == 3  # one report per slice of two
    assert result.current.by_rule.get("large_transaction") == 1
    assert result.proposed.by_rule.get("large_transaction") == 3
    assert (result.added_alerts, result.removed_alerts) == (2, 0)
    assert (result.added_accounts, result.removed_accounts) == (2, 0)
    assert result.added_false_positive == 1 and result.proposed.false_positive == 1
    assert result.added_sar == 1 and result.current.sar == 0
    minutes = result.l1_minutes_per_alert
    assert minutes == 20 and result.extra_l1_hours == round(2 * minutes / 60, 1)
    assert [e.booked_at[:10] for e in result.examples] == [
        (end - timedelta(days=10)).date().isoformat(),
        (end - timedelta(days=9)).date().isoformat(),
    ]
    text = "\n".join(result.lines())
    assert "(+2 / -0)" in text and "hours at 20 minutes per alert" in text
    assert await _alerts_on(db, [fp_tx, sar_tx, big_tx]) == 0  # dry: nothing stored

    # A higher threshold removes what the rules in force raise.
    higher = await run_backtest(db, RULE, {**current, "threshold_eur": 100_000}, days=30, until=end)
    assert (higher.added_alerts, higher.removed_alerts, higher.removed_accounts) == (0, 1, 1)
    assert higher.extra_l1_hours < 0


async def test_history_is_rejudged_live_once_and_a_second_run_raises_nothing(
    db: Database,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    worker: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    end = _window()
    [owner] = await new_customers(db, 1, prefix="Rejudge")
    booked = [
        await _book(db, owner, "70000.00", end - timedelta(days=5)),
        await _book(db, owner, "56000.00", end - timedelta(days=4)),
    ]
    actor = ActorRef(id=None, name="cli:tester")
    reports: list[tuple[int, int, int]] = []
    first = await rejudge(
        db,
        temporal_env.client,
        settings.task_queue,
        end - timedelta(days=30),
        end,
        actor=actor,
        progress=lambda *p: reports.append(p),
    )
    assert first.transactions == 2 and first.alerts >= 2 and first.cases == 1
    assert reports[0] == (0, 2, 0) and reports[-1][:2] == (2, 2)
    assert await _alerts_on(db, booked) == first.alerts
    async with db.session() as session:
        routed = (
            await session.exec(
                select(AmlAlert).where(
                    AmlAlert.customer_id == owner.id, AmlAlert.rule_key == "large_transaction"
                )
            )
        ).all()
    assert len(routed) == 2 and all(a.case_id is not None for a in routed)

    again = await rejudge(
        db, temporal_env.client, settings.task_queue, end - timedelta(days=30), end, actor=actor
    )
    assert again.transactions == 2 and (again.alerts, again.shadow, again.cases) == (0, 0, 0)
    assert await _alerts_on(db, booked) == first.alerts
    async with db.session() as session:
        audited = (
            await run_sql(
                session,
                "SELECT count(*) FROM audit_event WHERE action = 'aml.rejudged' "
                "AND actor = 'cli:tester' AND details->>'to' = :to",
                {"to": end.isoformat()},
            )
        ).scalar_one()
    assert audited == 2

    # After a threshold change, the transaction it now catches raises its alert once.
    lower = {**(await load_config(db, RULE)).values.model_dump(mode="json"), "threshold_eur": 7_000}
    small = await _book(db, owner, "8000.00", end - timedelta(days=3))

    async def after_change(database: Database) -> list[Judge]:
        return await load_judges(database, overrides={RULE: lower})

    monkeypatch.setattr(rejudge_module, "load_judges", after_change)
    changed = await rejudge(
        db, temporal_env.client, settings.task_queue, end - timedelta(days=30), end, actor=actor
    )
    assert changed.transactions == 3 and changed.alerts == 1
    assert await _alerts_on(db, [small]) == 1
    once_more = await rejudge(
        db, temporal_env.client, settings.task_queue, end - timedelta(days=30), end, actor=actor
    )
    assert once_more.alerts == 0 and await _alerts_on(db, [small]) == 1


async def _backtest_row(db: Database, change_id: str) -> AmlBacktest | None:
    async with db.session() as session:
        return (
            await session.exec(
                select(AmlBacktest).where(AmlBacktest.change_id == uuid.UUID(change_id))
            )
        ).first()


async def _approve(
    http: httpx.AsyncClient, db: Database, headers: dict[str, str], workflow_id: str
) -> httpx.Response:
    task = await task_of(db, workflow_id)
    await http.post(f"/api/v1/tasks/{task.id}/claim", headers=headers)
    return await http.post(
        f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=headers
    )


async def _finished(db: Database, temporal: Client, change_id: str) -> AmlBacktest:
    await backtest_finished(db, temporal, change_id)
    row = await _backtest_row(db, change_id)
    assert row is not None
    return row


async def test_a_rule_change_cannot_be_approved_before_its_backtest_has_finished(
    http: httpx.AsyncClient,
    db: Database,
    admin_db: Database,
    temporal_env: WorkflowEnvironment,
) -> None:
    maker = await new_staff(db, "risk_manager")
    checker = await new_staff(db, "risk_manager")
    mh, ch = await api_headers(http, maker.username), await api_headers(http, checker.username)
    async with db.session() as session:
        setting = (await session.exec(select(ConfigSetting).where(ConfigSetting.key == RULE))).one()
    before = (await load_config(db, RULE)).values.model_dump(mode="json")
    # A payment the lower threshold catches: the backtest has an example alert to show.
    [payer] = await new_customers(db, 1, prefix="Backtest example")
    await _book(db, payer, f"{before['threshold_eur'] - 500}.00", utcnow() - timedelta(days=3))

    # Hold the backtest half-way: it cannot read the transactions while this lock is held.
    async with admin_db.transaction() as blocker:
        await run_sql(blocker, "LOCK TABLE transaction IN ACCESS EXCLUSIVE MODE")
        change = await propose_via_api(
            http, mh, "config", setting.id, threshold_eur=str(before["threshold_eur"] - 1_000)
        )
        row = await eventually(
            lambda: _backtest_row(db, change["id"]), what="the backtest to be queued"
        )
        assert row is not None
        assert row.rule_key == RULE and row.days == 90 and row.status in ("queued", "running")

        refused = await _approve(http, db, ch, change["workflow_id"])
        assert refused.status_code == 409, refused.text
        assert "backtest" in refused.json()["message"]
        # Straight to Temporal: the workflow's validator refuses it too.
        task = await task_of(db, change["workflow_id"])
        with pytest.raises(WorkflowUpdateFailedError) as straight:
            await temporal_env.client.get_workflow_handle(change["workflow_id"]).execute_update(
                "decide",
                DecisionInput(
                    task_id=task.id,
                    actor_id=checker.actor.user_id,
                    actor_name=checker.username,
                    actor_roles=["risk_manager"],
                    outcome="approve",
                ),
            )
        assert isinstance(straight.value.cause, ApplicationError)
        assert straight.value.cause.type == "backtest_running"

        async with httpx.AsyncClient(
            transport=http._transport, base_url="http://testserver"
        ) as web:
            await web_login(web, checker.username)
            page = await web.get(f"/cases/{change['case_id']}")
            assert "cannot be approved until its backtest has finished" in page.text
            assert f'/changes/{change["id"]}/backtest" hx-trigger' in page.text
            status = await http.get(f"/api/v1/changes/{change['id']}/backtest", headers=ch)
            assert status.status_code == 200 and status.json()["finished"] is False
        await blocker.rollback()

    done = await _finished(db, temporal_env.client, change["id"])
    assert done.status == "done" and done.result is not None
    assert done.result["rule_key"] == RULE
    async with httpx.AsyncClient(transport=http._transport, base_url="http://testserver") as web:
        await web_login(web, checker.username)
        partial = await web.get(f"/changes/{change['id']}/backtest")
        assert partial.headers.get("HX-Refresh") == "true"
        page = await web.get(f"/cases/{change['case_id']}")
        assert "Backtest over the last 90 days" in page.text and "L1 workload" in page.text
        assert "cannot be approved" not in page.text
    api = (await http.get(f"/api/v1/changes/{change['id']}/backtest", headers=ch)).json()
    assert api["status"] == "done" and api["summary"][0].startswith(f"Backtest of {RULE}")
    # Need-to-know: an engineer reads the counts, not the example alerts' texts.
    engineer = await new_staff(db, "engineer")
    eh = await api_headers(http, engineer.username)
    seen = (await http.get(f"/api/v1/changes/{change['id']}/backtest", headers=eh)).json()
    assert seen["status"] == "done" and seen["result"]["examples"] == []
    assert seen["result"]["proposed"] == api["result"]["proposed"]
    assert api["result"]["examples"], "the narrative reader sees the example alerts"

    approved = await _approve(http, db, ch, change["workflow_id"])
    assert approved.status_code == 200, approved.text
    assert (await load_config(db, RULE)).values.model_dump()["threshold_eur"] == (
        before["threshold_eur"] - 1_000
    )

    # Put the rule back as it was for the rest of the suite (through the same door).
    back = await propose_via_api(
        http, mh, "config", setting.id, threshold_eur=str(before["threshold_eur"])
    )
    await _finished(db, temporal_env.client, back["id"])
    restored = await _approve(http, db, ch, back["workflow_id"])
    assert restored.status_code == 200, restored.text
    assert (await load_config(db, RULE)).values.model_dump(mode="json") == before


async def _change_status(db: Database, change_id: str) -> str | None:
    async with db.session() as session:
        change = await session.get(ChangeRequest, uuid.UUID(change_id))
    assert change is not None
    return None if change.status == ChangeStatus.PENDING_APPROVAL else str(change.status)


async def test_a_forged_backtest_signal_lets_an_approval_through_but_nothing_is_applied(
    http: httpx.AsyncClient,
    db: Database,
    admin_db: Database,
    temporal_env: WorkflowEnvironment,
) -> None:
    """The hold is workflow state a signal lifts; the apply step checks the stored run."""
    maker = await new_staff(db, "risk_manager")
    checker = await new_staff(db, "risk_manager")
    mh, ch = await api_headers(http, maker.username), await api_headers(http, checker.username)
    async with db.session() as session:
        setting = (await session.exec(select(ConfigSetting).where(ConfigSetting.key == RULE))).one()
    before = await load_config(db, RULE)
    async with admin_db.transaction() as blocker:
        await run_sql(blocker, "LOCK TABLE transaction IN ACCESS EXCLUSIVE MODE")
        change = await propose_via_api(
            http,
            mh,
            "config",
            setting.id,
            threshold_eur=str(before.values.model_dump()["threshold_eur"] + 1_000),
        )
        await eventually(lambda: _backtest_row(db, change["id"]), what="the backtest row")
        # Someone with the worker's Temporal credentials lifts the hold by hand.
        await temporal_env.client.get_workflow_handle(change["workflow_id"]).signal(
            "backtest_finished", "done"
        )
        approved = await _approve(http, db, ch, change["workflow_id"])
        assert approved.status_code == 200, approved.text
        ended = await eventually(lambda: _change_status(db, change["id"]), what="the change to end")
        assert ended == ChangeStatus.SUPERSEDED
        row = await _backtest_row(db, change["id"])
        assert row is not None and row.status in ("queued", "running")
        await blocker.rollback()
    after = await load_config(db, RULE)
    assert after.version == before.version and after.values == before.values


async def _cli(
    args: list[str], urls: DatabaseUrls, settings: Settings, *, temporal: str | None = None
) -> tuple[int, str, str]:
    env = environment_without_services()
    env.update(
        DATABASE_URL=urls.app,
        DATABASE_ADMIN_URL=urls.admin,
        TEMPORAL_ADDRESS=temporal or settings.temporal_address,
        TASK_QUEUE=settings.task_queue,
        ENVIRONMENT="test",
    )
    done = await run_command([sys.executable, "-m", "core.cli", "aml", *args], env=env)
    return done.returncode, done.stdout, done.stderr


async def test_the_cli_backtests_a_proposal_and_rejudges_history_idempotently(
    db: Database, db_urls: DatabaseUrls, settings: Settings, worker: None, tmp_path: Path
) -> None:
    [owner] = await new_customers(db, 1, prefix="Backtest CLI")
    # Recent enough for the backtest's last days; a minute apart from anything else.
    now = datetime.now(UTC).replace(microsecond=0)
    await _book(db, owner, "7000.00", now - timedelta(days=3))
    values = tmp_path / "proposed.json"
    values.write_text(json.dumps({"threshold_eur": 6_000}))

    code, out, err = await _cli(
        ["backtest", "--rule", RULE, "--values", str(values), "--days", "7"], db_urls, settings
    )
    assert code == 0, err
    assert f"Backtest of {RULE} over 7 days" in out and "proposed: the values given" in err
    added = re.search(r"alerts: .*\(\+(\d+) / -(\d+)\)", out)
    assert added is not None and int(added.group(1)) >= 1, out

    code, out, err = await _cli(["backtest", "--rule", "aml_case"], db_urls, settings)
    assert code == 2 and "not an AML rule document" in err

    end = _window()
    tx = await _book(db, owner, "60000.00", end - timedelta(days=2))
    day = (end - timedelta(days=10)).date().isoformat()
    period = ["rejudge", "--from", day, "--to", end.date().isoformat()]
    code, out, err = await _cli(period, db_urls, settings)
    assert code == 0, err
    assert "re-judged 1 transactions" in out and re.search(r"[1-9]\d* new alerts routed", out)
    code, out, err = await _cli(period, db_urls, settings)
    assert code == 0, err
    assert "0 new alerts routed to 0 cases" in out
    # Without Temporal it says so, naming the command that needed it.
    code, out, err = await _cli(period, db_urls, settings, temporal="127.0.0.1:1")
    assert code == 1
    assert "aml rejudge needs Temporal, which is not reachable at 127.0.0.1:1" in err
    assert await _alerts_on(db, [tx]) >= 1
    async with db.session() as session:
        actors = (
            await run_sql(
                session,
                "SELECT DISTINCT actor FROM audit_event WHERE action = 'aml.rejudged' "
                "AND details->>'from' LIKE :day",
                {"day": f"{day}%"},
            )
        ).scalars()
        assert all(a.startswith("cli:") for a in actors)


async def test_shadow_alerts_are_listed_with_what_they_would_have_done(
    http: httpx.AsyncClient, db: Database
) -> None:
    first, second = await new_customers(db, 2, prefix="Shadow")
    rule = f"shadow_t{uuid.uuid4().hex[:8]}"
    await _aml_case(db, second, outcome="sar_filed", sar="sar", txns=[])
    async with db.transaction() as session:
        for owner, n in ((first, 2), (second, 1)):
            for _ in range(n):
                session.add(
                    AmlAlert(
                        dedupe_key=f"{rule}:{uuid.uuid4()}",
                        customer_id=owner.id,
                        account_id=owner.account_id,
                        rule_key=rule,
                        rule_version=3,
                        transaction_ids=[],
                        reason="9 distinct senders paid 31 200 EUR in 60 days",
                        shadow=True,
                    )
                )
    mlro = await new_staff(db, "mlro")
    headers = await api_headers(http, mlro.username)
    found = (await http.get(f"/api/v1/aml/shadow?rule={rule}", headers=headers)).json()
    [summary] = [r for r in found["rules"] if r["rule_key"] == rule]
    assert (summary["alerts"], summary["accounts"], summary["customers"]) == (3, 2, 2)
    assert (summary["would_open"], summary["sar_customers"], summary["versions"]) == (2, 1, [3])
    assert summary["l1_hours"] == round(3 * found["l1_minutes_per_alert"] / 60, 1)
    assert found["total"] == 3 and {a["would"] for a in found["items"]} == {"open a new AML case"}
    async with httpx.AsyncClient(transport=http._transport, base_url="http://testserver") as web:
        await web_login(web, mlro.username)
        page = await web.get(f"/aml/shadow?rule={rule}")
    assert page.status_code == 200 and "9 distinct senders paid 31 200 EUR" in page.text
    assert first.reference in page.text and "open a new AML case" in page.text
    kyc = await new_staff(db, "kyc_analyst")
    refused = await http.get("/api/v1/aml/shadow", headers=await api_headers(http, kyc.username))
    assert refused.status_code == 403


async def test_a_backtest_that_cannot_run_is_reported_failed_not_retried_for_ever(
    db: Database, temporal_env: WorkflowEnvironment, settings: Settings, worker: None
) -> None:
    async with db.transaction() as session:
        queued = await queue_backtest(
            session,
            temporal_env.client,
            settings.task_queue,
            key=RULE,
            proposed={"threshold_eur": "not a number"},
            actor=ActorRef(id=None, name="cli:tester"),
            days=1,
        )
    assert queued.workflow_id is not None
    outcome = await asyncio.wait_for(
        temporal_env.client.get_workflow_handle(queued.workflow_id).result(), 60
    )
    status = outcome["status"] if isinstance(outcome, dict) else outcome.status
    assert status == "failed"
    async with db.session() as session:
        row = await session.get(AmlBacktest, queued.id)
    assert row is not None and row.status == "failed" and row.finished_at is not None
    assert row.error is not None and "threshold_eur" in row.error
