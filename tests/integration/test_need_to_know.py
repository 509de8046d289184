"""Need-to-know, asked of the policy by the read models (issue 13): support and disputes see a
restriction only as "restricted — refer to compliance"; SAR reports and SAR decisions are for
the MLRO and auditors; engineers see an AML case's metadata, not its narrative.

Every story here goes through the product: a real alert routed to a real AML case workflow,
decisions through the API, the account restricted through the API.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
from markupsafe import escape
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from core.db import Database
from core.settings import Settings
from models.aml import SarReport
from models.audit import AuditEvent
from models.cases import Case
from models.onboarding import Account
from tests.aml_cases import alerted_customer
from tests.helpers import api_headers, eventually, new_staff, task_of, web_login

REFER = "restricted — refer to compliance"


@dataclass
class Story:
    case_id: uuid.UUID
    case_reference: str
    workflow_id: str
    customer_id: uuid.UUID
    account_id: uuid.UUID
    l1_comment: str
    restriction_reason: str
    restriction_id: uuid.UUID
    rationale: str = ""


def _web(http: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=http._transport, base_url="http://testserver")


async def _decide(
    http: httpx.AsyncClient, db: Database, workflow_id: str, key: str, role: str, **body: str
) -> None:
    who = await new_staff(db, role)
    headers = await api_headers(http, who.username)
    task = await task_of(db, workflow_id, key)
    claimed = await http.post(f"/api/v1/tasks/{task.id}/claim", headers=headers)
    assert claimed.status_code == 200, claimed.text
    decided = await http.post(f"/api/v1/tasks/{task.id}/decision", json=body, headers=headers)
    assert decided.status_code == 200, decided.text


async def _restricted(
    http: httpx.AsyncClient, db: Database, settings: Settings, env: WorkflowEnvironment
) -> Story:
    """An alerted customer whose case L1 escalated and an L2 investigator restricted."""
    tag = uuid.uuid4().hex[:8]
    routed = await alerted_customer(db, env.client, settings.task_queue)
    async with db.session() as session:
        case = await session.get(Case, routed.case_id)
        account = (
            await session.exec(select(Account).where(Account.customer_id == routed.customer_id))
        ).one()
    assert case is not None
    l1_comment = f"Large SWIFT payment to Iran needs L2 ({tag})."
    await _decide(
        http, db, routed.workflow_id, "l1#1", "aml_analyst", outcome="escalate", comment=l1_comment
    )
    await task_of(db, routed.workflow_id, "l2#1")
    investigator = await new_staff(db, "aml_investigator")
    reason = f"Funds may leave during the investigation ({tag})."
    placed = await http.post(
        f"/api/v1/cases/{case.id}/restrictions",
        json={"account_id": str(account.id), "reason": reason},
        headers=await api_headers(http, investigator.username),
    )
    assert placed.status_code == 201, placed.text
    return Story(
        case.id,
        case.reference,
        routed.workflow_id,
        routed.customer_id,
        account.id,
        l1_comment,
        reason,
        uuid.UUID(placed.json()["id"]),
    )


async def _sar_filed(
    http: httpx.AsyncClient, db: Database, settings: Settings, env: WorkflowEnvironment
) -> Story:
    """The same, then escalated to the MLRO, who files a SAR with a rationale."""
    story = await _restricted(http, db, settings, env)
    await _decide(
        http,
        db,
        story.workflow_id,
        "l2#1",
        "aml_investigator",
        outcome="escalate",
        comment="Source of funds not evidenced; MLRO to decide.",
    )
    story.rationale = f"Payment pattern matches known sanctions evasion ({uuid.uuid4().hex[:8]})."
    await _decide(
        http,
        db,
        story.workflow_id,
        "mlro#1",
        "mlro",
        outcome="sar",
        reason="sanctions_evasion",
        comment=story.rationale,
    )

    async def filed() -> SarReport | None:
        async with db.session() as session:
            return (
                await session.exec(select(SarReport).where(SarReport.case_id == story.case_id))
            ).first()

    await eventually(filed, what="the SAR report")
    return story


def _leaks(text: str, story: Story) -> list[str]:
    """Whatever of the case's narrative and identity shows in `text`."""
    secrets = {
        "case reference": story.case_reference,
        "restriction reason": story.restriction_reason,
        "L1 comment": story.l1_comment,
        "AML event": "account.restricted",
    }
    if story.rationale:
        secrets["SAR rationale"] = story.rationale
    found = []
    for name, secret in secrets.items():
        if secret in text or str(escape(secret)) in text:
            found.append(name)
    return found


