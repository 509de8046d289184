"""Statement files in, lines and sections out: every bank sample we hold, the refusals (with
where and why), and the safety of the XML reader."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from reconciliation.engines.csv_mapping import CsvMapping
from reconciliation.engines.lines import StatementLine, StatementRefused, StatementSection
from reconciliation.engines.parsing import count_entries, detect_format, read_statement

SAMPLES = Path(__file__).parents[2] / "data" / "statements"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@dataclass
class Read:
    items: list[StatementLine | StatementSection]

    @property
    def lines(self) -> list[StatementLine]:
        return [item for item in self.items if isinstance(item, StatementLine)]

    @property
    def sections(self) -> list[StatementSection]:
        return [item for item in self.items if isinstance(item, StatementSection)]

    def amounts(self, section: int) -> list[Decimal]:
        return [line.amount for line in self.lines if line.section == section]


def read(fmt: str, data: bytes, mapping: CsvMapping | None = None) -> Read:
    return Read(list(read_statement(fmt, data, mapping)))


def refusal(fmt: str, data: bytes, mapping: CsvMapping | None = None) -> StatementRefused:
    with pytest.raises(StatementRefused) as raised:
        read(fmt, data, mapping)
    return raised.value


def adds_up(section: StatementSection) -> bool:
    assert section.opening_balance is not None and section.closing_balance is not None
    return section.opening_balance + section.entries_sum == section.closing_balance


def text_line(data: bytes, location: str) -> str:
    """The text of the file line a location ("line 17, ...") points at."""
    number = int(location.removeprefix("line ").split(",")[0])
    return data.decode("utf-8", "replace").split("\n")[number - 1]


def line_of(data: bytes, needle: bytes) -> int:
    return data[: data.index(needle)].count(b"\n") + 1


D = Decimal

# ---------------------------------------------------------------------------------------
# Every sample: the format it is detected as, and a count that matches what is read.

CAMT = [
    "camt053/camt053.v2.minimal.xml",
    "camt053/camt053.v2.five.decimals.xml",
    "camt053/camt053.v2.multi.statement.xml",
    "camt053/camt053.v2.with-party-ids.xml",
    "camt053/camt053.v3.xml",
    "camt053/camt053.v4.xml",
    "camt053/camt053.v8.xml",
    "camt053/camt053.v2.no-account-currency.xml",
]
MT940 = [
    "mt940/asnb_0708271685.sta",
    "mt940/jejik_abnamro.sta",
    "mt940/jejik_generic.sta",
    "mt940/jejik_ing.sta",
    "mt940/jejik_knab.sta",
    "mt940/jejik_postfinance.sta",
    "mt940/jejik_rabobank-iban.sta",
    "mt940/jejik_rabobank.sta",
    "mt940/jejik_sns.sta",
    "mt940/jejik_triodos.sta",
    "mt940/mBank_mt940.sta",
    "mt940/sberbank_171011_01234945.sta",
]

SAMPLE_FORMATS = [(name, "camt053") for name in CAMT] + [(name, "mt940") for name in MT940]


def test_every_sample_on_disk_is_covered_here() -> None:
    on_disk = {
        str(path.relative_to(SAMPLES))
        for path in SAMPLES.rglob("*")
        if path.is_file() and path.suffix != ".md"
    }
    assert on_disk == {*CAMT, *MT940, "camt053/camt053.v2.wrong.xml"}


@pytest.mark.parametrize(("name", "fmt"), SAMPLE_FORMATS)
def test_each_sample_is_detected_as_its_format(name: str, fmt: str) -> None:
    assert detect_format(sample(name)) == fmt


@pytest.mark.parametrize(("name", "fmt"), SAMPLE_FORMATS)
def test_the_byte_count_equals_the_lines_read(name: str, fmt: str) -> None:
    data = sample(name)
    result = read(fmt, data)
    assert count_entries(fmt, data) == len(result.lines)
    assert [line.line_no for line in result.lines] == list(range(1, len(result.lines) + 1))


@pytest.mark.parametrize(("name", "fmt"), SAMPLE_FORMATS)
def test_each_section_follows_its_own_lines(name: str, fmt: str) -> None:
    result = read(fmt, sample(name))
    expected_section = 0
    for item in result.items:
        if isinstance(item, StatementLine):
            assert item.section == expected_section
        else:
            assert item.index == expected_section
            assert item.entries == len(result.amounts(item.index))
            assert item.entries_sum == sum(result.amounts(item.index), D(0))
            expected_section += 1
    assert isinstance(result.items[-1], StatementSection)


# ---------------------------------------------------------------------------------------
# camt.053 samples.


def test_camt_v2_minimal_marks_its_closing_balance_as_a_debit() -> None:
    result = read("camt053", sample("camt053/camt053.v2.minimal.xml"))
    (line,) = result.lines
    (section,) = result.sections
    assert (line.amount, line.currency, line.booked_on.isoformat()) == (
        D("8.85"),
        "EUR",
        "2014-12-31",
    )
    assert line.value_date is not None and line.value_date.isoformat() == "2015-01-02"
    # A credit: the counterparty is the debtor.
    assert (line.counterparty_name, line.counterparty_account) == (
        "NAME NAME",
        "NL56AGDH9619008421",
    )
    # No end-to-end id: the structured creditor reference is what there is to match on.
    assert line.reference == "4654654654654654"
    assert section.statement_id == "253EURNL26VAYB8060476890"
    assert (section.account, section.currency) == ("NL26VAYB8060476890", "EUR")
    assert section.opening_balance == D("18.15")
    assert section.period_from is not None and section.period_from.isoformat() == "2007-10-18"
    # The bank's own sample: 18.15 + 8.85 is 27.00, but CLBD says DBIT (and SEK).
    assert section.closing_balance == D("-27.00")
    assert section.opening_balance + section.entries_sum == -section.closing_balance
    assert not adds_up(section)


def test_camt_five_decimals_keeps_every_decimal_and_is_off_by_five_cents() -> None:
    result = read("camt053", sample("camt053/camt053.v2.five.decimals.xml"))
    (line,) = result.lines
    (section,) = result.sections
    assert line.amount == D("8.850") and str(line.amount) == "8.850"
    assert (line.reference, line.description) == ("000000001", "Transaction Description")
    # A credit naming only the creditor (that is us): no counterparty to report.
    assert (line.counterparty_name, line.counterparty_account) == (None, None)
    assert (section.opening_balance, section.closing_balance) == (D("18.150"), D("27.050"))
    # The bank's sample does not add up: 18.150 + 8.850 = 27.000, not 27.050.
    assert D("18.150") + section.entries_sum == D("27.000")
    assert not adds_up(section)


def test_camt_multi_statement_file_gives_two_consistent_sections() -> None:
    data = sample("camt053/camt053.v2.multi.statement.xml")
    result = read("camt053", data)
    first, second = result.sections
    assert [s.statement_id for s in result.sections] == [
        "253EURNL26VAYB8060476890",
        "254EURNL26VAYB8060476890",
    ]
    assert result.amounts(0) == [D("8.85")] and result.amounts(1) == [D("-7.00")]
    assert (first.opening_balance, first.closing_balance) == (D("18.15"), D("27.00"))
    assert (second.opening_balance, second.closing_balance) == (D("27.00"), D("20.00"))
    assert adds_up(first) and adds_up(second)
    debit = result.lines[1]
    # A debit: the counterparty is the creditor.
    assert (debit.counterparty_name, debit.counterparty_account) == (
        "Company Name 2",
        "NL56AGDH9619008421",
    )
    assert (debit.reference, debit.description) == ("000000002", "Transaction Description 2")
    entry_line = line_of(data, b'<Amt Ccy="EUR">7.00') - 1  # <Ntry> is the line above
    assert debit.location == f"line {entry_line}, entry 1 of statement 2"


def test_camt_with_party_ids_reads_like_the_minimal_one() -> None:
    result = read("camt053", sample("camt053/camt053.v2.with-party-ids.xml"))
    (line,) = result.lines
    assert (line.amount, line.counterparty_name, line.counterparty_account) == (
        D("8.85"),
        "NAME NAME",
        "NL56AGDH9619008421",
    )
    assert not adds_up(result.sections[0])  # the same DBIT closing balance as the minimal


def test_camt_v3_uses_the_other_account_id_and_the_entry_amount_not_the_transaction_one() -> None:
    result = read("camt053", sample("camt053/camt053.v3.xml"))
    (line,) = result.lines
    (section,) = result.sections
    assert section.account == "NL26VAYB8060476890"  # Acct/Id/Othr/Id
    # TxDtls says 105.750, the entry (what was booked) 8.85.
    assert line.amount == D("8.85")
    assert line.bank_reference == "XXXXXXXXXXXXXXXXXXXXXXEUR"
    assert line.counterparty_name == "NAME NAME"
    assert section.closing_balance == D("-27.00") and not adds_up(section)


def test_camt_v4_reads_the_account_servicer_reference() -> None:
    result = read("camt053", sample("camt053/camt053.v4.xml"))
    (line,) = result.lines
    assert line.bank_reference == "AAAASESS-FP-CN_98765/01"
    assert line.reference == "4654654654654654"
    assert result.sections[0].closing_date is not None
    assert result.sections[0].closing_date.isoformat() == "2014-12-30"


def test_camt_v8_unwraps_parties_and_reads_date_times() -> None:
    result = read("camt053", sample("camt053/camt053.v8.xml"))
    (line,) = result.lines
    (section,) = result.sections
    assert line.booked_on.isoformat() == "2014-12-31"  # from <DtTm>2014-12-31T13:15:00+01:00
    assert line.reference == "MUELL/FINP/RA12345"
    assert (line.counterparty_name, line.counterparty_account) == (
        "NAME NAME",
        "NL56AGDH9619008421",
    )
    # No <Ccy> on the account: the currency comes from the balances.
    assert section.currency == "EUR"
    assert not adds_up(section)


def test_camt_without_a_statement_is_refused() -> None:
    data = sample("camt053/camt053.v2.wrong.xml")
    assert detect_format(data) == "camt053"  # it says it is one
    refused = refusal("camt053", data)
    assert refused.reason == "no <Stmt> in the document: this is not a bank statement"


# ---------------------------------------------------------------------------------------
# camt.053 refusals, made from the minimal sample.


def minimal_with(old: bytes, new: bytes) -> bytes:
    data = sample("camt053/camt053.v2.minimal.xml")
    assert old in data
    return data.replace(old, new, 1)


def test_camt_amount_that_is_not_a_number_is_refused_where_it_is() -> None:
    data = minimal_with(b'<Amt Ccy="EUR">8.85</Amt>', b'<Amt Ccy="EUR">12,3X</Amt>')
    refused = refusal("camt053", data)
    assert (
        refused.location
        == f"line {line_of(data, b'12,3X')}, element <Amt> of entry 1 of statement 1"
    )
    assert refused.reason == "'12,3X' is not an amount"


def test_camt_more_than_five_decimals_is_refused_and_five_are_kept() -> None:
    refused = refusal("camt053", minimal_with(b">8.85<", b">8.123456<"))
    assert refused.reason == "'8.123456' has more than 5 decimal places"
    (line,) = read("camt053", minimal_with(b">8.85<", b">8.12345<")).lines
    assert line.amount == D("8.12345")


def test_camt_unknown_credit_debit_indicator_is_refused() -> None:
    data = minimal_with(
        b"<CdtDbtInd>CRDT</CdtDbtInd>\n                <RvslInd>",
        b"<CdtDbtInd>CRED</CdtDbtInd>\n                <RvslInd>",
    )
    refused = refusal("camt053", data)
    assert refused.location.endswith("element <CdtDbtInd> of entry 1 of statement 1")
    assert refused.reason == "'CRED' is neither CRDT (credit) nor DBIT (debit)"


def test_camt_broken_xml_is_refused_with_the_parser_line() -> None:
    data = minimal_with(b"</BookgDt>", b"</BookingDate>")
    refused = refusal("camt053", data)
    assert refused.location == f"line {line_of(data, b'</BookingDate>')}"
    assert refused.reason.startswith("the XML is broken: ")


@pytest.mark.parametrize(
    ("namespace", "reason"),
    [
        ("camt.052.001.08", "camt.052 is an intraday report, not a statement (camt.053)"),
        ("camt.054.001.08", "camt.054 is a debit/credit notification, not a statement (camt.053)"),
        ("pain.001.001.09", "pain.001 is a payment order, not a statement (camt.053)"),
        (
            "camt.053.001.14",
            "camt.053 version 001.14 is not one we read (versions 001.02 to 001.13)",
        ),
        (
            "acmt.001.001.08",
            "acmt.001.001.08 is an ISO 20022 message of another kind, not a statement (camt.053)",
        ),
    ],
)
def test_other_iso20022_messages_are_named_and_refused(namespace: str, reason: str) -> None:
    data = minimal_with(b"camt.053.001.02", namespace.encode())
    with pytest.raises(StatementRefused) as detected:
        detect_format(data)
    assert detected.value.reason == reason
    assert refusal("camt053", data).reason == reason


@pytest.mark.parametrize("version", range(2, 14))
def test_every_camt053_version_from_02_to_13_is_read(version: int) -> None:
    data = minimal_with(b"camt.053.001.02", f"camt.053.001.{version:02d}".encode())
    assert detect_format(data) == "camt053"
    assert [line.amount for line in read("camt053", data).lines] == [D("8.85")]


def test_xml_that_is_not_iso20022_is_refused() -> None:
    data = b'<?xml version="1.0"?>\n<html><body>hello</body></html>\n'
    assert "not an ISO 20022 document" in refusal("camt053", data).reason
    with pytest.raises(StatementRefused):
        detect_format(data)


def test_an_external_entity_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    data = minimal_with(
        b'<?xml version="1.0" encoding="UTF-8"?>',
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        + f'<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file://{secret}">]>'.encode(),
    ).replace(b"<AddtlStmtInf>Additional Information", b"<AddtlStmtInf>&xxe;", 1)
    data = data.replace(b"<Nm>NAME NAME</Nm>", b"<Nm>&xxe;</Nm>", 1)
    result = read("camt053", data)
    seen = repr(result.items)
    assert "TOP-SECRET" not in seen
    assert result.lines[0].amount == D("8.85")


def camt(entries: str, opening: str = "0.00", closing: str = "0.00") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
<BkToCstmrStmt><GrpHdr><MsgId>M</MsgId><CreDtTm>2024-03-02T06:00:00</CreDtTm></GrpHdr>
<Stmt><Id>S1</Id><Acct><Id><IBAN>NL91ABNA0417164300</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>PRCD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{opening}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-03-01</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{closing}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-03-01</Dt></Dt></Bal>
{entries}
</Stmt></BkToCstmrStmt></Document>
""".encode()


