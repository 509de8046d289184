"""The one SLA/priority rule (casework/priority.py) and the inbox's URL form of a query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest

from casework import priority as rule
from casework.inbox import InboxQuery
from shared.errors import Invalid

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("priority", "level", "risk", "expected"),
    [
        ("normal", 0, "low", "normal"),
        ("low", 0, None, "low"),
        ("normal", 0, "high", "high"),  # AML-1030: a high-risk customer's L1 task
        ("normal", 1, "low", "high"),
        ("normal", 2, "low", "urgent"),
        ("high", 5, "low", "urgent"),
        ("urgent", 0, "low", "urgent"),
        ("low", 0, "medium", "low"),
        ("mystery", 0, "low", "normal"),
    ],
)
def test_a_tasks_priority_is_the_highest_its_priority_level_and_risk_imply(
    priority: str, level: int, risk: str | None, expected: str
) -> None:
    assert rule.task_priority(priority, level, risk) == expected


def test_a_cases_priority_is_its_most_urgent_open_tasks_else_its_own() -> None:
    assert rule.case_priority("high", "low", [rule.RANK["normal"]]) == "normal"
    assert rule.case_priority("normal", "low", [1, 3, 2]) == "urgent"
    assert rule.case_priority("normal", "high", []) == "high"


def test_sla_state_due_soon_is_a_quarter_of_the_sla_or_four_hours() -> None:
    created = NOW - timedelta(hours=20)
    assert rule.sla_state("open", created, NOW - timedelta(seconds=1), NOW) == "overdue"
    assert rule.sla_state("claimed", created, NOW + timedelta(hours=3), NOW) == "due_soon"
    # 40 h SLA: a quarter is 10 h
    assert rule.sla_state("open", NOW - timedelta(hours=31), NOW + timedelta(hours=9), NOW) == (
        "due_soon"
    )
    assert rule.sla_state("open", created, NOW + timedelta(hours=30), NOW) == "ok"
    assert rule.sla_state("decided", created, NOW - timedelta(hours=1), NOW) == "closed"


def test_the_sql_rule_is_rendered_from_the_same_tables() -> None:
    assert "WHEN 'urgent' THEN 3" in rule.URGENCY_SQL
    assert (
        "p_level >= 2 THEN 3" in rule.URGENCY_SQL
        and "p_risk WHEN 'high' THEN 2" in rule.URGENCY_SQL
    )


def test_an_inbox_query_travels_in_the_url_and_headers_toggle_the_sort() -> None:
    query = InboxQuery.of(scope="available", q=" AML-1 ", overdue=True, page=3, kind="")
    assert parse_qs(query.query_string()) == {
        "scope": ["available"],
        "sla": ["overdue"],
        "q": ["AML-1"],
        "page": ["3"],
    }
    assert "page" not in parse_qs(query.view_string())
    due = parse_qs(query.sorted_by("due"))
    assert due["sort"] == ["due"] and "page" not in due  # a new sort starts at page 1
    assert parse_qs(InboxQuery.of(sort="due").sorted_by("due"))["sort"] == ["-due"]
    # the default sort, clicked again, reverses
    assert parse_qs(query.sorted_by("priority"))["sort"] == ["-priority"]
    with pytest.raises(Invalid) as refused:
        InboxQuery.of(sort="sideways", sla="later", scope="everyone")
    assert set(refused.value.fields or {}) == {"sort", "sla", "scope"}
