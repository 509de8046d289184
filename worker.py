"""Registers every workflow and activity on the task queue and runs the worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.access_review import AccessReviewActivities
from activities.aml import AmlActivities
from activities.aml_backtest import BacktestActivities
from activities.changes import ChangeActivities
from activities.disputes import DisputeActivities
from activities.errors import ClassifyErrors
from activities.follow_up import FollowUpActivities
from activities.generic_case import GenericCaseActivities
from activities.list_age import ListAgeActivities
from activities.onboarding import OnboardingActivities
from activities.process_repair import ProcessRepairActivities
from activities.process_watch import ProcessWatchActivities
from activities.quality import QualityActivities
from activities.recon_breaks import BreakActivities
from activities.reconciliation import ReconActivities
from activities.screening import ScreeningActivities
from activities.tasks import TaskActivities
from core import cpu_pool
from core.db import Database, resolve_urls
from core.mail import MailServer, mail_server
from core.schedules import ensure_schedules
from core.settings import Settings, get_settings
from core.temporal import connect, ensure_search_attributes
from core.worker_presence import present, worker_identity
from disputes.engines.processor import CardProcessor, load_processor
from onboarding.engines.documents import DocumentCheckProvider, load_provider
from workflows.access_review import AccessReviewWorkflow
from workflows.aml_case import AmlCaseWorkflow
from workflows.case_snooze import CaseSnoozeWorkflow
from workflows.change_approval import ChangeApprovalWorkflow
from workflows.dispute import DisputeWorkflow
from workflows.generic_case import GenericCaseWorkflow
from workflows.list_age import ListAgeWorkflow
from workflows.onboarding import OnboardingWorkflow
from workflows.party_screening import PartyScreeningWorkflow
from workflows.process_watch import ProcessRepairWorkflow, ProcessWatchWorkflow
from workflows.quality_review import QualityReviewWorkflow
from workflows.reconciliation import BreakWorkflow, ReconciliationWorkflow
from workflows.rescreening import (
    DeltaRescreenWorkflow,
    RescreenWorkflow,
    ScreeningAlertWorkflow,
)
from workflows.rule_backtest import RuleBacktestWorkflow

log = logging.getLogger(__name__)

WORKFLOWS = [
    AccessReviewWorkflow,
    AmlCaseWorkflow,
    BreakWorkflow,
    CaseSnoozeWorkflow,
    ChangeApprovalWorkflow,
    DeltaRescreenWorkflow,
    DisputeWorkflow,
    GenericCaseWorkflow,
    ListAgeWorkflow,
    OnboardingWorkflow,
    PartyScreeningWorkflow,
    ProcessRepairWorkflow,
    ProcessWatchWorkflow,
    QualityReviewWorkflow,
    ReconciliationWorkflow,
    RescreenWorkflow,
    RuleBacktestWorkflow,
    ScreeningAlertWorkflow,
]


def activities_for(
    db: Database,
    documents: DocumentCheckProvider,
    processor: CardProcessor,
    mail: MailServer | None = None,
) -> list[object]:
    tasks, changes = TaskActivities(db), ChangeActivities(db)
    onboarding, screening = OnboardingActivities(db, documents), ScreeningActivities(db)
    aml, disputes = AmlActivities(db), DisputeActivities(db, processor, mail)
    recon, breaks = ReconActivities(db), BreakActivities(db)
    watch, repair = ProcessWatchActivities(db), ProcessRepairActivities(db)
    return [
        tasks.open_task,
        tasks.escalate_task,
        tasks.expire_task,
        tasks.record_decision,
        tasks.close_case,
        changes.set_change_status,
        changes.apply_change,
        changes.expire_role_grants,
        onboarding.load_policy,
        onboarding.set_application_status,
        onboarding.check_documents,
        onboarding.score_risk,
        onboarding.notify_applicant,
        onboarding.accept_information,
        onboarding.close_application,
        screening.screen_party,
        screening.rescreen_batch,
        screening.resolve_alert,
        screening.propose_whitelist,
        screening.decide_whitelist,
        screening.delta_prepare,
        screening.delta_rescreen_batch,
        aml.load_aml_policy,
        aml.move_case,
        aml.note_new_alerts,
        aml.close_aml_case,
        aml.record_sar_decision,
        aml.sar_clock_event,
        disputes.load_dispute_policy,
        disputes.move_dispute,
        disputes.post_adjustment,
        disputes.file_with_processor,
        disputes.warn_deadline,
        disputes.record_withdrawal,
        disputes.conclude_dispute,
        disputes.deliver_customer_messages,
        recon.parse_statement,
        recon.match_statement,
        recon.open_break_cases,
        recon.raise_record_breaks,
        breaks.resolve_break,
        breaks.decide_write_off,
        watch.sweep_process_endings,
        repair.carry_out_repair,
        QualityActivities(db).conclude_quality_review,
        FollowUpActivities(db).wake_snoozed_case,
        GenericCaseActivities(db).load_case_plan,
        GenericCaseActivities(db).move_generic_case,
        ListAgeActivities(db).check_list_ages,
        BacktestActivities(db).run_rule_backtest,
        BacktestActivities(db).fail_rule_backtest,
        *_access_review_activities(db),
    ]


def _access_review_activities(db: Database) -> list[object]:
    reviews = AccessReviewActivities(db)
    return [
        reviews.open_access_review,
        reviews.suspend_unreviewed_grants,
        reviews.settle_revocations,
        reviews.close_access_review,
    ]


def build_worker(
    client: Client,
    db: Database,
    task_queue: str,
    *,
    document_provider: str = "builtin",
    card_processor: str = "sandbox",
    mail: MailServer | None = None,
    extra_workflows: Sequence[type] = (),
    **options: object,
) -> Worker:
    """The worker of every workflow and activity; `extra_workflows` adds workflow classes
    (a new case type's package, a test package) that use the kernel's activities."""
    activities = activities_for(
        db, load_provider(document_provider), load_processor(card_processor, db), mail
    )
    # Statement reading and screening run in this process's CPU pool (core/cpu_pool.py),
    # never in the interpreter that runs workflow activations: start its children now.
    cpu_pool.warm_up()
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[*WORKFLOWS, *extra_workflows],
        activities=activities,  # type: ignore[arg-type]
        # Every activity's failure is classified: bad data is refused at once (not
        # retried), an outage is retried with a short message (activities/errors.py).
        interceptors=[ClassifyErrors()],
        # Let in-flight activities finish on shutdown instead of abandoning them.
        graceful_shutdown_timeout=timedelta(seconds=10),
        **({"identity": worker_identity()} | options),  # type: ignore[arg-type]
    )


async def run_worker(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    cpu_pool.configure(settings.cpu_workers)
    client = await connect(settings.temporal_target, settings.temporal_namespace, settings=settings)
    await ensure_search_attributes(client, settings.temporal_namespace)
    await ensure_schedules(client, settings)
    db = Database(
        resolve_urls(settings).app,
        pool_size=settings.db_pool_size,
        application_name="backoffice-worker",
    )
    # Temporal lists our pollers under this identity; the status page matches it with the
    # presence this process records every few seconds (gone at once when it stops beating).
    identity = worker_identity()
    try:
        # Present before the first poll, and until in-flight activities have finished.
        async with (
            present(db, identity, settings.task_queue),
            build_worker(
                client,
                db,
                settings.task_queue,
                document_provider=settings.document_check_provider,
                card_processor=settings.card_processor,
                mail=mail_server(settings),
                identity=identity,
            ),
        ):
            log.info(
                "worker polling task queue %r on %s", settings.task_queue, settings.temporal_target
            )
            await asyncio.Event().wait()
    finally:
        await asyncio.to_thread(cpu_pool.shutdown)
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(run_worker())
