"""Resolving a break: match by hand, explain, or write off (four-eyes above the threshold).

The resolution travels with the decision on the break's task, through the same choke point
as every decision (claim, role, segregation), and the BreakWorkflow records both in one
transaction.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field
from temporalio.client import Client

from aml.engines.monitoring_data import REFERENCE_RATES_EUR
from casework.tasks import decide_task
from core.db import Database
from identity.access import record_refusal, require
from identity.actors import Actor
from models.cases import Task
from models.reconciliation import ReconBreak
from models.workflow_io import DecisionResult
from reconciliation.rules import EXPLAIN_REASONS, RESOLVE, WRITE_OFF_REASONS
from shared.errors import Conflict, DomainError, Invalid, NotFound

CENT = Decimal("0.01")


class ResolveForm(BaseModel):
    """What finance submits on a break's resolve task."""

    task_id: uuid.UUID
    action: Literal["matched", "explained", "write_off"]
    # matched: the statement lines and records of ours that belong together (picked from
    # the break's own and its candidates, or any still-unmatched ones of the same source).
    line_nos: list[Annotated[int, Field(ge=1, le=2_147_483_647)]] = Field(
        default_factory=list, max_length=10_000
    )  # a statement line's number is a PostgreSQL integer
    record_ids: list[uuid.UUID] = Field(default_factory=list, max_length=10_000)
    reason_code: str | None = None  # explained / write_off: from EXPLAIN_ / WRITE_OFF_REASONS
    note: str | None = None
    amount: str | None = None  # write_off: defaults to the break's open amount


async def resolve_break(
    db: Database, temporal: Client, actor: Actor, break_id: uuid.UUID, form: ResolveForm
) -> DecisionResult:
    """Check the resolution, then decide the task with it; refusals say why (per field).

    The same checks run again where they cannot be raced: the workflow's update validator
    and the activity that records the resolution with the decision, under the break's lock.
    """
    action = "recon.break_resolve"
    await require(
        db, actor, "task", "work", action=action, object_type="recon_break", object_id=break_id
    )
    async with db.session() as session:
        brk = await session.get(ReconBreak, break_id)
        task = await session.get(Task, form.task_id)
    error: DomainError | None = None
    if brk is None or task is None or brk.case_id is None or task.case_id != brk.case_id:
        error = NotFound("No such break, or that task is not this break's.", code="no_break")
    elif brk.status != "open":
        error = Conflict("This break is already resolved.", code="already_resolved")
    elif task.kind != RESOLVE.kind:
        error = Invalid("That task is not the break's resolve step.", code="wrong_task")
    else:
        fields = form_problems(form, brk)
        if fields:
            error = Invalid("The resolution is not complete.", fields=fields)
    if error is not None:
        await record_refusal(
            db, actor, error, action=action, object_type="recon_break", object_id=break_id
        )
        raise error
    details: dict[str, Any] = {}
    if form.action == "matched":
        details = {
            "line_nos": sorted(set(form.line_nos)),
            "record_ids": [str(r) for r in dict.fromkeys(form.record_ids)],
        }
    elif form.action == "write_off":
        details = {"amount": (form.amount or "").strip()}
    return await decide_task(
        db,
        temporal,
        actor,
        form.task_id,
        outcome=form.action,
        reason=form.reason_code,
        comment=form.note,
        details=details,
    )


def form_problems(form: ResolveForm, brk: ReconBreak) -> dict[str, str]:
    """What is wrong with a resolution, per field (empty when nothing is)."""
    fields: dict[str, str] = {}
    note = (form.note or "").strip()
    if len(note) > 2000:
        fields["note"] = "At most 2000 characters."
    if form.action == "matched":
        if not form.line_nos:
            fields["line_nos"] = "Pick the statement line(s)."
        if not form.record_ids:
            fields["record_ids"] = "Pick the record(s) of ours they match."
    elif form.action == "explained":
        if form.reason_code not in EXPLAIN_REASONS:
            fields["reason_code"] = "Choose what explains the break."
        elif form.reason_code == "other" and not note:
            fields["note"] = "Say what explains it."
    else:
        if form.reason_code not in WRITE_OFF_REASONS:
            fields["reason_code"] = "Choose why it is written off."
        elif form.reason_code == "other" and not note:
            fields["note"] = "Say why it is written off."
        try:
            amount = Decimal((form.amount or "").strip())
        except InvalidOperation:
            fields["amount"] = "Give the amount to write off, e.g. 12.50."
        else:
            limit = open_amount(brk)
            if not amount.is_finite() or amount <= 0:
                fields["amount"] = "A positive amount."
            elif amount > limit:
                fields["amount"] = f"At most the break's open amount, {limit.normalize():f}."
    return fields


def eur_value(amount: Decimal, currency: str) -> Decimal | None:
    """The indicative EUR value of an amount (the rates disputes and AML use), to the cent;
    None for a currency without a rate."""
    rate = REFERENCE_RATES_EUR.get(currency)
    return None if rate is None else (abs(amount) * rate).quantize(CENT)


def write_off_needs_approval(amount_eur: Decimal | None, threshold_eur: int) -> bool:
    """Four-eyes: above the threshold, or of no known EUR value, an ops manager approves."""
    return amount_eur is None or amount_eur > threshold_eur


def open_amount(brk: ReconBreak) -> Decimal:
    """What a write-off may cover: the difference of a mismatch, else the whole amount."""
    return abs(brk.difference) if brk.kind == "amount_mismatch" else abs(brk.amount)
