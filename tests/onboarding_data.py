"""Application payloads for onboarding tests: clean, medium-risk, listed (exact and misspelled),
and a business with two owners one of whom is listed on the OFAC SDN list."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from models.applications import ApplicationCreate

# Real SDN entries (list of 2024-05-03): ent_num 9563 and 34955.
LISTED_PERSON = ("Eduardo Restrepo Victoria", "1958-09-28", "CO")
LISTED_PERSON_MISSPELLED = "Eduardo Restrepo Victorya"
LISTED_OWNER = ("Ibrahim Taher", "1963-11-10", "LB")


def ref(prefix: str = "app") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def passport(number: str = "C01X00T47", country: str = "DE", years: int = 5) -> dict[str, Any]:
    return {
        "type": "passport",
        "number": number,
        "issuing_country": country,
        "expiry_date": (date.today() + timedelta(days=365 * years)).isoformat(),
    }


def person(
    name: str,
    dob: str = "1988-04-12",
    nationality: str = "DE",
    *,
    documents: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "full_name": name,
        "date_of_birth": dob,
        "nationality": nationality,
        "country_of_residence": "DE",
        "address": {
            "line1": "Friedrichstraße 123",
            "city": "Berlin",
            "postal_code": "10117",
            "country": "DE",
        },
        "email": f"{name.split()[0].lower()}@example.com",
        "phone": "+49 30 1234567",
        "documents": [passport(country=nationality)] if documents is None else documents,
        **extra,
    }


def individual(
    name: str = "Anna Schmidt",
    dob: str = "1988-04-12",
    nationality: str = "DE",
    *,
    volume: str = "2500.00",
    external_ref: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "external_ref": external_ref or ref(),
        "kind": "individual",
        "individual": person(name, dob, nationality, **extra),
        "expected_monthly_volume": {"amount": volume, "currency": "EUR"},
    }


def clean_individual(**kw: Any) -> dict[str, Any]:
    return individual("Anna Schmidt", **kw)


def medium_individual(**kw: Any) -> dict[str, Any]:
    # Large expected volume for a retail customer: medium risk, one analyst review.
    return individual("Jonas Becker", "1979-02-03", volume="80000.00", **kw)


def listed_individual(*, misspelled: bool = False, **kw: Any) -> dict[str, Any]:
    name, dob, nationality = LISTED_PERSON
    return individual(LISTED_PERSON_MISSPELLED if misspelled else name, dob, nationality, **kw)


def business(
    *, listed_owner: bool = True, external_ref: str | None = None, volume: str = "120000.00"
) -> dict[str, Any]:
    second = (
        person(LISTED_OWNER[0], LISTED_OWNER[1], LISTED_OWNER[2], ownership_percent="40")
        if listed_owner
        else person("Petra Vogel", "1975-06-30", ownership_percent="40")
    )
    return {
        "external_ref": external_ref or ref("kyb"),
        "kind": "business",
        "business": {
            "legal_name": "Nordlicht Software GmbH",
            "registration_number": "HRB 123456",
            "country": "DE",
            "incorporation_date": "2015-03-01",
            "industry_code": "62.01",
            "website": "https://nordlicht.example",
            "address": {
                "line1": "Torstraße 1",
                "city": "Berlin",
                "postal_code": "10119",
                "country": "DE",
            },
            "documents": [{"type": "register_extract", "number": "HRB 123456"}],
            "directors": [person("Klaus Meyer", "1970-01-15")],
            "beneficial_owners": [
                person("Klaus Meyer", "1970-01-15", ownership_percent="60"),
                second,
            ],
        },
        "expected_monthly_volume": {"amount": volume, "currency": "EUR"},
    }


def parsed(payload: dict[str, Any]) -> ApplicationCreate:
    return ApplicationCreate.model_validate(payload)
