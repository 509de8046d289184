"""A labelled book for measuring AML detection: ordinary banking life with planted laundering.

Deterministic: the same seed, parameter set and end date give byte-identical files. It
writes what the real import path takes — `customers.csv` for `backoffice import customers`
(one row per account) and `transactions.csv` for `backoffice import transactions` — plus
the truth: `labels.csv` (one row per account: laundering or not, which typologies, which
patterns), `patterns.csv` (one row per planted pattern: typology, the accounts in order,
the transfers), `pattern_edges.csv` (every planted transfer: from, to, amount, when) and
`manifest.json` (seed, parameters, counts).

Ordinary life (most of the volume, and the source of every false positive):

* retail customers: a monthly salary (from an outside employer, or from one of our business
  customers), rent and bills, card spending (log-normal amounts, some abroad in USD/GBP),
  cash withdrawals, transfers to and from friends and family who bank with us (some paid
  back: ordinary two-account round trips) and outside;
* private-banking customers: larger salaries, investment transfers out and back;
* business customers: many outside payers (a shop has dozens of distinct senders), retail
  customers of ours paying them (rent to a landlord, fees to a gym), suppliers paid monthly
  (some of them our own business customers), payroll to employees of ours, cash deposits
  for cash-heavy trades;
* look-alikes, ordinary money that moves like laundering: friends chipping in for a gift (a
  fan-in of small sums), private loans repaid in instalments (a round trip), flatmates
  paying their rent share to the tenant (many into one, then out to the landlord).

Planted typologies (after AMLSim's names), between our own accounts: `fan_in`, `fan_out`,
`cycle`, `scatter_gather`, `gather_scatter`, `bipartite`, `stack` (layered), `random`
(a random walk among a group). Money enters a pattern from outside (cash deposits, wires
in) and leaves it (wires abroad, cash out); each hop keeps a small cut. The accounts taking
part are ordinary customers too (mules), with their own ordinary life.

An internal transfer names the other account by IBAN (mostly compact, sometimes printed in
groups of four) or by German bank code + account number; it is booked on both sides or on
only one of them (the other bank's book of the sender or receiver is "missing"), mixed.

    python -m demo.aml_simulator --seed 1 --params tune --out /tmp/aml-tune
    backoffice import customers /tmp/aml-tune/customers.csv
    backoffice import transactions /tmp/aml-tune/transactions.csv --alert

`tune` is for tuning detectors; `eval` (another seed, other sizes, amounts, windows and
pattern lengths) is for reporting. Tune on `--seed 1 --params tune` only.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from shared.iban import format_iban, iban_for

TYPOLOGIES = (
    "fan_in",
    "fan_out",
    "cycle",
    "scatter_gather",
    "gather_scatter",
    "bipartite",
    "stack",
    "random",
)
CUSTOMER_COLUMNS = (
    "legacy_ref", "kind", "name", "segment", "country", "email", "risk_level", "iban",
    "currency", "opened_at", "risk_score",
)  # fmt: skip
TRANSACTION_COLUMNS = (
    "external_id", "account_iban", "booked_at", "amount", "currency", "direction", "channel",
    "counterparty_name", "counterparty_account", "counterparty_country", "description",
)  # fmt: skip
LABEL_COLUMNS = ("iban", "legacy_ref", "segment", "laundering", "typologies", "patterns")
PATTERN_COLUMNS = ("pattern_id", "typology", "accounts", "transfers", "amount_eur", "start", "end")
EDGE_COLUMNS = ("pattern_id", "typology", "from_iban", "to_iban", "amount", "booked_at")
BANK_CODE = "12030000"  # the legacy book's bank code (not the range new accounts get)
FIRST_SERIAL = 3_000_000

FIRST = (
    "Mara", "Jonas", "Lea", "Felix", "Nina", "Paul", "Clara", "Tim", "Ida", "Ben", "Emil",
    "Sofia", "Lukas", "Hanna", "Noah", "Emma", "Elias", "Mia", "Leon", "Lina", "Finn", "Ella",
    "Anton", "Greta", "Jakob", "Marie", "Oskar", "Frieda", "Theo", "Nele", "Karl", "Lotte",
    "Aylin", "Deniz", "Milan", "Zofia", "Ivan", "Amira", "Omar", "Yara",
)  # fmt: skip
LAST = (
    "Becker", "Hoffmann", "Schulz", "Koch", "Richter", "Wolf", "Neumann", "Krause", "Graf",
    "Schmidt", "Meyer", "Wagner", "Fischer", "Weber", "Schäfer", "Bauer", "Klein", "Lange",
    "Braun", "Zimmermann", "Hartmann", "Krüger", "Lehmann", "Walter", "Peters", "Möller",
    "Yilmaz", "Kaya", "Nowak", "Kowalski", "Popescu", "Novak", "Jansen", "Vogel", "Frank",
)  # fmt: skip
TRADES = (
    ("Bäckerei", True), ("Friseursalon", True), ("Kiosk", True), ("Restaurant", True),
    ("Autowerkstatt", False), ("Steuerberatung", False), ("IT-Dienstleistungen", False),
    ("Hausverwaltung", False), ("Fitnessstudio", False), ("Elektro", False),
    ("Spedition", False), ("Blumenladen", True), ("Architekturbüro", False),
)  # fmt: skip
EMPLOYERS = ("Siemens AG", "Deutsche Bahn AG", "SAP SE", "Charité Berlin", "Zalando SE",
             "Allianz SE", "BASF SE", "Stadt Berlin", "Vivantes GmbH", "Lufthansa AG")  # fmt: skip
SHOPS = ("REWE Markt", "Lidl", "Amazon EU", "dm-drogerie markt", "IKEA", "Shell", "Aldi Süd",
         "MediaMarkt", "Apotheke am Markt", "Deutsche Bahn Fernverkehr", "Edeka", "H&M")  # fmt: skip
ABROAD = (("Starbucks New York", "US", "USD"), ("Pret A Manger London", "GB", "GBP"),
          ("Booking.com", "NL", "EUR"), ("Ryanair", "IE", "EUR"))  # fmt: skip
BILLS = (("Vattenfall Europe", 60, 140), ("Telekom Deutschland", 25, 70),
         ("Techniker Krankenkasse", 90, 260), ("Rundfunkbeitrag", 18, 19),
         ("HUK-Coburg", 30, 90), ("Vodafone GmbH", 20, 55))  # fmt: skip
SUPPLIERS = ("Metro AG", "Würth GmbH", "Bosch Großhandel", "Papier Union", "Sysco Deutschland",
             "Office Depot", "Lekkerland", "Hornbach")  # fmt: skip
OFFSHORE = (("Gulf Horizon Trading FZE", "AE"), ("Bosporus Import Ltd", "TR"),
            ("Pacific Rim Holdings Ltd", "HK"), ("Baltic Amber OÜ", "EE"),
            ("Adriatic Consulting d.o.o.", "HR"), ("Kyrenia Services Ltd", "CY"))  # fmt: skip
FOREIGN_BANKS = {"AE": "AE070331234567890123456", "TR": "TR330006100519786457841326",
                 "EE": "EE382200221020145685", "HR": "HR1210010051863000160",
                 "CY": "CY17002001280000001200527600"}  # fmt: skip


# ----------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class Typology:
    """How one typology is planted: how many patterns, how big, how much, how fast."""

    count: int
    size: tuple[int, int]  # accounts (for fan-in/out: the counterparties of the hub)
    amount_eur: tuple[float, float]  # per transfer, before the cuts
    window_days: tuple[float, float]  # first to last transfer of one pattern
    repeats: tuple[int, int] = (1, 1)  # transfers per edge (fan-in/out), steps (random)


@dataclass(frozen=True)
class Params:
    name: str
    customers: int
    days: int
    business_share: float = 0.08
    private_share: float = 0.04
    foreign_share: float = 0.06  # customers living abroad
    friends: tuple[int, int] = (2, 6)  # friends who bank with us
    peer_transfers_per_month: float = 1.2
    card_per_month: float = 4.0
    internal_employer_share: float = 0.25  # retail paid by a business customer of ours
    internal_landlord_share: float = 0.15  # retail paying rent to a business customer of ours
    both_legs: float = 0.5  # internal transfer booked on both sides
    out_leg_only: float = 0.3  # ... only the sender's out leg; the rest only the in leg
    domestic_reference: float = 0.1  # counterparty as "bank code account number"
    printed_iban: float = 0.1  # counterparty IBAN in groups of four
    hop_cut: tuple[float, float] = (0.0, 0.04)  # what each laundering hop keeps
    hop_delay_hours: tuple[float, float] = (1.0, 48.0)
    slow_fan_in: int = 0  # fan-ins of 3-4 repeat senders paying small sums over months
    # Ordinary activity shaped like laundering (the detectors' hard negatives), per individual:
    collection_share: float = 0.015  # friends chip in for a gift: a fan-in of small sums
    loan_share: float = 0.01  # a private loan to a friend, repaid in instalments: a round trip
    household_share: float = 0.03  # flatmates pay their rent share to the tenant each month
    typologies: dict[str, Typology] = field(default_factory=dict)


PARAMS: dict[str, Params] = {
    "tune": Params(
        name="tune",
        customers=4000,
        days=90,
        hop_delay_hours=(1.0, 36.0),
        typologies={
            "fan_in": Typology(2, (5, 8), (900, 4000), (2, 12)),
            "fan_out": Typology(2, (5, 8), (900, 4000), (1, 8)),
            "cycle": Typology(3, (3, 5), (3000, 12000), (1, 6)),
            "scatter_gather": Typology(2, (3, 5), (2000, 8000), (2, 7)),
            "gather_scatter": Typology(2, (3, 4), (2000, 8000), (2, 8)),
            "bipartite": Typology(2, (2, 3), (1500, 6000), (2, 10)),
            "stack": Typology(2, (2, 3), (1500, 6000), (2, 10)),
            "random": Typology(2, (4, 6), (2000, 9000), (3, 14), repeats=(6, 9)),
        },
    ),
    "eval": Params(
        name="eval",
        customers=4500,
        days=120,
        business_share=0.1,
        friends=(1, 8),
        peer_transfers_per_month=1.5,
        both_legs=0.4,
        out_leg_only=0.35,
        domestic_reference=0.15,
        hop_cut=(0.01, 0.06),
        hop_delay_hours=(0.5, 72.0),
        slow_fan_in=2,
        collection_share=0.02,
        loan_share=0.015,
        household_share=0.04,
        typologies={
            "fan_in": Typology(2, (4, 10), (400, 6000), (3, 30)),
            "fan_out": Typology(2, (4, 10), (400, 6000), (1, 20)),
            "cycle": Typology(4, (2, 6), (1500, 20000), (1, 14)),
            "scatter_gather": Typology(2, (2, 6), (1000, 12000), (1, 14)),
            "gather_scatter": Typology(2, (2, 5), (1000, 12000), (1, 14)),
            "bipartite": Typology(2, (2, 4), (800, 9000), (2, 21)),
            "stack": Typology(2, (2, 4), (800, 9000), (2, 21)),
            "random": Typology(2, (3, 7), (1000, 15000), (3, 30), repeats=(5, 12)),
        },
    ),
}


# ----------------------------------------------------------------------------- the book
@dataclass
class Customer:
    index: int
    legacy_ref: str
    kind: str  # individual | business
    segment: str  # retail | business | private
    name: str
    country: str
    risk_level: str
    iban: str
    opened_at: date
    trade: str = ""
    cash_trade: bool = False
    friends: list[int] = field(default_factory=list)
    employer: int | None = None  # a business customer of ours paying the salary
    landlord: int | None = None  # a business customer of ours collecting the rent
    typologies: set[str] = field(default_factory=set)
    patterns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    booked_at: datetime
    external_id: str
    iban: str
    amount: str
    currency: str
    direction: str
    channel: str
    cp_name: str
    cp_account: str
    cp_country: str
    description: str

    def cells(self) -> tuple[str, ...]:
        return (
            self.external_id,
            self.iban,
            self.booked_at.isoformat(),
            self.amount,
            self.currency,
            self.direction,
            self.channel,
            self.cp_name,
            self.cp_account,
            self.cp_country,
            self.description,
        )


@dataclass
class Pattern:
    pattern_id: str
    typology: str
    accounts: list[int]
    transfers: int = 0
    amount_eur: float = 0.0
    start: datetime | None = None
    end: datetime | None = None
    edges: list[tuple[int, int, str, datetime]] = field(default_factory=list)  # src, dst, amount


@dataclass
class Book:
    params: Params
    seed: int
    end: date
    customers: list[Customer]
    rows: list[Row]
    patterns: list[Pattern]

    def laundering(self) -> set[str]:
        return {c.iban for c in self.customers if c.typologies}


class _Writer:
    """Collects rows; one internal transfer becomes one or two legs."""

    def __init__(self, params: Params, rng: random.Random, tag: str) -> None:
        self.params, self.rng, self.tag = params, rng, tag
        self.rows: list[Row] = []
        self.serial = 0

    def _id(self) -> str:
        self.serial += 1
        return f"{self.tag}-{self.serial:07d}"

    def external(
        self,
        c: Customer,
        at: datetime,
        amount: float,
        direction: str,
        channel: str,
        name: str = "",
        account: str = "",
        country: str = "",
        currency: str = "EUR",
        description: str = "",
    ) -> None:
        self.rows.append(
            Row(
                at,
                self._id(),
                c.iban,
                _money(amount),
                currency,
                direction,
                channel,
                name,
                account,
                country if name or account else "",
                description,
            )
        )

    def reference(self, c: Customer) -> str:
        """How a payment order names `c`'s account: IBAN, printed IBAN or BLZ + number."""
        roll = self.rng.random()
        if roll < self.params.domestic_reference:
            return f"{c.iban[4:12]} {int(c.iban[12:])}"
        if roll < self.params.domestic_reference + self.params.printed_iban:
            return format_iban(c.iban)
        return c.iban

    def internal(
        self,
        src: Customer,
        dst: Customer,
        at: datetime,
        amount: float,
        description: str = "",
        channel: str = "sepa",
        legs: str | None = None,
    ) -> None:
        """`src` pays `dst`, both our customers: both legs, or one (mixed by the params)."""
        if legs is None:
            roll = self.rng.random()
            p = self.params
            legs = (
                "both"
                if roll < p.both_legs
                else "out"
                if roll < p.both_legs + p.out_leg_only
                else "in"
            )
        value = _money(amount)
        at = at.replace(microsecond=0)
        if legs in ("both", "out"):
            self.rows.append(
                Row(
                    at,
                    self._id(),
                    src.iban,
                    value,
                    "EUR",
                    "out",
                    channel,
                    dst.name,
                    self.reference(dst),
                    dst.country,
                    description,
                )
            )
        if legs in ("both", "in"):
            arrives = at + timedelta(minutes=self.rng.randint(0, 180))
            self.rows.append(
                Row(
                    arrives,
                    self._id(),
                    dst.iban,
                    value,
                    "EUR",
                    "in",
                    channel,
                    src.name,
                    self.reference(src),
                    src.country,
                    description,
                )
            )


