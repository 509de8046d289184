"""`backoffice migrate`: create the database, run Alembic, grant the app role least privilege."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import sql
from sqlalchemy.engine import make_url

from core.db import APP_DATABASE, DatabaseUrls, libpq_url

log = logging.getLogger(__name__)

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "migrations" / "alembic.ini"

# The app may add to these but never rewrite or remove from them.
# Reconciliation lines and matches are evidence: a match is never edited, only added.
APPEND_ONLY_TABLES = (
    "audit_event",
    "audit_checkpoint",
    "decision",
    "account_adjustment",
    "recon_line",
    "recon_match",
    "recon_match_line",
    "recon_match_record",
    # Case notes are never edited (a correction is a new note); citations are evidence.
    "case_note",
    "case_attachment_citation",
)
# Rows the app updates (their status moves) but never removes: a statement and its breaks
# are what the lines and matches are evidence of (recon_discard_refused_lines, migration
# 0014, refuses a statement that has a match or a break).
# An attachment row outlives its removal (migration 0016: who removed it, when, why).
# A role grant is ended, never deleted (migration 0021: when, why, by whom).
# Access-review campaigns and their items are the auditors' evidence (migration 0019).
# A set-password link is used or voided, never deleted: who invited whom (migration 0022).
KEPT_TABLES = (
    "recon_statement",
    "recon_break",
    "case_attachment",
    "role_assignment",
    "access_review",
    "access_review_item",
    "staff_password_link",
)


def alembic_config(admin_url: str) -> Config:
    cfg = Config(str(ALEMBIC_INI))
    cfg.set_main_option("script_location", str(ALEMBIC_INI.parent))
    cfg.set_main_option("sqlalchemy.url", admin_url.replace("%", "%%"))
    return cfg


def ensure_database(server_admin_url: str, name: str = APP_DATABASE) -> None:
    """Create the application database on an embedded server if it does not exist yet."""
    with psycopg.connect(libpq_url(server_admin_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            log.info("created database %s", name)


def upgrade(admin_url: str) -> None:
    command.upgrade(alembic_config(admin_url), "head")


def grant_app_role(admin_url: str, role: str, *, create: bool) -> bool:
    """Give `role` exactly what the app needs. Returns False when the role does not exist."""
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        ident = sql.Identifier(role)
        if not exists:
            if not create:
                return False
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(ident)
            )
        dbname = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        statements = [
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), ident),
            sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident),
            sql.SQL(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}"
            ).format(ident),
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(ident),
            sql.SQL("REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {}").format(ident),
        ]
        for table in APPEND_ONLY_TABLES:
            statements.append(
                sql.SQL(
                    "REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {} FROM {}"
                ).format(sql.Identifier(table), ident)
            )
        for table in KEPT_TABLES:
            statements.append(
                sql.SQL("REVOKE DELETE, TRUNCATE ON {} FROM {}").format(
                    sql.Identifier(table), ident
                )
            )
        for stmt in statements:
            conn.execute(stmt)
    return True


class MigrationError(RuntimeError):
    """The schema is in place but the app could not run on it as configured."""


def migrate(urls: DatabaseUrls, *, app_role: str, embedded: bool) -> None:
    if embedded:
        server_url = make_url(urls.admin).set(database="postgres")
        ensure_database(server_url.render_as_string(hide_password=False))
    upgrade(urls.admin)
    if urls.app == urls.admin:
        log.warning(
            "DATABASE_URL is also the migration URL: the app runs with the owner's privileges. "
            "Set DATABASE_ADMIN_URL to the owner and DATABASE_URL to a role like %s.",
            app_role,
        )
        return
    if not grant_app_role(urls.admin, app_role, create=embedded):
        raise MigrationError(
            f"the app role {app_role!r} does not exist: create it (LOGIN, no other rights), "
            "or set APP_DB_ROLE to the role in DATABASE_URL, and run migrate again"
        )
