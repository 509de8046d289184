"""Tags: short labels on a case ("pep", "needs-translation"), shown on its page and used to
filter the case list. Any case type; whoever may see the case and holds `case:tag`.

A tag is a lowercase slug (letters, digits, single hyphens between them), 2 to 32
characters, at most MAX_TAGS per case. Adding a tag a case has, or removing one it has not,
changes nothing. Each change is audited in its own transaction.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from audit import trail as audit
from core.db import Database
from identity.access import can_see_case, not_found, require
from identity.actors import Actor
from models.base import utcnow
from models.case_follow_up import CaseTag
from models.cases import Case
from shared.errors import Conflict, Invalid

TAG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MIN_LENGTH, MAX_LENGTH = 2, 32
MAX_TAGS = 10
TAG_RULE = (
    f"{MIN_LENGTH} to {MAX_LENGTH} lowercase letters or digits, words joined by single "
    "hyphens (e.g. needs-translation)"
)


@dataclass(frozen=True)
class TagChange:
    case_id: uuid.UUID
    tag: str
    changed: bool  # False: the case already had it (add) or did not have it (remove)
    tags: list[str]


def normalise_tag(raw: str) -> str:
    """The tag as stored (trimmed, lowercase), or Invalid naming the rule it breaks."""
    tag = (raw or "").strip().lower()
    if not tag:
        raise Invalid("Type a tag.", fields={"tag": "required"})
    if len(tag) < MIN_LENGTH or len(tag) > MAX_LENGTH:
        raise Invalid(
            f"A tag has {MIN_LENGTH} to {MAX_LENGTH} characters.",
            fields={"tag": f"{len(tag)} characters; {TAG_RULE}"},
        )
    if not TAG_RE.fullmatch(tag):
        raise Invalid(
            f"“{tag[:40]}” is not a tag: use {TAG_RULE}.",
            fields={"tag": TAG_RULE},
        )
    return tag


def tagged_with(tag: str) -> Any:
    """A condition on `Case`: it carries this tag (for the case list)."""
    return exists().where(col(CaseTag.case_id) == col(Case.id), col(CaseTag.tag) == tag)


async def tags_of(
    session: AsyncSession, case_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    ids = list(case_ids)
    found: dict[uuid.UUID, list[str]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = (
        await session.exec(
            select(CaseTag.case_id, CaseTag.tag)
            .where(col(CaseTag.case_id).in_(ids))
            .order_by(col(CaseTag.tag))
        )
    ).all()
    for case_id, tag in rows:
        found[case_id].append(tag)
    return found


async def _tag_case(db: Database, actor: Actor, case_id: uuid.UUID, action: str) -> Case:
    """The case, if the actor may tag it: permission first, then visibility (both audited)."""
    await require(db, actor, "case", "tag", action=action, object_type="case", object_id=case_id)
    async with db.session() as session:
        case = await session.get(Case, case_id)
    if case is None or not can_see_case(actor, case.case_type):
        raise await not_found(db, actor, "case", case_id, action=action)
    return case


async def add_tag(db: Database, actor: Actor, case_id: uuid.UUID, raw: str) -> TagChange:
    case = await _tag_case(db, actor, case_id, "case.tag_added")
    tag = normalise_tag(raw)
    async with db.transaction() as session:
        # One tag writer per case at a time: the count below stays true until the commit.
        await session.exec(
            select(Case.id).where(Case.id == case.id).with_for_update(key_share=True)
        )
        current = (await tags_of(session, [case.id]))[case.id]
        if tag in current:
            return TagChange(case.id, tag, False, current)
        if len(current) >= MAX_TAGS:
            raise Conflict(
                f"A case carries at most {MAX_TAGS} tags; remove one first.", code="too_many_tags"
            )
        await session.exec(
            pg_insert(CaseTag)
            .values(case_id=case.id, tag=tag, added_by=actor.user_id, added_at=utcnow())
            .on_conflict_do_nothing()
        )
        await audit.record(
            session,
            action="case.tag_added",
            actor=actor.ref,
            object_type="case",
            object_id=case.id,
            origin=actor.origin,
            details={"tag": tag, "reference": case.reference},
        )
        return TagChange(case.id, tag, True, sorted([*current, tag]))


async def remove_tag(db: Database, actor: Actor, case_id: uuid.UUID, raw: str) -> TagChange:
    case = await _tag_case(db, actor, case_id, "case.tag_removed")
    tag = (raw or "").strip().lower()
    async with db.transaction() as session:
        await session.exec(
            select(Case.id).where(Case.id == case.id).with_for_update(key_share=True)
        )
        removed = (
            await session.exec(
                delete(CaseTag)
                .where(col(CaseTag.case_id) == case.id, col(CaseTag.tag) == tag)
                .returning(col(CaseTag.tag))
            )
        ).first()
        current = (await tags_of(session, [case.id]))[case.id]
        if removed is None:
            return TagChange(case.id, tag, False, current)
        await audit.record(
            session,
            action="case.tag_removed",
            actor=actor.ref,
            object_type="case",
            object_id=case.id,
            origin=actor.origin,
            details={"tag": tag, "reference": case.reference},
        )
        return TagChange(case.id, tag, True, current)


async def tags_in_use(db: Database, case_types: Iterable[str], *, limit: int = 30) -> list[str]:
    """The tags on cases of these types (those the reader may see), most used first: the
    case list's tag filter offers them."""
    types = list(case_types)
    if not types:
        return []
    async with db.session() as session:
        rows = (
            await session.exec(
                select(CaseTag.tag)
                .join(Case, col(Case.id) == CaseTag.case_id)
                .where(col(Case.case_type).in_(types))
                .group_by(col(CaseTag.tag))
                .order_by(func.count().desc(), col(CaseTag.tag))
                .limit(limit)
            )
        ).all()
    return list(rows)
