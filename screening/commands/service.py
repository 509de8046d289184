"""Screening a name against the current watch list: the API onboarding and re-screening call.

The list lives in the database; each process builds the in-memory index of a list
version once (on first use) and keeps it until a newer version appears.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel

from audit import trail as audit
from configuration import documents as config_store
from core import cpu_pool
from core.db import Database, run_sql
from identity.actors import Actor
from models.screening import WatchlistEntryPublic, WatchlistNamePublic
from screening.engines import batch
from screening.engines.entries import ParsedEntry, ParsedName
from screening.engines.matcher import MatchHit, ScreeningIndex
from screening.engines.ofac import LIST_NAME
from screening.policy import ScreeningConfig
from shared.errors import Conflict


@dataclass(frozen=True)
class ScreeningQuery:
    name: str
    kind: Literal["person", "entity"] | None = None
    date_of_birth: date | None = None
    nationality: str | None = None  # ISO 3166-1 alpha-2


class ScreeningHit(BaseModel):
    list_entry_id: int  # the entry's number on its list (OFAC ent_num; entries.number_for)
    listed_name: str
    matched_name: str
    score: float
    reasons: list[str]
    entry_type: str
    programs: list[str]
    # Which list, version and entry: every hit names them. Defaults read hits stored before
    # several lists were screened (all OFAC SDN).
    list_name: str = "OFAC-SDN"
    list_version: str = ""  # the version of that list screened, "UN-SC 2026-02-27"
    reference: str = ""  # the list's own reference for the entry ("QDi.001")
    entry_key: str = ""  # "UN-SC:QDi.001": the entry across lists and versions
    entry_hash: str = ""  # what was listed when it hit (entries.entry_hash)
    topics: list[str] = []  # "sanction", "role.pep"

    @property
    def key(self) -> str:
        return self.entry_key or f"{self.list_name}:{self.reference or self.list_entry_id}"


class ScreeningResult(BaseModel):
    list_version: str
    hits: list[ScreeningHit]  # best first


@dataclass(frozen=True)
class _Version:
    id: int
    label: str


# By database and version id: ids are per database, and a process (a test run) may use more
# than one database; one database's version 2 is not another's.
_indexes: dict[tuple[str, int], ScreeningIndex] = {}
_build_lock = asyncio.Lock()
NO_LIST = (
    "No watch list has been imported yet, so nobody can be screened; "
    "run `backoffice screening import-ofac FILE` first."
)


async def _current(db: Database, list_version: str | None = None) -> _Version | None:
    async with db.session() as session:
        if list_version:
            name, _, day = list_version.rpartition(" ")
            try:
                list_date = date.fromisoformat(day)
            except ValueError:
                return None
            row = (
                await run_sql(
                    session,
                    "SELECT id, list_name, list_date FROM watchlist_version "
                    "WHERE list_name = :n AND list_date = :d",
                    {"n": name, "d": list_date},
                )
            ).first()
        else:
            row = (
                await run_sql(
                    session,
                    "SELECT id, list_name, list_date FROM watchlist_version WHERE list_name = :n "
                    "ORDER BY list_date DESC, id DESC LIMIT 1",
                    {"n": LIST_NAME},
                )
            ).first()
    if row is None:
        return None
    return _Version(row.id, f"{row.list_name} {row.list_date.isoformat()}")


async def current_list_version(db: Database) -> str | None:
    """The label of the list screening uses now, e.g. "OFAC-SDN 2024-05-03"."""
    version = await _current(db)
    return version.label if version else None


async def load_entries(db: Database, version_id: int) -> list[ParsedEntry]:
    """Every entry of a list version with its names, in two queries."""
    async with db.session() as session:
        rows = (
            await run_sql(
                session,
                "SELECT e.id, e.ent_num, e.entry_type, e.primary_name, e.programs, "
                "e.birth_dates, e.birth_years, e.nationalities, e.title, e.remarks, e.details, "
                "e.reference, e.topics, v.list_name FROM watchlist_entry e "
                "JOIN watchlist_version v ON v.id = e.version_id "
                "WHERE e.version_id = :v ORDER BY e.ent_num",
                {"v": version_id},
            )
        ).all()
        names = (
            await run_sql(
                session,
                "SELECT n.entry_id, n.name, n.name_kind, n.strength, n.script, n.quality "
                "FROM watchlist_name n "
                "JOIN watchlist_entry e ON e.id = n.entry_id WHERE e.version_id = :v "
                "ORDER BY n.id",
                {"v": version_id},
            )
        ).all()
    by_entry: dict[int, list[ParsedName]] = {}
    for n in names:
        by_entry.setdefault(n.entry_id, []).append(
            ParsedName(n.name, n.name_kind, n.strength, n.script, n.quality)
        )
    return [
        ParsedEntry(
            ent_num=r.ent_num,
            entry_type=r.entry_type,
            primary_name=r.primary_name,
            names=by_entry.get(r.id, []),
            programs=list(r.programs),
            birth_dates=list(r.birth_dates),
            birth_years=list(r.birth_years),
            nationalities=list(r.nationalities),
            title=r.title,
            remarks=r.remarks,
            details=dict(r.details or {}),
            list_name=r.list_name,
            reference=r.reference,
            topics=list(r.topics),
        )
        for r in rows
    ]


async def index_for(db: Database, version: _Version) -> ScreeningIndex:
    """The process's index of a list version, built on first use."""
    key = (db.url, version.id)
    index = _indexes.get(key)
    if index is not None:
        return index
    async with _build_lock:
        index = _indexes.get(key)
        if index is None:
            entries = await load_entries(db, version.id)
            # Building is CPU work (about a second): keep the event loop answering meanwhile.
            index = await asyncio.to_thread(ScreeningIndex, entries, version=version.label)
            # Only the newest versions are screened against; drop older indexes.
            for old in [k for k in _indexes if k[0] == db.url and k[1] < version.id]:
                del _indexes[old]
            _indexes[key] = index
    return index


