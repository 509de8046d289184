"""What an MT940 entry's free text (:86:, and the rest of :61:) says about the payment.

Banks lay :86: out in their own ways. We recognise the common ones: the German structured
layout (?20 purpose, ?31 IBAN, ?32 name; parsed by the mt-940 library), the Dutch SEPA
layout (/EREF/.../NAME/.../IBAN/.../REMI/...), and a few fixed phrases ("REK: ... /NAAM:",
"BETALINGSKENM."). Anything else is kept whole as the description: best effort, never a
guess presented as fact.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from shared.iban import is_valid_iban

_NO_REFERENCE = "NONREF"
# Rabobank writes one of these as the :61: reference to say "the reference is in :86:".
_REFERENCE_IN_DETAILS = ("EREF", "PREF", "MARF")
# :86: is wrapped at 65 characters (64 on the first line at some banks), mid-word.
_WRAPPED_WIDTH = 64
_SLASH_FIELDS = re.compile(
    r"/(EREF|PREF|MARF|BENM|ORDP|NAME|IBAN|BIC|REMI|ADDR|CSID|RTRN|ISDT|TRTP|PURP|CNTP|ULTB|ULTD|SVCL)/"
)
_REK_NAAM = re.compile(r"REK:\s*(?P<account>[A-Z0-9]+)\s*/\s*NAAM:\s*(?P<name>.+)")
_GIRO = re.compile(r"^GIRO\s+(?P<account>\d+)\s+(?P<name>.+?)(?:\s{2,}|$)")
_IBAN_SHAPED = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}")
_PAYMENT_REFERENCE = re.compile(r"BETALINGSKENM\.?:?\s*(?P<reference>\d+)")


@dataclass(frozen=True, slots=True)
class Details:
    reference: str | None
    bank_reference: str | None
    counterparty_name: str | None
    counterparty_account: str | None
    description: str | None


def read_details(data: dict[str, Any]) -> Details:
    """The entry's references, counterparty and description from the library's fields."""
    customer = _clean(data.get("customer_reference"))
    extra = _clean(data.get("extra_details"))
    text = data.get("transaction_details")
    text = text if isinstance(text, str) else ""
    fields = _slash_fields(text)
    reference: str | None = customer
    name = _clean(data.get("applicant_name"))
    account = _clean(data.get("applicant_iban")) or _clean(data.get("gvc_applicant_iban"))

    if customer and customer.upper() in _REFERENCE_IN_DETAILS:
        reference = fields.get(customer.upper())
    elif customer and (
        is_valid_iban(customer) or (extra and text.startswith(f"{customer} {extra}"))
    ):
        # ASN / SNS put the counterparty's account (and name, next line) where the
        # reference goes, and repeat them at the start of :86:.
        account = account or customer
        name = name or extra
        reference = None
    reference = (
        reference
        or _clean(data.get("end_to_end_reference"))
        or fields.get("EREF")
        or _match(_PAYMENT_REFERENCE, text, "reference")
    )
    if extra and _IBAN_SHAPED.fullmatch(extra):
        account = account or extra
    account = account or fields.get("IBAN") or _match(_REK_NAAM, text, "account")
    account = account or _match(_GIRO, text, "account")
    name = name or fields.get("NAME") or _match(_REK_NAAM, text, "name")
    name = name or _match(_GIRO, text, "name")

    purpose = _clean(data.get("purpose"))
    description = purpose or fields.get("REMI") or _one_line(text)
    description = description or _one_line(data.get("non_swift_text") or "") or extra
    return Details(
        reference=reference,
        bank_reference=_clean(data.get("bank_reference")),
        counterparty_name=name,
        counterparty_account=account,
        description=description,
    )


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    return None if not text or text.upper() == _NO_REFERENCE else text


def _unwrap(text: str) -> str:
    """Undo the fixed-width wrap: a full line running into the next one continues mid-word."""
    lines = text.split("\n")
    out = [lines[0]]
    for previous, line in itertools.pairwise(lines):
        glued = len(previous) >= _WRAPPED_WIDTH and previous[-1:] != " " and line[:1] != " "
        out.append(line if glued else "\n" + line)
    return "".join(out)


def _one_line(text: str) -> str | None:
    return " ".join(text.split()) or None


def _slash_fields(text: str) -> dict[str, str]:
    """/EREF/x/NAME/y/... -> {"EREF": "x", "NAME": "y"} (empty values left out)."""
    if not text.lstrip().startswith("/"):
        return {}
    # Only here is the wrap undone: the /KEY/ markers say where values end, whereas in
    # free text a full-width line may as well end a column (ABN AMRO's two-column layout).
    text = _unwrap(text)
    found = list(_SLASH_FIELDS.finditer(text))
    fields: dict[str, str] = {}
    for current, following in zip(found, [*found[1:], None], strict=True):
        end = following.start() if following else len(text)
        value = " ".join(text[current.end() : end].strip("/").split())
        if value:
            fields.setdefault(current.group(1), value)
    return fields


def _match(pattern: re.Pattern[str], text: str, group: str) -> str | None:
    match = pattern.search(text)
    return match.group(group).strip() or None if match else None