def _money(amount: float) -> str:
    return f"{max(amount, 0.01):.2f}"


def _lognormal(rng: random.Random, median: float, spread: float) -> float:
    return median * math.exp(rng.gauss(0.0, spread))


def _at(rng: random.Random, day: date, hours: tuple[int, int] = (7, 21)) -> datetime:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start + timedelta(hours=rng.randint(*hours), minutes=rng.randint(0, 59))


def _external_iban(rng: random.Random) -> str:
    bank = rng.choice(("10010010", "10020000", "20050550", "50010517", "70020270"))
    return iban_for(rng.randint(1, 9_999_999), bank_code=bank)


def make_customers(params: Params, rng: random.Random, seed: int, end: date) -> list[Customer]:
    customers: list[Customer] = []
    for i in range(params.customers):
        roll = rng.random()
        if roll < params.business_share:
            kind, segment = "business", "business"
            trade, cash = TRADES[rng.randrange(len(TRADES))]
            name = f"{trade} {LAST[rng.randrange(len(LAST))]} {i}"
        else:
            kind = "individual"
            segment = "private" if roll < params.business_share + params.private_share else "retail"
            trade, cash = "", False
            name = f"{FIRST[rng.randrange(len(FIRST))]} {LAST[rng.randrange(len(LAST))]}"
        foreign = rng.random() < params.foreign_share
        country = rng.choice(("AT", "FR", "PL", "NL", "TR", "IT")) if foreign else "DE"
        risk = rng.choices(("low", "medium", "high"), (0.8, 0.17, 0.03))[0]
        opened = end - timedelta(days=params.days + rng.randint(30, 3000))
        customers.append(
            Customer(
                index=i,
                legacy_ref=f"SIM{seed}-{params.name.upper()}-{i:06d}",
                kind=kind,
                segment=segment,
                name=name,
                country=country,
                risk_level=risk,
                iban=iban_for(FIRST_SERIAL + seed * 100_000 + i, bank_code=BANK_CODE),
                opened_at=opened,
                trade=trade,
                cash_trade=cash,
            )
        )
    people = [c.index for c in customers if c.kind == "individual"]
    firms = [c.index for c in customers if c.kind == "business"]
    for c in customers:
        if c.kind != "individual":
            continue
        lo, hi = params.friends
        # Friends are mostly near in the book (a neighbourhood), a few anywhere.
        for _ in range(rng.randint(lo, hi)):
            other = (
                people[rng.randrange(len(people))]
                if rng.random() < 0.3
                else min(params.customers - 1, max(0, c.index + rng.randint(-40, 40)))
            )
            if other != c.index and customers[other].kind == "individual":
                c.friends.append(other)
        if firms and rng.random() < params.internal_employer_share:
            c.employer = firms[rng.randrange(len(firms))]
        if firms and rng.random() < params.internal_landlord_share:
            landlords = [f for f in firms if customers[f].trade == "Hausverwaltung"] or firms
            c.landlord = landlords[rng.randrange(len(landlords))]
    return customers


