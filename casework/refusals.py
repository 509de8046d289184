"""A workflow's refusal of an Update (its validator or handler raised) as the matching
domain error: every door that sends a decision, a withdrawal or documents to a workflow
answers the person with the same kind of refusal the workflow meant."""

from __future__ import annotations

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from casework.narratives import NARRATIVE_INVALID
from shared.errors import Conflict, DomainError, Forbidden, Invalid, Unavailable

FORBIDDEN_CODES = {
    "maker_cannot_decide",
    "editor_cannot_decide",
    "decided_other_step",
    "excluded",
    "missing_role",
    "not_maker",
    "permission_denied",
}
INVALID_CODES = {"outcome_not_allowed", "reason_required", "resolution_invalid"}


def refusal_from_update(exc: WorkflowUpdateFailedError) -> DomainError:
    """Turn a workflow's refusal (validator or handler) into the matching domain error."""
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        code = cause.type or "refused"
        if code in FORBIDDEN_CODES:
            return Forbidden(cause.message, code=code)
        if code in INVALID_CODES:
            return Invalid(cause.message, code=code)
        if code == NARRATIVE_INVALID:
            # The validator sends its field map as the error's details.
            details = cause.details[0] if cause.details else None
            fields = (
                {str(k): str(v) for k, v in details.items()} if isinstance(details, dict) else {}
            )
            return Invalid(cause.message, code=code, fields=fields)
        if code == "decision_failed":
            return Unavailable(cause.message, code=code)
        return Conflict(cause.message, code=code)
    return Unavailable("The workflow did not answer; nothing was changed. Try again.")
