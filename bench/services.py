"""The real services a benchmark run needs, started fresh and always stopped.

Embedded PostgreSQL in a temporary directory (migrated, with the least-privileged app role,
as tests/conftest.py does) and a Temporal dev server in memory on a free port.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core import embedded
from core.db import DatabaseUrls, libpq_url
from core.schema import ensure_database, migrate
from core.settings import Settings

log = logging.getLogger(__name__)

APP_ROLE = "backoffice_app"
DATABASE = "backoffice_bench"


@dataclass(frozen=True)
class Services:
    workdir: Path
    socket_dir: Path
    urls: DatabaseUrls
    temporal_address: str

    @property
    def owner_dsn(self) -> str:
        """libpq DSN of the database owner (bulk loads, VACUUM)."""
        return libpq_url(self.urls.admin)

    @property
    def app_dsn(self) -> str:
        """libpq DSN of the app role: what the raw-SQL baselines connect as."""
        return libpq_url(self.urls.app)

    def settings(self, task_queue: str) -> Settings:
        return Settings(
            environment="development",
            data_dir=self.workdir / "data",
            database_url=self.urls.app,
            database_admin_url=self.urls.admin,
            app_db_role=APP_ROLE,
            temporal_address=self.temporal_address,
            task_queue=task_queue,
            log_level="WARNING",
            _env_file=None,  # type: ignore[call-arg]
        )


class _Processes:
    """What running_services started, stoppable once from any thread (the watchdog's too)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.pgdata = workdir / "pg" / "data"
        self.temporal: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self.temporal is not None:
                embedded.stop_process(self.temporal)
            embedded.stop_postgres(self.pgdata)  # a no-op when it never started
            shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def running_services() -> Iterator[tuple[Services, Callable[[], None]]]:
    """Start PostgreSQL + Temporal; yield them and a `stop()` that is safe to call early.

    On any exit both servers are stopped and the temporary directory is deleted.
    """
    processes = _Processes(Path(tempfile.mkdtemp(prefix="bo-bench-")))
    try:
        socket_dir = embedded.start_postgres(processes.pgdata, app_role=APP_ROLE)
        pgdata = processes.pgdata
        superuser = embedded.POSTGRES_SUPERUSER
        ensure_database(
            embedded.postgres_url(pgdata, superuser, "postgres", socket_dir=socket_dir), DATABASE
        )
        urls = DatabaseUrls(
            app=embedded.postgres_url(pgdata, APP_ROLE, DATABASE, socket_dir=socket_dir),
            admin=embedded.postgres_url(pgdata, superuser, DATABASE, socket_dir=socket_dir),
        )
        migrate(urls, app_role=APP_ROLE, embedded=True)
        port = embedded.free_port()
        processes.temporal = embedded.start_temporal(
            port=port,
            ui_port=None,
            db_file=None,  # in memory: the fastest Temporal can be on this machine
            log_file=processes.workdir / "temporal.log",
            namespace="default",
        )
        services = Services(
            workdir=processes.workdir,
            socket_dir=socket_dir,
            urls=urls,
            temporal_address=f"127.0.0.1:{port}",
        )
        yield services, processes.stop
    finally:
        processes.stop()


def queue_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