# ----------------------------------------------------------------------------- ordinary life
def _days(end: date, count: int) -> list[date]:
    return [end - timedelta(days=count - k) for k in range(count)]


def ordinary_life(book: list[Customer], params: Params, w: _Writer, end: date) -> None:
    rng = w.rng
    days = _days(end, params.days)
    for c in book:
        if c.kind == "individual":
            _person(c, book, params, w, days)
        else:
            _business(c, book, params, w, days)
    # Friends paying each other: about `peer_transfers_per_month` per person, some paid back.
    for c in book:
        if not c.friends:
            continue
        count = _poisson(rng, params.peer_transfers_per_month * params.days / 30)
        for _ in range(count):
            friend = book[c.friends[rng.randrange(len(c.friends))]]
            day = days[rng.randrange(len(days))]
            amount = round(_lognormal(rng, 60, 0.9), rng.choice((0, 2)))
            at = _at(rng, day)
            w.internal(
                c,
                friend,
                at,
                amount,
                rng.choice(
                    ("Pizza", "Miete Anteil", "Geschenk", "Urlaub", "danke!", "Konzertkarten")
                ),
            )
            if rng.random() < 0.25:  # paid back within days: a two-account round trip
                back = at + timedelta(hours=rng.uniform(2, 240))
                if back.date() < end:
                    w.internal(friend, c, back, amount, "zurück")


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, 1.0
    if mean > 30:  # normal approximation keeps it fast
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    while True:
        p *= rng.random()
        if p < limit:
            return k
        k += 1