# ----------------------------------------------------------------------------- the 360
async def test_support_and_disputes_see_only_restricted_refer_to_compliance_on_the_360_and_api(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
    worker: None,
) -> None:
    story = await _restricted(http, db, settings, temporal_env)
    for role in ("support", "disputes_agent"):
        who = await new_staff(db, role)
        async with _web(http) as web:
            await web_login(web, who.username)
            page = await web.get(f"/customers/{story.customer_id}")
        assert page.status_code == 200, page.text
        banner = page.text[page.text.index('class="notice bad restriction"') :]
        banner = banner[: banner.index("</p>")]
        assert banner.endswith("<strong>Restricted — refer to compliance</strong>"), banner
        assert _leaks(page.text, story) == [], role
        timeline = page.text[page.text.index('id="timeline"') :]
        assert "aml." not in timeline[: timeline.index("</article>")], role

        headers = await api_headers(http, who.username)
        api = await http.get(f"/api/v1/customers/{story.customer_id}", headers=headers)
        assert api.status_code == 200, api.text
        [account] = [a for a in api.json()["accounts"] if a["id"] == str(story.account_id)]
        assert account["restricted"] is True
        [shown] = account["restrictions"]
        assert shown["kind_label"] == REFER and shown["status"] == "active"
        assert shown["reason"] is None and shown["case_reference"] is None
        assert shown["case_id"] is None and shown["created_by"] is None
        assert _leaks(api.text, story) == [], role
        by_account = await http.get(
            f"/api/v1/accounts/{story.account_id}/restrictions", headers=headers
        )
        assert by_account.status_code == 200 and by_account.json()["outgoing_blocked"] is True
        assert [r["kind_label"] for r in by_account.json()["restrictions"]] == [REFER]
        assert _leaks(by_account.text, story) == [], role

    # AML casework and auditors keep seeing why, by whom and under which case.
    for role in ("aml_investigator", "auditor"):
        who = await new_staff(db, role)
        async with _web(http) as web:
            await web_login(web, who.username)
            page = await web.get(f"/customers/{story.customer_id}")
        assert str(escape(story.restriction_reason)) in page.text, role
        assert story.case_reference in page.text and "account.restricted" in page.text
        api = await http.get(
            f"/api/v1/customers/{story.customer_id}",
            headers=await api_headers(http, who.username),
        )
        [account] = [a for a in api.json()["accounts"] if a["id"] == str(story.account_id)]
        [shown] = account["restrictions"]
        assert shown["reason"] == story.restriction_reason
        assert shown["case_reference"] == story.case_reference


# ----------------------------------------------------------------------------- SAR
async def _refusals(db: Database, username: str, case_id: uuid.UUID) -> list[AuditEvent]:
    async with db.session() as session:
        return list(
            (
                await session.exec(
                    select(AuditEvent)
                    .where(
                        AuditEvent.action == "aml.sar.read",
                        AuditEvent.actor == username,
                        AuditEvent.object_id == str(case_id),
                    )
                    .order_by(col(AuditEvent.id))
                )
            ).all()
        )


async def test_the_sar_report_and_decision_are_for_the_mlro_and_auditors_only(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
    worker: None,
) -> None:
    story = await _sar_filed(http, db, settings, temporal_env)
    url = f"/api/v1/aml/cases/{story.case_id}/sar"
    for role in ("engineer", "aml_investigator", "aml_analyst", "risk_manager", "support"):
        who = await new_staff(db, role)
        refused = await http.get(url, headers=await api_headers(http, who.username))
        assert refused.status_code == 403, (role, refused.text)
        assert "do not allow you to see SAR reports" in refused.json()["message"]
        assert story.rationale not in refused.text
        async with _web(http) as web:
            await web_login(web, who.username)
            page = await web.get(f"/aml/cases/{story.case_id}/sar")
        assert page.status_code == 403, role
        denied = await _refusals(db, who.username, story.case_id)
        assert [e.outcome for e in denied] == ["denied", "denied"], role

    for role in ("mlro", "auditor"):
        who = await new_staff(db, role)
        report = await http.get(url, headers=await api_headers(http, who.username))
        assert report.status_code == 200, (role, report.text)
        assert report.json()["data"]["rationale"] == story.rationale
        async with _web(http) as web:
            await web_login(web, who.username)
            page = await web.get(f"/aml/cases/{story.case_id}/sar")
            case_page = await web.get(f"/cases/{story.case_id}")
        assert page.status_code == 200 and str(escape(story.rationale)) in page.text
        assert str(escape(story.rationale)) in case_page.text
        assert f"/aml/cases/{story.case_id}/sar" in case_page.text
        assert "SAR filed" in case_page.text

    # The investigator works the case but does not learn the MLRO's decision or its words:
    # not on the case page, the case list, the alert list or the customer 360.
    investigator = await new_staff(db, "aml_investigator")
    async with _web(http) as web:
        await web_login(web, investigator.username)
        as_case = (await web.get(f"/cases/{story.case_id}")).text
        as_list = (await web.get("/cases", params={"q": story.case_reference})).text
        as_customer = (await web.get(f"/customers/{story.customer_id}")).text
    assert story.case_reference in as_case and "MLRO decision recorded" in as_case
    assert str(escape(story.l1_comment)) in as_case  # the narrative below the MLRO stays
    for text in (as_case, as_list, as_customer):
        assert str(escape(story.rationale)) not in text
        assert "sar_filed" not in text and "SAR filed" not in text
        assert "sanctions_evasion" not in text and "aml.sar_filed" not in text
        assert f"/aml/cases/{story.case_id}/sar" not in text
    alerts = await http.get(
        "/api/v1/aml/alerts",
        params={"q": story.case_reference},
        headers=await api_headers(http, investigator.username),
    )
    assert [a["case_outcome"] for a in alerts.json()["items"]] == ["mlro_decided"]


