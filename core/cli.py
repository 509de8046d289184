"""`backoffice` — run the pieces, migrate, seed, create staff users, verify the audit chain."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import embedded, run_records
from core.db import Database, resolve_urls
from core.logging import configure
from core.settings import Settings, get_settings
from core.supervisor import GaveUp, Supervised, Supervisor, adopt_orphans, die_with_parent

log = logging.getLogger("backoffice")


def _settings() -> Settings:
    return get_settings()


def _attach_database(settings: Settings) -> None:
    """Commands use the embedded PostgreSQL `backoffice run` keeps for this DATA_DIR (and
    lock it down as every start does); they never start one, which would be left running.
    Raises embedded.EmbeddedPostgresNotRunning (a sentence on what to set) when none runs."""
    if settings.embedded_postgres:
        embedded.attach_postgres(settings.postgres_dir, app_role=settings.app_db_role)


# ----------------------------------------------------------------------------- migrate / seed
def cmd_migrate(args: argparse.Namespace) -> int:
    from core.schema import MigrationError, migrate

    settings = _settings()
    _attach_database(settings)
    try:
        migrate(
            resolve_urls(settings),
            app_role=settings.app_db_role,
            embedded=settings.embedded_postgres,
        )
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("database schema is up to date")
    return 0


async def _seed(settings: Settings) -> dict[str, int]:
    from core.temporal import connect, ensure_search_attributes
    from demo import seed
    from demo.access_reviews import seed_access_review
    from demo.aml import seed_aml
    from demo.aml_network import seed_network
    from demo.case_notes import seed_case_notes
    from demo.casework_tools import seed_casework_tools
    from demo.config import seed_config_changes
    from demo.disputes import seed_disputes
    from demo.follow_up import seed_follow_up
    from demo.inbox_views import seed_inbox_views
    from demo.mfa import seed_second_factors
    from demo.onboarding import seed_onboarding
    from demo.process_watch import seed_process_endings
    from demo.reconciliation import seed_reconciliation
    from demo.role_grants import seed_role_grants
    from demo.screening_delta import seed_screening_delta
    from demo.sso import seed_sso_mapping
    from demo.staff_admin import seed_staff_admin
    from worker import build_worker

    db = Database(resolve_urls(settings).app, application_name="backoffice-seed")
    try:
        # Demo staff get their roles from the table owner (the role_assignment door refuses
        # the app role any grant nobody approved: migration 0021).
        owner = Database(resolve_urls(settings).admin, application_name="backoffice-seed")
        try:
            counts = {"staff": await seed.seed_staff(owner)}
        finally:
            await owner.dispose()
        counts["tariff plans"] = await seed.seed_tariffs(db)
        counts.update(await seed_second_factors(db, settings))
        client = await connect(
            settings.temporal_target, settings.temporal_namespace, settings=settings
        )
        await ensure_search_attributes(client, settings.temporal_namespace)
        async with build_worker(
            client,
            db,
            settings.task_queue,
            document_provider=settings.document_check_provider,
            card_processor=settings.card_processor,
        ):
            counts["change requests"] = await seed.seed_changes(db, client, settings)
            counts["configuration changes"] = await seed_config_changes(db, client, settings)
            counts.update(await seed_sso_mapping(db, client, settings))
            onboarding = await seed_onboarding(db, client, settings)
            counts["configuration changes"] += onboarding.pop("configuration changes", 0)
            counts.update(onboarding)
            aml = await seed_aml(db, client, settings)
            counts["configuration changes"] += aml.pop("configuration changes", 0)
            counts.update(aml)
            counts.update(await seed_network(db, client, settings))  # demo/aml_network.py
            # After the book is in: a next UN version's delta re-screen, a whitelisting waiting.
            counts.update(await seed_screening_delta(db, client, settings))
            counts.update(await seed_disputes(db, client, settings))
            counts.update(await seed_reconciliation(db, client, settings))
            counts.update(await seed_process_endings(db, client, settings))
            counts.update(await seed_follow_up(db, client, settings))
            counts.update(await seed_casework_tools(db, client, settings))
            counts.update(await seed_role_grants(db, client, settings))
            counts.update(await seed_access_review(db, client, settings))
        counts.update(await seed_inbox_views(db))
        counts.update(await seed_staff_admin(db))
        counts.update(await seed_case_notes(db, settings))
        return counts
    finally:
        await db.dispose()


def cmd_seed(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings.environment == "production":
        print("refusing to seed demo data in production", file=sys.stderr)
        return 2
    _attach_database(settings)
    counts = asyncio.run(_seed(settings))
    print("seeded: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    return 0


# ----------------------------------------------------------------------------- users / audit
def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Repeat password: "):
            raise SystemExit("passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def cmd_user_create(args: argparse.Namespace) -> int:
    """Create a staff account, audited as the operating-system user from the CLI. With roles
    only while no active admin exists, and then only the first two admins (the bootstrap:
    `--second-admin` is invited with a one-time link); once an admin exists roles are
    proposed and a second admin approves (`user propose-roles`)."""
    from core.mail import mail_server
    from identity import invitations, staff
    from shared.errors import Conflict, DomainError

    settings = _settings()
    _attach_database(settings)
    roles = sorted(set(args.role or []))
    actor, origin = _cli_actor(), _cli_origin()

    async def admin_exists() -> bool:
        db = Database(resolve_urls(settings).app, application_name="backoffice-cli")
        try:
            return await staff.has_active_admin(db)
        finally:
            await db.dispose()

    exists: bool = asyncio.run(admin_exists()) if roles else False
    if exists:
        print(
            "error: an administrator already exists, so the command line cannot grant roles: "
            "create the account without --role (or invite the person on the staff page), then "
            "propose the roles for a second administrator to approve: on the person's staff "
            "page, by POST /api/v1/staff/{user_id}/role-changes, or with "
            f"`backoffice user propose-roles {args.username} --add ROLE --reason ... "
            "--as <your admin username>`.",
            file=sys.stderr,
        )
        return 1
    if args.second_admin and roles != ["admin"]:
        print(
            "error: --second-admin names the second of the first two administrators: give it "
            "with --role admin",
            file=sys.stderr,
        )
        return 1
    if roles and not args.second_admin:
        print(
            "warning: four-eyes needs two administrators and, once one exists, a second one "
            "can only be proposed by one admin and approved by another: give the second with "
            "--second-admin NAME --second-admin-email ADDRESS",
            file=sys.stderr,
        )
    password = _read_password()
    base = settings.public_url.rstrip("/") or f"http://{settings.web_host}:{settings.web_port}"

    async def create() -> str | None:
        db = Database(resolve_urls(settings).app, application_name="backoffice-cli")
        try:
            second = None
            if args.second_admin:
                if await staff.has_active_admin(db):
                    raise Conflict(
                        "An administrator already exists: the bootstrap is closed.",
                        code="admin_exists",
                    )
                second = await invitations.invite(
                    db,
                    username=args.second_admin,
                    display_name=args.second_admin_name or args.second_admin,
                    email=args.second_admin_email or "",
                    actor=actor,
                    origin=origin,
                )
            user = await staff.create_user(
                db,
                username=args.username,
                password=password,
                roles=roles,
                display_name=args.display_name,
                email=args.email,
                actor=actor,
                origin=origin,
                first_admin=bool(roles),
                second_admin=second.user_id if second else None,
            )
            if second is not None:
                url = f"{base}/set-password/{second.token}"
                delivery = await invitations.deliver(db, mail_server(settings), second, url)
                print(
                    f"created {user.username} and {second.username} (admin): the first two "
                    f"administrators; {second.username}'s e-mail: {delivery}"
                )
                return url
            if roles:
                print(f"created {user.username} (admin): the first administrator")
            else:
                print(f"created {user.username} (no roles: propose them for a second admin)")
            return None
        finally:
            await db.dispose()

    try:
        url = asyncio.run(create())
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        for field, problem in exc.fields.items():
            print(f"  {field}: {problem}", file=sys.stderr)
        return 1
    if url:
        print(f"{args.second_admin}'s one-time link (shown once, valid 72 h): {url}")
    return 0


def cmd_user_propose_roles(args: argparse.Namespace) -> int:
    """Propose a role change for a person as an admin (their password asked); another admin
    approves it on the web or the API. The audit names the admin, the CLI and the OS user."""
    from changes.commands.role_grants import propose_as
    from core.temporal import connect
    from shared.errors import DomainError

    settings = _settings()
    _attach_database(settings)
    if sys.stdin.isatty():
        password = getpass.getpass(f"Password of {args.as_admin}: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    ends_at = None
    if args.ends:
        try:
            ends_at = datetime.fromisoformat(args.ends)
        except ValueError:
            print(f"error: --ends {args.ends!r} is not a date like 2027-03-31", file=sys.stderr)
            return 1
        ends_at = ends_at if ends_at.tzinfo else ends_at.replace(tzinfo=UTC)

    async def propose() -> str:
        db = Database(resolve_urls(settings).app, application_name="backoffice-cli")
        try:
            client = await connect(
                settings.temporal_target, settings.temporal_namespace, settings=settings
            )
            created = await propose_as(
                db,
                client,
                settings,
                admin_username=args.as_admin,
                password=password,
                username=args.username,
                add=args.add or [],
                remove=args.remove or [],
                reason=args.reason,
                ends_at=ends_at,
                os_user=getpass.getuser(),
            )
            return f"proposed {created.reference} ({created.tier}): awaits another admin's approval"
        finally:
            await db.dispose()

    try:
        print(asyncio.run(propose()))
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        for field, problem in exc.fields.items():
            print(f"  {field}: {problem}", file=sys.stderr)
        return 1
    return 0


def cmd_user_set_active(args: argparse.Namespace) -> int:
    """`user disable` ends the person's sessions and API tokens at once; `user enable` lets
    them sign in again (with new credentials: nothing revoked comes back)."""
    from identity import staff
    from shared.errors import DomainError

    settings = _settings()
    _attach_database(settings)
    active = args.user_command == "enable"

    async def apply() -> int:
        db = Database(resolve_urls(settings).app, application_name="backoffice-cli")
        try:
            return await staff.set_active_by_username(
                db,
                username=args.username,
                active=active,
                actor=_cli_actor(),
                origin=_cli_origin(),
            )
        finally:
            await db.dispose()

    try:
        ended = asyncio.run(apply())
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    if active:
        print(f"enabled {args.username}")
    else:
        print(f"disabled {args.username}: {ended} session(s) and API token(s) revoked")
    return 0


def cmd_user_unlock(args: argparse.Namespace) -> int:
    """End a person's sign-in lockout (audited as the OS user, from the CLI)."""
    from identity import staff
    from shared.errors import DomainError

    settings = _settings()
    _attach_database(settings)

    async def apply() -> int:
        db = Database(resolve_urls(settings).app, application_name="backoffice-cli")
        try:
            user_id = await staff.user_id_of(db, args.username)
            return await staff.unlock(db, user_id=user_id, actor=_cli_actor(), origin=_cli_origin())
        finally:
            await db.dispose()

    try:
        cleared = asyncio.run(apply())
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"unlocked {args.username}: {cleared} failed attempt(s) no longer count")
    return 0