def _person(c: Customer, book: list[Customer], p: Params, w: _Writer, days: list[date]) -> None:
    rng = w.rng
    rich = c.segment == "private"
    salary = _lognormal(rng, 7000 if rich else 2600, 0.35)
    pay_day = rng.choice((1, 15, 25, 28))
    rent = salary * rng.uniform(0.22, 0.4)
    rent_day = rng.choice((1, 2, 3))
    employer_name = EMPLOYERS[rng.randrange(len(EMPLOYERS))]
    employer_iban = iban_for(700_000 + EMPLOYERS.index(employer_name), bank_code="10070000")
    landlord_iban = _external_iban(rng)
    landlord_name = f"Hausverwaltung {LAST[rng.randrange(len(LAST))]}"
    bills = rng.sample(BILLS, rng.randint(2, 4))
    card_rate = p.card_per_month / 30 * rng.uniform(0.5, 1.5)
    abroad_rate = rng.choice((0.0, 0.0, 0.02, 0.05))
    cash_rate = rng.choice((0.0, 0.01, 0.02, 0.04))
    parent = rng.random() < 0.06 and c.friends  # a monthly allowance to a child of ours
    for day in days:
        if day.day == pay_day:
            amount = salary * rng.uniform(0.98, 1.02)
            if c.employer is not None:
                w.internal(book[c.employer], c, _at(rng, day, (6, 9)), amount, "Lohn/Gehalt")
            else:
                w.external(
                    c,
                    _at(rng, day, (6, 9)),
                    amount,
                    "in",
                    "sepa",
                    employer_name,
                    employer_iban,
                    "DE",
                    description="Gehalt",
                )
        if day.day == rent_day:
            if c.landlord is not None:
                w.internal(c, book[c.landlord], _at(rng, day), rent, "Miete")
            else:
                w.external(
                    c,
                    _at(rng, day),
                    rent,
                    "out",
                    "sepa",
                    landlord_name,
                    landlord_iban,
                    "DE",
                    description="Miete",
                )
        for k, (biller, lo, hi) in enumerate(bills):
            if day.day == 5 + 3 * k:
                w.external(
                    c,
                    _at(rng, day),
                    rng.uniform(lo, hi),
                    "out",
                    "sepa",
                    biller,
                    iban_for(800_000 + BILLS.index((biller, lo, hi)), bank_code="10020000"),
                    "DE",
                    description="Lastschrift",
                )
        for _ in range(_poisson(rng, card_rate)):
            shop = SHOPS[rng.randrange(len(SHOPS))]
            amount = _lognormal(rng, 90 if rich else 32, 0.9)
            w.external(c, _at(rng, day), amount, "out", "card", shop, "", "DE")
        if rng.random() < abroad_rate:
            shop, country, currency = ABROAD[rng.randrange(len(ABROAD))]
            w.external(
                c,
                _at(rng, day),
                _lognormal(rng, 40, 0.8),
                "out",
                "card",
                shop,
                "",
                country,
                currency=currency,
            )
        if rng.random() < cash_rate:
            w.external(
                c,
                _at(rng, day),
                rng.choice((50, 100, 100, 200, 300)),
                "out",
                "cash",
                "Geldautomat",
                "",
                "DE",
            )
        if parent and day.day == 1:
            w.internal(
                c, book[c.friends[0]], _at(rng, day), rng.choice((150, 200, 300)), "Taschengeld"
            )
        if rich and rng.random() < 0.01:  # money to the broker and back
            broker = ("Trade Republic Bank", iban_for(123_456, bank_code="10012345"), "DE")
            amount = round(_lognormal(rng, 15000, 0.6), -2)
            w.external(
                c,
                _at(rng, day),
                amount,
                rng.choice(("in", "out")),
                "sepa",
                *broker,
                description="Depot",
            )