# ----------------------------------------------------------------------------- engineers
async def test_engineers_see_an_aml_cases_metadata_not_its_narrative(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
    worker: None,
) -> None:
    story = await _restricted(http, db, settings, temporal_env)
    engineer = await new_staff(db, "engineer")
    async with _web(http) as web:
        await web_login(web, engineer.username)
        page = await web.get(f"/cases/{story.case_id}")
    assert page.status_code == 200, page.text
    text = page.text
    # Metadata: reference, tier, steps with their outcome and SLA, the restriction's facts.
    assert story.case_reference in text and "L2 investigation" in text
    assert "escalate" in text and 'id="aml-sar-clock"' in text and 'id="restrictions"' in text
    # Narrative: none of it.
    assert str(escape(story.l1_comment)) not in text
    assert str(escape(story.restriction_reason)) not in text
    assert "test alert" not in text  # the alert's text

    headers = await api_headers(http, engineer.username)
    alerts = await http.get(
        "/api/v1/aml/alerts", params={"q": story.case_reference}, headers=headers
    )
    assert alerts.status_code == 200
    [alert] = alerts.json()["items"]
    assert alert["rule_key"] == "large_single" and alert["reason"] is None
    queue = await http.get("/api/v1/aml/queue", params={"tier": "all"}, headers=headers)
    assert queue.status_code == 200
    assert "test alert" not in queue.text and story.l1_comment not in queue.text
    customer = await http.get(f"/api/v1/customers/{story.customer_id}", headers=headers)
    assert customer.status_code == 200
    assert story.restriction_reason not in customer.text
    assert customer.json()["accounts"][0]["restricted"] is True


# ----------------------------------------------------------------------------- lifts
async def test_a_restrictions_lift_is_seen_only_by_readers_of_restriction_details(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
    worker: None,
) -> None:
    """A lift is a change request naming the AML case and why the account may be freed:
    product and ops managers and engineers read change requests, but not this one."""
    story = await _restricted(http, db, settings, temporal_env)
    investigator = await new_staff(db, "aml_investigator")
    lift_reason = f"Investigation closed without suspicion ({uuid.uuid4().hex[:8]})."
    proposed = await http.post(
        f"/api/v1/restrictions/{story.restriction_id}/lift",
        json={"reason": lift_reason},
        headers=await api_headers(http, investigator.username),
    )
    assert proposed.status_code == 202, proposed.text
    change_id = proposed.json()["id"]
    for role in ("ops_manager", "product_manager", "engineer"):
        who = await new_staff(db, role)
        headers = await api_headers(http, who.username)
        one = await http.get(f"/api/v1/changes/{change_id}", headers=headers)
        assert one.status_code == 404, (role, one.text)
        listed = await http.get("/api/v1/changes", params={"per_page": 100}, headers=headers)
        assert listed.status_code == 200
        assert change_id not in listed.text and lift_reason not in listed.text, role
        async with _web(http) as web:
            await web_login(web, who.username)
            cases = await web.get("/cases", params={"q": "Lift"})
        assert story.case_reference not in cases.text, role
    for role in ("mlro", "auditor"):
        who = await new_staff(db, role)
        one = await http.get(
            f"/api/v1/changes/{change_id}", headers=await api_headers(http, who.username)
        )
        assert one.status_code == 200 and one.json()["reason"] == lift_reason, role
