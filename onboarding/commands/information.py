"""The applicant's answer to a request for information.

The documents are stored here, in the database, as `pending`; the waiting workflow is told
only the submission's key (an Update) and its activity marks them as part of the review.
So documents never enter workflow histories, and documents that arrive when no request is
open are kept on file (a later look may matter) but never count.
"""

from __future__ import annotations

import uuid

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from audit import trail as audit
from casework.refusals import refusal_from_update
from core.db import Database
from identity.access import not_found, record_refusal, require
from identity.actors import Actor
from models.applications import DocumentsSubmission
from models.base import utcnow
from models.onboarding import Application, ApplicationDocument, ApplicationParty
from models.onboarding_io import InformationInput, InformationResult, OnboardingState
from models.workflow_io import Origin
from onboarding.queries.records import parties_of
from shared.errors import Conflict, DomainError, Unavailable

ACTION = "application.documents"


def party_named(parties: list[ApplicationParty], name: str | None) -> ApplicationParty | None:
    """Whose documents these are: the named director / owner, else the applicant."""
    people = [p for p in parties if p.kind == "person"]
    if name:
        wanted = " ".join(name.split()).casefold()
        for p in people:
            if p.name.casefold() == wanted:
                return p
    return next((p for p in people if p.role == "applicant"), None)


async def submit_documents(
    db: Database,
    temporal: Client,
    actor: Actor,
    application_id: uuid.UUID,
    submission: DocumentsSubmission,
) -> InformationResult:
    await require(
        db,
        actor,
        "application",
        "submit",
        action=ACTION,
        object_type="application",
        object_id=application_id,
    )
    async with db.session() as session:
        application = await session.get(Application, application_id)
    if application is None:
        raise await not_found(db, actor, "application", application_id, action=ACTION)
    handle = temporal.get_workflow_handle(application.workflow_id)

    error: DomainError | None = None
    try:
        # OnboardingWorkflow.current_state, by name: no command imports workflow code.
        state = await handle.query("current_state", result_type=OnboardingState)
        if state.status != "awaiting_information":
            error = _not_awaiting(state.status)
    except RPCError as exc:
        error = _rpc_error(exc, application.status)
    if error is not None:
        await record_refusal(
            db, actor, error, action=ACTION, object_type="application", object_id=application_id
        )
        raise error

    key = uuid.uuid4().hex
    stored = await _store(db, actor, application, submission, key)
    info = InformationInput(
        submission_key=key,
        documents=stored,
        # The request's one audit event is the one just written; the workflow's own is not
        # tied to the request id.
        origin=Origin(ip=actor.origin.ip, channel=actor.origin.channel),
        actor_id=actor.user_id,
        actor_name=actor.username,
    )
    try:
        return await handle.execute_update(
            "submit_information",  # OnboardingWorkflow.submit_information
            info,
            id=f"information-{key}",
            result_type=InformationResult,
        )
    except WorkflowUpdateFailedError as exc:
        error = refusal_from_update(exc)
    except RPCError as exc:
        error = _rpc_error(exc, application.status)
    # The request closed between our look and the Update (its deadline passed): the
    # documents stay on file as received, but they do not count for the review.
    error.message += " The documents were kept on file but are not part of the review."
    await record_refusal(
        db, actor, error, action=ACTION, object_type="application", object_id=application_id
    )
    raise error


async def _store(
    db: Database,
    actor: Actor,
    application: Application,
    submission: DocumentsSubmission,
    key: str,
) -> int:
    async with db.transaction() as session:
        parties = await parties_of(session, application.id)
        person = party_named(parties, submission.person_name)
        business = next((p for p in parties if p.role == "business"), None)
        now = utcnow()
        rows = [
            ApplicationDocument(
                application_id=application.id,
                party_id=person.id if person else None,
                doc_type=d.type,
                number=d.number,
                issuing_country=d.issuing_country,
                expiry_date=d.expiry_date,
                mrz=d.mrz,
                source="pending",
                submission_key=key,
                received_at=now,
            )
            for d in submission.documents
        ] + [
            ApplicationDocument(
                application_id=application.id,
                party_id=business.id if business else None,
                doc_type=d.type,
                number=d.number,
                source="pending",
                submission_key=key,
                received_at=now,
            )
            for d in submission.business_documents
        ]
        session.add_all(rows)
        await session.flush()
        await audit.record(
            session,
            action="application.information_received",
            actor=actor.ref,
            object_type="application",
            object_id=application.id,
            origin=actor.origin,
            workflow_id=application.workflow_id,
            details={
                "submission_key": key,
                "documents": [r.doc_type for r in rows],
                "for": person.role if person else "application",
                "note": submission.note,
            },
        )
    return len(rows)


def _not_awaiting(status: str) -> Conflict:
    return Conflict(
        "No information is being requested for this application right now "
        f"(it is {status.replace('_', ' ')}).",
        code="not_awaiting_information",
    )


def _rpc_error(exc: RPCError, status: str) -> DomainError:
    if exc.status == RPCStatusCode.NOT_FOUND:
        return _not_awaiting(status)
    return Unavailable("The workflow engine is unreachable; nothing was stored. Try again.")