def _business(c: Customer, book: list[Customer], p: Params, w: _Writer, days: list[date]) -> None:
    rng = w.rng
    size = _lognormal(rng, 1.0, 0.7)  # how busy this business is
    payers = [(_customer_name(rng), _external_iban(rng)) for _ in range(rng.randint(8, 80))]
    suppliers = rng.sample(SUPPLIERS, rng.randint(1, 4))
    our_suppliers = [
        book[rng.randrange(len(book))] for _ in range(rng.randint(0, 2))
    ]  # other businesses of ours, paid monthly
    our_suppliers = [s for s in our_suppliers if s.kind == "business" and s.index != c.index]
    employees = [x for x in book if x.employer == c.index]
    for day in days:
        weekday = day.weekday() < 5
        for _ in range(_poisson(rng, (0.7 if weekday else 0.2) * size)):
            name, iban = payers[int(rng.paretovariate(1.2)) % len(payers)]
            w.external(
                c,
                _at(rng, day),
                _lognormal(rng, 180, 1.0),
                "in",
                "sepa",
                name,
                iban,
                "DE",
                description=f"Rechnung {rng.randint(1000, 99999)}",
            )
        if c.cash_trade and weekday and rng.random() < 0.5:
            w.external(
                c,
                _at(rng, day, (16, 19)),
                round(_lognormal(rng, 600 * size, 0.5), -1),
                "in",
                "cash",
                "Bareinzahlung",
                "",
                "DE",
            )
        if day.day == 10:
            for supplier in suppliers:
                w.external(
                    c,
                    _at(rng, day),
                    _lognormal(rng, 1500 * size, 0.6),
                    "out",
                    "sepa",
                    supplier,
                    iban_for(650_000 + SUPPLIERS.index(supplier), bank_code="20050550"),
                    "DE",
                )
            for s in our_suppliers:
                w.internal(
                    c,
                    s,
                    _at(rng, day),
                    _lognormal(rng, 2200 * size, 0.5),
                    f"Rechnung {rng.randint(1000, 99999)}",
                )
        if day.day == 20 and rng.random() < 0.8:
            w.external(
                c,
                _at(rng, day),
                _lognormal(rng, 900 * size, 0.5),
                "out",
                "sepa",
                "Finanzamt",
                iban_for(100_100, bank_code="10050000"),
                "DE",
                description="Umsatzsteuer",
            )
        if weekday and rng.random() < 0.15:
            w.external(
                c,
                _at(rng, day),
                _lognormal(rng, 120, 0.8),
                "out",
                "card",
                SHOPS[rng.randrange(len(SHOPS))],
                "",
                "DE",
            )
        if day.day == 28 and not employees and rng.random() < 0.7:
            w.external(
                c,
                _at(rng, day),
                _lognormal(rng, 5000 * size, 0.5),
                "out",
                "sepa",
                "Lohnbüro Sammelüberweisung",
                _external_iban(rng),
                "DE",
            )
    del employees  # their salaries are booked by `_person` (internal transfers from us)


