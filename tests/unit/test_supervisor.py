"""The supervisor's decisions (restart with backoff, give up) on a fake clock and fake children.
Real processes: tests/integration/test_run_command.py."""

from __future__ import annotations

import pytest

from core.supervisor import GaveUp, Supervised, Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Child:
    """A child that can be made to die and to fail its next starts."""

    def __init__(self) -> None:
        self.running = True
        self.starts = 0
        self.failing_starts = 0

    def start(self) -> None:
        self.starts += 1
        if self.failing_starts:
            self.failing_starts -= 1
            raise RuntimeError("port in use")
        self.running = True

    def ended(self) -> str | None:
        return None if self.running else "exit code -9"

    def spec(self, name: str) -> Supervised:
        return Supervised(name, self.start, self.ended, lambda: None)


def test_a_dead_child_is_restarted_after_its_backoff_and_the_others_are_left_alone() -> None:
    clock, worker, web = Clock(), Child(), Child()
    supervisor = Supervisor([worker.spec("worker"), web.spec("web")], clock=clock)
    worker.running = False
    supervisor.check()
    assert worker.starts == 0  # waits for its backoff first
    clock.now += 1.0
    supervisor.check()
    assert (worker.starts, worker.running) == (1, True)
    assert web.starts == 0


def test_backoff_doubles_with_each_recent_failure(caplog: pytest.LogCaptureFixture) -> None:
    clock, worker = Clock(), Child()
    supervisor = Supervisor([worker.spec("worker")], clock=clock)
    delays = []
    for _ in range(3):
        worker.running = False
        supervisor.check()
        restart_at = supervisor.children[0].restart_at
        assert restart_at is not None
        delays.append(restart_at - clock.now)
        clock.now = restart_at
        supervisor.check()
    assert delays == [1.0, 2.0, 4.0]
    assert "worker exited (exit code -9); restart attempt 3 in 4 s" in caplog.text


def test_failures_spread_beyond_the_window_never_give_up() -> None:
    clock, worker = Clock(), Child()
    supervisor = Supervisor([worker.spec("worker")], clock=clock, give_up_after=3, window=60)
    for _ in range(10):
        worker.running = False
        supervisor.check()
        clock.now += 61
        supervisor.check()
    assert worker.starts == 10


def test_a_child_that_keeps_failing_to_start_makes_the_run_give_up() -> None:
    clock, postgres = Clock(), Child()
    supervisor = Supervisor([postgres.spec("postgres")], clock=clock, give_up_after=5, window=60)
    postgres.running = False
    postgres.failing_starts = 100
    with pytest.raises(GaveUp, match=r"postgres did not start \(port in use\); it failed 5 times"):
        for _ in range(20):
            supervisor.check()
            clock.now += 1
    assert postgres.starts == 4  # the death, then four failed starts


def test_stop_all_stops_the_last_started_first() -> None:
    stopped: list[str] = []

    def child(name: str) -> Supervised:
        return Supervised(name, lambda: None, lambda: None, lambda: stopped.append(name))

    children = [child(name) for name in ("postgres", "temporal", "worker", "web")]
    Supervisor(children, orphan_grace=0).stop_all()
    assert stopped == ["web", "worker", "temporal", "postgres"]
