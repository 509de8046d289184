"""The worker's process pool for CPU-heavy pure work (reading statement files, screening
names), so that it never holds the worker's interpreter.

Temporal runs workflow activations in threads of the worker's own interpreter and fails a
workflow task whose activation does not yield within 2 seconds ("Potential deadlock
detected"). Parsing a large statement or screening a batch of names in that interpreter
holds the GIL for long stretches and starves those threads; in a child process it cannot.
(Matching stays in a thread: its numpy/pandas passes let other threads run, and pickling
its frames for a child would hold the GIL longer than the passes do.)

One pool per worker process, created on first use and shut down with the process
(`shutdown()` from `run_worker`, and at interpreter exit). Children start from a
`forkserver` that has already imported the pure modules, so a new child is ready in a few
milliseconds. They ignore Ctrl-C (the parent stops them) and die with the worker even when
it is killed with -9: each child watches the worker through a pidfd, and closes its copy of
the forkserver's "alive" pipe so that the forkserver ends with the worker too (a child also
gets SIGKILL when the forkserver ends). As with `spawn`, a child imports the worker's main
script as `__mp_main__`: a script that uses the pool needs an `if __name__ == "__main__"`
guard (ours have one).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

# Modules the forkserver imports once, so that every child starts with them loaded.
PRELOAD = [
    "reconciliation.engines.parse_stream",
    "screening.engines.batch",
]
MAX_AUTOMATIC = 4


def automatic_size() -> int:
    """Children when CPU_WORKERS says 0: the cores but one, at least 2 (a long parse must
    not queue a screening batch behind it), at most MAX_AUTOMATIC."""
    return min(MAX_AUTOMATIC, max(2, (os.cpu_count() or 1) - 1))


_executor: ProcessPoolExecutor | None = None
_size = 0
_lock = threading.Lock()


def configure(workers: int) -> None:
    """The pool's size (0: automatic), before its first use (CPU_WORKERS)."""
    global _size
    _size = max(0, workers)


def size() -> int:
    """How many children the pool has (at most)."""
    return _size or automatic_size()


def executor() -> ProcessPoolExecutor:
    """The process's pool, started on first use."""
    global _executor
    with _lock:
        if _executor is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            _executor = ProcessPoolExecutor(
                max_workers=size(),
                mp_context=context,
                initializer=_child_started,
                initargs=(os.getpid(),),
            )
        return _executor


def submit(fn: Callable[..., T], *args: Any) -> Future[T]:
    """`fn(*args)` in a child process. A pool broken by a child that died (killed, out of
    memory) fails the work it held (a retried activity redoes it) and is replaced here."""
    global _executor
    try:
        return executor().submit(fn, *args)
    except BrokenProcessPool:
        log.warning("a CPU pool child died; starting a new pool")
        with _lock:
            broken, _executor = _executor, None
        if broken is not None:
            broken.shutdown(wait=False, cancel_futures=True)
        return executor().submit(fn, *args)


async def start(fn: Callable[..., T], *args: Any) -> Future[T]:
    """`submit`, from a thread: starting a child waits until the forkserver has imported
    PRELOAD (seconds, the first time), and the event loop must not wait with it."""
    return await asyncio.to_thread(submit, fn, *args)


async def run(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a child process; the event loop and the workflow threads run on."""
    return await asyncio.wrap_future(await start(fn, *args))


def warm_up() -> None:
    """Start the pool's children now, in a background thread, so that the first statement
    or screening batch does not wait for them."""

    def start_all() -> None:
        with contextlib.suppress(Exception):  # a failure shows again on first real use
            pool = executor()
            for job in [pool.submit(os.getpid) for _ in range(size())]:
                job.result()

    threading.Thread(target=start_all, name="cpu-pool-warm-up", daemon=True).start()


def shutdown() -> None:
    """Stop the children (work in flight is abandoned; a retried activity redoes it)."""
    global _executor
    with _lock:
        pool, _executor = _executor, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


atexit.register(shutdown)


# -- in the child ----------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def _child_started(worker_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the parent decides
    # The forkserver exits when every holder of its "alive" pipe has closed it, and each
    # child is handed a copy (to start processes of its own, which ours never do): closed
    # here, the forkserver ends with the worker rather than waiting for its children.
    with contextlib.suppress(Exception):
        from multiprocessing import forkserver

        alive = forkserver._forkserver._forkserver_alive_fd  # type: ignore[attr-defined]  # (private, no public way)
        if alive is not None:
            os.close(alive)
            forkserver._forkserver._forkserver_alive_fd = None  # type: ignore[attr-defined]
    if sys.platform == "linux":
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # when the forkserver ends
    threading.Thread(
        target=_watch_worker, args=(worker_pid,), name="worker-watch", daemon=True
    ).start()


def _watch_worker(pid: int) -> None:
    """Exit as soon as the worker process is gone (its parent is the forkserver, so no
    death signal tells it): a pidfd becomes readable when the process ends."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):  # no pidfd here: ask every second
        while _exists(pid):
            time.sleep(1.0)
        os._exit(1)
    select.select([pidfd], [], [])
    os._exit(1)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
