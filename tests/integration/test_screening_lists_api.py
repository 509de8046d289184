"""Screening against several lists through the JSON API and the pages, in a database of its
own with OFAC SDN, the UN list and the PEP list (the shared one stays on OFAC alone): names
in other scripts find their entries, every hit names its list, version and reference, the
batch endpoint checks many names under one audit event, the lists' panel shows versions and
ages, and entries are addressed by list and reference (the old OFAC address still works)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from app import create_app
from core.db import Database
from core.settings import Settings
from models.audit import AuditEvent
from models.config import ConfigSetting, ConfigSettingVersion
from screening.commands import service
from screening.commands.importer import DEMO_LISTS, LIST_DIR, import_list
from screening.commands.service import ScreeningQuery
from screening.policy import ScreeningConfig
from tests.conftest import create_database
from tests.helpers import api_headers, new_staff, web_login

LOADED = ("OFAC-SDN", "UN-SC", "PEP-OS")


@dataclass
class Stack:
    db: Database
    http: httpx.AsyncClient


@pytest.fixture(scope="module")
async def lists_stack(pg_socket: Path, settings: Settings) -> AsyncIterator[Stack]:
    urls = create_database(pg_socket, f"bo_lists_{uuid.uuid4().hex[:6]}")
    db = Database(urls.app, pool_size=4, application_name="tests-screening-lists")
    for name, path, day in DEMO_LISTS:
        if name in LOADED:
            await import_list(db, name, path, list_date=day)
    local = settings.model_copy(update={"database_url": urls.app, "database_admin_url": urls.admin})
    application = create_app(local, db=db)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("203.0.113.11", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Stack(db, http)
    await db.dispose()


async def _headers(stack: Stack, role: str = "kyc_analyst") -> dict[str, str]:
    user = await new_staff(stack.db, role)
    return await api_headers(stack.http, user.username)


async def _check(stack: Stack, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await stack.http.post("/api/v1/screening/check", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _events_of_request(db: Database, request_id: str) -> list[AuditEvent]:
    async with db.session() as session:
        rows = await session.exec(
            select(AuditEvent)
            .where(AuditEvent.request_id == request_id)
            .order_by(col(AuditEvent.id))
        )
        return list(rows.all())


# ----------------------------------------------------------------------------- one name
async def test_a_cyrillic_name_finds_the_ofac_entry_and_the_hit_names_its_list(
    lists_stack: Stack,
) -> None:
    headers = await _headers(lists_stack)
    data = await _check(lists_stack, headers, name="Олег Дерипаска")
    assert data["list_versions"] == ["OFAC-SDN 2024-05-03", "UN-SC 2026-02-27", "PEP-OS 2025-12-08"]
    top = data["hits"][0]
    assert (top["list_name"], top["reference"], top["listed_name"]) == (
        "OFAC-SDN",
        "24283",
        "DERIPASKA, Oleg Vladimirovich",
    )
    assert top["list_version"] == "OFAC-SDN 2024-05-03"
    assert top["entry_key"] == "OFAC-SDN:24283"
    assert top["topics"] == ["sanction"] and top["programs"]


async def test_an_arabic_original_script_name_finds_its_un_entry(lists_stack: Stack) -> None:
    headers = await _headers(lists_stack)
    data = await _check(lists_stack, headers, name="صدام حسين التكريتي")
    un = [h for h in data["hits"] if h["list_name"] == "UN-SC"]
    assert un, data["hits"][:3]
    assert (un[0]["reference"], un[0]["listed_name"]) == ("IQi.001", "SADDAM HUSSEIN AL-TIKRITI")
    assert un[0]["list_version"] == "UN-SC 2026-02-27"
    assert un[0]["matched_name"] == "صدام حسين التكريتي"


@pytest.mark.parametrize(
    ("name", "reference"), [("Amir Kubura", "7715"), ("Seyed Mohamma KALAMI", "29833")]
)
async def test_names_the_matcher_used_to_lose_are_hits(
    lists_stack: Stack, name: str, reference: str
) -> None:
    headers = await _headers(lists_stack)
    data = await _check(lists_stack, headers, name=name)
    assert [(h["list_name"], h["reference"]) for h in data["hits"][:1]] == [
        ("OFAC-SDN", reference)
    ], data["hits"][:3]


async def test_a_pep_list_hit_says_it_is_a_pep_not_a_sanction(lists_stack: Stack) -> None:
    headers = await _headers(lists_stack)
    data = await _check(lists_stack, headers, name="Nancy Pelosi", kind="person")
    top = data["hits"][0]
    assert (top["list_name"], top["topics"], top["listed_name"]) == (
        "PEP-OS",
        ["role.pep"],
        "Nancy Pelosi",
    )


async def test_a_check_writes_exactly_one_audit_event_naming_every_version(
    lists_stack: Stack,
) -> None:
    headers = await _headers(lists_stack)
    response = await lists_stack.http.post(
        "/api/v1/screening/check", json={"name": "Vladimir Putin"}, headers=headers
    )
    assert response.status_code == 200
    [event] = await _events_of_request(lists_stack.db, response.headers["x-request-id"])
    assert (event.action, event.outcome) == ("screening.checked", "success")
    assert event.object_id == "OFAC-SDN 2024-05-03, UN-SC 2026-02-27, PEP-OS 2025-12-08"
    assert event.details["query"]["name"] == "Vladimir Putin"
    assert event.details["hits"][0]["entry_key"].startswith(("OFAC-SDN:", "UN-SC:"))


# ----------------------------------------------------------------------------- batch
async def test_a_batch_screens_each_name_in_order_under_one_audit_event(
    lists_stack: Stack,
) -> None:
    headers = await _headers(lists_stack)
    names = [
        {"name": "Олег Дерипаска"},
        {"name": "Jane Alison Nobody", "kind": "person"},
        {"name": "Nancy Pelosi", "kind": "person", "nationality": "US"},
    ]
    response = await lists_stack.http.post(
        "/api/v1/screening/check-batch", json={"names": names}, headers=headers
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert [r["index"] for r in data["results"]] == [0, 1, 2]
    assert [r["name"] for r in data["results"]] == [n["name"] for n in names]
    first, nobody, pep = data["results"]
    assert first["hits"][0]["entry_key"] == "OFAC-SDN:24283"
    assert nobody["hits"] == []
    assert pep["hits"][0]["list_name"] == "PEP-OS"
    [event] = await _events_of_request(lists_stack.db, response.headers["x-request-id"])
    assert (event.action, event.outcome) == ("screening.batch_checked", "success")
    assert event.details["count"] == 3
    queries = event.details["queries"]
    assert [q["index"] for q in queries] == [0, 1, 2]
    assert queries[0]["query"]["name"] == "Олег Дерипаска"
    assert queries[0]["hits"][0]["entry_key"] == "OFAC-SDN:24283"
    assert (queries[1]["hit_count"], queries[1]["hits"]) == (0, [])


async def test_a_batch_with_bad_items_is_refused_naming_each_by_its_index(
    lists_stack: Stack,
) -> None:
    headers = await _headers(lists_stack)
    names = [
        {"name": "Vladimir Putin"},
        {"name": "!!"},
        {"name": "Ali Hassan", "nationality": "ZZ"},
        {"name": "Ali Hassan", "colour": "red"},
    ]
    response = await lists_stack.http.post(
        "/api/v1/screening/check-batch", json={"names": names}, headers=headers
    )
    assert response.status_code == 422, response.text
    fields = response.json()["fields"]
    assert set(fields) == {"names.1.name", "names.2.nationality", "names.3.colour"}
    assert "letters" in fields["names.1.name"]
    [event] = await _events_of_request(lists_stack.db, response.headers["x-request-id"])
    assert (event.action, event.outcome) == ("http.post", "failure")  # nothing was screened

    for body, field in (({"names": []}, "names"), ({"names": [{"name": "Ali"}] * 501}, "names")):
        refused = await lists_stack.http.post(
            "/api/v1/screening/check-batch", json=body, headers=headers
        )
        assert refused.status_code == 422
        assert field in refused.json()["fields"]


async def test_a_batch_needs_the_screening_check_permission(lists_stack: Stack) -> None:
    headers = await _headers(lists_stack, "support")
    response = await lists_stack.http.post(
        "/api/v1/screening/check-batch", json={"names": [{"name": "Ali Hassan"}]}, headers=headers
    )
    assert response.status_code == 403
    [event] = await _events_of_request(lists_stack.db, response.headers["x-request-id"])
    assert (event.action, event.outcome) == ("screening.check", "denied")


# ----------------------------------------------------------------------------- lists, entries
async def test_the_lists_show_each_current_version_its_entries_and_age(lists_stack: Stack) -> None:
    headers = await _headers(lists_stack)
    response = await lists_stack.http.get("/api/v1/screening/lists", headers=headers)
    assert response.status_code == 200
    by_name = {w["name"]: w for w in response.json()}
    assert list(by_name) == ["OFAC-SDN", "OFAC-CONS", "UN-SC", "EU-FSF", "UK-SL", "PEP-OS"]
    ofac, un, eu, pep = by_name["OFAC-SDN"], by_name["UN-SC"], by_name["EU-FSF"], by_name["PEP-OS"]
    assert (ofac["version"], ofac["entry_count"], ofac["screened"]) == (
        "OFAC-SDN 2024-05-03",
        14965,
        True,
    )
    assert ofac["age_days"] > 600 and ofac["stale"]  # a 2024 list, 7 days allowed
    assert (un["version"], un["entry_count"], un["kind"]) == ("UN-SC 2026-02-27", 1003, "sanctions")
    assert (pep["kind"], pep["max_age_days"]) == ("pep", 30)
    assert (eu["version"], eu["screened"], eu["stale"], eu["age_days"]) == (
        None,
        False,
        False,
        None,
    )


async def test_an_entry_is_read_by_list_and_reference_with_its_original_script_names(
    lists_stack: Stack,
) -> None:
    headers = await _headers(lists_stack)
    response = await lists_stack.http.get(
        "/api/v1/screening/lists/UN-SC/entries/IQi.001", headers=headers
    )
    assert response.status_code == 200, response.text
    entry = response.json()
    assert (entry["list_name"], entry["list_version"], entry["reference"]) == (
        "UN-SC",
        "UN-SC 2026-02-27",
        "IQi.001",
    )
    names = {n["name"]: n for n in entry["names"]}
    assert names["صدام حسين التكريتي"]["script"] == "Arabic"
    assert (names["Abu Ali"]["strength"], names["Abu Ali"]["quality"]) == ("weak", "low")
    same = await lists_stack.http.get(
        "/api/v1/screening/lists/UN-SC/entries/IQi.001",
        params={"version": "UN-SC 2026-02-27"},
        headers=headers,
    )
    assert same.json() == entry

    old = await lists_stack.http.get("/api/v1/screening/entries/24283", headers=headers)
    assert old.status_code == 200
    assert (old.json()["list_name"], old.json()["reference"]) == ("OFAC-SDN", "24283")
    by_reference = await lists_stack.http.get(
        "/api/v1/screening/lists/OFAC-SDN/entries/24283", headers=headers
    )
    assert by_reference.json() == old.json()


async def test_unknown_lists_references_and_versions_are_refused(lists_stack: Stack) -> None:
    headers = await _headers(lists_stack)
    unknown_list = await lists_stack.http.get(
        "/api/v1/screening/lists/XX/entries/IQi.001", headers=headers
    )
    assert unknown_list.status_code == 422
    assert "list_name" in unknown_list.json()["fields"]
    missing = await lists_stack.http.get(
        "/api/v1/screening/lists/UN-SC/entries/QDi.999999", headers=headers
    )
    assert missing.status_code == 404
    other_version = await lists_stack.http.get(
        "/api/v1/screening/lists/UN-SC/entries/IQi.001",
        params={"version": "OFAC-SDN 2024-05-03"},
        headers=headers,
    )
    assert other_version.status_code == 404
    not_yet = await lists_stack.http.get(
        "/api/v1/screening/lists/EU-FSF/entries/EU.1.1", headers=headers
    )
    assert not_yet.status_code == 404


# ----------------------------------------------------------------------------- pages
async def test_the_page_names_each_hits_list_and_links_its_entry_by_reference(
    lists_stack: Stack,
) -> None:
    user = await new_staff(lists_stack.db, "kyc_analyst")
    http = lists_stack.http
    http.cookies.clear()
    csrf = await web_login(http, user.username)
    page = await http.get("/screening")
    assert page.status_code == 200
    panel = page.text[page.text.index('id="screening-lists"') :]
    assert "UN Security Council Consolidated List" in panel
    assert "14,965" in panel and "never imported" in panel and "out of date" in panel

    checked = await http.post(
        "/screening",
        data={"name": "صدام حسين التكريتي", "csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert checked.status_code == 200, checked.text
    assert 'data-entry-key="UN-SC:IQi.001"' in checked.text
    assert "UN Security Council Consolidated List" in checked.text
    assert "/screening/lists/UN-SC/entries/IQi.001?version=UN-SC%202026-02-27" in checked.text
    assert "Sanction" in checked.text

    entry = await http.get("/screening/lists/UN-SC/entries/IQi.001")
    assert entry.status_code == 200
    assert "صدام حسين التكريتي" in entry.text
    assert "original script: Arabic" in entry.text and "alias quality: low" in entry.text
    assert "reference IQi.001" in entry.text
    old = await http.get("/screening/entries/24283")
    assert old.status_code == 200 and "DERIPASKA" in old.text
    http.cookies.clear()


# ----------------------------------------------------------------------------- what applies
async def test_a_list_imported_or_a_setting_approved_elsewhere_applies_to_the_next_check(
    pg_socket: Path,
) -> None:
    """What applies is read on every check (never a stale list after an import by another
    process); only the parsed configuration is cached, by its version."""
    urls = create_database(pg_socket, f"bo_stamp_{uuid.uuid4().hex[:6]}")
    db = Database(urls.app, pool_size=2, application_name="tests-screening-stamp")
    try:
        samples = LIST_DIR / "samples"
        await import_list(db, "UK-SL", samples / "uk_sanctions_list_sample_2026-03-03.xml")
        analyst = (await new_staff(db, "kyc_analyst")).actor
        first = await service.check(db, analyst, ScreeningQuery("Ivan Petrovich Sidorov"))
        assert (first.list_versions, first.hits) == (["UK-SL 2026-03-03"], [])

        await import_list(db, "EU-FSF", samples / "eu_fsf_sample_2026-03-02.xml")
        second = await service.check(db, analyst, ScreeningQuery("Ivan Petrovich Sidorov"))
        assert second.list_versions == ["EU-FSF 2026-03-02", "UK-SL 2026-03-03"]
        assert [h.entry_key for h in second.hits[:1]] == ["EU-FSF:EU.9001.12"]

        # A configuration version approved meanwhile (written as apply_change writes it):
        # the EU list switched off applies at once.
        lists = [p.model_dump() for p in ScreeningConfig().lists]
        for p in lists:
            p["enabled"] = p["name"] != "EU-FSF"
        off = ScreeningConfig().model_dump(mode="json") | {"lists": lists}
        async with db.transaction() as session:
            setting = (
                await session.exec(select(ConfigSetting).where(ConfigSetting.key == "screening"))
            ).one()
            setting.current_version += 1
            session.add(
                ConfigSettingVersion(
                    setting_id=setting.id, version=setting.current_version, values=off
                )
            )
        third = await service.check(db, analyst, ScreeningQuery("Ivan Petrovich Sidorov"))
        assert (third.list_versions, third.hits) == (["UK-SL 2026-03-03"], [])
    finally:
        await db.dispose()
