"""The inbox and every queue under the one SLA/priority rule (casework/priority.py), against
the real services: the same priority for the same task on each page and the same order
(most urgent first, then due); filters and sort in the URL; saved views; "my team";
"next case"; the workload view.

Rows are inserted directly (as tests/integration/test_aml_pages.py does) so each test
controls priorities, levels, risks and times exactly; the lists are narrowed to what the
test made by a case-reference search or an AML rule key no other test uses.
"""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from casework import priority as rule
from core.db import Database, run_sql
from core.settings import Settings
from demo import seed
from demo.inbox_views import seed_inbox_views
from models.audit import AuditEvent
from models.base import utcnow
from models.cases import Case, Task
from models.inbox_views import InboxView
from models.onboarding import Customer
from tests.aml_cases import alerted_customer
from tests.helpers import (
    CSRF_RE,
    api_headers,
    eventually,
    new_staff,
    owner_database,
    web_login,
)
from tests.integration.test_aml_pages import (
    Built,
    add_alert,
    add_case,
    add_task,
    new_customer,
)


def _client(http: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=http._transport, base_url="http://testserver")


def _rule_key() -> str:
    return f"p_{uuid.uuid4().hex[:12]}"


async def _customer(db: Database, risk: str) -> Built:
    who = await new_customer(db)
    async with db.transaction() as session:
        customer = await session.get(Customer, who.customer.id)
        assert customer is not None
        customer.risk_level = risk
        session.add(customer)
    who.customer.risk_level = risk
    return who


def _case_priority(html: str) -> str:
    found = re.search(r'id="case-priority">([a-z]+)<', html)
    assert found, "the case page shows a priority"
    return found.group(1)


def _listed(html: str, reference: str) -> bool:
    """Whether a page lists the case (links to it by its reference)."""
    return f">{reference}</a>" in html


def _order(html: str, references: list[str]) -> list[str]:
    """The references in the order the page lists them."""
    return sorted(references, key=lambda r: html.index(f">{r}</a>"))


# ----------------------------------------------------------------------------- the rule
async def test_the_databases_priority_rule_agrees_with_the_python_rule(db: Database) -> None:
    levels = range(4)
    risks = ("low", "medium", "high", None)
    priorities = (*rule.PRIORITIES, "odd")
    async with db.session() as session:
        for priority, level, risk in itertools.product(priorities, levels, risks):
            stored = (
                await run_sql(
                    session,
                    "SELECT task_urgency(:p, :l, :r)",
                    {"p": priority, "l": level, "r": risk},
                )
            ).scalar_one()
            assert stored == rule.urgency(priority, level, risk), (priority, level, risk)


# ----------------------------------------------------------------------------- one priority
async def test_a_high_risk_customers_aml_case_shows_one_priority_on_every_page(
    http: httpx.AsyncClient,
    db: Database,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
) -> None:
    """AML-1030 showed "normal" in the AML queue (its L1 task's own priority) and "high" on
    its case page (the case's, raised by the customer's risk): now both say high."""
    routed = await alerted_customer(db, temporal_env.client, settings.task_queue)
    async with db.transaction() as session:
        await run_sql(
            session,
            "UPDATE \"case\" SET risk_level = 'high', priority = 'high' WHERE id = :id",
            {"id": routed.case_id},
        )
    task = await eventually(
        lambda: _open_task(db, routed.case_id), what="the L1 task of the routed case"
    )
    assert task is not None
    # The workflow opens it at "normal"; it is high by the customer's risk (the rule) and,
    # when opened after the case's priority was raised, by the case's priority too
    # (migration 0027): whichever came first, every page below says high.
    assert task.priority in ("normal", "high")
    analyst = await new_staff(db, "aml_analyst", prefix="prio")
    async with db.session() as session:
        case = await session.get(Case, routed.case_id)
    assert case is not None
    headers = await api_headers(http, analyst.username)
    inbox = await http.get(
        "/api/v1/tasks", params={"q": case.reference, "per_page": 100}, headers=headers
    )
    [item] = [i for i in inbox.json()["items"] if i["id"] == str(task.id)]
    assert item["priority"] == "high"
    queue = await http.get(
        "/api/v1/aml/queue",
        params={"tier": "l1", "rule": "large_single", "priority": "high", "per_page": 100},
        headers=headers,
    )
    assert queue.status_code == 200, queue.text
    assert any(
        i["task_id"] == str(task.id) and i["priority"] == "high" for i in queue.json()["items"]
    )
    cases = await http.get("/api/v1/cases", params={"q": case.reference}, headers=headers)
    assert [c["priority"] for c in cases.json()["items"]] == ["high"]
    async with _client(http) as web:
        await web_login(web, analyst.username)
        page = await web.get(f"/cases/{case.id}")
        assert _case_priority(page.text) == "high"


