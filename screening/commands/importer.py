"""Loading a published watch list into the database as a new list version.

One transaction: the version row, every entry and name (by COPY), and the audit event.
A second import of the same list date changes nothing and says so.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from audit import trail as audit
from audit.trail import SYSTEM, ActorRef
from core.db import Database, run_sql
from models.screening import WatchlistVersion
from models.workflow_io import Origin
from screening.engines.entries import entry_hash
from screening.engines.ofac import (
    LIST_NAME,
    OfacFileError,
    ParsedEntry,
    list_date_from_name,
    parse_bytes,
    read_text,
)
from shared.errors import Invalid

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LIST_FILE = REPO_ROOT / "data" / "sanctions" / "ofac_sdn_2024-05-03.csv.gz"
# One import at a time per database, so "already imported?" and the insert cannot race.
_IMPORT_LOCK = 0x73637265656E  # "screen"


@dataclass(frozen=True)
class ImportReport:
    list_version: str
    list_date: date
    created: bool
    entries: int
    names: int
    sha256: str
    seconds: float

    @property
    def message(self) -> str:
        if not self.created:
            return f"{self.list_version} was already imported ({self.entries} entries); nothing changed"
        return (
            f"imported {self.list_version}: {self.entries} entries, {self.names} names "
            f"in {self.seconds:.1f} s"
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
    """Import an OFAC SDN CSV (.csv or .csv.gz) as list version `OFAC-SDN <list date>`.

    The list date comes from the file name (`..._2024-05-03.csv.gz`) unless given.
    Raises Invalid with a readable sentence when the file cannot be read or parsed.
    """
    started = time.perf_counter()
    path = Path(path)
    list_date = list_date or list_date_from_name(path)
    if list_date is None:
        raise Invalid(
            f"Cannot tell the list date of {path.name}; pass it (YYYY-MM-DD).",
            fields={"list_date": "required when the file name carries no date"},
        )
    # A version is imported once: say so before reading and parsing the whole file again.
    async with db.session() as session:
        existing = await _already_imported(session, list_date, started)
    if existing is not None:
        return existing
    try:
        raw = read_text(path)
        entries = parse_bytes(raw)
    except FileNotFoundError:
        raise Invalid(f"No file at {path}.", fields={"file": "not found"}) from None
    except (OfacFileError, OSError) as exc:
        raise Invalid(
            f"{path.name} is not a readable OFAC SDN CSV file: {exc}", fields={"file": str(exc)}
        ) from None
    sha256 = hashlib.sha256(raw).hexdigest()
    label = f"{LIST_NAME} {list_date.isoformat()}"
    async with db.transaction() as session:
        await run_sql(session, "SELECT pg_advisory_xact_lock(:k)", {"k": _IMPORT_LOCK})
        existing = await _already_imported(session, list_date, started)
        if existing is not None:
            return existing
        name_count = sum(len(e.names) for e in entries)
        version = WatchlistVersion(
            list_name=LIST_NAME,
            list_date=list_date,
            entry_count=len(entries),
            name_count=name_count,
            source_file=path.name[:300],
            source_sha256=sha256,
        )
        session.add(version)
        await session.flush()
        assert version.id is not None
        await _copy_entries(session, version.id, entries)
        await audit.record(
            session,
            action="screening.list_imported",
            actor=actor,
            object_type="watch_list",
            object_id=label,
            origin=origin,
            details={
                "list": LIST_NAME,
                "list_date": list_date,
                "entries": len(entries),
                "names": name_count,
                "file": path.name,
                "sha256": sha256,
            },
        )
    return ImportReport(
        label, list_date, True, len(entries), name_count, sha256, time.perf_counter() - started
    )


async def _already_imported(
    session: AsyncSession, list_date: date, started: float
) -> ImportReport | None:
    found = (
        await run_sql(
            session,
            "SELECT entry_count, name_count, source_sha256 FROM watchlist_version "
            "WHERE list_name = :n AND list_date = :d",
            {"n": LIST_NAME, "d": list_date},
        )
    ).first()
    if found is None:
        return None
    return ImportReport(
        f"{LIST_NAME} {list_date.isoformat()}",
        list_date,
        False,
        found.entry_count,
        found.name_count,
        found.source_sha256,
        time.perf_counter() - started,
    )


async def _copy_entries(session: AsyncSession, version_id: int, entries: list[ParsedEntry]) -> None:
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
                        e.primary_name,
                        _pg_array(e.programs),
                        _pg_array(e.birth_dates),
                        _pg_array(e.birth_years),
                        _pg_array(e.nationalities),
                        e.title,
                        e.remarks,
                        json.dumps(e.details),
                        e.ref,
                        entry_hash(e),
                        _pg_array(e.topics),
                    )
                )
        await cursor.execute(
            "SELECT ent_num, id FROM watchlist_entry WHERE version_id = %s", (version_id,)
        )
        ids = dict(await cursor.fetchall())
        async with cursor.copy(
            "COPY watchlist_name (entry_id, name, name_kind, strength, script, quality) FROM STDIN"
        ) as copy:
            for e in entries:
                entry_id = ids[e.ent_num]
                for n in e.names:
                    await copy.write_row(
                        (entry_id, n.name[:500], n.kind, n.strength, n.script, n.quality)
                    )