def entry(amount: str, indicator: str, details: str = "", extra: str = "") -> str:
    return (
        f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>{extra}'
        f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2024-03-01</Dt></BookgDt>{details}</Ntry>"
    )


def test_camt_reversal_keeps_the_direction_the_bank_booked() -> None:
    # ISO 20022: CdtDbtInd is this booking's direction; RvslInd says it undoes an earlier
    # one. A credit of 100 and its reversal (DBIT + RvslInd) leave the balance unchanged.
    parties = (
        "<NtryDtls><TxDtls><Refs><EndToEndId>E2E-1</EndToEndId></Refs><RltdPties>"
        "<Dbtr><Pty><Nm>Payer</Nm></Pty></Dbtr><Cdtr><Pty><Nm>Us</Nm></Pty></Cdtr>"
        "</RltdPties></TxDtls></NtryDtls>"
    )
    data = camt(
        entry("100.00", "CRDT", parties)
        + entry("100.00", "DBIT", parties, extra="<RvslInd>true</RvslInd>")
    )
    result = read("camt053", data)
    assert result.amounts(0) == [D("100.00"), D("-100.00")]
    assert adds_up(result.sections[0])
    # The reversal's counterparty is still the payer of the original credit.
    assert [line.counterparty_name for line in result.lines] == ["Payer", "Payer"]


