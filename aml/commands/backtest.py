"""A proposed AML rule change, replayed over history before anyone approves it.

`run_backtest` judges the transactions booked in the last N days (default 90) slice by
slice in booked order, twice and dry (`JudgeMemory`: nothing read from or written to
`aml_alert`): once with the rules in force (`load_judges(db)`) and once as they would be
after the change (`load_judges(db, overrides={key: proposed})`). Only the rule family the
document belongs to is judged (the others raise the same alerts either way). It compares:

- the alerts and the distinct accounts each side raises, and which are added or removed;
- their overlap with what investigators already decided: alerts on transactions that an
  alert in a case closed as a false positive already covered, and alerts on customers
  whose case ended in a SAR;
- the extra L1 hours the added alerts cost at the AML case policy's handling time
  (`aml_case.l1_minutes_per_alert`).

The same comparison serves the CLI (`backoffice aml backtest`) and the backtest a rule
change's approval waits for (`RuleBacktestWorkflow`, stored in `aml_backtest`).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aml.commands.history import booked_slices, count_booked
from aml.commands.judges import load_judges
from aml.engines.judging import Judge, JudgeMemory
from aml.engines.monitoring import judge_all
from aml.engines.monitoring_data import AlertDraft
from aml.policy import AmlCasePolicy
from configuration.documents import load_config, load_typed
from core.db import Database, run_sql
from models.base import utcnow

DEFAULT_DAYS = 90
MAX_DAYS = 730
SLICE = 2_000  # transactions judged at once
EXAMPLES = 10  # added alerts kept as examples on the result

# Which rule family judges a document's rules, by the document's key.
FAMILY_PREFIXES: tuple[tuple[str, str], ...] = (
    ("aml_rule_", "builtin"),
    ("aml_expr_", "expression"),
    ("aml_network", "network"),
)

Progress = Callable[[int, int], Awaitable[None]]  # (judged, total)


def rule_family(key: str) -> str | None:
    """The rule family a configuration document configures; None: not an AML rule document."""
    for prefix, family in FAMILY_PREFIXES:
        if key.startswith(prefix):
            return family
    return None


def is_rule_document(key: str | None) -> bool:
    """Whether a change to this configuration document needs a backtest before approval."""
    return key is not None and rule_family(key) is not None


@dataclass
class Side:
    """What one configuration raises over the period."""

    alerts: int = 0
    accounts: int = 0
    shadow: int = 0  # alerts of rules in shadow (recorded, not routed)
    false_positive: int = 0  # on transactions a false-positive closure already covered
    sar: int = 0  # on customers whose case ended in a SAR
    by_rule: dict[str, int] = field(default_factory=dict)


@dataclass
class Example:
    rule: str
    account_id: str
    booked_at: str
    reason: str


@dataclass
class BacktestResult:
    rule_key: str
    days: int
    period_from: str
    period_to: str
    transactions: int
    current: Side
    proposed: Side
    added_alerts: int
    removed_alerts: int
    added_accounts: int
    removed_accounts: int
    added_false_positive: int
    added_sar: int
    removed_sar: int
    l1_minutes_per_alert: int
    extra_l1_hours: float
    examples: list[Example] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BacktestResult:
        values = dict(data)
        values["current"] = Side(**data["current"])
        values["proposed"] = Side(**data["proposed"])
        values["examples"] = [Example(**e) for e in data.get("examples", [])]
        return cls(**values)

    def lines(self) -> list[str]:
        """The comparison in words, as the CLI prints it and the approval page shows it."""
        c, p = self.current, self.proposed
        sign = "+" if self.extra_l1_hours >= 0 else "-"
        return [
            f"Backtest of {self.rule_key} over {self.days} days "
            f"({self.period_from[:10]} to {self.period_to[:10]}, "
            f"{self.transactions:,} transactions)",
            f"  alerts:    current {c.alerts:,}  proposed {p.alerts:,}  "
            f"(+{self.added_alerts:,} / -{self.removed_alerts:,})",
            f"  accounts:  current {c.accounts:,}  proposed {p.accounts:,}  "
            f"(+{self.added_accounts:,} / -{self.removed_accounts:,})",
            f"  on transactions closed as false positive: current {c.false_positive:,}  "
            f"proposed {p.false_positive:,}  (added {self.added_false_positive:,})",
            f"  on customers whose case ended in a SAR: current {c.sar:,}  proposed "
            f"{p.sar:,}  (added {self.added_sar:,}, lost {self.removed_sar:,})",
            f"  shadow alerts (recorded, not routed): proposed {p.shadow:,}",
            f"  L1 workload: {sign}{abs(self.extra_l1_hours):,.1f} hours at "
            f"{self.l1_minutes_per_alert} minutes per alert",
        ]


@dataclass
class _Raised:
    rule: str
    account_id: uuid.UUID
    customer_id: uuid.UUID
    trigger_id: uuid.UUID
    booked_at: datetime
    reason: str
    shadow: bool


def _family_judges(judges: Sequence[Judge], family: str) -> list[Judge]:
    return [j for j in judges if j.family == family]


async def run_backtest(
    db: Database,
    key: str,
    proposed: dict[str, Any] | None,
    *,
    days: int = DEFAULT_DAYS,
    until: datetime | None = None,
    progress: Progress | None = None,
    slice_size: int = SLICE,
) -> BacktestResult:
    """Judge the last `days` days dry under the rules in force and with `key` as proposed.

    `proposed` None: the document removed. Raises `ValueError` for a key that configures
    no AML rule.
    """
    family = rule_family(key)
    if family is None:
        raise ValueError(f"{key} is not an AML rule document (aml_rule_*, aml_expr_*, aml_network)")
    hi = until or utcnow()
    lo = hi - timedelta(days=days)
    current_judges = _family_judges(await load_judges(db), family)
    proposed_judges = _family_judges(await load_judges(db, overrides={key: proposed}), family)
    _, policy = await load_typed(db, "aml_case", AmlCasePolicy)
    total = await count_booked(db, lo, hi)
    if progress is not None:
        await progress(0, total)
    current: dict[str, _Raised] = {}
    after: dict[str, _Raised] = {}
    memories = (JudgeMemory(), JudgeMemory())
    judged = 0
    async with aclosing(booked_slices(db, lo, hi, slice_size)) as slices:
        async for new in slices:
            async with db.session() as session:
                for judges, memory, into in (
                    (current_judges, memories[0], current),
                    (proposed_judges, memories[1], after),
                ):
                    for draft in await judge_all(session, new, judges, memory):
                        into[draft.dedupe_key] = _raised(draft)
            judged += len(new)
            if progress is not None:
                await progress(judged, total)
    return await _compare(db, key, days, lo, hi, judged, current, after, policy)


def _raised(draft: AlertDraft) -> _Raised:
    t = draft.trigger
    return _Raised(
        draft.rule, t.account_id, t.customer_id, t.id, t.booked_at, draft.reason, draft.shadow
    )


async def _decided(
    db: Database, raised: Sequence[_Raised]
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Of these alerts' triggers and customers: the transactions an alert in a case closed
    as a false positive covered, and the customers with a case that ended in a SAR."""
    if not raised:
        return set(), set()
    async with db.session() as session:
        fp = (
            await run_sql(
                session,
                'SELECT DISTINCT t.id FROM aml_alert a JOIN "case" c ON c.id = a.case_id '
                "CROSS JOIN LATERAL unnest(a.transaction_ids) AS t(id) "
                "WHERE c.outcome = 'closed_false_positive' AND t.id = ANY(:txns)",
                {"txns": list({r.trigger_id for r in raised})},
            )
        ).scalars()
        fp_ids = set(fp)
        sar = (
            await run_sql(
                session,
                "SELECT DISTINCT customer_id FROM aml_case "
                "WHERE sar_decision = 'sar' AND customer_id = ANY(:customers)",
                {"customers": list({r.customer_id for r in raised})},
            )
        ).scalars()
        return fp_ids, set(sar)


