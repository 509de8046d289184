"""The watch lists as a compliance officer sees them: each known list's current version, its
entry count, its age against the maximum the configuration allows, and whether it is
screened (the Screening page's panel and `GET /api/v1/screening/lists`)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, computed_field

from configuration import documents as config_store
from core.db import Database, run_sql
from screening.lists import LISTS
from screening.policy import ScreeningConfig


class WatchListStatus(BaseModel):
    name: str  # "UN-SC"
    label: str  # "UN Security Council Consolidated List"
    kind: str  # sanctions | pep
    publisher: str
    enabled: bool  # screened against (configuration `screening`, lists)
    max_age_days: int
    version: str | None = None  # the current version: "UN-SC 2026-02-27"; None: never imported
    list_date: date | None = None
    imported_at: datetime | None = None
    entry_count: int = 0
    age_days: int | None = None  # today - list date

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented pattern
    @property
    def stale(self) -> bool:
        """Older than the configuration allows (compliance is alerted)."""
        return self.age_days is not None and self.age_days > self.max_age_days

    @computed_field  # type: ignore[prop-decorator]
    @property
    def screened(self) -> bool:
        """Names are screened against it now: enabled and imported."""
        return self.enabled and self.version is not None


async def list_status(db: Database, *, today: date | None = None) -> list[WatchListStatus]:
    """Every known list in the registry's order, imported or not."""
    _, config = await config_store.load_typed(db, "screening", ScreeningConfig)
    policies = {p.name: p for p in config.lists}
    enabled = set(config.enabled_lists())
    async with db.session() as session:
        rows = (
            await run_sql(
                session,
                "SELECT DISTINCT ON (list_name) list_name, list_date, imported_at, entry_count "
                "FROM watchlist_version ORDER BY list_name, list_date DESC, id DESC",
            )
        ).all()
    current = {r.list_name: r for r in rows}
    today = today or date.today()
    out = []
    for name, known in LISTS.items():
        policy = policies.get(name)
        row = current.get(name)
        out.append(
            WatchListStatus(
                name=name,
                label=known.label,
                kind=known.kind,
                publisher=known.publisher,
                enabled=name in enabled,
                max_age_days=policy.max_age_days if policy else known.default_max_age_days,
                version=f"{name} {row.list_date.isoformat()}" if row else None,
                list_date=row.list_date if row else None,
                imported_at=row.imported_at if row else None,
                entry_count=row.entry_count if row else 0,
                age_days=(today - row.list_date).days if row else None,
            )
        )
    return out
