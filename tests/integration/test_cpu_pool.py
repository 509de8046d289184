"""The worker's CPU pool (core/cpu_pool.py) with real processes: its children run the work,
and none outlives the worker, even one killed with -9."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from core import cpu_pool
from tests.helpers import eventually

ROOT = Path(__file__).resolve().parents[2]

# A worker stand-in: starts the pool's children, prints its pid and theirs, then waits.
HOLDER = """
import os, sys, time
from core import cpu_pool
cpu_pool.configure(2)
jobs = [cpu_pool.submit(time.sleep, 0.5) for _ in range(2)]  # two at once: two children
for job in jobs:
    job.result()
pids = {cpu_pool.submit(os.getpid).result() for _ in range(20)}
server = {cpu_pool.submit(os.getppid).result() for _ in range(5)}
print(os.getpid(), *sorted(pids | server), flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    """Running (a zombie is dead: only its entry waits for a parent to collect it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


async def test_work_runs_in_a_child_process() -> None:
    pid = await cpu_pool.run(os.getpid)
    assert pid != os.getpid()


async def test_no_pool_process_outlives_a_worker_killed_with_sigkill() -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, cwd=ROOT, stdout=subprocess.PIPE
    )
    assert holder.stdout is not None
    line = await asyncio.wait_for(holder.stdout.readline(), timeout=120)
    worker, *pool = (int(p) for p in line.split())
    assert worker == holder.pid
    assert len(pool) == 3, line  # two children and the forkserver they were forked from
    assert all(alive(p) for p in pool)

    os.kill(worker, signal.SIGKILL)

    async def all_gone() -> bool:
        return not any(alive(p) for p in pool)

    await eventually(all_gone, within=30, what="the pool's processes to end")
    assert await holder.wait() == -signal.SIGKILL