def test_camt_batch_booking_is_one_line_with_the_entry_amount() -> None:
    tx = "<TxDtls><Refs><EndToEndId>E{n}</EndToEndId></Refs><RltdPties><Cdtr><Nm>Supplier {n}</Nm></Cdtr></RltdPties></TxDtls>"
    details = (
        "<NtryDtls><Btch><PmtInfId>PAYRUN-7</PmtInfId><NbOfTxs>3</NbOfTxs></Btch>"
        + "".join(tx.format(n=n) for n in range(3))
        + "</NtryDtls>"
    )
    result = read(
        "camt053", camt(entry("300.00", "DBIT", details), closing="300.00", opening="600.00")
    )
    (line,) = result.lines
    assert line.amount == D("-300.00")
    assert line.reference == "PAYRUN-7"
    assert (line.counterparty_name, line.description) == (None, "Batch of 3 transactions")
    assert adds_up(result.sections[0])
    assert count_entries("camt053", camt(entry("300.00", "DBIT", details))) == 1


def test_camt_end_to_end_id_not_provided_falls_back_to_the_payment_ids() -> None:
    details = "<NtryDtls><TxDtls><Refs><MsgId>MSG-9</MsgId><EndToEndId>NOTPROVIDED</EndToEndId><InstrId>I-1</InstrId></Refs></TxDtls></NtryDtls>"
    (line,) = read("camt053", camt(entry("5.00", "CRDT", details), closing="5.00")).lines
    assert line.reference == "MSG-9"


