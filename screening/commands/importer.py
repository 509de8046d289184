"""Loading a published watch list into the database as a new list version.

One transaction: the version row, every entry and name (by COPY), the per-entry diff against
the same list's previous version (added / changed / removed, by reference and content
hash, stored as counts in `watchlist_version.delta`), and the audit event. A second import
of the same list date changes nothing and says so.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from audit import trail as audit
from audit.trail import SYSTEM, ActorRef
from core.db import Database, run_sql
from models.screening import WatchlistVersion
from models.workflow_io import Origin
from screening.engines.entries import ParsedEntry, entry_hash, entry_key
from screening.engines.listfiles import ListFileError, date_in_name
from screening.engines.parsers import FORMATS, PARSERS, SELF_DATED, list_date_of, parse_list
from screening.lists import LISTS
from shared.errors import Invalid

REPO_ROOT = Path(__file__).resolve().parents[2]
LIST_DIR = REPO_ROOT / "data" / "sanctions"
DEFAULT_LIST_FILE = LIST_DIR / "ofac_sdn_2024-05-03.csv.gz"
# The lists `make run` loads: (list name, file, list date when the file states none).
DEMO_LISTS: tuple[tuple[str, Path, date | None], ...] = (
    ("OFAC-SDN", DEFAULT_LIST_FILE, None),
    # The legacy consolidated CSV set carries no date; the newest date it mentions.
    ("OFAC-CONS", LIST_DIR / "us_consolidated_non_sdn", date(2023, 12, 15)),
    ("UN-SC", LIST_DIR / "un_consolidated_2026-02-27.xml.gz", None),
    ("PEP-OS", LIST_DIR / "opensanctions" / "us_congress_peps_senzing.jsonl.gz", None),
)
# One import at a time per database, so "already imported?" and the insert cannot race.
_IMPORT_LOCK = 0x73637265656E  # "screen"


@dataclass(frozen=True)
class ImportReport:
    list_version: str  # "UN-SC 2026-02-27"
    list_date: date
    created: bool
    entries: int
    names: int
    sha256: str
    seconds: float
    list_name: str = "OFAC-SDN"
    version_id: int | None = None
    previous_version_id: int | None = None
    previous_version: str | None = None  # the label of the version diffed against
    # Entry keys ("UN-SC:QDi.001") against the previous version; all empty for a first one.
    added: tuple[str, ...] = field(default=())
    changed: tuple[str, ...] = field(default=())
    removed: tuple[str, ...] = field(default=())

    @property
    def delta_text(self) -> str:
        if self.previous_version is None:
            return "the first version of this list"
        return (
            f"against {self.previous_version}: {len(self.added)} added, "
            f"{len(self.changed)} changed, {len(self.removed)} removed"
        )

    @property
    def message(self) -> str:
        if not self.created:
            return f"{self.list_version} was already imported ({self.entries} entries); nothing changed"
        return (
            f"imported {self.list_version}: {self.entries} entries, {self.names} names "
            f"in {self.seconds:.1f} s; {self.delta_text}"
        )


def _pg_array(values: list[str] | list[int] | list[date]) -> str:
    """A PostgreSQL array literal for COPY's text format."""
    items = []
    for v in values:
        text = v.isoformat() if isinstance(v, date) else str(v)
        items.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(items) + "}"


async def import_ofac_file(
    db: Database,
    path: Path,
    *,
    list_date: date | None = None,
    actor: ActorRef = SYSTEM,
    origin: Origin | None = None,
) -> ImportReport:
    """Import an OFAC SDN CSV (.csv or .csv.gz) as list version `OFAC-SDN <list date>`."""
    return await import_list(db, "OFAC-SDN", path, list_date=list_date, actor=actor, origin=origin)