async def _open_task(db: Database, case_id: uuid.UUID) -> Task | None:
    async with db.session() as session:
        return (
            await session.exec(select(Task).where(Task.case_id == case_id, Task.status == "open"))
        ).first()


async def test_the_inbox_the_aml_queue_and_the_case_pages_agree_on_priority_and_order(
    http: httpx.AsyncClient, db: Database
) -> None:
    analyst = await new_staff(db, "aml_analyst", prefix="order")
    key = _rule_key()
    now = utcnow()
    # (priority, escalation level, customer risk, due in hours) -> expected priority
    made = [
        ("normal", 0, "low", 2, "normal"),
        ("normal", 0, "high", 10, "high"),  # the customer's risk raises it
        ("normal", 1, "low", 5, "high"),  # one escalation raises it
        ("urgent", 0, "low", 30, "urgent"),
        ("low", 0, "low", 1, "low"),
        ("normal", 2, "medium", 40, "urgent"),  # two escalations
    ]
    cases: list[tuple[Case, Task, str]] = []
    for priority, level, risk, hours, want in made:
        who = await _customer(db, risk)
        case = await add_case(db, who)
        await add_alert(db, case, who, rule=key, detected_at=now - timedelta(hours=3))
        task = await add_task(
            db,
            case,
            tier="l1",
            priority=priority,
            escalation_level=level,
            created_at=now - timedelta(hours=3),
            due_at=now + timedelta(hours=hours),
        )
        cases.append((case, task, want))
    # Most urgent first, then the earliest due.
    expected_order = [
        c.reference for c, t, p in sorted(cases, key=lambda x: (-rule.RANK[x[2]], x[1].due_at))
    ]
    assert expected_order[:2] == [cases[3][0].reference, cases[5][0].reference]
    references = [c.reference for c, _, _ in cases]
    expected = {c.reference: p for c, _, p in cases}
    prefix = "AML-T"

    headers = await api_headers(http, analyst.username)
    queue = (
        await http.get(
            "/api/v1/aml/queue",
            params={"tier": "l1", "rule": key, "per_page": 100},
            headers=headers,
        )
    ).json()["items"]
    assert [i["case_reference"] for i in queue] == expected_order
    assert {i["case_reference"]: i["priority"] for i in queue} == expected

    listed: dict[str, str] = {}
    for reference in references:
        items = (await http.get("/api/v1/tasks", params={"q": reference}, headers=headers)).json()[
            "items"
        ]
        [item] = items
        listed[reference] = item["priority"]
    assert listed == expected
    everything = (
        await http.get("/api/v1/tasks", params={"q": prefix, "per_page": 100}, headers=headers)
    ).json()
    order = [i["case_reference"] for i in everything["items"] if i["case_reference"] in expected]
    if everything["total"] <= 100:  # the whole list fits a page: our cases in our order
        assert order == expected_order
    ranks = [rule.RANK[i["priority"]] for i in everything["items"]]
    assert ranks == sorted(ranks, reverse=True)  # the inbox sorts by the same priority

    async with _client(http) as web:
        await web_login(web, analyst.username)
        for case, _, priority in cases:
            page = await web.get(f"/cases/{case.id}")
            assert _case_priority(page.text) == priority, case.reference
        aml_page = await web.get("/aml", params={"rule": key})
        listing = aml_page.text.split('id="aml-queue"', 1)[1]
        assert _order(listing, references) == expected_order
        # The priority filter means the rule's priority, on both pages.
        high = await web.get("/aml", params={"rule": key, "priority": "high"})
        shown = [r for r in references if _listed(high.text, r)]
        assert sorted(shown) == sorted(r for r in references if expected[r] == "high")
        inbox_high = await http.get(
            "/api/v1/tasks",
            params={"q": prefix, "priority": "high", "per_page": 100},
            headers=headers,
        )
        assert {i["priority"] for i in inbox_high.json()["items"]} == {"high"}

    # A case's risk changing re-ranks its open task (the database keeps the rule).
    low_case, low_task, _ = cases[0]
    async with db.transaction() as session:
        await run_sql(
            session,
            "UPDATE \"case\" SET risk_level = 'high' WHERE id = :id",
            {"id": low_case.id},
        )
    async with db.session() as session:
        refreshed = await session.get(Task, low_task.id)
    assert refreshed is not None and refreshed.urgency == rule.RANK["high"]


