"""Document checks on an application, behind an interface a verification vendor can fill.

`BuiltinDocumentChecks` looks only at what the applicant submitted: the documents are
there, in date, their machine-readable zone verifies and agrees with the form, the person
is of age, and no country involved is one we cannot serve. A vendor (liveness, document
forensics) plugs in by naming its class in `DOCUMENT_CHECK_PROVIDER`.

The verdict separates what the applicant can fix (refer: `missing` says what to send)
from what they cannot (reject: under age, a prohibited country).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from models.applications import DOCUMENT_TYPES, ApplicationCreate, IdentityDocument, Person
from onboarding.engines.mrz import MrzError, parse_mrz
from onboarding.engines.reference_data import country_name, country_risk
from onboarding.policy import OnboardingPolicy

EXPIRY_WARNING_DAYS = 30
# Failing these ends the application: nothing the applicant sends can change them.
HARD_CHECKS = frozenset({"age", "country"})


class CheckOutcome(BaseModel):
    check: str
    status: Literal["pass", "fail", "refer"]
    message: str
    party: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class DocumentReport(BaseModel):
    provider: str
    verdict: Literal["pass", "refer", "reject"]
    checks: list[CheckOutcome]
    # Plain sentences of what to request from the applicant.
    missing: list[str]


@runtime_checkable
class DocumentCheckProvider(Protocol):
    name: str

    async def check(
        self, application: ApplicationCreate, *, today: date, policy: OnboardingPolicy
    ) -> DocumentReport: ...


@dataclass(frozen=True)
class _Party:
    person: Person
    role: Literal["applicant", "director", "owner"]

    @property
    def title(self) -> str:
        prefix = {"applicant": "", "director": "Director ", "owner": "Beneficial owner "}
        return f"{prefix[self.role]}{self.person.full_name}"


def _label(document: IdentityDocument) -> str:
    return DOCUMENT_TYPES[document.type].lower()


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _normalised(number: str) -> str:
    return number.upper().replace("<", "").replace("-", "")


class _Findings:
    def __init__(self) -> None:
        self.checks: list[CheckOutcome] = []
        self.missing: list[str] = []

    def add(
        self,
        check: str,
        status: Literal["pass", "fail", "refer"],
        message: str,
        *,
        party: str,
        ask: str | None = None,
        **details: Any,
    ) -> None:
        self.checks.append(
            CheckOutcome(check=check, status=status, message=message, party=party, details=details)
        )
        if ask is not None and status != "pass" and ask not in self.missing:
            self.missing.append(ask)


def _identity_documents(f: _Findings, p: _Party, today: date) -> None:
    name, docs = p.title, p.person.documents
    ask = f"{name}: a copy of a valid passport or national identity card"
    if not docs:
        f.add(
            "identity_document",
            "fail",
            f"{name}: no identity document submitted",
            party=p.person.full_name,
            ask=ask,
        )
        return
    f.add(
        "identity_document",
        "pass",
        f"{name}: {len(docs)} identity document(s) submitted",
        party=p.person.full_name,
    )
    best = max(docs, key=lambda d: d.expiry_date)
    expired = [d for d in docs if d.expiry_date < today]
    not_relied = "".join(f"; {_label(d)} expired on {d.expiry_date}" for d in expired)
    if best.expiry_date < today:
        f.add(
            "document_validity",
            "fail",
            f"{name}: {_label(best)} expired on {best.expiry_date}",
            party=p.person.full_name,
            ask=f"{ask} (the {_label(best)} on file expired on {best.expiry_date})",
            expiry_date=best.expiry_date.isoformat(),
        )
    elif best.expiry_date <= today + timedelta(days=EXPIRY_WARNING_DAYS):
        f.add(
            "document_validity",
            "refer",
            f"{name}: {_label(best)} expires on {best.expiry_date}, within {EXPIRY_WARNING_DAYS} days",
            party=p.person.full_name,
            ask=f"{ask} (the {_label(best)} on file expires on {best.expiry_date})",
            expiry_date=best.expiry_date.isoformat(),
        )
    else:
        f.add(
            "document_validity",
            "pass",
            f"{name}: {_label(best)} valid until {best.expiry_date}{not_relied}",
            party=p.person.full_name,
        )


def _mrz(f: _Findings, p: _Party, document: IdentityDocument, today: date) -> None:
    if not document.mrz:
        return
    name, label = p.title, _label(document)
    ask = f"{name}: a clear copy of the whole {label}, including the machine-readable lines"
    try:
        mrz = parse_mrz(document.mrz, today=today)
    except MrzError as exc:
        f.add(
            "mrz",
            "fail",
            f"{name}: the {label}'s machine-readable zone cannot be read ({exc})",
            party=p.person.full_name,
            ask=ask,
        )
        return
    if mrz.failed_checks:
        f.add(
            "mrz",
            "fail",
            f"{name}: the {label}'s machine-readable zone fails its check digits ({', '.join(mrz.failed_checks)})",
            party=p.person.full_name,
            ask=ask,
            failed_checks=mrz.failed_checks,
        )
        return
    person = p.person
    disagreements = {
        "document number": (
            mrz.document_number,
            document.number,
            _normalised(mrz.document_number) == _normalised(document.number),
        ),
        "expiry date": (
            mrz.expiry_date,
            document.expiry_date,
            mrz.expiry_date == document.expiry_date,
        ),
        "date of birth": (
            mrz.date_of_birth,
            person.date_of_birth,
            mrz.date_of_birth == person.date_of_birth,
        ),
        "nationality": (
            mrz.nationality,
            person.nationality,
            mrz.nationality_alpha2 == person.nationality,
        ),
        "issuing country": (
            mrz.issuing_state,
            document.issuing_country,
            mrz.issuing_state_alpha2 == document.issuing_country,
        ),
    }
    wrong = [
        f"{field} {seen} vs {stated}"
        for field, (seen, stated, same) in disagreements.items()
        if not same
    ]
    if wrong:
        f.add(
            "mrz",
            "refer",
            f"{name}: the {label}'s machine-readable zone disagrees with the application: {'; '.join(wrong)}",
            party=person.full_name,
            ask=f"{ask}, and a correction of the details given",
            mismatches=wrong,
        )
    else:
        f.add(
            "mrz",
            "pass",
            f"{name}: the {label}'s machine-readable zone verifies and matches",
            party=person.full_name,
        )


def _age(f: _Findings, p: _Party, today: date, minimum: int) -> None:
    age = age_on(p.person.date_of_birth, today)
    if age < minimum:
        f.add(
            "age",
            "fail",
            f"{p.title}: {age} years old, under the minimum age of {minimum}",
            party=p.person.full_name,
            age=age,
        )
    else:
        f.add("age", "pass", f"{p.title}: of age ({age})", party=p.person.full_name)


def _countries(f: _Findings, title: str, party: str, countries: dict[str, str]) -> None:
    """`countries` maps what the country is (nationality, residence...) to its ISO code."""
    barred = {
        what: code for what, code in countries.items() if country_risk(code).level == "prohibited"
    }
    if barred:
        named = "; ".join(
            f"{what} {country_name(code)} ({country_risk(code).source})"
            for what, code in barred.items()
        )
        f.add(
            "country",
            "fail",
            f"{title}: prohibited country: {named}",
            party=party,
            countries=barred,
        )
    else:
        f.add("country", "pass", f"{title}: no prohibited country involved", party=party)


def _person(f: _Findings, p: _Party, today: date, policy: OnboardingPolicy) -> None:
    _identity_documents(f, p, today)
    for document in p.person.documents:
        _mrz(f, p, document, today)
    # A minor may inherit shares (a guardian acts for them); only those who act must be of age.
    if p.role != "owner":
        _age(f, p, today, policy.minimum_age_years)
    person = p.person
    countries = {
        "nationality": person.nationality,
        "residence": person.country_of_residence,
        "address": person.address.country,
    }
    for document in person.documents:
        countries[f"{_label(document)} issued by"] = document.issuing_country
    _countries(f, p.title, person.full_name, countries)


def evaluate_documents(
    application: ApplicationCreate,
    *,
    today: date,
    policy: OnboardingPolicy,
    provider: str = "builtin",
) -> DocumentReport:
    """The built-in checks, synchronously (pure: same inputs, same report)."""
    f = _Findings()
    if application.individual is not None:
        _person(f, _Party(application.individual, "applicant"), today, policy)
    if application.business is not None:
        business = application.business
        kinds = {d.type for d in business.documents}
        if kinds & {"certificate_of_incorporation", "register_extract"}:
            f.add(
                "business_documents",
                "pass",
                f"{business.legal_name}: proof of incorporation submitted",
                party=business.legal_name,
            )
        else:
            f.add(
                "business_documents",
                "fail",
                f"{business.legal_name}: no certificate of incorporation or register extract",
                party=business.legal_name,
                ask=f"{business.legal_name}: a certificate of incorporation or a commercial register extract issued within the last 3 months",
            )
        _countries(
            f,
            business.legal_name,
            business.legal_name,
            {"registered in": business.country, "address": business.address.country},
        )
        for director in business.directors:
            _person(f, _Party(director, "director"), today, policy)
        for owner in business.beneficial_owners:
            _person(f, _Party(owner, "owner"), today, policy)
    problems = [c for c in f.checks if c.status != "pass"]
    verdict: Literal["pass", "refer", "reject"] = (
        "reject"
        if any(c.check in HARD_CHECKS for c in problems)
        else "refer"
        if problems
        else "pass"
    )
    return DocumentReport(provider=provider, verdict=verdict, checks=f.checks, missing=f.missing)


class BuiltinDocumentChecks:
    name = "builtin"

    async def check(
        self, application: ApplicationCreate, *, today: date, policy: OnboardingPolicy
    ) -> DocumentReport:
        return evaluate_documents(application, today=today, policy=policy, provider=self.name)


def load_provider(spec: str) -> DocumentCheckProvider:
    """`builtin`, or `package.module:ClassName` (instantiated with no arguments)."""
    spec = spec.strip()
    if spec == "builtin":
        return BuiltinDocumentChecks()
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ValueError(
            f"document check provider {spec!r}: use 'builtin' or 'package.module:ClassName'"
        )
    try:
        provider = getattr(importlib.import_module(module_name), class_name)()
    except Exception as exc:  # any import or constructor failure means the same: misconfigured
        raise ValueError(f"document check provider {spec!r} cannot be loaded: {exc}") from exc
    if not isinstance(provider, DocumentCheckProvider):
        raise ValueError(f"document check provider {spec!r} has no `name` and async `check` method")
    return provider
