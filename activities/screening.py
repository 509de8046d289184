"""Activities that screen people and entities: at onboarding, and again when the list changes."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from activities.outage import retry_on_outage
from activities.reconciliation import heartbeating
from activities.tasks import refuse
from audit import trail as audit
from audit.trail import SYSTEM, ActorRef
from casework import store
from configuration.documents import load_typed
from core.db import Database, run_sql
from models.base import utcnow
from models.onboarding import ApplicationParty, Customer
from models.onboarding import ScreeningResult as ScreeningRow
from models.onboarding_io import (
    PartyScreeningInput,
    PartyScreeningOutcome,
    RescreenBatchInput,
    RescreenBatchResult,
    ResolveAlertInput,
    ScreeningAlertRef,
)
from models.screening_io import (
    DeltaBatchInput,
    DeltaBatchResult,
    DeltaPlan,
    DeltaRescreenInput,
    WhitelistInput,
)
from onboarding.rules import CASE_TYPE_SCREENING_ALERT
from screening.commands import suppressions
from screening.commands.service import (
    ScreeningQuery,
    ScreeningResult,
    current_list_version,
    load_entries,
    screen_many,
)
from screening.engines.entries import PEP, entry_key
from screening.engines.matcher import ScreeningIndex
from screening.policy import ScreeningConfig
from shared.errors import DomainError


@dataclass
class _Subjects:
    """A customer's screening subjects: its parties, or itself when it has none."""

    parties: list[tuple[ApplicationParty | None, ScreeningQuery]]


def query_for(party: ApplicationParty) -> ScreeningQuery:
    return ScreeningQuery(
        name=party.name,
        kind="person" if party.kind == "person" else "entity",
        date_of_birth=party.date_of_birth,
        nationality=party.nationality,
    )


def query_for_customer(customer: Customer) -> ScreeningQuery:
    """A customer migrated from a legacy book (no application, no parties): its own name.

    The legacy book gives no date of birth. Its `country` is where the customer lives or is
    registered, not a nationality, and the matcher reads `nationality` as nationality or
    citizenship: a listed one that agrees adds points, but listed ones that all differ
    *subtract* `nationality_mismatch_penalty`. A listed person living abroad would lose
    points and could fall under the threshold: a missed hit. So only the name and kind go
    in. The price: a near match listed with the customer's country as its nationality gains
    no points either, and must reach the threshold on its name alone.
    """
    return ScreeningQuery(
        name=customer.name, kind="person" if customer.kind == "individual" else "entity"
    )


# Screening results per multi-row INSERT (11 parameters a row; PostgreSQL takes 32 767).
_ROWS_PER_INSERT = 1000


