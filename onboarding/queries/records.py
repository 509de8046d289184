"""An application's stored records (and a migrated customer's screenings, which have no
application), read the one way every page and activity needs them."""

from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.onboarding import (
    ApplicantMessage,
    ApplicationDocument,
    ApplicationParty,
    ScreeningResult,
)


async def parties_of(session: AsyncSession, application_id: uuid.UUID) -> list[ApplicationParty]:
    """Everyone the application names, in the order it names them."""
    return list(
        (
            await session.exec(
                select(ApplicationParty)
                .where(ApplicationParty.application_id == application_id)
                .order_by(col(ApplicationParty.position))
            )
        ).all()
    )


async def documents_of(
    session: AsyncSession, application_id: uuid.UUID
) -> list[ApplicationDocument]:
    return list(
        (
            await session.exec(
                select(ApplicationDocument)
                .where(ApplicationDocument.application_id == application_id)
                .order_by(col(ApplicationDocument.received_at))
            )
        ).all()
    )


async def screenings_of(
    session: AsyncSession, application_id: uuid.UUID, *, limit: int | None = None
) -> list[ScreeningResult]:
    """Screening results of the application's parties, newest first."""
    stmt = (
        select(ScreeningResult)
        .where(ScreeningResult.application_id == application_id)
        .order_by(col(ScreeningResult.screened_at).desc())
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await session.exec(stmt)).all())


async def customer_screenings_of(
    session: AsyncSession, customer_id: uuid.UUID, *, limit: int | None = None
) -> list[ScreeningResult]:
    """Screening results of a customer migrated without an application (no parties: the
    customer itself was screened), newest first."""
    stmt = (
        select(ScreeningResult)
        .where(ScreeningResult.customer_id == customer_id, col(ScreeningResult.party_id).is_(None))
        .order_by(col(ScreeningResult.screened_at).desc())
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await session.exec(stmt)).all())


async def messages_of(session: AsyncSession, application_id: uuid.UUID) -> list[ApplicantMessage]:
    return list(
        (
            await session.exec(
                select(ApplicantMessage)
                .where(ApplicantMessage.application_id == application_id)
                .order_by(col(ApplicantMessage.created_at))
            )
        ).all()
    )
