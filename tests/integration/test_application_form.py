"""The "New application" page against the real services: a support agent or KYC analyst takes
an application in the browser; bad input comes back with every value kept and each problem
named; permissions, CSRF and four-eyes hold as they do for the API."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import httpx
import pytest
from sqlmodel import func, select

from casework.tasks import claim_task
from core.db import Database
from models.onboarding import Application, ApplicationParty
from shared.errors import Forbidden
from tests.helpers import new_staff, task_of, web_login

pytestmark = pytest.mark.usefixtures("onboarding_ready")

REF_RE = re.compile(r'name="external_ref" id="external_ref" value="([^"]+)"')
NEXT_YEARS = (date.today() + timedelta(days=5 * 365)).isoformat()


def person_fields(prefix: str, name: str, dob: str = "1988-04-12", **extra: str) -> dict[str, str]:
    return {
        f"{prefix}-full_name": name,
        f"{prefix}-date_of_birth": dob,
        f"{prefix}-nationality": "DE",
        f"{prefix}-country_of_residence": "DE",
        f"{prefix}-address-line1": "Friedrichstraße 123",
        f"{prefix}-address-line2": "",
        f"{prefix}-address-city": "Berlin",
        f"{prefix}-address-postal_code": "10117",
        f"{prefix}-address-country": "DE",
        f"{prefix}-email": f"{name.split()[0].lower()}@example.com",
        f"{prefix}-phone": "+49 30 1234567",
        f"{prefix}-document-type": "passport",
        f"{prefix}-document-number": "C01X00T47",
        f"{prefix}-document-issuing_country": "DE",
        f"{prefix}-document-expiry_date": NEXT_YEARS,
        f"{prefix}-document-mrz": "",
        **extra,
    }


async def open_form(http: httpx.AsyncClient, kind: str = "individual") -> str:
    """Opens the page as a browser would; returns the external_ref the server generated."""
    page = await http.get(f"/applications/new?kind={kind}")
    assert page.status_code == 200, page.text
    match = REF_RE.search(page.text)
    assert match and match.group(1).startswith("web-")
    return match.group(1)


def individual_form(
    csrf: str, ref: str, name: str = "Anna Schmidt", volume: str = "2500.00"
) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "external_ref": ref,
        "kind": "individual",
        **person_fields("individual", name),
        "volume-amount": volume,
        "volume-currency": "EUR",
    }


async def applications_with_ref(db: Database, ref: str) -> int:
    async with db.session() as session:
        return (
            await session.exec(
                select(func.count()).select_from(Application).where(Application.external_ref == ref)
            )
        ).one()


async def test_support_submits_an_individual_and_lands_on_the_case(
    http: httpx.AsyncClient, db: Database
) -> None:
    support = await new_staff(db, "support")
    csrf = await web_login(http, support.username)
    inbox = await http.get("/inbox")
    assert "New application" in inbox.text
    ref = await open_form(http)
    form = individual_form(csrf, ref)
    form["individual-pep"] = "yes"
    form["individual-document-mrz"] = (
        "P<D<<SCHMIDT<<ANNA<<<<<<<<<<<<<<<<<<<<<<<<<<\n\nC01X00T478D<<8804127F3001019<<<<<<<<<<<<<<<4\n"
    )

    response = await http.post("/applications/new", data=form, follow_redirects=False)

    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert re.search(r"/cases/[0-9a-f-]{36}\?notice=submitted$", location)
    async with db.session() as session:
        application = (
            await session.exec(select(Application).where(Application.external_ref == ref))
        ).one()
    assert str(application.case_id) in location
    assert application.submitted_by == support.actor.user_id
    person = application.payload["individual"]
    assert person["full_name"] == "Anna Schmidt" and person["pep"] is True
    assert len(person["documents"][0]["mrz"]) == 2  # the blank line between rows is dropped
    case_page = await http.get(location)
    assert "The application was submitted" in case_page.text

    # The same form again (a double click, a reload): the same application, nothing new.
    again = await http.post("/applications/new", data=form, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].endswith("notice=resubmitted")
    assert again.headers["location"].split("?")[0] == location.split("?")[0]
    assert await applications_with_ref(db, ref) == 1

    # Changed after it was submitted (the back button): refused readably, the input kept, and
    # a fresh reference so that submitting again is a deliberate new application.
    changed = {**form, "individual-full_name": "Anna Schmitt"}
    conflict = await http.post("/applications/new", data=changed, follow_redirects=False)
    assert conflict.status_code == 409
    assert "already submitted with different details" in conflict.text
    assert 'value="Anna Schmitt"' in conflict.text
    fresh = REF_RE.search(conflict.text)
    assert fresh and fresh.group(1) != ref


async def test_invalid_form_names_each_field_keeps_every_value_and_creates_nothing(
    http: httpx.AsyncClient, db: Database
) -> None:
    support = await new_staff(db, "support")
    csrf = await web_login(http, support.username)
    ref = await open_form(http)
    form = individual_form(csrf, ref, name="Bettina Krause")
    form["individual-email"] = "bettina-at-example"
    form["individual-date_of_birth"] = (date.today() + timedelta(days=30)).isoformat()
    form["individual-document-number"] = ""

    response = await http.post("/applications/new", data=form, follow_redirects=False)

    assert response.status_code == 422
    page = response.text
    for field in ("individual-email", "individual-date_of_birth", "individual-document-number"):
        assert f'id="{field}-error"' in page, field  # the message next to the field
        assert f'href="#{field}"' in page, field  # and in the summary at the top
    assert "not an email address" in page and "must be in the past" in page
    assert "This field is required" in page
    # Nothing the agent typed is lost, the bad values included.
    assert 'value="Bettina Krause"' in page and 'value="bettina-at-example"' in page
    assert 'value="Friedrichstraße 123"' in page and 'value="+49 30 1234567"' in page
    assert '<option value="DE" selected>' in page
    assert f'value="{ref}"' in page  # the same reference, so the corrected form is one application
    assert await applications_with_ref(db, ref) == 0

    # Through HTMX only the form is swapped, with the same problems.
    swapped = await http.post(
        "/applications/new", data=form, headers={"HX-Request": "true"}, follow_redirects=False
    )
    assert swapped.status_code == 422
    assert swapped.text.lstrip().startswith("<form") and "individual-email-error" in swapped.text


async def test_business_with_an_owner_added_through_the_htmx_partial_is_accepted(
    http: httpx.AsyncClient, db: Database
) -> None:
    analyst = await new_staff(db, "kyc_analyst")
    csrf = await web_login(http, analyst.username)
    ref = await open_form(http, "business")
    page = await http.get("/applications/new?kind=business")
    assert 'id="directors-0-full_name"' in page.text and 'id="owners-0-full_name"' in page.text
    assert '/applications/new/owners?index=1" hx-target="#owners" hx-swap="beforeend"' in page.text

    block = await http.get("/applications/new/owners?index=1", headers={"HX-Request": "true"})
    assert block.status_code == 200
    assert (
        'name="owners-1-full_name"' in block.text
        and 'name="owners-1-ownership_percent"' in block.text
    )
    # The button is replaced out of band, so the next click fetches index 2.
    assert 'hx-swap-oob="true"' in block.text and "index=2" in block.text

    form = {
        "csrf_token": csrf,
        "external_ref": ref,
        "kind": "business",
        "business-legal_name": "Nordlicht Software GmbH",
        "business-registration_number": "HRB 123456",
        "business-country": "DE",
        "business-incorporation_date": "2015-03-01",
        "business-industry_code": "62.01",
        "business-website": "https://nordlicht.example",
        "business-ownership_layers": "1",
        "business-address-line1": "Torstraße 1",
        "business-address-line2": "",
        "business-address-city": "Berlin",
        "business-address-postal_code": "10119",
        "business-address-country": "DE",
        "business-document-type": "register_extract",
        "business-document-number": "HRB 123456",
        "business-document-issued_on": "",
        **person_fields("directors-0", "Klaus Meyer", "1970-01-15"),
        **person_fields(
            "owners-0", "Klaus Meyer", "1970-01-15", **{"owners-0-ownership_percent": "60"}
        ),
        **person_fields(
            "owners-1", "Petra Vogel", "1975-06-30", **{"owners-1-ownership_percent": "40"}
        ),
        "volume-amount": "120000.00",
        "volume-currency": "EUR",
    }
    response = await http.post(
        "/applications/new", data=form, headers={"HX-Request": "true"}, follow_redirects=False
    )

    assert response.status_code == 200, response.text
    assert "/cases/" in response.headers["hx-redirect"]
    async with db.session() as session:
        application = (
            await session.exec(select(Application).where(Application.external_ref == ref))
        ).one()
        parties = (
            await session.exec(
                select(ApplicationParty).where(ApplicationParty.application_id == application.id)
            )
        ).all()
    owners = application.payload["business"]["beneficial_owners"]
    assert [o["full_name"] for o in owners] == ["Klaus Meyer", "Petra Vogel"]
    by_name = {p.name: p for p in parties}
    # Klaus is director and owner: one party holding 60%; Petra is the second owner.
    assert (
        by_name["Klaus Meyer"].role == "director" and by_name["Klaus Meyer"].ownership_percent == 60
    )
    assert by_name["Petra Vogel"].role == "owner" and by_name["Petra Vogel"].ownership_percent == 40


async def test_business_errors_point_at_the_block_that_holds_them(
    http: httpx.AsyncClient, db: Database
) -> None:
    support = await new_staff(db, "support")
    csrf = await web_login(http, support.username)
    ref = await open_form(http, "business")
    form = {
        "csrf_token": csrf,
        "external_ref": ref,
        "kind": "business",
        "business-legal_name": "Nordlicht Software GmbH",
        "business-industry_code": "software",
        # An owner block added by mistake and left empty is ignored, so owners-2 is the second owner.
        **person_fields(
            "owners-0",
            "Klaus Meyer",
            **{
                "owners-0-ownership_percent": "60",
                "owners-0-document-mrz": "IDD<<T220001293<<<<<<<<<<<<<<<\nTOO SHORT\n",
            },
        ),
        "owners-1-full_name": "",
        **person_fields("owners-2", "Petra Vogel", **{"owners-2-ownership_percent": "x"}),
        "volume-currency": "EUR",
    }
    response = await http.post("/applications/new", data=form, follow_redirects=False)
    assert response.status_code == 422
    page = response.text
    for field in (
        "business-industry_code",
        "owners-2-ownership_percent",
        "directors",
        "volume-amount",
    ):
        assert f'id="{field}-error"' in page, field
    assert "NACE" in page and "Name at least one director" in page
    assert 'id="owners-0-document-mrz-error">line 2:' in page
    assert 'value="Petra Vogel"' in page and 'id="owners-1-full_name"' in page
    assert await applications_with_ref(db, ref) == 0


async def test_a_role_without_application_submit_is_refused(
    http: httpx.AsyncClient, db: Database
) -> None:
    pm = await new_staff(db, "product_manager")
    csrf = await web_login(http, pm.username)
    assert "New application" not in (await http.get("/inbox")).text
    page = await http.get("/applications/new")
    assert page.status_code == 403
    ref = f"web-{uuid.uuid4()}"
    response = await http.post(
        "/applications/new", data=individual_form(csrf, ref), follow_redirects=False
    )
    assert response.status_code == 403
    assert (await http.get("/applications/new/owners?index=1")).status_code == 403
    assert await applications_with_ref(db, ref) == 0


async def test_the_form_needs_its_csrf_token(http: httpx.AsyncClient, db: Database) -> None:
    support = await new_staff(db, "support")
    csrf = await web_login(http, support.username)
    ref = await open_form(http)
    form = individual_form(csrf, ref)
    del form["csrf_token"]
    response = await http.post("/applications/new", data=form, follow_redirects=False)
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert await applications_with_ref(db, ref) == 0


async def test_the_analyst_who_submitted_cannot_claim_its_review(
    http: httpx.AsyncClient, db: Database
) -> None:
    analyst = await new_staff(db, "kyc_analyst")
    csrf = await web_login(http, analyst.username)
    ref = await open_form(http)
    page = await http.get("/applications/new")
    assert "You will not be able to review this application yourself" in page.text
    # A large expected volume for a retail customer: medium risk, one analyst review.
    form = individual_form(csrf, ref, name="Jonas Becker", volume="80000.00")
    form["individual-date_of_birth"] = "1979-02-03"
    response = await http.post("/applications/new", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    async with db.session() as session:
        application = (
            await session.exec(select(Application).where(Application.external_ref == ref))
        ).one()
    task = await task_of(db, application.workflow_id, "review-analyst#1")

    with pytest.raises(Forbidden) as refused:
        await claim_task(db, analyst.actor, task.id)
    assert refused.value.code == "maker_cannot_decide"
    assert "four-eyes" in refused.value.message

    # The page says the same.
    through_page = await http.post(
        f"/tasks/{task.id}/claim", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert through_page.status_code == 403
    assert "four-eyes" in through_page.text