class ScreeningActivities:
    def __init__(self, db: Database):
        self.db = db

    @activity.defn
    @retry_on_outage
    async def screen_party(self, inp: PartyScreeningInput) -> PartyScreeningOutcome:
        async with self.db.session() as session:
            party = await session.get(ApplicationParty, inp.party_id)
        if party is None or party.application_id != inp.application_id:
            raise refuse("No such party on this application.", "unknown_party")
        # The name matching runs in the CPU pool, off the workflows' interpreter.
        (result,) = await screen_many(self.db, [query_for(party)])
        # Only OnboardingWorkflow runs this activity, so there is always a workflow id.
        workflow_id = str(activity.info().workflow_id)
        async with self.db.transaction() as session:
            await _store(
                session,
                workflow_id,
                result,
                party=party,
                customer_id=None,
                context=inp.context,
            )
            await run_sql(
                session,
                "UPDATE application_party SET screening_status = :status, best_score = :best, "
                "screened_at = now() WHERE id = :id",
                {
                    "status": "hit" if result.hits else "clear",
                    "best": result.hits[0].score if result.hits else None,
                    "id": party.id,
                },
            )
        return _outcome(party.id, result)

    @activity.defn
    @retry_on_outage
    async def rescreen_batch(self, inp: RescreenBatchInput) -> RescreenBatchResult:
        """Screen one page of customers; open a case for every hit not seen before."""
        version = await current_list_version(self.db)
        if version is None:
            return RescreenBatchResult(list_version=None, screened_customers=0)
        async with self.db.session() as session:
            stmt = select(Customer).order_by(col(Customer.id)).limit(inp.batch_size)
            if inp.after_customer_id is not None:
                stmt = stmt.where(col(Customer.id) > inp.after_customer_id)
            if inp.created_at is not None:  # one import's new customers only
                stmt = stmt.where(col(Customer.created_at) == inp.created_at)
            customers = list((await session.exec(stmt)).all())
        # One configuration for the whole batch, read once rather than per person.
        _, config = await load_typed(self.db, "screening", ScreeningConfig)
        async with heartbeating("screening"):
            subjects = await self._subjects_of(customers)
            # Every name of the batch matched at once, in the CPU pool (seconds of CPU for
            # a large batch), so that workflow activations in this worker are not starved.
            queries = [query for found in subjects for _, query in found.parties]
            results = iter(await screen_many(self.db, queries, config))
            screened = [
                (customer, [(party, next(results)) for party, _ in found.parties])
                for customer, found in zip(customers, subjects, strict=True)
            ]
            alerts = await self._store_page(inp.workflow_id, version, screened)
        return RescreenBatchResult(
            list_version=version,
            screened_customers=len(customers),
            last_customer_id=customers[-1].id if customers else None,
            alerts=alerts,
        )

    async def _subjects_of(self, customers: list[Customer]) -> list[_Subjects]:
        """Who is screened for each customer: its application's parties (one query for the
        page), or, for a customer migrated from a legacy book, the customer itself by name."""
        applications = [c.application_id for c in customers if c.application_id is not None]
        by_application: dict[uuid.UUID, list[ApplicationParty]] = {}
        if applications:
            async with self.db.session() as session:
                found = (
                    await session.exec(
                        select(ApplicationParty)
                        .where(col(ApplicationParty.application_id).in_(applications))
                        .order_by(
                            col(ApplicationParty.application_id), col(ApplicationParty.position)
                        )
                    )
                ).all()
            for party in found:
                by_application.setdefault(party.application_id, []).append(party)
        return [
            _Subjects([(None, query_for_customer(c))])
            if c.application_id is None
            else _Subjects([(p, query_for(p)) for p in by_application.get(c.application_id, [])])
            for c in customers
        ]

    async def _store_page(
        self,
        workflow_id: str,
        version: str,
        screened: list[tuple[Customer, list[tuple[ApplicationParty | None, ScreeningResult]]]],
    ) -> list[ScreeningAlertRef]:
        """Store one page of re-screenings in one transaction: the results in multi-row
        inserts (once per run and subject: a retried page stores nothing twice), the
        customers' screening stamps in one update, one `screening.customers_screened` audit
        event listing every subject newly screened with its hits and entries, and, for the
        few customers with hits, their durable hit state and any alert (audited per case)."""
        if not screened:
            return []
        now = utcnow()
        rows: list[dict[str, Any]] = []
        for customer, results in screened:
            for party, result in results:
                subject_id = party.id if party is not None else customer.id
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "idempotency_key": f"{workflow_id}/{subject_id}",
                        "party_id": party.id if party is not None else None,
                        "application_id": party.application_id if party is not None else None,
                        "customer_id": customer.id,
                        "context": "rescreen",
                        "list_version": result.list_version,
                        "hit_count": len(result.hits),
                        "best_score": result.hits[0].score if result.hits else None,
                        "hits": [h.model_dump(mode="json") for h in result.hits],
                        "screened_at": now,
                    }
                )
        alerts: list[ScreeningAlertRef] = []
        async with self.db.transaction() as session:
            inserted: set[str] = set()
            for start in range(0, len(rows), _ROWS_PER_INSERT):
                chunk = rows[start : start + _ROWS_PER_INSERT]
                done = await session.exec(
                    pg_insert(ScreeningRow)
                    .values(chunk)
                    .on_conflict_do_nothing(index_elements=["idempotency_key"])
                    .returning(col(ScreeningRow.idempotency_key))
                )
                inserted.update(r[0] for r in done.all())
            await run_sql(
                session,
                "UPDATE customer SET last_screened_at = now(), last_list_version = :v "
                "WHERE id = ANY(CAST(:ids AS uuid[]))",
                {"v": version, "ids": [c.id for c, _ in screened]},
            )
            for customer, results in screened:
                hits = [
                    suppressions.Hit(h.key, h.entry_hash, h.list_name)
                    for _, r in results
                    for h in r.hits
                ]
                if not hits:
                    continue
                # The hit's durable state per customer and entry decides what alerts: new
                # pairs, lapsed ones back on the list, dismissed or whitelisted ones whose
                # entry changed.
                alert_keys = await suppressions.record_hits(
                    session, customer.id, hits, run=workflow_id
                )
                if not alert_keys:
                    continue
                by_key = {h.key: h for _, r in results for h in r.hits}
                ref = await _open_alert(
                    session,
                    workflow_id,
                    customer,
                    version,
                    sorted({by_key[k].list_entry_id for k in alert_keys}),
                    alert_keys,
                )
                await suppressions.link_case(session, customer.id, alert_keys, ref.case_id)
                alerts.append(ref)
            new_rows = [r for r in rows if r["idempotency_key"] in inserted]
            if new_rows:
                await audit.record(
                    session,
                    action="screening.customers_screened",
                    actor=SYSTEM,
                    object_type="screening_run",
                    object_id=workflow_id,
                    workflow_id=workflow_id,
                    details={
                        "context": "rescreen",
                        "list_version": version,
                        "customers": len({r["customer_id"] for r in new_rows}),
                        "screened": [
                            {
                                "customer_id": str(r["customer_id"]),
                                "party_id": str(r["party_id"]) if r["party_id"] else None,
                                "hits": r["hit_count"],
                                "entries": [h["list_entry_id"] for h in r["hits"]],
                            }
                            for r in new_rows
                        ],
                    },
                )
        return alerts

    @activity.defn
    @retry_on_outage
    async def resolve_alert(self, inp: ResolveAlertInput) -> None:
        async with self.db.transaction() as session:
            closed = await store.close_case(
                session,
                inp.case_id,
                outcome=inp.outcome,
                reason=inp.reason_code or "",
                stage=inp.outcome,
                only_open=True,
            )
            if not closed:
                return
            if inp.outcome == "confirmed_match":
                await run_sql(
                    session,
                    "UPDATE customer SET status = 'restricted', kyc_status = 'sanctions_match' "
                    "WHERE id = :id",
                    {"id": inp.customer_id},
                )
            # The alert's hits: confirmed, or dismissed (a whitelisted pair is `suppressed`
            # already; an alert decided before whitelisting needed two people is dismissed).
            await suppressions.close_matches(
                session,
                inp.case_id,
                "confirmed" if inp.outcome == "confirmed_match" else "dismissed",
            )
            await audit.record(
                session,
                action=f"screening.alert_{inp.outcome}",
                actor=ActorRef(inp.decided_by, "reviewer") if inp.decided_by else SYSTEM,
                object_type="customer",
                object_id=inp.customer_id,
                workflow_id=inp.workflow_id,
                details={"case_id": inp.case_id, "reason_code": inp.reason_code},
            )

    @activity.defn
    @retry_on_outage
    async def propose_whitelist(self, inp: WhitelistInput) -> int:
        """The analyst who dismissed the alert's hits proposes whitelisting them."""
        async with self.db.transaction() as session:
            return await suppressions.propose(
                session, inp.case_id, inp.customer_id, inp.actor_id, workflow_id=inp.workflow_id
            )

    @activity.defn
    @retry_on_outage
    async def decide_whitelist(self, inp: WhitelistInput) -> int:
        """A second analyst approves or rejects the proposed whitelisting (never the
        proposer: refused here too, and by the table's CHECK)."""
        try:
            async with self.db.transaction() as session:
                return await suppressions.decide(
                    session,
                    inp.case_id,
                    inp.actor_id,
                    approve=bool(inp.approve),
                    workflow_id=inp.workflow_id,
                )
        except DomainError as exc:
            raise refuse(exc.message, exc.code) from exc

    # ------------------------------------------------------------------ delta re-screening
    @activity.defn
    @retry_on_outage
    async def delta_prepare(self, inp: DeltaRescreenInput) -> DeltaPlan:
        """What the list version changed, entry by entry, against its list's previous
        version; hits on removed entries lapse (audited)."""
        delta = await list_delta(self.db, inp.version_id)
        async with self.db.transaction() as session:
            lapsed = await suppressions.lapse_removed(
                session,
                delta.removed,
                run=str(activity.info().workflow_id),
                list_version=delta.label,
            )
            # Whitelistings pinned to what a changed entry said before lapse now.
            await suppressions.lapse_changed(
                session,
                delta.changed_hashes,
                run=str(activity.info().workflow_id),
                list_version=delta.label,
            )
        return DeltaPlan(
            list_version=delta.label,
            previous_version=delta.previous,
            added=len(delta.added),
            changed=len(delta.changed),
            removed=len(delta.removed),
            hits_lapsed=lapsed,
        )

    @activity.defn
    @retry_on_outage
    async def delta_rescreen_batch(self, inp: DeltaBatchInput) -> DeltaBatchResult:
        """One page of customers: those whose names reach an added or changed entry by the
        matcher's blocking keys (or who hold a hit on a changed entry) are screened again,
        against every list; the others cannot get a new hit from this version."""
        delta = await list_delta(self.db, inp.version_id)
        version = await current_list_version(self.db)
        async with self.db.session() as session:
            stmt = select(Customer).order_by(col(Customer.id)).limit(inp.batch_size)
            if inp.after_customer_id is not None:
                stmt = stmt.where(col(Customer.id) > inp.after_customer_id)
            customers = list((await session.exec(stmt)).all())
            holding = set()
            if delta.changed and customers:
                rows = (
                    await run_sql(
                        session,
                        "SELECT DISTINCT customer_id FROM screening_match "
                        "WHERE entry_key = ANY(CAST(:k AS text[])) "
                        "AND customer_id = ANY(CAST(:c AS uuid[])) AND status <> 'lapsed'",
                        {"k": delta.changed, "c": [c.id for c in customers]},
                    )
                ).all()
                holding = {r.customer_id for r in rows}
        last = customers[-1].id if customers else None
        if version is None or not customers:
            return DeltaBatchResult(
                list_version=version,
                considered_customers=len(customers),
                screened_customers=0,
                last_customer_id=last,
            )
        subjects = await self._subjects_of(customers)
        index = delta.index
        reaches = (
            await asyncio.to_thread(
                lambda: [
                    any(index.candidate_keys(q.name, kind=q.kind) for _, q in found.parties)
                    for found in subjects
                ]
            )
            if index is not None
            else [False] * len(customers)
        )
        touched = [
            (c, found)
            for c, found, reach in zip(customers, subjects, reaches, strict=True)
            if reach or c.id in holding
        ]
        _, config = await load_typed(self.db, "screening", ScreeningConfig)
        async with heartbeating("screening"):
            queries = [query for _, found in touched for _, query in found.parties]
            results = iter(await screen_many(self.db, queries, config))
            screened = [
                (customer, [(party, next(results)) for party, _ in found.parties])
                for customer, found in touched
            ]
            alerts = await self._store_page(inp.workflow_id, version, screened)
        return DeltaBatchResult(
            list_version=version,
            considered_customers=len(customers),
            screened_customers=len(touched),
            last_customer_id=last,
            alerts=alerts,
        )


