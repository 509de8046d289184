"""Screening a name against the current watch list: the API onboarding and re-screening call.

The list lives in the database; each process builds the in-memory index of a list
version once (on first use) and keeps it until a newer version appears.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from audit import trail as audit
from configuration import documents as config_store
from core import cpu_pool
from core.db import Database, fetch_tuples, run_sql
from identity.actors import Actor
from models.screening import WatchlistEntryPublic, WatchlistNamePublic
from screening.engines import batch
from screening.engines.entries import ParsedEntry, ParsedName, entry_key
from screening.engines.matcher import MatchHit, ScreeningIndex
from screening.engines.ofac import LIST_NAME
from screening.policy import ScreeningConfig
from shared.errors import Conflict, Invalid


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
    list_version: str  # every version screened: "OFAC-SDN 2024-05-03, UN-SC 2026-02-27"
    hits: list[ScreeningHit]  # best first
    list_versions: list[str] = []  # the same, one label per list


@dataclass(frozen=True)
class _Version:
    id: int
    name: str  # the list: "UN-SC"
    label: str  # the version: "UN-SC 2026-02-27"


@dataclass(frozen=True)
class _Lists:
    """The current version of every list screened against (enabled and imported)."""

    versions: tuple[_Version, ...]

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(v.id for v in self.versions)

    @property
    def label(self) -> str:
        """Every version screened: "OFAC-SDN 2024-05-03, UN-SC 2026-02-27"."""
        return ", ".join(v.label for v in self.versions)

    def label_of(self, list_name: str) -> str:
        return next((v.label for v in self.versions if v.name == list_name), list_name)


# By database and version ids: ids are per database, and a process (a test run) may use
# more than one database; one database's version 2 is not another's.
_indexes: dict[tuple[str, tuple[int, ...]], ScreeningIndex] = {}
_build_lock = asyncio.Lock()
NO_LIST = (
    "No watch list has been imported yet, so nobody can be screened; "
    "run `backoffice screening import-ofac FILE` first."
)


async def _version(db: Database, list_version: str | None, list_name: str) -> _Version | None:
    """One list's version by its label ("UN-SC 2026-02-27"), or that list's newest."""
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
                    {"n": list_name},
                )
            ).first()
    if row is None:
        return None
    return _Version(row.id, row.list_name, f"{row.list_name} {row.list_date.isoformat()}")


@dataclass(frozen=True)
class _Stamp:
    """What a screening depends on, read in one statement every time (never cached, so a
    list imported or a configuration approved in another process is seen by the very next
    check): the screening configuration's version and the newest version of every list."""

    config_version: int  # 0: never approved (the defaults)
    versions: tuple[_Version, ...]  # every imported list's newest version, any order

    def lists(self, config: ScreeningConfig) -> _Lists | None:
        """The versions screened under `config` (enabled lists, in the registry's order)."""
        enabled = config.enabled_lists()
        order = {name: i for i, name in enumerate(enabled)}
        versions = sorted(
            (v for v in self.versions if v.name in order), key=lambda v: order[v.name]
        )
        return _Lists(tuple(versions)) if versions else None


# One row per list with the configuration's version on each (one row of NULLs and the
# version when no list was imported): a few index reads, about 0.2 ms.
_STAMP_SQL = (
    "SELECT DISTINCT ON (w.list_name) w.id, w.list_name, w.list_date, c.version "
    "FROM (SELECT (SELECT v.version FROM config_setting s JOIN config_setting_version v "
    "ON v.setting_id = s.id AND v.version = s.current_version "
    "WHERE s.key = 'screening') AS version) c "
    "LEFT JOIN watchlist_version w ON true "
    "ORDER BY w.list_name, w.list_date DESC, w.id DESC"
)
# A configuration version never changes once written: parsed once per process, by database.
_configs: dict[tuple[str, int], ScreeningConfig] = {}


async def _read_stamp(session: AsyncSession) -> _Stamp:
    # Plain psycopg tuples: on every check, SQLAlchemy's result rows are measurable overhead.
    rows = await fetch_tuples(session, _STAMP_SQL, {})
    return _Stamp(
        config_version=(rows[0][3] or 0) if rows else 0,
        versions=tuple(
            _Version(vid, name, f"{name} {day.isoformat()}")
            for vid, name, day, _ in rows
            if vid is not None
        ),
    )


async def _config_at(db: Database, version: int) -> ScreeningConfig:
    """The screening configuration of that version (read from the database on first use)."""
    config = _configs.get((db.url, version))
    if config is None:
        found, config = await config_store.load_typed(db, "screening", ScreeningConfig)
        # Approved meanwhile: the newer one is what applies now (and is cached as itself).
        _configs[(db.url, found)] = config
    return config


async def _current(db: Database, config: ScreeningConfig | None = None) -> _Lists | None:
    """The newest version of every enabled list that has one; None when there is none."""
    async with db.session() as session:
        stamp = await _read_stamp(session)
    if config is None:
        config = await _config_at(db, stamp.config_version)
    return stamp.lists(config)


