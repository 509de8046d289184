"""The sandbox card processor: a make-believe processor and merchant kept in our database.

It files chargebacks like a real processor would (a reference per filing, idempotent by
dispute and stage) and answers for the merchant the way an operator scripted it per
dispute: accept, represent with evidence, or no response at all (then the response
window runs out). A script set before the filing is answered at the filing; set while
the dispute waits on the merchant, it is delivered at once, as a real processor's
notification would be: a `merchant_responded` signal to the dispute's workflow.

Nothing here reaches a real card scheme. Replace it with CARD_PROCESSOR (see
disputes.engines.processor).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import select
from temporalio.client import Client

from audit import trail as audit
from core.db import Database, run_sql
from disputes.commands.processor_events import signal_merchant_response
from disputes.rules import CASE_TYPE_DISPUTE, MERCHANT_RESPONSES
from identity.access import can_see_case, not_found, require
from identity.actors import Actor
from models.base import utcnow
from models.cases import Case
from models.dispute_io import MerchantResponse, ProcessorAck, ProcessorFiling
from models.disputes import DisputeStage, SandboxMerchantScript, SandboxSubmission
from shared.errors import Conflict, Invalid

NOTE_MAX = 2000


class SandboxProcessor:
    name = "sandbox"

    def __init__(self, db: Database):
        self.db = db

    async def file(self, filing: ProcessorFiling) -> ProcessorAck:
        async with self.db.transaction() as session:
            # Serialised with an operator scripting the merchant (set_merchant_response).
            await run_sql(
                session, 'SELECT 1 FROM "case" WHERE id = :id FOR UPDATE', {"id": filing.case_id}
            )
            number = (
                await run_sql(session, "SELECT nextval('sandbox_reference_seq')")
            ).scalar_one()
            await session.exec(
                pg_insert(SandboxSubmission)
                .values(
                    id=uuid.uuid4(),
                    reference=f"SBX-{number:06d}",
                    case_id=filing.case_id,
                    stage=filing.stage,
                    submitted_at=utcnow(),
                )
                .on_conflict_do_nothing(constraint="uq_sandbox_submission")
            )
            submission = (
                await session.exec(
                    select(SandboxSubmission)
                    .where(
                        SandboxSubmission.case_id == filing.case_id,
                        SandboxSubmission.stage == filing.stage,
                    )
                    .with_for_update()
                )
            ).one()
            script = await session.get(SandboxMerchantScript, filing.case_id)
            answer = _scripted(script, filing.stage)
            if answer is not None and submission.responded is None:
                submission.responded, submission.responded_at = answer, utcnow()
                session.add(submission)
            response = (
                MerchantResponse(
                    stage=filing.stage, response=answer, processor_ref=submission.reference
                )
                if answer is not None
                else None
            )
            return ProcessorAck(processor_ref=submission.reference, response=response)


def _scripted(script: SandboxMerchantScript | None, stage: str) -> str | None:
    if script is None:
        return None
    answer = {
        "chargeback": script.chargeback_response,
        "pre_arbitration": script.pre_arbitration_response,
    }.get(stage)
    return None if answer in (None, "no_response") else answer


@dataclass
class ScriptResult:
    delivered: bool  # the merchant answered now (the dispute was waiting at that stage)
    message: str


async def set_merchant_response(
    db: Database,
    temporal: Client,
    actor: Actor,
    case_id: uuid.UUID,
    *,
    stage: str,
    response: str,
    note: str | None,
) -> ScriptResult:
    """An operator scripts how the sandbox merchant answers this dispute at a stage."""
    await require(
        db, actor, "dispute", "sandbox", action="sandbox.merchant_response",
        object_type="case", object_id=case_id,
    )  # fmt: skip
    fields: dict[str, str] = {}
    if stage not in MERCHANT_RESPONSES:
        fields["stage"] = "Choose the chargeback or the pre-arbitration stage."
    elif response not in MERCHANT_RESPONSES[stage]:
        fields["response"] = f"Choose one of: {', '.join(MERCHANT_RESPONSES[stage])}."
    note = (note or "").strip() or None
    if note and len(note) > NOTE_MAX:
        fields["note"] = f"At most {NOTE_MAX} characters."
    if fields:
        raise Invalid("The merchant's response is not valid.", fields=fields)
    async with db.transaction() as session:
        case = await session.get(Case, case_id, with_for_update=True)
        if (
            case is None
            or case.case_type != CASE_TYPE_DISPUTE
            or not can_see_case(actor, CASE_TYPE_DISPUTE)
        ):
            raise await not_found(db, actor, "case", case_id, action="sandbox.merchant_response")
        if case.status != "open":
            raise Conflict(f"Dispute {case.reference} is already concluded ({case.outcome}).")
        # Filed already? The filing (SandboxProcessor.file) locks the same case row, so a
        # script lands either before it (answered with the filing) or after (answered now).
        submission = (
            await session.exec(
                select(SandboxSubmission).where(
                    SandboxSubmission.case_id == case_id, SandboxSubmission.stage == stage
                )
            )
        ).first()
        if submission is not None and submission.responded is not None:
            raise Conflict("The merchant already answered at this stage.")
        window = (
            await session.exec(
                select(DisputeStage).where(
                    DisputeStage.case_id == case_id, DisputeStage.stage == stage
                )
            )
        ).first()
        if window is not None and (
            window.left_at is not None or (window.due_at is not None and window.due_at <= utcnow())
        ):
            raise Conflict("The merchant's response window has closed; the answer is too late.")
        values = {
            "chargeback_response" if stage == "chargeback" else "pre_arbitration_response": response
        }
        await session.exec(
            pg_insert(SandboxMerchantScript)
            .values(
                {
                    "case_id": case_id,
                    "chargeback_response": "no_response",
                    "pre_arbitration_response": "no_response",
                    "note": note,
                    "updated_by": actor.user_id,
                    "updated_at": utcnow(),
                    **values,  # the stage scripted now overrides its default
                }
            )
            .on_conflict_do_update(
                index_elements=["case_id"],
                set_={**values, "note": note, "updated_by": actor.user_id, "updated_at": utcnow()},
            )
        )
        deliver = submission is not None and response != "no_response"
        if deliver and submission is not None:
            submission.responded, submission.responded_at = response, utcnow()
            session.add(submission)
            answer = MerchantResponse(
                stage=stage, response=response, processor_ref=submission.reference
            )
            await signal_merchant_response(temporal, case, answer)
        # Audited last: the audit chain's lock is never held across the call to Temporal.
        await audit.record(
            session,
            action="sandbox.merchant_response",
            actor=actor.ref,
            object_type="case",
            object_id=case_id,
            origin=actor.origin,
            workflow_id=case.workflow_id,
            details={"stage": stage, "response": response, "delivered": deliver},
        )
    label = MERCHANT_RESPONSES[stage][response]
    if deliver:
        return ScriptResult(True, f"The sandbox merchant answered: {label.lower()}.")
    return ScriptResult(
        False,
        f"Scripted: at the {stage.replace('_', '-')} stage the merchant will {label.lower()}.",
    )