async def import_list(
    db: Database,
    list_name: str,
    path: Path,
    *,
    list_date: date | None = None,
    actor: ActorRef = SYSTEM,
    origin: Origin | None = None,
) -> ImportReport:
    """Import `path` as a new version of list `list_name` (OFAC-SDN, OFAC-CONS, UN-SC, EU-FSF,
    UK-SL, PEP-OS), diffed per entry against the list's previous version.

    The list date is `list_date`, else the date in the file name, else the file's own date
    (UN `dateGenerated`, EU `generationDate`, UK `DateGenerated`, OpenSanctions' newest
    `LAST_CHANGE`). Raises Invalid with a readable sentence when the list is unknown or the
    file cannot be read, parsed or dated.
    """
    started = time.perf_counter()
    path = Path(path)
    if list_name not in LISTS or list_name not in PARSERS:
        known = ", ".join(sorted(PARSERS))
        raise Invalid(
            f"No importer for the list {list_name!r}; known lists: {known}.",
            fields={"list": "unknown list"},
        )
    known_date = list_date or date_in_name(path)
    if known_date is None and list_name not in SELF_DATED:
        raise _undated(path)
    if known_date is not None:
        # A version is imported once: say so before reading and parsing the whole file again.
        async with db.session() as session:
            existing = await _already_imported(session, list_name, known_date, started)
        if existing is not None:
            return existing
    try:
        parsed = parse_list(list_name, path)
    except FileNotFoundError:
        raise Invalid(f"No file at {path}.", fields={"file": "not found"}) from None
    except (ListFileError, OSError) as exc:
        raise Invalid(
            f"{path.name} is not a readable {FORMATS[list_name]} file: {exc}",
            fields={"file": str(exc)},
        ) from None
    list_date = known_date or list_date_of(parsed, path)
    if list_date is None:
        raise _undated(path)
    entries = parsed.entries
    sha256 = hashlib.sha256(parsed.raw).hexdigest()
    label = f"{list_name} {list_date.isoformat()}"
    async with db.transaction() as session:
        await run_sql(session, "SELECT pg_advisory_xact_lock(:k)", {"k": _IMPORT_LOCK})
        existing = await _already_imported(session, list_name, list_date, started)
        if existing is not None:
            return existing
        previous = (
            await run_sql(
                session,
                "SELECT id, list_date FROM watchlist_version WHERE list_name = :n "
                "AND list_date < :d ORDER BY list_date DESC, id DESC LIMIT 1",
                {"n": list_name, "d": list_date},
            )
        ).first()
        hashes = {e.ref: entry_hash(e) for e in entries}
        added: list[str] = []
        changed: list[str] = []
        removed: list[str] = []
        previous_label = None
        if previous is not None:
            previous_label = f"{list_name} {previous.list_date.isoformat()}"
            old = {
                r.reference: r.content_hash
                for r in await run_sql(
                    session,
                    "SELECT reference, content_hash FROM watchlist_entry WHERE version_id = :v",
                    {"v": previous.id},
                )
            }
            added = sorted(r for r in hashes if r not in old)
            changed = sorted(r for r in hashes if r in old and old[r] != hashes[r])
            removed = sorted(r for r in old if r not in hashes)
        delta = (
            {
                "previous": previous_label,
                "added": len(added),
                "changed": len(changed),
                "removed": len(removed),
            }
            if previous_label
            else {}
        )
        name_count = sum(len(e.names) for e in entries)
        version = WatchlistVersion(
            list_name=list_name,
            list_date=list_date,
            entry_count=len(entries),
            name_count=name_count,
            source_file=path.name[:300],
            source_sha256=sha256,
            list_kind=LISTS[list_name].kind,
            delta=delta,
        )
        session.add(version)
        await session.flush()
        assert version.id is not None
        await _copy_entries(session, version.id, entries, hashes)
        await audit.record(
            session,
            action="screening.list_imported",
            actor=actor,
            object_type="watch_list",
            object_id=label,
            origin=origin,
            details={
                "list": list_name,
                "list_date": list_date,
                "entries": len(entries),
                "names": name_count,
                "file": path.name,
                "sha256": sha256,
                **({"delta": delta} if delta else {}),
            },
        )
    return ImportReport(
        label,
        list_date,
        True,
        len(entries),
        name_count,
        sha256,
        time.perf_counter() - started,
        list_name=list_name,
        version_id=version.id,
        previous_version_id=previous.id if previous is not None else None,
        previous_version=previous_label,
        added=tuple(entry_key(list_name, r) for r in added),
        changed=tuple(entry_key(list_name, r) for r in changed),
        removed=tuple(entry_key(list_name, r) for r in removed),
    )


def _undated(path: Path) -> Invalid:
    return Invalid(
        f"Cannot tell the list date of {path.name}; pass it (YYYY-MM-DD).",
        fields={"list_date": "required when neither the file name nor the file has a date"},
    )


async def _already_imported(
    session: AsyncSession, list_name: str, list_date: date, started: float
) -> ImportReport | None:
    found = (
        await run_sql(
            session,
            "SELECT id, entry_count, name_count, source_sha256 FROM watchlist_version "
            "WHERE list_name = :n AND list_date = :d",
            {"n": list_name, "d": list_date},
        )
    ).first()
    if found is None:
        return None
    return ImportReport(
        f"{list_name} {list_date.isoformat()}",
        list_date,
        False,
        found.entry_count,
        found.name_count,
        found.source_sha256,
        time.perf_counter() - started,
        list_name=list_name,
        version_id=found.id,
    )


async def _copy_entries(
    session: AsyncSession, version_id: int, entries: list[ParsedEntry], hashes: dict[str, str]
) -> None:
    """Entries, then their names, with COPY on the session's own connection (same transaction)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    async with driver.cursor() as cursor:
        async with cursor.copy(
            "COPY watchlist_entry (version_id, ent_num, entry_type, primary_name, programs, "
            "birth_dates, birth_years, nationalities, title, remarks, details, reference, "
            "content_hash, topics) FROM STDIN"
        ) as copy:
            for e in entries:
                await copy.write_row(
                    (
                        version_id,
                        e.ent_num,
                        e.entry_type,
                        e.primary_name[:500],
                        _pg_array([p[:60] for p in e.programs]),
                        _pg_array(e.birth_dates),
                        _pg_array(e.birth_years),
                        _pg_array(e.nationalities),
                        e.title,
                        e.remarks,
                        json.dumps(e.details),
                        e.ref,
                        hashes[e.ref],
                        _pg_array(e.topics),
                    )
                )
        await cursor.execute(
            "SELECT reference, id FROM watchlist_entry WHERE version_id = %s", (version_id,)
        )
        ids = dict(await cursor.fetchall())
        async with cursor.copy(
            "COPY watchlist_name (entry_id, name, name_kind, strength, script, quality) FROM STDIN"
        ) as copy:
            for e in entries:
                entry_id = ids[e.ref]
                for n in e.names:
                    await copy.write_row(
                        (entry_id, n.name[:500], n.kind, n.strength, n.script[:20], n.quality)
                    )
