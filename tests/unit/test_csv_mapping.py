"""The CSV mapping a source stores: what it accepts from a form, what it explains per field,
and the ready layouts, each proven on a file laid out its way."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from reconciliation.engines.csv_mapping import (
    CARD_PROCESSOR_SETTLEMENT,
    EUROPEAN_BANK_CSV,
    GENERIC_BANK_CSV,
    PRESETS,
    CsvMapping,
)
from reconciliation.engines.lines import StatementLine, StatementSection
from reconciliation.engines.parsing import count_entries, detect_format, read_statement

D = Decimal


def problems_of(**fields: Any) -> dict[str, str]:
    """Field -> message, as a form shows them."""
    with pytest.raises(ValidationError) as raised:
        CsvMapping.model_validate(fields)
    return {
        str(error["loc"][0]) if error["loc"] else "": error["msg"]
        for error in raised.value.errors()
    }


def lines_of(data: bytes, mapping: CsvMapping) -> list[StatementLine]:
    return [
        item for item in read_statement("csv", data, mapping) if isinstance(item, StatementLine)
    ]


def test_a_form_post_is_tidied_into_a_mapping() -> None:
    mapping = CsvMapping.model_validate(
        {
            "delimiter": "tab",
            "booked_on": " Date ",
            "amount": "Amount",
            "direction": "D/C",
            "credit_values": "C, CR ,",
            "debit_values": "D,DR",
            "currency": "eur",
            "reference": "",
            "thousands_separator": " ",
        }
    )
    assert (mapping.delimiter, mapping.booked_on, mapping.currency) == ("\t", "Date", "EUR")
    assert (mapping.credit_values, mapping.debit_values) == (["C", "CR"], ["D", "DR"])
    assert mapping.reference is None
    assert mapping.thousands_separator == " "  # a space groups thousands; it is kept


def test_the_stored_json_reads_back_the_same() -> None:
    for _, preset in PRESETS.values():
        stored = preset.model_dump(mode="json")
        assert CsvMapping.model_validate(stored) == preset


def test_the_columns_it_reads_are_named_by_role_in_field_order() -> None:
    assert CARD_PROCESSOR_SETTLEMENT.columns() == {
        "booked_on": "Creation Date",
        "debit_amount": "Net Debit (NC)",
        "credit_amount": "Net Credit (NC)",
        "currency": "Net Currency",
        "reference": "Merchant Reference",
        "bank_reference": "Psp Reference",
        "description": "Type",
    }


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"booked_on": "d", "currency": "EUR"}, "amount", "Say where the amount is"),
        (
            {
                "booked_on": "d",
                "amount": "a",
                "debit_amount": "x",
                "credit_amount": "y",
                "currency": "EUR",
            },
            "amount",
            "not both",
        ),
        (
            {"booked_on": "d", "debit_amount": "x", "currency": "EUR"},
            "credit_amount",
            "needs the credit column",
        ),
        (
            {"booked_on": "d", "credit_amount": "y", "currency": "EUR"},
            "debit_amount",
            "needs the debit column",
        ),
        (
            {"booked_on": "d", "debit_amount": "x", "credit_amount": "x", "currency": "EUR"},
            "credit_amount",
            "two different columns",
        ),
        (
            {
                "booked_on": "d",
                "debit_amount": "x",
                "credit_amount": "y",
                "direction": "dc",
                "currency": "EUR",
            },
            "direction",
            "goes with an amount column",
        ),
        (
            {"booked_on": "d", "amount": "a", "direction": "a", "currency": "EUR"},
            "direction",
            "two different columns",
        ),
        (
            {
                "booked_on": "d",
                "amount": "a",
                "direction": "dc",
                "credit_values": "",
                "currency": "EUR",
            },
            "credit_values",
            "mark a credit",
        ),
        (
            {
                "booked_on": "d",
                "amount": "a",
                "direction": "dc",
                "credit_values": ["C", "x"],
                "debit_values": ["X"],
                "currency": "EUR",
            },
            "debit_values",
            "'x' cannot mark both",
        ),
        ({"booked_on": "d", "amount": "a"}, "currency", "Give the currency"),
        (
            {"booked_on": "d", "amount": "a", "currency": "EUR", "currency_column": "ccy"},
            "currency",
            "not both",
        ),
        (
            {"booked_on": "d", "amount": "a", "currency": "EURO"},
            "currency",
            "is not a currency code",
        ),
        ({"booked_on": "", "amount": "a", "currency": "EUR"}, "booked_on", "booking date"),
        (
            {"booked_on": "d", "amount": "a", "currency": "EUR", "delimiter": ";;"},
            "delimiter",
            "one character",
        ),
        (
            {"booked_on": "d", "amount": "a", "currency": "EUR", "delimiter": '"'},
            "delimiter",
            "one character",
        ),
        (
            {"booked_on": "d", "amount": "a", "currency": "EUR", "thousands_separator": "."},
            "thousands_separator",
            "cannot be the decimal separator",
        ),
        (
            {"booked_on": "d", "amount": "a", "currency": "EUR", "date_format": "%Y-%m"},
            "date_format",
            "day, month and year",
        ),
        (
            {"booked_on": "d", "amount": "a", "currency": "EUR", "date_format": "yyyy-mm-dd"},
            "date_format",
            "day, month and year",
        ),
        (
            {"booked_on": "d", "amount": "a", "currency": "EUR", "encoding": "klingon"},
            "encoding",
            "not a text encoding",
        ),
        (
            {"booked_on": "d", "amount": "a", "currency": "EUR", "decimal_separator": ";"},
            "decimal_separator",
            "'.' or ','",
        ),
        (
            {"booked_on": "d", "amount": "a", "currency": "EUR", "amout": "typo"},
            "amout",
            "Extra inputs are not permitted",
        ),
    ],
)
def test_each_problem_is_explained_on_its_field(
    fields: dict[str, Any], field: str, message: str
) -> None:
    problems = problems_of(**fields)
    assert field in problems, problems
    assert message in problems[field]


def test_several_problems_are_reported_together() -> None:
    problems = problems_of(booked_on="", delimiter="::", date_format="%H:%M", encoding="nope")
    assert set(problems) == {
        "booked_on",
        "delimiter",
        "date_format",
        "encoding",
        "amount",
        "currency",
    }


def test_presets_are_offered_with_labels() -> None:
    assert set(PRESETS) == {"card_processor_settlement", "generic_bank_csv", "european_bank_csv"}
    assert all(label and isinstance(mapping, CsvMapping) for label, mapping in PRESETS.values())
    assert PRESETS["card_processor_settlement"][1] is CARD_PROCESSOR_SETTLEMENT
    assert GENERIC_BANK_CSV.describe() == [
        "Columns separated by commas, text in utf-8; decimals after '.'.",
        "Booking date in 'Booking Date', written like 2024-03-15.",
        "The signed amount in 'Amount'; currency in 'Currency'.",
    ]


def test_card_processor_settlement_report_reads() -> None:
    data = (
        b"Company Account,Merchant Account,Psp Reference,Merchant Reference,Payment Method,"
        b"Creation Date,TimeZone,Type,Modification Reference,Gross Currency,Gross Debit (GC),"
        b"Gross Credit (GC),Exchange Rate,Net Currency,Net Debit (NC),Net Credit (NC),"
        b"Commission (NC),Batch Number\n"
        b"Acme,AcmeEU,8815000000000001,ORDER-1,visa,2024-03-04 10:12:43,CET,Settled,"
        b"8815000000000001,EUR,,100.00,1,EUR,,98.55,1.45,12\n"
        b"Acme,AcmeEU,8815000000000002,ORDER-0,mc,2024-03-04 11:00:00,CET,Refunded,"
        b"8815000000000003,EUR,20.00,,1,EUR,20.00,,,12\n"
        b"Acme,AcmeEU,,,,2024-03-04 23:00:00,CET,Fee,,EUR,,,1,EUR,0.12345,,,12\n"
    )
    assert detect_format(data) == "csv"
    assert count_entries("csv", data, CARD_PROCESSOR_SETTLEMENT) == 3
    lines = lines_of(data, CARD_PROCESSOR_SETTLEMENT)
    assert [line.amount for line in lines] == [D("98.55"), D("-20.00"), D("-0.12345")]
    assert [line.reference for line in lines] == ["ORDER-1", "ORDER-0", None]
    assert [line.bank_reference for line in lines] == ["8815000000000001", "8815000000000002", None]
    assert [line.description for line in lines] == ["Settled", "Refunded", "Fee"]
    assert {line.booked_on.isoformat() for line in lines} == {"2024-03-04"}
    assert {line.currency for line in lines} == {"EUR"}


def test_generic_bank_csv_reads() -> None:
    data = (
        b"Booking Date,Value Date,Amount,Currency,Reference,Bank Reference,Counterparty,"
        b"Counterparty Account,Description\n"
        b'2024-03-01,2024-03-01,1500.00,EUR,INV-2024-001,BR1,"Acme, Inc.",NL91ABNA0417164300,Invoice\n'
        b"2024-03-02,2024-03-04,-49.90,EUR,,BR2,Telco,,Subscription\n"
    )
    items = list(read_statement("csv", data, GENERIC_BANK_CSV))
    first, second, section = items
    assert isinstance(first, StatementLine) and isinstance(second, StatementLine)
    assert (first.counterparty_name, first.counterparty_account) == (
        "Acme, Inc.",
        "NL91ABNA0417164300",
    )
    assert second.value_date is not None and second.value_date.isoformat() == "2024-03-04"
    assert isinstance(section, StatementSection) and section.entries_sum == D("1450.10")


def test_european_bank_csv_reads() -> None:
    data = (
        "Buchungstag;Valuta;Buchungstext;Name;IBAN;Verwendungszweck;Soll;Haben\r\n"
        "01.03.2024;01.03.2024;Gutschrift;Müller GmbH;DE89370400440532013000;RE 4711;;1.234,50\r\n"
        "04.03.2024;05.03.2024;Lastschrift;Stadtwerke;;Abschlag März;89,00;\r\n"
    ).encode("cp1252")
    lines = lines_of(data, EUROPEAN_BANK_CSV)
    assert [line.amount for line in lines] == [D("1234.50"), D("-89.00")]
    assert [line.reference for line in lines] == ["RE 4711", "Abschlag März"]
    assert lines[0].counterparty_name == "Müller GmbH"
    assert {line.currency for line in lines} == {"EUR"}
