"""The rule engine: new transactions, in booked order, against their accounts' history.

`monitor` runs inside the ingest's (or the import's) transaction, after the new rows are
inserted: it loads the batch's context in a few set-based queries
(`aml.commands.monitoring_store`), judges each new transaction with every enabled rule
(`aml.engines.rule_checks`), stores the alerts and routes them to their customers' cases.

A rule looks only backwards from the transaction it judges: its verdict depends on the
transactions booked up to that one (booked_at, then external_id breaking ties), so a batch
judged at once or one transaction at a time, through the API or an import, raises the same
alerts. A windowed rule (a pattern over days or hours) that fired on an account stays quiet
there for its window: one ongoing pattern is one alert, not one per transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from aml.commands.casework import CaseRoute, route_alerts
from aml.commands.monitoring_store import insert_alerts, load_context
from aml.engines.judging import Judge, JudgeMemory
from aml.engines.monitoring_data import (
    WINDOWED_RULES,
    AlertDraft,
    MonitoringContext,
    NameMatcher,
    Rule,
    Txn,
)
from aml.engines.rule_checks import CHECKS
from audit.trail import ActorRef
from models.aml import AmlAlert


def evaluate(
    new: Sequence[Txn], context: MonitoringContext, rules: Sequence[Rule]
) -> list[AlertDraft]:
    """Alerts the new transactions raise, judged in booked order."""
    enabled = [(rule, CHECKS[rule.name]) for rule in rules if rule.config.enabled]
    alerts: list[AlertDraft] = []
    for t in sorted(new, key=lambda t: t.order):
        history = context.accounts[t.account_id]
        i = history.position[t.id]
        for rule, check in enabled:
            windowed = rule.name in WINDOWED_RULES
            if windowed and _cooling_down(context, rule, t):
                continue
            draft = check(t, i, history, context, rule.config)
            if draft is None:
                continue
            draft.version = rule.version
            draft.details["triggered_at"] = t.booked_at.isoformat()
            alerts.append(draft)
            if windowed:
                context.last_fired[(t.account_id, rule.name)] = t.booked_at
    return alerts


def window_seconds(rule: Rule) -> int:
    """How far back a windowed rule looks, in seconds."""
    config = rule.config
    if hasattr(config, "window_days"):
        return int(config.window_days) * 86_400
    return int(getattr(config, "window_hours", 0)) * 3_600


def _cooling_down(context: MonitoringContext, rule: Rule, t: Txn) -> bool:
    fired = context.last_fired.get((t.account_id, rule.name))
    if fired is None:
        return False
    return 0 <= (t.booked_at - fired).total_seconds() < window_seconds(rule)


class BuiltinJudge:
    """The nine built-in rules (`aml.rule_policy`) at one configuration snapshot."""

    family = "builtin"

    def __init__(self, rules: Sequence[Rule], match_name: NameMatcher | None) -> None:
        self.rules = list(rules)
        self.match_name = match_name

    def rule_keys(self) -> list[str]:
        return [rule.name for rule in self.rules if rule.config.enabled]

    async def judge(
        self, session: AsyncSession, new: Sequence[Txn], memory: JudgeMemory | None
    ) -> list[AlertDraft]:
        if not new or not any(rule.config.enabled for rule in self.rules):
            return []
        context = await load_context(session, new, self.rules, memory)
        context.match_name = self.match_name
        drafts = evaluate(new, context, self.rules)
        if memory is not None:
            memory.last_fired.update(context.last_fired)
        return drafts


@dataclass
class MonitoringOutcome:
    alerts: list[AmlAlert] = field(default_factory=list)
    routes: list[CaseRoute] = field(default_factory=list)
    shadow: int = 0  # alerts of rules in shadow: stored, not routed


async def judge_all(
    session: AsyncSession,
    new: Sequence[Txn],
    judges: Sequence[Judge],
    memory: JudgeMemory | None = None,
) -> list[AlertDraft]:
    """Every judge's drafts for the batch, in booked order of their triggers."""
    drafts: list[AlertDraft] = []
    for judge in judges:
        drafts.extend(await judge.judge(session, new, memory))
    drafts.sort(key=lambda d: d.trigger.order)
    return drafts if memory is None else memory.fresh(drafts)


async def monitor(
    session: AsyncSession,
    new: Sequence[Txn],
    judges: Sequence[Judge],
    *,
    temporal: Client,
    task_queue: str,
    actor: ActorRef,
    signal: bool = True,
) -> MonitoringOutcome:
    """Judge the new transactions (already inserted), store their alerts, route them to cases.

    Alerts of rules in shadow are stored (to be compared before the rule goes live) and
    never routed: no case, no task, no notice. With `signal=False` the cases' workflows
    are not signalled: the caller passes `outcome.routes` to `casework.signal_committed`
    after its transaction commits (the bulk import does).
    """
    if not new or not judges:
        return MonitoringOutcome()
    stored = await insert_alerts(session, await judge_all(session, new, judges))
    live = [a for a in stored if not a.shadow]
    outcome = MonitoringOutcome(alerts=live, shadow=len(stored) - len(live))
    if live:
        outcome.routes = await route_alerts(
            session, temporal, task_queue, live, actor=actor, signal=signal
        )
    return outcome
