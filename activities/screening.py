"""Activities that screen people and entities: at onboarding, and again when the list changes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
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
from onboarding.queries.records import parties_of
from onboarding.rules import CASE_TYPE_SCREENING_ALERT
from screening.commands.service import (
    ScreeningQuery,
    ScreeningResult,
    current_list_version,
    screen_many,
)
from screening.policy import ScreeningConfig


@dataclass
class _Subjects:
    """A customer's screening subjects (its parties, or itself when it has none) and the
    listed entries earlier screenings of them hit."""

    parties: list[tuple[ApplicationParty | None, ScreeningQuery]]
    seen: set[int]


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
            subjects = [await self._subjects(inp.workflow_id, c) for c in customers]
            # Every name of the batch matched at once, in the CPU pool (seconds of CPU for
            # a large batch), so that workflow activations in this worker are not starved.
            queries = [query for found in subjects for _, query in found.parties]
            results = iter(await screen_many(self.db, queries, config))
        alerts: list[ScreeningAlertRef] = []
        for index, (customer, found) in enumerate(zip(customers, subjects, strict=True)):
            activity.heartbeat(index)
            screened = [(party, next(results)) for party, _ in found.parties]
            alert = await self._store_rescreen(inp.workflow_id, customer, version, found, screened)
            if alert is not None:
                alerts.append(alert)
        return RescreenBatchResult(
            list_version=version,
            screened_customers=len(customers),
            last_customer_id=customers[-1].id if customers else None,
            alerts=alerts,
        )

    async def _subjects(self, workflow_id: str, customer: Customer) -> _Subjects:
        """Who is screened for a customer, and the listed entries hit before."""
        async with self.db.session() as session:
            if customer.application_id is None:
                # Migrated from a legacy book: no application parties, so the customer
                # itself is screened, by name.
                parties: list[tuple[ApplicationParty | None, ScreeningQuery]] = [
                    (None, query_for_customer(customer))
                ]
            else:
                found = await parties_of(session, customer.application_id)
                parties = [(party, query_for(party)) for party in found]
            seen = await _seen_entries(
                session, workflow_id, customer.id, [p.id for p, _ in parties if p is not None]
            )
        return _Subjects(parties, seen)

    async def _store_rescreen(
        self,
        workflow_id: str,
        customer: Customer,
        version: str,
        subjects: _Subjects,
        results: list[tuple[ApplicationParty | None, ScreeningResult]],
    ) -> ScreeningAlertRef | None:
        new_entries = sorted(
            {
                h.list_entry_id
                for _, r in results
                for h in r.hits
                if h.list_entry_id not in subjects.seen
            }
        )
        async with self.db.transaction() as session:
            for party, result in results:
                await _store(
                    session,
                    workflow_id,
                    result,
                    party=party,
                    customer_id=customer.id,
                    context="rescreen",
                )
            await run_sql(
                session,
                "UPDATE customer SET last_screened_at = now(), last_list_version = :v WHERE id = :id",
                {"v": version, "id": customer.id},
            )
            if not new_entries:
                return None
            return await _open_alert(session, workflow_id, customer, version, new_entries)

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
            await audit.record(
                session,
                action=f"screening.alert_{inp.outcome}",
                actor=ActorRef(inp.decided_by, "reviewer") if inp.decided_by else SYSTEM,
                object_type="customer",
                object_id=inp.customer_id,
                workflow_id=inp.workflow_id,
                details={"case_id": inp.case_id, "reason_code": inp.reason_code},
            )


async def _open_alert(
    session: AsyncSession,
    workflow_id: str,
    customer: Customer,
    version: str,
    new_entries: list[int],
) -> ScreeningAlertRef:
    """The screening case for the customer's new hits: opened once per set of entries."""
    alert_workflow = f"screening-alert-{customer.id}-{'-'.join(str(e) for e in new_entries)[:80]}"
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
            },
        ),
    )
    return ScreeningAlertRef(
        case_id=case.id,
        customer_id=customer.id,
        workflow_id=alert_workflow,
        reference=case.reference,
    )


async def _seen_entries(
    session: AsyncSession, workflow_id: str, customer_id: uuid.UUID, party_ids: list[uuid.UUID]
) -> set[int]:
    """Listed entries an earlier screening of the customer (or of its parties) already hit.

    This run's own results do not count: when a retried batch finds a customer it already
    stored, its hits must still come out as new, so the alert it opened gets its workflow.
    """
    rows = (
        await run_sql(
            session,
            "SELECT DISTINCT (h->>'list_entry_id')::int FROM screening_result, "
            "jsonb_array_elements(hits) AS h "
            "WHERE (customer_id = :customer OR party_id = ANY(CAST(:parties AS uuid[]))) "
            "AND NOT starts_with(idempotency_key, :run)",
            {"customer": customer_id, "parties": party_ids, "run": f"{workflow_id}/"},
        )
    ).all()
    return {int(r[0]) for r in rows}


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
    return PartyScreeningOutcome(
        party_id=party_id,
        list_version=result.list_version,
        hit_count=len(result.hits),
        best_score=result.hits[0].score if result.hits else None,
        entry_ids=[h.list_entry_id for h in result.hits],
    )
