"""Role grants under four-eyes (issue 16, item 2): proposal, approval by a different admin,
the grantee and the maker refused at every door, conflicting combinations needing a risk
manager, the end date's timer, and the database door on role_assignment."""

from __future__ import annotations

import getpass
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from audit.trail import ActorRef
from changes.commands.role_grants import propose_role_change
from core.db import Database, DatabaseUrls, run_sql
from core.settings import Settings
from demo import seed
from demo.role_grants import seed_role_grants
from identity import grants, staff
from identity.auth import roles_of
from models.audit import AuditEvent
from models.changes import ChangeRequest
from models.staff import RoleAssignment, StaffUser
from models.workflow_io import DecisionInput
from shared.errors import Conflict, Forbidden, Invalid
from tests.conftest import create_database
from tests.helpers import (
    PASSWORD,
    api_headers,
    environment_without_services,
    eventually,
    new_staff,
    owner_database,
    run_command,
    task_of,
    web_login,
)
from tests.oidc.idp import MAPPING, approve_mapping


async def _roles(db: Database, user_id: uuid.UUID) -> frozenset[str]:
    async with db.session() as session:
        return await roles_of(session, user_id)


async def _status(db: Database, change_id: str) -> str:
    async with db.session() as session:
        change = await session.get(ChangeRequest, uuid.UUID(change_id))
        assert change is not None
        return change.status


async def _propose(
    http: httpx.AsyncClient, headers: dict[str, str], user_id: uuid.UUID, **body: object
) -> httpx.Response:
    payload = {"add": [], "remove": [], "reason": "Joins the AML team this month", **body}
    return await http.post(f"/api/v1/staff/{user_id}/role-changes", json=payload, headers=headers)


async def _approve(http: httpx.AsyncClient, headers: dict[str, str], task_id: uuid.UUID) -> dict:
    claimed = await http.post(f"/api/v1/tasks/{task_id}/claim", headers=headers)
    assert claimed.status_code == 200, claimed.text
    decided = await http.post(
        f"/api/v1/tasks/{task_id}/decision", json={"outcome": "approve"}, headers=headers
    )
    assert decided.status_code == 200, decided.text
    return decided.json()


async def test_a_second_admin_approves_a_role_grant_and_the_person_then_holds_it(
    http: httpx.AsyncClient, db: Database
) -> None:
    maker, checker = await new_staff(db, "admin"), await new_staff(db, "admin")
    analyst = await new_staff(db, "support")
    mh, ch = await api_headers(http, maker.username), await api_headers(http, checker.username)
    proposed = await _propose(http, mh, analyst.actor.user_id, add=["aml_analyst"])
    assert proposed.status_code == 201, proposed.text
    change = proposed.json()
    assert change["tier"] == "standard"
    assert await _roles(db, analyst.actor.user_id) == {"support"}  # nothing before approval

    task = await task_of(db, change["workflow_id"])
    assert task.candidate_role == "admin"
    # The maker cannot approve their own proposal.
    refused = await http.post(f"/api/v1/tasks/{task.id}/claim", headers=mh)
    assert refused.status_code == 403
    assert (await _approve(http, ch, task.id))["case_status"] == "applied"

    assert await _roles(db, analyst.actor.user_id) == {"support", "aml_analyst"}
    async with db.session() as session:
        grant = (
            await session.exec(
                select(RoleAssignment).where(
                    RoleAssignment.user_id == analyst.actor.user_id,
                    RoleAssignment.role == "aml_analyst",
                )
            )
        ).one()
        assert grant.source == "change" and grant.change_id == uuid.UUID(change["id"])
        events = (
            await session.exec(
                select(AuditEvent.action, AuditEvent.actor).where(
                    AuditEvent.object_id == str(change["id"])
                )
            )
        ).all()
    assert ("change.proposed", maker.username) in events
    # The roles panel shows the grant and where it came from.
    await web_login(http, checker.username)
    panel = await http.get(f"/admin/staff/{analyst.actor.user_id}/roles")
    assert panel.status_code == 200
    assert "aml_analyst" in panel.text and "approved change" in panel.text