@dataclass(frozen=True)
class ListDelta:
    """A list version against its list's previous version, by entry key (reference and
    content hash); `index` holds only the added and changed entries (None: there are none)."""

    label: str
    previous: str | None
    added: list[str]
    changed: list[str]
    removed: list[str]
    index: ScreeningIndex | None
    changed_hashes: dict[str, str] = field(default_factory=dict)  # key -> new content hash


# By database and version id; a version never changes once imported.
_deltas: dict[tuple[str, int], ListDelta] = {}
_DELTAS_KEPT = 4


async def list_delta(db: Database, version_id: int) -> ListDelta:
    """The per-entry diff of a list version, computed once per process."""
    key = (db.url, version_id)
    found = _deltas.get(key)
    if found is not None:
        return found
    async with db.session() as session:
        version = (
            await run_sql(
                session,
                "SELECT id, list_name, list_date FROM watchlist_version WHERE id = :id",
                {"id": version_id},
            )
        ).first()
        if version is None:
            raise refuse(f"No list version {version_id}.", "unknown_list_version")
        previous = (
            await run_sql(
                session,
                "SELECT id, list_name, list_date FROM watchlist_version WHERE list_name = :n "
                "AND (list_date < :d OR (list_date = :d AND id < :id)) "
                "ORDER BY list_date DESC, id DESC LIMIT 1",
                {"n": version.list_name, "d": version.list_date, "id": version.id},
            )
        ).first()
        hashes = (
            await run_sql(
                session,
                "SELECT version_id, reference, content_hash FROM watchlist_entry "
                "WHERE version_id = ANY(CAST(:v AS int[]))",
                {"v": [version.id] + ([previous.id] if previous else [])},
            )
        ).all()
    new = {r.reference: r.content_hash for r in hashes if r.version_id == version.id}
    old = {r.reference: r.content_hash for r in hashes if r.version_id != version.id}
    added = sorted(new.keys() - old.keys())
    removed = sorted(old.keys() - new.keys())
    changed = sorted(r for r in new.keys() & old.keys() if new[r] != old[r])
    wanted = set(added) | set(changed)
    entries = [e for e in await load_entries(db, version.id) if e.ref in wanted]
    label = f"{version.list_name} {version.list_date.isoformat()}"
    index = await asyncio.to_thread(ScreeningIndex, entries, version=label) if entries else None
    name = version.list_name
    delta = ListDelta(
        label=label,
        previous=f"{name} {previous.list_date.isoformat()}" if previous else None,
        added=[entry_key(name, r) for r in added],
        changed=[entry_key(name, r) for r in changed],
        removed=[entry_key(name, r) for r in removed],
        index=index,
        changed_hashes={entry_key(name, r): new[r] for r in changed},
    )
    # A handful of recent versions is all a worker needs (a run pages through customers).
    while len(_deltas) >= _DELTAS_KEPT:
        del _deltas[next(iter(_deltas))]
    _deltas[key] = delta
    return delta


