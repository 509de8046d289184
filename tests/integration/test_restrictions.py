"""Account restrictions during an AML case: placed at once, lifted only by a second MLRO.

Each test makes its own customer, accounts and open AML case rows (the AML case workflow
is not needed to restrict an account: the restriction only needs the case to be open).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlmodel import col, func, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.changes import ChangeActivities
from casework import cases as case_service
from casework import tasks as task_service
from core.db import Database
from models.aml import AccountRestriction, AmlCase
from models.audit import AuditEvent
from models.base import utcnow
from models.cases import Case, Decision
from models.changes import ChangeRequest
from models.onboarding import Account
from models.workflow_io import ApplyChangeInput, DecisionInput
from shared.errors import Forbidden
from tests.aml_data import new_customers
from tests.helpers import api_headers, eventually, new_staff, task_of, web_login

REASON = "Structuring pattern under investigation; block outgoing payments."
LIFT_REASON = "Investigation closed without suspicion; the customer may pay again."


@dataclass
class AmlSetup:
    customer_id: uuid.UUID
    account_id: uuid.UUID
    iban: str
    case_id: uuid.UUID
    case_reference: str
    workflow_id: str


async def _customer(db: Database, accounts: int = 1) -> tuple[uuid.UUID, list[Account]]:
    [made] = await new_customers(db, 1, accounts=accounts, risk_level="medium")
    async with db.session() as session:
        rows = [await session.get(Account, a.id) for a in made.accounts]
    return made.id, [row for row in rows if row is not None]


async def _aml_case(db: Database, customer_id: uuid.UUID, *, closed: bool = False) -> Case:
    case_id = uuid.uuid4()
    now = utcnow()
    async with db.transaction() as session:
        case = Case(
            id=case_id,
            reference=f"AML-T{uuid.uuid4().hex[:8].upper()}",
            case_type="aml",
            title="AML alerts (test)",
            stage="closed" if closed else "l2",
            status="closed" if closed else "open",
            subject_type="customer",
            subject_id=str(customer_id),
            workflow_id=f"aml-{case_id}",
            opened_at=now,
            closed_at=now if closed else None,
            customer_id=customer_id,
        )
        session.add(case)
        await session.flush()
        session.add(
            AmlCase(
                case_id=case_id,
                customer_id=customer_id,
                tier="closed" if closed else "l2",
                detected_at=now,
                sar_due_at=now + timedelta(days=30),
                closed_at=now if closed else None,
            )
        )
    return case


async def _setup(db: Database, *, closed: bool = False) -> AmlSetup:
    customer_id, accounts = await _customer(db)
    case = await _aml_case(db, customer_id, closed=closed)
    return AmlSetup(
        customer_id,
        accounts[0].id,
        accounts[0].iban,
        case.id,
        case.reference,
        case.workflow_id,
    )


async def _restrictions(db: Database, account_id: uuid.UUID) -> list[AccountRestriction]:
    async with db.session() as session:
        return list(
            (
                await session.exec(
                    select(AccountRestriction).where(AccountRestriction.account_id == account_id)
                )
            ).all()
        )


async def _events(db: Database, action: str, object_id: uuid.UUID) -> list[AuditEvent]:
    async with db.session() as session:
        return list(
            (
                await session.exec(
                    select(AuditEvent)
                    .where(AuditEvent.action == action, AuditEvent.object_id == str(object_id))
                    .order_by(col(AuditEvent.id))
                )
            ).all()
        )


async def _restrict(
    http: httpx.AsyncClient, headers: dict[str, str], setup: AmlSetup, **body: str
) -> httpx.Response:
    payload = {"account_id": str(setup.account_id), "reason": REASON, **body}
    return await http.post(
        f"/api/v1/cases/{setup.case_id}/restrictions", json=payload, headers=headers
    )


def _web(http: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=http._transport, base_url="http://testserver")


# ----------------------------------------------------------------------------- restrict
async def test_investigator_restricts_an_account_at_once_and_it_is_audited_on_the_case(
    http: httpx.AsyncClient, db: Database
) -> None:
    setup = await _setup(db)
    investigator = await new_staff(db, "aml_investigator")
    headers = await api_headers(http, investigator.username)

    placed = await _restrict(http, headers, setup)
    assert placed.status_code == 201, placed.text
    body = placed.json()
    assert body["status"] == "active" and body["placed"] is True
    assert body["case_reference"] == setup.case_reference and body["iban"] == setup.iban
    assert body["created_by"] == investigator.username

    core_banking = await new_staff(db, "upstream_system")
    read = await http.get(
        f"/api/v1/accounts/{setup.account_id}/restrictions",
        headers=await api_headers(http, core_banking.username),
    )
    assert read.status_code == 200, read.text
    assert read.json()["outgoing_blocked"] is True
    [seen] = read.json()["restrictions"]
    assert seen["id"] == body["id"] and seen["status"] == "active"
    # Core banking learns that the account is blocked, not why (no tipping off).
    assert seen["reason"] is None and seen["case_reference"] is None

    events = await _events(db, "account.restricted", setup.account_id)
    assert len(events) == 1
    event = events[0]
    assert event.actor == investigator.username and event.outcome == "success"
    assert event.reason == REASON and event.details["restriction_id"] == body["id"]
    view = await case_service.get_case(db, investigator.actor, setup.case_id)
    assert view is not None
    assert "account.restricted" in [e.action for e in view.timeline]


async def test_the_mlro_may_restrict_too(http: httpx.AsyncClient, db: Database) -> None:
    setup = await _setup(db)
    mlro = await new_staff(db, "mlro")
    placed = await _restrict(http, await api_headers(http, mlro.username), setup)
    assert placed.status_code == 201, placed.text


async def test_restricting_twice_or_at_once_keeps_one_restriction(
    http: httpx.AsyncClient, db: Database
) -> None:
    setup = await _setup(db)
    investigator = await new_staff(db, "aml_investigator")
    headers = await api_headers(http, investigator.username)

    responses = await asyncio.gather(*(_restrict(http, headers, setup) for _ in range(5)))
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    again = await _restrict(http, headers, setup, reason="A second reason, for the same block.")
    assert again.status_code == 200 and again.json()["placed"] is False
    assert again.json()["reason"] == REASON  # the one restriction, unchanged

    assert len(await _restrictions(db, setup.account_id)) == 1
    assert len(await _events(db, "account.restricted", setup.account_id)) == 1


@pytest.mark.parametrize("role", ["aml_analyst", "support", "auditor"])
async def test_analysts_support_and_auditors_may_not_restrict(
    http: httpx.AsyncClient, db: Database, role: str
) -> None:
    setup = await _setup(db)
    user = await new_staff(db, role)
    refused = await _restrict(http, await api_headers(http, user.username), setup)
    assert refused.status_code == 403
    assert refused.json()["error"] == "permission_denied"
    assert await _restrictions(db, setup.account_id) == []
    denied = await _events(db, "account.restrict", setup.case_id)
    assert [(e.actor, e.outcome) for e in denied] == [(user.username, "denied")]


async def test_a_closed_case_restricts_nothing(http: httpx.AsyncClient, db: Database) -> None:
    setup = await _setup(db, closed=True)
    investigator = await new_staff(db, "aml_investigator")
    refused = await _restrict(http, await api_headers(http, investigator.username), setup)
    assert refused.status_code == 409
    assert refused.json()["error"] == "case_closed"
    assert "only while the customer's AML case is open" in refused.json()["message"]
    assert await _restrictions(db, setup.account_id) == []
    assert len(await _events(db, "account.restrict", setup.case_id)) == 1


async def test_an_account_of_another_customer_or_no_reason_is_refused_field_by_field(
    http: httpx.AsyncClient, db: Database
) -> None:
    setup = await _setup(db)
    _, others = await _customer(db)
    investigator = await new_staff(db, "aml_investigator")
    headers = await api_headers(http, investigator.username)

    refused = await _restrict(http, headers, setup, account_id=str(others[0].id), reason=" ")
    assert refused.status_code == 422
    fields = refused.json()["fields"]
    assert set(fields) == {"account_id", "reason"}
    assert setup.case_reference in fields["account_id"]
    assert await _restrictions(db, others[0].id) == []

    unknown = await _restrict(http, headers, setup, account_id=str(uuid.uuid4()))
    assert unknown.status_code == 422
    assert unknown.json()["fields"]["account_id"] == fields["account_id"]  # not an oracle


async def test_unknown_or_non_aml_cases_are_not_found(
    http: httpx.AsyncClient, db: Database
) -> None:
    setup = await _setup(db)
    investigator = await new_staff(db, "aml_investigator")
    headers = await api_headers(http, investigator.username)
    missing = await http.post(
        f"/api/v1/cases/{uuid.uuid4()}/restrictions",
        json={"account_id": str(setup.account_id), "reason": REASON},
        headers=headers,
    )
    assert missing.status_code == 404
    other_id = uuid.uuid4()
    async with db.transaction() as session:
        session.add(
            Case(
                id=other_id,
                reference=f"SCR-T{other_id.hex[:8].upper()}",
                case_type="screening_alert",
                title="Not an AML case",
                subject_type="customer",
                subject_id=str(setup.customer_id),
                workflow_id=f"screening-{other_id}",
                customer_id=setup.customer_id,
            )
        )
    not_aml = await http.post(
        f"/api/v1/cases/{other_id}/restrictions",
        json={"account_id": str(setup.account_id), "reason": REASON},
        headers=headers,
    )
    assert not_aml.status_code == 404
    assert await _restrictions(db, setup.account_id) == []
    unknown = await http.post(
        f"/api/v1/restrictions/{uuid.uuid4()}/lift", json={"reason": LIFT_REASON}, headers=headers
    )
    assert unknown.status_code == 404
    no_account = await http.get(f"/api/v1/accounts/{uuid.uuid4()}/restrictions", headers=headers)
    assert no_account.status_code == 404
    pm = await new_staff(db, "product_manager")
    forbidden = await http.get(
        f"/api/v1/accounts/{setup.account_id}/restrictions",
        headers=await api_headers(http, pm.username),
    )
    assert forbidden.status_code == 403


async def test_the_restrict_form_needs_csrf_and_returns_to_the_case(
    http: httpx.AsyncClient, db: Database
) -> None:
    setup = await _setup(db)
    investigator = await new_staff(db, "aml_investigator")
    url = f"/cases/{setup.case_id}/restrict"
    async with _web(http) as web:
        csrf = await web_login(web, investigator.username)
        forged = await web.post(url, data={"account_id": str(setup.account_id), "reason": REASON})
        assert forged.status_code == 403
        assert await _restrictions(db, setup.account_id) == []

        short = await web.post(
            url,
            data={"csrf_token": csrf, "account_id": str(setup.account_id), "reason": "too short"},
        )
        assert short.status_code == 422
        assert ">too short</textarea>" in short.text  # nothing typed is lost
        assert "at least 10 characters" in short.text

        done = await web.post(
            url, data={"csrf_token": csrf, "account_id": str(setup.account_id), "reason": REASON}
        )
        assert done.status_code == 303
        assert done.headers["location"].endswith(f"/cases/{setup.case_id}?notice=restricted")
        assert [r.reason for r in await _restrictions(db, setup.account_id)] == [REASON]

        panel = await web.post(
            url,
            data={"csrf_token": csrf, "account_id": str(setup.account_id), "reason": REASON},
            headers={"HX-Request": "true", "HX-Target": "restrictions"},
        )
        assert panel.status_code == 200
        assert 'id="restrictions"' in panel.text and setup.iban in panel.text
        assert "already restricted; nothing changed" in panel.text
    assert len(await _restrictions(db, setup.account_id)) == 1


async def test_an_analyst_posting_the_form_is_refused_and_audited(
    http: httpx.AsyncClient, db: Database
) -> None:
    setup = await _setup(db)
    analyst = await new_staff(db, "aml_analyst")
    async with _web(http) as web:
        csrf = await web_login(web, analyst.username)
        refused = await web.post(
            f"/cases/{setup.case_id}/restrict",
            data={"csrf_token": csrf, "account_id": str(setup.account_id), "reason": REASON},
        )
        assert refused.status_code == 403
    assert await _restrictions(db, setup.account_id) == []
    assert [e.outcome for e in await _events(db, "account.restrict", setup.case_id)] == ["denied"]


# ----------------------------------------------------------------------------- lift
async def _restricted(http: httpx.AsyncClient, db: Database) -> tuple[AmlSetup, str]:
    setup = await _setup(db)
    investigator = await new_staff(db, "aml_investigator")
    placed = await _restrict(http, await api_headers(http, investigator.username), setup)
    assert placed.status_code == 201, placed.text
    return setup, placed.json()["id"]


async def _propose_lift(
    http: httpx.AsyncClient, headers: dict[str, str], restriction_id: str
) -> httpx.Response:
    return await http.post(
        f"/api/v1/restrictions/{restriction_id}/lift", json={"reason": LIFT_REASON}, headers=headers
    )


async def test_a_lift_is_a_change_the_maker_cannot_approve_and_another_mlro_can(
    http: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment
) -> None:
    setup, restriction_id = await _restricted(http, db)
    maker = await new_staff(db, "mlro", "admin")  # admins are not exempt
    checker = await new_staff(db, "mlro")
    mh, ch = await api_headers(http, maker.username), await api_headers(http, checker.username)

    proposed = await _propose_lift(http, mh, restriction_id)
    assert proposed.status_code == 202, proposed.text
    change = proposed.json()
    detail = (await http.get(f"/api/v1/changes/{change['id']}", headers=mh)).json()
    assert detail["target_type"] == "restriction" and detail["target_id"] == restriction_id
    assert detail["before"]["status"] == "active" and detail["after"]["status"] == "lifted"
    assert list(detail["before"]) == ["status", "kind", "account", "since", "case"]
    assert {k for k, v in detail["after"].items() if v != detail["before"][k]} == {"status"}
    assert detail["before"]["account"] == setup.iban
    assert detail["before"]["case"] == setup.case_reference
    assert setup.iban in detail["target_label"] and detail["base_version"] == 1
    task = await task_of(db, change["workflow_id"])
    assert task.kind == "restriction_lift_approval" and task.candidate_role == "mlro"
    assert maker.actor.user_id in task.excluded_actors

    # The maker, through every door: JSON API, the domain choke point, the workflow itself.
    claim = await http.post(f"/api/v1/tasks/{task.id}/claim", headers=mh)
    assert claim.status_code == 403 and claim.json()["error"] == "maker_cannot_decide"
    decide = await http.post(
        f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=mh
    )
    assert decide.status_code == 403
    with pytest.raises(Forbidden):
        await task_service.decide_task(
            db,
            temporal_env.client,
            maker.actor,
            task.id,
            outcome="approve",
            reason=None,
            comment=None,
        )
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await temporal_env.client.get_workflow_handle(change["workflow_id"]).execute_update(
            "decide",
            DecisionInput(
                task_id=task.id,
                actor_id=maker.actor.user_id,
                actor_name=maker.username,
                actor_roles=["mlro", "admin"],
                outcome="approve",
            ),
        )
    assert getattr(refused.value.cause, "type", None) == "maker_cannot_decide"
    [still] = await _restrictions(db, setup.account_id)
    assert still.lifted_at is None

    # An investigator may propose but not approve.
    investigator = await new_staff(db, "aml_investigator")
    ih = await api_headers(http, investigator.username)
    assert (await http.post(f"/api/v1/tasks/{task.id}/claim", headers=ih)).status_code == 403

    assert (await http.post(f"/api/v1/tasks/{task.id}/claim", headers=ch)).status_code == 200
    approved = await http.post(
        f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=ch
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["case_status"] == "applied"

    [lifted] = await _restrictions(db, setup.account_id)
    assert lifted.lifted_at is not None and str(lifted.lift_change_id) == change["id"]
    read = await http.get(f"/api/v1/accounts/{setup.account_id}/restrictions", headers=ch)
    assert read.json()["outgoing_blocked"] is False
    assert read.json()["restrictions"][0]["reason"] == REASON  # the MLRO sees why
    assert read.json()["restrictions"][0]["lift_change_reference"] == change["reference"]
    applied = await _events(db, "change.applied", uuid.UUID(restriction_id))
    assert len(applied) == 1 and applied[0].details["change_id"] == change["id"]

    # A second approval, a replayed decision and a replayed apply step change nothing.
    replay = await http.post(
        f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=ch
    )
    assert replay.status_code in (200, 409), replay.text
    other = await new_staff(db, "mlro")
    late = await http.post(
        f"/api/v1/tasks/{task.id}/claim", headers=await api_headers(http, other.username)
    )
    assert late.status_code == 409
    again = await ChangeActivities(db).apply_change(
        ApplyChangeInput(
            change_id=uuid.UUID(change["id"]),
            case_id=uuid.UUID(change["case_id"]),
            workflow_id=change["workflow_id"],
        )
    )
    assert again.applied is True and again.new_version == 2
    [unchanged] = await _restrictions(db, setup.account_id)
    assert unchanged.lifted_at == lifted.lifted_at
    assert len(await _events(db, "change.applied", uuid.UUID(restriction_id))) == 1
    async with db.session() as session:
        decisions = (
            await session.exec(
                select(func.count()).select_from(Decision).where(Decision.task_id == task.id)
            )
        ).one()
    assert decisions == 1

    # Lifted: the account may be restricted again (a new restriction), and not lifted twice.
    relift = await _propose_lift(http, mh, restriction_id)
    assert relift.status_code == 409 and relift.json()["error"] == "already_lifted"


async def test_an_investigator_proposes_and_a_second_proposal_waits_for_the_first(
    http: httpx.AsyncClient, db: Database
) -> None:
    _, restriction_id = await _restricted(http, db)
    investigator = await new_staff(db, "aml_investigator")
    ih = await api_headers(http, investigator.username)

    short = await http.post(
        f"/api/v1/restrictions/{restriction_id}/lift", json={"reason": "ok"}, headers=ih
    )
    assert short.status_code == 422 and "reason" in short.json()["fields"]
    first = await _propose_lift(http, ih, restriction_id)
    assert first.status_code == 202, first.text
    second = await _propose_lift(
        http, await api_headers(http, (await new_staff(db, "mlro")).username), restriction_id
    )
    assert second.status_code == 409 and second.json()["error"] == "lift_pending"
    assert first.json()["reference"] in second.json()["message"]

    analyst = await new_staff(db, "aml_analyst")
    refused = await _propose_lift(http, await api_headers(http, analyst.username), restriction_id)
    assert refused.status_code == 403
    async with db.session() as session:
        count = (
            await session.exec(
                select(func.count())
                .select_from(ChangeRequest)
                .where(ChangeRequest.target_id == uuid.UUID(restriction_id))
            )
        ).one()
    assert count == 1


async def test_an_approval_is_void_once_the_restriction_was_lifted_meanwhile(
    http: httpx.AsyncClient, db: Database, admin_db: Database
) -> None:
    setup, restriction_id = await _restricted(http, db)
    maker, checker = await new_staff(db, "mlro"), await new_staff(db, "mlro")
    change = (
        await _propose_lift(http, await api_headers(http, maker.username), restriction_id)
    ).json()
    task = await task_of(db, change["workflow_id"])
    # Lifted by another path after the proposal (as if by another change).
    other_change = uuid.uuid4()
    async with admin_db.transaction() as session:
        restriction = await session.get(AccountRestriction, uuid.UUID(restriction_id))
        assert restriction is not None
        restriction.lifted_at = utcnow()
        restriction.lift_change_id = other_change
        session.add(restriction)

    ch = await api_headers(http, checker.username)
    assert (await http.post(f"/api/v1/tasks/{task.id}/claim", headers=ch)).status_code == 200
    stale = await http.post(
        f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=ch
    )
    assert stale.status_code == 409 and stale.json()["error"] == "stale_target"

    async def superseded() -> bool:
        detail = (await http.get(f"/api/v1/changes/{change['id']}", headers=ch)).json()
        return detail["status"] == "superseded"

    await eventually(superseded, what="the lift to be voided")
    [row] = await _restrictions(db, setup.account_id)
    assert row.lift_change_id == other_change


async def test_the_lift_form_proposes_a_change_shown_with_its_diff(
    http: httpx.AsyncClient, db: Database
) -> None:
    setup, restriction_id = await _restricted(http, db)
    investigator = await new_staff(db, "aml_investigator")
    url = f"/restrictions/{restriction_id}/lift"
    async with _web(http) as web:
        csrf = await web_login(web, investigator.username)
        assert (await web.post(url, data={"reason": LIFT_REASON})).status_code == 403

        short = await web.post(url, data={"csrf_token": csrf, "reason": "not yet"})
        assert short.status_code == 422 and ">not yet</textarea>" in short.text

        done = await web.post(url, data={"csrf_token": csrf, "reason": LIFT_REASON})
        assert done.status_code == 303, done.text
        assert done.headers["location"].endswith("?notice=proposed")
        page = await web.get(done.headers["location"])
        assert page.status_code == 200
        assert setup.iban in page.text and "lifted" in page.text

        panel = await web.post(
            url,
            data={"csrf_token": csrf, "reason": LIFT_REASON},
            headers={"HX-Request": "true", "HX-Target": "restrictions"},
        )
        assert panel.status_code == 409  # one lift at a time; the notice says which
        assert "already asks to lift" in panel.text