def look_alikes(book: list[Customer], params: Params, w: _Writer, end: date) -> None:
    """Ordinary money that moves like laundering: collections, private loans, flat shares."""
    rng = w.rng
    days = _days(end, params.days)
    people = [c for c in book if c.kind == "individual"]
    for c in people:
        roll = rng.random()
        if roll < params.collection_share:  # 6-15 people chip in within three days
            day = days[rng.randrange(len(days) - 4)]
            givers = {people[rng.randrange(len(people))].index for _ in range(rng.randint(6, 15))}
            givers.update(c.friends)
            reason = rng.choice(("Geschenk", "Hochzeit", "Abschied Kollegin", "Geburtstag"))
            for g in sorted(givers - {c.index}):
                at = _at(rng, day + timedelta(days=rng.randint(0, 2)))
                w.internal(book[g], c, at, rng.choice((10, 15, 20, 25, 30, 50, 100)), reason)
        elif roll < params.collection_share + params.loan_share and c.friends:
            friend = book[c.friends[rng.randrange(len(c.friends))]]
            principal = round(rng.uniform(2000, 15000), -2)
            at = _at(rng, days[rng.randrange(max(1, len(days) - 45))])
            w.internal(c, friend, at, principal, "Darlehen")
            parts = rng.randint(1, 3)
            for k in range(parts):
                back = at + timedelta(days=rng.randint(7, 40) * (k + 1) / parts)
                if back.date() < end:
                    w.internal(friend, c, back, principal / parts, f"Rückzahlung {k + 1}/{parts}")
        elif roll < params.collection_share + params.loan_share + params.household_share:
            flatmates = {people[rng.randrange(len(people))].index for _ in range(rng.randint(1, 3))}
            share = round(rng.uniform(300, 700), -1)
            for day in days:
                if day.day == 28:
                    for m in sorted(flatmates - {c.index}):
                        w.internal(book[m], c, _at(rng, day), share, "Miete WG")


def _customer_name(rng: random.Random) -> str:
    return f"{FIRST[rng.randrange(len(FIRST))]} {LAST[rng.randrange(len(LAST))]}"