# ----------------------------------------------------------------------------- URL, sort
async def test_sort_and_filters_travel_in_the_url_and_the_column_headers_sort(
    http: httpx.AsyncClient, db: Database
) -> None:
    analyst = await new_staff(db, "aml_analyst", prefix="sort")
    key = _rule_key()
    now = utcnow()
    refs = []
    for priority, hours in (("high", 20), ("normal", 1), ("urgent", 50)):
        who = await _customer(db, "low")
        case = await add_case(db, who)
        await add_alert(db, case, who, rule=key, detected_at=now)
        await add_task(
            db,
            case,
            tier="l1",
            priority=priority,
            created_at=now - timedelta(hours=1),
            due_at=now + timedelta(hours=hours),
        )
        refs.append(case.reference)
    high, normal, urgent = refs
    async with _client(http) as web:
        await web_login(web, analyst.username)
        for ref in refs:
            page = await web.get("/inbox", params={"q": ref})
            assert _listed(page.text, ref)
        # The default order on a search all three match (other tests' cases may match too).
        page = await web.get("/inbox", params={"scope": "available", "q": "AML-T"})
        assert page.status_code == 200
        listing = page.text.split('id="task-list"', 1)[1]
        present = [r for r in refs if _listed(listing, r)]
        assert _order(listing, present) == [r for r in (urgent, high, normal) if r in present]
        # The headers link to the same view sorted by their column, then reversed.
        links = dict(re.findall(r'href="([^"]*/inbox\?[^"]+)" data-sort="([a-z]+)"', listing))
        by_column = {v: k.replace("&amp;", "&") for k, v in links.items()}
        assert set(by_column) == {"case", "kind", "priority", "due"}
        due_url = by_column["due"]
        assert parse_qs(urlsplit(due_url).query) == {
            "scope": ["available"],
            "q": ["AML-T"],
            "sort": ["due"],
        }
        by_due = await web.get(due_url)
        listing = by_due.text.split('id="task-list"', 1)[1]
        present = [r for r in refs if _listed(listing, r)]
        assert _order(listing, present) == [r for r in (normal, high, urgent) if r in present]
        assert 'aria-sort="ascending"' in listing
        reversed_url = dict(
            (v, k.replace("&amp;", "&"))
            for k, v in re.findall(r'href="([^"]*/inbox\?[^"]+)" data-sort="([a-z]+)"', listing)
        )["due"]
        assert "sort=-due" in reversed_url
        by_due_desc = await web.get(reversed_url)
        listing = by_due_desc.text.split('id="task-list"', 1)[1]
        present = [r for r in refs if _listed(listing, r)]
        assert _order(listing, present) == [r for r in (urgent, high, normal) if r in present]
        # Filters are in the URL: priority and SLA, shown as chosen.
        urgent_only = await web.get("/inbox", params={"q": urgent, "priority": "urgent"})
        assert _listed(urgent_only.text, urgent)
        not_high = await web.get("/inbox", params={"q": urgent, "priority": "high"})
        assert not _listed(not_high.text, urgent)
        soon = await web.get("/inbox", params={"q": normal, "sla": "due_soon"})
        assert _listed(soon.text, normal)  # due in 1 h
        assert not _listed(
            (await web.get("/inbox", params={"q": high, "sla": "due_soon"})).text, high
        )
        # Pagination keeps filters and sort.
        paged = await web.get("/inbox", params={"q": "AML-T", "sort": "-due"})
        nexts = re.findall(r'href="([^"]*/inbox\?[^"]*page=2[^"]*)"', paged.text)
        if nexts:
            assert "sort=-due" in nexts[0] and "q=AML-T" in nexts[0]
        bad = await web.get("/inbox", params={"sort": "nonsense"})
        assert bad.status_code == 422
    api = await http.get(
        "/api/v1/tasks",
        params={"q": "AML-T", "sort": "due", "per_page": 100},
        headers=await api_headers(http, analyst.username),
    )
    dues = [i["due_at"] for i in api.json()["items"]]
    assert dues == sorted(dues)


