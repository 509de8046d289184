"""What the rule engine works on: transactions, account histories, context, alert drafts.

Thresholds are in EUR. Amounts in other currencies are converted with the indicative
reference rates below: a table kept by hand, good enough to compare against thresholds.
Replacing it with a daily rates feed (ECB reference rates) is a follow-up.
"""

from __future__ import annotations

import uuid
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from aml.rule_policy import RuleConfig

# EUR per one unit of the currency; indicative mid rates (November 2026), not a feed.
REFERENCE_RATES_EUR: dict[str, Decimal] = {
    "EUR": Decimal("1"), "USD": Decimal("0.92"), "GBP": Decimal("1.17"),
    "CHF": Decimal("1.05"), "SEK": Decimal("0.088"), "NOK": Decimal("0.086"),
    "DKK": Decimal("0.134"), "PLN": Decimal("0.23"), "CZK": Decimal("0.040"),
    "HUF": Decimal("0.0025"), "RON": Decimal("0.20"), "BGN": Decimal("0.511"),
    "CAD": Decimal("0.67"), "AUD": Decimal("0.60"), "NZD": Decimal("0.55"),
    "SGD": Decimal("0.69"), "HKD": Decimal("0.118"), "CNY": Decimal("0.127"),
    "INR": Decimal("0.011"), "MXN": Decimal("0.046"), "BRL": Decimal("0.16"),
    "ZAR": Decimal("0.051"), "TRY": Decimal("0.027"), "AED": Decimal("0.25"),
    "JPY": Decimal("0.0061"), "KRW": Decimal("0.00066"), "ISK": Decimal("0.0066"),
    "CLP": Decimal("0.00097"), "VND": Decimal("0.000036"), "BHD": Decimal("2.44"),
    "KWD": Decimal("2.99"), "OMR": Decimal("2.39"), "JOD": Decimal("1.30"),
    "TND": Decimal("0.29"),
}  # fmt: skip

# Rules that judge a pattern over a window: after one fires on an account it stays quiet
# for that window, so one ongoing pattern is one alert, not one per transaction.
WINDOWED_RULES: tuple[str, ...] = ("structuring", "velocity", "rapid_movement", "fan_in")
MAX_IDS = 100  # transaction ids kept on one alert (details keep the full count)


def to_eur(amount: Decimal, currency: str) -> Decimal:
    return amount * REFERENCE_RATES_EUR[currency]


def eur(amount: Decimal | int) -> str:
    """`9 500 EUR`: whole euros, thin groups, for reasons people read."""
    return f"{Decimal(amount):,.0f}".replace(",", " ") + " EUR"


@dataclass(slots=True)
class Txn:
    id: uuid.UUID
    external_id: str
    account_id: uuid.UUID
    customer_id: uuid.UUID
    booked_at: datetime
    amount: Decimal
    currency: str
    direction: str  # in | out
    channel: str
    counterparty_name: str | None = None
    counterparty_account: str | None = None
    counterparty_country: str | None = None
    eur: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        self.eur = to_eur(self.amount, self.currency)

    @property
    def order(self) -> tuple[datetime, str]:
        return (self.booked_at, self.external_id)

    @property
    def counterparty(self) -> str | None:
        return counterparty_key(self.counterparty_account, self.counterparty_name)


def counterparty_key(account: str | None, name: str | None) -> str | None:
    """Who is on the other side: their account if given, else their name (case-folded)."""
    if account and account.strip():
        return "".join(account.split()).upper()
    if name and name.strip():
        return " ".join(name.split()).casefold()
    return None


@dataclass
class Baseline:
    """An account's turnover in EUR over the baseline period before its first new transaction."""

    total_eur: Decimal
    start: datetime
    end: datetime