async def current_index(db: Database) -> ScreeningIndex | None:
    """The in-memory index of the current list version (None before any import)."""
    version = await _current(db)
    return await index_for(db, version) if version else None


async def screen(
    db: Database, query: ScreeningQuery, config: ScreeningConfig | None = None
) -> ScreeningResult:
    """Hits for `query` on the current list, best first. Conflict if no list was imported."""
    if config is None:
        _, config = await config_store.load_typed(db, "screening", ScreeningConfig)
    version = await _current(db)
    if version is None:
        raise Conflict(NO_LIST, code="no_watch_list")
    index = await index_for(db, version)
    hits = index.match(
        query.name,
        kind=query.kind,
        date_of_birth=query.date_of_birth,
        nationality=query.nationality,
        config=config,
    )
    return _result(version.label, hits)


async def screen_many(
    db: Database, queries: Sequence[ScreeningQuery], config: ScreeningConfig | None = None
) -> list[ScreeningResult]:
    """`screen` for each query, the name matching done in the worker's CPU pool
    (`core.cpu_pool`, `screening.engines.batch`) so that it never holds the interpreter that
    runs workflow activations; the pool child keeps its own index of the list version."""
    if config is None:
        _, config = await config_store.load_typed(db, "screening", ScreeningConfig)
    version = await _current(db)
    if version is None:
        raise Conflict(NO_LIST, code="no_watch_list")
    if not queries:
        return []
    key = f"{db.url}|{version.id}"
    args = (key, version.label, list(queries), config)
    found = await cpu_pool.run(batch.match_names, *args)
    if found is None:  # that child has no index of this version yet: send it the entries
        found = await cpu_pool.run(batch.match_names, *args, await load_entries(db, version.id))
    assert found is not None
    return [_result(version.label, hits) for hits in found]


def _result(label: str, hits: Sequence[MatchHit]) -> ScreeningResult:
    return ScreeningResult(
        list_version=label,
        hits=[
            ScreeningHit(
                list_entry_id=h.ent_num,
                listed_name=h.listed_name,
                matched_name=h.matched_name,
                score=h.score,
                reasons=list(h.reasons),
                entry_type=h.entry_type,
                programs=list(h.programs),
                list_name=h.list_name,
                list_version=label,
                reference=h.reference,
                entry_key=f"{h.list_name}:{h.reference}",
                entry_hash=h.entry_hash,
                topics=list(h.topics),
            )
            for h in hits
        ],
    )


async def check(db: Database, actor: Actor, query: ScreeningQuery) -> ScreeningResult:
    """An ad-hoc check by a member of staff: screen, and record that they asked."""
    result = await screen(db, query)
    details: dict[str, Any] = {
        "query": {
            "name": query.name,
            "kind": query.kind,
            "date_of_birth": query.date_of_birth,
            "nationality": query.nationality,
        },
        "list_version": result.list_version,
        "hits": [{"list_entry_id": h.list_entry_id, "score": h.score} for h in result.hits[:20]],
        "hit_count": len(result.hits),
    }
    async with db.transaction() as session:
        await audit.record(
            session,
            action="screening.checked",
            actor=actor.ref,
            object_type="watch_list",
            object_id=result.list_version,
            origin=actor.origin,
            details=details,
        )
    return result


async def get_entry(
    db: Database, list_entry_id: int, list_version: str | None = None
) -> WatchlistEntryPublic | None:
    """One listed entry (by the list's own id) with all its names, or None."""
    version = await _current(db, list_version)
    if version is None:
        return None
    async with db.session() as session:
        row = (
            await run_sql(
                session,
                "SELECT id, ent_num, entry_type, primary_name, programs, birth_dates, "
                "birth_years, nationalities, title, remarks, details FROM watchlist_entry "
                "WHERE version_id = :v AND ent_num = :e",
                {"v": version.id, "e": list_entry_id},
            )
        ).first()
        if row is None:
            return None
        names = (
            await run_sql(
                session,
                "SELECT name, name_kind, strength FROM watchlist_name WHERE entry_id = :id "
                "ORDER BY id",
                {"id": row.id},
            )
        ).all()
    return WatchlistEntryPublic(
        list_entry_id=row.ent_num,
        list_version=version.label,
        entry_type=row.entry_type,
        primary_name=row.primary_name,
        names=[
            WatchlistNamePublic(name=n.name, name_kind=n.name_kind, strength=n.strength)
            for n in names
        ],
        programs=list(row.programs),
        birth_dates=list(row.birth_dates),
        birth_years=list(row.birth_years),
        nationalities=list(row.nationalities),
        title=row.title,
        remarks=row.remarks,
        details=dict(row.details or {}),
    )