# ----------------------------------------------------------------------------- saved views
async def test_saved_views_are_named_listed_opened_and_deleted_per_person(
    http: httpx.AsyncClient, db: Database
) -> None:
    ana = await new_staff(db, "aml_analyst", prefix="views")
    other = await new_staff(db, "aml_analyst", prefix="views")
    async with _client(http) as web:
        await web_login(web, ana.username)
        page = await web.get("/inbox", params={"sla": "overdue", "sort": "-due", "page": 2})
        form = page.text.split('id="save-view"', 1)[1]
        query = re.search(r'name="query" value="([^"]+)"', form)
        assert query is not None
        saved_query = query.group(1).replace("&amp;", "&")
        assert parse_qs(saved_query) == {
            "scope": ["available"],
            "sla": ["overdue"],
            "sort": ["-due"],
        }
        token = CSRF_RE.search(page.text)
        assert token is not None
        saved = await web.post(
            "/inbox/views",
            data={
                "csrf_token": token.group(1),
                "name": "Overdue, latest first",
                "query": saved_query,
            },
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == f"/inbox?{saved_query}"
        listed = await web.get("/inbox")
        assert "Overdue, latest first" in listed.text
        assert f'href="/inbox?{saved_query.replace("&", "&amp;")}"' in listed.text
        # The same name again is refused, saying why.
        again = await web.post(
            "/inbox/views",
            data={"csrf_token": token.group(1), "name": "Overdue, latest first", "query": ""},
        )
        assert again.status_code == 409
        assert "already have a view called" in again.text
    headers = await api_headers(http, ana.username)
    views = (await http.get("/api/v1/tasks/views", headers=headers)).json()
    assert [v["name"] for v in views] == ["Overdue, latest first"]
    made = await http.post(
        "/api/v1/tasks/views",
        json={"name": "Urgent", "query": "priority=urgent&bogus=1"},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    assert made.json()["query"] == "scope=available&priority=urgent"
    refused = await http.post(
        "/api/v1/tasks/views", json={"name": "Bad", "query": "sort=sideways"}, headers=headers
    )
    assert refused.status_code == 422
    assert "sort" in refused.json()["fields"]["query"]
    # Another person neither sees nor deletes them.
    other_headers = await api_headers(http, other.username)
    assert (await http.get("/api/v1/tasks/views", headers=other_headers)).json() == []
    view_id = made.json()["id"]
    stolen = await http.delete(f"/api/v1/tasks/views/{view_id}", headers=other_headers)
    assert stolen.status_code == 404
    deleted = await http.delete(f"/api/v1/tasks/views/{view_id}", headers=headers)
    assert deleted.status_code == 204
    names = [v["name"] for v in (await http.get("/api/v1/tasks/views", headers=headers)).json()]
    assert names == ["Overdue, latest first"]
    async with db.session() as session:
        actions = (
            await session.exec(
                select(AuditEvent.action).where(
                    AuditEvent.actor_id == ana.actor.user_id,
                    AuditEvent.action.in_(["inbox.view_saved", "inbox.view_deleted"]),  # type: ignore[attr-defined]
                )
            )
        ).all()
    assert sorted(actions) == ["inbox.view_deleted", "inbox.view_saved", "inbox.view_saved"]


# ----------------------------------------------------------------------------- my team
async def test_a_lead_sees_the_teams_open_and_claimed_tasks_and_others_do_not(
    http: httpx.AsyncClient, db: Database
) -> None:
    lead = await new_staff(db, "aml_lead", prefix="lead")
    member = await new_staff(db, "aml_analyst", prefix="member")
    key = _rule_key()
    now = utcnow()
    who = await _customer(db, "low")
    case = await add_case(db, who)
    await add_alert(db, case, who, rule=key, detected_at=now)
    task = await add_task(db, case, tier="l1", created_at=now, due_at=now - timedelta(minutes=5))
    member_headers = await api_headers(http, member.username)
    claimed = await http.post(f"/api/v1/tasks/{task.id}/claim", headers=member_headers)
    assert claimed.status_code == 200
    lead_headers = await api_headers(http, lead.username)
    team = await http.get(
        "/api/v1/tasks",
        params={"scope": "team", "assignee": member.username},
        headers=lead_headers,
    )
    assert team.status_code == 200, team.text
    [item] = team.json()["items"]
    assert item["id"] == str(task.id) and item["assignee"] == member.username
    overdue = await http.get(
        "/api/v1/tasks",
        params={"scope": "team", "q": case.reference, "sla": "overdue", "role": "aml_analyst"},
        headers=lead_headers,
    )
    assert [i["id"] for i in overdue.json()["items"]] == [str(task.id)]
    # Another team's lead and an analyst get no "my team" of the AML team.
    refused = await http.get("/api/v1/tasks", params={"scope": "team"}, headers=member_headers)
    assert refused.status_code == 403
    kyc_lead = await new_staff(db, "kyc_lead", prefix="lead")
    theirs = await http.get(
        "/api/v1/tasks",
        params={"scope": "team", "q": case.reference},
        headers=await api_headers(http, kyc_lead.username),
    )
    assert theirs.status_code == 200 and theirs.json()["items"] == []
    async with _client(http) as web:
        await web_login(web, lead.username)
        page = await web.get("/inbox", params={"scope": "team", "q": case.reference})
        assert "My team" in page.text and _listed(page.text, case.reference)
        await web_login(web, member.username)
        assert "My team" not in (await web.get("/inbox")).text


# ----------------------------------------------------------------------------- next case
async def test_next_case_claims_the_most_urgent_task_segregation_lets_me_take(
    http: httpx.AsyncClient, db: Database
) -> None:
    me = await new_staff(db, "aml_analyst", prefix="next")
    key = _rule_key()
    now = utcnow()
    long_ago = now - timedelta(days=3650)  # before any other test's task is due

    async def made(
        minutes: int, *, opened_by: uuid.UUID | None = None, excluded: bool = False
    ) -> Task:
        who = await _customer(db, "low")
        case = await add_case(db, who)
        await add_alert(db, case, who, rule=key, detected_at=now)
        task = await add_task(
            db,
            case,
            tier="l1",
            priority="urgent",
            created_at=long_ago - timedelta(days=1),
            due_at=long_ago + timedelta(minutes=minutes),
        )
        async with db.transaction() as session:
            if opened_by:
                await run_sql(
                    session,
                    'UPDATE "case" SET opened_by = :me WHERE id = :id',
                    {"me": opened_by, "id": case.id},
                )
            if excluded:
                await run_sql(
                    session,
                    "UPDATE task SET excluded_actors = ARRAY[:me]::uuid[] WHERE id = :id",
                    {"me": me.actor.user_id, "id": task.id},
                )
        return task

    excluded = await made(1, excluded=True)  # the most urgent, but I am excluded from it
    mine = await made(2, opened_by=me.actor.user_id)  # I opened this case: four eyes
    target = await made(3)
    later = await made(4)
    headers = await api_headers(http, me.username)
    taken = await http.post("/api/v1/tasks/next", headers=headers)
    assert taken.status_code == 200, taken.text
    assert taken.json()["id"] == str(target.id)
    assert taken.json()["status"] == "claimed" and taken.json()["assignee"] == me.username
    async with db.session() as session:
        for untouched in (excluded, mine):
            row = await session.get(Task, untouched.id)
            assert row is not None and row.status == "open"
        claimed_event = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "task.claimed", AuditEvent.object_id == str(target.id)
                )
            )
        ).first()
    assert claimed_event is not None  # through the same door, audited as a claim
    # The web button claims the next one and opens its case.
    async with _client(http) as web:
        token = await web_login(web, me.username)
        opened = await web.post("/inbox/next", data={"csrf_token": token})
        assert opened.status_code == 303
        async with db.session() as session:
            later_case = await session.get(Task, later.id)
        assert later_case is not None and later_case.status == "claimed"
        assert opened.headers["location"].endswith(f"/cases/{later.case_id}#decide")

    # Nothing left for this role: the refusal says why.
    engineer = await new_staff(db, "engineer", prefix="next")
    async with db.transaction() as session:
        await run_sql(
            session,
            "UPDATE task SET excluded_actors = array_append(excluded_actors, :me) "
            "WHERE status = 'open' AND candidate_role = 'engineer'",
            {"me": engineer.actor.user_id},
        )
    nothing = await http.post(
        "/api/v1/tasks/next", headers=await api_headers(http, engineer.username)
    )
    assert nothing.status_code == 409
    assert nothing.json()["error"] == "nothing_available"
    assert "Nothing is waiting for your roles" in nothing.json()["message"]
    # Someone without task:work is refused by permission.
    auditor = await new_staff(db, "auditor", prefix="next")
    assert (
        await http.post("/api/v1/tasks/next", headers=await api_headers(http, auditor.username))
    ).status_code == 403