def test_camt_pending_entries_are_not_statement_lines() -> None:
    pending = entry("7.00", "CRDT").replace("<Cd>BOOK</Cd>", "<Cd>PDNG</Cd>")
    result = read("camt053", camt(entry("5.00", "CRDT") + pending, closing="5.00"))
    assert result.amounts(0) == [D("5.00")]
    assert adds_up(result.sections[0])


def test_camt_entry_location_names_its_place_in_a_long_file() -> None:
    entries = "\n".join(entry(f"{n}.00", "CRDT") for n in range(1, 301))
    total = sum(range(1, 301))
    data = camt(entries, closing=f"{total}.00")
    result = read("camt053", data)
    assert len(result.lines) == 300 and adds_up(result.sections[0])
    last = result.lines[-1]
    assert last.location == f"line {line_of(data, b'>300.00<')}, entry 300 of statement 1"
    broken = data.replace(b">250.00<", b">25O.00<")
    refused = refusal("camt053", broken)
    assert (
        refused.location
        == f"line {line_of(broken, b'25O.00')}, element <Amt> of entry 250 of statement 1"
    )


# ---------------------------------------------------------------------------------------
# MT940 samples, checked against the files' own text.


@dataclass(frozen=True)
class Expected:
    opening: str
    closing: str
    amounts: tuple[str, ...]
    adds_up: bool = True


MT940_EXPECTED: dict[str, list[Expected]] = {
    "mt940/jejik_generic.sta": [
        Expected("100.00", "90.00", ("-10.00",)),
        Expected("90.00", "80.00", ("-10.00",)),
    ],
    # ABN AMRO's sample: the entries do not explain the balances (bank test data).
    "mt940/jejik_abnamro.sta": [
        Expected(
            "3236.28",
            "876.84",
            ("-9", "-11.59", "-11.63", "-11.8", "-13.45", "-15.49", "-107", "-141.48"),
            adds_up=False,
        ),
        Expected("2876.84", "1849.75", ("-9.49", "-15"), adds_up=False),
    ],
    "mt940/jejik_ing.sta": [
        Expected(
            "0.00",
            "3.47",
            ("-25.03", "-3.03", "-1.11", "-20.00", "-1.10", "3.68", "1.00"),
            adds_up=False,
        ),
    ],
    "mt940/jejik_knab.sta": [
        Expected("0", "500", ("500",)),
        Expected("3058.98", "798.98", ("-7260", "500"), adds_up=False),
    ],
    # PostFinance's second statement is 0.20 off: 229.2 - 79.9 + 10.1 = 159.4, not 159.6.
    "mt940/jejik_postfinance.sta": [
        Expected("0", "229.2", ("79.7", "149.5")),
        Expected("229.2", "159.6", ("-79.9", "10.1"), adds_up=False),
    ],
    "mt940/jejik_rabobank-iban.sta": [
        Expected("1000.00", "965.00", ("-25.00", "-10.00")),
        Expected("965.00", "930.00", ("-25.00", "-10.00")),
    ],
    "mt940/jejik_rabobank.sta": [
        Expected("473.17", "395.82", ("-1213.28",), adds_up=False),
        Expected("1000.89", "1000.89", ()),
        Expected("1295.82", "1250.87", ("-44.95", "-236.56"), adds_up=False),
        Expected("4196.12", "4101.82", ("-88.10", "-6.20")),
    ],
    "mt940/jejik_sns.sta": [
        Expected("1234.56", "1209.56", ("-20.00", "-5.00")),
        Expected("1209.56", "1209.56", ()),
    ],
    "mt940/jejik_triodos.sta": [
        Expected("4975.09", "4370.79", ("-15.70", "-700.00"), adds_up=False),
    ],
    "mt940/mBank_mt940.sta": [Expected("0.40", "0.43", ("0.01", "0.01", "0.01"))],
    "mt940/sberbank_171011_01234945.sta": [
        Expected("627311.30", "617874.30", ("-2402.00", "-3460.00", "-3575.00")),
    ],
}


@pytest.mark.parametrize("name", sorted(MT940_EXPECTED))
def test_mt940_sample_balances_and_amounts(name: str) -> None:
    result = read("mt940", sample(name))
    expected = MT940_EXPECTED[name]
    assert len(result.sections) == len(expected)
    for section, want in zip(result.sections, expected, strict=True):
        assert section.opening_balance == D(want.opening)
        assert section.closing_balance == D(want.closing)
        assert result.amounts(section.index) == [D(a) for a in want.amounts]
        assert adds_up(section) is want.adds_up


def test_mt940_asn_file_of_a_month_chains_31_daily_statements() -> None:
    result = read("mt940", sample("mt940/asnb_0708271685.sta"))
    assert len(result.sections) == 31
    assert all(adds_up(section) for section in result.sections)
    for before, after in zip(result.sections, result.sections[1:], strict=False):
        assert after.opening_balance == before.closing_balance
    assert (result.sections[0].opening_balance, result.sections[-1].closing_balance) == (
        D("444.29"),
        D("501.23"),
    )
    assert [line.amount for line in result.lines] == [
        D(a)
        for a in (
            "-65.00",
            "1000.00",
            "-801.55",
            "-1.65",
            "828.72",
            "-1000.00",
            "1000.18",
            "-903.76",
        )
    ]
    first = result.lines[0]
    # ASN puts the counterparty's IBAN where the reference goes, its name on the next line.
    assert (first.counterparty_account, first.counterparty_name, first.reference) == (
        "NL47INGB9999999999",
        "hr gjlm paulissen",
        None,
    )
    assert result.sections[4].statement_id == "0000000000 5/1"
    assert result.sections[0].account == "NL81ASNB9999999999"


