"""Activities of the onboarding process: checks, risk, applicant messages, and the outcome."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select
from temporalio import activity

from activities.outage import not_committed_yet, retry_on_outage
from activities.tasks import refuse
from audit import trail as audit
from audit.trail import SYSTEM, ActorRef
from casework import store
from configuration.documents import load_typed
from core.db import Database, jsonb_param, run_sql
from models.base import utcnow
from models.onboarding import (
    ApplicantMessage,
    Application,
    ApplicationDocument,
    ApplicationParty,
)
from models.onboarding_io import (
    AcceptInformationInput,
    ApplicationStatusInput,
    CheckDocumentsInput,
    CloseApplicationInput,
    CloseApplicationResult,
    DocumentsOutcome,
    InformationResult,
    MessageInput,
    PolicyValues,
    RiskOutcome,
    ScoreRiskInput,
)
from onboarding.commands.opening import open_customer_account, rebuild_application
from onboarding.engines.documents import DocumentCheckProvider
from onboarding.engines.risk import PepFinding, ScreeningSummary, assess_risk
from onboarding.policy import OnboardingPolicy, RiskWeights
from onboarding.queries.records import parties_of
from screening.commands.service import ScreeningHit
from screening.engines.entries import PEP
from screening.lists import label_of

# Hard document failures, as the reason code the application is rejected with.
REJECT_CODES = {"age": "under_age", "country": "prohibited_country"}


class OnboardingActivities:
    def __init__(self, db: Database, documents: DocumentCheckProvider):
        self.db = db
        self.documents = documents

    @activity.defn
    @retry_on_outage
    async def load_policy(self, application_id: uuid.UUID) -> PolicyValues:
        version, policy = await load_typed(self.db, "onboarding", OnboardingPolicy)
        return PolicyValues(version=version, **policy.model_dump())

    @activity.defn
    @retry_on_outage
    async def set_application_status(self, inp: ApplicationStatusInput) -> None:
        async with self.db.transaction() as session:
            changed = (
                await run_sql(
                    session,
                    "UPDATE application SET status = :status, route = COALESCE(:route, route), "
                    "information_due_at = :due WHERE id = :id AND outcome IS NULL "
                    "AND (status <> :status OR route IS DISTINCT FROM COALESCE(:route, route) "
                    "OR information_due_at IS DISTINCT FROM :due) RETURNING id",
                    {
                        "status": inp.status,
                        "route": inp.route,
                        "due": inp.information_due_at,
                        "id": inp.application_id,
                    },
                )
            ).first()
            await store.move_stage(session, inp.case_id, inp.stage)
            if changed is not None:
                await _record(
                    session,
                    "application.status_changed",
                    inp.application_id,
                    inp.workflow_id,
                    {
                        "status": inp.status,
                        "stage": inp.stage,
                        "route": inp.route,
                        "information_due_at": inp.information_due_at,
                    },
                )

    @activity.defn
    @retry_on_outage
    async def check_documents(self, inp: CheckDocumentsInput) -> DocumentsOutcome:
        async with self.db.session() as session:
            application = await _application(session, inp.application_id)
            documents = list(
                (
                    await session.exec(
                        select(ApplicationDocument, ApplicationParty.name)
                        .outerjoin(
                            ApplicationParty,
                            col(ApplicationParty.id) == ApplicationDocument.party_id,
                        )
                        .where(
                            ApplicationDocument.application_id == inp.application_id,
                            ApplicationDocument.source == "information",
                        )
                    )
                ).all()
            )
        data = rebuild_application(application.payload, documents)
        if inp.policy is not None:
            policy = OnboardingPolicy(**inp.policy.model_dump(exclude={"version"}))
        else:
            _, policy = await load_typed(self.db, "onboarding", OnboardingPolicy)
        report = await self.documents.check(data, today=date.today(), policy=policy)
        reject_code = None
        if report.verdict == "reject":
            failed = [c.check for c in report.checks if c.status == "fail"]
            reject_code = next(
                (code for key, code in REJECT_CODES.items() if any(key in f for f in failed)),
                "failed_checks",
            )
        failures = [c.message for c in report.checks if c.status != "pass"]
        summary = "; ".join(failures) if failures else "All document checks passed."
        stored = report.model_dump(mode="json") | {"round": inp.round}
        async with self.db.transaction() as session:
            await run_sql(
                session,
                "UPDATE application SET documents_report = CAST(:report AS jsonb) WHERE id = :id",
                {"report": jsonb_param(stored), "id": inp.application_id},
            )
            await _record(
                session,
                "application.documents_checked",
                inp.application_id,
                inp.workflow_id,
                {
                    "provider": report.provider,
                    "verdict": report.verdict,
                    "round": inp.round,
                    "failed": [c.check for c in report.checks if c.status != "pass"],
                },
            )
        return DocumentsOutcome(verdict=report.verdict, reject_code=reject_code, summary=summary)

    @activity.defn
    @retry_on_outage
    async def score_risk(self, inp: ScoreRiskInput) -> RiskOutcome:
        async with self.db.session() as session:
            application = await _application(session, inp.application_id)
            parties = {p.id: p for p in await parties_of(session, inp.application_id)}
        data = rebuild_application(application.payload, [])
        people = [data.individual] if data.individual else []
        if data.business:
            people += [*data.business.directors, *data.business.beneficial_owners]
        screened = await self._screened_hits(inp)
        sanctions = {
            pid: [h for h in hits if PEP not in h.topics] for pid, hits in screened.items()
        }
        with_hits = [pid for pid, hits in sanctions.items() if hits]
        summary = ScreeningSummary(
            hits=sum(len(hits) for hits in sanctions.values()),
            best_score=max((h.score for hits in sanctions.values() for h in hits), default=0),
            pep=any(p.pep for p in people),
            persons_with_hits=[parties[pid].name for pid in with_hits if pid in parties],
            pep_matches=[
                PepFinding(
                    person=parties[pid].name,
                    source="list",
                    list_name=h.list_name,
                    list_label=label_of(h.list_name),
                    list_version=h.list_version or None,
                    reference=h.reference or str(h.list_entry_id),
                    entry_name=h.listed_name,
                    score=h.score,
                )
                for pid, hits in screened.items()
                if pid in parties
                for h in hits
                if PEP in h.topics
            ],
        )
        version, weights = await load_typed(self.db, "risk_weights", RiskWeights)
        assessment = assess_risk(
            data, summary, weights, documents_verdict=inp.documents_verdict
        ).model_copy(update={"weights_version": version})
        async with self.db.transaction() as session:
            await run_sql(
                session,
                "UPDATE application SET risk = CAST(:risk AS jsonb), risk_score = :score, "
                "risk_level = :level WHERE id = :id",
                {
                    "risk": jsonb_param(assessment.model_dump(mode="json")),
                    "score": assessment.score,
                    "level": assessment.level,
                    "id": inp.application_id,
                },
            )
            await run_sql(
                session,
                'UPDATE "case" SET risk_level = :level, '
                "priority = CASE WHEN :high THEN 'high' ELSE priority END WHERE id = :id",
                {
                    "level": assessment.level,
                    "high": assessment.level == "high",
                    "id": application.case_id,
                },
            )
            await _record(
                session,
                "application.risk_scored",
                inp.application_id,
                inp.workflow_id,
                {
                    "score": assessment.score,
                    "level": assessment.level,
                    "weights_version": version,
                    "screening_hits": summary.hits,
                },
            )
        sources: list[str] = sorted({finding.source for finding in assessment.pep})
        return RiskOutcome(
            score=assessment.score,
            level=assessment.level,
            weights_version=version,
            pep=bool(sources),
            pep_sources=sources,
        )

    async def _screened_hits(self, inp: ScoreRiskInput) -> dict[uuid.UUID, list[ScreeningHit]]:
        """Each party's hits as this run's screening stored them (by its child workflow's
        idempotency key), so a PEP list match is told from a sanctions hit, by name."""
        keys = [f"{inp.workflow_id}-screen-{s.party_id}/{s.party_id}" for s in inp.screening]
        async with self.db.session() as session:
            rows = (
                await run_sql(
                    session,
                    "SELECT party_id, hits FROM screening_result "
                    "WHERE idempotency_key = ANY(CAST(:keys AS text[]))",
                    {"keys": keys},
                )
            ).all()
        found = {row.party_id: [ScreeningHit.model_validate(h) for h in row.hits] for row in rows}
        for outcome in inp.screening:
            if outcome.party_id not in found and outcome.hit_count:
                # Not stored under this run's key (a history from before the key was this
                # one): counted as sanctions hits, unnamed, as they always were.
                found[outcome.party_id] = [
                    ScreeningHit(
                        list_entry_id=entry,
                        listed_name="",
                        matched_name="",
                        score=outcome.best_score or 0,
                        reasons=[],
                        entry_type="",
                        programs=[],
                    )
                    for entry in outcome.entry_ids[: outcome.hit_count] or [0]
                ]
        return found

    @activity.defn
    @retry_on_outage
    async def notify_applicant(self, inp: MessageInput) -> None:
        async with self.db.transaction() as session:
            inserted = (
                await session.exec(
                    pg_insert(ApplicantMessage)
                    .values(
                        id=uuid.uuid4(),
                        dedupe_key=inp.dedupe_key,
                        application_id=inp.application_id,
                        kind=inp.kind,
                        subject=inp.subject[:300],
                        body=inp.body[:4000],
                        status="pending",
                        created_at=utcnow(),
                    )
                    .on_conflict_do_nothing(index_elements=["dedupe_key"])
                    .returning(col(ApplicantMessage.id))
                )
            ).first()
            if inserted is not None:
                await _record(
                    session,
                    f"applicant.{inp.kind}_sent",
                    inp.application_id,
                    inp.workflow_id,
                    {"message_id": inserted, "subject": inp.subject},
                )

    @activity.defn
    @retry_on_outage
    async def accept_information(self, inp: AcceptInformationInput) -> InformationResult:
        """The documents the web layer stored as `pending` now count for the review."""
        info = inp.information
        async with self.db.transaction() as session:
            accepted = (
                await run_sql(
                    session,
                    "UPDATE application_document SET source = 'information' "
                    "WHERE application_id = :app AND submission_key = :key AND source = 'pending' "
                    "RETURNING doc_type",
                    {"app": inp.application_id, "key": info.submission_key},
                )
            ).all()
            if accepted:
                actor = ActorRef(info.actor_id, info.actor_name) if info.actor_id else SYSTEM
                await audit.record(
                    session,
                    action="application.information_accepted",
                    actor=actor,
                    object_type="application",
                    object_id=inp.application_id,
                    origin=info.origin,
                    workflow_id=inp.workflow_id,
                    details={
                        "submission_key": info.submission_key,
                        "documents": [row[0] for row in accepted],
                    },
                )
        return InformationResult(documents_stored=info.documents, status="in_review")

    @activity.defn
    @retry_on_outage
    async def close_application(self, inp: CloseApplicationInput) -> CloseApplicationResult:
        """Approve (customer, account, default tariff) or reject, once, with its audit trail."""
        async with self.db.transaction() as session:
            application = (
                await session.exec(
                    select(Application)
                    .where(Application.id == inp.application_id)
                    .with_for_update()
                )
            ).first()
            if application is None:
                raise refuse("No such application.", "unknown_application")
            if application.outcome is not None:
                # A retry after our own commit: report what was done.
                return CloseApplicationResult(
                    customer_id=application.customer_id, account_id=application.account_id
                )
            now = utcnow()
            result = CloseApplicationResult()
            if inp.outcome == "approved":
                result = await open_customer_account(session, application, inp.workflow_id)
            application.status = inp.outcome
            application.outcome = inp.outcome
            application.reason_code = inp.reason_code
            application.outcome_reason = (inp.reason or "")[:2000] or None
            application.decided_at = now
            application.information_due_at = None
            session.add(application)
            await store.close_case(
                session,
                inp.case_id,
                outcome=inp.outcome,
                reason=(inp.reason_code or "") + (f": {inp.reason}" if inp.reason else ""),
                now=now,
                stage=inp.outcome,
                customer_id=result.customer_id,
            )
            await session.flush()
            await _record(
                session,
                f"application.{inp.outcome}",
                inp.application_id,
                inp.workflow_id,
                {
                    "reason_code": inp.reason_code,
                    "decided_by": inp.decided_by,
                    "customer_id": result.customer_id,
                    "account_id": result.account_id,
                },
            )
            message = (
                "Your account is open."
                if inp.outcome == "approved"
                else _rejection(inp.reason_code)
            )
            await session.exec(
                pg_insert(ApplicantMessage)
                .values(
                    id=uuid.uuid4(),
                    dedupe_key=f"{inp.workflow_id}/outcome",
                    application_id=inp.application_id,
                    kind="outcome",
                    subject=f"Your application: {inp.outcome}",
                    body=message,
                    status="pending",
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["dedupe_key"])
            )
            return result


async def _record(
    session: Any, action: str, application_id: uuid.UUID, workflow_id: str, details: Any
) -> None:
    """An event the workflow's own steps write about the application."""
    await audit.record(
        session,
        action=action,
        actor=SYSTEM,
        object_type="application",
        object_id=application_id,
        workflow_id=workflow_id,
        details=details,
    )


def _rejection(reason_code: str | None) -> str:
    if reason_code == "no_response":
        return "We closed your application because we did not receive the information we asked for."
    return "We are unable to open an account for you."


async def _application(session: Any, application_id: uuid.UUID) -> Application:
    application = await session.get(Application, application_id)
    if application is None:
        # The workflow is started inside the intake's transaction, so its first activity can
        # run before that commits (seen whenever the intake's audit write waits on the chain).
        raise not_committed_yet(f"application {application_id}")
    return application
