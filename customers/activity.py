"""The customer 360's activity: transactions (filtered, paged) with their disputes, AML
alerts and cases, the restrictions on the customer's accounts and the money adjustments
booked on them — each as the reader's roles allow.

Transactions need `transaction:read`; alerts need `aml:read` (monitoring output is not for
everyone who may read the customer), their texts `aml_narrative:read`; adjustments need
`adjustment:read`; a case is linked only for those who may open it. Active restrictions are
shown to everyone who reads the customer (they explain why payments fail), but why, by whom
and under which case only with `restriction_detail:read`: to the others (support, disputes)
a restriction is "restricted — refer to compliance" (casework.need_to_know).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from aml.commands.casework import CASE_TYPE_AML
from aml.commands.restrictions import RestrictionPublic, restrictions_of
from aml.queries.transaction_list import transaction_conditions
from aml.rules import TIER_LABELS
from casework.need_to_know import NeedToKnow
from disputes.commands.adjustments import AdjustmentPublic, customer_adjustments
from disputes.queries.detail import DisputeLink, disputes_of
from disputes.rules import CASE_TYPE_DISPUTE
from identity.access import can, can_see_case
from identity.actors import Actor
from models.aml import CHANNELS, DIRECTIONS, AmlAlert, AmlCase, Transaction
from models.cases import Case
from models.onboarding import Account
from shared.errors import Invalid
from shared.iban import format_iban

TRANSACTIONS_PER_PAGE = 25
ALERTS_SHOWN = 50


@dataclass(frozen=True)
class TransactionFilters:
    direction: str = ""
    channel: str = ""
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    page: int = 1

    @classmethod
    def parse(
        cls,
        *,
        direction: str | None,
        channel: str | None,
        date_from: str | None,
        date_to: str | None,
        page: int,
    ) -> TransactionFilters:
        """From query parameters; refuses (naming each field) what is not a filter."""
        problems: dict[str, str] = {}
        if direction and direction not in DIRECTIONS:
            problems["tx_direction"] = f"one of {', '.join(DIRECTIONS)}"
        if channel and channel not in CHANNELS:
            problems["tx_channel"] = f"one of {', '.join(CHANNELS)}"
        days: dict[str, date | None] = {}
        for name, raw in (("tx_from", date_from), ("tx_to", date_to)):
            try:
                days[name] = date.fromisoformat(raw) if raw else None
            except ValueError:
                problems[name] = "a date as YYYY-MM-DD"
        if problems:
            raise Invalid("These transaction filters are not valid.", fields=problems)
        return cls(direction or "", channel or "", days["tx_from"], days["tx_to"], max(page, 1))

    def query(self, page: int | None = None) -> dict[str, str]:
        """The filters as query parameters (for pager links), on `page` if given."""
        params = {
            "tx_direction": self.direction,
            "tx_channel": self.channel,
            "tx_from": self.date_from.isoformat() if self.date_from else "",
            "tx_to": self.date_to.isoformat() if self.date_to else "",
        }
        params = {k: v for k, v in params.items() if v}
        params["tx_page"] = str(page or self.page)
        return params


@dataclass
class TransactionRow:
    transaction: Transaction
    iban: str  # print form, of the customer's account


@dataclass
class TransactionPage:
    items: list[TransactionRow]
    total: int
    page: int
    pages: int
    filters: TransactionFilters


@dataclass
class AlertRow:
    alert: AmlAlert
    case_reference: str | None
    case_visible: bool  # link it only for readers who may open it


@dataclass
class AmlCaseRow:
    case: Case
    aml: AmlCase
    tier_label: str


@dataclass
class CustomerActivity:
    """None for a section means the reader's roles do not cover it."""

    transactions: TransactionPage | None
    alerts: list[AlertRow] | None
    alert_total: int
    aml_cases: list[AmlCaseRow] | None
    restrictions: dict[uuid.UUID, list[RestrictionPublic]] = field(default_factory=dict)
    sees_case: bool = False  # may open AML cases
    sees_restriction_detail: bool = False  # why, by whom, under which case (else redacted)
    # transaction id -> its dispute, for the transactions on the page shown
    disputes: dict[uuid.UUID, DisputeLink] = field(default_factory=dict)
    can_dispute: bool = False  # may open a dispute on a card payment out
    adjustments: list[AdjustmentPublic] | None = None
    sees_dispute_case: bool = False

    def disputable(self, transaction: Transaction) -> bool:
        """Offer "Dispute" on this row: a card payment out without a dispute yet. (The form
        says why when it is past the scheme's filing window.)"""
        return (
            self.can_dispute
            and transaction.channel == "card"
            and transaction.direction == "out"
            and transaction.id not in self.disputes
        )


