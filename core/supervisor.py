"""What keeps `backoffice run`'s children alive: restart with backoff, or give up loudly.

`run` starts a handful of servers (embedded PostgreSQL, the Temporal dev server, the worker,
the web app). Each is a `Supervised`: how to start it, how to tell it ended, how to stop it.
The `Supervisor` polls them: a child that ended is started again after a backoff that grows
with its recent failures (1 s, 2 s, 4 s … up to 30 s); one that fails `give_up_after` times
within `window` seconds makes the run give up (`GaveUp`), so it stops everything and exits
non-zero for the process manager above it to see.

The operating system does the part it can do better than any loop: `die_with_parent` asks
Linux to signal a child when `run` itself dies (PR_SET_PDEATHSIG), so a `kill -9` of `run`
leaves no worker, web or Temporal behind. PostgreSQL is daemonised by pg_ctl and cannot be
tied that way; `core.run_records` finds it (and anything else) on the next start.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("backoffice.supervisor")

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None]:
    """A `preexec_fn` for `subprocess.Popen`: the child gets `sig` when its parent dies.

    Linux sends it when the *thread* that forked the child ends, so spawn from the main
    thread. If the parent died between fork and prctl, the child signals itself at once.
    """
    parent = os.getpid()

    def preexec() -> None:
        if _libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return  # not Linux-like: the records under DATA_DIR still find it later
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return preexec


def adopt_orphans() -> None:
    """Become the parent of any process our children leave behind when they die (Linux
    PR_SET_CHILD_SUBREAPER), instead of init: `Supervisor` then ends them. A worker killed
    with -9 leaves its process pool's server that way; pg_ctl's postmaster lands here too."""
    _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


@dataclass
class Supervised:
    """One child `run` keeps alive.

    `start` starts it (and returns once it is up, or raises); `ended` says how it ended
    ("exit code -9") or None while it runs; `stop` stops it cleanly.
    """

    name: str
    start: Callable[[], None]
    ended: Callable[[], str | None]
    stop: Callable[[], None]
    pid: Callable[[], int | None] = lambda: None  # of the process it runs, when it runs
    failures: deque[float] = field(default_factory=deque)
    restart_at: float | None = None  # set while it is down and waiting for its backoff


class GaveUp(RuntimeError):
    """A child kept failing; the run must stop and exit non-zero."""


@dataclass
class Supervisor:
    children: list[Supervised]
    give_up_after: int = 5
    window: float = 60.0
    first_backoff: float = 1.0
    max_backoff: float = 30.0
    clock: Callable[[], float] = time.monotonic
    ends_orphans: bool = False  # after `adopt_orphans`: every other child is an orphan
    orphan_grace: float = 10.0
    _orphans: dict[int, float] = field(default_factory=dict)  # pid -> when it was first seen
    _helpers: set[int] = field(default_factory=set)  # our own, see `spare_own_helpers`

    def check(self) -> None:
        """One look at every child: notice an end, restart what is due; raise GaveUp."""
        for child in self.children:
            if child.restart_at is None:
                how = child.ended()
                if how is None:
                    continue
                self._failed(child, f"exited ({how})")
            if child.restart_at is not None and self.clock() >= child.restart_at:
                attempt = len(child.failures)
                log.warning("restarting %s (attempt %d)", child.name, attempt)
                try:
                    child.start()
                except Exception as exc:  # a failed start is one more failure, with backoff
                    self._failed(child, f"did not start ({exc})")
                else:
                    child.restart_at = None
                    log.warning("%s is running again (attempt %d)", child.name, attempt)
        self.end_orphans()

    def spare_own_helpers(self) -> None:
        """Count every child that is not a supervised one as this process's own (e.g. the
        forkserver and resource tracker of the CPU pool the in-process demo seed used), not
        as an orphan: call it before anything can have died and been adopted."""
        import psutil

        owned = {pid for child in self.children if (pid := child.pid()) is not None}
        self._helpers |= {p.pid for p in psutil.Process().children() if p.pid not in owned}

    def end_orphans(self, *, grace: float | None = None) -> None:
        """End the processes adopted from dead children (see `adopt_orphans`): SIGTERM,
        then SIGKILL after `orphan_grace` seconds; reap the ones that exited."""
        import psutil

        if not self.ends_orphans:
            return
        grace = self.orphan_grace if grace is None else grace
        owned = {pid for child in self.children if (pid := child.pid()) is not None}
        owned |= self._helpers
        now = self.clock()
        seen: dict[int, float] = {}
        for process in psutil.Process().children():
            if process.pid in owned:
                continue
            try:
                if process.status() == psutil.STATUS_ZOMBIE:
                    os.waitpid(process.pid, os.WNOHANG)
                    continue
                first = self._orphans.get(process.pid)
                if first is None:
                    log.warning("ending pid %d, left behind by a child that died", process.pid)
                    process.terminate()
                    first = now
                elif now - first >= grace:
                    process.kill()
                seen[process.pid] = first
            except (psutil.NoSuchProcess, ChildProcessError):
                continue
        self._orphans = seen

    def _failed(self, child: Supervised, how: str) -> None:
        now = self.clock()
        child.failures.append(now)
        while child.failures and child.failures[0] < now - self.window:
            child.failures.popleft()
        recent = len(child.failures)
        if recent >= self.give_up_after:
            raise GaveUp(
                f"{child.name} {how}; it failed {recent} times within {self.window:.0f} s, "
                "giving up"
            )
        delay = min(self.first_backoff * 2 ** (recent - 1), self.max_backoff)
        child.restart_at = now + delay
        message = f"{child.name} {how}; restart attempt {recent} in {delay:.0f} s"
        log.error(message)

    def run(self, stopping: Callable[[], bool], *, interval: float = 0.5) -> None:
        """Watch until `stopping()` says so; raises GaveUp when a child keeps failing."""
        while not stopping():
            self.check()
            time.sleep(interval)

    def stop_all(self) -> None:
        """Stop every child, the last started first; one that fails to stop is logged."""
        for child in reversed(self.children):
            try:
                child.stop()
            except Exception:
                log.exception("stopping %s failed", child.name)
        self.children = []
        self._helpers = set()  # on the way out our own helpers end too, and are waited for
        deadline = self.clock() + self.orphan_grace
        self.end_orphans()
        while self._orphans and self.clock() < deadline:
            time.sleep(0.1)
            self.end_orphans()
        self.end_orphans(grace=0)