async def test_nobody_proposes_a_change_of_their_own_roles(
    http: httpx.AsyncClient, db: Database
) -> None:
    admin = await new_staff(db, "admin")
    headers = await api_headers(http, admin.username)
    refused = await _propose(http, headers, admin.actor.user_id, add=["mlro"])
    assert refused.status_code == 403
    assert refused.json()["error"] == "own_roles"
    async with db.session() as session:
        denied = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "role.propose",
                    AuditEvent.object_id == str(admin.actor.user_id),
                )
            )
        ).all()
    assert [e.outcome for e in denied] == ["denied"]
    assert await _roles(db, admin.actor.user_id) == {"admin"}


async def test_only_admins_propose_and_bad_proposals_name_each_field(
    http: httpx.AsyncClient, db: Database, settings: Settings, temporal_env: WorkflowEnvironment
) -> None:
    admin, manager = await new_staff(db, "admin"), await new_staff(db, "ops_manager")
    person = await new_staff(db, "support")
    forbidden = await _propose(
        http, await api_headers(http, manager.username), person.actor.user_id, add=["mlro"]
    )
    assert forbidden.status_code == 403
    headers = await api_headers(http, admin.username)
    bad = await _propose(
        http,
        headers,
        person.actor.user_id,
        add=["support", "wizard"],
        reason="short",
        ends_at="2020-01-01T00:00:00Z",
    )
    assert bad.status_code == 422
    with pytest.raises(Invalid) as invalid:
        await propose_role_change(
            db,
            temporal_env.client,
            settings,
            admin.actor,
            person.actor.user_id,
            add=["support"],
            remove=["mlro"],
            reason="Moves to another team next week",
        )
    assert invalid.value.fields == {"add": "already held: support", "remove": "not held: mlro"}
    with pytest.raises(Forbidden):
        await propose_role_change(
            db,
            temporal_env.client,
            settings,
            admin.actor,
            admin.actor.user_id,
            add=["mlro"],
            remove=[],
            reason="I would like to be the MLRO",
        )


async def test_the_grantee_cannot_approve_a_change_of_their_own_roles_at_any_door(
    http: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment
) -> None:
    maker, grantee = await new_staff(db, "admin"), await new_staff(db, "admin")
    change = (
        await _propose(
            http, await api_headers(http, maker.username), grantee.actor.user_id, add=["auditor"]
        )
    ).json()
    task = await task_of(db, change["workflow_id"])
    gh = await api_headers(http, grantee.username)
    assert (await http.post(f"/api/v1/tasks/{task.id}/claim", headers=gh)).status_code == 403
    decided = await http.post(
        f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=gh
    )
    assert decided.status_code == 403
    # Straight to Temporal, bypassing the web: the workflow's validator refuses too.
    handle = temporal_env.client.get_workflow_handle(change["workflow_id"])
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            "decide",
            DecisionInput(
                task_id=task.id,
                actor_id=grantee.actor.user_id,
                actor_name=grantee.username,
                actor_roles=["admin"],
                outcome="approve",
            ),
        )
    assert getattr(refused.value.cause, "type", None) == "excluded"
    assert await _status(db, change["id"]) == "pending_approval"
    assert "auditor" not in await _roles(db, grantee.actor.user_id)


async def test_a_conflicting_grant_needs_a_risk_manager_and_shows_the_conflict(
    http: httpx.AsyncClient, db: Database
) -> None:
    maker, checker = await new_staff(db, "admin"), await new_staff(db, "admin")
    risk = await new_staff(db, "risk_manager")
    person = await new_staff(db, "product_manager")
    mh, ch = await api_headers(http, maker.username), await api_headers(http, checker.username)
    change = (await _propose(http, mh, person.actor.user_id, add=["ops_manager"])).json()
    assert change["tier"] == "conflict"
    first = await task_of(db, change["workflow_id"])
    second = await task_of(db, change["workflow_id"], key="risk_approve")
    assert second.candidate_role == "risk_manager"
    await _approve(http, ch, first.id)
    # One approval is not enough: the person does not hold the role yet.
    assert "ops_manager" not in await _roles(db, person.actor.user_id)

    # An admin may not take the risk manager's step.
    assert (await http.post(f"/api/v1/tasks/{second.id}/claim", headers=ch)).status_code == 403
    rh = await api_headers(http, risk.username)
    await web_login(http, risk.username)
    page = await http.get(f"/cases/{change['case_id']}")
    assert page.status_code == 200
    assert 'id="role-conflict"' in page.text
    assert "ops_manager + product_manager" in page.text
    assert (await _approve(http, rh, second.id))["case_status"] == "applied"
    assert await _roles(db, person.actor.user_id) == {"product_manager", "ops_manager"}


