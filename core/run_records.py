"""Which servers `backoffice run` started for a DATA_DIR: DATA_DIR/run/<name>.json.

Each record holds the pid, the process's create time and its command line. A pid alone is
not an identity (pids are reused), so a record names a live process only when all three
still match; nothing else is ever signalled. The next `run` on the same DATA_DIR uses them
to stop what a killed run left behind; another DATA_DIR has other records and is never
touched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

log = logging.getLogger("backoffice.run")


@dataclass(frozen=True)
class Record:
    name: str
    pid: int
    create_time: float
    cmdline: list[str]


def records_dir(data_dir: Path) -> Path:
    return data_dir.resolve() / "run"


def write(data_dir: Path, name: str, pid: int, *, cmdline: list[str] | None = None) -> Record:
    """Record the live process `pid` as this DATA_DIR's `name`. Pass `cmdline` for a child
    just spawned: until it has exec'd, the system still shows its parent's command line."""
    process = psutil.Process(pid)
    record = Record(name, pid, process.create_time(), cmdline or process.cmdline())
    folder = records_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2) + "\n")
    os.replace(tmp, path)
    return record


def read(data_dir: Path, name: str) -> Record | None:
    try:
        data = json.loads((records_dir(data_dir) / f"{name}.json").read_text())
        return Record(
            str(data["name"]), int(data["pid"]), float(data["create_time"]), list(data["cmdline"])
        )
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def remove(data_dir: Path, name: str) -> None:
    (records_dir(data_dir) / f"{name}.json").unlink(missing_ok=True)


def live(record: Record) -> psutil.Process | None:
    """The process the record names, if it still runs and is still that process."""
    try:
        process = psutil.Process(record.pid)
        same = (
            abs(process.create_time() - record.create_time) < 0.01
            and process.cmdline() == record.cmdline
            and process.status() != psutil.STATUS_ZOMBIE
        )
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return process if same else None


def terminate(process: psutil.Process, *, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it is still there after `timeout` seconds."""
    with contextlib.suppress(psutil.NoSuchProcess):
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except psutil.TimeoutExpired:
            log.warning(
                "pid %d did not stop on SIGTERM within %.0f s; killing it", process.pid, timeout
            )
            process.kill()
            process.wait(timeout)
