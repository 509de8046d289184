"""Access reviews' pure rules: the campaign's period, who reviews a grant, what a closed
revocation becomes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from access_reviews.rules import KEPT, REVOKED, period_of, reviewer_for, revocation_outcome


@pytest.mark.parametrize(
    ("month", "quarter"), [(1, "Q1"), (3, "Q1"), (4, "Q2"), (9, "Q3"), (10, "Q4"), (12, "Q4")]
)
def test_a_campaign_is_named_for_its_quarter(month: int, quarter: str) -> None:
    assert period_of(datetime(2027, month, 1, 6, tzinfo=UTC)) == f"2027-{quarter}"


def test_the_role_owner_reviews_its_holders() -> None:
    owner, holder = uuid.uuid4(), uuid.uuid4()
    assert reviewer_for("mlro", holder, {"mlro": owner}) == owner


def test_a_role_without_owner_is_reviewed_by_the_administrators() -> None:
    assert reviewer_for("support", uuid.uuid4(), {"mlro": uuid.uuid4()}) is None


def test_an_owner_does_not_review_their_own_grant() -> None:
    owner = uuid.uuid4()
    assert reviewer_for("mlro", owner, {"mlro": owner}) is None


@pytest.mark.parametrize(
    ("change_status", "outcome"),
    [
        ("applied", REVOKED),
        ("rejected", KEPT),
        ("expired", KEPT),
        ("withdrawn", KEPT),
        ("superseded", KEPT),
        ("pending_approval", None),
        ("scheduled", None),
    ],
)
def test_a_revocation_settles_when_its_role_change_closes(
    change_status: str, outcome: str | None
) -> None:
    assert revocation_outcome(change_status) == outcome
