"""Configuration documents change only through maker-checker (promises 9-12, 13, 25).

Each test that changes a document registers a document of its own (a key with a test-only
schema, like each tariff test's own plan), so the real screening / risk / onboarding
configuration other tests read is never moved. The worker runs in this process, so the
registration is seen by the web layer and the activities alike.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import func, select
from temporalio.testing import WorkflowEnvironment

from configuration.documents import load_config
from configuration.schemas import CONFIG_SCHEMAS
from core.db import Database
from models.cases import Task
from models.changes import ChangeRequest
from models.config import ConfigSetting, ConfigSettingVersion
from tests.helpers import (
    api_headers,
    backtest_finished,
    eventually,
    new_staff,
    proposal,
    propose_via_api,
    task_of,
    web_login,
)


class DialsForTest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alert_from: int = Field(default=40, ge=1, le=100, description="Score that raises an alert.")
    block_from: int = Field(default=80, ge=1, le=100, description="Score that holds a payment.")
    review_days: int = Field(default=30, ge=1, le=365, description="Days between reviews.")

    @model_validator(mode="after")
    def _ordered(self) -> DialsForTest:
        if self.alert_from >= self.block_from:
            raise ValueError(
                f"alert_from ({self.alert_from}) must be below block_from ({self.block_from})"
            )
        return self


NAV_LINK = re.compile(r'href="[^"]*/settings">Settings</a>')


@dataclass
class Doc:
    key: str
    id: uuid.UUID


async def install(
    db: Database, monkeypatch: pytest.MonkeyPatch, key: str, schema: type[BaseModel]
) -> Doc:
    """A configuration document of this test's own: its schema registered, version 1 stored."""
    monkeypatch.setitem(CONFIG_SCHEMAS, key, schema)
    async with db.transaction() as session:
        setting = ConfigSetting(key=key)
        session.add(setting)
        await session.flush()
        session.add(
            ConfigSettingVersion(
                setting_id=setting.id,
                version=1,
                values=schema().model_dump(mode="json"),
                note="defaults at installation",
            )
        )
    return Doc(key, setting.id)


@pytest.fixture
async def doc(db: Database, monkeypatch: pytest.MonkeyPatch) -> Doc:
    return await install(db, monkeypatch, f"test_{uuid.uuid4().hex[:10]}", DialsForTest)


async def _approve(
    http: httpx.AsyncClient, db: Database, headers: dict[str, str], workflow_id: str
) -> httpx.Response:
    task = await task_of(db, workflow_id)
    claim = await http.post(f"/api/v1/tasks/{task.id}/claim", headers=headers)
    assert claim.status_code == 200, claim.text
    return await http.post(
        f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=headers
    )


async def _change_count(db: Database, target_id: uuid.UUID) -> int:
    async with db.session() as session:
        return (
            await session.exec(
                select(func.count()).where(ChangeRequest.target_id == target_id)  # type: ignore[arg-type]
            )
        ).one()


