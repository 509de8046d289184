"""Opening a case by hand: an investigation or a complaint on a customer, from scratch.

Whoever holds `case:<type>` `open` (compliance opens investigations, support complaints)
gives a title, the customer, a reason code and a description. The case is opened through
the kernel's store and its workflow (the generic case workflow's standard steps, declared in
casework/manual_rules.py) started through `casework.starting.start_case`, in one
transaction: if Temporal refuses the start nothing is saved; the opening is audited after
the start. The workflow is told ids and codes only; the description stays in `manual_case`.
The opener is the case's maker: segregation of duties keeps them off its steps.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from temporalio.client import Client

from casework.generic_case import WORK_STAGE
from casework.manual_rules import MANUAL_TYPES, ManualType
from casework.starting import start_case
from casework.store import Event, open_case
from core.db import Database
from identity.access import can, require
from identity.actors import Actor
from models.case_follow_up import ManualCase
from models.cases import Case
from models.generic_case_io import GenericCaseInput
from models.onboarding import Customer
from models.staff import StaffUser
from shared.errors import Invalid

TITLE_MIN, TITLE_MAX = 5, 200
DESCRIPTION_MIN, DESCRIPTION_MAX = 20, 2000


@dataclass(frozen=True)
class ManualCaseOpened:
    case_id: uuid.UUID
    reference: str
    case_type: str
    workflow_id: str


def openable_types(actor: Actor) -> dict[str, ManualType]:
    """The manual case types this person may open (the form offers only these)."""
    return {n: t for n, t in MANUAL_TYPES.items() if can(actor, f"case:{n}", "open")}


def _check(
    case_type: str, title: str, reason_code: str, description: str, customer_id: str
) -> tuple[ManualType, str, str, uuid.UUID]:
    problems: dict[str, str] = {}
    kind = MANUAL_TYPES.get(case_type)
    if kind is None:
        problems["case_type"] = "one of " + ", ".join(MANUAL_TYPES)
    text_title = " ".join((title or "").split())
    if not TITLE_MIN <= len(text_title) <= TITLE_MAX:
        problems["title"] = f"{TITLE_MIN} to {TITLE_MAX} characters ({len(text_title)} given)"
    if kind is not None and reason_code not in kind.reasons:
        problems["reason"] = "one of " + ", ".join(kind.reasons)
    text = (description or "").strip()
    if not DESCRIPTION_MIN <= len(text) <= DESCRIPTION_MAX:
        problems["description"] = (
            f"{DESCRIPTION_MIN} to {DESCRIPTION_MAX} characters ({len(text)} given): "
            "what happened and what should be looked at"
        )
    customer = None
    try:
        customer = uuid.UUID(str(customer_id).strip())
    except ValueError:
        problems["customer_id"] = "choose the customer the case is about"
    if problems:
        raise Invalid(
            "The case was not opened: " + "; ".join(f"{k} {v}" for k, v in problems.items()) + ".",
            fields=problems,
        )
    assert kind is not None and customer is not None
    return kind, text_title, text, customer


async def open_manual_case(
    db: Database,
    temporal: Client,
    task_queue: str,
    actor: Actor,
    *,
    case_type: str,
    customer_id: str | uuid.UUID,
    title: str,
    reason_code: str,
    description: str,
) -> ManualCaseOpened:
    """Open an investigation or a complaint on a customer and start its workflow."""
    if case_type in MANUAL_TYPES:
        await require(
            db, actor, f"case:{case_type}", "open", action="case.opened", object_type="case"
        )
    kind, title, text, customer_ref = _check(
        case_type, title, reason_code, description, str(customer_id)
    )
    case_id = uuid.uuid4()
    workflow_id = f"{kind.name}-{case_id}"
    async with db.transaction() as session:
        customer = await session.get(Customer, customer_ref)
        if customer is None:
            raise Invalid(
                "The case was not opened: there is no such customer.",
                fields={"customer_id": "no customer with this id"},
            )
        case = await open_case(
            session,
            case_type=kind.name,
            title=title,
            stage=WORK_STAGE,
            subject_type="customer",
            subject_id=str(customer.id),
            workflow_id=workflow_id,
            case_id=case_id,
            opened_by=actor.user_id,
            risk_level=customer.risk_level
            if customer.risk_level in ("low", "medium", "high")
            else "low",
            customer_id=customer.id,
        )
        session.add(
            ManualCase(
                case_id=case.id, reason_code=reason_code, description=text, opened_by=actor.user_id
            )
        )
        await session.flush()
        await start_case(
            session,
            temporal,
            case,
            GenericCaseInput(
                case_id=case.id,
                case_type=kind.name,
                reference=case.reference,
                opened_by=actor.user_id,
            ),
            task_queue=task_queue,
            event=Event(
                "case.opened",
                actor=actor.ref,
                origin=actor.origin,
                reason=kind.reasons[reason_code],
                details={
                    "reference": case.reference,
                    "case_type": kind.name,
                    "customer_id": customer.id,
                    "reason_code": reason_code,
                    "manual": True,
                },
            ),
            summary=f"{case.reference} {kind.label.lower()} (opened by hand)",
            what=f"the {kind.label.lower()}",
        )
    return ManualCaseOpened(case.id, case.reference, kind.name, workflow_id)


# ----------------------------------------------------------------------------- reading
@dataclass
class ManualCaseView:
    """Why the case was opened by hand (the case page's partials/manual_case.html)."""

    type_label: str
    reason_code: str
    reason_label: str
    description: str | None  # None: the reader may not read this type's words
    opened_by: str
    opened_at: datetime
    customer_id: uuid.UUID | None
    customer_label: str | None


async def manual_case_view(db: Database, actor: Actor, case: Case) -> ManualCaseView | None:
    """For a reader who may see the case; None when it was not opened by hand."""
    kind = MANUAL_TYPES.get(case.case_type)
    if kind is None:
        return None
    async with db.session() as session:
        row = (
            await session.exec(
                select(ManualCase, StaffUser.username, Customer.reference, Customer.name)
                .outerjoin(StaffUser, col(StaffUser.id) == ManualCase.opened_by)
                .join(Case, col(Case.id) == ManualCase.case_id)
                .outerjoin(Customer, col(Customer.id) == Case.customer_id)
                .where(ManualCase.case_id == case.id)
            )
        ).first()
    if row is None:
        return None
    opened, who, customer_reference, customer_name = row
    words = kind.words_permission is None or can(actor, *kind.words_permission)
    sees_customer = can(actor, "customer", "read")
    return ManualCaseView(
        type_label=kind.label,
        reason_code=opened.reason_code,
        reason_label=kind.reasons.get(opened.reason_code, opened.reason_code),
        description=opened.description if words else None,
        opened_by=who or "?",
        opened_at=opened.opened_at,
        customer_id=case.customer_id if sees_customer else None,
        customer_label=f"{customer_reference} {customer_name}"
        if sees_customer and customer_reference
        else None,
    )
