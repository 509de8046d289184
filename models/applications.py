"""What an upstream system submits to open an account: an individual (KYC) or a business (KYB).

Plain pydantic models: the API validates with them, the checks and the risk score read
them, and the database keeps the validated document as submitted.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

DOCUMENT_TYPES: dict[str, str] = {
    "passport": "Passport",
    "national_id": "National identity card",
    "driving_licence": "Driving licence",
    "residence_permit": "Residence permit",
}
# Documents that prove a business exists and who runs it (KYB).
BUSINESS_DOCUMENT_TYPES: dict[str, str] = {
    "certificate_of_incorporation": "Certificate of incorporation",
    "register_extract": "Commercial register extract",
    "articles_of_association": "Articles of association",
    "proof_of_address": "Proof of address",
}

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
_NACE = re.compile(r"^[0-9]{2}(\.[0-9]{1,2})?$")
_URL = re.compile(r"^https?://[A-Za-z0-9.-]+\.[A-Za-z]{2,}(/\S*)?$")


def _country(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError("use an ISO 3166-1 alpha-2 country code, e.g. DE")
    return code


def _currency(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError("use an ISO 4217 currency code, e.g. EUR")
    return code


def _email(value: str) -> str:
    value = value.strip()
    if not _EMAIL.match(value):
        raise ValueError("not an email address")
    return value


def _phone(value: str) -> str:
    compact = re.sub(r"[\s()-]", "", value)
    if not _PHONE.match(compact):
        raise ValueError("use international format, e.g. +49 30 1234567")
    return compact


def _name(value: str) -> str:
    value = " ".join(value.split())
    if len(value) < 2:
        raise ValueError("too short")
    if any(ch.isdigit() for ch in value):
        raise ValueError("a name has no digits")
    return value


def _past(value: date) -> date:
    if value >= date.today():
        raise ValueError("must be in the past")
    if value.year < 1900:
        raise ValueError("must be after 1900")
    return value


CountryCode = Annotated[str, AfterValidator(_country)]
CurrencyCode = Annotated[str, AfterValidator(_currency)]
PersonName = Annotated[str, Field(min_length=2, max_length=200), AfterValidator(_name)]
PastDate = Annotated[date, AfterValidator(_past)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Address(Strict):
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    country: CountryCode


class IdentityDocument(Strict):
    type: Literal["passport", "national_id", "driving_licence", "residence_permit"]
    number: str = Field(min_length=3, max_length=40, pattern=r"^[A-Za-z0-9<-]+$")
    issuing_country: CountryCode
    expiry_date: date
    # Machine-readable zone as printed: 2 lines of 44 (passport, TD3) or 3 lines of 30 (TD1).
    mrz: list[Annotated[str, Field(min_length=30, max_length=44)]] | None = Field(
        default=None, min_length=2, max_length=3
    )


class BusinessDocument(Strict):
    type: Literal[
        "certificate_of_incorporation",
        "register_extract",
        "articles_of_association",
        "proof_of_address",
    ]
    number: str | None = Field(default=None, max_length=60)
    issued_on: PastDate | None = None


class Money(Strict):
    amount: Decimal = Field(ge=0, le=Decimal("1000000000000"), decimal_places=2)
    currency: CurrencyCode


class Person(Strict):
    full_name: PersonName
    date_of_birth: PastDate
    nationality: CountryCode
    country_of_residence: CountryCode
    address: Address
    email: Annotated[str, Field(max_length=200), AfterValidator(_email)]
    phone: Annotated[str, Field(max_length=30), AfterValidator(_phone)]
    documents: list[IdentityDocument] = Field(default_factory=list, max_length=10)
    # Politically exposed person, as declared by the applicant or found by a PEP provider.
    pep: bool = False


class Director(Person):
    pass


class BeneficialOwner(Person):
    ownership_percent: Decimal = Field(gt=0, le=100, decimal_places=2)


class Business(Strict):
    legal_name: Annotated[str, Field(min_length=2, max_length=200)]
    registration_number: str = Field(min_length=2, max_length=60)
    country: CountryCode
    incorporation_date: PastDate
    # NACE Rev. 2 class or division, e.g. 62.01 (software) or 64 (financial services).
    industry_code: str = Field(pattern=_NACE.pattern, description="NACE Rev. 2 code, e.g. 62.01")
    website: str | None = Field(default=None, max_length=200, pattern=_URL.pattern)
    address: Address
    # Legal entities between the business and its ultimate owners (1 = owned directly).
    ownership_layers: int = Field(default=1, ge=1, le=10)
    documents: list[BusinessDocument] = Field(default_factory=list, max_length=10)
    directors: list[Director] = Field(min_length=1, max_length=20)
    beneficial_owners: list[BeneficialOwner] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _ownership_adds_up(self) -> Business:
        total = sum((o.ownership_percent for o in self.beneficial_owners), Decimal(0))
        if total > 100:
            raise ValueError(f"beneficial owners hold {total}% in total, more than 100%")
        return self


class ApplicationCreate(Strict):
    """`POST /api/v1/applications`: idempotent by `external_ref`."""

    external_ref: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9._:/-]+$",
        description="The upstream system's id for this application; re-submitting it starts nothing new.",
    )
    kind: Literal["individual", "business"]
    individual: Person | None = None
    business: Business | None = None
    expected_monthly_volume: Money | None = None

    @model_validator(mode="after")
    def _one_subject(self) -> ApplicationCreate:
        if self.kind == "individual" and (self.individual is None or self.business is not None):
            raise ValueError("an individual application has `individual` and no `business`")
        if self.kind == "business" and (self.business is None or self.individual is not None):
            raise ValueError("a business application has `business` and no `individual`")
        if self.kind == "business" and self.expected_monthly_volume is None:
            raise ValueError("a business application states its expected_monthly_volume")
        return self

    @property
    def display_name(self) -> str:
        if self.individual is not None:
            return self.individual.full_name
        assert self.business is not None
        return self.business.legal_name


class DocumentsSubmission(Strict):
    """`POST /api/v1/applications/{id}/documents`: the applicant answers a request for information."""

    documents: list[IdentityDocument] = Field(default_factory=list, max_length=10)
    business_documents: list[BusinessDocument] = Field(default_factory=list, max_length=10)
    # For a business: whose documents these are (a director's or owner's full name); empty
    # for the individual applicant or the business itself.
    person_name: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _something(self) -> DocumentsSubmission:
        if not self.documents and not self.business_documents and not self.note:
            raise ValueError("send at least one document or a note")
        return self