@pytest.mark.parametrize("name", MT940)
def test_mt940_locations_point_at_the_fields_in_the_file(name: str) -> None:
    data = sample(name)
    result = read("mt940", data)
    for line in result.lines:
        assert text_line(data, line.location).startswith(":61:"), line.location
    for section in result.sections:
        assert text_line(data, section.location).startswith(":20:"), section.location


def test_mt940_generic_sample_matches_the_brief() -> None:
    result = read("mt940", sample("mt940/jejik_generic.sta"))
    first, second = result.sections
    assert (first.account, first.currency, first.statement_id) == ("11111111", "EUR", "GENERIC 1")
    assert (first.opening_balance, first.closing_balance) == (D("100.00"), D("90.00"))
    assert (second.opening_balance, second.closing_balance) == (D("90.00"), D("80.00"))
    assert first.closing_date is not None and first.closing_date.isoformat() == "2011-02-01"
    # NONREF and an empty :86:: nothing to match on, and nothing invented.
    assert [(line.reference, line.bank_reference, line.description) for line in result.lines] == [
        (None, None, None),
        (None, None, None),
    ]


def test_mt940_references_and_counterparties_where_banks_give_them() -> None:
    knab = read("mt940", sample("mt940/jejik_knab.sta")).lines
    assert [line.bank_reference for line in knab] == [
        "B4E07XM00J000023",
        "B4G29PGCVO7Q06US",
        "B4G29PGDCK1QFV3E",
    ]
    assert (knab[1].counterparty_name, knab[1].counterparty_account) == (
        "PICQER",
        "NL65INGB0123456789",
    )
    assert knab[2].reference == "29-07-2014 10:05"

    rabo = read("mt940", sample("mt940/jejik_rabobank-iban.sta")).lines
    # Rabobank's "EREF" says: the reference is the /EREF/ of :86: (wrapped mid-word there).
    assert rabo[0].reference == "01-01-2013 12:00 0030000987654321"
    assert (rabo[0].counterparty_name, rabo[0].counterparty_account) == (
        "CONTRA ACCOUNT HOLDER",
        "NL70ABNA0987654321",
    )
    assert (rabo[1].counterparty_name, rabo[1].description) == ("JOHN DOE", "Reference 201301234")

    abn = read("mt940", sample("mt940/jejik_abnamro.sta")).lines
    assert (abn[0].reference, abn[0].counterparty_name, abn[0].counterparty_account) == (
        "000000042188659",
        "KPN - DIGITENNE",
        "428428",
    )
    assert abn[0].booked_on.isoformat() == "2011-05-24"
    assert (abn[1].value_date and abn[1].value_date.isoformat(), abn[1].booked_on.isoformat()) == (
        "2011-05-21",
        "2011-05-23",
    )

    ing = read("mt940", sample("mt940/jejik_ing.sta")).lines
    assert ing[2].reference == "TMG TANGO"
    # The :86: after :62F: is ING's summary of the statement, not part of the last entry.
    assert (
        ing[-1].description
        == "0111111111 Hr S Marechal ROSMALEN Hr S Marechal ROSMALEN Betaling transactiedatum: 22-07-2010"
    )

    sns = read("mt940", sample("mt940/jejik_sns.sta")).lines
    assert (sns[0].counterparty_account, sns[0].counterparty_name) == ("0987654321", "marechal s")

    postfinance = read("mt940", sample("mt940/jejik_postfinance.sta"))
    assert postfinance.lines[0].reference == "01916" and postfinance.lines[0].bank_reference is None
    assert postfinance.sections[0].currency == "CHF"

    mbank = read("mt940", sample("mt940/mBank_mt940.sta"))
    assert mbank.lines[0].bank_reference == "MB170119012058" and mbank.sections[0].currency == "PLN"
    assert mbank.sections[0].account == "PL29114010810000267002001002"

    triodos = read("mt940", sample("mt940/jejik_triodos.sta")).lines
    # Triodos's ">20" layout is not one we recognise: kept whole as the description only.
    assert (triodos[1].reference, triodos[1].counterparty_name) == (None, None)
    assert triodos[1].description == "000>100133967858 >20 HUUR>21 KANTOOR - FEB 2010"

    rabo_old = read("mt940", sample("mt940/jejik_rabobank.sta")).lines
    assert rabo_old[1].reference == "0733959555"
    assert (
        rabo_old[0].description
        == "Terugboeking NIET AKKOORD MET AFSCHRIJVING KOSTEN KINDEROPVANG JUNI 20095731"
    )


def test_mt940_sberbank_keeps_the_bank_specific_fields_as_description() -> None:
    result = read("mt940", sample("mt940/sberbank_171011_01234945.sta"))
    assert result.sections[0].currency == "HUF"
    first = result.lines[0]
    assert first.description is not None and "ERGO Versicherung AG" in first.description
    # The file itself holds U+FFFD where its accented letters were (mangled before we got it).
    assert "Tranzakci\ufffds" in first.description


# ---------------------------------------------------------------------------------------
# MT940 refusals, made from the generic sample.


def generic_with(old: bytes, new: bytes) -> bytes:
    data = sample("mt940/jejik_generic.sta")
    assert old in data
    return data.replace(old, new, 1)