async def test_a_removal_ends_the_grant_and_keeps_it(http: httpx.AsyncClient, db: Database) -> None:
    maker, checker = await new_staff(db, "admin"), await new_staff(db, "admin")
    person = await new_staff(db, "support", "disputes_agent")
    mh, ch = await api_headers(http, maker.username), await api_headers(http, checker.username)
    change = (await _propose(http, mh, person.actor.user_id, remove=["disputes_agent"])).json()
    await _approve(http, ch, (await task_of(db, change["workflow_id"])).id)
    assert await _roles(db, person.actor.user_id) == {"support"}
    history = (
        await http.get(f"/api/v1/staff/{person.actor.user_id}/role-grants", headers=ch)
    ).json()
    ended = [g for g in history["ended"] if g["role"] == "disputes_agent"]
    assert len(ended) == 1 and "removed by an approved role change" in ended[0]["ended_reason"]


async def test_a_grant_with_an_end_date_ends_by_its_timer(
    http: httpx.AsyncClient, db: Database
) -> None:
    maker, checker = await new_staff(db, "admin"), await new_staff(db, "admin")
    person = await new_staff(db, "support")
    mh, ch = await api_headers(http, maker.username), await api_headers(http, checker.username)
    ends_at = datetime.now(UTC) + timedelta(seconds=20)
    change = (
        await _propose(
            http, mh, person.actor.user_id, add=["kyc_analyst"], ends_at=ends_at.isoformat()
        )
    ).json()
    await _approve(http, ch, (await task_of(db, change["workflow_id"])).id)

    async def ended() -> RoleAssignment | None:
        async with db.session() as session:
            return (
                await session.exec(
                    select(RoleAssignment).where(
                        RoleAssignment.change_id == uuid.UUID(change["id"]),
                        col(RoleAssignment.ended_at).is_not(None),
                    )
                )
            ).first()

    grant = await eventually(ended, what="the timer to end the grant")
    assert grant is not None
    assert grant.ended_reason == grants.EXPIRED_REASON
    assert grant.ended_at is not None and grant.ended_at >= ends_at
    assert "kyc_analyst" not in await _roles(db, person.actor.user_id)


async def test_the_database_refuses_the_app_any_grant_nobody_approved(
    db: Database, admin_db: Database
) -> None:
    person = await new_staff(db, "support")
    uid = person.actor.user_id
    with pytest.raises(DBAPIError, match="role grant refused"):
        async with db.transaction() as session:
            session.add(RoleAssignment(user_id=uid, role="admin"))
    # A forged change reference does not help either.
    with pytest.raises(DBAPIError, match="role grant refused"):
        async with db.transaction() as session:
            session.add(
                RoleAssignment(user_id=uid, role="mlro", source="change", change_id=uuid.uuid4())
            )
    # The bootstrap of the first admin is closed while an active admin exists.
    await new_staff(db, "admin")
    with pytest.raises(DBAPIError, match="first-admin bootstrap is closed"):
        async with db.transaction() as session:
            session.add(RoleAssignment(user_id=uid, role="admin", source="bootstrap"))
    async with db.session() as session:
        grant = (
            await session.exec(select(RoleAssignment).where(RoleAssignment.user_id == uid))
        ).one()
    # Changing the role or the person is refused; deleting is refused (no privilege either).
    for statement in (
        "UPDATE role_assignment SET role = 'admin' WHERE id = :id",
        "UPDATE role_assignment SET expires_at = now() WHERE id = :id",
        "DELETE FROM role_assignment WHERE id = :id",
    ):
        with pytest.raises(DBAPIError):
            async with db.transaction() as session:
                await run_sql(session, statement, {"id": grant.id})
    # Ending it (audited) is allowed; reviving it is not.
    async with db.transaction() as session:
        await grants.end_grant(session, grant.id, "left the team", ActorRef(None, "test"))
    with pytest.raises(DBAPIError, match="never revived"):
        async with db.transaction() as session:
            await run_sql(
                session,
                "UPDATE role_assignment SET ended_at = NULL, ended_reason = NULL WHERE id = :id",
                {"id": grant.id},
            )
    assert await _roles(db, uid) == frozenset()
    # The table owner (migrations, fixtures) is not bound by the door.
    async with admin_db.transaction() as session:
        await grants.provision_roles(session, uid, ["support"])
    assert await _roles(db, uid) == {"support"}