async def current_list_version(db: Database) -> str | None:
    """The versions screening uses now, e.g. "OFAC-SDN 2024-05-03, UN-SC 2026-02-27"."""
    lists = await _current(db)
    return lists.label if lists else None


async def load_entries(db: Database, version_id: int | Sequence[int]) -> list[ParsedEntry]:
    """Every entry of one or several list versions with its names, in two queries."""
    ids = [version_id] if isinstance(version_id, int) else list(version_id)
    async with db.session() as session:
        rows = (
            await run_sql(
                session,
                "SELECT e.id, e.ent_num, e.entry_type, e.primary_name, e.programs, "
                "e.birth_dates, e.birth_years, e.nationalities, e.title, e.remarks, e.details, "
                "e.reference, e.topics, v.list_name FROM watchlist_entry e "
                "JOIN watchlist_version v ON v.id = e.version_id "
                "WHERE e.version_id = ANY(CAST(:v AS int[])) ORDER BY v.list_name, e.ent_num",
                {"v": ids},
            )
        ).all()
        names = (
            await run_sql(
                session,
                "SELECT n.entry_id, n.name, n.name_kind, n.strength, n.script, n.quality "
                "FROM watchlist_name n "
                "JOIN watchlist_entry e ON e.id = n.entry_id "
                "WHERE e.version_id = ANY(CAST(:v AS int[])) ORDER BY n.id",
                {"v": ids},
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


async def index_for(db: Database, lists: _Lists) -> ScreeningIndex:
    """The process's index of the current versions of the lists, built on first use."""
    key = (db.url, lists.ids)
    index = _indexes.get(key)
    if index is not None:
        return index
    async with _build_lock:
        index = _indexes.get(key)
        if index is None:
            entries = await load_entries(db, lists.ids)
            # Building is CPU work (a second or two): keep the event loop answering meanwhile.
            index = await asyncio.to_thread(ScreeningIndex, entries, version=lists.label)
            # Only the newest versions are screened against; drop this database's others.
            for old in [k for k in _indexes if k[0] == db.url]:
                del _indexes[old]
            _indexes[key] = index
            # The index is half a million long-lived objects per list: a full collection
            # that walks them stops the process for 0.3-0.6 s (a check's p99 in the tens of
            # ms). Frozen, the collector skips them; an index dropped later is still freed
            # by reference counting (it holds no cycles).
            gc.freeze()
    return index


async def current_index(db: Database) -> ScreeningIndex | None:
    """The in-memory index of the lists screened now (None before any import)."""
    lists = await _current(db)
    return await index_for(db, lists) if lists else None


async def screen(
    db: Database, query: ScreeningQuery, config: ScreeningConfig | None = None
) -> ScreeningResult:
    """Hits for `query` on every list screened, best first. Conflict if none was imported."""
    lists, config = await _screened(db, config)
    index = await index_for(db, lists)
    return _match(index, lists, query, config)


def _match(
    index: ScreeningIndex, lists: _Lists, query: ScreeningQuery, config: ScreeningConfig
) -> ScreeningResult:
    hits = index.match(
        query.name,
        kind=query.kind,
        date_of_birth=query.date_of_birth,
        nationality=query.nationality,
        config=config,
    )
    return _result(lists, hits)


async def _screened(db: Database, config: ScreeningConfig | None) -> tuple[_Lists, ScreeningConfig]:
    """The lists screened now and the configuration (the one in force unless given)."""
    async with db.session() as session:
        stamp = await _read_stamp(session)
    if config is None:
        config = await _config_at(db, stamp.config_version)
    lists = stamp.lists(config)
    if lists is None:
        raise Conflict(NO_LIST, code="no_watch_list")
    return lists, config


async def screen_many(
    db: Database, queries: Sequence[ScreeningQuery], config: ScreeningConfig | None = None
) -> list[ScreeningResult]:
    """`screen` for each query, the name matching done in the worker's CPU pool
    (`core.cpu_pool`, `screening.engines.batch`) so that it never holds the interpreter that
    runs workflow activations; the pool child keeps its own index of the list versions."""
    lists, config = await _screened(db, config)
    if not queries:
        return []
    key = f"{db.url}|{','.join(map(str, lists.ids))}"
    args = (key, lists.label, list(queries), config)
    found = await cpu_pool.run(batch.match_names, *args)
    if found is None:  # that child has no index of these versions yet: send it the entries
        found = await cpu_pool.run(batch.match_names, *args, await load_entries(db, lists.ids))
    assert found is not None
    return [_result(lists, hits) for hits in found]


def _result(lists: _Lists, hits: Sequence[MatchHit]) -> ScreeningResult:
    return ScreeningResult(
        list_version=lists.label,
        list_versions=[v.label for v in lists.versions],
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
                list_version=lists.label_of(h.list_name),
                reference=h.reference,
                entry_key=entry_key(h.list_name, h.reference),
                entry_hash=h.entry_hash,
                topics=list(h.topics),
            )
            for h in hits
        ],
    )


MAX_BATCH = 500  # names in one batch check


def _query_details(query: ScreeningQuery) -> dict[str, Any]:
    return {
        "name": query.name,
        "kind": query.kind,
        "date_of_birth": query.date_of_birth,
        "nationality": query.nationality,
    }


