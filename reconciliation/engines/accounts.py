"""Which bank account a statement is for, and whether a source lists it (pure: no I/O).

Banks name the account in many ways: camt.053 `<Acct><Id><IBAN>` or `<Othr><Id>`, MT940
`:25:` as an IBAN, a bank code and account number (`50880050/0194791600888`), a bank name
or BIC and account number (`TRIODOSBANK/0390123456`, `UBRTHUHB/12010611-01424475-00100006/HUF`),
or an account number with its currency glued on (`1291.99.348EUR`). A source lists one or
more identifiers in any of these forms; both sides are normalised the same way before they
are compared, so no one has to type an identifier exactly as one bank prints it.

IBANs are checked by ISO 13616 (mod 97) with the check the product already uses for
customer accounts (`shared.iban`), so no new dependency is needed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reconciliation.engines.lines import StatementRefused, StatementSection
from shared.iban import IBAN_LENGTHS, is_valid_iban

# Active ISO 4217 alphabetic codes: a trailing code is a currency suffix, not part of the
# account number (`1291.99.348EUR`, `…/HUF`).
ISO_CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW
    ZWL
    """.split()  # noqa: SIM905 (a list of 160 quoted codes reads worse)
)

_SEPARATORS = re.compile(r"[\s.\-]+")  # spaces, dots and dashes are layout, not identity
_IBAN_SHAPE = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")
_BIC = re.compile(r"[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?")
_PART = re.compile(r"[A-Z0-9]+")
_GLUED_CURRENCY = re.compile(r"(?P<account>.*\d)(?P<currency>[A-Z]{3})")
MAX_IDENTIFIER = 80
MAX_ACCOUNTS = 20


class AccountError(ValueError):
    """An identifier that cannot name an account; the message says why."""


@dataclass(frozen=True)
class AccountId:
    """One account identifier, normalised: an IBAN, or an account number with or without
    the bank (bank code, bank name or BIC) and with or without its currency."""

    account: str  # the IBAN or account number: upper case, no spaces, dots or dashes
    bank: str | None = None  # bank code, bank name or BIC (a BIC's XXX branch dropped)
    currency: str | None = None  # ISO 4217 suffix, when the identifier carries one
    iban: bool = False

    @property
    def kind(self) -> str:
        if self.iban:
            return "IBAN"
        if self.bank is None:
            return "account number"
        return "BIC + account number" if _BIC.fullmatch(self.bank) else "bank + account number"

    def __str__(self) -> str:
        text = self.account if self.bank is None else f"{self.bank}/{self.account}"
        return text if self.currency is None else f"{text}/{self.currency}"

    def same_account(self, other: AccountId) -> bool:
        """The same account, whatever the currency: a bank is compared only when both name
        one (an identifier without the bank is less specific, not different)."""
        if self.account != other.account:
            return False
        return self.bank is None or other.bank is None or self.bank == other.bank


def _clean(part: str) -> str:
    return _SEPARATORS.sub("", part).upper()


def _bank(part: str) -> str:
    # A BIC names a bank with or without its head-office branch code XXX.
    if len(part) == 11 and part.endswith("XXX") and _BIC.fullmatch(part):
        return part[:8]
    return part


def parse_account(text: str) -> AccountId:
    """Normalise one identifier as a statement or a person writes it (raises AccountError)."""
    raw = (text or "").strip()
    if not raw:
        raise AccountError("it is empty")
    if len(raw) > MAX_IDENTIFIER:
        raise AccountError(f"it is longer than {MAX_IDENTIFIER} characters")
    parts = [_clean(p) for p in raw.split("/")]
    parts = [p for p in parts if p]  # `:25:/0390123456` and trailing slashes say nothing
    if not parts:
        raise AccountError("it holds no account number")
    currency = None
    if len(parts) > 1 and parts[-1] in ISO_CURRENCIES:
        currency = parts.pop()
    if len(parts) > 2:
        raise AccountError(
            "it has too many parts; write an IBAN, an account number, or BANK/ACCOUNT "
            "(each optionally followed by /CURRENCY)"
        )
    account = parts[-1]
    bank = _bank(parts[0]) if len(parts) == 2 else None
    for part in (account, bank):
        if part is not None and not _PART.fullmatch(part):
            raise AccountError(f"{part!r} holds characters other than letters and digits")
    if currency is None and not is_valid_iban(account):
        glued = _GLUED_CURRENCY.fullmatch(account)
        if glued and glued["currency"] in ISO_CURRENCIES:
            account, currency = glued["account"], glued["currency"]
    iban = False
    if bank is None and _looks_like_iban(account):
        if not is_valid_iban(account):
            raise AccountError(
                f"{account} is not a valid IBAN (its check digits or length do not match)"
            )
        iban = True
    return AccountId(account=account, bank=bank, currency=currency, iban=iban)