class AccountHistory:
    """One account's transactions in a time range, sorted, with running sums per direction.

    `last_before` is the account's latest transaction before the range in which every
    transaction is loaded (further back, only money in may be: what the day windows count).
    """

    def __init__(
        self,
        txns: Sequence[Txn],
        *,
        last_before: datetime | None = None,
        first_activity: datetime | None = None,
        baseline: Baseline | None = None,
    ) -> None:
        self.txns = sorted(txns, key=lambda t: t.order)
        self.times = [t.booked_at for t in self.txns]
        self.position = {t.id: i for i, t in enumerate(self.txns)}
        self.cum_in = [Decimal(0)]
        self.cum_out = [Decimal(0)]
        for t in self.txns:
            self.cum_in.append(self.cum_in[-1] + (t.eur if t.direction == "in" else 0))
            self.cum_out.append(self.cum_out[-1] + (t.eur if t.direction == "out" else 0))
        self.last_before = last_before
        known = [d for d in (first_activity, self.times[0] if self.times else None) if d]
        self.first_activity = min(known) if known else None
        self.baseline = baseline
        self._senders: dict[int, list[int]] = {}

    def start_of(self, i: int, after: datetime) -> int:
        """Index of the first transaction booked strictly after `after` (at most i)."""
        return min(bisect_right(self.times, after), i)

    def sums(self, lo: int, i: int) -> tuple[Decimal, Decimal]:
        """Money in and out over transactions lo..i (inclusive)."""
        return (
            self.cum_in[i + 1] - self.cum_in[lo],
            self.cum_out[i + 1] - self.cum_out[lo],
        )

    def previous_activity(self, i: int) -> datetime | None:
        """When the account was last active before transaction i."""
        known = [d for d in (self.times[i - 1] if i > 0 else None, self.last_before) if d]
        return max(known) if known else None

    def distinct_senders(self, window_seconds: int) -> list[int]:
        """For each transaction, how many different senders paid in during the window ending there.

        One sliding sweep over the account (computed once per window length): a busy
        merchant account costs O(n), not O(n x window).
        """
        cached = self._senders.get(window_seconds)
        if cached is not None:
            return cached
        counts: dict[str, int] = {}
        out: list[int] = []
        lo = 0
        for t in self.txns:
            key = t.counterparty if t.direction == "in" else None
            if key is not None:
                counts[key] = counts.get(key, 0) + 1
            while (t.booked_at - self.txns[lo].booked_at).total_seconds() >= window_seconds:
                gone = self.txns[lo]
                old = gone.counterparty if gone.direction == "in" else None
                if old is not None:
                    counts[old] -= 1
                    if not counts[old]:
                        del counts[old]
                lo += 1
            out.append(len(counts))
        self._senders[window_seconds] = out
        return out


@dataclass(frozen=True)
class NameHit:
    """The best watch-list match of a counterparty name."""

    score: float
    listed_name: str
    list_entry_id: int
    programs: tuple[str, ...]


NameMatcher = Callable[[str], NameHit | None]


@dataclass(frozen=True)
class Rule:
    name: str
    version: int
    config: RuleConfig


@dataclass
class MonitoringContext:
    accounts: dict[uuid.UUID, AccountHistory]
    # (account, counterparty key) -> when the account first dealt with them.
    first_seen: dict[tuple[uuid.UUID, str], datetime] = field(default_factory=dict)
    # (account, windowed rule) -> booked_at of the transaction that last made it fire.
    last_fired: dict[tuple[uuid.UUID, str], datetime] = field(default_factory=dict)
    match_name: NameMatcher | None = None


@dataclass
class AlertDraft:
    rule: str
    version: int
    severity: str  # low | medium | high
    trigger: Txn
    transactions: list[Txn]
    reason: str
    details: dict[str, Any]
    shadow: bool = False  # raised by a rule running in shadow: stored, never routed
    score: int | None = None  # the rule's score, when it gives one (expression rules)
    # A pattern that many transactions complete (a cycle, a chain) names itself here, so
    # it is raised once whichever of its transactions completes it.
    key: str | None = None

    @property
    def dedupe_key(self) -> str:
        # One alert per rule and triggering transaction, however often it is evaluated.
        return self.key or f"{self.rule}:{self.trigger.id}"

    @property
    def transaction_ids(self) -> list[uuid.UUID]:
        # The transactions involved, oldest first, the trigger last (the most recent kept).
        return [t.id for t in self.transactions[-MAX_IDS:]]


RuleCheck = Callable[[Txn, int, AccountHistory, MonitoringContext, Any], AlertDraft | None]
