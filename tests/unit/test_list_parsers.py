# ruff: noqa: RUF001 - Cyrillic names are what these tests are about
"""Every list format we read, on the real published files the repository carries (UN, US
consolidated, OpenSanctions PEPs) and on fixtures written from the EU and UK schemas."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import pytest

from screening.engines import eu_fsf, opensanctions, uk, un, us_consolidated
from screening.engines.entries import PEP, SANCTION, number_for
from screening.engines.listfiles import ListFileError
from screening.engines.parsers import list_date_of, parse_list

DATA = Path(__file__).parents[2] / "data" / "sanctions"
UN_FILE = DATA / "un_consolidated_2026-02-27.xml.gz"
CONS_DIR = DATA / "us_consolidated_non_sdn"
PEP_FILE = DATA / "opensanctions" / "us_congress_peps_senzing.jsonl.gz"
EU_FILE = DATA / "samples" / "eu_fsf_sample_2026-03-02.xml"
UK_FILE = DATA / "samples" / "uk_sanctions_list_sample_2026-03-03.xml"


def _by_ref(entries: list, reference: str):  # type: ignore[no-untyped-def]
    return next(e for e in entries if e.reference == reference)


@pytest.fixture(scope="module")
def un_list():  # type: ignore[no-untyped-def]
    return parse_list("UN-SC", UN_FILE)


def test_un_list_reads_every_individual_and_entity_and_its_own_date(un_list) -> None:  # type: ignore[no-untyped-def]
    kinds = [e.entry_type for e in un_list.entries]
    assert (kinds.count("person"), kinds.count("entity")) == (730, 273)
    assert un_list.file_date == date(2026, 2, 27)
    assert {e.list_name for e in un_list.entries} == {"UN-SC"}
    assert len({e.reference for e in un_list.entries}) == 1003


def test_un_entry_keeps_its_original_script_name_alias_quality_and_dates(un_list) -> None:  # type: ignore[no-untyped-def]
    saddam = _by_ref(un_list.entries, "IQi.001")
    assert saddam.entry_key == "UN-SC:IQi.001"
    assert saddam.ent_num == 6908048
    assert saddam.primary_name == "SADDAM HUSSEIN AL-TIKRITI"
    arabic = next(n for n in saddam.names if n.script == "Arabic")
    assert arabic.name == "صدام حسين التكريتي"
    assert arabic.strength == "strong"
    low = next(n for n in saddam.names if n.name == "Abu Ali")
    assert (low.strength, low.quality) == ("weak", "low")
    assert saddam.birth_dates == [date(1937, 4, 28)]
    assert saddam.nationalities == ["IQ"]
    assert saddam.programs == ["Iraq"]
    assert saddam.topics == [SANCTION]


def test_un_list_carries_hundreds_of_arabic_names_and_good_and_low_aliases(un_list) -> None:  # type: ignore[no-untyped-def]
    names = [n for e in un_list.entries for n in e.names]
    assert sum(n.script == "Arabic" for n in names) > 300
    assert sum(n.script == "Cyrillic" for n in names) > 5
    assert {n.quality for n in names} >= {"good", "low"}
    assert all(n.strength == "weak" for n in names if n.quality == "low")


def test_un_approximate_and_between_birth_years_widen_to_a_range() -> None:
    xml = b"""<CONSOLIDATED_LIST dateGenerated="2026-01-01T00:00:00Z"><INDIVIDUALS>
      <INDIVIDUAL><DATAID>1</DATAID><FIRST_NAME>A</FIRST_NAME><SECOND_NAME>B</SECOND_NAME>
        <UN_LIST_TYPE>Al-Qaida</UN_LIST_TYPE><REFERENCE_NUMBER>QDi.1</REFERENCE_NUMBER>
        <INDIVIDUAL_DATE_OF_BIRTH><TYPE_OF_DATE>APPROXIMATELY</TYPE_OF_DATE><YEAR>1970</YEAR>
        </INDIVIDUAL_DATE_OF_BIRTH>
        <INDIVIDUAL_DATE_OF_BIRTH><TYPE_OF_DATE>BETWEEN</TYPE_OF_DATE><FROM_YEAR>1980</FROM_YEAR>
        <TO_YEAR>1982</TO_YEAR></INDIVIDUAL_DATE_OF_BIRTH></INDIVIDUAL>
    </INDIVIDUALS><ENTITIES/></CONSOLIDATED_LIST>"""
    entries, _ = un.parse_bytes(xml)
    assert entries[0].birth_years == [1969, 1970, 1971, 1980, 1981, 1982]
    assert entries[0].primary_name == "A B"


def test_us_consolidated_joins_aliases_addresses_and_overflowing_remarks() -> None:
    parsed = parse_list("OFAC-CONS", CONS_DIR)
    assert len(parsed.entries) == 442
    assert parsed.file_date is None  # the legacy CSV set states no date
    bank = next(e for e in parsed.entries if e.ent_num == 17014)
    assert bank.list_name == "OFAC-CONS" and bank.reference == "17014"
    names = {n.name for n in bank.names}
    assert "ROSSELKHOZBANK" in names  # from cons_alt.csv
    assert "RUSAG" in names  # from the remarks' overflow in cons_comments.csv
    assert "Registration Number 1027700342890" in (bank.remarks or "")
    assert "Moscow 119034" in bank.details["Address"]
    haniya = next(e for e in parsed.entries if e.ent_num == 9639)
    assert {n.name for n in haniya.names} == {
        "HANIYA, Ismail Abdul Salah",
        "HANIYA, Ismail",
        "HANIYYA, Ismaeel",
    }
    assert haniya.birth_years == [1962]


def test_opensanctions_peps_are_people_with_the_pep_topic_and_positions_are_skipped() -> None:
    parsed = parse_list("PEP-OS", PEP_FILE)
    # 1 319 records: 1 317 people and 2 positions ("United States senator"), not entries.
    assert len(parsed.entries) == 1317
    assert all(e.topics == [PEP] and e.pep for e in parsed.entries)
    assert parsed.file_date == date(2025, 12, 8)  # the newest LAST_CHANGE
    britt = _by_ref(parsed.entries, "Q111285444")
    assert [(n.name, n.kind) for n in britt.names] == [
        ("Katie Boyd Britt", "primary"),
        ("Katie Britt", "aka"),
    ]
    assert britt.birth_years == [1982]
    assert britt.nationalities == ["US"]
    assert britt.ent_num == number_for("Q111285444")
    assert len({e.ent_num for e in parsed.entries}) == 1317


def test_eu_fixture_reads_aliases_scripts_strength_dates_and_programmes() -> None:
    parsed = parse_list("EU-FSF", EU_FILE)
    assert list_date_of(parsed, EU_FILE) == date(2026, 3, 2)
    assert parsed.file_date == date(2026, 3, 2)  # generationDate
    sidorov = _by_ref(parsed.entries, "EU.9001.12")
    assert sidorov.ent_num == 190001 and sidorov.entry_type == "person"
    assert [(n.name, n.kind, n.strength, n.script) for n in sidorov.names] == [
        ("Ivan Petrovich SIDOROV", "primary", "strong", "Latin"),
        ("Иван Петрович СИДОРОВ", "aka", "strong", "Cyrillic"),
        ("Vanya", "aka", "weak", "Latin"),
    ]
    assert sidorov.birth_dates == [date(1961, 7, 14)]
    assert sidorov.nationalities == ["RU"]
    assert sidorov.programs == ["UKR"]
    company = _by_ref(parsed.entries, "EU.9002.44")
    assert company.entry_type == "entity"
    assert company.details["UN reference"] == "QDe.999"
    colonel = _by_ref(parsed.entries, "190003")  # no EU reference number: the logical id
    assert colonel.birth_years == [1969, 1970, 1971]  # circa 1970
    assert colonel.nationalities == ["LY"]
    assert colonel.title == "Colonel"


def test_uk_fixture_reads_names_non_latin_names_alias_quality_and_dates() -> None:
    parsed = parse_list("UK-SL", UK_FILE)
    assert parsed.file_date == date(2026, 3, 3)
    morozova = _by_ref(parsed.entries, "RUS9001")
    assert morozova.primary_name == "Olga Sergeyevna MOROZOVA"
    assert [(n.name, n.strength, n.script, n.quality) for n in morozova.names[1:]] == [
        ("Olga MOROZOVA-KRAVETS", "strong", "Latin", "good"),
        ("Lyolya", "weak", "Latin", "low"),
        ("Ольга Сергеевна МОРОЗОВА", "strong", "Cyrillic", None),
    ]
    assert morozova.birth_dates == [date(1968, 11, 2)]
    assert morozova.birth_years == [1968, 1969]  # 00/00/1969: the year only
    assert morozova.programs == ["Russia"]
    assert morozova.nationalities == ["RU"]
    kinds = {e.reference: e.entry_type for e in parsed.entries}
    assert kinds == {"RUS9001": "person", "CYB9002": "entity", "RUS9003": "vessel"}


@pytest.mark.parametrize(
    ("parse", "data", "reason"),
    [
        (un.parse_bytes, b"<export/>", "not <CONSOLIDATED_LIST>"),
        (un.parse_bytes, b"<CONSOLIDATED_LIST><INDIVIDUALS>", "not well-formed"),
        (eu_fsf.parse_bytes, b"<Designations/>", "not <export>"),
        (uk.parse_bytes, b"<Designations></Designations>", "no Designation"),
        (opensanctions.parse_bytes, b'{"RECORD_ID": "x"\n', "line 1: not a JSON record"),
        (
            un.parse_bytes,
            b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa">]><CONSOLIDATED_LIST>&a;'
            b"</CONSOLIDATED_LIST>",
            "refused XML",
        ),
    ],
)
def test_a_file_that_is_not_the_list_is_refused_with_a_reason(parse, data, reason) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ListFileError, match=reason):
        parse(data)


def test_consolidated_directory_without_its_primary_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cons_alt.csv.gz").write_bytes(gzip.compress(b'1,2,"aka","X",-0-\n'))
    with pytest.raises(ListFileError, match=r"no cons_prim\.csv"):
        us_consolidated.parse_dir(tmp_path)