@pytest.mark.parametrize(
    ("entry_line", "reason"),
    [
        (b":61:110101D12,3XN000NONREF", "'12,3X' is not an amount"),
        (b":61:110101D1X,00N000NONREF", "'1X,00' is not an amount"),
        (b":61:111301D10,00N000NONREF", "'111301' is not a date (YYMMDD)"),
        (b":61:110101X10,00N000NONREF", "'X1' is not a debit/credit mark (C, D, RC or RD)"),
        (
            b":61:110101D10,00",
            "the amount '10,00' is not followed by a transaction type (such as NTRF)",
        ),
        (b":61:110101D10,123456N000NONREF", "'10,123456' has more than 5 decimal places"),
    ],
)
def test_mt940_bad_entry_is_refused_on_its_line(entry_line: bytes, reason: str) -> None:
    data = generic_with(b":61:110101D10,00N000NONREF", entry_line)
    refused = refusal("mt940", data)
    assert (refused.location, refused.reason) == ("line 5", reason)


def test_mt940_bad_balance_is_refused_on_its_line() -> None:
    data = generic_with(b":62F:C110301EUR80,00", b":62F:C110301EUR8O,00")
    refused = refusal("mt940", data)
    assert (refused.location, refused.reason) == (
        f"line {line_of(data, b':62F:C110301')}",
        "'8O,00' is not an amount",
    )


def test_mt940_statement_without_opening_balance_is_refused() -> None:
    data = generic_with(b":60F:C110201EUR90,00\n", b"")
    refused = refusal("mt940", data)
    second_statement = line_of(data, b":20:GENERIC\n:25:11111111\n:28:2")
    assert refused.location == f"line {second_statement}"
    assert refused.reason == "statement 2 has no opening balance (:60F:)"


def test_mt940_file_without_statements_is_refused() -> None:
    refused = refusal("mt940", b"Hello,\nthis is a letter.\n")
    assert refused.reason == "no :20: and no :61: in the file: this is not an MT940 statement"
    stray = refusal("mt940", b"header\n:61:110101D10,00N000NONREF\n:20:X\n")
    assert (stray.location, stray.reason) == (
        "line 2",
        "this :61: entry comes before any :20: (statement reference)",
    )


def test_mt940_reversals_sign_like_the_money_moves() -> None:
    data = generic_with(b":61:110101D10,00N000NONREF", b":61:110101RC10,00N000NONREF")
    data = data.replace(b":61:110201D10,00N000NONREF", b":61:110201RD10,00N000NONREF")
    assert [line.amount for line in read("mt940", data).lines] == [D("-10.00"), D("10.00")]


def test_mt940_in_windows_encoding_is_read() -> None:
    data = generic_with(
        b":86:\n:62F:C110201", ":86:Caf\u00e9 Fl\u00f8r\n:62F:C110201".encode("cp1252")
    )
    assert read("mt940", data).lines[0].description == "Caf\u00e9 Fl\u00f8r"


def test_mt940_with_windows_line_ends_reads_the_same() -> None:
    data = sample("mt940/jejik_generic.sta")
    crlf = data.replace(b"\n", b"\r\n")
    assert read("mt940", crlf).items == read("mt940", data).items


# ---------------------------------------------------------------------------------------
# CSV.

BANK = CsvMapping(
    booked_on="Date",
    value_date="Value date",
    amount="Amount",
    currency_column="Currency",
    reference="Reference",
    counterparty_name="Name",
    description="Text",
)


def csv_file(
    *rows: str, header: str = "Date,Value date,Amount,Currency,Reference,Name,Text"
) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def test_csv_rows_become_lines_and_one_section_without_balances() -> None:
    data = csv_file(
        "2024-03-01,2024-03-02,100.50,EUR,INV-1,ACME BV,Invoice 1",
        "2024-03-03,,-20.00,eur,,,",
    )
    assert detect_format(data) == "csv"
    assert count_entries("csv", data, BANK) == 2
    result = read("csv", data, BANK)
    first, second = result.lines
    assert (first.amount, first.currency, first.reference, first.counterparty_name) == (
        D("100.50"),
        "EUR",
        "INV-1",
        "ACME BV",
    )
    assert first.value_date is not None and first.value_date.isoformat() == "2024-03-02"
    assert (first.location, second.location) == ("line 2", "line 3")
    assert (second.value_date, second.reference, second.description) == (None, None, None)
    (section,) = result.sections
    assert (section.opening_balance, section.closing_balance, section.currency) == (
        None,
        None,
        "EUR",
    )
    assert (section.entries, section.entries_sum) == (2, D("80.50"))
    assert section.period_from is not None and section.period_from.isoformat() == "2024-03-01"
    assert section.period_to is not None and section.period_to.isoformat() == "2024-03-03"


def test_csv_entirely_empty_rows_are_skipped() -> None:
    data = csv_file(
        "2024-03-01,,1.00,EUR,,,", "", ",,,,,,", "  ,  ,,,,,", "2024-03-02,,2.00,EUR,,,"
    )
    result = read("csv", data, BANK)
    assert [line.location for line in result.lines] == ["line 2", "line 6"]
    assert count_entries("csv", data, BANK) == 2


def test_csv_missing_columns_are_named() -> None:
    data = csv_file("2024-03-01,1.00", header="Date,Amount")
    refused = refusal("csv", data, BANK)
    assert refused.location == "line 1"
    assert refused.reason.startswith(
        "the header has no column 'Value date', 'Currency', 'Reference', 'Name', 'Text' (the mapping reads them)"
    )