def cmd_user_reset_password(args: argparse.Namespace) -> int:
    """The person's password stops working and their sessions end; prints the one-time link
    (72 h) that sets a new one, and e-mails it when SMTP is configured. For a locked-out last
    admin too (audited as the OS user, from the CLI)."""
    from core.mail import mail_server
    from identity import invitations, staff
    from shared.errors import DomainError

    settings = _settings()
    _attach_database(settings)
    base = settings.public_url.rstrip("/") or f"http://{settings.web_host}:{settings.web_port}"

    async def apply() -> tuple[str, str]:
        db = Database(resolve_urls(settings).app, application_name="backoffice-cli")
        try:
            user_id = await staff.user_id_of(db, args.username)
            issued = await invitations.reset_password(
                db, user_id=user_id, actor=_cli_actor(), origin=_cli_origin(), by_operator=True
            )
            url = f"{base}/set-password/{issued.token}"
            delivery = await invitations.deliver(db, mail_server(settings), issued, url)
            return url, delivery
        finally:
            await db.dispose()

    try:
        url, delivery = asyncio.run(apply())
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"password of {args.username} reset; e-mail: {delivery}")
    print(f"one-time link (shown once, valid 72 h): {url}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from audit import trail as audit

    settings = _settings()
    _attach_database(settings)

    async def verify() -> audit.VerifyResult:
        db = Database(resolve_urls(settings).app, application_name="backoffice-cli")
        try:
            async with db.session() as session:
                result = await audit.verify(session, checkpoint_file=settings.audit_checkpoint_path)
            if result.ok and not args.no_checkpoint:
                async with db.transaction() as session:
                    await audit.write_checkpoint(
                        session, result, checkpoint_file=settings.audit_checkpoint_path
                    )
            return result
        finally:
            await db.dispose()

    result = asyncio.run(verify())
    if result.ok:
        print(f"OK: {result.checked} audit events verified; chain head is event {result.head_id}")
        return 0
    print(
        f"BROKEN at event {result.first_bad}: {result.reason} ({result.checked} events before it verified)"
    )
    return 1


async def _trigger_rescreen(settings: Settings) -> None:
    """Start the re-screening schedule's run now (creating the schedule if no worker has)."""
    from core.schedules import ensure_schedules, trigger_rescreen
    from core.temporal import connect

    async def trigger() -> None:
        client = await connect(
            settings.temporal_target, settings.temporal_namespace, settings=settings
        )
        await ensure_schedules(client, settings)
        await trigger_rescreen(client)

    # A refused connection fails at once; an address that does not answer must not hang.
    await asyncio.wait_for(trigger(), timeout=20)


def cmd_screening_rescreen(args: argparse.Namespace) -> int:
    """Trigger the re-screening schedule now (e.g. right after importing a new list), or
    with --delta VERSION_ID the delta re-screen of one imported list version."""
    settings = _settings()
    if getattr(args, "delta", None) is not None:
        return _start_delta_rescreen_cli(settings, args.delta)
    try:
        asyncio.run(_trigger_rescreen(settings))
    except Exception as exc:  # a CLI answers with a sentence, not a traceback
        print(
            f"error: could not reach Temporal at {settings.temporal_target} ({exc}); "
            "is `make run` (or the worker) running?",
            file=sys.stderr,
        )
        return 1
    print("re-screening of all customers started (schedule rescreen-customers)")
    return 0


async def _start_delta_rescreen(settings: Settings, version_id: int, label: str) -> str:
    from core.schedules import start_delta_rescreen
    from core.temporal import connect

    async def start() -> str:
        client = await connect(
            settings.temporal_target, settings.temporal_namespace, settings=settings
        )
        return await start_delta_rescreen(client, settings, version_id, label)

    # A refused connection fails at once; an address that does not answer must not hang.
    return await asyncio.wait_for(start(), timeout=20)


def _start_delta_rescreen_cli(settings: Settings, version_id: int) -> int:
    """`screening rescreen --delta ID`: the delta re-screen of an imported list version."""
    from core.db import run_sql

    _attach_database(settings)

    async def label_of() -> str | None:
        db = Database(resolve_urls(settings).app, application_name="backoffice-cli")
        try:
            async with db.session() as session:
                row = (
                    await run_sql(
                        session,
                        "SELECT list_name, list_date FROM watchlist_version WHERE id = :id",
                        {"id": version_id},
                    )
                ).first()
            return f"{row.list_name} {row.list_date.isoformat()}" if row else None
        finally:
            await db.dispose()

    label = asyncio.run(label_of())
    if label is None:
        print(f"error: no list version {version_id}", file=sys.stderr)
        return 1
    try:
        workflow_id = asyncio.run(_start_delta_rescreen(settings, version_id, label))
    except Exception as exc:  # a CLI answers with a sentence, not a traceback
        print(
            f"error: could not reach Temporal at {settings.temporal_target} ({exc}); "
            "is `make run` (or the worker) running?",
            file=sys.stderr,
        )
        return 1
    print(f"delta re-screening for {label} started (workflow {workflow_id})")
    return 0


def cmd_screening_import(args: argparse.Namespace) -> int:
    """Import a list file as a new list version, print its diff against the list's previous
    version, then start the delta re-screen of the customers its changes can touch."""
    from datetime import date
    from pathlib import Path

    from screening.commands.importer import ImportReport, import_list
    from shared.errors import DomainError

    try:
        list_date = date.fromisoformat(args.list_date) if args.list_date else None
    except ValueError:
        print(f"error: --list-date {args.list_date!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
        return 2
    settings = _settings()
    _attach_database(settings)
    list_name = getattr(args, "list_name", None) or "OFAC-SDN"

    async def run() -> ImportReport:
        db = Database(resolve_urls(settings).app, application_name="backoffice-cli")
        try:
            return await import_list(db, list_name, Path(args.file), list_date=list_date)
        finally:
            await db.dispose()

    try:
        report = asyncio.run(run())
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(report.message)
    if report.created and report.version_id is not None and not args.no_rescreen:
        try:
            workflow_id = asyncio.run(
                _start_delta_rescreen(settings, report.version_id, report.list_version)
            )
        except Exception as exc:  # the import stands; say how to re-screen later
            print(
                f"note: the delta re-screen was not started: Temporal at "
                f"{settings.temporal_target} is not reachable ({exc or exc.__class__.__name__}). "
                f"Once the worker is up, run `backoffice screening rescreen --delta "
                f"{report.version_id}`.",
                file=sys.stderr,
            )
        else:
            print(f"delta re-screening started (workflow {workflow_id})")
    return 0


# ----------------------------------------------------------------------------- import
class _ProgressBar:
    """Rows done of total, percentage and rate on stderr: redrawn in place on a terminal,
    one line per tenth of the file elsewhere (a log, CI)."""

    WIDTH = 30

    def __init__(self, what: str, *, then: str | None = None) -> None:
        self.what = what
        self.then = then  # said once the file is read, when work remains after it
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.shown_tenth = -1
        self.line_open = False  # the terminal's cursor is still on the bar's line
        self.width = 0

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        tenth = int(fraction * 10)
        if not self.tty and tenth == self.shown_tenth:
            return
        self.shown_tenth = tenth
        rate = done / max(time.monotonic() - self.started, 1e-6)
        filled = int(fraction * self.WIDTH)
        line = (
            f"{self.what} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction:4.0%} "
            f"{done:,}/{total:,} rows  {rate:,.0f} rows/s"
        )
        if self.tty:  # over the previous line, which may have been longer
            print(f"\r{line:<{self.width}}", end="", file=sys.stderr)
            self.width = len(line)
        else:
            print(line, file=sys.stderr)
        self.line_open = self.tty
        if done == total and self.then:
            print(f"\n{self.then}" if self.tty else self.then, file=sys.stderr)
            self.then, self.line_open = None, False
        sys.stderr.flush()

    def finish(self, note: str | None = None) -> None:
        if self.line_open:
            print(file=sys.stderr)
            self.line_open = False
        if note:
            print(note, file=sys.stderr)


class _JudgingLine:
    """`judging 40 000 / 120 000 transactions, 312 alerts` on stderr after the file is read:
    redrawn in place on a terminal, one line per tenth elsewhere."""

    def __init__(self, bar: _ProgressBar) -> None:
        self.bar = bar
        self.tty = sys.stderr.isatty()
        self.shown_tenth = -1
        self.width = 0

    def __call__(self, judged: int, total: int, alerts: int) -> None:
        if self.shown_tenth < 0:
            self.bar.finish()  # the reading bar's line ends; judging gets its own
        tenth = int(judged / total * 10) if total else 10
        if not self.tty and tenth == self.shown_tenth:
            return
        self.shown_tenth = tenth

        def n(x: int) -> str:
            return f"{x:,}".replace(",", " ")

        line = f"judging {n(judged)} / {n(total)} transactions, {n(alerts)} alerts"
        if self.tty:
            print(f"\r{line:<{self.width}}", end="", file=sys.stderr)
            self.width = len(line)
            self.bar.line_open = True
        else:
            print(line, file=sys.stderr)
        sys.stderr.flush()


def _cli_actor() -> Any:
    """Who the audit log names for an import: the operating-system user who ran it."""
    from audit.trail import ActorRef

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        user = f"uid {os.getuid()}"
    return ActorRef(id=None, name=f"cli:{user}")


def _cli_origin() -> Any:
    """Where the audit log says a command-line action came from."""
    from models.workflow_io import Origin

    return Origin(channel="cli")


def _import_paths(args: argparse.Namespace) -> tuple[Any, Any]:
    from pathlib import Path

    path = Path(args.file)
    report = Path(args.report) if args.report else path.with_name(f"{path.stem}.rejected.csv")
    return path, report


def _import_failed(exc: BaseException) -> int | None:
    """The sentence for a failure the operator can act on, or None for a bug (re-raise)."""
    import csv

    from aml.commands.casework import CasesNotSignalled
    from core.db import is_outage
    from customers.legacy_import import ImportFileError
    from shared.errors import DomainError

    if isinstance(exc, ImportFileError):
        print(f"error: {exc}", file=sys.stderr)
    elif isinstance(exc, CasesNotSignalled):
        print(
            f"error: the transactions and alerts are in, but {exc}. Until their workflows "
            "are told, a new case among them has no task in the queue; the alerts are on the "
            "case pages.",
            file=sys.stderr,
        )
    elif isinstance(exc, DomainError):
        print(f"error: {exc.message}", file=sys.stderr)
    elif isinstance(exc, FileNotFoundError):
        print(f"error: No file at {exc.filename}", file=sys.stderr)
    elif isinstance(exc, OSError):
        print(f"error: {exc.filename}: {exc.strerror}", file=sys.stderr)
    elif isinstance(exc, UnicodeDecodeError):
        print(f"error: the file is not UTF-8 text ({exc.reason})", file=sys.stderr)
    elif isinstance(exc, csv.Error):
        print(f"error: the file is not a readable CSV file ({exc})", file=sys.stderr)
    elif is_outage(exc):
        print(f"error: the database is not reachable ({exc.__class__.__name__})", file=sys.stderr)
    else:
        return None
    return 1


def _rejections(report: Any) -> str:
    if not report.rejected:
        return "0 rows rejected"
    top = ", ".join(f"{kind} {n:,}" for kind, n in report.reasons.items())
    return f"{report.rejected:,} rows rejected ({top})"


def cmd_import_customers(args: argparse.Namespace) -> int:
    """A legacy book's customers and accounts; see docs/import.md."""
    from customers.legacy_import import import_customers_csv
    from screening.commands.service import current_list_version

    path, report_path = _import_paths(args)
    settings = _settings()
    _attach_database(settings)
    bar = _ProgressBar("customers", then="checking the rows against the database and writing…")

    async def run() -> tuple[Any, str | None]:
        db = Database(resolve_urls(settings).app, application_name="backoffice-import")
        try:
            report = await import_customers_csv(
                db, path, report_path=report_path, progress=bar, actor=_cli_actor()
            )
            return report, await current_list_version(db)
        finally:
            await db.dispose()

    try:
        report, list_version = asyncio.run(run())
    except Exception as exc:
        bar.finish()
        code = _import_failed(exc)
        if code is None:
            raise
        return code
    bar.finish(f"done in {time.monotonic() - bar.started:.1f} s")
    print(
        f"imported {path.name}: {report.total:,} rows\n"
        f"  {report.customers_created:,} customers created, {report.inserted:,} accounts opened"
        f" ({report.customers_extended:,} existing customers gained accounts)\n"
        f"  {report.duplicates:,} rows already imported\n"
        f"  {_rejections(report)}\n"
        f"  report: {report_path}"
    )
    if report.customers_created:
        print(
            _screen_imported(settings, report.customers_created, list_version, report.imported_at)
        )
    return 0


async def _rescreen_imported(settings: Settings, created_at: datetime) -> str:
    from core.schedules import rescreen_imported
    from core.temporal import connect

    async def start() -> str:
        client = await connect(
            settings.temporal_target, settings.temporal_namespace, settings=settings
        )
        return await rescreen_imported(client, settings, created_at)

    # A refused connection fails at once; an address that does not answer must not hang.
    return await asyncio.wait_for(start(), timeout=20)


def _screen_imported(
    settings: Settings, created: int, list_version: str | None, created_at: datetime | None
) -> str:
    """Screen the new customers now rather than at the next daily run: a re-screening of
    only the customers this import created (not the whole book). The import stands either
    way."""
    if list_version is None:
        return (
            "not screened yet: no watch list has been imported. Import one with "
            "`backoffice screening import-ofac FILE`, then run `backoffice screening rescreen`."
        )
    assert created_at is not None
    try:
        workflow_id = asyncio.run(_rescreen_imported(settings, created_at))
    except Exception as exc:  # the customers are in: say what to do, not a traceback
        return (
            f"not screened yet: Temporal is not reachable at {settings.temporal_target} "
            f"({exc or exc.__class__.__name__}). The daily re-screening (schedule "
            "rescreen-customers) will screen the new customers against the watch list; "
            "to screen them now, run `backoffice screening rescreen` once the worker is up."
        )
    return (
        f"sanctions screening of the {created:,} new customers started against "
        f"{list_version} (workflow {workflow_id}; only the customers this import created); "
        "hits open screening alert cases"
    )


class _TemporalUnreachable(Exception):
    def __init__(self, needed_by: str, target: str, cause: BaseException) -> None:
        super().__init__(
            f"{needed_by} needs Temporal, which is not reachable at {target} ({cause}); "
            "is `make run` (or the worker) running?"
        )


async def _connect_for_alerts(settings: Settings, needed_by: str) -> Any:
    """The Temporal client that routes alerts to cases; unreachable is a sentence naming
    what needed it (`--alert`, `aml rejudge`), not a traceback."""
    from core.temporal import connect

    try:
        return await connect(
            settings.temporal_target, settings.temporal_namespace, settings=settings
        )
    except Exception as exc:
        raise _TemporalUnreachable(needed_by, settings.temporal_target, exc) from exc


def cmd_import_sample_files(args: argparse.Namespace) -> int:
    """A book to try the importers on: ordinary customers and life, one row in ~1 000 broken."""
    from demo.legacy_samples import write_sample_book

    if args.customers < 1 or args.transactions < 0:
        print("error: --customers must be at least 1, --transactions not negative", file=sys.stderr)
        return 2
    customers, transactions = write_sample_book(
        Path(args.folder),
        customers=args.customers,
        transactions=args.transactions,
        now=datetime.now(UTC),
    )
    print(
        f"wrote {customers} ({args.customers:,} rows) and {transactions} ({args.transactions:,} rows)"
    )
    print("import them, customers first:")
    print(f"  backoffice import customers {customers}")
    print(f"  backoffice import transactions {transactions}")
    return 0


def cmd_import_transactions(args: argparse.Namespace) -> int:
    """Legacy transactions, optionally through the monitoring rules; see docs/import.md."""
    from aml.commands.legacy_transactions import import_transactions_csv

    path, report_path = _import_paths(args)
    settings = _settings()
    _attach_database(settings)
    bar = _ProgressBar("transactions")

    async def run() -> Any:
        db = Database(resolve_urls(settings).app, application_name="backoffice-import")
        try:
            temporal = None
            if args.alert:
                temporal = await _connect_for_alerts(settings, "--alert")
            return await import_transactions_csv(
                db,
                settings,
                path,
                alert=args.alert,
                progress=bar,
                report_path=report_path,
                temporal=temporal,
                actor=_cli_actor(),
                judging=_JudgingLine(bar),
            )
        finally:
            await db.dispose()

    try:
        report = asyncio.run(run())
    except _TemporalUnreachable as exc:
        bar.finish()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        bar.finish()
        code = _import_failed(exc)
        if code is None:
            raise
        return code
    bar.finish(f"done in {time.monotonic() - bar.started:.1f} s")
    alerts = f"  {report.alerts:,} alerts raised\n" if args.alert else ""
    print(
        f"imported {path.name}: {report.total:,} rows\n"
        f"  {report.inserted:,} transactions inserted\n"
        f"  {report.duplicates:,} rows already imported\n"
        f"  {_rejections(report)}\n"
        f"{alerts}"
        f"  report: {report.report_path or report_path}"
    )
    return 0


# ----------------------------------------------------------------------------- aml
def _cli_date(value: str) -> Any:
    """A day (2026-09-01, midnight UTC) or an instant with its time zone."""
    from datetime import UTC, datetime

    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date (2026-09-01) or a time (2026-09-01T08:00:00+00:00)"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def cmd_aml_backtest(args: argparse.Namespace) -> int:
    """A rule change replayed dry over the last N days, compared with the rules in force."""
    import json
    from pathlib import Path

    from aml.commands.backtest import cli_proposal, is_rule_document, run_backtest

    if not is_rule_document(args.rule):
        print(
            f"error: {args.rule} is not an AML rule document (aml_rule_*, aml_expr_*, aml_network)",
            file=sys.stderr,
        )
        return 2
    values = None
    if args.values:
        try:
            values = json.loads(Path(args.values).read_text())
        except (OSError, ValueError) as exc:
            print(f"error: cannot read {args.values}: {exc}", file=sys.stderr)
            return 2
        if not isinstance(values, dict):
            print(f"error: {args.values} must hold a JSON object of fields", file=sys.stderr)
            return 2
    settings = _settings()
    _attach_database(settings)
    bar = _ProgressBar("judging")

    async def run() -> Any:
        db = Database(resolve_urls(settings).app, application_name="backoffice-backtest")
        try:
            proposed, source = await cli_proposal(db, args.rule, values)
            print(f"proposed: {source}", file=sys.stderr)

            async def progress(judged: int, total: int) -> None:
                bar(judged, total)

            return await run_backtest(db, args.rule, proposed, days=args.days, progress=progress)
        finally:
            await db.dispose()

    try:
        result = asyncio.run(run())
    except Exception as exc:  # a bad value or an unknown document: a sentence
        bar.finish()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    bar.finish(f"done in {time.monotonic() - bar.started:.1f} s")
    print("\n".join(result.lines()))
    return 0


def cmd_aml_rejudge(args: argparse.Namespace) -> int:
    """Judge stored history live under the rules in force; idempotent."""
    from aml.commands.rejudge import rejudge

    if args.to <= args.since:
        print("error: --to must be after --from", file=sys.stderr)
        return 2
    settings = _settings()
    _attach_database(settings)
    bar = _ProgressBar("judging")

    async def run() -> Any:
        db = Database(resolve_urls(settings).app, application_name="backoffice-rejudge")
        try:
            temporal = await _connect_for_alerts(settings, "aml rejudge")
            return await rejudge(
                db,
                temporal,
                settings.task_queue,
                args.since,
                args.to,
                actor=_cli_actor(),
                origin=_cli_origin(),
                progress=lambda judged, total, _alerts: bar(judged, total),
            )
        finally:
            await db.dispose()

    try:
        report = asyncio.run(run())
    except _TemporalUnreachable as exc:
        bar.finish()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    bar.finish(f"done in {time.monotonic() - bar.started:.1f} s")
    print(
        f"re-judged {report.transactions:,} transactions "
        f"({args.since.isoformat()} to {args.to.isoformat()})\n"
        f"  {report.alerts:,} new alerts routed to {report.cases:,} cases\n"
        f"  {report.shadow:,} new shadow alerts (recorded, not routed)"
    )
    return 0


# ----------------------------------------------------------------------------- processes
def cmd_web(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings()
    configure(settings.log_level, json_lines=settings.log_json)
    _attach_database(settings)
    uvicorn.run(
        "app:create_app",
        factory=True,
        host=settings.web_host,
        port=args.port or settings.web_port,
        **UVICORN_OPTIONS,
    )
    return 0


# Forwarded headers are the app's business (web/proxies.py, TRUSTED_PROXIES): uvicorn must
# not rewrite the client address first (its default believes X-Forwarded-For from loopback).
UVICORN_OPTIONS: dict[str, Any] = {"proxy_headers": False, "log_config": None, "access_log": False}


def cmd_worker(args: argparse.Namespace) -> int:
    from worker import run_worker

    settings = _settings()
    configure(settings.log_level, json_lines=settings.log_json)
    _attach_database(settings)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_worker(settings))
    return 0


class _AlreadyRunning(RuntimeError):
    pass


class _ChildProcess:
    """A process `run` spawns (worker, web, Temporal): recorded under DATA_DIR while it runs."""

    def __init__(
        self, name: str, spawn: Callable[[], subprocess.Popen[bytes]], data_dir: Path
    ) -> None:
        self.name, self._spawn, self._data_dir = name, spawn, data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = self._spawn()
        # The command it was given, not psutil's view: right after fork it may still show ours.
        run_records.write(self._data_dir, self.name, self.proc.pid, cmdline=list(self.proc.args))  # type: ignore[arg-type]

    def ended(self) -> str | None:
        if self.proc is None or self.proc.poll() is None:
            return None
        return f"exit code {self.proc.returncode}"

    def stop(self) -> None:
        if self.proc is not None:
            embedded.stop_process(self.proc)
        run_records.remove(self._data_dir, self.name)

    def supervised(self) -> Supervised:
        return Supervised(self.name, self.start, self.ended, self.stop, self.pid)

    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


def _python_child(args: list[str], env: dict[str, str]) -> Callable[[], subprocess.Popen[bytes]]:
    """`backoffice <args>` as a child that gets SIGTERM if `run` dies (kill -9, OOM)."""
    return lambda: subprocess.Popen(
        [sys.executable, "-m", "core.cli", *args], env=env, preexec_fn=die_with_parent()
    )


def _embedded_postgres(settings: Settings) -> Supervised:
    """The embedded PostgreSQL: daemonised by pg_ctl (no death signal), so watched through
    its postmaster.pid and recorded for the next run to find."""
    pgdata, data_dir = settings.postgres_dir, settings.data_dir.resolve()

    def start() -> None:
        embedded.start_postgres(pgdata, app_role=settings.app_db_role)
        postmaster = embedded.postmaster_process(pgdata)
        if postmaster is None:
            raise RuntimeError(f"PostgreSQL in {pgdata} stopped right after starting")
        run_records.write(data_dir, "postgres", postmaster.pid)

    def ended() -> str | None:
        return None if embedded.postmaster_process(pgdata) is not None else "postmaster gone"

    def stop() -> None:
        embedded.stop_postgres(pgdata)
        run_records.remove(data_dir, "postgres")

    def pid() -> int | None:
        postmaster = embedded.postmaster_process(pgdata)
        return postmaster.pid if postmaster is not None else None

    return Supervised("postgres", start, ended, stop, pid)


def _stop_leftovers(settings: Settings) -> None:
    """Stop the servers a killed run left behind on this DATA_DIR (and only those: each is
    checked against its record's pid, create time and command line before it is touched)."""
    data_dir = settings.data_dir.resolve()
    previous = run_records.read(data_dir, "run")
    alive = run_records.live(previous) if previous is not None else None
    if alive is not None and alive.pid != os.getpid():
        raise _AlreadyRunning(
            f"`backoffice run` (pid {alive.pid}) is already running on DATA_DIR={data_dir}; "
            "stop it first, or use another DATA_DIR (and other ports)"
        )
    for name in ("web", "worker", "temporal"):
        record = run_records.read(data_dir, name)
        left = run_records.live(record) if record is not None else None
        if left is not None:
            print(f"• stopping the {name} (pid {left.pid}) an earlier run left behind")
            run_records.terminate(left)
        run_records.remove(data_dir, name)
    record = run_records.read(data_dir, "postgres")
    if record is not None and run_records.live(record) is not None:
        print(f"• stopping the PostgreSQL (pid {record.pid}) an earlier run left behind")
        embedded.stop_postgres(settings.postgres_dir)
    run_records.remove(data_dir, "postgres")


def cmd_run(args: argparse.Namespace) -> int:
    """Everything on the embedded defaults (or on DATABASE_URL / TEMPORAL_ADDRESS if set),
    supervised: a dead child is restarted with backoff; one that keeps failing stops the
    run with a non-zero exit. Ctrl-C / SIGTERM stop everything and exit 0."""
    settings = _settings()
    configure(settings.log_level, json_lines=settings.log_json)
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        _stop_leftovers(settings)
    except _AlreadyRunning as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    run_records.write(data_dir, "run", os.getpid())
    adopt_orphans()
    supervisor = Supervisor([], ends_orphans=True)
    code = 0

    def launch(child: Supervised) -> None:
        supervisor.children.append(child)  # stopped on the way out even if its start fails
        child.start()

    try:
        if settings.embedded_postgres:
            print(f"• PostgreSQL (embedded) in {settings.postgres_dir}")
            launch(_embedded_postgres(settings))
            print(
                "  socket directory 0700, SCRAM passwords in "
                f"{embedded.passwords_file(settings.postgres_dir)}"
            )
        if settings.embedded_temporal:
            print(
                f"• Temporal dev server on 127.0.0.1:{settings.temporal_port}, "
                f"history in {settings.temporal_db_file}"
            )
            temporal = _ChildProcess(
                "temporal",
                lambda: embedded.start_temporal(
                    port=settings.temporal_port,
                    ui_port=settings.temporal_ui_port,
                    db_file=settings.temporal_db_file,
                    log_file=data_dir / "temporal.log",
                    namespace=settings.temporal_namespace,
                    die_with_parent=True,
                ),
                data_dir,
            )
            launch(temporal.supervised())
        from core.schema import migrate

        urls = resolve_urls(settings)
        migrate(urls, app_role=settings.app_db_role, embedded=settings.embedded_postgres)
        print("• database migrated")
        env = dict(os.environ)
        env.update(
            DATABASE_URL=urls.app,
            DATABASE_ADMIN_URL=urls.admin,
            TEMPORAL_ADDRESS=settings.temporal_target,
            TEMPORAL_UI_URL=settings.temporal_ui_base,
            DATA_DIR=str(data_dir),
        )
        launch(_ChildProcess("worker", _python_child(["worker"], env), data_dir).supervised())
        if not args.no_seed and settings.environment != "production":
            counts = asyncio.run(_seed(settings))
            print(
                "• demo data: "
                + (", ".join(f"{n} {w}" for w, n in counts.items() if n) or "already present")
            )
            supervisor.spare_own_helpers()  # the seed's CPU pool is ours, not left behind
        launch(_ChildProcess("web", _python_child(["web"], env), data_dir).supervised())
        _banner(settings)
        supervisor.run(lambda: stopping)
    except GaveUp as exc:
        print(f"error: {exc}; stopping everything", file=sys.stderr)
        code = 1
    except Exception as exc:  # a start that failed: everything stops, and the run says so
        log.exception("backoffice run failed")
        print(f"error: {exc}; stopping everything", file=sys.stderr)
        code = 1
    finally:
        print("\nstopping…")
        supervisor.stop_all()
        run_records.remove(data_dir, "run")
        print("stopped; data kept in", data_dir)
    return code


def _banner(settings: Settings) -> None:
    from demo.seed import DEMO_PASSWORD, DEMO_STAFF

    web = settings.public_url or f"http://{settings.web_host}:{settings.web_port}"
    print(
        "\n"
        f"  backoffice   {web}\n"
        f"  API docs     {web}/docs\n"
        f"  Temporal UI  {web}/temporal/  (engineers and auditors; read-only)\n"
        f"\n  Demo logins (password for all: {DEMO_PASSWORD}):"
    )
    for username, name, roles in DEMO_STAFF:
        print(f"    {username:<14} {', '.join(roles):<32} {name}")
    print(
        "\n  Ctrl-C stops everything; data stays in", settings.data_dir.resolve(), "\n", flush=True
    )


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backoffice", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="start everything (embedded PostgreSQL + Temporal unless configured)"
    )
    run.add_argument("--no-seed", action="store_true", help="do not load demo data")
    run.set_defaults(func=cmd_run)
    web = sub.add_parser("web", help="run the web app")
    web.add_argument("--port", type=int, default=None)
    web.set_defaults(func=cmd_web)
    sub.add_parser("worker", help="run a Temporal worker").set_defaults(func=cmd_worker)
    sub.add_parser("migrate", help="create / upgrade the database schema").set_defaults(
        func=cmd_migrate
    )
    sub.add_parser("seed", help="load demo staff, tariffs and changes").set_defaults(func=cmd_seed)
    user = sub.add_parser("user", help="staff accounts").add_subparsers(
        dest="user_command", required=True
    )
    create = user.add_parser(
        "create",
        help="create a staff user (password read from stdin); --role admin only for the "
        "first administrator, while none exists",
    )
    create.add_argument("username")
    create.add_argument(
        "--role",
        action="append",
        default=None,
        help="only `admin`, only while no admin exists (the bootstrap); afterwards roles are "
        "proposed with `user propose-roles` and approved by a second admin",
    )
    create.add_argument("--display-name", default=None)
    create.add_argument("--email", default=None)
    create.add_argument(
        "--second-admin",
        default=None,
        metavar="NAME",
        help="with --role admin: the second of the first two administrators (four-eyes needs "
        "two), invited with a one-time set-password link",
    )
    create.add_argument("--second-admin-email", default=None, metavar="ADDRESS")
    create.add_argument("--second-admin-name", default=None, metavar="NAME")
    create.set_defaults(func=cmd_user_create)
    propose_roles = user.add_parser(
        "propose-roles",
        help="propose roles added / removed for a person (another admin approves)",
    )
    propose_roles.add_argument("username", help="whose roles change")
    propose_roles.add_argument("--add", action="append", metavar="ROLE", help="repeatable")
    propose_roles.add_argument("--remove", action="append", metavar="ROLE", help="repeatable")
    propose_roles.add_argument("--reason", required=True)
    propose_roles.add_argument("--ends", default=None, help="the added roles end (2027-03-31)")
    propose_roles.add_argument(
        "--as", dest="as_admin", required=True, help="the proposing admin (password asked)"
    )
    propose_roles.set_defaults(func=cmd_user_propose_roles)
    for verb, what in (
        ("disable", "disable a staff user, revoking their sessions and API tokens at once"),
        ("enable", "let a disabled staff user sign in again"),
    ):
        toggle = user.add_parser(verb, help=what)
        toggle.add_argument("username")
        toggle.set_defaults(func=cmd_user_set_active)
    unlock = user.add_parser("unlock", help="end a staff user's sign-in lockout")
    unlock.add_argument("username")
    unlock.set_defaults(func=cmd_user_unlock)
    reset = user.add_parser(
        "reset-password",
        help="stop a staff user's password, end their sessions, print a one-time link (72 h)",
    )
    reset.add_argument("username")
    reset.set_defaults(func=cmd_user_reset_password)
    audit = sub.add_parser("audit", help="the audit log").add_subparsers(
        dest="audit_command", required=True
    )
    verify = audit.add_parser(
        "verify", help="recompute the hash chain; exit 1 and name the first bad row"
    )
    verify.add_argument(
        "--no-checkpoint",
        action="store_true",
        help="do not record the verified head as a new checkpoint",
    )
    verify.set_defaults(func=cmd_audit_verify)
    screening = sub.add_parser("screening", help="sanctions watch lists").add_subparsers(
        dest="screening_command", required=True
    )
    import_ofac = screening.add_parser(
        "import-ofac", help="import an OFAC SDN CSV (.csv or .csv.gz) as a new list version"
    )
    import_ofac.add_argument("file")
    import_ofac.add_argument(
        "--list-date", default=None, help="YYYY-MM-DD (default: the date in the file name)"
    )
    import_ofac.add_argument(
        "--no-rescreen", action="store_true", help="do not start the delta re-screen"
    )
    import_ofac.set_defaults(func=cmd_screening_import, list_name="OFAC-SDN")
    import_any = screening.add_parser(
        "import",
        help="import a watch list file as a new list version and print its diff against "
        "the previous version (OFAC-SDN, OFAC-CONS, UN-SC, EU-FSF, UK-SL, PEP-OS)",
    )
    import_any.add_argument(
        "--list",
        dest="list_name",
        required=True,
        choices=["OFAC-SDN", "OFAC-CONS", "UN-SC", "EU-FSF", "UK-SL", "PEP-OS"],
    )
    import_any.add_argument("file", help="the file (.gz too); for OFAC-CONS the CSV directory")
    import_any.add_argument(
        "--list-date",
        default=None,
        help="YYYY-MM-DD (default: the date in the file name, else the file's own date)",
    )
    import_any.add_argument(
        "--no-rescreen", action="store_true", help="do not start the delta re-screen"
    )
    import_any.set_defaults(func=cmd_screening_import)
    rescreen = screening.add_parser(
        "rescreen", help="re-screen every customer against the current lists now"
    )
    rescreen.add_argument(
        "--delta",
        type=int,
        default=None,
        metavar="VERSION_ID",
        help="only the delta re-screen of this imported list version",
    )
    rescreen.set_defaults(func=cmd_screening_rescreen)
    importing = sub.add_parser(
        "import", help="migrate a legacy book from CSV files (see docs/import.md)"
    ).add_subparsers(dest="import_command", required=True)
    customers = importing.add_parser(
        "customers", help="customers and their accounts, one account per row"
    )
    customers.add_argument("file")
    customers.add_argument(
        "--report", default=None, help="rejected rows go here (default: FILE.rejected.csv)"
    )
    customers.set_defaults(func=cmd_import_customers)
    transactions = importing.add_parser(
        "transactions", help="transactions of imported (or onboarded) accounts"
    )
    transactions.add_argument("file")
    transactions.add_argument(
        "--alert",
        action="store_true",
        help="run the monitoring rules over the imported rows and raise alerts",
    )
    transactions.add_argument(
        "--report", default=None, help="rejected rows go here (default: FILE.rejected.csv)"
    )
    transactions.set_defaults(func=cmd_import_transactions)
    samples = importing.add_parser(
        "sample-files", help="write a made-up legacy book (customers.csv, transactions.csv)"
    )
    samples.add_argument("folder")
    samples.add_argument("--customers", type=int, default=100_000)
    samples.add_argument("--transactions", type=int, default=100_000)
    samples.set_defaults(func=cmd_import_sample_files)
    aml = sub.add_parser("aml", help="transaction monitoring rules").add_subparsers(
        dest="aml_command", required=True
    )
    backtest = aml.add_parser(
        "backtest", help="replay a rule change over history, dry, and compare with today's"
    )
    backtest.add_argument("--rule", required=True, help="the rule document, e.g. aml_rule_fan_in")
    backtest.add_argument(
        "--values",
        default=None,
        help="JSON file of proposed fields (default: the change awaiting approval, if any)",
    )
    backtest.add_argument("--days", type=int, default=90, choices=range(1, 731), metavar="DAYS")
    backtest.set_defaults(func=cmd_aml_backtest)
    rejudge = aml.add_parser(
        "rejudge", help="judge stored history again under the rules in force (idempotent)"
    )
    rejudge.add_argument("--from", dest="since", type=_cli_date, required=True)
    rejudge.add_argument("--to", type=_cli_date, required=True)
    rejudge.set_defaults(func=cmd_aml_rejudge)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command not in ("web", "worker", "run"):
        configure(os.environ.get("LOG_LEVEL", "WARNING"))
    try:
        code = args.func(args)
    except (embedded.EmbeddedPostgresLocked, embedded.EmbeddedPostgresNotRunning) as exc:
        print(f"error: {exc}", file=sys.stderr)  # a sentence on what to do, not a traceback
        code = 1
    sys.stdout.flush()
    # Temporal's client can crash in interpreter finalisers (sdk-python#300): leave cleanly.
    os._exit(code)


if __name__ == "__main__":
    main()
