"""Importing every list format as versions, in a database of its own (the shared test
database stays on OFAC only): counts, names with their script, a second import that changes
nothing, and the per-entry diff of a new version against the previous one."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from xml.etree import ElementTree as ET  # writes a test file; reads go through defusedxml

import pytest
from defusedxml import ElementTree as SafeET

from core.db import Database, run_sql
from screening.commands.importer import LIST_DIR, import_list
from shared.errors import Invalid

UN_FILE = LIST_DIR / "un_consolidated_2026-02-27.xml.gz"
CONS_DIR = LIST_DIR / "us_consolidated_non_sdn"
PEP_FILE = LIST_DIR / "opensanctions" / "us_congress_peps_senzing.jsonl.gz"
EU_FILE = LIST_DIR / "samples" / "eu_fsf_sample_2026-03-02.xml"
UK_FILE = LIST_DIR / "samples" / "uk_sanctions_list_sample_2026-03-03.xml"


@pytest.fixture(scope="module")
async def lists_db(pg_socket: Path) -> AsyncIterator[Database]:
    from tests.conftest import create_database

    urls = create_database(pg_socket, "bo_test_list_import")
    database = Database(urls.app, pool_size=2, application_name="tests-list-import")
    yield database
    await database.dispose()


@pytest.fixture(scope="module")
async def imported(lists_db: Database) -> dict[str, object]:
    return {
        "UN-SC": await import_list(lists_db, "UN-SC", UN_FILE),
        "OFAC-CONS": await import_list(
            lists_db, "OFAC-CONS", CONS_DIR, list_date=date(2023, 12, 15)
        ),
        "PEP-OS": await import_list(lists_db, "PEP-OS", PEP_FILE),
        "EU-FSF": await import_list(lists_db, "EU-FSF", EU_FILE),
        "UK-SL": await import_list(lists_db, "UK-SL", UK_FILE),
    }


async def _rows(db: Database, sql: str, params: dict[str, object] | None = None) -> list:  # type: ignore[type-arg]
    async with db.session() as session:
        return list((await run_sql(session, sql, params or {})).all())


async def test_each_list_is_a_version_of_its_own_with_its_date_kind_and_counts(
    lists_db: Database, imported: dict[str, object]
) -> None:
    versions = {
        r.list_name: r
        for r in await _rows(
            lists_db,
            "SELECT list_name, list_date, list_kind, entry_count, delta FROM watchlist_version",
        )
    }
    assert {n: (v.list_date, v.list_kind, v.entry_count) for n, v in versions.items()} == {
        "UN-SC": (date(2026, 2, 27), "sanctions", 1003),
        "OFAC-CONS": (date(2023, 12, 15), "sanctions", 442),
        "PEP-OS": (date(2025, 12, 8), "pep", 1317),
        "EU-FSF": (date(2026, 3, 2), "sanctions", 3),
        "UK-SL": (date(2026, 3, 3), "sanctions", 3),
    }
    assert all(v.delta == {} for v in versions.values())  # first versions: nothing to diff
    report = imported["UN-SC"]
    assert report.created and report.previous_version is None  # type: ignore[attr-defined]
    assert "the first version of this list" in report.message  # type: ignore[attr-defined]


async def test_original_script_names_and_alias_quality_are_stored_with_the_entry(
    lists_db: Database, imported: dict[str, object]
) -> None:
    rows = await _rows(
        lists_db,
        "SELECT n.name, n.script, n.strength, n.quality, e.reference, e.topics, e.content_hash "
        "FROM watchlist_name n JOIN watchlist_entry e ON e.id = n.entry_id "
        "JOIN watchlist_version v ON v.id = e.version_id "
        "WHERE v.list_name = 'UN-SC' AND e.reference = 'IQi.001'",
    )
    by_name = {r.name: r for r in rows}
    assert by_name["صدام حسين التكريتي"].script == "Arabic"
    assert (by_name["Abu Ali"].strength, by_name["Abu Ali"].quality) == ("weak", "low")
    assert all(len(r.content_hash) == 64 and r.topics == ["sanction"] for r in rows)
    arabic = await _rows(
        lists_db,
        "SELECT count(*) AS n FROM watchlist_name WHERE script = 'Arabic'",
    )
    assert arabic[0].n > 300
    peps = await _rows(
        lists_db,
        "SELECT count(*) AS n FROM watchlist_entry e JOIN watchlist_version v "
        "ON v.id = e.version_id WHERE v.list_name = 'PEP-OS' AND 'role.pep' = ANY(e.topics)",
    )
    assert peps[0].n == 1317


async def test_importing_the_same_list_date_again_changes_nothing(
    lists_db: Database, imported: dict[str, object]
) -> None:
    before = await _rows(lists_db, "SELECT count(*) AS n FROM watchlist_entry")
    again = await import_list(lists_db, "UN-SC", UN_FILE)
    assert not again.created
    assert again.version_id == imported["UN-SC"].version_id  # type: ignore[attr-defined]
    assert "already imported" in again.message
    pep_again = await import_list(lists_db, "PEP-OS", PEP_FILE)  # dated by its content
    assert not pep_again.created
    after = await _rows(lists_db, "SELECT count(*) AS n FROM watchlist_entry")
    assert after[0].n == before[0].n


async def test_a_new_version_is_diffed_per_entry_against_the_previous_one(
    lists_db: Database, imported: dict[str, object], tmp_path: Path
) -> None:
    root = SafeET.fromstring(gzip.decompress(UN_FILE.read_bytes()))
    individuals = root.find("INDIVIDUALS")
    assert individuals is not None
    # Removed: CDi.001. Changed: IQi.001 gains an alias. Added: a copy under a new reference.
    removed = next(e for e in individuals if e.findtext("REFERENCE_NUMBER") == "CDi.001")
    individuals.remove(removed)
    saddam = next(e for e in individuals if e.findtext("REFERENCE_NUMBER") == "IQi.001")
    alias = ET.SubElement(saddam, "INDIVIDUAL_ALIAS")
    ET.SubElement(alias, "QUALITY").text = "Good"
    ET.SubElement(alias, "ALIAS_NAME").text = "Saddam Hussein al-Majid"
    added = ET.SubElement(individuals, "INDIVIDUAL")
    for tag, text in (
        ("DATAID", "9999001"),
        ("FIRST_NAME", "ZORAN"),
        ("SECOND_NAME", "TESTOVIC"),
        ("UN_LIST_TYPE", "DRC"),
        ("REFERENCE_NUMBER", "CDi.999"),
    ):
        ET.SubElement(added, tag).text = text
    root.set("dateGenerated", "2026-03-05T00:00:00.000Z")
    newer = tmp_path / "un_consolidated.xml"  # no date in the name: the file's own date
    newer.write_bytes(ET.tostring(root, encoding="utf-8"))

    report = await import_list(lists_db, "UN-SC", newer)

    assert report.created and report.list_version == "UN-SC 2026-03-05"
    assert report.previous_version == "UN-SC 2026-02-27"
    assert report.previous_version_id == imported["UN-SC"].version_id  # type: ignore[attr-defined]
    assert (report.added, report.changed, report.removed) == (
        ("UN-SC:CDi.999",),
        ("UN-SC:IQi.001",),
        ("UN-SC:CDi.001",),
    )
    assert "1 added, 1 changed, 1 removed" in report.message
    version = await _rows(
        lists_db, "SELECT delta FROM watchlist_version WHERE id = :id", {"id": report.version_id}
    )
    assert version[0].delta == {
        "previous": "UN-SC 2026-02-27",
        "added": 1,
        "changed": 1,
        "removed": 1,
    }
    audited = await _rows(
        lists_db,
        "SELECT details FROM audit_event WHERE action = 'screening.list_imported' "
        "AND object_id = 'UN-SC 2026-03-05'",
    )
    assert audited[0].details["delta"]["changed"] == 1


async def test_unknown_lists_and_undated_files_are_refused_with_a_reason(
    lists_db: Database, tmp_path: Path
) -> None:
    with pytest.raises(Invalid, match="No importer for the list 'XX'"):
        await import_list(lists_db, "XX", UN_FILE)
    with pytest.raises(Invalid, match="Cannot tell the list date"):
        await import_list(lists_db, "OFAC-CONS", CONS_DIR)
    bad = tmp_path / "un_2026-04-01.xml"
    bad.write_bytes(b"<export/>")
    with pytest.raises(Invalid, match="not a readable UN consolidated list XML file"):
        await import_list(lists_db, "UN-SC", bad)