@pytest.mark.parametrize(
    ("row", "location", "reason"),
    [
        ("2024-03-01,,12.3X,EUR,,,", "line 3, column 'Amount'", "'12.3X' is not an amount"),
        ("2024-03-01,,1e5,EUR,,,", "line 3, column 'Amount'", "'1e5' is not an amount"),
        ("2024-03-01,,NaN,EUR,,,", "line 3, column 'Amount'", "'NaN' is not an amount"),
        (
            "2024-03-01,,1.123456,EUR,,,",
            "line 3, column 'Amount'",
            "'1.123456' has more than 5 decimal places",
        ),
        ("2024-03-01,,,EUR,,,", "line 3, column 'Amount'", "the amount is empty"),
        (
            "01/03/2024,,1.00,EUR,,,",
            "line 3, column 'Date'",
            "'01/03/2024' is not a date written like 2024-03-15",
        ),
        (
            "2024-02-30,,1.00,EUR,,,",
            "line 3, column 'Date'",
            "'2024-02-30' is not a date written like 2024-03-15",
        ),
        (
            "2024-03-01,soon,1.00,EUR,,,",
            "line 3, column 'Value date'",
            "'soon' is not a date written like 2024-03-15",
        ),
        (
            "2024-03-01,,1.00,USD,,,",
            "line 3, column 'Currency'",
            "'USD' differs from EUR, the currency of the lines above: a statement is in one currency",
        ),
        ("2024-03-01,,1.00", "line 3", "the row has 3 fields, fewer than the header's 7"),
    ],
)
def test_csv_bad_cell_is_refused_with_line_and_column(row: str, location: str, reason: str) -> None:
    data = csv_file("2024-03-01,,1.00,EUR,,,", row)
    refused = refusal("csv", data, BANK)
    assert (refused.location, refused.reason) == (location, reason)


def test_csv_debit_and_credit_columns_with_european_numbers() -> None:
    mapping = CsvMapping(
        delimiter=";",
        decimal_separator=",",
        thousands_separator=".",
        date_format="%d.%m.%Y",
        encoding="cp1252",
        booked_on="Buchungstag",
        debit_amount="Soll",
        credit_amount="Haben",
        currency="EUR",
        counterparty_name="Name",
    )
    data = "Buchungstag;Soll;Haben;Name\n01.03.2024;1.234,56;;Müller GmbH\n2.3.2024;;10,00;Zoë\n".encode(
        "cp1252"
    )
    result = read("csv", data, mapping)
    assert [line.amount for line in result.lines] == [D("-1234.56"), D("10.00")]
    assert [line.booked_on.isoformat() for line in result.lines] == ["2024-03-01", "2024-03-02"]
    assert [line.counterparty_name for line in result.lines] == ["Müller GmbH", "Zoë"]
    assert result.sections[0].currency == "EUR"
    both_empty = refusal("csv", data + b"03.03.2024;;;X\n", mapping)
    assert (both_empty.location, both_empty.reason) == (
        "line 4, column 'Haben'",
        "neither the debit nor the credit column has an amount",
    )


def test_csv_amount_with_direction_column() -> None:
    mapping = CsvMapping(
        booked_on="date",
        amount="amount",
        direction="dc",
        currency="GBP",
        credit_values=["CR"],
        debit_values=["DR"],
    )
    data = b"date,amount,dc\n2024-03-01,5.00,CR\n2024-03-01,7.00,dr\n"
    assert [line.amount for line in read("csv", data, mapping).lines] == [D("5.00"), D("-7.00")]
    refused = refusal("csv", data + b"2024-03-01,1.00,X\n", mapping)
    assert (refused.location, refused.reason) == (
        "line 4, column 'dc'",
        "'X' is neither a credit (CR) nor a debit (DR)",
    )


def test_csv_date_times_and_quoted_line_breaks() -> None:
    mapping = CsvMapping(
        booked_on="When",
        date_format="%Y-%m-%d %H:%M:%S",
        amount="Net",
        currency="EUR",
        description="Note",
    )
    data = b'When,Net,Note\n2024-03-01 23:59:59,1.00,"two\nlines"\n2024-03-02 00:00:01,2.00,plain\n'
    assert count_entries("csv", data, mapping) == 2
    result = read("csv", data, mapping)
    assert [line.booked_on.isoformat() for line in result.lines] == ["2024-03-01", "2024-03-02"]
    assert result.lines[0].description == "two\nlines"
    assert [line.location for line in result.lines] == ["line 2", "line 4"]
    refused = refusal("csv", data + b"2024-03-02 25:00:00,1.00,x\n", mapping)
    assert refused.location == "line 5, column 'When'"


def test_csv_byte_order_mark_and_wrong_encoding() -> None:
    data = "Date,Value date,Amount,Currency,Reference,Name,Text\n2024-03-01,,1.00,EUR,,Zoë,\n"
    with_bom = ("\ufeff" + data).encode("utf-8")
    assert read("csv", with_bom, BANK).lines[0].counterparty_name == "Zoë"
    refused = refusal("csv", data.encode("cp1252"), BANK)
    assert refused.location == "line 2"
    assert refused.reason.startswith("the file is not utf-8 text")


def test_csv_with_only_a_header_is_an_empty_section() -> None:
    result = read("csv", csv_file(), BANK)
    assert result.lines == []
    (section,) = result.sections
    assert (section.entries, section.entries_sum, section.currency) == (0, D(0), "XXX")
    assert (
        refusal("csv", b"", BANK).reason
        == "the file is empty: a header row naming the columns is required"
    )


def test_csv_needs_a_mapping() -> None:
    assert "column mapping" in refusal("csv", csv_file()).reason


def test_csv_many_rows_add_up() -> None:
    rows = [
        f"2024-03-{1 + n % 28:02d},,{'-' if n % 3 == 0 else ''}{n}.{n % 100:02d},EUR,R{n},,x"
        for n in range(20_000)
    ]
    data = csv_file(*rows)
    result = read("csv", data, BANK)
    assert len(result.lines) == count_entries("csv", data, BANK) == 20_000
    assert result.sections[0].entries_sum == sum((line.amount for line in result.lines), D(0))
    assert result.lines[-1].location == "line 20001"