async def test_the_cli_proposes_as_an_admin_with_their_password_and_records_the_os_user(
    db: Database, db_urls: DatabaseUrls, settings: Settings
) -> None:
    admin, person = await new_staff(db, "admin"), await new_staff(db, "support")
    env = environment_without_services()
    env.update(
        DATABASE_URL=db_urls.app,
        DATABASE_ADMIN_URL=db_urls.admin,
        TEMPORAL_ADDRESS=settings.temporal_address,
        TASK_QUEUE=settings.task_queue,
        ENVIRONMENT="test",
    )
    command = [sys.executable, "-m", "core.cli", "user", "propose-roles", person.username]
    args = ["--add", "kyc_analyst", "--reason", "Covers KYC during the audit", "--as"]
    wrong = await run_command([*command, *args, admin.username], env=env, stdin="not-it\n")
    assert wrong.returncode == 1 and "Wrong username or password" in wrong.stderr
    made = await run_command([*command, *args, admin.username], env=env, stdin=f"{PASSWORD}\n")
    assert made.returncode == 0, made.stderr
    assert "awaits another admin's approval" in made.stdout
    async with db.session() as session:
        change = (
            await session.exec(
                select(ChangeRequest).where(
                    ChangeRequest.target_type == "role_grant",
                    ChangeRequest.target_id == person.actor.user_id,
                )
            )
        ).one()
        proposed = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "change.proposed", AuditEvent.object_id == str(change.id)
                )
            )
        ).one()
        refused = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "role.propose",
                    AuditEvent.actor == admin.username,
                    AuditEvent.outcome == "denied",
                )
            )
        ).all()
    assert change.maker_id == admin.actor.user_id and change.after["add"] == ["kyc_analyst"]
    assert proposed.actor == admin.username
    assert proposed.request_id == f"cli:os:{getpass.getuser()}"
    assert len(refused) == 1
    # Not granted until another admin approves.
    assert "kyc_analyst" not in await _roles(db, person.actor.user_id)


async def test_the_demo_shows_a_pending_grant_and_a_conflicting_one_waiting_for_risk(
    db: Database, temporal_env: WorkflowEnvironment, settings: Settings, worker: None
) -> None:
    owner = owner_database(db)
    await seed.seed_staff(owner)
    async with db.session() as session:
        ava = (
            await session.exec(select(StaffUser.id).where(StaffUser.username == "admin.ava"))
        ).first()
    if ava is None:  # until the demo staff list has the second admin (part A)
        await staff.create_user(
            owner, username="admin.ava", password=PASSWORD, roles=["admin"], display_name="Ava"
        )
    await seed_role_grants(db, temporal_env.client, settings)

    async def changes_of(username: str) -> list[ChangeRequest]:
        async with db.session() as session:
            return list(
                (
                    await session.exec(
                        select(ChangeRequest)
                        .join(StaffUser, col(StaffUser.id) == ChangeRequest.target_id)
                        .where(
                            ChangeRequest.target_type == "role_grant",
                            StaffUser.username == username,
                        )
                    )
                ).all()
            )

    (pending,) = await changes_of("support.sam")
    assert pending.status == "pending_approval" and pending.after["add"] == ["kyc_analyst"]
    assert pending.after["ends_at"] is not None
    (conflict,) = await changes_of("pm.pedro")
    assert conflict.tier == "conflict" and conflict.status == "pending_approval"
    admin_step = await task_of(db, conflict.workflow_id)
    risk_step = await task_of(db, conflict.workflow_id, key="risk_approve")
    assert (admin_step.status, admin_step.outcome) == ("done", "approve")
    assert risk_step.status == "open" and risk_step.candidate_role == "risk_manager"


