"""Need-to-know: what a reader's roles let them learn about AML restrictions, cases and SARs.

Every read model that shows these (the customer 360 page and API, the account restrictions
API, the case page, the alert list) passes what it loaded through one `NeedToKnow` built from
the policy, so a template or an API schema only ever receives what the reader may see:

- `restriction_detail:read`: why an account is restricted, by whom, under which AML case and
  how it was lifted. Everyone else sees an active restriction only as "restricted — refer to
  compliance", and lifted ones not at all (support and disputes staff are denied outright:
  whoever talks to the customer must not be able to tip them off).
- `aml_event:read`: AML casework events (case steps, restrictions) in a customer's timeline.
- `aml_narrative:read`: an AML case's words: alert texts, the activity examined, decision
  reasons and comments, restriction reasons. Engineers read an AML case's operational
  metadata (ids, tier, status, times, SLA, workflow), not this.
- `sar:read`: the SAR report and the MLRO's SAR decision (its outcome, reason and rationale).
  Others see that the MLRO decided, and when, not what.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlmodel import SQLModel

from casework.manual_rules import INVESTIGATION
from identity.access import can
from identity.actors import Actor
from models.aml import AmlAlert, AmlCase
from models.aml_io import RestrictionPublic
from models.audit import AuditEvent
from models.cases import Case, Decision

Row = TypeVar("Row", bound=SQLModel)
CASE_TYPE_AML = "aml"
# Case types whose words (decision reasons and comments, closing reasons) are AML narrative:
# AML cases, and investigations opened by hand (casework/manual_rules.py).
NARRATIVE_CASE_TYPES = frozenset({CASE_TYPE_AML, INVESTIGATION})
CASE_TYPE_CHANGE = "change_request"
RESTRICTION_TARGET = "restriction"  # the change target (and case subject) type of a lift
# What a restriction shows a reader who may not know why it was placed (never tip off).
CASEWORK_REDACTED: dict[str, Any] = {
    "reason": None,
    "created_by": None,
    "case_id": None,
    "case_reference": None,
    "lift_change_id": None,
    "lift_change_reference": None,
    "lift_case_id": None,
    "pending_lift": None,
}
REFER_TO_COMPLIANCE = "restricted — refer to compliance"
SAR_CASE_OUTCOMES = frozenset({"sar_filed", "no_sar"})  # how the MLRO's decision closes a case
SAR_DECISIONS = frozenset({"sar", "no_sar"})  # the MLRO task's outcomes
SAR_EVENTS = frozenset({"aml.sar_filed", "aml.no_sar_decided"})
MLRO_DECIDED = "mlro_decided"  # shown instead of the SAR outcome to those who may not know it
MLRO_EVENT = "aml.mlro_decided"
# What an AML event keeps for a reader without the narrative: its operational facts.
METADATA_KEYS = frozenset(
    {
        "case_id",
        "case_reference",
        "reference",
        "tier",
        "priority",
        "automatic",
        "outcome",
        "status",
        "level",
        "alerts",
        "rules",
        "kind",
        "restriction_id",
        "decision_id",
        "due_at",
        "on_time",
    }
)


def is_aml_event(event: AuditEvent) -> bool:
    """An event of AML casework: an AML case's workflow, a case step, a restriction."""
    return (
        (event.workflow_id or "").startswith(("aml-", f"{INVESTIGATION}-"))
        or event.action.startswith("aml.")
        or event.action.startswith("account.restrict")
        or event.object_type == "restriction"
    )


def detached_copy(row: Row, **update: Any) -> Row:
    """A detached copy of a table row with some fields replaced (the loaded row is untouched)."""
    return type(row)(**{**row.model_dump(), **update})


