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