async def test_the_database_lets_in_only_the_roles_the_sso_mapping_in_force_gives(
    http: httpx.AsyncClient, db: Database
) -> None:
    earlier = await approve_mapping(http, db, "bank-aml: aml_analyst mlro")
    mapping = await approve_mapping(http, db, MAPPING)  # bank-ops: ops_manager; bank-aml: …
    person = await new_staff(db, "support")
    uid = person.actor.user_id
    async with db.transaction() as session:  # as the app, the way identity.sso writes it
        session.add(
            RoleAssignment(user_id=uid, role="ops_manager", source="sso", change_id=mapping)
        )
    assert "ops_manager" in await _roles(db, uid)
    with pytest.raises(DBAPIError, match="role grant refused"):
        async with db.transaction() as session:
            session.add(RoleAssignment(user_id=uid, role="mlro", source="sso", change_id=mapping))
    # Only the change that wrote the version in force counts, not an earlier approved one.
    with pytest.raises(DBAPIError, match="role grant refused"):
        async with db.transaction() as session:
            session.add(RoleAssignment(user_id=uid, role="mlro", source="sso", change_id=earlier))


async def test_the_first_admin_is_bootstrapped_only_while_no_active_admin_exists(
    pg_socket: Path,
) -> None:
    urls = create_database(pg_socket, f"bo_bootstrap_{uuid.uuid4().hex[:8]}")
    fresh = Database(urls.app, pool_size=2, application_name="tests-bootstrap")
    try:
        people = []
        async with fresh.transaction() as session:
            for name in ("first", "second"):
                user = StaffUser(username=name, display_name=name, password_hash="x")
                session.add(user)
                people.append(user)
        first, second = people
        cli = ActorRef(None, "os:tester")
        async with fresh.transaction() as session:
            await grants.bootstrap_first_admin(session, first.id, actor=cli)
        assert await _roles(fresh, first.id) == {"admin"}
        with pytest.raises(Conflict) as closed:
            async with fresh.transaction() as session:
                await grants.bootstrap_first_admin(session, second.id, actor=cli)
        assert closed.value.code == "admin_exists"
        # Past the Python check, the database refuses it as well.
        with pytest.raises(DBAPIError, match="bootstrap is closed"):
            async with fresh.transaction() as session:
                session.add(RoleAssignment(user_id=second.id, role="admin", source="bootstrap"))
        # Only the admin role is bootstrapped, never another.
        async with fresh.transaction() as session:
            await run_sql(
                session, "UPDATE staff_user SET is_active = false WHERE id = :id", {"id": first.id}
            )
        with pytest.raises(DBAPIError, match="role grant refused"):
            async with fresh.transaction() as session:
                session.add(RoleAssignment(user_id=second.id, role="mlro", source="bootstrap"))
        # With no active admin left (the first is disabled), the bootstrap opens again.
        async with fresh.transaction() as session:
            await grants.bootstrap_first_admin(session, second.id, actor=cli)
        assert await _roles(fresh, second.id) == {"admin"}
    finally:
        await fresh.dispose()


async def test_the_changes_list_names_the_roles_a_role_change_adds(
    http: httpx.AsyncClient, db: Database
) -> None:
    maker, person = await new_staff(db, "admin"), await new_staff(db, "product_manager")
    mh = await api_headers(http, maker.username)
    change = (await _propose(http, mh, person.actor.user_id, add=["ops_manager"])).json()
    await web_login(http, maker.username)
    listing = await http.get("/changes", params={"mine": "true"})
    assert listing.status_code == 200
    row = next(r for r in listing.text.split("<tr>") if change["reference"] in r)
    assert "+ops_manager" in row and "conflict: ops_manager + product_manager" in row
    assert f"/admin/staff/{person.actor.user_id}/roles" in row