async def _open_alert(
    session: AsyncSession,
    workflow_id: str,
    customer: Customer,
    version: str,
    new_entries: list[int],
    new_keys: list[str],
) -> ScreeningAlertRef:
    """The screening case for the customer's new hits: opened once per run and set of
    entries (a retried batch finds its case again; a later run asking again opens another)."""
    run = hashlib.sha256(workflow_id.encode()).hexdigest()[:8]
    alert_workflow = (
        f"screening-alert-{customer.id}-{'-'.join(str(e) for e in new_entries)[:80]}-{run}"
    )
    existing = (
        await run_sql(
            session,
            'SELECT id, reference FROM "case" WHERE workflow_id = :wid',
            {"wid": alert_workflow},
        )
    ).first()
    if existing is not None:
        return ScreeningAlertRef(
            case_id=existing.id,
            customer_id=customer.id,
            workflow_id=alert_workflow,
            reference=existing.reference,
        )
    case = await store.open_case(
        session,
        case_type=CASE_TYPE_SCREENING_ALERT,
        title=f"Re-screening hit: {customer.reference} ({len(new_entries)} new listed entries)",
        stage="review",
        priority="high",
        risk_level="high",
        subject_type="customer",
        subject_id=str(customer.id),
        workflow_id=alert_workflow,
        customer_id=customer.id,
        event=store.Event(
            "screening.alert_opened",
            workflow_id=workflow_id,
            details={
                "customer_id": customer.id,
                "list_version": version,
                "new_entries": new_entries,
                "new_entry_keys": new_keys,
            },
        ),
    )
    return ScreeningAlertRef(
        case_id=case.id,
        customer_id=customer.id,
        workflow_id=alert_workflow,
        reference=case.reference,
    )