async def transaction_page(
    session: AsyncSession,
    customer_id: uuid.UUID,
    filters: TransactionFilters,
    *,
    per_page: int = TRANSACTIONS_PER_PAGE,
) -> TransactionPage:
    """The customer's transactions, newest first (dates are UTC days, both ends included)."""
    conditions = transaction_conditions(
        customer_id=customer_id,
        direction=filters.direction,
        channel=filters.channel,
        date_from=filters.date_from,
        date_to=filters.date_to,
    )
    total = (
        await session.exec(select(func.count()).select_from(Transaction).where(*conditions))
    ).one()
    pages = max(1, -(-total // per_page))
    page = min(filters.page, pages)
    rows = (
        await session.exec(
            select(Transaction, Account.iban)
            .join(Account, col(Account.id) == Transaction.account_id)
            .where(*conditions)
            .order_by(col(Transaction.booked_at).desc(), col(Transaction.id))
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    ).all()
    return TransactionPage(
        items=[TransactionRow(t, format_iban(iban)) for t, iban in rows],
        total=int(total),
        page=page,
        pages=pages,
        filters=filters,
    )


async def customer_activity(
    session: AsyncSession,
    actor: Actor,
    customer_id: uuid.UUID,
    account_ids: Sequence[uuid.UUID],
    filters: TransactionFilters,
) -> CustomerActivity:
    """Inside the 360's session: the caller has checked the actor may read the customer."""
    sees_case = can_see_case(actor, CASE_TYPE_AML)
    know = NeedToKnow.of(actor)
    transactions = (
        await transaction_page(session, customer_id, filters)
        if can(actor, "transaction", "read")
        else None
    )
    alerts: list[AlertRow] | None = None
    alert_total = 0
    aml_cases: list[AmlCaseRow] | None = None
    if can(actor, "aml", "read"):
        alert_total = (
            await session.exec(
                select(func.count())
                .select_from(AmlAlert)
                .where(AmlAlert.customer_id == customer_id)
            )
        ).one()
        found = (
            await session.exec(
                select(AmlAlert, Case.reference)
                .outerjoin(Case, col(Case.id) == AmlAlert.case_id)
                .where(AmlAlert.customer_id == customer_id)
                .order_by(col(AmlAlert.detected_at).desc())
                .limit(ALERTS_SHOWN)
            )
        ).all()
        alerts = [
            AlertRow(
                # The rule, severity and time are metadata; the alert's text is narrative.
                know.alert(a),
                ref,
                sees_case and a.case_id is not None,
            )
            for a, ref in found
        ]
    if sees_case:
        aml_cases = [
            AmlCaseRow(
                know.case(case),
                know.aml_case(aml),
                TIER_LABELS.get(case.stage, case.stage.replace("_", " ")),
            )
            for case, aml in (
                await session.exec(
                    select(Case, AmlCase)
                    .join(AmlCase, col(AmlCase.case_id) == Case.id)
                    .where(AmlCase.customer_id == customer_id)
                    .order_by(col(AmlCase.detected_at).desc())
                )
            ).all()
        ]
    restrictions: dict[uuid.UUID, list[RestrictionPublic]] = {}
    found_restrictions = (
        await restrictions_of(session, account_ids=list(account_ids)) if account_ids else []
    )
    for r in know.restrictions(found_restrictions):
        restrictions.setdefault(r.account_id, []).append(r)
    disputes = (
        await disputes_of(session, actor, [row.transaction.id for row in transactions.items])
        if transactions is not None
        else {}
    )
    adjustments = (
        await customer_adjustments(session, customer_id)
        if can(actor, "adjustment", "read")
        else None
    )
    return CustomerActivity(
        transactions=transactions,
        alerts=alerts,
        alert_total=int(alert_total),
        aml_cases=aml_cases,
        restrictions=restrictions,
        sees_case=sees_case,
        sees_restriction_detail=know.restriction_detail,
        disputes=disputes,
        can_dispute=can(actor, "dispute", "open"),
        adjustments=adjustments,
        sees_dispute_case=can_see_case(actor, CASE_TYPE_DISPUTE),
    )
