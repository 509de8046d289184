"""A hit's durable state per (customer, listed entry), and whitelisting under four-eyes.

`screening_match` holds one row per customer and entry key ("UN-SC:QDi.001", the entry across
list versions): open, confirmed, dismissed (closed as a false positive before whitelisting
needed two people), suppressed (whitelisted) or lapsed (the entry left its list).
`screening_suppression` is a whitelisting of one entry for one customer, pinned to the
entry's content hash: proposed by the analyst who dismissed the hit, approved or rejected by
a second person (never the proposer: checked here, by the alert workflow's validator and
the task choke point, and by the table's CHECK), lapsed when the entry changes or leaves.

Which hits alert (`record_hits`): a pair never seen, a pair that had lapsed and is back,
and a dismissed or whitelisted pair whose entry changed (its whitelisting lapses). A pair
that is open (its alert is being worked), confirmed, dismissed or whitelisted for the same
content stays quiet.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from audit import trail as audit
from audit.trail import SYSTEM, ActorRef
from core.db import run_sql
from models.base import utcnow
from shared.errors import Conflict, Forbidden

MATCH_STATUSES = ("open", "confirmed", "dismissed", "suppressed", "lapsed")
FOUR_EYES = "ck_screening_suppression_four_eyes"
PROPOSER_CANNOT_APPROVE = (
    "You proposed this whitelisting when you dismissed the hit; four-eyes control needs "
    "a second analyst to approve it."
)


@dataclass(frozen=True)
class Hit:
    """What `record_hits` needs of a screening hit (ScreeningHit.key, .entry_hash, .list_name)."""

    key: str
    entry_hash: str
    list_name: str


async def record_hits(
    session: AsyncSession,
    customer_id: uuid.UUID,
    hits: Iterable[Hit],
    *,
    run: str,
) -> list[str]:
    """Store this screening's hits of one customer; the entry keys that need an alert.

    `run` (the screening workflow's id): a retried batch finds the alert it opened before
    and must still start its workflow, so a pair this run alerted on comes out again.
    A dismissed or whitelisted pair whose entry's content changed is opened again and its
    whitelisting lapses (audited)."""
    by_key: dict[str, Hit] = {}
    for h in hits:
        by_key.setdefault(h.key, h)
    if not by_key:
        return []
    keys = sorted(by_key)
    rows = (
        await run_sql(
            session,
            "SELECT entry_key, status, entry_hash, alert_run FROM screening_match "
            "WHERE customer_id = :c AND entry_key = ANY(CAST(:k AS text[])) FOR UPDATE",
            {"c": customer_id, "k": keys},
        )
    ).all()
    known = {r.entry_key: r for r in rows}
    reviewed = (
        await _reviewed_at_onboarding(session, customer_id) if len(known) < len(keys) else set()
    )
    now = utcnow()
    alert: list[str] = []
    for key in keys:
        hit = by_key[key]
        row = known.get(key)
        if row is None:
            # Hit at onboarding already: the application was reviewed and approved with it.
            onboarding = key in reviewed
            inserted = await run_sql(
                session,
                "INSERT INTO screening_match (id, customer_id, entry_key, list_name, status, "
                "entry_hash, alert_run, first_seen_at, last_seen_at) "
                "VALUES (:id, :c, :k, :l, :s, :h, :run, :now, :now) "
                "ON CONFLICT (customer_id, entry_key) DO NOTHING RETURNING id",
                {
                    "id": uuid.uuid4(),
                    "c": customer_id,
                    "k": key,
                    "l": hit.list_name,
                    "s": "dismissed" if onboarding else "open",
                    "h": hit.entry_hash,
                    "run": None if onboarding else run,
                    "now": now,
                },
            )
            # Another run stored the pair a moment ago (its alert is that run's to open).
            if not onboarding and inserted.first() is not None:
                alert.append(key)
            continue
        changed = bool(row.entry_hash and hit.entry_hash and row.entry_hash != hit.entry_hash)
        reopen = row.status == "lapsed" or (changed and row.status in ("dismissed", "suppressed"))
        if reopen and row.status != "lapsed":
            await _lapse_suppressions(
                session, customer_id, [key], reason="entry_changed", run=run, now=now
            )
        await run_sql(
            session,
            "UPDATE screening_match SET last_seen_at = :now, "
            "entry_hash = coalesce(nullif(:h, ''), entry_hash), "
            "status = CASE WHEN :reopen THEN 'open' ELSE status END, "
            "lapsed_at = CASE WHEN :reopen THEN NULL ELSE lapsed_at END, "
            "alert_run = CASE WHEN :reopen THEN :run ELSE alert_run END "
            "WHERE customer_id = :c AND entry_key = :k",
            {
                "now": now,
                "h": hit.entry_hash,
                "reopen": reopen,
                "run": run,
                "c": customer_id,
                "k": key,
            },
        )
        if reopen or row.alert_run == run:
            alert.append(key)
    return alert


async def _reviewed_at_onboarding(session: AsyncSession, customer_id: uuid.UUID) -> set[str]:
    """Entries the screening of the customer's application parties hit at onboarding."""
    rows = (
        await run_sql(
            session,
            "SELECT DISTINCT coalesce(nullif(h->>'entry_key', ''), "
            "coalesce(h->>'list_name', 'OFAC-SDN') || ':' || "
            "coalesce(nullif(h->>'reference', ''), h->>'list_entry_id')) AS key "
            "FROM customer c JOIN screening_result r ON r.application_id = c.application_id "
            "CROSS JOIN LATERAL jsonb_array_elements(r.hits) AS h "
            "WHERE c.id = :c AND r.customer_id IS NULL",
            {"c": customer_id},
        )
    ).all()
    return {r.key for r in rows}


async def link_case(
    session: AsyncSession, customer_id: uuid.UUID, keys: Sequence[str], case_id: uuid.UUID
) -> None:
    """The alert case that asks about these pairs."""
    await run_sql(
        session,
        "UPDATE screening_match SET case_id = :case WHERE customer_id = :c "
        "AND entry_key = ANY(CAST(:k AS text[]))",
        {"case": case_id, "c": customer_id, "k": list(keys)},
    )


async def case_keys(session: AsyncSession, case_id: uuid.UUID) -> list[str]:
    rows = (
        await run_sql(
            session,
            "SELECT entry_key FROM screening_match WHERE case_id = :case ORDER BY entry_key",
            {"case": case_id},
        )
    ).all()
    return [r.entry_key for r in rows]


async def close_matches(session: AsyncSession, case_id: uuid.UUID, status: str) -> None:
    """The alert's pairs after its decision: confirmed, or dismissed (no whitelisting)."""
    if status not in ("confirmed", "dismissed"):
        raise ValueError(status)
    await run_sql(
        session,
        "UPDATE screening_match SET status = :s WHERE case_id = :case AND status = 'open'",
        {"s": status, "case": case_id},
    )


async def propose(
    session: AsyncSession,
    case_id: uuid.UUID,
    customer_id: uuid.UUID,
    proposer: uuid.UUID,
    *,
    workflow_id: str | None = None,
) -> int:
    """The dismissing analyst proposes whitelisting every open pair of the alert, each pinned
    to its entry's content hash. Idempotent: a pair already proposed is left as it is.
    The number of whitelistings of the alert awaiting a decision."""
    rows = (
        await run_sql(
            session,
            "SELECT entry_key, entry_hash FROM screening_match "
            "WHERE case_id = :case AND customer_id = :c AND status = 'open'",
            {"case": case_id, "c": customer_id},
        )
    ).all()
    now = utcnow()
    proposed = 0
    for r in rows:
        inserted = (
            await run_sql(
                session,
                "INSERT INTO screening_suppression (id, customer_id, entry_key, entry_hash, "
                "status, case_id, proposed_by, proposed_at) "
                "VALUES (:id, :c, :k, :h, 'proposed', :case, :by, :now) "
                "ON CONFLICT DO NOTHING RETURNING id",
                {
                    "id": uuid.uuid4(),
                    "c": customer_id,
                    "k": r.entry_key,
                    "h": r.entry_hash,
                    "case": case_id,
                    "by": proposer,
                    "now": now,
                },
            )
        ).first()
        if inserted is not None:
            proposed += 1
            await audit.record(
                session,
                action="screening.suppression_proposed",
                actor=ActorRef(proposer, "reviewer"),
                object_type="customer",
                object_id=customer_id,
                workflow_id=workflow_id,
                details={"case_id": case_id, "entry_key": r.entry_key, "entry_hash": r.entry_hash},
            )
    # What awaits a decision for this alert (a retried call counts its earlier proposals;
    # none when every hit of the alert lapsed meanwhile).
    waiting = (
        await run_sql(
            session,
            "SELECT count(*) FROM screening_suppression WHERE case_id = :case "
            "AND status = 'proposed'",
            {"case": case_id},
        )
    ).scalar_one()
    return int(waiting)


async def decide(
    session: AsyncSession,
    case_id: uuid.UUID,
    decider: uuid.UUID,
    *,
    approve: bool,
    workflow_id: str | None = None,
) -> int:
    """A second person approves (the pairs are whitelisted) or rejects the proposed
    whitelistings of an alert. Forbidden for the proposer; Conflict when nothing is proposed."""
    rows = (
        await run_sql(
            session,
            "SELECT id, customer_id, entry_key, entry_hash, proposed_by "
            "FROM screening_suppression WHERE case_id = :case AND status = 'proposed' FOR UPDATE",
            {"case": case_id},
        )
    ).all()
    if not rows:
        # A retried call after its decision was stored: the same decision again is a no-op.
        done = (
            await run_sql(
                session,
                "SELECT count(*) FROM screening_suppression WHERE case_id = :case "
                "AND decided_by = :by AND status = :s",
                {"case": case_id, "by": decider, "s": "active" if approve else "rejected"},
            )
        ).scalar_one()
        if done:
            return int(done)
        raise Conflict("No whitelisting of this alert awaits a decision.", code="not_proposed")
    if any(r.proposed_by == decider for r in rows):
        raise Forbidden(PROPOSER_CANNOT_APPROVE, code="proposer_cannot_approve")
    now = utcnow()
    status = "active" if approve else "rejected"
    for r in rows:
        await run_sql(
            session,
            "UPDATE screening_suppression SET status = :s, decided_by = :by, decided_at = :now "
            "WHERE id = :id",
            {"s": status, "by": decider, "now": now, "id": r.id},
        )
        if approve:
            await run_sql(
                session,
                "UPDATE screening_match SET status = 'suppressed' "
                "WHERE customer_id = :c AND entry_key = :k",
                {"c": r.customer_id, "k": r.entry_key},
            )
        await audit.record(
            session,
            action="screening.suppression_approved"
            if approve
            else "screening.suppression_rejected",
            actor=ActorRef(decider, "reviewer"),
            object_type="customer",
            object_id=r.customer_id,
            workflow_id=workflow_id,
            details={
                "case_id": case_id,
                "entry_key": r.entry_key,
                "entry_hash": r.entry_hash,
                "proposed_by": r.proposed_by,
            },
        )
    return len(rows)


async def lapse_removed(
    session: AsyncSession, keys: Sequence[str], *, run: str, list_version: str
) -> int:
    """Entries that left their list: every hit on them lapses (audited per customer and
    entry), and so do their whitelistings. An alert still open about such a hit stays open
    for its analyst, the hit marked lapsed. The number of hits lapsed."""
    if not keys:
        return 0
    now = utcnow()
    rows = (
        await run_sql(
            session,
            "WITH old AS (SELECT id, status FROM screening_match "
            "WHERE entry_key = ANY(CAST(:k AS text[])) AND status <> 'lapsed' FOR UPDATE) "
            "UPDATE screening_match m SET status = 'lapsed', lapsed_at = :now FROM old "
            "WHERE m.id = old.id RETURNING m.customer_id, m.entry_key, m.case_id, old.status AS was",
            {"now": now, "k": list(keys)},
        )
    ).all()
    for r in rows:
        await audit.record(
            session,
            action="screening.hit_lapsed",
            actor=SYSTEM,
            object_type="customer",
            object_id=r.customer_id,
            workflow_id=run,
            details={
                "entry_key": r.entry_key,
                "case_id": r.case_id,
                "previous_status": r.was,
                "list_version": list_version,
                "reason": "entry_removed",
            },
        )
    by_customer: dict[uuid.UUID, list[str]] = {}
    for r in rows:
        by_customer.setdefault(r.customer_id, []).append(r.entry_key)
    for customer_id, customer_keys in by_customer.items():
        await _lapse_suppressions(
            session, customer_id, customer_keys, reason="entry_removed", run=run, now=now
        )
    return len(rows)


async def lapse_changed(
    session: AsyncSession, hashes: dict[str, str], *, run: str, list_version: str
) -> int:
    """Entries a new version changed (entry key -> its new content hash): every whitelisting
    pinned to other content lapses, audited, whether or not the customer still hits the
    entry (if it does, its next screening alerts again). The number lapsed."""
    if not hashes:
        return 0
    keys = sorted(hashes)
    rows = (
        await run_sql(
            session,
            "UPDATE screening_suppression s SET status = 'lapsed', lapsed_at = now(), "
            "lapse_reason = 'entry_changed' "
            "FROM unnest(CAST(:k AS text[]), CAST(:h AS text[])) AS n(entry_key, entry_hash) "
            "WHERE s.entry_key = n.entry_key AND s.entry_hash <> n.entry_hash "
            "AND s.status IN ('proposed', 'active') "
            "RETURNING s.customer_id, s.entry_key, s.entry_hash, s.case_id",
            {"k": keys, "h": [hashes[k] for k in keys]},
        )
    ).all()
    for r in rows:
        await audit.record(
            session,
            action="screening.suppression_lapsed",
            actor=SYSTEM,
            object_type="customer",
            object_id=r.customer_id,
            workflow_id=run,
            details={
                "entry_key": r.entry_key,
                "entry_hash": r.entry_hash,
                "case_id": r.case_id,
                "reason": "entry_changed",
                "list_version": list_version,
            },
        )
    return len(rows)


async def _lapse_suppressions(
    session: AsyncSession,
    customer_id: uuid.UUID,
    keys: Sequence[str],
    *,
    reason: str,
    run: str,
    now: object,
) -> None:
    rows = (
        await run_sql(
            session,
            "UPDATE screening_suppression SET status = 'lapsed', lapsed_at = :now, "
            "lapse_reason = :why WHERE customer_id = :c AND entry_key = ANY(CAST(:k AS text[])) "
            "AND status IN ('proposed', 'active') RETURNING id, entry_key, entry_hash, case_id",
            {"now": now, "why": reason, "c": customer_id, "k": list(keys)},
        )
    ).all()
    for r in rows:
        await audit.record(
            session,
            action="screening.suppression_lapsed",
            actor=SYSTEM,
            object_type="customer",
            object_id=customer_id,
            workflow_id=run,
            details={
                "entry_key": r.entry_key,
                "entry_hash": r.entry_hash,
                "case_id": r.case_id,
                "reason": reason,
            },
        )


@dataclass(frozen=True)
class AlertHitState:
    """One hit of an alert as the case page shows it: where it stands, and its whitelisting."""

    entry_key: str
    status: str  # open | confirmed | dismissed | suppressed | lapsed
    entry_hash: str
    whitelisting: str | None = None  # proposed | active | rejected | lapsed
    proposed_by: str | None = None  # display names
    decided_by: str | None = None
    lapse_reason: str | None = None


async def alert_hits(session: AsyncSession, case_id: uuid.UUID) -> list[AlertHitState]:
    """The hits an alert case asks about, each with its latest whitelisting for this case."""
    rows = (
        await run_sql(
            session,
            "SELECT m.entry_key, m.status, m.entry_hash, s.status AS wl, p.display_name AS pby, "
            "d.display_name AS dby, s.lapse_reason FROM screening_match m "
            "LEFT JOIN LATERAL (SELECT * FROM screening_suppression x "
            "  WHERE x.customer_id = m.customer_id AND x.entry_key = m.entry_key "
            "  AND x.case_id = :case ORDER BY x.proposed_at DESC LIMIT 1) s ON true "
            "LEFT JOIN staff_user p ON p.id = s.proposed_by "
            "LEFT JOIN staff_user d ON d.id = s.decided_by "
            "WHERE m.case_id = :case OR s.case_id = :case ORDER BY m.entry_key",
            {"case": case_id},
        )
    ).all()
    return [
        AlertHitState(r.entry_key, r.status, r.entry_hash, r.wl, r.pby, r.dby, r.lapse_reason)
        for r in rows
    ]
