"""Demo rules written without code: one live, one proposed and waiting for approval.

Made through the real entry points: Rita (risk manager) writes "Many senders, far above
the segment" in the rule language, Raj approves it once its backtest has run, and core
banking then posts nine payments from nine senders into one migrated customer's account,
which the rule raises with its reason in words. Rita's second rule, a shadow rule on
outgoing money against the customer's own baseline, waits for a second risk manager.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from temporalio.client import Client

from aml.commands.rule_authoring import NewRule, propose_new_rule
from aml.commands.transactions import ingest
from aml.expression_policy import config_key, rule_key
from casework import tasks as task_service
from casework.registry import task_id_for
from configuration.documents import load_config
from core.db import Database
from core.settings import Settings
from demo.legacy_samples import Flow, sample_iban
from demo.mfa import stepped_up
from demo.seed import actor_named, work_task
from models.base import utcnow
from shared.errors import DomainError

MANY_SENDERS = 20  # the migrated customer (by position) the live rule catches
LIVE_RULE = NewRule(
    slug="many_senders",
    values={
        "title": "Many senders, far above the segment",
        "expression": 'distinct_counterparties(days=60, direction="in") >= 8 and '
        'sum(days=60, direction="in") >= 3 * peer_median(sum(days=60, direction="in"))',
        "severity": "high",
        "score": 70,
        "mode": "live",
        "shadow_days": 0,
        "cooldown_days": 30,
    },
    reason="Small fan-ins from many people pass the 7-day fan-in rule; compare with peers.",
)
PENDING_RULE = NewRule(
    slug="outflow_vs_own_baseline",
    values={
        "title": "Outgoing money far above the customer's own baseline",
        "expression": 'sum(days=7, direction="out") >= 5 * baseline(sum(days=7, direction="out"), '
        'days=180) and sum(days=7, direction="out") >= 5000',
        "severity": "medium",
        "score": 50,
        "mode": "shadow",
        "shadow_days": 30,
    },
    reason="Try a relative outflow rule in shadow for a month before it opens cases.",
)


async def _approve_after_backtest(
    db: Database, temporal: Client, username: str, workflow_id: str
) -> None:
    """Claim the approval and approve it as soon as the backtest lets anyone do so."""
    actor = await actor_named(db, username)
    await work_task(db, temporal, actor, workflow_id, "approve", None)
    task_id = task_id_for(workflow_id, "approve")
    for _ in range(600):
        try:
            await task_service.decide_task(
                db,
                temporal,
                await stepped_up(db, actor),
                task_id,
                outcome="approve",
                reason=None,
                comment="Backtest read: few extra alerts, each worth a look.",
            )
            return
        except DomainError:
            await asyncio.sleep(0.5)  # the backtest is still running
    raise RuntimeError(f"{workflow_id}: the rule could not be approved; is a worker running?")


async def seed_expression_rules(db: Database, temporal: Client, settings: Settings) -> int:
    """The two rules (two change requests); returns how many changes were proposed."""
    rita = await actor_named(db, "risk.rita")
    live = await propose_new_rule(db, temporal, settings, rita, LIVE_RULE)
    await _approve_after_backtest(db, temporal, "risk.raj", live.workflow_id)
    for _ in range(600):
        if (await load_config(db, config_key(LIVE_RULE.slug))).version >= 2:
            break
        await asyncio.sleep(0.1)
    now = utcnow()
    corebank = await actor_named(db, "svc.corebank")
    flows = [
        Flow(
            sample_iban(MANY_SENDERS),
            f"{3_900 + 150 * i}.00",
            now - timedelta(days=40 - 4 * i, hours=3),
            direction="in",
            name=name,
            country="DE",
        )
        for i, name in enumerate(
            (
                "Jonas Weber",
                "Mia Schneider",
                "Lukas Fischer",
                "Emma Wagner",
                "Felix Becker",
                "Hannah Hoffmann",
                "Paul Schulz",
                "Lea Koch",
                "Noah Richter",
            )
        )
    ]
    posted = await ingest(
        db,
        temporal,
        settings,
        corebank,
        [f.api_row(f"demo-{uuid.uuid4().hex[:20]}") for f in flows],
    )
    if not any(a.rule == rule_key(LIVE_RULE.slug) for a in posted.alerts):
        raise RuntimeError("the demo's rule written without code raised no alert")
    await propose_new_rule(db, temporal, settings, rita, PENDING_RULE)
    return 2