def _looks_like_iban(account: str) -> bool:
    return bool(_IBAN_SHAPE.fullmatch(account)) and (
        account[:2] in IBAN_LENGTHS or not account[2:].isdigit()
    )


@dataclass(frozen=True)
class SourceAccounts:
    """What a source's identifiers came to: each one normalised, or a message per bad one."""

    texts: list[str]  # as typed (trimmed), one per distinct account, in the given order
    ids: list[AccountId]
    errors: list[str]


def check_source_accounts(texts: Iterable[str], currency: str) -> SourceAccounts:
    """A source's identifiers, validated: each parses, carries no currency but the source's,
    and none repeats another (compared normalised)."""
    kept: list[str] = []
    ids: list[AccountId] = []
    errors: list[str] = []
    for text in texts:
        shown = " ".join((text or "").split())
        if not shown:
            continue
        try:
            parsed = parse_account(shown)
        except AccountError as exc:
            errors.append(f"{shown}: {exc}")
            continue
        if parsed.currency and currency and parsed.currency != currency:
            errors.append(f"{shown}: its currency {parsed.currency} is not the source's {currency}")
            continue
        if any(parsed.same_account(other) and parsed.bank == other.bank for other in ids):
            continue  # the same account written twice
        kept.append(shown)
        ids.append(parsed)
    if len(kept) > MAX_ACCOUNTS:
        errors.append(f"at most {MAX_ACCOUNTS} accounts per source")
    return SourceAccounts(texts=kept, ids=ids, errors=errors)


def split_accounts(text: str) -> list[str]:
    """The form's text box: one identifier a line (commas and semicolons separate too)."""
    return [p.strip() for p in re.split(r"[\n\r,;]+", text or "") if p.strip()]


def account_problem(
    statement_account: str | None,
    listed: Sequence[str],
    *,
    source_name: str,
    source_currency: str,
) -> str | None:
    """Why a statement for `statement_account` does not belong to a source listing `listed`
    (None when it does). A source listing no account takes no statement."""
    if not listed:
        named = f" {statement_account}" if statement_account else ""
        return (
            f"this source ({source_name}) lists no accounts; add the statement's "
            f"account{named} to it first"
        )
    if not statement_account:
        return (
            f"the statement names no account, so it cannot be checked against "
            f"{source_name}'s accounts"
        )
    try:
        found = parse_account(statement_account)
    except AccountError as exc:
        return f"its account {statement_account} cannot be read: {exc}"
    if found.currency and found.currency != source_currency:
        return (
            f"its account {statement_account} is in {found.currency}, but {source_name} "
            f"is in {source_currency}"
        )
    for text in listed:
        try:
            mine = parse_account(text)
        except AccountError:
            continue  # saved before the rules tightened; it matches nothing
        if mine.same_account(found):
            return None
    return (
        f"it is for account {statement_account}, which {source_name} does not list "
        f"(it lists {', '.join(listed)})"
    )


def section_problem(
    section: StatementSection,
    *,
    source_name: str,
    source_format: str,
    listed: Sequence[str],
    source_currency: str,
) -> StatementRefused | None:
    """Why one account statement of a file does not belong to its source (None if it does):
    an account the source does not list, or another currency. A CSV report names no
    account, so only its currency is checked."""
    where = f"statement {section.statement_id or section.index + 1}"
    if source_format != "csv" or section.account:
        problem = account_problem(
            section.account, listed, source_name=source_name, source_currency=source_currency
        )
        if problem is not None:
            return StatementRefused(where, problem)
    if section.currency and section.currency != source_currency:
        return StatementRefused(
            where, f"it is in {section.currency}, but {source_name} is in {source_currency}"
        )
    return None
