"""A realistic statement and our records of it, with the outcome matching must give.

For the benchmark, the demo seed and tests. Per statement line (roughly): 85 % carry the
reference of one of our records; 4 % only agree with one in amount and date (the
reference missing or garbled, the bank a few days later); 3 % are a record less a known
fee; 1 % are split in two or three lines of one record; 1 % are ours to nobody; 0.5 %
carry a record's reference but another amount; and a few have two records of ours of the
same amount on the same day. Card payments of a day are settled as one line (a few
hundred records each at a million lines), some net of a fee. 1 % of our records are on no
statement.

`expected` is exact for the passes as `MatchSettings` runs them with the fees given, a
date window of at least `window_days` and no amount tolerance: every amount that is not
meant to meet another is drawn so that it cannot, whatever the dates.

Writers: CSV (through a CsvMapping), camt.053.001.08 and MT940, as plain strings.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from reconciliation.engines.csv_mapping import CsvMapping
from reconciliation.engines.lines import StatementLine
from reconciliation.engines.matching import CENT, fee_units
from reconciliation.policy import KnownFee, parse_fees

DEFAULT_FEES = "0.20, 0.35, 1.50, 1.4%"
BATCH_CHANNEL = "card"
# A CSV layout with every column, as `to_csv` writes it by default.
CSV_MAPPING = CsvMapping(
    booked_on="booked_on",
    value_date="value_date",
    amount="amount",
    currency_column="currency",
    reference="reference",
    bank_reference="bank_reference",
    counterparty_name="counterparty_name",
    counterparty_account="counterparty_account",
    description="description",
)
_NAMES = np.array(
    ["Siemens AG", "Deutsche Bahn AG", "SAP SE", "Zalando SE", "REWE Markt GmbH", "IKEA",
     "Stadtwerke München", "Allianz SE", "Vodafone GmbH", "Amazon EU S.a.r.l.", "Otto GmbH",
     "Lufthansa AG", "Bäckerei Schmidt", "Müller & Söhne KG", "Dr. Anna Weber",
     "Jan Kowalski", "Marie Dubois", "Luca Rossi", "Sofia García", "Henrik Nilsson"],
    dtype=object,
)  # fmt: skip
_TEXTS = np.array(
    ["Invoice", "Rent", "Salary", "Refund", "Subscription", "Order", "Utility bill",
     "Insurance premium", "Loan instalment", "Consulting fee"],
    dtype=object,
)  # fmt: skip
_CHANNELS = np.array(["sepa", "sepa", "sepa", "sepa", "sepa", "sepa", "swift", "cash", "card"],
                     dtype=object)  # fmt: skip
_LOOSE_CHANNELS = np.array(["sepa", "sepa", "sepa", "swift", "cash"], dtype=object)


@dataclass(frozen=True)
class Expected:
    pass_counts: dict[str, int]  # statement lines matched, per pass
    breaks: dict[str, int]  # by kind: unmatched_line, amount_mismatch, ambiguous
    unmatched_records: int
    ambiguous_records: int  # records held by the ambiguous breaks


@dataclass
class Sample:
    currency: str
    statement_id: str
    period_from: date
    period_to: date
    opening_balance: Decimal
    closing_balance: Decimal
    # What to insert into `transaction`: id (uuid text), external_id, booked_on
    # (datetime64), amount (Decimal, positive), direction, channel, counterparty_name,
    # description; and signed (int64, AMOUNT_SCALE units) for the matching.
    records: pd.DataFrame
    lines: list[StatementLine]  # in line_no order (1..n)
    labels: list[str]  # per line, in line_no order: the pass that matches it, or its break
    unmatched_record_ids: list[str]  # sorted
    ambiguous_record_ids: list[str]  # sorted
    expected: Expected

    def records_frame(self) -> pd.DataFrame:
        """The records as the matching engine takes them (as bulk.load_records gives them)."""
        r = self.records
        return pd.DataFrame(
            {
                "record_id": r["id"],
                "external_id": r["external_id"],
                "booked_on": r["booked_on"],
                "amount": r["signed"],
                "channel": r["channel"],
            }
        )


class _Book:
    """Records and lines as columns, appended category by category (amounts in cents)."""

    def __init__(self) -> None:
        self.rec: dict[str, list[np.ndarray]] = {k: [] for k in ("cents", "day", "channel")}
        self.lin: dict[str, list[np.ndarray]] = {
            k: [] for k in ("cents", "day", "record", "ref", "label")
        }
        self.records = 0

    def add_records(self, cents: ArrayLike, day: ArrayLike, channel: ArrayLike) -> np.ndarray:
        cents = np.asarray(cents, np.int64)
        index = np.arange(self.records, self.records + len(cents))
        self.rec["cents"].append(cents)
        self.rec["day"].append(np.asarray(day, np.int64))
        self.rec["channel"].append(np.asarray(channel, object))
        self.records += len(cents)
        return index

    def add_lines(
        self, cents: ArrayLike, day: ArrayLike, record: ArrayLike, ref: str, label: str
    ) -> None:
        """`ref`: "own" (the record's external id), "garbled", "none" or "other"."""
        cents = np.asarray(cents, np.int64)
        n = len(cents)
        self.lin["cents"].append(cents)
        self.lin["day"].append(np.asarray(day, np.int64))
        self.lin["record"].append(np.asarray(record, np.int64))
        self.lin["ref"].append(np.full(n, ref, object))
        self.lin["label"].append(np.full(n, label, object))

    def columns(self, part: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) for k, v in part.items()}


