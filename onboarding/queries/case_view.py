"""What a reviewer sees on an onboarding or screening-alert case: the application, its
parties with their documents, checks and screening hits (beside the listed entry), the
risk score and why, and what was asked of the applicant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from core.db import Database
from identity.access import can
from identity.actors import Actor
from models.applications import BUSINESS_DOCUMENT_TYPES, DOCUMENT_TYPES
from models.audit import AuditEvent
from models.cases import Case
from models.onboarding import (
    Account,
    ApplicantMessage,
    Application,
    ApplicationDocument,
    ApplicationParty,
    Customer,
    ScreeningResult,
)
from models.screening import WatchlistEntryPublic
from onboarding.queries.records import documents_of, messages_of, parties_of, screenings_of
from screening.commands.service import get_entry
from screening.commands.suppressions import AlertHitState, alert_hits
from shared.iban import format_iban

# Roles whose work needs a document's full number; everyone else sees its last characters.
DOCUMENT_NUMBER_ROLES = frozenset(
    {"kyc_analyst", "kyc_senior", "aml_investigator", "mlro", "auditor"}
)
DOCUMENT_LABELS = DOCUMENT_TYPES | BUSINESS_DOCUMENT_TYPES
ROUTE_LABELS = {
    "auto": "automatic approval (low risk)",
    "analyst": "one KYC analyst (medium risk)",
    "four_eyes": "KYC analyst, then a different senior (four-eyes, high risk)",
    "edd": "enhanced due diligence: KYC analyst records the source of funds, then a different "
    "senior approves (politically exposed person)",
}


def sees_document_numbers(actor: Actor) -> bool:
    return bool(actor.roles & DOCUMENT_NUMBER_ROLES)


def mask_number(number: str | None, *, visible: int = 3) -> str:
    if not number:
        return "—"
    return "•" * max(len(number) - visible, 3) + number[-visible:]


@dataclass
class DocumentView:
    id: uuid.UUID
    party_id: uuid.UUID | None
    doc_type: str
    label: str
    number: str  # full, or masked for roles that do not need it
    issuing_country: str | None
    expiry_date: Any
    source: str
    received_at: datetime


@dataclass
class HitView:
    hit: dict[str, Any]
    entry: WatchlistEntryPublic | None


@dataclass
class ScreeningView:
    result: ScreeningResult
    party_name: str
    hits: list[HitView]


@dataclass
class PartyView:
    party: ApplicationParty
    details: dict[str, Any]  # the submitted person / business, as received
    documents: list[DocumentView] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    screening: ScreeningView | None = None  # the latest
    screening_history: list[ScreeningView] = field(default_factory=list)


@dataclass
class OnboardingView:
    application: Application
    payload: dict[str, Any]
    parties: list[PartyView]
    business: dict[str, Any] | None
    documents_report: dict[str, Any] | None
    general_checks: list[dict[str, Any]]  # checks not about one person
    risk: dict[str, Any] | None
    route_label: str | None
    messages: list[ApplicantMessage]
    customer: Customer | None
    account_iban: str | None
    masked_numbers: bool


@dataclass
class AlertView:
    customer: Customer | None
    screenings: list[ScreeningView]  # the re-screening results that raised the alert
    new_entry_ids: list[int]
    name_only: bool = False  # a migrated customer: no date of birth or nationality compared
    # Each hit's state and whitelisting (four-eyes), from screening_match / _suppression.
    hits: list[AlertHitState] = field(default_factory=list)


def _details_for(payload: dict[str, Any], party: ApplicationParty) -> dict[str, Any]:
    if payload.get("individual") is not None:
        return dict(payload["individual"]) if party.role == "applicant" else {}
    business = payload.get("business") or {}
    if party.role == "business":
        return {k: v for k, v in business.items() if k not in ("directors", "beneficial_owners")}
    people = [*business.get("directors", []), *business.get("beneficial_owners", [])]
    return next(
        (dict(p) for p in people if p.get("full_name", "").casefold() == party.name.casefold()),
        {},
    )


def document_views(docs: list[ApplicationDocument], *, masked: bool) -> list[DocumentView]:
    return [
        DocumentView(
            id=d.id,
            party_id=d.party_id,
            doc_type=d.doc_type,
            label=DOCUMENT_LABELS.get(d.doc_type, d.doc_type.replace("_", " ")),
            number=mask_number(d.number) if masked else (d.number or "—"),
            issuing_country=d.issuing_country,
            expiry_date=d.expiry_date,
            source=d.source,
            received_at=d.received_at,
        )
        for d in docs
    ]


async def screening_views(
    db: Database,
    results: list[ScreeningResult],
    names: dict[uuid.UUID, str],
    *,
    customer_name: str = "?",
) -> list[ScreeningView]:
    """Each result with every hit beside the listed entry as of the list that produced it.

    `names` are the parties' names; a result naming no party screened the (migrated)
    customer itself, `customer_name`."""
    entries: dict[tuple[int, str, str], WatchlistEntryPublic | None] = {}
    views = []
    for result in results:
        hits = []
        for hit in result.hits:
            # A hit names its list and version; one stored before several lists were
            # screened is OFAC SDN's, of the result's single version.
            list_name = hit.get("list_name") or "OFAC-SDN"
            version = hit.get("list_version") or result.list_version
            key = (int(hit["list_entry_id"]), version, list_name)
            if key not in entries:
                entries[key] = await get_entry(db, key[0], version, list_name=list_name)
            hits.append(HitView(hit=hit, entry=entries[key]))
        name = names.get(result.party_id, "?") if result.party_id else customer_name
        views.append(ScreeningView(result, name, hits))
    return views


def _party_checks(report: dict[str, Any] | None, name: str) -> list[dict[str, Any]]:
    checks = (report or {}).get("checks", [])
    return [c for c in checks if (c.get("party") or "").casefold() == name.casefold()]


async def onboarding_case_view(db: Database, actor: Actor, case: Case) -> OnboardingView | None:
    """The application behind an onboarding case; None when there is none."""
    if case.subject_type != "application":
        return None
    async with db.session() as session:
        application = await session.get(Application, uuid.UUID(case.subject_id))
        if application is None:
            return None
        parties = await parties_of(session, application.id)
        docs = await documents_of(session, application.id)
        results = await screenings_of(session, application.id)
        messages = await messages_of(session, application.id)
        customer = (
            await session.get(Customer, application.customer_id)
            if application.customer_id and can(actor, "customer", "read")
            else None
        )
        account = await session.get(Account, application.account_id) if customer else None
        names = {p.id: p.name for p in parties}
    screenings = await screening_views(db, results, names)
    masked = not sees_document_numbers(actor)
    doc_views = document_views(docs, masked=masked)
    report = application.documents_report
    party_views = []
    for party in parties:
        history = [s for s in screenings if s.result.party_id == party.id]
        party_views.append(
            PartyView(
                party=party,
                details=_details_for(application.payload, party),
                documents=[d for d in doc_views if d.party_id == party.id],
                checks=_party_checks(report, party.name),
                screening=history[0] if history else None,
                screening_history=history,
            )
        )
    named = {p.name.casefold() for p in parties}
    general = [
        c
        for c in (report or {}).get("checks", [])
        if (c.get("party") or "").casefold() not in named
    ]
    business = application.payload.get("business")
    return OnboardingView(
        application=application,
        payload=application.payload,
        parties=party_views,
        business=business,
        documents_report=report,
        general_checks=general,
        risk=application.risk,
        route_label=ROUTE_LABELS.get(application.route or ""),
        messages=messages,
        customer=customer,
        account_iban=format_iban(account.iban) if account else None,
        masked_numbers=masked,
    )


async def screening_alert_view(db: Database, actor: Actor, case: Case) -> AlertView | None:
    """The customer a re-screening hit is about, and the results that raised it."""
    if case.customer_id is None:
        return None
    async with db.session() as session:
        customer = await session.get(Customer, case.customer_id)
        if customer is None:
            return None
        parties = (
            await parties_of(session, customer.application_id) if customer.application_id else []
        )
        names = {p.id: p.name for p in parties}
        # The alert's opening event names the listed entries that were new for this customer.
        opened = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "screening.alert_opened",
                    AuditEvent.object_id == str(case.id),
                )
            )
        ).first()
        new_ids = [int(e) for e in (opened.details.get("new_entries", []) if opened else [])]
        # The re-screening run that opened the alert stored its results just before it:
        # one per party, or one for a migrated customer (screened by its own name).
        results = [
            r
            for r in (
                await session.exec(
                    select(ScreeningResult)
                    .where(
                        ScreeningResult.customer_id == customer.id,
                        ScreeningResult.context == "rescreen",
                        col(ScreeningResult.screened_at) <= case.opened_at,
                    )
                    .order_by(col(ScreeningResult.screened_at).desc())
                    .limit(max(len(names), 1))
                )
            ).all()
            if any(int(h["list_entry_id"]) in new_ids for h in r.hits)
        ]
        hits = await alert_hits(session, case.id)
    screenings = await screening_views(db, results, names, customer_name=customer.name)
    return AlertView(
        customer=customer if can(actor, "customer", "read") else None,
        screenings=screenings,
        new_entry_ids=new_ids,
        name_only=customer.application_id is None,
        hits=hits,
    )
