"""The card processor tells us the merchant's answer: `merchant_responded` to the dispute.

A real processor's adapter files chargebacks (disputes.engines.processor); its merchant's
answers come back later as calls to `POST /api/v1/disputes/{id}/merchant-response` from
the processor's service account (role `upstream_system`). The sandbox answers through the
same signal (disputes.engines.sandbox). Either way the answer must name the chargeback on
file and arrive while its stage's window is open: a late or misdirected answer is refused
with the reason and changes nothing.
"""

from __future__ import annotations

import uuid

from temporalio.client import Client
from temporalio.service import RPCError

from audit import trail as audit
from core.db import Database
from disputes.queries.detail import stages_of
from disputes.rules import CASE_TYPE_DISPUTE, MERCHANT_RESPONSES
from identity.access import not_found, record_refusal, require
from identity.actors import Actor
from models.base import utcnow
from models.cases import Case
from models.dispute_io import MerchantResponse
from models.disputes import Dispute
from shared.errors import Conflict, DomainError, Invalid, Unavailable


async def signal_merchant_response(temporal: Client, case: Case, answer: MerchantResponse) -> None:
    """Deliver the answer to the dispute's workflow (inside the caller's transaction: if
    Temporal refuses it, what the caller stored is rolled back)."""
    try:
        await temporal.get_workflow_handle(case.workflow_id).signal("merchant_responded", answer)
    except RPCError as exc:
        raise Unavailable(
            f"The workflow engine did not take the response ({exc.status.name}); "
            "nothing was changed."
        ) from exc


async def record_merchant_response(
    db: Database,
    temporal: Client,
    actor: Actor,
    case_id: uuid.UUID,
    *,
    stage: str,
    response: str,
    processor_ref: str,
) -> MerchantResponse:
    action = "dispute.merchant_response"
    await require(db, actor, "dispute", "merchant_response", action=action, object_type="case",
                  object_id=case_id)  # fmt: skip
    try:
        return await _record(db, temporal, actor, case_id, stage, response, processor_ref)
    except (Invalid, Conflict) as refusal:
        await record_refusal(db, actor, refusal, action=action, object_type="case",
                             object_id=case_id)  # fmt: skip
        raise


async def _record(
    db: Database,
    temporal: Client,
    actor: Actor,
    case_id: uuid.UUID,
    stage: str,
    response: str,
    processor_ref: str,
) -> MerchantResponse:
    answers = {k for k in MERCHANT_RESPONSES.get(stage, {}) if k != "no_response"}
    if not answers:
        raise Invalid("Unknown stage.", fields={"stage": "chargeback or pre_arbitration"})
    if response not in answers:
        raise Invalid("Unknown response.", fields={"response": f"one of: {', '.join(answers)}"})
    async with db.transaction() as session:
        case = await session.get(Case, case_id, with_for_update=True)
        dispute = await session.get(Dispute, case_id)
        if case is None or dispute is None or case.case_type != CASE_TYPE_DISPUTE:
            raise await not_found(db, actor, "dispute", case_id, action="dispute.merchant_response")
        error: DomainError | None = None
        current = next((s for s in await stages_of(session, case_id) if s.left_at is None), None)
        if case.status != "open":
            error = Conflict(f"Dispute {case.reference} is already concluded ({case.outcome}).")
        elif dispute.processor_ref != processor_ref:
            error = Conflict(
                f"The reference {processor_ref!r} is not the chargeback on file for "
                f"{case.reference}.",
                code="wrong_processor_ref",
            )
        elif current is None or current.stage != stage:
            where = current.stage if current else case.stage
            error = Conflict(
                f"{case.reference} is not waiting for the merchant's {stage} answer (it is at "
                f"{where}).",
                code="not_waiting",
            )
        elif current.due_at is not None and current.due_at <= utcnow():
            error = Conflict("The merchant's response window has closed; the answer is too late.",
                             code="too_late")  # fmt: skip
        if error is not None:
            raise error
        answer = MerchantResponse(stage=stage, response=response, processor_ref=processor_ref)
        await signal_merchant_response(temporal, case, answer)
        # Audited after the signal: the audit chain's lock is never held across the call.
        await audit.record(
            session,
            action="dispute.merchant_response",
            actor=actor.ref,
            object_type="case",
            object_id=case_id,
            origin=actor.origin,
            workflow_id=case.workflow_id,
            details={"stage": stage, "response": response, "processor_ref": processor_ref},
        )
    return answer
