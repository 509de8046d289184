"""What every rule engine answers to: judge a batch of transactions already in the table.

Three families of rules judge transactions, each set-based over a batch: the built-in
rules (`aml.engines.monitoring`), rules written as expressions over windowed aggregates,
and network typologies over the money flowing between our own accounts. Each family is a
`Judge`, built from one snapshot of its configuration (`aml.commands.judges.load_judges`),
so a live ingest, an import, a re-judging of history and a backtest of a proposed rule
change all run the same code:

- **live** (`memory=None`): cool-downs and repeats are read from the alerts already stored;
  the drafts become alerts and go to cases (a shadow rule's are stored, not routed);
- **dry** (a `JudgeMemory`): a backtest. Nothing is read from or written to the alerts
  table; the memory carries cool-downs and dedupe keys from one slice to the next.

A batch is judged in booked order and every rule looks only backwards, so judging history
slice by slice (oldest first) raises what judging it as it arrived would have raised.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from aml.engines.monitoring_data import AlertDraft, Txn


@dataclass
class JudgeMemory:
    """A dry run's state between slices: when each (account, rule) last fired, keys raised."""

    last_fired: dict[tuple[uuid.UUID, str], datetime] = field(default_factory=dict)
    raised: set[str] = field(default_factory=set)

    def fresh(self, drafts: Sequence[AlertDraft]) -> list[AlertDraft]:
        """The drafts not raised before in this run (the dry twin of the unique dedupe key)."""
        out: list[AlertDraft] = []
        for draft in drafts:
            if draft.dedupe_key in self.raised:
                continue
            self.raised.add(draft.dedupe_key)
            out.append(draft)
        return out


class Judge(Protocol):
    """One family of rules at one configuration snapshot."""

    family: str  # builtin | expression | network

    def rule_keys(self) -> Sequence[str]:
        """The rule keys this judge may raise alerts under (enabled or in shadow)."""
        ...

    async def judge(
        self, session: AsyncSession, new: Sequence[Txn], memory: JudgeMemory | None
    ) -> list[AlertDraft]:
        """Alerts the new transactions (inserted, in this session's view) raise, in booked order.

        Each draft carries its rule's configuration version, and `shadow=True` when its
        rule runs in shadow.
        """
        ...
