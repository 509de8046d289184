"""After a bulk import's slice commits, its cases are signalled: retried, then named."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from aml.commands import casework
from aml.commands.casework import CaseRoute, CasesNotSignalled, signal_committed


def _route(reference: str) -> CaseRoute:
    case_id = uuid.uuid4()
    return CaseRoute(
        case_id=case_id,
        reference=reference,
        customer_id=uuid.uuid4(),
        workflow_id=f"aml-{case_id}",
        opened=True,
        detected_at=datetime.now(UTC),
        case=None,  # type: ignore[arg-type]  # not read: signal_cases is replaced
    )


async def test_a_signal_that_fails_once_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    async def flaky(temporal: Any, task_queue: str, routes: Sequence[CaseRoute]) -> None:
        calls.append(len(routes))
        if len(calls) == 1:
            raise RuntimeError("Temporal unavailable")

    monkeypatch.setattr(casework, "signal_cases", flaky)
    await signal_committed(None, "q", [_route("AML-1"), _route("AML-2")], pause=0)  # type: ignore[arg-type]
    assert calls == [2, 2]


async def test_signals_that_keep_failing_name_the_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    async def down(temporal: Any, task_queue: str, routes: Sequence[CaseRoute]) -> None:
        calls.append(1)
        raise RuntimeError("Temporal unavailable")

    monkeypatch.setattr(casework, "signal_cases", down)
    with pytest.raises(CasesNotSignalled) as raised:
        await signal_committed(None, "q", [_route("AML-7"), _route("AML-9")], pause=0)  # type: ignore[arg-type]
    assert len(calls) == casework.SIGNAL_ATTEMPTS
    assert raised.value.references == ["AML-7", "AML-9"]
    assert "AML-7, AML-9" in str(raised.value) and "Temporal unavailable" in str(raised.value)