def _side(raised: dict[str, _Raised], fp: set[uuid.UUID], sar: set[uuid.UUID]) -> Side:
    values = list(raised.values())
    return Side(
        alerts=len(values),
        accounts=len({r.account_id for r in values}),
        shadow=sum(r.shadow for r in values),
        false_positive=sum(r.trigger_id in fp for r in values),
        sar=sum(r.customer_id in sar for r in values),
        by_rule=dict(sorted(Counter(r.rule for r in values).items())),
    )


async def _compare(
    db: Database,
    key: str,
    days: int,
    lo: datetime,
    hi: datetime,
    judged: int,
    current: dict[str, _Raised],
    after: dict[str, _Raised],
    policy: AmlCasePolicy,
) -> BacktestResult:
    fp, sar = await _decided(db, [*current.values(), *after.values()])
    added = [after[k] for k in after.keys() - current.keys()]
    removed = [current[k] for k in current.keys() - after.keys()]
    now_accounts = {r.account_id for r in current.values()}
    then_accounts = {r.account_id for r in after.values()}
    # Shadow alerts are recorded, not routed: no L1 work.
    routed = sum(not r.shadow for r in after.values()) - sum(not r.shadow for r in current.values())
    minutes = policy.l1_minutes_per_alert
    added.sort(key=lambda r: r.booked_at)
    return BacktestResult(
        rule_key=key,
        days=days,
        period_from=lo.isoformat(),
        period_to=hi.isoformat(),
        transactions=judged,
        current=_side(current, fp, sar),
        proposed=_side(after, fp, sar),
        added_alerts=len(added),
        removed_alerts=len(removed),
        added_accounts=len(then_accounts - now_accounts),
        removed_accounts=len(now_accounts - then_accounts),
        added_false_positive=sum(r.trigger_id in fp for r in added),
        added_sar=sum(r.customer_id in sar for r in added),
        removed_sar=sum(r.customer_id in sar for r in removed),
        l1_minutes_per_alert=minutes,
        extra_l1_hours=round(routed * minutes / 60, 1),
        examples=[
            Example(r.rule, str(r.account_id), r.booked_at.isoformat(), r.reason[:300])
            for r in added[:EXAMPLES]
        ],
    )


async def cli_proposal(
    db: Database, key: str, values: dict[str, Any] | None
) -> tuple[dict[str, Any], str]:
    """What `backoffice aml backtest` compares with the rules in force, and where it came
    from: the given values over the document in force, else the change awaiting approval
    for it, else the document in force itself (a dry run of today's rules)."""
    current = (await load_config(db, key)).values.model_dump(mode="json")
    if values is not None:
        return {**current, **values}, "the values given"
    async with db.session() as session:
        pending = (
            await run_sql(
                session,
                "SELECT r.after FROM change_request r JOIN config_setting s ON s.id = r.target_id "
                "WHERE r.target_type = 'config' AND s.key = :key AND r.status = 'pending_approval' "
                "ORDER BY r.created_at DESC LIMIT 1",
                {"key": key},
            )
        ).first()
    if pending is not None:
        return dict(pending.after), "the change awaiting approval"
    return current, "the rules in force (no values given, no change pending)"
