"""Screening names in a pool child (core.cpu_pool): the name matching of a whole batch at
once, against an index the child builds once per list version and keeps. Pure: no database.

The index is built in the child from the list's entries, never pickled: the entries are
sent only when the child says it has no index of that version yet (once per child and
version); every other call sends just the queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from screening.engines.entries import ParsedEntry
from screening.engines.matcher import MatchHit, ScreeningIndex
from screening.policy import ScreeningConfig

if TYPE_CHECKING:
    from screening.commands.service import ScreeningQuery

# This child's index: (list key, index). A newer version replaces it.
_index: tuple[str, ScreeningIndex] | None = None


def match_names(
    key: str,
    label: str,
    queries: Sequence[ScreeningQuery],
    config: ScreeningConfig,
    entries: list[ParsedEntry] | None = None,
) -> list[list[MatchHit]] | None:
    """Each query's hits, best first; None when this child has no index of `key` yet and
    no `entries` were sent to build it from."""
    global _index
    if _index is None or _index[0] != key:
        if entries is None:
            return None
        _index = (key, ScreeningIndex(entries, version=label))
    index = _index[1]
    return [
        index.match(
            q.name,
            kind=q.kind,
            date_of_birth=q.date_of_birth,
            nationality=q.nationality,
            config=config,
        )
        for q in queries
    ]
