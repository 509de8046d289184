"""What approval creates: the customer, an account with a valid IBAN, the segment's default
tariff plan (and so its limits); and how an application is read back for re-checking."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from audit import trail as audit
from audit.trail import SYSTEM
from core.db import run_sql
from models.applications import ApplicationCreate
from models.base import utcnow
from models.onboarding import Account, Application, ApplicationDocument, Customer
from models.onboarding_io import CloseApplicationResult
from models.tariffs import TariffPlan
from shared.iban import iban_for


def rebuild_application(
    payload: dict[str, Any], information: Sequence[tuple[ApplicationDocument, str | None]]
) -> ApplicationCreate:
    """The application as submitted plus every document sent since, in answer to requests."""
    data = copy.deepcopy(payload)
    for doc, party_name in information:
        if doc.doc_type in ("passport", "national_id", "driving_licence", "residence_permit"):
            item = {
                "type": doc.doc_type,
                "number": doc.number,
                "issuing_country": doc.issuing_country,
                "expiry_date": doc.expiry_date.isoformat() if doc.expiry_date else None,
                "mrz": doc.mrz,
            }
            _person_documents(data, party_name).append(item)
        elif data.get("business") is not None:
            data["business"].setdefault("documents", []).append(
                {"type": doc.doc_type, "number": doc.number}
            )
    return ApplicationCreate.model_validate(data)


def _person_documents(data: dict[str, Any], name: str | None) -> list[dict[str, Any]]:
    if data.get("individual") is not None:
        return data["individual"].setdefault("documents", [])
    business = data["business"]
    people = [*business.get("directors", []), *business.get("beneficial_owners", [])]
    for person in people:
        if name and person["full_name"].casefold() == name.casefold():
            return person.setdefault("documents", [])
    return people[0].setdefault("documents", [])


async def default_plan(session: AsyncSession, segment: str) -> TariffPlan:
    plan = (
        await session.exec(
            select(TariffPlan)
            .where(TariffPlan.segment == segment)
            .order_by(col(TariffPlan.is_default).desc(), col(TariffPlan.created_at))
        )
    ).first()
    if plan is None:
        raise LookupError(f"no tariff plan for the {segment} segment")
    return plan


async def open_customer_account(
    session: AsyncSession, application: Application, workflow_id: str
) -> CloseApplicationResult:
    """Inside the caller's transaction: customer, account, default tariff, audit events."""
    data = ApplicationCreate.model_validate(application.payload)
    plan = await default_plan(session, application.segment)
    number = (await run_sql(session, "SELECT nextval('customer_reference_seq')")).scalar_one()
    serial = (await run_sql(session, "SELECT nextval('account_number_seq')")).scalar_one()
    if data.individual is not None:
        country, email = data.individual.country_of_residence, data.individual.email
    else:
        assert data.business is not None
        country, email = data.business.country, None
    now = utcnow()
    customer = Customer(
        id=uuid.uuid4(),
        reference=f"CUS-{number}",
        kind=application.kind,
        name=application.display_name,
        segment=application.segment,
        country=country,
        email=email,
        kyc_status="approved",
        risk_level=application.risk_level or "low",
        risk_score=application.risk_score or 0,
        application_id=application.id,
        created_at=now,
        last_screened_at=now,
    )
    session.add(customer)
    await session.flush()
    account = Account(
        id=uuid.uuid4(),
        customer_id=customer.id,
        application_id=application.id,
        iban=iban_for(serial),
        currency=plan.currency,
        tariff_plan_id=plan.id,
        opened_at=now,
    )
    session.add(account)
    await session.flush()
    application.customer_id = customer.id
    application.account_id = account.id
    await run_sql(
        session,
        "UPDATE screening_result SET customer_id = :customer WHERE application_id = :app",
        {"customer": customer.id, "app": application.id},
    )
    last_version = (
        await run_sql(
            session,
            "SELECT list_version FROM screening_result WHERE application_id = :app "
            "ORDER BY screened_at DESC LIMIT 1",
            {"app": application.id},
        )
    ).scalar_one_or_none()
    customer.last_list_version = last_version
    session.add(customer)
    await audit.record(
        session,
        action="customer.created",
        actor=SYSTEM,
        object_type="customer",
        object_id=customer.id,
        workflow_id=workflow_id,
        details={
            "reference": customer.reference,
            "application_id": application.id,
            "risk_level": customer.risk_level,
        },
    )
    await audit.record(
        session,
        action="account.opened",
        actor=SYSTEM,
        object_type="account",
        object_id=account.id,
        workflow_id=workflow_id,
        details={
            "customer_id": customer.id,
            "iban": account.iban,
            "currency": account.currency,
            "tariff_plan": plan.code,
        },
    )
    return CloseApplicationResult(customer_id=customer.id, account_id=account.id)