@dataclass(frozen=True)
class NeedToKnow:
    restriction_detail: bool
    aml_events: bool
    aml_narrative: bool
    sar: bool

    @classmethod
    def of(cls, actor: Actor) -> NeedToKnow:
        return cls(
            restriction_detail=can(actor, "restriction_detail", "read"),
            aml_events=can(actor, "aml_event", "read"),
            aml_narrative=can(actor, "aml_narrative", "read"),
            sar=can(actor, "sar", "read"),
        )

    # ------------------------------------------------------------------ restrictions
    def restrictions(self, found: Iterable[RestrictionPublic]) -> list[RestrictionPublic]:
        """Restrictions outside the AML case (customer 360, account API) as the reader may see
        them: whole, or the active ones as "restricted — refer to compliance"."""
        if self.restriction_detail:
            return list(found)
        return [
            r.model_copy(update={**CASEWORK_REDACTED, "kind_label": REFER_TO_COMPLIANCE})
            for r in found
            if r.status == "active"
        ]

    def sees_change_target(self, target_type: str) -> bool:
        """A restriction's lift is a change request that names the AML case and says why the
        account may be freed: only for readers of restriction details."""
        return target_type != RESTRICTION_TARGET or self.restriction_detail

    def case_restrictions(self, found: Iterable[RestrictionPublic]) -> list[RestrictionPublic]:
        """On the AML case page (the reader may see the case): the reason is narrative."""
        if self.aml_narrative:
            return list(found)
        return [r.model_copy(update={"reason": None}) for r in found]

    # ------------------------------------------------------------------ cases and decisions
    def case_outcome(self, case_type: str, outcome: str | None) -> str | None:
        if case_type == CASE_TYPE_AML and outcome in SAR_CASE_OUTCOMES and not self.sar:
            return MLRO_DECIDED
        return outcome

    def case(self, case: Case) -> Case:
        """An AML case as the reader may see it: no SAR outcome without `sar`, no closing
        words without the narrative (or, for a SAR decision, without `sar`)."""
        if case.case_type not in NARRATIVE_CASE_TYPES:
            return case
        outcome = self.case_outcome(case.case_type, case.outcome)
        sar_words = case.outcome in SAR_CASE_OUTCOMES and not self.sar
        if outcome == case.outcome and self.aml_narrative and not sar_words:
            return case
        keep_reason = self.aml_narrative and not sar_words
        return detached_copy(
            case, outcome=outcome, outcome_reason=case.outcome_reason if keep_reason else None
        )

    def aml_case(self, aml: AmlCase) -> AmlCase:
        """The AML case row: its SAR decision (not its time) only with `sar`."""
        if aml.sar_decision is None or self.sar:
            return aml
        return detached_copy(aml, sar_decision=MLRO_DECIDED)

    def alert(self, alert: AmlAlert) -> AmlAlert:
        """An alert: rule, severity, time and counts are metadata; its text is narrative."""
        if self.aml_narrative:
            return alert
        return detached_copy(alert, reason="", details={})

    def decision(self, case_type: str, decision: Decision) -> Decision:
        """A decision on an AML case: outcome (the workflow step) always; reason and comment
        with the narrative; a SAR decision only with `sar`."""
        if case_type not in NARRATIVE_CASE_TYPES:
            return decision
        if decision.outcome in SAR_DECISIONS and not self.sar:
            return detached_copy(
                decision, outcome=MLRO_DECIDED, reason_code=None, comment=None, details={}
            )
        if not self.aml_narrative:
            return detached_copy(decision, reason_code=None, comment=None, details={})
        return decision

    # ------------------------------------------------------------------ timelines
    def event(self, event: AuditEvent) -> AuditEvent | None:
        """One audit event as the reader may see it on a timeline; None: not at all."""
        if not is_aml_event(event):
            return event
        if not self.aml_events:
            return None
        details = dict(event.details or {})
        sar_event = event.action in SAR_EVENTS or details.get("outcome") in (
            SAR_DECISIONS | SAR_CASE_OUTCOMES
        )
        if sar_event and not self.sar:
            return detached_copy(
                event,
                action=MLRO_EVENT if event.action in SAR_EVENTS else event.action,
                reason=None,
                details={"outcome": MLRO_DECIDED} if "outcome" in details else {},
            )
        if self.aml_narrative:
            return event
        return detached_copy(
            event,
            reason=None,
            details={k: v for k, v in details.items() if k in METADATA_KEYS},
        )

    def timeline(self, events: Iterable[AuditEvent]) -> list[AuditEvent]:
        shown = (self.event(e) for e in events)
        return [e for e in shown if e is not None]