# ----------------------------------------------------------------------------- laundering
class _Planter:
    def __init__(self, book: list[Customer], params: Params, w: _Writer, end: date) -> None:
        self.book, self.params, self.w, self.rng, self.end = book, params, w, w.rng, end
        # Mules: individuals (mostly retail) not yet in a pattern, in a random order.
        pool = [c.index for c in book if c.kind == "individual"]
        self.rng.shuffle(pool)
        self.pool = pool
        self.patterns: list[Pattern] = []

    def take(self, count: int) -> list[Customer]:
        if len(self.pool) < count:
            raise ValueError("the book is too small for the planted patterns")
        taken, self.pool = self.pool[:count], self.pool[count:]
        return [self.book[i] for i in taken]

    def start(self, window: float) -> datetime:
        latest = self.params.days - window - 2
        offset = self.rng.uniform(5, max(6.0, latest))
        return datetime(self.end.year, self.end.month, self.end.day, tzinfo=UTC) - timedelta(
            days=self.params.days - offset, hours=-self.rng.uniform(7, 12)
        )

    def hop(self, at: datetime) -> datetime:
        return at + timedelta(hours=self.rng.uniform(*self.params.hop_delay_hours))

    def cut(self, amount: float) -> float:
        return amount * (1 - self.rng.uniform(*self.params.hop_cut))

    def register(self, typology: str, members: Sequence[Customer]) -> Pattern:
        pattern = Pattern(
            f"{typology}-{len(self.patterns) + 1}", typology, [m.index for m in members]
        )
        for m in members:
            m.typologies.add(typology)
            m.patterns.append(pattern.pattern_id)
        self.patterns.append(pattern)
        return pattern

    def move(
        self, pattern: Pattern, src: Customer, dst: Customer, at: datetime, amount: float
    ) -> None:
        self.w.internal(
            src,
            dst,
            at,
            amount,
            self.rng.choice(("", "Darlehen", "Rückzahlung", "Rechnung", "Auslagen")),
        )
        pattern.transfers += 1
        pattern.edges.append((src.index, dst.index, _money(amount), at.replace(microsecond=0)))
        pattern.amount_eur += amount
        pattern.start = min(pattern.start or at, at)
        pattern.end = max(pattern.end or at, at)

    def cash_in(self, c: Customer, at: datetime, amount: float) -> None:
        """Dirty money enters: cash deposits in pieces, or a wire from abroad."""
        if self.rng.random() < 0.5:
            left = amount
            while left > 1:
                piece = min(left, round(self.rng.uniform(1500, 4500), -1))
                self.w.external(
                    c,
                    at - timedelta(hours=self.rng.uniform(1, 30)),
                    piece,
                    "in",
                    "cash",
                    "Bareinzahlung",
                    "",
                    "DE",
                )
                left -= piece
        else:
            name, country = OFFSHORE[self.rng.randrange(len(OFFSHORE))]
            self.w.external(
                c,
                at - timedelta(hours=self.rng.uniform(1, 30)),
                amount,
                "in",
                "swift",
                name,
                FOREIGN_BANKS.get(country, ""),
                country,
            )

    def cash_out(self, c: Customer, at: datetime, amount: float) -> None:
        """Clean money leaves: a wire abroad, or cash withdrawals."""
        at = self.hop(at)
        if at.date() >= self.end:
            return
        if self.rng.random() < 0.6:
            name, country = OFFSHORE[self.rng.randrange(len(OFFSHORE))]
            self.w.external(c, at, amount, "out", "swift", name, "", country)
        else:
            self.w.external(c, at, min(amount, 2000), "out", "cash", "Geldautomat", "", "DE")

    def amount(self, t: Typology) -> float:
        return round(self.rng.uniform(*t.amount_eur), self.rng.choice((-2, -1, 0, 2)))

    def plant(self, name: str, t: Typology) -> None:
        rng = self.rng
        window = min(rng.uniform(*t.window_days), self.params.days - 10)
        t0 = self.start(window)
        span = timedelta(days=window)
        size = rng.randint(*t.size)
        if name in ("fan_in", "fan_out"):
            hub, *others = self.take(size + 1)
            p = self.register(name, [hub, *others])
            total = 0.0
            for k, o in enumerate(others):
                for _ in range(rng.randint(*t.repeats)):
                    at = t0 + span * ((k + rng.random() * 0.9) / len(others))
                    amount = self.amount(t)
                    total += amount
                    if name == "fan_in":
                        self.cash_in(o, at, amount)
                        self.move(p, o, hub, at, amount)
                    else:
                        self.move(p, hub, o, at, amount)
                        self.cash_out(o, at, self.cut(amount))
            if name == "fan_in":
                self.cash_out(hub, t0 + span, self.cut(total))
            else:
                self.cash_in(hub, t0, total)
        elif name == "cycle":
            members = self.take(size)
            p = self.register(name, members)
            amount = self.amount(t)
            self.cash_in(members[0], t0, amount)
            at = t0
            step = span / size
            for k, m in enumerate(members):
                nxt = members[(k + 1) % len(members)]
                self.move(p, m, nxt, at, amount)
                amount = self.cut(amount)
                at = at + step * rng.uniform(0.3, 1.0)
        elif name in ("scatter_gather", "gather_scatter"):
            if name == "scatter_gather":
                origin, *middle, target = self.take(size + 2)
                p = self.register(name, [origin, *middle, target])
                self.cash_in(origin, t0, self.amount(t) * len(middle))
                total = 0.0
                for m in middle:
                    amount = self.amount(t)
                    at = t0 + span * rng.uniform(0, 0.4)
                    self.move(p, origin, m, at, amount)
                    back = self.cut(amount)
                    self.move(p, m, target, t0 + span * rng.uniform(0.5, 1.0), back)
                    total += back
                self.cash_out(target, t0 + span, total)
            else:
                sources = self.take(size)
                hub = self.take(1)[0]
                targets = self.take(rng.randint(*t.size))
                p = self.register(name, [*sources, hub, *targets])
                total = 0.0
                for s in sources:
                    amount = self.amount(t)
                    at = t0 + span * rng.uniform(0, 0.4)
                    self.cash_in(s, at, amount)
                    self.move(p, s, hub, at, amount)
                    total += self.cut(amount)
                share = total / len(targets)
                for d in targets:
                    at = t0 + span * rng.uniform(0.5, 1.0)
                    self.move(p, hub, d, at, share * rng.uniform(0.9, 1.1))
                    self.cash_out(d, at, share * 0.95)
        elif name in ("bipartite", "stack"):
            layers = 2 if name == "bipartite" else 3
            groups = [self.take(rng.randint(*t.size)) for _ in range(layers)]
            p = self.register(name, [m for g in groups for m in g])
            for s in groups[0]:
                self.cash_in(s, t0, self.amount(t) * len(groups[1]))
            for level in range(layers - 1):
                for s in groups[level]:
                    for d in groups[level + 1]:
                        frac = (level + rng.uniform(0.1, 0.9)) / (layers - 1)
                        self.move(p, s, d, t0 + span * frac, self.amount(t))
            for d in groups[-1]:
                self.cash_out(d, t0 + span, self.amount(t) * len(groups[-2]))
        elif name == "random":
            members = self.take(size)
            p = self.register(name, members)
            current = members[0]
            amount = self.amount(t)
            self.cash_in(current, t0, amount)
            steps = rng.randint(*t.repeats)
            for k in range(steps):
                nxt = rng.choice([m for m in members if m is not current])
                self.move(p, current, nxt, t0 + span * (k / steps), amount)
                amount = self.cut(amount)
                current = nxt
            self.cash_out(current, t0 + span, amount)
        else:
            raise ValueError(f"unknown typology {name!r}")

    def plant_slow_fan_in(self) -> None:
        """3-4 repeat senders paying a hub small sums over three to four months."""
        rng = self.rng
        hub, *senders = self.take(rng.randint(3, 4) + 1)
        p = self.register("fan_in", [hub, *senders])
        window = min(self.params.days - 10, rng.uniform(90, 120))
        t0 = self.start(window)
        for k in range(rng.randint(3, 5)):
            for s in senders:
                at = t0 + timedelta(days=window * (k + rng.random() * 0.8) / 5)
                self.move(p, s, hub, at, round(rng.uniform(300, 900), -1))