# ----------------------------------------------------------------------------- workload
async def test_the_workload_view_counts_open_claimed_and_at_risk_per_person_and_queue(
    http: httpx.AsyncClient, db: Database
) -> None:
    lead = await new_staff(db, "aml_lead", prefix="wl")
    busy = await new_staff(db, "aml_analyst", prefix="wl")
    idle = await new_staff(db, "aml_analyst", prefix="wl")
    key = _rule_key()
    now = utcnow()
    busy_headers = await api_headers(http, busy.username)
    for due in (now - timedelta(hours=1), now + timedelta(hours=1), now + timedelta(days=5)):
        who = await _customer(db, "low")
        case = await add_case(db, who)
        await add_alert(db, case, who, rule=key, detected_at=now)
        task = await add_task(db, case, tier="l1", created_at=now - timedelta(days=1), due_at=due)
        assert (
            await http.post(f"/api/v1/tasks/{task.id}/claim", headers=busy_headers)
        ).status_code == 200
    lead_headers = await api_headers(http, lead.username)
    load = await http.get("/api/v1/workload", headers=lead_headers)
    assert load.status_code == 200, load.text
    body = load.json()
    people = {p["username"]: p for p in body["people"]}
    mine = people[busy.username]
    assert (mine["claimed"], mine["overdue"], mine["due_soon"]) == (3, 1, 1)
    assert mine["roles"] == ["aml_analyst"]
    assert people[idle.username]["claimed"] == 0
    assert set(body["team_roles"]) == {"aml_analyst", "aml_investigator"}
    l1 = [q for q in body["queues"] if q["kind"] == "aml_l1_review"]
    assert l1 and l1[0]["claimed"] >= 3 and l1[0]["overdue"] >= 1
    narrowed = await http.get(
        "/api/v1/workload", params={"role": "aml_investigator"}, headers=lead_headers
    )
    assert busy.username not in {p["username"] for p in narrowed.json()["people"]}
    assert (
        await http.get("/api/v1/workload", params={"role": "kyc_analyst"}, headers=lead_headers)
    ).status_code == 422
    assert (await http.get("/api/v1/workload", headers=busy_headers)).status_code == 403
    async with _client(http) as web:
        await web_login(web, lead.username)
        page = await web.get("/workload")
        assert page.status_code == 200
        assert f'data-username="{busy.username}"' in page.text
        assert "Workload" in page.text
        await web_login(web, busy.username)
        assert (await web.get("/workload")).status_code == 403


# ----------------------------------------------------------------------------- demo
async def test_the_demo_seed_gives_an_analyst_and_a_lead_saved_views_once(db: Database) -> None:
    await seed.seed_staff(owner_database(db))
    await seed_inbox_views(db)
    assert await seed_inbox_views(db) == {"saved inbox views": 0}
    lena = await seed.actor_named(db, "aml.lena")
    async with db.session() as session:
        names = (
            await session.exec(select(InboxView.name).where(InboxView.owner_id == lena.user_id))
        ).all()
    assert "My team: overdue" in names
