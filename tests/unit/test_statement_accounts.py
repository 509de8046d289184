"""Statement account identifiers: the real `:25:` forms normalise and match the source that
lists them; another account, a wrong currency suffix or a bad IBAN does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciliation.engines.accounts import (
    AccountError,
    AccountId,
    account_problem,
    check_source_accounts,
    parse_account,
    split_accounts,
)

SAMPLES = Path("/work/shared/data/statements")

# The four real forms of issue 14 (the first and third from the shared MT940 samples;
# 50880050/… is the Deutsche Bank SEPA sample of the mt940 gems; the Raiffeisen Hungary
# form carries a Hungarian 3 x 8-digit account with dashes and a currency part).
TRIODOS = "TRIODOSBANK/0390123456"
DEUTSCHE = "50880050/0194791600888"
RABOBANK = "1291.99.348EUR"
RAIFFEISEN_HU = "UBRTHUHB/12010611-01424475-00100006/HUF"


def _problem(statement: str | None, listed: list[str], currency: str = "EUR") -> str | None:
    return account_problem(statement, listed, source_name="Main", source_currency=currency)


def test_the_real_forms_are_in_the_shared_samples() -> None:
    if not SAMPLES.exists():
        pytest.skip("shared statement samples are not on this machine")
    assert f":25:{TRIODOS}" in (SAMPLES / "mt940/jejik_triodos.sta").read_text()
    assert f":25:{RABOBANK}" in (SAMPLES / "mt940/jejik_rabobank.sta").read_text()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (TRIODOS, AccountId(account="0390123456", bank="TRIODOSBANK")),
        (DEUTSCHE, AccountId(account="0194791600888", bank="50880050")),
        (RABOBANK, AccountId(account="129199348", currency="EUR")),
        (
            RAIFFEISEN_HU,
            AccountId(account="120106110142447500100006", bank="UBRTHUHB", currency="HUF"),
        ),
        ("NL26 VAYB 8060 4768 90", AccountId(account="NL26VAYB8060476890", iban=True)),
        ("nl26vayb8060476890EUR", AccountId("NL26VAYB8060476890", currency="EUR", iban=True)),
        ("UBRTHUHBXXX/1201-0611", AccountId(account="12010611", bank="UBRTHUHB")),
        ("/0390123456", AccountId(account="0390123456")),
        ("123-456.789", AccountId(account="123456789")),
    ],
)
def test_identifiers_are_normalised(text: str, expected: AccountId) -> None:
    assert parse_account(text) == expected


@pytest.mark.parametrize(
    ("statement", "listed", "currency"),
    [
        (TRIODOS, ["TRIODOSBANK/0390123456"], "EUR"),
        (TRIODOS, ["triodosbank / 0390 1234 56"], "EUR"),
        (TRIODOS, ["0390123456"], "EUR"),  # the source does not say the bank: any bank
        (DEUTSCHE, ["50880050/0194791600888"], "EUR"),
        (DEUTSCHE, ["DE89370400440532013000", "50880050/0194791600888"], "EUR"),
        (RABOBANK, ["1291.99.348"], "EUR"),
        (RABOBANK, ["129199348EUR"], "EUR"),
        (RAIFFEISEN_HU, ["UBRTHUHB/12010611-01424475-00100006"], "HUF"),
        (RAIFFEISEN_HU, ["UBRTHUHB/120106110142447500100006/HUF"], "HUF"),
        ("NL26VAYB8060476890", ["NL26 VAYB 8060 4768 90"], "EUR"),
    ],
)
def test_a_real_form_matches_the_source_that_lists_it(
    statement: str, listed: list[str], currency: str
) -> None:
    assert _problem(statement, listed, currency) is None


def test_another_account_is_refused_naming_it() -> None:
    problem = _problem(TRIODOS, ["TRIODOSBANK/0390123457"])
    assert problem is not None
    assert "TRIODOSBANK/0390123456" in problem and "does not list" in problem


def test_another_bank_with_the_same_account_number_is_refused() -> None:
    assert _problem(DEUTSCHE, ["37040044/0194791600888"]) is not None


def test_a_currency_suffix_other_than_the_sources_currency_is_refused() -> None:
    problem = _problem(RABOBANK, ["1291.99.348"], currency="USD")
    assert problem is not None and "in EUR" in problem and "in USD" in problem
    assert _problem(RAIFFEISEN_HU, ["UBRTHUHB/12010611-01424475-00100006"], "EUR") is not None


def test_an_iban_with_a_bad_checksum_is_not_an_account() -> None:
    with pytest.raises(AccountError, match="not a valid IBAN"):
        parse_account("NL27VAYB8060476890")
    problem = _problem("NL27VAYB8060476890", ["NL26VAYB8060476890"])
    assert problem is not None and "not a valid IBAN" in problem


def test_a_source_with_no_accounts_takes_no_statement() -> None:
    problem = _problem(TRIODOS, [])
    assert problem is not None
    assert "lists no accounts" in problem and TRIODOS in problem


def test_a_statement_naming_no_account_is_not_taken() -> None:
    assert _problem(None, ["0390123456"]) is not None


def test_source_accounts_are_validated_and_deduplicated() -> None:
    checked = check_source_accounts(
        [" TRIODOSBANK/0390123456 ", "triodosbank/0390-123-456", "NL27VAYB8060476890", ""], "EUR"
    )
    assert checked.texts == ["TRIODOSBANK/0390123456"]
    assert len(checked.errors) == 1 and "NL27VAYB8060476890" in checked.errors[0]


def test_a_source_account_in_another_currency_is_refused() -> None:
    checked = check_source_accounts(["1291.99.348EUR"], "USD")
    assert checked.errors and "EUR" in checked.errors[0] and "USD" in checked.errors[0]


@pytest.mark.parametrize("text", ["", "A/B/C/D", "0390123456!", "x" * 81])
def test_unreadable_identifiers_say_why(text: str) -> None:
    with pytest.raises(AccountError):
        parse_account(text)


def test_the_form_box_takes_one_identifier_a_line() -> None:
    assert split_accounts(" NL26VAYB8060476890\n\nTRIODOSBANK/0390123456 ; 1291.99.348EUR") == [
        "NL26VAYB8060476890",
        "TRIODOSBANK/0390123456",
        "1291.99.348EUR",
    ]
