"""`backoffice screening import-ofac`: imports once, says what it did, refuses bad files."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

from core.db import DatabaseUrls
from core.settings import Settings
from screening.commands.importer import DEFAULT_LIST_FILE
from tests.helpers import environment_without_services, run_command

SMALL_LIST = (
    b'306,"BANCO NACIONAL DE CUBA",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"a.k.a. \'BNC\'."\r\n'
    b'20157,"KIM, Jong Un","individual","DPRK3",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 08 Jan 1984."\r\n'
)


async def _cli(
    args: list[str], urls: DatabaseUrls, settings: Settings
) -> subprocess.CompletedProcess[str]:
    env = environment_without_services()
    env.update(DATABASE_URL=urls.app, DATABASE_ADMIN_URL=urls.admin, ENVIRONMENT="test")
    return await run_command(
        [sys.executable, "-m", "core.cli", "screening", "import-ofac", *args], env=env
    )


async def test_import_prints_what_it_did_and_a_second_run_changes_nothing(
    tmp_path: Path, db_urls: DatabaseUrls, settings: Settings
) -> None:
    # An old list date, so this never becomes the current list other tests screen against.
    small = tmp_path / "sdn.csv.gz"
    small.write_bytes(gzip.compress(SMALL_LIST))
    first = await _cli([str(small), "--list-date", "2001-01-01"], db_urls, settings)
    assert first.returncode == 0, first.stderr
    assert "imported OFAC-SDN 2001-01-01: 2 entries, 3 names" in first.stdout
    again = await _cli([str(small), "--list-date", "2001-01-01"], db_urls, settings)
    assert again.returncode == 0, again.stderr
    assert "already imported" in again.stdout


async def test_a_bad_file_exits_non_zero_with_a_readable_message(
    tmp_path: Path, db_urls: DatabaseUrls, settings: Settings
) -> None:
    bad = tmp_path / "ofac_sdn_2024-01-01.csv"
    bad.write_text("this,is,not\nan,sdn,file\n")
    result = await _cli([str(bad)], db_urls, settings)
    assert result.returncode == 1
    assert "not a readable OFAC SDN CSV file" in result.stderr
    assert "expected 12 columns" in result.stderr
    missing = await _cli([str(tmp_path / "nothing_2024-01-01.csv")], db_urls, settings)
    assert missing.returncode == 1 and "No file at" in missing.stderr
    undated = await _cli([str(DEFAULT_LIST_FILE.with_name("sdn.csv"))], db_urls, settings)
    assert undated.returncode == 1 and "list date" in undated.stderr
    wrong_date = await _cli([str(bad), "--list-date", "soon"], db_urls, settings)
    assert wrong_date.returncode == 2 and "not a date" in wrong_date.stderr


async def test_import_of_any_list_prints_its_diff_against_the_previous_version(
    tmp_path: Path, pg_socket: Path, settings: Settings
) -> None:
    # A database of its own: a UN list in the shared one would change what other tests screen.
    from tests.conftest import create_database

    urls = create_database(pg_socket, "bo_test_cli_lists")
    env = environment_without_services()
    env.update(DATABASE_URL=urls.app, DATABASE_ADMIN_URL=urls.admin, ENVIRONMENT="test")

    def un_list(day: str, *refs: str) -> Path:
        people = "".join(
            f"<INDIVIDUAL><DATAID>{i}</DATAID><FIRST_NAME>PERSON</FIRST_NAME>"
            f"<SECOND_NAME>{ref.replace('.', '')}</SECOND_NAME><UN_LIST_TYPE>DRC</UN_LIST_TYPE>"
            f"<REFERENCE_NUMBER>{ref}</REFERENCE_NUMBER></INDIVIDUAL>"
            for i, ref in enumerate(refs, 1)
        )
        path = tmp_path / f"un_{day}.xml"
        path.write_text(
            f'<CONSOLIDATED_LIST dateGenerated="{day}T00:00:00Z"><INDIVIDUALS>{people}'
            "</INDIVIDUALS><ENTITIES/></CONSOLIDATED_LIST>"
        )
        return path

    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return await run_command(
            [sys.executable, "-m", "core.cli", "screening", "import", *args], env=env
        )

    first = await cli("--list", "UN-SC", str(un_list("2026-01-01", "CDi.1", "CDi.2")))
    assert first.returncode == 0, first.stderr
    assert "imported UN-SC 2026-01-01: 2 entries" in first.stdout
    assert "the first version of this list" in first.stdout
    # Temporal is not reachable here: the import stands and the CLI says what to run later.
    assert "screening rescreen --delta" in first.stderr
    second = await cli("--list", "UN-SC", str(un_list("2026-01-08", "CDi.2", "CDi.3")))
    assert second.returncode == 0, second.stderr
    assert "against UN-SC 2026-01-01: 1 added, 0 changed, 1 removed" in second.stdout
    cons = await cli("--list", "OFAC-CONS", str(tmp_path))
    assert cons.returncode == 1 and "list date" in cons.stderr
    unknown = await cli("--list", "XX", str(tmp_path))
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr
