"""The pure rules of follow-up: what a tag may be, which snooze dates and reasons hold, and
that the snooze workflow is registered under the name the kernel starts it by."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from casework.snooze import MAX_SNOOZE, check_snooze, date_bounds, until_of_date
from casework.tags import normalise_tag
from models.follow_up_io import SNOOZE_WORKFLOW
from shared.errors import Invalid
from workflows.case_snooze import CaseSnoozeWorkflow

NOW = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("pep", "pep"), ("  Needs-Translation ", "needs-translation"), ("l2-2027", "l2-2027")],
)
def test_a_tag_is_stored_trimmed_and_lowercase(raw: str, stored: str) -> None:
    assert normalise_tag(raw) == stored


@pytest.mark.parametrize(
    "raw", ["", "x", "two words", "under_score", "-lead", "trail-", "double--dash", "a" * 33, "é"]
)
def test_anything_but_a_short_slug_is_refused_naming_the_tag(raw: str) -> None:
    with pytest.raises(Invalid) as refused:
        normalise_tag(raw)
    assert "tag" in refused.value.fields


def test_a_snooze_until_a_date_ends_at_eight_utc_that_day() -> None:
    assert until_of_date(date(2027, 1, 15)) == datetime(2027, 1, 15, 8, 0, tzinfo=UTC)


def test_the_form_offers_today_only_while_its_wake_time_is_ahead() -> None:
    morning = datetime(2027, 1, 10, 6, 0, tzinfo=UTC)
    assert date_bounds(morning) == (date(2027, 1, 10), date(2027, 4, 10))
    assert date_bounds(NOW)[0] == date(2027, 1, 11)  # noon: 08:00 has passed


@pytest.mark.parametrize(
    ("until", "reason", "comment", "field"),
    [
        (NOW - timedelta(days=1), "awaiting_customer", None, "until"),
        (NOW + timedelta(minutes=1), "awaiting_customer", None, "until"),
        (NOW + MAX_SNOOZE + timedelta(hours=1), "awaiting_customer", None, "until"),
        (datetime(2027, 2, 1, 8, 0), "awaiting_customer", None, "until"),  # no time zone
        (NOW + timedelta(days=1), "soon", None, "reason"),
        (NOW + timedelta(days=1), "other", "   ", "comment"),
        (NOW + timedelta(days=1), "other", "short", "comment"),
        (NOW + timedelta(days=1), "awaiting_customer", "x" * 501, "comment"),
    ],
)
def test_a_snooze_out_of_bounds_names_the_field(
    until: datetime, reason: str, comment: str | None, field: str
) -> None:
    with pytest.raises(Invalid) as refused:
        check_snooze(until, reason, comment, NOW)
    assert list(refused.value.fields) == [field]


def test_a_snooze_within_bounds_keeps_its_comment_trimmed() -> None:
    assert check_snooze(NOW + MAX_SNOOZE, "other", "  Waiting for the FIU.  ", NOW) == (
        "Waiting for the FIU."
    )
    assert check_snooze(NOW + timedelta(hours=1), "awaiting_internal", "", NOW) is None


def test_the_snooze_workflow_is_registered_under_the_name_the_kernel_starts() -> None:
    assert CaseSnoozeWorkflow.__temporal_workflow_definition.name == SNOOZE_WORKFLOW  # type: ignore[attr-defined]
