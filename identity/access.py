"""Permission checks that every entry point (web page, JSON API, CLI) goes through.

A refusal is written to the audit log (in its own transaction: the refused change never
started) and raised as Forbidden / NotFound with a sentence saying why.
"""

from __future__ import annotations

from typing import Any

from audit import trail as audit
from core.db import Database
from identity.actors import Actor
from policies.enforcer import allowed
from shared.errors import DomainError, Forbidden, NotFound

VERBS = {
    "read": "see",
    "propose": "propose changes to",
    "approve": "approve",
    "approve_elevated": "give the senior approval on",
    "withdraw": "withdraw",
    "work": "work on",
    "verify": "verify",
    "manage": "manage",
    "restrict": "restrict",
    "propose_config": "propose changes to the configuration through",
    "approve_config": "approve configuration changes through",
    "propose_restriction_lift": "propose lifting a restriction through",
    "approve_restriction_lift": "approve lifting a restriction through",
    "submit": "submit",
    "report": "see the report of",
    "propose_repair": "propose how to repair",
    "approve_repair": "approve the repair of",
}

# How a refusal names an object whose policy name reads badly in a sentence.
NOUNS = {
    "sar": "SAR reports and SAR decisions",
    "restriction_detail": "why an account is restricted",
    "aml_narrative": "the narrative of AML cases",
    "aml_event": "AML case events",
}


def can(actor: Actor, obj: str, act: str) -> bool:
    return allowed(actor.roles, obj, act)


def can_see_case(actor: Actor, case_type: str) -> bool:
    return allowed(actor.roles, f"case:{case_type}", "read")


async def record_refusal(
    db: Database,
    actor: Actor,
    error: DomainError,
    *,
    action: str,
    object_type: str | None = None,
    object_id: Any = None,
    details: dict[str, Any] | None = None,
) -> None:
    outcome = audit.outcome_for_status(error.status_code)
    async with db.transaction() as session:
        await audit.record(
            session,
            action=action,
            actor=actor.ref,
            outcome=outcome,
            object_type=object_type,
            object_id=object_id,
            reason=f"{error.code}: {error.message}",
            origin=actor.origin,
            details=details,
        )


async def require(
    db: Database,
    actor: Actor,
    obj: str,
    act: str,
    *,
    action: str,
    object_type: str | None = None,
    object_id: Any = None,
) -> None:
    """Raise Forbidden (audited) unless the actor's roles allow `act` on `obj`."""
    if can(actor, obj, act):
        return
    roles = ", ".join(sorted(actor.roles)) or "no roles"
    error = Forbidden(
        f"Your roles ({roles}) do not allow you to {VERBS.get(act, act)} "
        f"{NOUNS.get(obj, obj.replace('_', ' '))}.",
        code="permission_denied",
    )
    await record_refusal(
        db, actor, error, action=action, object_type=object_type, object_id=object_id
    )
    raise error


async def not_found(
    db: Database, actor: Actor, what: str, object_id: Any, *, action: str
) -> NotFound:
    """The same answer for 'does not exist' and 'not yours to see' (ids are not an oracle)."""
    error = NotFound(f"No {what} with id {object_id} that you can see.")
    await record_refusal(db, actor, error, action=action, object_type=what, object_id=object_id)
    return error
