"""Applications in (KYC / KYB): submit, read status, answer a request for information."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, status
from fastapi.responses import JSONResponse

from models.applications import ApplicationCreate, DocumentsSubmission
from models.onboarding_io import InformationResult
from onboarding.commands import information, intake
from web.deps import CurrentActor, ServicesDep, TemporalDep, in_body, in_path, require
from web.responses import API_ERRORS, WRITE_ERRORS

api = APIRouter(prefix="/api/v1/applications", tags=["applications"], responses=API_ERRORS)


@api.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=intake.ApplicationAccepted,
    dependencies=[
        Depends(
            require(
                "application",
                "submit",
                action="application.submit",
                about=in_body("application", "external_ref"),
            )
        )
    ],
    responses={
        200: {
            "model": intake.ApplicationAccepted,
            "description": "This external_ref was submitted before; nothing new started.",
        },
        **WRITE_ERRORS,
    },
)
async def submit_application(
    services: ServicesDep, temporal: TemporalDep, actor: CurrentActor, body: ApplicationCreate
) -> JSONResponse:
    """Submit an individual (`kind="individual"`) or business (`kind="business"`) application.

    Idempotent by `external_ref`: the same submission again answers 200 with the first
    one's ids and starts nothing; different data under a used `external_ref` is a 409.
    """
    accepted = await intake.submit_application(
        services.db, temporal, services.settings, actor, body
    )
    code = status.HTTP_202_ACCEPTED if accepted.created else status.HTTP_200_OK
    return JSONResponse(accepted.model_dump(mode="json"), status_code=code)


@api.get("/{application_id}", response_model=intake.ApplicationStatusPublic)
async def read_application(
    services: ServicesDep, actor: CurrentActor, application_id: uuid.UUID
) -> intake.ApplicationStatusPublic:
    """Status, and once decided the outcome with the customer and account ids."""
    return await intake.read_application(services.db, actor, application_id)


@api.post(
    "/{application_id}/documents",
    response_model=InformationResult,
    dependencies=[
        Depends(
            require(
                "application",
                "submit",
                action=information.ACTION,
                about=in_path("application", "application_id"),
            )
        )
    ],
    responses=WRITE_ERRORS,
)
async def submit_documents(
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    application_id: uuid.UUID,
    body: DocumentsSubmission,
) -> InformationResult:
    """The applicant's answer to a request for information; refused (409) unless one is open."""
    return await information.submit_documents(services.db, temporal, actor, application_id, body)
