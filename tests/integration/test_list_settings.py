"""Which watch lists apply and how old each may be are configuration under maker-checker:
proposed through the API or the settings page's per-list controls, refused with reasons,
applied once another risk manager approves. On a screening document of the test's own, so
the real screening configuration other tests read never moves."""

from __future__ import annotations

import uuid

import httpx
import pytest

from configuration.documents import load_config
from configuration.schemas import CONFIG_SCHEMAS
from core.db import Database
from screening.policy import ScreeningConfig
from tests.helpers import api_headers, new_staff, proposal, task_of, web_login
from tests.integration.test_config_changes import Doc, _approve, _change_count, install


@pytest.fixture
async def screening_doc(db: Database, monkeypatch: pytest.MonkeyPatch) -> Doc:
    return await install(db, monkeypatch, f"test_lists_{uuid.uuid4().hex[:8]}", ScreeningConfig)


async def test_list_settings_are_refused_with_a_reason_naming_the_list(
    http: httpx.AsyncClient, db: Database, screening_doc: Doc
) -> None:
    maker = await new_staff(db, "risk_manager")
    headers = await api_headers(http, maker.username)

    async def refused(lists: object) -> str:
        response = await http.post(
            "/api/v1/changes",
            json=proposal("config", screening_doc.id, lists=lists),
            headers=headers,
        )
        assert response.status_code == 422, response.text
        return response.json()["fields"]["changes.lists"]  # type: ignore[no-any-return]

    assert "UN-SC: max_age_days must be at least 1" in await refused(
        [{"name": "UN-SC", "max_age_days": 0}]
    )
    assert "unknown list 'EU-XX'" in await refused([{"name": "EU-XX", "enabled": False}])
    sanctions = ["OFAC-SDN", "OFAC-CONS", "UN-SC", "EU-FSF", "UK-SL"]
    assert "at least one sanctions list must stay enabled" in await refused(
        [{"name": n, "enabled": False} for n in sanctions]
    )
    assert "list of objects" in await refused("UN-SC off")
    assert await _change_count(db, screening_doc.id) == 0


async def test_a_list_setting_approved_by_a_second_risk_manager_applies_to_that_list_only(
    http: httpx.AsyncClient, db: Database, screening_doc: Doc
) -> None:
    maker = await new_staff(db, "risk_manager")
    checker = await new_staff(db, "risk_manager")
    mh, ch = await api_headers(http, maker.username), await api_headers(http, checker.username)
    response = await http.post(
        "/api/v1/changes",
        json=proposal(
            "config",
            screening_doc.id,
            lists=[{"name": "UN-SC", "max_age_days": 3}, {"name": "PEP-OS", "enabled": False}],
        ),
        headers=mh,
    )
    assert response.status_code == 201, response.text
    change = response.json()
    task = await task_of(db, change["workflow_id"])
    assert task.kind == "config_approval"
    own = await http.post(f"/api/v1/tasks/{task.id}/claim", headers=mh)
    assert own.status_code == 403 and own.json()["error"] == "maker_cannot_decide"
    # The checker reads the proposal list by list, not as raw data.
    web = httpx.AsyncClient(transport=http._transport, base_url="http://testserver")
    async with web:
        await web_login(web, checker.username)
        page = await web.get(f"/cases/{change['case_id']}")
    assert page.status_code == 200
    assert "UN-SC on ≤ 3 d" in page.text and "PEP-OS off ≤ 30 d" in page.text

    decided = await _approve(http, db, ch, change["workflow_id"])
    assert decided.status_code == 200, decided.text
    config = (await load_config(db, screening_doc.key)).values
    assert isinstance(config, ScreeningConfig)
    policies = {p.name: (p.enabled, p.max_age_days) for p in config.lists}
    assert policies["UN-SC"] == (True, 3)
    assert policies["PEP-OS"] == (False, 30)
    assert policies["OFAC-SDN"] == (True, 7)  # untouched
    assert "PEP-OS" not in config.enabled_lists()
    assert config.hit_threshold == ScreeningConfig().hit_threshold


async def test_the_settings_page_edits_each_list_and_keeps_input_on_refusal(
    http: httpx.AsyncClient, db: Database, screening_doc: Doc
) -> None:
    assert screening_doc.key in CONFIG_SCHEMAS
    maker = await new_staff(db, "risk_manager")
    web = httpx.AsyncClient(transport=http._transport, base_url="http://testserver")
    async with web:
        csrf = await web_login(web, maker.username)
        page = await web.get(f"/settings/{screening_doc.key}")
        assert page.status_code == 200
        assert 'name="lists.UN-SC.max_age_days"' in page.text
        assert 'name="lists.PEP-OS.enabled"' in page.text
        assert "UN-SC: on, at most 7 days old" in page.text
        form = {
            "csrf_token": csrf,
            "target_type": "config",
            "target_id": str(screening_doc.id),
            "hit_threshold": str(ScreeningConfig().hit_threshold),
            "reason": "UN designations apply at once; alert sooner.",
        }
        refused = await web.post("/changes", data={**form, "lists.UN-SC.max_age_days": "0"})
        assert refused.status_code == 422
        assert "UN-SC: max_age_days must be at least 1" in refused.text
        assert 'value="0"' in refused.text  # the maker's input is kept
        accepted = await web.post(
            "/changes",
            data={**form, "lists.UN-SC.max_age_days": "3", "lists.UN-SC.enabled": "true"},
        )
        assert accepted.status_code in (200, 303), accepted.text
    assert await _change_count(db, screening_doc.id) == 1