def generate(
    n_lines: int,
    *,
    seed: int,
    currency: str = "EUR",
    start: date = date(2026, 11, 1),
    days: int = 30,
    fees: Sequence[KnownFee] | None = None,
    window_days: int = 3,
    ref_prefix: str | None = None,
) -> Sample:
    """A statement of `n_lines` lines over `days` days from `start`, and our records."""
    if n_lines < 200:
        raise ValueError("a sample has at least 200 lines (one of every kind)")
    fee_list = list(parse_fees(DEFAULT_FEES) if fees is None else fees)
    rng = np.random.default_rng(seed)
    first_day = (start - date(1970, 1, 1)).days
    book = _Book()
    taken: set[int] = set()  # amounts (cents) a line could meet a record or batch by
    n = n_lines

    # Batches first: their totals (and each less a fee) belong to them alone.
    n_batches = min(days, max(1, n // 2000))
    per_batch = min(400, max(3, n // 3000))
    for b in range(n_batches):
        day = first_day - 1 + b * (days // n_batches)
        while True:
            cents = _cents(rng, per_batch, mu=3.3, sigma=0.9)
            total = int(cents.sum())
            targets = set(_nets(fee_list, np.array([total]))[0].tolist()) | {total}
            if not targets & taken:
                break
        taken |= targets
        records = book.add_records(cents, np.full(per_batch, day), np.full(per_batch, "card"))
        fee = _batch_fee(fee_list, b)
        line = total - (int(_fee_cents(fee, np.array([total]))[0]) if fee is not None else 0)
        book.add_lines([line], [day + min(1, window_days)], [records[0]], "other", "batch")

    # Loose lines and records: met by amount (and date) only, so drawn to be unambiguous.
    counts = {
        "amount_date": max(1, n * 4 // 100),
        "fee": max(1, n * 3 // 100),
        "unmatched_record": max(1, n // 100),
        "ambiguous": max(1, n // 50_000),
    }
    owners = _draw_unique(rng, taken, fee_list, sum(counts.values()))
    cuts = np.cumsum([0, *counts.values()])
    ad, fe, ur, am = (owners[cuts[i] : cuts[i + 1]] for i in range(4))

    def loose_days(k: int) -> tuple[np.ndarray, np.ndarray]:
        line_day = first_day + rng.integers(0, days, k)
        return line_day, line_day - rng.integers(0, window_days + 1, k)

    line_day, record_day = loose_days(len(ad))
    records = book.add_records(ad, record_day, rng.choice(_LOOSE_CHANNELS, len(ad)))
    garbled = rng.random(len(ad)) < 0.5
    for mask, ref in ((garbled, "garbled"), (~garbled, "none")):
        book.add_lines(ad[mask], line_day[mask], records[mask], ref, "amount_date")

    line_day, record_day = loose_days(len(fe))
    records = book.add_records(fe, record_day, rng.choice(_LOOSE_CHANNELS, len(fe)))
    which = rng.integers(0, len(fee_list), len(fe))
    net = _nets(fee_list, fe)[np.arange(len(fe)), which]
    book.add_lines(net, line_day, records, "none", "fee")

    book.add_records(ur, first_day + rng.integers(0, days, len(ur)),
                     rng.choice(_LOOSE_CHANNELS, len(ur)))  # fmt: skip
    unmatched_records = np.arange(book.records - len(ur), book.records)

    line_day, record_day = loose_days(len(am))
    twins = book.add_records(np.repeat(am, 2), np.repeat(record_day, 2),
                             rng.choice(_LOOSE_CHANNELS, 2 * len(am)))  # fmt: skip
    book.add_lines(am, line_day, twins[::2], "none", "ambiguous")

    stray = _draw_unique(rng, taken, [], max(1, n // 100))
    book.add_lines(stray, first_day + rng.integers(0, days, len(stray)),
                   np.full(len(stray), -1), "other", "unmatched_line")  # fmt: skip

    # By reference: 1:1, net of a fee, another amount, split into lines.
    n_mismatch, n_ref_fee, n_split = max(1, n // 200), max(1, n // 500), max(1, n // 250)
    parts = rng.integers(2, 4, n_split)
    used = sum(len(c) for c in book.lin["cents"]) + n_mismatch + n_ref_fee + int(parts.sum())
    n_ref = n - used
    if n_ref < 0:
        raise ValueError(f"{n_lines} lines are too few for {days} days of batches")
    _referenced(book, rng, first_day, days, n_ref, n_mismatch, n_ref_fee, parts, fee_list)

    return _assemble(
        book, rng, seed=seed, currency=currency, start=start, days=days,
        unmatched_records=unmatched_records, ambiguous=twins,
        ref_prefix=ref_prefix if ref_prefix is not None else f"RC{seed % 100:02d}-",
    )  # fmt: skip


def _cents(rng: np.random.Generator, k: int, *, mu: float = 3.8, sigma: float = 1.5) -> np.ndarray:
    """Amounts as people pay them: mostly tens of euros, some thousands, always cents."""
    return np.clip(np.round(np.exp(rng.normal(mu, sigma, k)) * 100), 1, 10**9).astype(np.int64)


def _signed(rng: np.random.Generator, cents: np.ndarray) -> np.ndarray:
    return np.where(rng.random(len(cents)) < 0.5, cents, -cents)


def _fee_cents(fee: KnownFee, cents: np.ndarray) -> np.ndarray:
    """What `fee` takes from each (signed) amount in cents, in cents: matching's rule."""
    taken = fee_units(fee, np.asarray(cents, np.int64) * CENT)
    if np.any(taken % CENT):
        raise ValueError(f"a sample's fees are whole cents, not {fee}")
    return taken // CENT


def _nets(fees: Sequence[KnownFee], cents: np.ndarray) -> np.ndarray:
    """Each amount less each fee: one row per amount, one column per fee."""
    columns = [cents - _fee_cents(f, cents) for f in fees]
    return np.column_stack(columns) if columns else np.empty((len(cents), 0), np.int64)


def _batch_fee(fees: Sequence[KnownFee], b: int) -> KnownFee | None:
    """A third of the batches arrive whole, a third net of a percentage, a third of a fixed fee."""
    kinds = [None, *(f for f in fees if f.percent is not None)][:2]
    kinds += [f for f in fees if f.fixed is not None][-1:]
    return kinds[b % len(kinds)]


def _draw_unique(
    rng: np.random.Generator, taken: set[int], fees: Sequence[KnownFee], k: int
) -> np.ndarray:
    """k signed amounts (cents) none of which, nor any of it less a fee, a line could
    confuse with another's; reserved in `taken`. Drawn wider than everyday amounts: a
    million-line statement needs hundreds of thousands of distinct ones."""
    out: list[int] = []
    while len(out) < k:
        drawn = _signed(rng, _cents(rng, 2 * (k - len(out)) + 16, mu=5.5, sigma=1.6))
        meets = np.column_stack([drawn, _nets(fees, drawn)])
        for row in meets.tolist():
            # Distinct too: a fee that rounds to nothing would make a fee line an amount one.
            if taken.isdisjoint(row) and len(set(row)) == len(row):
                taken.update(row)
                out.append(row[0])
                if len(out) == k:
                    break
    return np.array(out, np.int64)


def _referenced(
    book: _Book,
    rng: np.random.Generator,
    first_day: int,
    days: int,
    n_ref: int,
    n_mismatch: int,
    n_ref_fee: int,
    parts: np.ndarray,
    fees: Sequence[KnownFee],
) -> None:
    k = n_ref + n_mismatch + n_ref_fee + len(parts)
    cents = _signed(rng, _cents(rng, k) + 300)  # a split needs a few cents per line
    line_day = first_day + rng.integers(0, days, k)
    record_day = line_day - rng.choice([0, 0, 0, 1, 2], k)
    channel = rng.choice(_CHANNELS, k)
    records = book.add_records(cents, record_day, channel)
    a, b, c = n_ref, n_ref + n_mismatch, n_ref + n_mismatch + n_ref_fee
    book.add_lines(cents[:a], line_day[:a], records[:a], "own", "reference")
    # Another amount of the same sign, up to a tenth off, and not the record less a fee.
    off = rng.integers(1, np.maximum(np.abs(cents[a:b]) // 10, 2))
    while True:
        mismatch = cents[a:b] + np.sign(cents[a:b]) * off
        is_fee = (_nets(fees, cents[a:b]) == mismatch[:, None]).any(axis=1)
        if not is_fee.any():
            break
        off[is_fee] += 7
    book.add_lines(mismatch, line_day[a:b], records[a:b], "own", "amount_mismatch")
    nets = _nets(fees, cents[b:c])
    # A random fee of those that take something from this amount (1.4 % of 0.30 is 0.00).
    which = np.argmax(np.where(nets != cents[b:c, None], rng.random(nets.shape), -1), axis=1)
    book.add_lines(nets[np.arange(c - b), which], line_day[b:c], records[b:c], "own", "fee")
    for j, p in enumerate(parts.tolist()):
        r = c + j
        whole = abs(int(cents[r]))
        cuts = np.unique(rng.integers(1, whole, p - 1))
        while len(cuts) < p - 1:
            cuts = np.unique(rng.integers(1, whole, p - 1))
        pieces = np.diff(np.r_[0, cuts, whole]) * np.sign(cents[r])
        book.add_lines(pieces, np.full(p, line_day[r]), np.full(p, records[r]), "own", "split")


def _assemble(
    book: _Book,
    rng: np.random.Generator,
    *,
    seed: int,
    currency: str,
    start: date,
    days: int,
    unmatched_records: np.ndarray,
    ambiguous: np.ndarray,
    ref_prefix: str,
) -> Sample:
    rec = book.columns(book.rec)
    lin = book.columns(book.lin)
    m = len(rec["cents"])
    # Records in random order, numbered in that order (nothing to read from the numbers).
    shuffle = rng.permutation(m)
    position = np.empty(m, np.int64)
    position[shuffle] = np.arange(m)
    external = np.array([f"{ref_prefix}{i:09d}" for i in range(m)], object)[position]
    ids = _uuids(rng, m)
    r_day = rec["day"].astype("datetime64[D]")
    texts = rng.choice(_TEXTS, m)
    numbers = rng.integers(10_000, 99_999, m)
    records = pd.DataFrame(
        {
            "id": ids,
            "external_id": external,
            "booked_on": r_day,
            "amount": [Decimal(c).scaleb(-2) for c in np.abs(rec["cents"]).tolist()],
            "direction": np.where(rec["cents"] >= 0, "in", "out").astype(object),
            "channel": rec["channel"],
            "counterparty_name": rng.choice(_NAMES, m),
            "description": [f"{t} {x}" for t, x in zip(texts.tolist(), numbers.tolist(), strict=True)],
            "signed": rec["cents"] * CENT,
        }
    ).iloc[shuffle].reset_index(drop=True)  # fmt: skip

    # Lines by booking day, in random order within a day.
    n = len(lin["cents"])
    order = np.lexsort((rng.random(n), lin["day"]))
    line_rec = lin["record"][order]
    ref_kind = lin["ref"][order]
    own = external[np.maximum(line_rec, 0)]  # the line's record's (batches: any)
    refs = np.full(n, None, object)
    refs[ref_kind == "own"] = own[ref_kind == "own"]
    garbled = ref_kind == "garbled"
    refs[garbled] = [f"{r[:-1]}X" for r in own[garbled].tolist()]
    other = np.flatnonzero(ref_kind == "other")
    refs[other] = [f"INV{x:010d}" for x in rng.integers(0, 10**10, len(other)).tolist()]
    label = lin["label"][order]
    names = rng.choice(_NAMES, n)
    names[label == "batch"] = "Card settlement"
    texts = rng.choice(_TEXTS, n)
    days_col = lin["day"][order].astype("datetime64[D]").astype(object).tolist()
    cents = lin["cents"][order].tolist()
    bank_refs = [f"B{seed % 1000:03d}{i:010d}" for i in range(1, n + 1)]
    lines = [
        StatementLine(
            i,
            0,
            d,
            d,
            Decimal(c).scaleb(-2),
            currency,
            ref,
            bank,
            name,
            None,
            f"{text} {i}",
            f"entry {i}",
        )
        for i, d, c, ref, bank, name, text in zip(
            range(1, n + 1),
            days_col,
            cents,
            refs.tolist(),
            bank_refs,
            names.tolist(),
            texts.tolist(),
            strict=True,
        )
    ]
    labels = label.tolist()
    pass_counts = {p: 0 for p in ("reference", "fee", "split", "batch", "amount_date")}
    # Every line break kind; a generated statement repeats no payment (already_matched: 0).
    breaks = {k: 0 for k in ("unmatched_line", "amount_mismatch", "ambiguous", "already_matched")}
    for label in labels:
        if label in pass_counts:
            pass_counts[label] += 1
    breaks["unmatched_line"] = labels.count("unmatched_line")
    breaks["ambiguous"] = labels.count("ambiguous")
    breaks["amount_mismatch"] = labels.count("amount_mismatch")
    opening = int(rng.integers(100_000, 5_000_000)) * 100
    total = int(lin["cents"].sum())
    return Sample(
        currency=currency,
        statement_id=f"STMT-{seed}-{start:%Y%m%d}",
        period_from=start,
        period_to=start + timedelta(days=days - 1),
        opening_balance=_decimal(opening),
        closing_balance=_decimal(opening + total),
        records=records,
        lines=lines,
        labels=labels,
        unmatched_record_ids=sorted(ids[unmatched_records].tolist()),
        ambiguous_record_ids=sorted(ids[ambiguous].tolist()),
        expected=Expected(
            pass_counts=pass_counts,
            breaks=breaks,
            unmatched_records=len(unmatched_records),
            ambiguous_records=len(ambiguous),
        ),
    )


def _uuids(rng: np.random.Generator, k: int) -> np.ndarray:
    """k random version-4 UUIDs as text, from the generator (so the same every time)."""
    raw = rng.bytes(16 * k).hex()
    out = []
    for i in range(0, 32 * k, 32):
        h = raw[i : i + 32]
        out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}")
    return np.array(out, object)


def _decimal(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


# -- writers --------------------------------------------------------------------------------


def _amount_text(amount: Decimal, separator: str = ".") -> str:
    text = f"{amount:f}"
    return text.replace(".", separator) if separator != "." else text


def to_csv(sample: Sample, mapping: CsvMapping = CSV_MAPPING) -> bytes:
    """The statement as a CSV file laid out as `mapping` reads it (header first)."""
    roles = mapping.columns()
    header = list(roles.values())
    sep = mapping.decimal_separator
    out = io.StringIO()
    writer = csv.writer(out, delimiter=mapping.delimiter, lineterminator="\r\n")
    writer.writerow(header)
    credits, debits = mapping.credit_values[0], mapping.debit_values[0]
    fmt = mapping.date_format
    for x in sample.lines:
        cells = {
            "booked_on": x.booked_on.strftime(fmt),
            "value_date": x.value_date.strftime(fmt) if x.value_date else "",
            "currency": x.currency,
            "reference": x.reference or "",
            "bank_reference": x.bank_reference or "",
            "counterparty_name": x.counterparty_name or "",
            "counterparty_account": x.counterparty_account or "",
            "description": x.description or "",
        }
        magnitude = _amount_text(abs(x.amount), sep)
        if mapping.direction:
            cells["amount"] = magnitude
            cells["direction"] = credits if x.amount >= 0 else debits
        elif mapping.amount:
            cells["amount"] = _amount_text(x.amount, sep)
        else:
            cells["credit_amount"] = magnitude if x.amount >= 0 else ""
            cells["debit_amount"] = magnitude if x.amount < 0 else ""
        writer.writerow([cells[role] for role in roles])
    return out.getvalue().encode(mapping.encoding)


def to_camt053(sample: Sample, account_iban: str) -> bytes:
    """The statement as one camt.053.001.08 message (one <Stmt>, OPBD and CLBD balances)."""
    ccy = escape(sample.currency)
    made = f"{sample.period_to + timedelta(days=1):%Y-%m-%d}T06:00:00+00:00"
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
        f"<BkToCstmrStmt><GrpHdr><MsgId>{escape(sample.statement_id)}</MsgId>"
        f"<CreDtTm>{made}</CreDtTm></GrpHdr>"
        f"<Stmt><Id>{escape(sample.statement_id)}</Id><ElctrncSeqNb>1</ElctrncSeqNb>"
        f"<CreDtTm>{made}</CreDtTm>"
        f"<FrToDt><FrDtTm>{sample.period_from:%Y-%m-%d}T00:00:00+00:00</FrDtTm>"
        f"<ToDtTm>{sample.period_to:%Y-%m-%d}T23:59:59+00:00</ToDtTm></FrToDt>"
        f"<Acct><Id><IBAN>{escape(account_iban)}</IBAN></Id><Ccy>{ccy}</Ccy></Acct>",
        _camt_balance("OPBD", sample.opening_balance, ccy, sample.period_from),
        _camt_balance("CLBD", sample.closing_balance, ccy, sample.period_to),
    ]
    for x in sample.lines:
        credit = x.amount >= 0
        party = "Dbtr" if credit else "Cdtr"
        family = "RCDT" if credit else "ICDT"
        name = f"<{party}><Pty><Nm>{escape(x.counterparty_name)}</Nm></Pty></{party}>" if x.counterparty_name else ""  # fmt: skip
        account = f"<{party}Acct><Id><IBAN>{escape(x.counterparty_account)}</IBAN></Id></{party}Acct>" if x.counterparty_account else ""  # fmt: skip
        parties = f"<RltdPties>{name}{account}</RltdPties>" if name or account else ""
        info = f"<RmtInf><Ustrd>{escape(x.description)}</Ustrd></RmtInf>" if x.description else ""
        value = f"<ValDt><Dt>{x.value_date:%Y-%m-%d}</Dt></ValDt>" if x.value_date else ""
        bank_ref = escape(x.bank_reference) if x.bank_reference else ""
        parts.append(
            f'<Ntry><Amt Ccy="{escape(x.currency)}">{abs(x.amount):f}</Amt>'
            f"<CdtDbtInd>{'CRDT' if credit else 'DBIT'}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
            f"<BookgDt><Dt>{x.booked_on:%Y-%m-%d}</Dt></BookgDt>{value}"
            + (f"<AcctSvcrRef>{bank_ref}</AcctSvcrRef>" if bank_ref else "")
            + f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{family}</Cd><SubFmlyCd>ESCT</SubFmlyCd>"
            f"</Fmly></Domn></BkTxCd><NtryDtls><TxDtls><Refs>"
            + (f"<AcctSvcrRef>{bank_ref}</AcctSvcrRef>" if bank_ref else "")
            + f"<EndToEndId>{escape(x.reference) if x.reference else 'NOTPROVIDED'}</EndToEndId>"
            f"</Refs>{parties}{info}</TxDtls></NtryDtls></Ntry>"
        )
    parts.append("</Stmt></BkToCstmrStmt></Document>\n")
    return "".join(parts).encode()


def _camt_balance(code: str, amount: Decimal, ccy: str, on: date) -> str:
    indicator = "CRDT" if amount >= 0 else "DBIT"
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
        f'<Amt Ccy="{ccy}">{abs(amount):f}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>'
        f"<Dt><Dt>{on:%Y-%m-%d}</Dt></Dt></Bal>"
    )


def to_mt940(sample: Sample, account: str) -> bytes:
    """The statement as one MT940 message: :20: :25: :28C: :60F: (:61: :86:)* :62F:."""

    def balance(tag: str, amount: Decimal, on: date) -> str:
        mark = "C" if amount >= 0 else "D"
        return f":{tag}:{mark}{on:%y%m%d}{sample.currency}{_amount_text(abs(amount), ',')}"

    out = [
        f":20:{sample.statement_id[:16]}",
        f":25:{account}",
        ":28C:00001/001",
        balance("60F", sample.opening_balance, sample.period_from),
    ]
    for x in sample.lines:
        mark = "C" if x.amount >= 0 else "D"
        valued = x.value_date or x.booked_on
        reference = (x.reference or "NONREF")[:16]
        bank = f"//{x.bank_reference[:16]}" if x.bank_reference else ""
        out.append(
            f":61:{valued:%y%m%d}{x.booked_on:%m%d}{mark}{_amount_text(abs(x.amount), ',')}"
            f"NTRF{reference}{bank}"
        )
        # The SEPA layout of :86: (/NAME/.../REMI/...), 65 characters a line, six at most.
        details = "".join(
            f"/{tag}/{text}" for tag, text in (("NAME", x.counterparty_name), ("REMI", x.description)) if text
        )  # fmt: skip
        if details:
            wrapped = [details[i : i + 65] for i in range(0, min(len(details), 390), 65)]
            out.append(":86:" + "\r\n".join(wrapped))
    out.append(balance("62F", sample.closing_balance, sample.period_to))
    out.append("-")
    return ("\r\n".join(out) + "\r\n").encode()


def statement_file(
    fmt: str, sample: Sample, *, account: str, mapping: CsvMapping = CSV_MAPPING
) -> bytes:
    """The sample as a statement file of `fmt` (camt053, mt940 or csv through `mapping`)."""
    if fmt == "camt053":
        return to_camt053(sample, account)
    if fmt == "mt940":
        return to_mt940(sample, account)
    return to_csv(sample, mapping)
