"""The customer withdraws a dispute: support or an agent records it; the workflow concludes it.

The withdrawal is an Update to the dispute's workflow, whose handler audits it with this
request before the dispute concludes (any provisional credit is reversed, the processor
told if a chargeback was filed).
"""

from __future__ import annotations

import uuid

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from casework.refusals import refusal_from_update
from core.db import Database
from disputes.rules import CASE_TYPE_DISPUTE, WITHDRAW_REASONS
from identity.access import can_see_case, not_found, record_refusal, require
from identity.actors import Actor
from models.cases import Case
from models.dispute_io import WithdrawalInput, WithdrawalResult
from shared.errors import Conflict, DomainError, Invalid, Unavailable

COMMENT_MAX = 1000


async def withdraw_dispute(
    db: Database,
    temporal: Client,
    actor: Actor,
    case_id: uuid.UUID,
    *,
    reason_code: str,
    comment: str | None,
) -> WithdrawalResult:
    action = "dispute.withdraw"
    await require(db, actor, "dispute", "withdraw", action=action, object_type="case",
                  object_id=case_id)  # fmt: skip
    async with db.session() as session:
        case = await session.get(Case, case_id)
    if (
        case is None
        or case.case_type != CASE_TYPE_DISPUTE
        or not can_see_case(actor, CASE_TYPE_DISPUTE)
    ):
        raise await not_found(db, actor, "case", case_id, action=action)
    comment = (comment or "").strip() or None
    fields = {}
    if reason_code not in WITHDRAW_REASONS:
        fields["reason"] = "Choose why the customer withdraws the dispute."
    if reason_code == "other" and not comment:
        fields["comment"] = "Say why, in a few words."
    if comment and len(comment) > COMMENT_MAX:
        fields["comment"] = f"At most {COMMENT_MAX} characters."
    error: DomainError
    if fields:
        error = Invalid("The withdrawal is not complete.", fields=fields)
    elif case.status != "open":
        error = Conflict(f"Dispute {case.reference} is already concluded ({case.outcome}).",
                         code="case_closed")  # fmt: skip
    else:
        try:
            return await temporal.get_workflow_handle(case.workflow_id).execute_update(
                "withdraw",
                WithdrawalInput(
                    actor_id=actor.user_id,
                    actor_name=actor.username,
                    reason_code=reason_code,
                    comment=comment,
                    origin=actor.origin,
                ),
                # Per request, not per case: a retried request gets its first answer, but
                # a second withdrawal must reach the validator and be refused (an id per
                # case would hand it the first withdrawal's result as if it had succeeded).
                id=f"withdraw-{case_id}-{actor.origin.request_id or uuid.uuid4().hex}",
                result_type=WithdrawalResult,
            )
        except WorkflowUpdateFailedError as exc:
            error = refusal_from_update(exc)
        except RPCError as exc:
            error = (
                Conflict("This dispute's workflow has already finished.", code="case_closed")
                if exc.status == RPCStatusCode.NOT_FOUND
                else Unavailable("The workflow engine is unreachable; nothing was changed.")
            )
    await record_refusal(db, actor, error, action=action, object_type="case", object_id=case_id)
    raise error