async def _store(
    session: AsyncSession,
    workflow_id: str,
    result: ScreeningResult,
    *,
    party: ApplicationParty | None,
    customer_id: uuid.UUID | None,
    context: str,
) -> None:
    """Record one screening (once per workflow and subject) and audit it with the row.

    The subject is an application party, or, for a migrated customer, the customer alone.
    """
    if party is None and customer_id is None:
        raise ValueError("a screening result names a party or a customer")
    subject_id = party.id if party is not None else customer_id
    hits: list[dict[str, Any]] = [h.model_dump(mode="json") for h in result.hits]
    inserted = (
        await session.exec(
            pg_insert(ScreeningRow)
            .values(
                id=uuid.uuid4(),
                idempotency_key=f"{workflow_id}/{subject_id}",
                party_id=party.id if party is not None else None,
                application_id=party.application_id if party is not None else None,
                customer_id=customer_id,
                context=context,
                list_version=result.list_version,
                hit_count=len(result.hits),
                best_score=result.hits[0].score if result.hits else None,
                hits=hits,
                screened_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(col(ScreeningRow.id))
        )
    ).first()
    if inserted is not None:
        await audit.record(
            session,
            action="screening.party_screened" if party else "screening.customer_screened",
            actor=SYSTEM,
            object_type="application_party" if party else "customer",
            object_id=subject_id,
            workflow_id=workflow_id,
            details={
                "context": context,
                "list_version": result.list_version,
                "hits": len(hits),
                "entries": [h["list_entry_id"] for h in hits],
            },
        )


def _outcome(party_id: uuid.UUID, result: ScreeningResult) -> PartyScreeningOutcome:
    # A PEP list match is not a sanctions hit: counted apart (onboarding adds enhanced due
    # diligence for it; activities.onboarding.score_risk names the entry).
    sanctions = [h for h in result.hits if PEP not in h.topics]
    peps = [h for h in result.hits if PEP in h.topics]
    return PartyScreeningOutcome(
        party_id=party_id,
        list_version=result.list_version,
        hit_count=len(sanctions),
        best_score=sanctions[0].score if sanctions else None,
        entry_ids=[h.list_entry_id for h in sanctions],
        pep_hits=len(peps),
        pep_entry_keys=[h.key for h in peps],
    )