# ----------------------------------------------------------------------------- all of it
def generate(params: Params | str, seed: int, end: date) -> Book:
    """The book for `params` (or its name) and `seed`, ending the day before `end`."""
    if isinstance(params, str):
        params = PARAMS[params]
    rng = random.Random(f"{params.name}:{seed}")  # noqa: S311 - a simulation, not a secret
    customers = make_customers(params, rng, seed, end)
    writer = _Writer(params, rng, f"sim{seed}{params.name[0]}")
    ordinary_life(customers, params, writer, end)
    planter = _Planter(customers, params, writer, end)
    for name in TYPOLOGIES:
        spec = params.typologies.get(name)
        for _ in range(spec.count if spec else 0):
            planter.plant(name, spec)  # type: ignore[arg-type]
    for _ in range(params.slow_fan_in):
        planter.plant_slow_fan_in()
    # Drawn from a stream of their own, after the rest: adding them changed no other row.
    writer.rng = random.Random(f"{params.name}:{seed}:look-alikes")  # noqa: S311
    look_alikes(customers, params, writer, end)
    horizon = datetime(end.year, end.month, end.day, tzinfo=UTC)
    rows = sorted(
        (r for r in writer.rows if r.booked_at < horizon),
        key=lambda r: (r.booked_at, r.external_id),
    )
    return Book(params, seed, end, customers, rows, planter.patterns)


def customer_rows(book: Book) -> Iterator[tuple[str, ...]]:
    for c in book.customers:
        email = f"{c.legacy_ref.lower()}@example.org"
        score = {"low": 10, "medium": 45, "high": 80}[c.risk_level]
        yield (
            c.legacy_ref,
            c.kind,
            c.name,
            c.segment,
            c.country,
            email,
            c.risk_level,
            c.iban,
            "EUR",
            c.opened_at.isoformat(),
            str(score),
        )


def label_rows(book: Book) -> Iterator[tuple[str, ...]]:
    for c in book.customers:
        yield (
            c.iban,
            c.legacy_ref,
            c.segment,
            "1" if c.typologies else "0",
            ";".join(sorted(c.typologies)),
            ";".join(c.patterns),
        )


def pattern_rows(book: Book) -> Iterator[tuple[str, ...]]:
    for p in book.patterns:
        yield (
            p.pattern_id,
            p.typology,
            ";".join(book.customers[i].iban for i in p.accounts),
            str(p.transfers),
            f"{p.amount_eur:.2f}",
            p.start.isoformat() if p.start else "",
            p.end.isoformat() if p.end else "",
        )


def edge_rows(book: Book) -> Iterator[tuple[str, ...]]:
    for p in book.patterns:
        for src, dst, amount, at in p.edges:
            yield (p.pattern_id, p.typology, book.customers[src].iban, book.customers[dst].iban,
                   amount, at.isoformat())  # fmt: skip


def write(book: Book, out: Path) -> dict[str, object]:
    """Write the six files into `out`; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    files = (
        ("customers.csv", CUSTOMER_COLUMNS, customer_rows(book)),
        ("transactions.csv", TRANSACTION_COLUMNS, (r.cells() for r in book.rows)),
        ("labels.csv", LABEL_COLUMNS, label_rows(book)),
        ("patterns.csv", PATTERN_COLUMNS, pattern_rows(book)),
        ("pattern_edges.csv", EDGE_COLUMNS, edge_rows(book)),
    )
    for name, columns, rows in files:
        with (out / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(rows)
    manifest = summary(book)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return manifest


def summary(book: Book) -> dict[str, object]:
    laundering = [c for c in book.customers if c.typologies]
    internal = sum(
        1
        for r in book.rows
        if r.cp_account
        and r.cp_account[:2] == "DE"
        and r.cp_account.replace(" ", "")[4:12] == BANK_CODE
    ) + sum(1 for r in book.rows if r.cp_account.startswith(BANK_CODE + " "))
    per_typology: dict[str, dict[str, int]] = {}
    for p in book.patterns:
        entry = per_typology.setdefault(p.typology, {"patterns": 0, "accounts": 0})
        entry["patterns"] += 1
        entry["accounts"] += len(p.accounts)
    return {
        "seed": book.seed,
        "params": asdict(book.params),
        "end": book.end.isoformat(),
        "customers": len(book.customers),
        "transactions": len(book.rows),
        "internal_legs": internal,
        "laundering_accounts": len(laundering),
        "laundering_share": round(len(laundering) / len(book.customers), 4),
        "typologies": per_typology,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo.aml_simulator", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--params", choices=sorted(PARAMS), default="tune")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--end",
        type=date.fromisoformat,
        default=None,
        help="the day after the last booking (YYYY-MM-DD; default today, UTC)",
    )
    args = parser.parse_args(argv)
    end = args.end or datetime.now(UTC).date()
    book = generate(args.params, args.seed, end)
    manifest = write(book, args.out)
    print(
        f"{manifest['customers']} customers, {manifest['transactions']} transactions "
        f"({manifest['internal_legs']} legs between our accounts), "
        f"{manifest['laundering_accounts']} laundering accounts "
        f"({manifest['laundering_share']:.1%}) in {len(book.patterns)} patterns -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
