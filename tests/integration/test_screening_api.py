"""Screening against the committed OFAC list: JSON API, pages, permissions, audit."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from sqlmodel import select

from core.db import Database
from models.audit import AuditEvent
from screening.commands import service
from screening.commands.importer import DEFAULT_LIST_FILE, import_ofac_file
from screening.commands.service import ScreeningQuery
from shared.errors import Conflict
from tests.helpers import api_headers, new_staff, web_login


@pytest.fixture(scope="module")
async def watch_list(db: Database) -> str:
    """The committed list, imported once (idempotent: other modules may import it too)."""
    report = await import_ofac_file(db, DEFAULT_LIST_FILE)
    assert report.entries == 14965
    return report.list_version


async def _analyst(http: httpx.AsyncClient, db: Database) -> dict[str, str]:
    user = await new_staff(db, "kyc_analyst")
    return await api_headers(http, user.username)


async def test_a_second_import_of_the_same_date_changes_nothing(
    db: Database, watch_list: str
) -> None:
    again = await import_ofac_file(db, DEFAULT_LIST_FILE)
    assert not again.created
    assert "already imported" in again.message
    assert again.list_version == watch_list == "OFAC-SDN 2024-05-03"
    assert await service.current_list_version(db) == watch_list


async def test_screen_finds_a_listed_person_by_a_transliterated_name(
    db: Database, watch_list: str
) -> None:
    result = await service.screen(
        db,
        ScreeningQuery("Musa Mohamed Abu Marzouk", kind="person", date_of_birth=date(1951, 2, 9)),
    )
    assert result.list_version == watch_list
    top = result.hits[0]
    assert top.list_entry_id == 3754
    assert top.listed_name == "ABU MARZOOK, Mousa Mohammed"
    assert top.score >= 95
    assert any("'MOHAMED'→'MOHAMMED'" in r for r in top.reasons)
    assert any("date of birth 1951-02-09 agrees" in r for r in top.reasons)


async def test_api_check_finds_listed_names_aliases_and_variants(
    http: httpx.AsyncClient, db: Database, watch_list: str
) -> None:
    headers = await _analyst(http, db)
    cases = [
        ({"name": "Banco Nacional de Cuba", "kind": "entity"}, 306, "BANCO NACIONAL DE CUBA"),
        ({"name": "vladimir putin"}, None, "PUTIN, Vladimir Vladimirovich"),
        ({"name": "Mohamed Shawki Islambouli", "kind": "person"}, 2682, None),
        ({"name": "The Chess Player", "kind": "person"}, 4107, None),
    ]
    for body, ent_num, listed in cases:
        response = await http.post("/api/v1/screening/check", json=body, headers=headers)
        assert response.status_code == 200, response.text
        data = response.json()
        assert data["list_version"] == watch_list
        top = data["hits"][0]
        if ent_num is not None:
            assert top["list_entry_id"] == ent_num, (body, data["hits"][:3])
        if listed is not None:
            assert top["listed_name"] == listed
        assert top["reasons"] and 0 < top["score"] <= 100
        scores = [h["score"] for h in data["hits"]]
        assert scores == sorted(scores, reverse=True)
    alias = await http.post(
        "/api/v1/screening/check", json={"name": "The Chess Player"}, headers=headers
    )
    hit = alias.json()["hits"][0]
    assert hit["matched_name"] == "THE CHESS PLAYER"
    assert any("alias" in r for r in hit["reasons"])


async def test_given_name_with_an_unrelated_family_name_is_no_hit(
    http: httpx.AsyncClient, db: Database, watch_list: str
) -> None:
    headers = await _analyst(http, db)
    response = await http.post(
        "/api/v1/screening/check", json={"name": "Mousa Smith", "kind": "person"}, headers=headers
    )
    assert response.status_code == 200
    assert response.json()["hits"] == []


async def test_date_of_birth_and_nationality_move_the_score(db: Database, watch_list: str) -> None:
    plain = await service.screen(db, ScreeningQuery("Vladimir Putin", kind="person"))
    agree = await service.screen(
        db,
        ScreeningQuery(
            "Vladimir Putin", kind="person", date_of_birth=date(1952, 10, 7), nationality="RU"
        ),
    )
    differ = await service.screen(
        db, ScreeningQuery("Vladimir Putin", kind="person", nationality="FR")
    )
    base = plain.hits[0].score
    assert agree.hits[0].score > base
    assert not differ.hits or differ.hits[0].score < base
    assert any("nationality RU agrees" in r for r in agree.hits[0].reasons)


async def test_bad_input_is_refused_naming_each_field(
    http: httpx.AsyncClient, db: Database, watch_list: str
) -> None:
    headers = await _analyst(http, db)
    response = await http.post(
        "/api/v1/screening/check",
        json={"name": "", "kind": "robot", "date_of_birth": "yesterday", "nationality": "XX"},
        headers=headers,
    )
    assert response.status_code == 422
    fields = response.json()["fields"]
    assert set(fields) == {"name", "kind", "date_of_birth", "nationality"}


async def test_a_role_without_permission_is_refused_and_audited(
    http: httpx.AsyncClient, db: Database, watch_list: str
) -> None:
    user = await new_staff(db, "product_manager")
    headers = await api_headers(http, user.username)
    response = await http.post(
        "/api/v1/screening/check", json={"name": "Vladimir Putin"}, headers=headers
    )
    assert response.status_code == 403
    async with db.session() as session:
        events = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.actor == user.username, AuditEvent.action == "screening.check"
                )
            )
        ).all()
    assert [e.outcome for e in events] == ["denied"]


async def test_each_check_is_audited_with_the_query(
    http: httpx.AsyncClient, db: Database, watch_list: str
) -> None:
    user = await new_staff(db, "aml_analyst")
    headers = await api_headers(http, user.username)
    response = await http.post(
        "/api/v1/screening/check", json={"name": "Kim Jong Un", "kind": "person"}, headers=headers
    )
    assert response.status_code == 200
    async with db.session() as session:
        events = (
            await session.exec(select(AuditEvent).where(AuditEvent.actor == user.username))
        ).all()
    checked = [e for e in events if e.action == "screening.checked"]
    assert len(checked) == 1
    assert checked[0].details["query"]["name"] == "Kim Jong Un"
    assert (
        checked[0].details["hits"][0]["list_entry_id"]
        == response.json()["hits"][0]["list_entry_id"]
    )


async def test_entry_api_shows_every_name(
    http: httpx.AsyncClient, db: Database, watch_list: str
) -> None:
    user = await new_staff(db, "auditor")
    headers = await api_headers(http, user.username)
    response = await http.get("/api/v1/screening/entries/4107", headers=headers)
    assert response.status_code == 200
    entry = response.json()
    assert entry["primary_name"] == "RODRIGUEZ OREJUELA, Gilberto Jose"
    assert {"THE CHESS PLAYER", "LUCAS"} <= {n["name"] for n in entry["names"]}
    assert entry["birth_dates"] == ["1939-01-31"]
    missing = await http.get("/api/v1/screening/entries/999999999", headers=headers)
    assert missing.status_code == 404
    # An auditor reads entries but does not run checks.
    refused = await http.post(
        "/api/v1/screening/check", json={"name": "Kim Jong Un"}, headers=headers
    )
    assert refused.status_code == 403


async def test_the_page_checks_a_name_through_the_csrf_protected_form(
    http: httpx.AsyncClient, db: Database, watch_list: str
) -> None:
    user = await new_staff(db, "kyc_senior")
    csrf = await web_login(http, user.username)
    page = await http.get("/screening")
    assert page.status_code == 200
    assert "OFAC-SDN 2024-05-03" in page.text
    assert 'name="csrf_token"' in page.text
    forged = await http.post("/screening", data={"name": "Kim Jong Un"})
    assert forged.status_code == 403
    posted = await http.post(
        "/screening",
        data={
            "csrf_token": csrf,
            "name": "Kim Jong Un",
            "kind": "person",
            "date_of_birth": "1984-01-08",
        },
    )
    assert posted.status_code == 200
    assert "KIM, Jong Un" in posted.text
    assert "date of birth 1984-01-08 agrees" in posted.text
    fragment = await http.post(
        "/screening",
        data={"csrf_token": csrf, "name": "Kim Jong Un", "kind": "person"},
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 200
    assert 'id="results"' in fragment.text and "<html" not in fragment.text
    bad = await http.post(
        "/screening", data={"csrf_token": csrf, "name": "Kim", "nationality": "ZZ"}
    )
    assert bad.status_code == 422
    assert "ISO 3166-1 alpha-2" in bad.text
    entry = await http.get("/screening/entries/4107")
    assert entry.status_code == 200
    assert "THE CHESS PLAYER" in entry.text


async def test_the_nav_link_shows_only_to_roles_that_may_check(
    http: httpx.AsyncClient, db: Database
) -> None:
    user = await new_staff(db, "product_manager")
    await web_login(http, user.username)
    inbox = await http.get("/inbox")
    assert ">Screening<" not in inbox.text
    assert (await http.get("/screening")).status_code == 403


async def test_screening_without_a_list_is_a_clear_conflict(
    pg_socket: object, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from pathlib import Path

    from tests.conftest import create_database

    assert isinstance(pg_socket, Path)
    urls = create_database(pg_socket, "bo_test_no_list")
    empty = Database(urls.app, pool_size=1, application_name="tests-no-list")
    try:
        with pytest.raises(Conflict) as raised:
            await service.screen(empty, ScreeningQuery("Kim Jong Un"))
        assert raised.value.code == "no_watch_list"
        assert "import" in raised.value.message
    finally:
        await empty.dispose()