def _hit_details(result: ScreeningResult) -> list[dict[str, Any]]:
    return [
        {"list_entry_id": h.list_entry_id, "entry_key": h.entry_key, "score": h.score}
        for h in result.hits[:20]
    ]


async def check(db: Database, actor: Actor, query: ScreeningQuery) -> ScreeningResult:
    """An ad-hoc check by a member of staff: screen, and record that they asked.

    One transaction reads what applies (`_read_stamp`: one statement), matches in memory and
    writes the audit event, so a check costs one connection from the pool; only the first
    check after an import builds the index, outside any transaction."""
    while True:
        async with db.transaction() as session:
            stamp = await _read_stamp(session)
            config = await _config_at(db, stamp.config_version)
            lists = stamp.lists(config)
            if lists is None:
                raise Conflict(NO_LIST, code="no_watch_list")
            index = _indexes.get((db.url, lists.ids))
            if index is not None:
                result = _match(index, lists, query, config)
                await audit.record(
                    session,
                    action="screening.checked",
                    actor=actor.ref,
                    object_type="watch_list",
                    object_id=result.list_version,
                    origin=actor.origin,
                    details={
                        "query": _query_details(query),
                        "list_version": result.list_version,
                        "hits": _hit_details(result),
                        "hit_count": len(result.hits),
                    },
                )
                return result
        await index_for(db, lists)


async def check_batch(
    db: Database, actor: Actor, queries: Sequence[ScreeningQuery]
) -> list[ScreeningResult]:
    """Ad-hoc checks of many names at once (at most MAX_BATCH), recorded as one audit event
    that lists each query with its hits. The matching runs in a thread, so the web process
    keeps answering while a large batch is screened."""
    if not 1 <= len(queries) <= MAX_BATCH:
        raise Invalid(
            f"Send between 1 and {MAX_BATCH} names.",
            fields={"names": f"between 1 and {MAX_BATCH} names"},
        )
    lists, config = await _screened(db, None)
    index = await index_for(db, lists)
    results = await asyncio.to_thread(lambda: [_match(index, lists, q, config) for q in queries])
    async with db.transaction() as session:
        await audit.record(
            session,
            action="screening.batch_checked",
            actor=actor.ref,
            object_type="watch_list",
            object_id=lists.label,
            origin=actor.origin,
            details={
                "list_version": lists.label,
                "count": len(queries),
                "hit_count": sum(len(r.hits) for r in results),
                "queries": [
                    {
                        "index": i,
                        "query": _query_details(q),
                        "hits": _hit_details(r),
                        "hit_count": len(r.hits),
                    }
                    for i, (q, r) in enumerate(zip(queries, results, strict=True))
                ],
            },
        )
    return results


async def get_entry(
    db: Database,
    list_entry_id: int,
    list_version: str | None = None,
    *,
    list_name: str = LIST_NAME,
) -> WatchlistEntryPublic | None:
    """One listed entry (by its number on its list) with all its names, or None: in the
    version named ("UN-SC 2026-02-27"), else in the newest version of `list_name`."""
    return await _entry(db, list_name, list_version, "ent_num", list_entry_id)


async def get_entry_by_reference(
    db: Database, list_name: str, reference: str, list_version: str | None = None
) -> WatchlistEntryPublic | None:
    """One listed entry by the list's own reference ("QDi.001"; OFAC's entity number),
    in the version named or else the list's newest, with all its names; or None."""
    if list_version and not list_version.startswith(f"{list_name} "):
        return None  # a version of another list
    return await _entry(db, list_name, list_version, "reference", reference)


_ENTRY_SQL = (
    "SELECT id, ent_num, entry_type, primary_name, programs, birth_dates, birth_years, "
    "nationalities, title, remarks, details, reference, topics FROM watchlist_entry "
    "WHERE version_id = :v AND "
)
_ENTRY_BY = {"ent_num": _ENTRY_SQL + "ent_num = :e", "reference": _ENTRY_SQL + "reference = :e"}


async def _entry(
    db: Database, list_name: str, list_version: str | None, by: str, value: int | str
) -> WatchlistEntryPublic | None:
    version = await _version(db, list_version, list_name)
    if version is None:
        return None
    async with db.session() as session:
        row = (await run_sql(session, _ENTRY_BY[by], {"v": version.id, "e": value})).first()
        if row is None:
            return None
        names = (
            await run_sql(
                session,
                "SELECT name, name_kind, strength, script, quality FROM watchlist_name "
                "WHERE entry_id = :id "
                "ORDER BY id",
                {"id": row.id},
            )
        ).all()
    return WatchlistEntryPublic(
        list_entry_id=row.ent_num,
        list_version=version.label,
        list_name=version.name,
        reference=row.reference,
        topics=list(row.topics),
        entry_type=row.entry_type,
        primary_name=row.primary_name,
        names=[
            WatchlistNamePublic(
                name=n.name,
                name_kind=n.name_kind,
                strength=n.strength,
                script=n.script,
                quality=n.quality,
            )
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
