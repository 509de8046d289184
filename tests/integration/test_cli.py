"""The `backoffice` command line against the test database."""

from __future__ import annotations

import subprocess
import sys

from sqlmodel import select

from core.db import Database, DatabaseUrls
from core.settings import Settings
from identity.auth import roles_of
from models.staff import StaffUser
from tests.helpers import environment_without_services, run_command


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


async def test_user_create_reads_the_password_from_stdin(
    db: Database, db_urls: DatabaseUrls, settings: Settings
) -> None:
    made = await _cli(
        [
            "user",
            "create",
            "cli.carla",
            "--role",
            "ops_manager",
            "--role",
            "auditor",
            "--display-name",
            "Carla CLI",
        ],
        db_urls,
        settings,
        stdin="a-long-secret-passphrase\n",
    )
    assert made.returncode == 0, made.stderr
    assert "created cli.carla (auditor, ops_manager)" in made.stdout
    async with db.session() as session:
        user = (
            await session.exec(select(StaffUser).where(StaffUser.username == "cli.carla"))
        ).one()
        assert await roles_of(session, user.id) == {"ops_manager", "auditor"}
    assert user.password_hash.startswith("$argon2id$")

    again = await _cli(
        ["user", "create", "cli.carla", "--role", "ops_manager"],
        db_urls,
        settings,
        stdin="a-long-secret-passphrase\n",
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = await _cli(
        ["user", "create", "Bad Name", "--role", "wizard"], db_urls, settings, stdin="short\n"
    )
    assert bad.returncode == 1
    for field in ("username", "password", "roles"):
        assert f"  {field}:" in bad.stderr


async def test_migrate_is_idempotent(db_urls: DatabaseUrls, settings: Settings) -> None:
    first = await _cli(["migrate"], db_urls, settings)
    assert first.returncode == 0, first.stderr
    assert "up to date" in first.stdout
    assert (await _cli(["migrate"], db_urls, settings)).returncode == 0
