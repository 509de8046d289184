"""Applications in: submit (idempotent by external_ref), read status, answer a request for information."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel
from sqlmodel import select
from temporalio.client import Client

from audit import trail as audit
from casework import store
from casework.starting import start_case
from core.db import Database, run_sql
from core.settings import Settings
from identity.access import not_found, record_refusal, require
from identity.actors import Actor
from models.applications import ApplicationCreate
from models.base import utcnow
from models.onboarding import Application, ApplicationDocument, ApplicationParty
from models.onboarding_io import OnboardingInput, PartyRef
from onboarding.rules import CASE_TYPE_ONBOARDING
from shared.errors import Conflict


class ApplicationAccepted(BaseModel):
    application_id: uuid.UUID
    case_id: uuid.UUID
    workflow_id: str
    status: str
    # False when this external_ref was already submitted: nothing new was started.
    created: bool = True


class ApplicationStatusPublic(BaseModel):
    application_id: uuid.UUID
    external_ref: str
    case_id: uuid.UUID
    case_reference: str
    workflow_id: str
    kind: str
    status: str
    route: str | None
    risk_level: str | None
    risk_score: int | None
    information_due_at: Any = None
    outcome: str | None
    reason_code: str | None
    decided_at: Any = None
    customer_id: uuid.UUID | None
    account_id: uuid.UUID | None
    customer_reference: str | None = None
    iban: str | None = None


def _parties(data: ApplicationCreate, application_id: uuid.UUID) -> list[ApplicationParty]:
    parties: list[ApplicationParty] = []

    def add(role: str, kind: str, name: str, **extra: Any) -> ApplicationParty:
        party = ApplicationParty(
            id=uuid.uuid4(),
            application_id=application_id,
            position=len(parties),
            role=role,
            kind=kind,
            name=name,
            **extra,
        )
        parties.append(party)
        return party

    if data.individual is not None:
        p = data.individual
        add(
            "applicant",
            "person",
            p.full_name,
            date_of_birth=p.date_of_birth,
            nationality=p.nationality,
        )
    else:
        b = data.business
        assert b is not None
        add("business", "entity", b.legal_name, nationality=b.country)
        for d in b.directors:
            add(
                "director",
                "person",
                d.full_name,
                date_of_birth=d.date_of_birth,
                nationality=d.nationality,
            )
        for o in b.beneficial_owners:
            # A director who is also an owner is one person, screened once.
            same = next(
                (
                    x
                    for x in parties
                    if x.role == "director"
                    and x.name.casefold() == o.full_name.casefold()
                    and x.date_of_birth == o.date_of_birth
                ),
                None,
            )
            if same is not None:
                same.ownership_percent = o.ownership_percent
                continue
            add(
                "owner",
                "person",
                o.full_name,
                date_of_birth=o.date_of_birth,
                nationality=o.nationality,
                ownership_percent=o.ownership_percent,
            )
    return parties


def _documents(
    data: ApplicationCreate, application_id: uuid.UUID, parties: list[ApplicationParty]
) -> list[ApplicationDocument]:
    docs: list[ApplicationDocument] = []
    people = (
        [data.individual]
        if data.individual
        else [*data.business.directors, *data.business.beneficial_owners]  # type: ignore[union-attr]
    )
    for person in people:
        party = next(
            p
            for p in parties
            if p.kind == "person" and p.name.casefold() == person.full_name.casefold()
        )
        for d in person.documents:
            docs.append(
                ApplicationDocument(
                    application_id=application_id,
                    party_id=party.id,
                    doc_type=d.type,
                    number=d.number,
                    issuing_country=d.issuing_country,
                    expiry_date=d.expiry_date,
                    mrz=d.mrz,
                )
            )
    if data.business is not None:
        business = next(p for p in parties if p.role == "business")
        for bd in data.business.documents:
            docs.append(
                ApplicationDocument(
                    application_id=application_id,
                    party_id=business.id,
                    doc_type=bd.type,
                    number=bd.number,
                )
            )
    return docs


async def submit_application(
    db: Database, temporal: Client, settings: Settings, actor: Actor, data: ApplicationCreate
) -> ApplicationAccepted:
    await require(
        db, actor, "application", "submit", action="application.submit", object_type="application"
    )
    payload = data.model_dump(mode="json")
    existing = await _by_external_ref(db, data.external_ref)
    if existing is not None:
        return await _resubmitted(db, actor, existing, payload)
    application_id = uuid.uuid4()
    workflow_id = f"onboarding-{application_id}"
    segment = "retail" if data.kind == "individual" else "business"
    async with db.transaction() as session:
        # Two submissions of one external_ref at once: the second waits here, then sees the first.
        await run_sql(
            session, "SELECT pg_advisory_xact_lock(hashtext(:ref))", {"ref": data.external_ref}
        )
        raced = (
            await session.exec(
                select(Application.id).where(Application.external_ref == data.external_ref)
            )
        ).first() is not None
        if not raced:
            now = utcnow()
            kind_label = "KYC" if data.kind == "individual" else "KYB"
            case = await store.open_case(
                session,
                case_type=CASE_TYPE_ONBOARDING,
                title=f"{kind_label} onboarding: {data.display_name}",
                stage="received",
                subject_type="application",
                subject_id=str(application_id),
                workflow_id=workflow_id,
                opened_by=actor.user_id,
                opened_at=now,
            )
            reference = case.reference
            application = Application(
                id=application_id,
                external_ref=data.external_ref,
                kind=data.kind,
                display_name=data.display_name,
                segment=segment,
                case_id=case.id,
                workflow_id=workflow_id,
                payload=payload,
                submitted_by=actor.user_id,
                submitted_at=now,
            )
            session.add(application)
            await session.flush()
            parties = _parties(data, application_id)
            session.add_all(parties)
            await session.flush()
            session.add_all(_documents(data, application_id, parties))
            await session.flush()
            await start_case(
                session,
                temporal,
                case,
                OnboardingInput(
                    application_id=application_id,
                    case_id=case.id,
                    reference=reference,
                    kind=data.kind,
                    parties=[PartyRef(party_id=p.id, role=p.role, kind=p.kind) for p in parties],
                    submitted_by=actor.user_id,
                ),
                task_queue=settings.task_queue,
                summary=f"{reference} {kind_label} onboarding",
                what="the application",
                event=store.Event(
                    "application.received",
                    actor=actor.ref,
                    origin=actor.origin,
                    object_type="application",
                    object_id=application_id,
                    details={
                        "external_ref": data.external_ref,
                        "kind": data.kind,
                        "case_reference": reference,
                        "parties": len(parties),
                    },
                ),
            )
            return ApplicationAccepted(
                application_id=application_id,
                case_id=case.id,
                workflow_id=workflow_id,
                status="received",
            )
    existing = await _by_external_ref(db, data.external_ref)
    assert existing is not None
    return await _resubmitted(db, actor, existing, payload)


async def _by_external_ref(db: Database, external_ref: str) -> Application | None:
    async with db.session() as session:
        return (
            await session.exec(select(Application).where(Application.external_ref == external_ref))
        ).first()


async def _resubmitted(
    db: Database, actor: Actor, existing: Application, payload: dict[str, Any]
) -> ApplicationAccepted:
    if existing.payload != payload:
        error = Conflict(
            f"external_ref {existing.external_ref!r} was already used for a different application; "
            "nothing new was started. Use a new external_ref for a new application.",
            code="external_ref_reused",
        )
        await record_refusal(
            db,
            actor,
            error,
            action="application.submit",
            object_type="application",
            object_id=existing.id,
        )
        raise error
    async with db.transaction() as session:
        await audit.record(
            session,
            action="application.resubmitted",
            actor=actor.ref,
            object_type="application",
            object_id=existing.id,
            origin=actor.origin,
            workflow_id=existing.workflow_id,
            details={"external_ref": existing.external_ref, "started": False},
        )
    return ApplicationAccepted(
        application_id=existing.id,
        case_id=existing.case_id,
        workflow_id=existing.workflow_id,
        status=existing.status,
        created=False,
    )


async def read_application(
    db: Database, actor: Actor, application_id: uuid.UUID
) -> ApplicationStatusPublic:
    await require(
        db,
        actor,
        "application",
        "read",
        action="application.read",
        object_type="application",
        object_id=application_id,
    )
    async with db.session() as session:
        row = (
            (
                await run_sql(
                    session,
                    "SELECT a.*, c.reference AS case_reference, cu.reference AS customer_reference, ac.iban "
                    'FROM application a JOIN "case" c ON c.id = a.case_id '
                    "LEFT JOIN customer cu ON cu.id = a.customer_id "
                    "LEFT JOIN account ac ON ac.id = a.account_id WHERE a.id = :id",
                    {"id": application_id},
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise await not_found(db, actor, "application", application_id, action="application.read")
    return ApplicationStatusPublic(
        application_id=row["id"],
        **{
            k: row[k]
            for k in ApplicationStatusPublic.model_fields
            if k in row and k != "application_id"
        },
    )
