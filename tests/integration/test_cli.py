"""The `backoffice` command line against the test database."""

from __future__ import annotations

import getpass
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from core.db import Database, DatabaseUrls
from core.settings import Settings
from identity import invitations
from identity.auth import roles_of
from models.audit import AuditEvent
from models.staff import RoleAssignment, StaffUser
from tests.conftest import create_database
from tests.helpers import environment_without_services, new_staff, run_command


async def _cli(
    args: list[str], urls: DatabaseUrls, settings: Settings, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = environment_without_services()
    env.update(
        DATABASE_URL=urls.app,
        DATABASE_ADMIN_URL=urls.admin,
        TEMPORAL_ADDRESS=settings.temporal_address,
        ENVIRONMENT="test",
    )
    return await run_command([sys.executable, "-m", "core.cli", *args], env=env, stdin=stdin)


async def _audit_actors(db: Database, action: str, user_id: object) -> list[str]:
    async with db.session() as session:
        rows = await session.exec(
            select(AuditEvent.actor).where(
                AuditEvent.action == action, AuditEvent.object_id == str(user_id)
            )
        )
        return list(rows.all())


async def test_user_create_without_roles_reads_the_password_and_names_the_os_user(
    db: Database, db_urls: DatabaseUrls, settings: Settings
) -> None:
    name = f"cli.carla-{uuid.uuid4().hex[:6]}"
    made = await _cli(
        ["user", "create", name, "--display-name", "Carla CLI"],
        db_urls,
        settings,
        stdin="a-long-secret-passphrase\n",
    )
    assert made.returncode == 0, made.stderr
    assert f"created {name} (no roles" in made.stdout
    async with db.session() as session:
        user = (await session.exec(select(StaffUser).where(StaffUser.username == name))).one()
        assert await roles_of(session, user.id) == frozenset()
    assert user.password_hash.startswith("$argon2id$")
    assert await _audit_actors(db, "staff.created", user.id) == [f"cli:{getpass.getuser()}"]

    disabled = await _cli(["user", "disable", name], db_urls, settings)
    assert disabled.returncode == 0, disabled.stderr
    assert await _audit_actors(db, "staff.disabled", user.id) == [f"cli:{getpass.getuser()}"]

    again = await _cli(
        ["user", "create", name], db_urls, settings, stdin="a-long-secret-passphrase\n"
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = await _cli(["user", "create", "Bad Name"], db_urls, settings, stdin="short\n")
    assert bad.returncode == 1
    for field in ("username", "password"):
        assert f"  {field}:" in bad.stderr


async def test_user_create_with_roles_is_refused_once_an_admin_exists(
    db: Database, db_urls: DatabaseUrls, settings: Settings
) -> None:
    await new_staff(db, "admin")
    name = f"cli.rolf-{uuid.uuid4().hex[:6]}"
    for roles in (["ops_manager"], ["admin"]):
        args = ["user", "create", name]
        for role in roles:
            args += ["--role", role]
        refused = await _cli(args, db_urls, settings, stdin="a-long-secret-passphrase\n")
        assert refused.returncode == 1
        assert "an administrator already exists" in refused.stderr
        assert f"backoffice user propose-roles {name}" in refused.stderr
    async with db.session() as session:
        assert (
            await session.exec(select(StaffUser).where(StaffUser.username == name))
        ).first() is None


async def test_the_first_admin_is_created_only_while_no_admin_exists(
    pg_socket: Path, settings: Settings
) -> None:
    """A database of its own: the shared one has admins made by other tests."""
    urls = create_database(pg_socket, f"bo_boot_{uuid.uuid4().hex[:8]}")
    db = Database(urls.app, application_name="tests-bootstrap")
    try:
        others = await _cli(
            ["user", "create", "first.one", "--role", "ops_manager", "--role", "admin"],
            urls,
            settings,
            stdin="a-long-secret-passphrase\n",
        )
        assert others.returncode == 1 and "admin role only" in others.stderr
        first = await _cli(
            [
                "user",
                "create",
                "first.one",
                "--role",
                "admin",
                "--second-admin",
                "first.two",
                "--second-admin-email",
                "first.two@bank.example",
            ],
            urls,
            settings,
            stdin="a-long-secret-passphrase\n",
        )
        assert first.returncode == 0, first.stderr
        assert "the first two administrators" in first.stdout
        token = first.stdout.rsplit("/set-password/", 1)[1].strip()
        assert await invitations.link_holder(db, token) is not None
        async with db.session() as session:
            pair = (
                await session.exec(
                    select(StaffUser).where(col(StaffUser.username).in_(["first.one", "first.two"]))
                )
            ).all()
            assert len(pair) == 2
            for user in pair:
                assert await roles_of(session, user.id) == {"admin"}
        user = next(u for u in pair if u.username == "first.one")
        assert await _audit_actors(db, "role.granted", user.id) == [f"cli:{getpass.getuser()}"]
        # The database door itself lets one transaction make two bootstrap admins at most,
        # and none once an admin exists.
        with pytest.raises(DBAPIError, match="bootstrap is closed"):
            async with db.transaction() as session:
                third = StaffUser(username="third.one", display_name="third", password_hash="!")
                session.add(third)
                await session.flush()
                session.add(RoleAssignment(user_id=third.id, role="admin", source="bootstrap"))
        second = await _cli(
            ["user", "create", "second.one", "--role", "admin"],
            urls,
            settings,
            stdin="a-long-secret-passphrase\n",
        )
        assert second.returncode == 1 and "propose-roles second.one" in second.stderr
        plain = await _cli(
            ["user", "create", "second.one"], urls, settings, stdin="a-long-secret-passphrase\n"
        )
        assert plain.returncode == 0, plain.stderr
    finally:
        await db.dispose()


async def test_migrate_is_idempotent(db_urls: DatabaseUrls, settings: Settings) -> None:
    first = await _cli(["migrate"], db_urls, settings)
    assert first.returncode == 0, first.stderr
    assert "up to date" in first.stdout
    assert (await _cli(["migrate"], db_urls, settings)).returncode == 0


async def test_user_unlock_and_reset_password_from_the_cli(
    db: Database, db_urls: DatabaseUrls, settings: Settings
) -> None:
    person = await new_staff(db, "support")
    os_user = f"cli:{getpass.getuser()}"
    unlocked = await _cli(["user", "unlock", person.username], db_urls, settings)
    assert unlocked.returncode == 0, unlocked.stderr
    assert f"unlocked {person.username}" in unlocked.stdout
    assert await _audit_actors(db, "staff.unlocked", person.actor.user_id) == [os_user]
    reset = await _cli(["user", "reset-password", person.username], db_urls, settings)
    assert reset.returncode == 0, reset.stderr
    assert "e-mail: no e-mail address" in reset.stdout  # test staff have none
    token = reset.stdout.rsplit("/set-password/", 1)[1].strip()
    assert await invitations.link_holder(db, token) is not None
    assert await _audit_actors(db, "staff.password_reset", person.actor.user_id) == [os_user]
    missing = await _cli(["user", "unlock", "nobody-here"], db_urls, settings)
    assert missing.returncode == 1 and "No staff user" in missing.stderr