# ---------------------------------------------------------------------------------------
# Detection of what is none of the three.


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty"),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00",
            "this is neither a camt.053 statement (XML), an MT940 statement, nor a CSV table",
        ),
        (
            b"just some words\n",
            "this is neither a camt.053 statement (XML), an MT940 statement, nor a CSV table",
        ),
    ],
)
def test_what_is_no_statement_is_refused_by_detection(data: bytes, reason: str) -> None:
    with pytest.raises(StatementRefused) as refused:
        detect_format(data)
    assert refused.value.reason == reason


def test_camt_in_a_business_application_header_envelope_is_read() -> None:
    document = sample("camt053/camt053.v8.xml").split(b"?>", 1)[1]
    data = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<BizMsgEnvlp>\n'
        b'<AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.02"><MsgDefIdr>camt.053.001.08</MsgDefIdr></AppHdr>'
        + document
        + b"</BizMsgEnvlp>\n"
    )
    assert detect_format(data) == "camt053"
    assert [line.amount for line in read("camt053", data).lines] == [D("8.85")]


def test_mt942_interim_report_is_named_and_refused() -> None:
    data = (
        b":20:INTRADAY\n:25:NL91ABNA0417164300\n:28C:1/1\n:34F:EUR0,\n:13D:2403011200+0100\n"
        b":61:2403010301C10,00NTRFNONREF\n:86:x\n:90C:1EUR10,00\n"
    )
    with pytest.raises(StatementRefused) as detected:
        detect_format(data)
    assert detected.value.reason == ("MT942 is an intraday report; upload the end-of-day MT940")
    refused = refusal("mt940", data)
    assert (refused.location, refused.reason) == (
        "line 1",
        "MT942 is an intraday report, not a statement; upload the end-of-day MT940",
    )


def test_mt942_after_an_mt940_statement_is_refused_on_its_first_line() -> None:
    mt940 = sample("mt940/jejik_generic.sta").rstrip(b"\r\n-") + b"\n"
    mt942 = b":20:INTRADAY\n:25:123\n:28C:1/1\n:34F:EURD0,42\n:13D:2403011200+0100\n:90C:0EUR0,\n"
    refused = refusal("mt940", mt940 + mt942)
    assert refused.location == f"line {line_of(mt940 + mt942, b':20:INTRADAY')}"
    assert refused.reason.startswith("MT942 is an intraday report")


# ---------------------------------------------------------------------------------------
# NUL bytes: refused where they are, before anything is stored (PostgreSQL text cannot
# hold them, and retrying the store would never end).


def test_mt940_nul_byte_in_entry_details_is_refused_naming_its_line_and_field() -> None:
    data = sample("mt940/jejik_abnamro.sta")
    at = data.index(b":86:BEA") + 10
    refused = refusal("mt940", data[:at] + b"\x00" + data[at:])
    assert refused.location == f"line {line_of(data, b':86:BEA')}, in the entry details (:86:)"
    assert refused.reason.startswith("a NUL byte (0x00) is in the text")


@pytest.mark.parametrize("nul", [b"\x00", b"&#0;", b"&#x00;"])
def test_camt_nul_in_remittance_text_is_refused_naming_entry_and_element(nul: bytes) -> None:
    data = sample("camt053/camt053.v2.multi.statement.xml")
    second = data.index(b"<Ustrd>", data.index(b"<Ustrd>") + 1) + len(b"<Ustrd>")
    refused = refusal("camt053", data[:second] + nul + data[second:])
    line = data[:second].count(b"\n") + 1
    assert refused.location == f"line {line}, element <Ustrd> of entry 1 of statement 2"
    assert refused.reason.startswith("a NUL byte (0x00) is in the text")


def test_csv_nul_byte_is_refused_naming_its_line() -> None:
    data = csv_file(
        "2024-03-01,,10.00,EUR,INV-1,ACME BV,Invoice 1",
        "2024-03-02,,5.00,EUR,INV-2,ACME\x00 BV,Invoice 2",
    )
    refused = refusal("csv", data, BANK)
    assert refused.location == "line 3"
    assert refused.reason.startswith("a NUL byte (0x00) is in the text")


def test_csv_in_utf16_is_not_refused_for_the_zero_bytes_of_its_characters() -> None:
    data = csv_file("2024-03-01,,10.00,EUR,INV-1,ACME BV,Invoice 1").decode().encode("utf-16")
    assert [
        line.reference
        for line in read("csv", data, BANK.model_copy(update={"encoding": "utf-16"})).lines
    ] == ["INV-1"]


# ---------------------------------------------------------------------------------------
# The statement currency when the account names none.


def test_camt_without_account_currency_takes_its_entries_currency_not_a_balances() -> None:
    data = sample("camt053/camt053.v2.no-account-currency.xml")
    account = data[data.index(b"<Acct>") : data.index(b"</Acct>")]
    assert b"<Ccy>" not in account and data.count(b"<Bal>") == 1
    assert b'<Amt Ccy="CHF">35.00</Amt>' in data  # its only balance, an available one
    result = read("camt053", data)
    assert [s.currency for s in result.sections] == ["EUR"]
    assert [(line.amount, line.currency) for line in result.lines] == [(D("8.85"), "EUR")]


def test_camt_with_entries_in_two_currencies_takes_the_most_common() -> None:
    data = sample("camt053/camt053.v2.no-account-currency.xml")
    entry = data[data.index(b"<Ntry>") : data.index(b"</Ntry>") + len(b"</Ntry>")]
    usd = entry.replace(b'<Amt Ccy="EUR">8.85</Amt>', b'<Amt Ccy="USD">1.00</Amt>', 1)
    data = data.replace(entry, usd + entry + entry)
    assert [s.currency for s in read("camt053", data).sections] == ["EUR"]
