"""Reading statement-source changes: their target type, a source's version, and how the
approval page labels and shows one (the change machinery's pages read these; proposing and
applying a change is reconciliation.commands.source_changes)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.reconciliation import ReconSource
from reconciliation.commands.sources import SOURCE_FIELDS
from reconciliation.engines.lines import FORMAT_LABELS

TARGET_TYPE = "recon_source"


async def source_version(session: AsyncSession, source_id: uuid.UUID, *, lock: bool = False) -> int:
    """The source's version: 0 while it does not exist (a creation is bound to that)."""
    query = select(ReconSource.current_version).where(ReconSource.id == source_id)
    if lock:
        query = query.with_for_update(read=True)
    return (await session.exec(query)).first() or 0


def source_label(values: dict[str, Any], *, new: bool) -> str:
    name = values.get("name") or "?"
    return f"New statement source {name}" if new else f"Statement source {name}"


def source_diff_view(values: dict[str, Any]) -> dict[str, str | None]:
    """A source change's values as the approval page shows them: one row per field, lists
    comma-separated, each CSV mapping column a row of its own."""
    shown: dict[str, str | None] = {}
    for field in SOURCE_FIELDS:
        value = values.get(field)
        if field == "account":
            continue  # the first of accounts, shown there
        if field == "format":
            shown[field] = FORMAT_LABELS.get(str(value), value) if value else None
        elif field == "csv_mapping":
            for key, item in (value or {}).items():
                text = ", ".join(map(str, item)) if isinstance(item, list) else item
                shown[f"CSV {key}"] = None if text in (None, "") else str(text)
        elif isinstance(value, list):
            shown[field] = ", ".join(map(str, value)) if value else None
        else:
            shown[field] = None if value in (None, "") else str(value)
    return shown


def diff_views(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """Before and after with the same rows (a mapping column only one side has is shown
    as empty on the other)."""
    old, new = source_diff_view(before), source_diff_view(after)
    keys = list(dict.fromkeys([*old, *new]))
    return {k: old.get(k) for k in keys}, {k: new.get(k) for k in keys}
