"""Built-in document checks: what the applicant can fix is referred, what they cannot is rejected."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from models.applications import ApplicationCreate
from onboarding.engines.documents import (
    BuiltinDocumentChecks,
    DocumentCheckProvider,
    DocumentReport,
    load_provider,
)
from onboarding.engines.mrz import td3_lines
from onboarding.policy import OnboardingPolicy

TODAY = date(2025, 1, 15)
POLICY = OnboardingPolicy()


def passport(
    *, expiry: str = "2030-06-30", country: str = "DE", mrz: list[str] | None = None
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": "passport",
        "number": "C01X00T47",
        "issuing_country": country,
        "expiry_date": expiry,
    }
    if mrz is not None:
        doc["mrz"] = mrz
    return doc


def person(name: str = "Erika Mustermann", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "full_name": name,
        "date_of_birth": "1964-08-12",
        "nationality": "DE",
        "country_of_residence": "DE",
        "address": {
            "line1": "Heidestr. 17",
            "city": "Köln",
            "postal_code": "51147",
            "country": "DE",
        },
        "email": "erika@example.org",
        "phone": "+49 221 1234567",
        "documents": [passport()],
    }
    data.update(overrides)
    return data


def individual(volume: str = "2000", currency: str = "EUR", **overrides: Any) -> ApplicationCreate:
    return ApplicationCreate.model_validate(
        {
            "external_ref": "app-1",
            "kind": "individual",
            "individual": person(**overrides),
            "expected_monthly_volume": {"amount": volume, "currency": currency},
        }
    )


def business(
    *,
    volume: str = "100000",
    directors: list[dict[str, Any]] | None = None,
    owners: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> ApplicationCreate:
    data: dict[str, Any] = {
        "legal_name": "Beispiel Software GmbH",
        "registration_number": "HRB 12345",
        "country": "DE",
        "incorporation_date": "2015-03-01",
        "industry_code": "62.01",
        "address": {
            "line1": "Hauptstr. 1",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
        "documents": [{"type": "register_extract", "number": "HRB 12345"}],
        "directors": directors if directors is not None else [person("Jane Roe")],
        "beneficial_owners": owners
        if owners is not None
        else [
            person("Jane Roe", ownership_percent=Decimal(50)),
            person("John Roe", ownership_percent=Decimal(50)),
        ],
    }
    data.update(overrides)
    return ApplicationCreate.model_validate(
        {
            "external_ref": "app-2",
            "kind": "business",
            "business": data,
            "expected_monthly_volume": {"amount": volume, "currency": "EUR"},
        }
    )


def erika_mrz(**changes: Any) -> list[str]:
    fields: dict[str, Any] = {
        "document_number": "C01X00T47",
        "issuing_state": "DEU",
        "nationality": "DEU",
        "surname": "Mustermann",
        "given_names": "Erika",
        "date_of_birth": date(1964, 8, 12),
        "expiry_date": date(2030, 6, 30),
        "sex": "F",
    }
    fields.update(changes)
    return td3_lines(**fields)


async def run(application: ApplicationCreate, policy: OnboardingPolicy = POLICY) -> DocumentReport:
    return await BuiltinDocumentChecks().check(application, today=TODAY, policy=policy)


def statuses(report: DocumentReport, check: str) -> list[str]:
    return [c.status for c in report.checks if c.check == check]


async def test_complete_german_individual_passes() -> None:
    report = await run(individual(documents=[passport(mrz=erika_mrz())]))

    assert report.verdict == "pass"
    assert report.provider == "builtin"
    assert report.missing == []
    assert statuses(report, "mrz") == ["pass"]


async def test_individual_without_identity_document_is_referred_with_what_to_send() -> None:
    report = await run(individual(documents=[]))

    assert report.verdict == "refer"
    assert statuses(report, "identity_document") == ["fail"]
    assert report.missing == [
        "Erika Mustermann: a copy of a valid passport or national identity card"
    ]


async def test_expired_passport_of_a_director_is_referred_naming_the_director() -> None:
    expired = person("Jane Roe", documents=[passport(expiry="2023-01-31")])
    report = await run(business(directors=[expired]))

    assert report.verdict == "refer"
    messages = [c.message for c in report.checks if c.status != "pass"]
    assert messages == ["Director Jane Roe: passport expired on 2023-01-31"]
    assert report.missing == [
        "Director Jane Roe: a copy of a valid passport or national identity card "
        "(the passport on file expired on 2023-01-31)"
    ]


async def test_passport_expiring_within_30_days_is_referred() -> None:
    report = await run(individual(documents=[passport(expiry="2025-02-10")]))

    assert report.verdict == "refer"
    assert statuses(report, "document_validity") == ["refer"]


async def test_an_expired_document_beside_a_valid_one_does_not_hold_the_application() -> None:
    docs = [passport(expiry="2020-01-01"), {**passport(), "type": "national_id"}]
    report = await run(individual(documents=docs))

    assert report.verdict == "pass"


async def test_mrz_with_a_bad_check_digit_is_referred() -> None:
    lines = erika_mrz()
    lines[1] = lines[1][:9] + str((int(lines[1][9]) + 1) % 10) + lines[1][10:]
    report = await run(individual(documents=[passport(mrz=lines)]))

    assert report.verdict == "refer"
    [mrz] = [c for c in report.checks if c.check == "mrz"]
    assert mrz.status == "fail"
    assert "document_number" in mrz.details["failed_checks"]
    assert "machine-readable" in report.missing[0]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"document_number": "C01X00T48"}, "document number"),
        ({"expiry_date": date(2031, 6, 30)}, "expiry date"),
        ({"date_of_birth": date(1965, 8, 12)}, "date of birth"),
        ({"nationality": "AUT"}, "nationality"),
    ],
)
async def test_mrz_that_disagrees_with_the_application_is_referred(
    change: dict[str, Any], field: str
) -> None:
    report = await run(individual(documents=[passport(mrz=erika_mrz(**change))]))

    assert report.verdict == "refer"
    [mrz] = [c for c in report.checks if c.check == "mrz"]
    assert mrz.status == "refer"
    assert field in mrz.message


async def test_under_age_applicant_is_rejected() -> None:
    report = await run(individual(date_of_birth="2008-06-01"))

    assert report.verdict == "reject"
    assert statuses(report, "age") == ["fail"]


async def test_minimum_age_comes_from_the_policy() -> None:
    application = individual(date_of_birth="2005-01-01")  # 20 on TODAY

    assert (await run(application)).verdict == "pass"
    assert (await run(application, OnboardingPolicy(minimum_age_years=21))).verdict == "reject"


async def test_birthday_tomorrow_is_not_yet_of_age() -> None:
    assert (await run(individual(date_of_birth="2007-01-16"))).verdict == "reject"
    assert (await run(individual(date_of_birth="2007-01-15"))).verdict == "pass"


@pytest.mark.parametrize(
    "overrides",
    [
        {"nationality": "IR"},
        {"country_of_residence": "KP"},
        {"documents": [passport(country="SY")]},
    ],
)
async def test_prohibited_country_anywhere_on_a_person_rejects(overrides: dict[str, Any]) -> None:
    report = await run(individual(**overrides))

    assert report.verdict == "reject"
    assert statuses(report, "country") == ["fail"]


async def test_business_registered_in_a_prohibited_country_is_rejected() -> None:
    report = await run(business(country="KP"))

    assert report.verdict == "reject"
    assert any("Beispiel Software GmbH: prohibited country" in c.message for c in report.checks)


async def test_prohibited_beneficial_owner_rejects_the_business() -> None:
    owner = person("Ali Example", nationality="IR", ownership_percent=Decimal(30))
    report = await run(business(owners=[owner]))

    assert report.verdict == "reject"
    [failed] = [c for c in report.checks if c.status == "fail"]
    assert failed.party == "Ali Example"
    assert failed.message.startswith("Beneficial owner Ali Example: prohibited country")


async def test_business_without_proof_of_incorporation_is_referred() -> None:
    report = await run(business(documents=[{"type": "proof_of_address"}]))

    assert report.verdict == "refer"
    assert report.missing == [
        "Beispiel Software GmbH: a certificate of incorporation or a commercial register "
        "extract issued within the last 3 months"
    ]


async def test_every_director_and_owner_is_checked() -> None:
    report = await run(business())

    assert report.verdict == "pass"
    parties = {c.party for c in report.checks if c.check == "identity_document"}
    assert parties == {"Jane Roe", "John Roe"}
    assert len(statuses(report, "identity_document")) == 3  # Jane as director and as owner


async def test_a_hard_failure_wins_over_soft_problems() -> None:
    report = await run(individual(nationality="KP", documents=[]))

    assert report.verdict == "reject"
    assert report.missing  # still says what is missing, should the rejection be overturned


class VendorChecks:
    name = "vendor"

    async def check(
        self, application: ApplicationCreate, *, today: date, policy: OnboardingPolicy
    ) -> DocumentReport:
        return DocumentReport(provider=self.name, verdict="refer", checks=[], missing=["x"])


async def test_provider_is_chosen_by_configuration() -> None:
    assert isinstance(load_provider("builtin"), BuiltinDocumentChecks)
    vendor = load_provider(f"{__name__}:VendorChecks")

    assert isinstance(vendor, DocumentCheckProvider)
    assert (await vendor.check(individual(), today=TODAY, policy=POLICY)).provider == "vendor"


@pytest.mark.parametrize(
    "spec",
    ["", "no_such_module_xyz:Checks", f"{__name__}:Missing", f"{__name__}:POLICY", "just.a.module"],
)
def test_unloadable_provider_is_a_clear_error_naming_the_spec(spec: str) -> None:
    with pytest.raises(ValueError, match="document check provider") as error:
        load_provider(spec)
    assert repr(spec) in str(error.value)
