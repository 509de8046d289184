"""Customers: the searchable list, and the customer 360 (profile, KYC history, documents,
screening, risk, accounts with their tariff and restrictions, transactions, AML alerts and
cases, and one timeline of everything).

A customer migrated from a legacy book has no application: no profile as submitted and no
documents here; the 360 says where it came from instead. Re-screening screens it by its own
name, so its screening shows like an onboarded customer's, with the customer as the one
person screened."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import col, or_, select

from aml.commands.restrictions import RestrictionPublic
from casework.need_to_know import NeedToKnow
from configuration.tariffs import list_plans
from core.db import Database, fetch_page
from customers.activity import CustomerActivity, TransactionFilters, customer_activity
from customers.legacy_import import import_event
from identity.access import can, can_see_case, require
from identity.actors import Actor
from models.audit import AuditEvent
from models.cases import Case, Decision, Task
from models.onboarding import (
    Account,
    Application,
    ApplicationParty,
    Customer,
)
from models.staff import StaffUser
from models.tariffs import TariffPlanPublic
from onboarding.engines.risk import PepFinding
from onboarding.queries.case_view import (
    DocumentView,
    ScreeningView,
    document_views,
    screening_views,
    sees_document_numbers,
)
from onboarding.queries.records import (
    customer_screenings_of,
    documents_of,
    parties_of,
    screenings_of,
)
from screening.engines.entries import PEP
from screening.lists import label_of
from shared.iban import format_iban

CUSTOMER_STATUSES = ("active", "restricted", "closed")
RISK_LEVELS = ("low", "medium", "high")


class CustomerRow(BaseModel):
    id: uuid.UUID
    reference: str
    kind: str
    name: str
    segment: str
    country: str
    email: str | None
    status: str
    kyc_status: str
    risk_level: str
    risk_score: int
    legacy_ref: str | None = None  # migrated from a legacy book under this reference
    created_at: datetime
    ibans: list[str]


class CustomerPage(BaseModel):
    items: list[CustomerRow]
    total: int
    page: int
    per_page: int


@dataclass
class AccountView:
    account: Account
    iban: str  # print form
    plan: TariffPlanPublic | None


@dataclass
class DecisionView:
    decision: Decision
    case_reference: str
    task_title: str
    decided_by: str


@dataclass
class Customer360:
    customer: Customer
    application: Application | None
    profile: dict[str, Any]  # the submitted person or business, as received
    parties: list[ApplicationParty]
    decisions: list[DecisionView]
    alerts: list[Case]
    documents: list[DocumentView]
    masked_numbers: bool
    screening_latest: list[ScreeningView]
    screening_history: list[ScreeningView]
    risk: dict[str, Any] | None
    accounts: list[AccountView]
    cases: list[Case]
    timeline: list[AuditEvent]
    activity: CustomerActivity
    imported: AuditEvent | None = None  # the import run that created a migrated customer
    # Why the customer counts as a politically exposed person, each with its source:
    # declared at onboarding, or a PEP list entry (at onboarding or a later screening).
    pep: list[PepFinding] = field(default_factory=list)


def _compact(text: str) -> str:
    return "".join(text.split())


async def list_customers(
    db: Database,
    actor: Actor,
    *,
    q: str | None = None,
    status: str | None = None,
    risk_level: str | None = None,
    page: int = 1,
    per_page: int = 25,
) -> CustomerPage:
    """Search by name, reference, legacy reference, email or IBAN (spaces in an IBAN do not
    matter)."""
    await require(db, actor, "customer", "read", action="customer.list", object_type="customer")
    conditions: list[Any] = []
    if status:
        conditions.append(Customer.status == status)
    if risk_level:
        conditions.append(Customer.risk_level == risk_level)
    if q:
        like = f"%{q}%"
        by_iban = select(Account.customer_id).where(col(Account.iban).ilike(f"%{_compact(q)}%"))
        conditions.append(
            or_(
                col(Customer.name).ilike(like),
                col(Customer.reference).ilike(like),
                col(Customer.email).ilike(like),
                col(Customer.legacy_ref).ilike(like),
                col(Customer.id).in_(by_iban),
            )
        )
    async with db.session() as session:
        rows, total = await fetch_page(
            session,
            Customer,
            conditions,
            col(Customer.created_at).desc(),
            page=page,
            per_page=per_page,
        )
        accounts = (
            (
                await session.exec(
                    select(Account)
                    .where(col(Account.customer_id).in_([c.id for c in rows]))
                    .order_by(col(Account.opened_at))
                )
            ).all()
            if rows
            else []
        )
    ibans: dict[uuid.UUID, list[str]] = {}
    for a in accounts:
        ibans.setdefault(a.customer_id, []).append(format_iban(a.iban))
    items = [
        CustomerRow(
            **c.model_dump(include=set(CustomerRow.model_fields)), ibans=ibans.get(c.id, [])
        )
        for c in rows
    ]
    return CustomerPage(items=items, total=total, page=page, per_page=per_page)


async def customer_360(
    db: Database,
    actor: Actor,
    customer_id: uuid.UUID,
    transactions: TransactionFilters | None = None,
) -> Customer360 | None:
    """Everything about one customer as `actor` may see it; None if absent or not theirs.

    AML restrictions, events, case outcomes and decisions pass through need-to-know
    (casework.need_to_know): what the policy hides never reaches a template or the API."""
    if not can(actor, "customer", "read"):
        return None
    know = NeedToKnow.of(actor)
    async with db.session() as session:
        customer = await session.get(Customer, customer_id)
        if customer is None:
            return None
        application_id = customer.application_id
        if application_id is not None:
            application = await session.get(Application, application_id)
            parties = await parties_of(session, application_id)
            docs = await documents_of(session, application_id)
            results = await screenings_of(session, application_id, limit=200)
        else:
            application, parties, docs = None, [], []
            results = await customer_screenings_of(session, customer.id, limit=200)
        accounts = list(
            (
                await session.exec(
                    select(Account)
                    .where(Account.customer_id == customer.id)
                    .order_by(col(Account.opened_at))
                )
            ).all()
        )
        plans: dict[uuid.UUID, TariffPlanPublic | None] = {}
        for a in accounts:
            if a.tariff_plan_id not in plans:
                found = await list_plans(session, plan_id=a.tariff_plan_id)
                plans[a.tariff_plan_id] = found[0] if found else None
        all_cases = list(
            (
                await session.exec(
                    select(Case)
                    .where(
                        or_(
                            Case.customer_id == customer.id,
                            (col(Case.subject_type) == "application")
                            & (col(Case.subject_id) == str(application_id)),
                        )
                        if application_id
                        else Case.customer_id == customer.id
                    )
                    .order_by(col(Case.opened_at))
                )
            ).all()
        )
        cases = [c for c in all_cases if can_see_case(actor, c.case_type)]
        decision_rows = (
            (
                await session.exec(
                    select(Decision, Case.reference, Task.title, StaffUser.username)
                    .join(Case, col(Case.id) == Decision.case_id)
                    .join(Task, col(Task.id) == Decision.task_id)
                    .outerjoin(StaffUser, col(StaffUser.id) == Decision.actor_id)
                    .where(col(Decision.case_id).in_([c.id for c in cases]))
                    .order_by(col(Decision.decided_at))
                )
            ).all()
            if cases
            else []
        )
        object_ids = [
            str(customer.id),
            *([str(application_id)] if application_id else []),
            *(str(a.id) for a in accounts),
            *(str(p.id) for p in parties),
            *(str(c.id) for c in cases),
        ]
        timeline = list(
            (
                await session.exec(
                    select(AuditEvent)
                    .where(
                        or_(
                            col(AuditEvent.object_id).in_(object_ids),
                            col(AuditEvent.workflow_id).in_([c.workflow_id for c in cases]),
                        )
                    )
                    .order_by(col(AuditEvent.occurred_at), col(AuditEvent.id))
                    .limit(1000)
                )
            ).all()
        )
        imported = await import_event(session, customer)
        if imported is not None:
            timeline.insert(0, imported)
        activity = await customer_activity(
            session,
            actor,
            customer.id,
            [a.id for a in accounts],
            transactions or TransactionFilters(),
        )

    screenings = await screening_views(
        db, results, {p.id: p.name for p in parties}, customer_name=customer.name
    )
    if application_id is None:  # migrated: the customer itself is the one screened
        screening_latest = screenings[:1]
    else:
        latest: dict[uuid.UUID | None, ScreeningView] = {}
        for s in screenings:  # newest first: the first per party is its latest
            latest.setdefault(s.result.party_id, s)
        screening_latest = [latest[p.id] for p in parties if p.id in latest]
    masked = not sees_document_numbers(actor)
    case_types = {c.id: c.case_type for c in cases}
    payload = application.payload if application else {}
    profile = dict(payload.get("individual") or payload.get("business") or {})
    return Customer360(
        customer=customer,
        application=application,
        profile=profile,
        parties=parties,
        decisions=[
            DecisionView(know.decision(case_types[d.case_id], d), ref, title, who or "?")
            for d, ref, title, who in decision_rows
        ],
        alerts=[c for c in cases if c.case_type == "screening_alert"],
        documents=document_views(docs, masked=masked),
        masked_numbers=masked,
        screening_latest=screening_latest,
        screening_history=screenings,
        risk=application.risk if application else None,
        accounts=[
            AccountView(a, format_iban(a.iban), plans.get(a.tariff_plan_id)) for a in accounts
        ],
        cases=[know.case(c) for c in cases],
        timeline=know.timeline(timeline),
        activity=activity,
        imported=imported,
        pep=pep_status(application.risk if application else None, screening_latest),
    )


def pep_status(risk: dict[str, Any] | None, latest: list[ScreeningView]) -> list[PepFinding]:
    """The onboarding assessment's PEP findings, and PEP list hits of the latest screenings
    that it does not already name (a person listed after onboarding)."""
    found = [PepFinding.model_validate(f) for f in (risk or {}).get("pep", [])]
    known = {(f.list_name, f.reference) for f in found if f.source == "list"}
    for view in latest:
        for hit in view.result.hits:
            if PEP not in hit.get("topics", []):
                continue
            reference = hit.get("reference") or str(hit.get("list_entry_id"))
            if (hit.get("list_name"), reference) in known:
                continue
            known.add((hit.get("list_name"), reference))
            found.append(
                PepFinding(
                    person=view.party_name,
                    source="list",
                    list_name=hit.get("list_name"),
                    list_label=label_of(hit.get("list_name") or ""),
                    list_version=hit.get("list_version") or None,
                    reference=reference,
                    entry_name=hit.get("listed_name"),
                    score=hit.get("score"),
                )
            )
    return found


class AccountSummary(BaseModel):
    id: uuid.UUID
    iban: str
    currency: str
    status: str
    opened_at: datetime
    tariff_plan: str | None
    restricted: bool = Field(description="An active restriction blocks outgoing payments.")
    restrictions: list[RestrictionPublic] = Field(
        description="As the customer 360 shows them: with reason, author and AML case for "
        "readers allowed `restriction_detail`; for everyone else only the active ones, as "
        '"restricted — refer to compliance" with no reason, author or case.'
    )


class CaseSummary(BaseModel):
    id: uuid.UUID
    reference: str
    case_type: str
    status: str
    outcome: str | None


class Customer360Public(BaseModel):
    """`GET /api/v1/customers/{id}`: the customer 360 in brief."""

    customer: CustomerRow
    application_id: uuid.UUID | None
    application_status: str | None
    risk: dict[str, Any] | None
    accounts: list[AccountSummary]
    cases: list[CaseSummary]
    documents: list[dict[str, Any]]
    screening: list[dict[str, Any]]
    pep: list[PepFinding] = Field(
        default_factory=list,
        description="Why the customer counts as a politically exposed person: `source` "
        "declared (at onboarding) or list (a PEP list entry, named with its score).",
    )


def summary(view: Customer360) -> Customer360Public:
    c = view.customer
    return Customer360Public(
        customer=CustomerRow(
            **c.model_dump(include=set(CustomerRow.model_fields)),
            ibans=[a.iban for a in view.accounts],
        ),
        application_id=view.application.id if view.application else None,
        application_status=view.application.status if view.application else None,
        risk=view.risk,
        accounts=[
            AccountSummary(
                id=a.account.id,
                iban=a.iban,
                currency=a.account.currency,
                status=a.account.status,
                opened_at=a.account.opened_at,
                tariff_plan=a.plan.code if a.plan else None,
                restricted=any(
                    r.status == "active" for r in view.activity.restrictions.get(a.account.id, [])
                ),
                restrictions=view.activity.restrictions.get(a.account.id, []),
            )
            for a in view.accounts
        ],
        cases=[
            CaseSummary(
                id=c.id,
                reference=c.reference,
                case_type=c.case_type,
                status=c.status,
                outcome=c.outcome,
            )
            for c in view.cases
        ],
        documents=[
            {
                "type": d.doc_type,
                "number": d.number,
                "issuing_country": d.issuing_country,
                "expiry_date": d.expiry_date,
            }
            for d in view.documents
        ],
        screening=[
            {
                "party": s.party_name,
                "list_version": s.result.list_version,
                "screened_at": s.result.screened_at,
                "hit_count": s.result.hit_count,
                "best_score": s.result.best_score,
            }
            for s in view.screening_latest
        ],
        pep=view.pep,
    )
