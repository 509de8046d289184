"""Every task a workflow opens has a kind the inbox can filter by."""

from __future__ import annotations

import uuid

from casework.tasks import TASK_KINDS
from changes.rules import approval_specs
from onboarding.rules import alert_spec, review_spec


def test_every_task_kind_is_named_for_the_inbox_filter() -> None:
    maker = uuid.uuid4()
    specs = [
        *approval_specs("change-x", "CHG-1", "fee", "standard", maker, 3600),
        *approval_specs("change-y", "CHG-2", "limit", "elevated", maker, 3600),
        *approval_specs("change-z", "CHG-3", "cfg", "standard", maker, 3600, target_type="config"),
        review_spec(
            "onb", "ONB-1", step="analyst", round_no=1, sla_seconds=60, excluded=[], high_risk=False
        ),
        review_spec(
            "onb", "ONB-1", step="senior", round_no=1, sla_seconds=60, excluded=[], high_risk=True
        ),
        alert_spec("scr", "SCR-1", sla_seconds=60),
    ]
    assert {s.kind for s in specs} <= set(TASK_KINDS)
