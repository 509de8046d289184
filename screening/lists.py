"""The watch lists the product knows: their names, kinds and what they are.

Which of them apply, and how old each may be, is configuration under maker-checker
(`screening.policy.ScreeningConfig.lists`). A list applies once a version of it has been
imported; the current version of a list is its newest list date.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

ListKind = Literal["sanctions", "pep"]


@dataclass(frozen=True)
class WatchList:
    name: str  # as stored in watchlist_version.list_name and shown on every hit
    kind: ListKind
    label: str  # what a compliance officer calls it
    publisher: str
    default_max_age_days: int


LISTS: dict[str, WatchList] = {
    w.name: w
    for w in (
        WatchList("OFAC-SDN", "sanctions", "OFAC Specially Designated Nationals", "US Treasury", 7),
        WatchList(
            "OFAC-CONS", "sanctions", "US Consolidated (non-SDN) Sanctions List", "US Treasury", 7
        ),
        WatchList(
            "UN-SC", "sanctions", "UN Security Council Consolidated List", "United Nations", 7
        ),
        WatchList(
            "EU-FSF",
            "sanctions",
            "EU Consolidated Financial Sanctions List",
            "European Commission",
            7,
        ),
        WatchList("UK-SL", "sanctions", "UK Sanctions List", "UK FCDO", 7),
        WatchList(
            "PEP-OS", "pep", "Politically exposed persons (OpenSanctions)", "OpenSanctions", 30
        ),
    )
}


def label_of(name: str) -> str:
    known = LISTS.get(name)
    return known.label if known else name


@dataclass(frozen=True)
class StaleList:
    name: str
    label: str  # the current version's label, "UN-SC 2026-02-27"
    list_date: date
    age_days: int
    max_age_days: int

    @property
    def text(self) -> str:
        return (
            f"{label_of(self.name)} ({self.label}) is {self.age_days} days old; "
            f"its maximum age is {self.max_age_days} days"
        )


def stale_lists(
    max_ages: Iterable[tuple[str, int]], current: Mapping[str, date], today: date
) -> list[StaleList]:
    """The enabled lists (name, maximum age in days) whose current version (its list date)
    is older than the maximum age on `today`. A list with no version yet is not stale here:
    screening says it has no list."""
    out = []
    for name, max_age in max_ages:
        listed = current.get(name)
        if listed is not None and (today - listed).days > max_age:
            label = f"{name} {listed.isoformat()}"
            out.append(StaleList(name, label, listed, (today - listed).days, max_age))
    return out