async def test_the_migration_installs_every_document_at_version_1(
    http: httpx.AsyncClient, db: Database
) -> None:
    reader = await new_staff(db, "kyc_analyst")
    headers = await api_headers(http, reader.username)
    for key, schema in CONFIG_SCHEMAS.items():
        if key.startswith("test_"):
            continue
        response = await http.get(f"/api/v1/config/{key}", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["id"] is not None and body["version"] >= 1
        assert set(body["values"]) == set(schema.model_fields)
        found = await load_config(db, key)
        assert found.version == body["version"]
    assert (await http.get("/api/v1/config/nonsense", headers=headers)).status_code == 404


async def test_an_approved_config_change_is_what_load_config_returns_next(
    http: httpx.AsyncClient, db: Database, doc: Doc
) -> None:
    maker = await new_staff(db, "risk_manager")
    checker = await new_staff(db, "risk_manager")
    mh, ch = await api_headers(http, maker.username), await api_headers(http, checker.username)
    before = await load_config(db, doc.key)
    assert before.version == 1 and before.values.review_days == 30  # type: ignore[attr-defined]

    change = await propose_via_api(http, mh, "config", doc.id, review_days=45)
    task = await task_of(db, change["workflow_id"])
    assert task.kind == "config_approval" and task.candidate_role == "risk_manager"
    pending = (await http.get(f"/api/v1/config/{doc.key}", headers=mh)).json()
    assert [p["reference"] for p in pending["pending"]] == [change["reference"]]
    assert pending["pending"][0]["changed"] == {"review_days": [30, 45]}

    decided = await _approve(http, db, ch, change["workflow_id"])
    assert decided.status_code == 200, decided.text
    assert decided.json()["case_status"] == "applied"

    after = await load_config(db, doc.key)
    assert after.version == 2
    assert after.values.model_dump() == {"alert_from": 40, "block_from": 80, "review_days": 45}
    read = (await http.get(f"/api/v1/config/{doc.key}", headers=mh)).json()
    assert read["version"] == 2 and read["values"]["review_days"] == 45 and read["pending"] == []
    detail = (await http.get(f"/api/v1/changes/{change['id']}", headers=mh)).json()
    assert detail["status"] == "applied" and detail["applied_version"] == 2
    assert detail["config_key"] == doc.key and detail["plan_code"] == ""
    assert detail["before"]["review_days"] == 30 and detail["after"]["review_days"] == 45


async def test_ops_managers_and_product_managers_have_no_say_over_config(
    http: httpx.AsyncClient, db: Database, doc: Doc
) -> None:
    pm = await new_staff(db, "product_manager")
    refused = await http.post(
        "/api/v1/changes",
        json=proposal("config", doc.id, review_days=40),
        headers=await api_headers(http, pm.username),
    )
    assert refused.status_code == 403
    assert await _change_count(db, doc.id) == 0

    maker = await new_staff(db, "mlro")  # the MLRO may propose too
    change = await propose_via_api(
        http, await api_headers(http, maker.username), "config", doc.id, review_days=40
    )
    task = await task_of(db, change["workflow_id"])
    ops = await new_staff(db, "ops_manager")
    claim = await http.post(
        f"/api/v1/tasks/{task.id}/claim", headers=await api_headers(http, ops.username)
    )
    assert claim.status_code in (403, 404)
    assert (await load_config(db, doc.key)).version == 1


async def test_maker_cannot_approve_own_config_change_through_api_or_page(
    http: httpx.AsyncClient, db: Database, doc: Doc
) -> None:
    maker = await new_staff(db, "risk_manager")
    headers = await api_headers(http, maker.username)
    change = await propose_via_api(http, headers, "config", doc.id, alert_from=35)
    task = await task_of(db, change["workflow_id"])

    claim = await http.post(f"/api/v1/tasks/{task.id}/claim", headers=headers)
    assert claim.status_code == 403
    assert claim.json()["error"] == "maker_cannot_decide"
    decide = await http.post(
        f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=headers
    )
    assert decide.status_code == 403

    web = httpx.AsyncClient(transport=http._transport, base_url="http://testserver")
    async with web:
        csrf = await web_login(web, maker.username)
        case_page = await web.get(f"/cases/{change['case_id']}")
        assert case_page.status_code == 200
        assert "Claim this task" not in case_page.text
        page_claim = await web.post(f"/tasks/{task.id}/claim", data={"csrf_token": csrf})
        assert page_claim.status_code == 403
        page_decide = await web.post(
            f"/tasks/{task.id}/decision", data={"csrf_token": csrf, "outcome": "approve"}
        )
        assert page_decide.status_code == 403

    async with db.session() as session:
        assert (await session.get(Task, task.id)).status == "open"  # type: ignore[union-attr]
    assert (await load_config(db, doc.key)).version == 1


async def test_invalid_config_values_are_refused_naming_each_field(
    http: httpx.AsyncClient, db: Database, doc: Doc
) -> None:
    maker = await new_staff(db, "risk_manager")
    headers = await api_headers(http, maker.username)

    async def refused(**changes: object) -> dict[str, str]:
        response = await http.post(
            "/api/v1/changes", json=proposal("config", doc.id, **changes), headers=headers
        )
        assert response.status_code == 422, response.text
        return response.json()["fields"]  # type: ignore[no-any-return]

    fields = await refused(alert_from=0, block_from="eighty", review_days=400, colour=3)
    assert set(fields) == {
        "changes.alert_from",
        "changes.block_from",
        "changes.review_days",
        "changes.colour",
    }
    assert "at least 1" in fields["changes.alert_from"]
    assert "whole number" in fields["changes.block_from"]
    assert "at most 365" in fields["changes.review_days"]
    assert "not a field" in fields["changes.colour"]
    assert "whole number" in (await refused(review_days="4.5"))["changes.review_days"]
    # A rule across fields is named after the changed field.
    crossed = await refused(alert_from=90)
    assert set(crossed) == {"changes.alert_from"} and "block_from" in crossed["changes.alert_from"]
    assert "changes" in await refused(review_days=30)  # changes nothing

    # The real risk weights carry their cross-field rule too.
    weights = (await http.get("/api/v1/config/risk_weights", headers=headers)).json()
    response = await http.post(
        "/api/v1/changes",
        json=proposal("config", weights["id"], medium_from=weights["values"]["high_from"]),
        headers=headers,
    )
    assert response.status_code == 422
    assert "high_from" in response.json()["fields"]["changes.medium_from"]

    # The page form answers the same, with the maker's input kept.
    web = httpx.AsyncClient(transport=http._transport, base_url="http://testserver")
    async with web:
        csrf = await web_login(web, maker.username)
        page = await web.post(
            "/changes",
            data={
                "csrf_token": csrf,
                "target_type": "config",
                "target_id": str(doc.id),
                "alert_from": "40",
                "block_from": "120",
                "review_days": "30",
                "reason": "Tighten the payment hold threshold.",
            },
        )
        assert page.status_code == 422
        assert "at most 100" in page.text and 'value="120"' in page.text
    assert await _change_count(db, doc.id) == 0
    assert (await load_config(db, doc.key)).version == 1


async def test_approval_after_another_config_change_applied_is_superseded(
    http: httpx.AsyncClient, db: Database, doc: Doc
) -> None:
    maker = await new_staff(db, "risk_manager")
    checker = await new_staff(db, "risk_manager")
    mh, ch = await api_headers(http, maker.username), await api_headers(http, checker.username)
    first = await propose_via_api(http, mh, "config", doc.id, review_days=40)
    second = await propose_via_api(http, mh, "config", doc.id, review_days=50)
    t2 = await task_of(db, second["workflow_id"])
    assert (await http.post(f"/api/v1/tasks/{t2.id}/claim", headers=ch)).status_code == 200

    applied = await _approve(http, db, ch, first["workflow_id"])
    assert applied.json()["case_status"] == "applied"

    async def superseded() -> bool:
        detail = await http.get(f"/api/v1/changes/{second['id']}", headers=mh)
        return bool(detail.json()["status"] == "superseded")

    await eventually(superseded, what="the second config change to be voided")
    stale = await http.post(
        f"/api/v1/tasks/{t2.id}/decision", json={"outcome": "approve"}, headers=ch
    )
    assert stale.status_code == 409
    found = await load_config(db, doc.key)
    assert found.version == 2 and found.values.review_days == 40  # type: ignore[attr-defined]


@pytest.mark.parametrize("role", ["product_manager", "support", "ops_manager"])
async def test_roles_without_config_read_cannot_see_the_settings(
    http: httpx.AsyncClient, db: Database, doc: Doc, role: str
) -> None:
    outsider = await new_staff(db, role)
    headers = await api_headers(http, outsider.username)
    assert (await http.get(f"/api/v1/config/{doc.key}", headers=headers)).status_code == 403
    assert (await http.get("/api/v1/config", headers=headers)).status_code == 403
    web = httpx.AsyncClient(transport=http._transport, base_url="http://testserver")
    async with web:
        csrf = await web_login(web, outsider.username)
        assert (await web.get("/settings")).status_code in (403, 404)
        assert (await web.get(f"/settings/{doc.key}")).status_code in (403, 404)
        inbox = await web.get("/inbox")
        assert not NAV_LINK.search(inbox.text)
        preview = await web.post(
            f"/settings/{doc.key}/preview", data={"csrf_token": csrf, "review_days": "40"}
        )
        assert preview.status_code == 403
        # A refused proposal's page does not show the document either.
        page = await web.post(
            "/changes",
            data={"csrf_token": csrf, "target_type": "config", "target_id": str(doc.id)},
        )
        assert page.status_code in (403, 404)
        assert "Days between reviews" not in page.text


async def test_settings_pages_show_values_history_pending_and_the_propose_form(
    http: httpx.AsyncClient, db: Database, doc: Doc
) -> None:
    maker = await new_staff(db, "risk_manager")
    checker = await new_staff(db, "risk_manager")
    ch = await api_headers(http, checker.username)
    web = httpx.AsyncClient(transport=http._transport, base_url="http://testserver")
    async with web:
        csrf = await web_login(web, maker.username)
        listing = await web.get("/settings")
        assert listing.status_code == 200
        for label in ("Screening thresholds", "Risk scoring weights", "Onboarding policy"):
            assert label in listing.text
        assert NAV_LINK.search(listing.text)

        page = await web.get(f"/settings/{doc.key}")
        assert page.status_code == 200
        assert "Days between reviews." in page.text and "defaults at installation" in page.text
        assert "Propose a change" in page.text

        preview = await web.post(
            f"/settings/{doc.key}/preview",
            data={"csrf_token": csrf, "alert_from": "40", "block_from": "70", "review_days": "30"},
            headers={"HX-Request": "true"},
        )
        assert preview.status_code == 200
        assert 'class="changed"' in preview.text and "one risk manager" in preview.text
        bad_preview = await web.post(
            f"/settings/{doc.key}/preview",
            data={"csrf_token": csrf, "alert_from": "90", "block_from": "80", "review_days": "30"},
            headers={"HX-Request": "true"},
        )
        assert "must be below block_from" in bad_preview.text

        proposed = await web.post(
            "/changes",
            data={
                "csrf_token": csrf,
                "target_type": "config",
                "target_id": str(doc.id),
                "alert_from": "40",
                "block_from": "70",
                "review_days": "30",
                "reason": "Hold payments earlier after the Q3 fraud review.",
            },
        )
        assert proposed.status_code == 303, proposed.text
        case_url = proposed.headers["location"]
        case_page = await web.get(case_url)
        assert case_page.status_code == 200
        assert f"/settings/{doc.key}" in case_page.text and "one risk manager" in case_page.text
        assert re.search(r"<td>block from</td><td>80</td><td>70</td>", case_page.text)
        pending = await web.get(f"/settings/{doc.key}")
        assert "Pending changes" in pending.text and "block from 80 → 70" in pending.text

        case_id = uuid.UUID(case_url.split("/cases/")[1].split("?")[0])
        async with db.session() as session:
            change = (
                await session.exec(select(ChangeRequest).where(ChangeRequest.case_id == case_id))
            ).one()
        assert (await _approve(http, db, ch, change.workflow_id)).status_code == 200

        history = await web.get(f"/settings/{doc.key}")
        assert f"proposed by {maker.username}" in history.text
        assert f"approved by {checker.username}" in history.text
        assert "block from 80 → 70" in history.text and "v2" in history.text
        changes_page = await web.get("/changes")
        assert f"/settings/{doc.key}" in changes_page.text

    reader = await new_staff(db, "auditor")
    async with httpx.AsyncClient(transport=http._transport, base_url="http://testserver") as web:
        await web_login(web, reader.username)
        page = await web.get(f"/settings/{doc.key}")
        assert page.status_code == 200 and "Propose a change" not in page.text


class RuleForTest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Whether the rule runs.")
    threshold_eur: int = Field(default=15_000, ge=1_000, le=1_000_000, description="Threshold.")


@pytest.fixture
async def rule_doc(db: Database, monkeypatch: pytest.MonkeyPatch) -> Doc:
    """A monitoring rule of this test's own (key prefix `aml_rule_`)."""
    return await install(db, monkeypatch, f"aml_rule_t{uuid.uuid4().hex[:10]}", RuleForTest)


async def test_an_mlro_may_approve_a_rule_change_and_switch_a_rule_off_but_not_screening(
    http: httpx.AsyncClient,
    db: Database,
    rule_doc: Doc,
    doc: Doc,
    temporal_env: WorkflowEnvironment,
) -> None:
    maker = await new_staff(db, "risk_manager")
    mlro = await new_staff(db, "mlro")
    mh, xh = await api_headers(http, maker.username), await api_headers(http, mlro.username)

    refused = await http.post(
        "/api/v1/changes", json=proposal("config", rule_doc.id, enabled="maybe"), headers=mh
    )
    assert refused.status_code == 422
    assert "true or false" in refused.text
    change = await propose_via_api(http, mh, "config", rule_doc.id, enabled="false")
    task = await task_of(db, change["workflow_id"])
    assert task.candidate_role == "risk_manager|mlro"
    # A rule change waits for its backtest.
    await backtest_finished(db, temporal_env.client, change["id"])
    decided = await _approve(http, db, xh, change["workflow_id"])
    assert decided.status_code == 200, decided.text
    after = await load_config(db, rule_doc.key)
    assert after.version == 2 and after.values.model_dump() == {
        "enabled": False,
        "threshold_eur": 15_000,
    }

    # Other configuration stays the risk managers' alone.
    other = await propose_via_api(http, mh, "config", doc.id, review_days=40)
    other_task = await task_of(db, other["workflow_id"])
    claim = await http.post(f"/api/v1/tasks/{other_task.id}/claim", headers=xh)
    assert claim.status_code == 403
    assert claim.json()["error"] == "missing_role"
