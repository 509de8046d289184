"""Demo onboarding: the OFAC list imported, customers approved automatically and by review,
and open cases in every state (analyst review, senior review, awaiting information,
claimed, rejected, and a politically exposed person from the PEP list at enhanced due
diligence) — all through the real entry points, so the demo shows real histories.
Finally the screening threshold is lowered under four-eyes and a re-screening run turns a
near match among existing customers into an open screening alert."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import date, timedelta
from typing import Any

from sqlmodel import select
from temporalio.client import Client

from changes.commands import requests as change_service
from core.db import Database
from core.schedules import LIST_AGE_WORKFLOW
from core.settings import Settings
from demo.config import config_document
from demo.seed import actor_named, work_task
from models.applications import ApplicationCreate
from models.changes import ChangeCreate
from models.list_age_io import ListAgeInput, ListAgeSummary
from models.onboarding import Application
from onboarding.commands import intake
from screening.commands.importer import DEMO_LISTS, import_list

log = logging.getLogger(__name__)


def _person(
    name: str,
    dob: str,
    nationality: str,
    *,
    city: str = "Berlin",
    country: str = "DE",
    **extra: Any,
) -> dict[str, Any]:
    first = name.split()[0].lower()
    return {
        "full_name": name,
        "date_of_birth": dob,
        "nationality": nationality,
        "country_of_residence": country,
        "address": {
            "line1": "Hauptstraße 12",
            "city": city,
            "postal_code": "10115",
            "country": country,
        },
        "email": f"{first}.{name.split()[-1].lower()}@example.com",
        "phone": "+49 30 5550101",
        "documents": [
            {
                "type": "passport",
                "number": f"P{abs(hash(name)) % 10**8:08d}",
                "issuing_country": nationality,
                "expiry_date": (date.today() + timedelta(days=1400)).isoformat(),
            }
        ],
        **extra,
    }


def _individual(ref: str, person: dict[str, Any], volume: str) -> ApplicationCreate:
    return ApplicationCreate.model_validate(
        {
            "external_ref": ref,
            "kind": "individual",
            "individual": person,
            "expected_monthly_volume": {"amount": volume, "currency": "EUR"},
        }
    )


def _business(ref: str, name: str, owners: list[dict[str, Any]], volume: str) -> ApplicationCreate:
    director = owners[0]
    return ApplicationCreate.model_validate(
        {
            "external_ref": ref,
            "kind": "business",
            "business": {
                "legal_name": name,
                "registration_number": f"HRB {abs(hash(name)) % 10**6}",
                "country": "DE",
                "incorporation_date": "2016-05-10",
                "industry_code": "62.01",
                "website": "https://example.com",
                "address": {
                    "line1": "Torstraße 1",
                    "city": "Berlin",
                    "postal_code": "10119",
                    "country": "DE",
                },
                "documents": [{"type": "register_extract", "number": "HRB 4711"}],
                "directors": [{k: v for k, v in director.items() if k != "ownership_percent"}],
                "beneficial_owners": owners,
            },
            "expected_monthly_volume": {"amount": volume, "currency": "EUR"},
        }
    )


async def _settled(db: Database, application_id: uuid.UUID) -> Application:
    """Until the workflow finished its automated checks (decided, or waiting for a person)."""
    for _ in range(600):
        async with db.session() as session:
            app = await session.get(Application, application_id)
            if app is not None and (
                app.outcome is not None or (app.status == "in_review" and app.route != "auto")
            ):
                return app
        await asyncio.sleep(0.05)
    raise RuntimeError(f"application {application_id} did not settle; is a worker running?")


async def seed_onboarding(db: Database, temporal: Client, settings: Settings) -> dict[str, int]:
    # The four real lists side by side: OFAC SDN, US consolidated, UN, OpenSanctions PEPs.
    loaded = 0
    for list_name, path, list_date in DEMO_LISTS:
        report = await import_list(db, list_name, path, list_date=list_date)
        loaded += report.entries if report.created else 0
    async with db.session() as session:
        if (await session.exec(select(Application.id))).first():
            return {"watch-list entries": loaded}
    # The daily list-age check once now: the published copies are older than their maximum
    # age, so compliance sees a stale-list case per list (schedule watch-list-age).
    stale = await temporal.execute_workflow(
        LIST_AGE_WORKFLOW,
        ListAgeInput(),
        id=f"watch-list-age-demo-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
        result_type=ListAgeSummary,
    )
    log.info("list age: %s", stale.text)
    service = await actor_named(db, "svc.corebank")
    kim, kai = await actor_named(db, "kyc.kim"), await actor_named(db, "kyc.kai")
    ken = await actor_named(db, "kyc.ken")

    async def submit(data: ApplicationCreate) -> tuple[intake.ApplicationAccepted, Application]:
        accepted = await intake.submit_application(db, temporal, settings, service, data)
        return accepted, await _settled(db, accepted.application_id)

    async def decide(
        who: Any,
        wid: str,
        key: str,
        outcome: str,
        reason: str | None = None,
        comment: str | None = None,
    ) -> None:
        await work_task(
            db,
            temporal,
            who,
            wid,
            key,
            None if outcome == "claim" else outcome,
            reason=reason,
            comment=comment,
        )

    # Approved automatically: low risk, clean documents, no screening hit.
    for i, (name, dob, nat, city) in enumerate(
        [
            ("Anna Schmidt", "1988-04-12", "DE", "Berlin"),
            ("Lukas Wagner", "1992-11-03", "DE", "Hamburg"),
            ("Sofia Rossi", "1985-07-21", "IT", "München"),
            ("Emma Dubois", "1990-02-14", "FR", "Köln"),
        ]
    ):
        await submit(
            _individual(f"demo-kyc-{i + 1:03d}", _person(name, dob, nat, city=city), "2500")
        )

    # A business approved by an analyst (medium: expected volume).
    owners = [
        _person("Klaus Meyer", "1970-01-15", "DE", ownership_percent="60"),
        _person("Petra Vogel", "1975-06-30", "DE", ownership_percent="40"),
    ]
    accepted, app = await submit(
        _business("demo-kyb-001", "Nordlicht Software GmbH", owners, "900000")
    )
    if app.outcome is None:
        await decide(kim, accepted.workflow_id, "review-analyst#1", "approve")

    # Medium risk waiting for an analyst.
    await submit(_individual("demo-kyc-010", _person("Jonas Becker", "1979-02-03", "DE"), "80000"))
    # A listed person (exact name): the analyst approved, now waiting for the senior (four-eyes).
    accepted, _ = await submit(
        _individual(
            "demo-kyc-011",
            _person("Eduardo Restrepo Victoria", "1958-09-28", "CO", city="Frankfurt"),
            "5000",
        )
    )
    await decide(
        kim,
        accepted.workflow_id,
        "review-analyst#1",
        "approve",
        comment="Exact name hit on the SDN list; identity documents verified, "
        "senior to make the four-eyes call.",
    )
    # A misspelled listed name, still with the analyst.
    await submit(
        _individual(
            "demo-kyc-012",
            _person("Eduardo Restrepo Victorya", "1958-09-28", "CO", city="Leipzig"),
            "4000",
        )
    )
    # A business with a listed beneficial owner: claimed by an analyst, in progress.
    listed_owners = [
        _person("Martin Krüger", "1968-03-09", "DE", ownership_percent="55"),
        _person("Ibrahim Taher", "1963-11-10", "LB", ownership_percent="45"),
    ]
    accepted, _ = await submit(
        _business("demo-kyb-002", "Levant Trade Partners GmbH", listed_owners, "400000")
    )
    await decide(kai, accepted.workflow_id, "review-analyst#1", "claim")
    # Waiting for the applicant's documents.
    accepted, _ = await submit(
        _individual("demo-kyc-013", _person("Mehmet Yilmaz", "1983-08-19", "TR"), "60000")
    )
    await decide(
        kim,
        accepted.workflow_id,
        "review-analyst#1",
        "request_info",
        "source_of_funds",
        "Please send your last three payslips or other proof of the source of funds.",
    )
    # Rejected automatically (prohibited country) and by a reviewer.
    kp = _person("Kim Chol", "1980-05-05", "KP", city="Dresden")
    await submit(_individual("demo-kyc-014", kp, "1000"))
    accepted, _ = await submit(
        _individual("demo-kyc-015", _person("Viktor Sokolov", "1971-12-01", "RU"), "150000")
    )
    await decide(
        kim,
        accepted.workflow_id,
        "review-analyst#1",
        "reject",
        "high_risk_unacceptable",
        "Source of funds not credible for the stated volume.",
    )
    # A politically exposed person from the OpenSanctions PEP list (a member of the US
    # Congress) who declared nothing: the list match raises the risk and opens enhanced due
    # diligence, where the source of funds waits for an analyst (then a different senior).
    await submit(
        _individual(
            "demo-kyc-016",
            _person("Jennifer L. McClellan", "1972-12-28", "US", city="Düsseldorf"),
            "12000",
        )
    )
    del ken  # the senior review above is left open for kyc.ken to take in the demo
    config_changes = await _seed_pending_config_change(db, temporal, settings)
    async with db.session() as session:
        count = len((await session.exec(select(Application.id))).all())
    return {
        "watch-list entries": loaded,
        "applications": count,
        "configuration changes": config_changes,
    }


async def _seed_pending_config_change(db: Database, temporal: Client, settings: Settings) -> int:
    """A configuration change still waiting for its checker, for the Settings pages. (The
    screening threshold is the benchmark's choice: the demo never moves it; its screening
    alert comes from a new list version, demo/screening_delta.py.)"""
    onboarding_id, policy = await config_document(db, "onboarding")
    await change_service.propose_change(
        db,
        temporal,
        settings,
        await actor_named(db, "mlro.max"),
        ChangeCreate(
            target_type="config",
            target_id=onboarding_id,
            changes={"rfi_reminder_days": max(1, int(policy["rfi_reminder_days"]) - 2)},
            reason="Applicants answer faster when reminded every few days; see the Q3 funnel review.",
        ),
    )
    return 1
