"""Every rule family's judge at the current configuration, or with proposed versions.

`load_judges(db)` is what a live ingest, an import and a re-judging of history use;
`load_judges(db, overrides={key: values})` is a backtest's view of the world after a
proposed change: the documents named in `overrides` read as the proposed values, the rest
as they are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aml.commands.expression_store import expression_judges
from aml.commands.monitoring_store import load_rules, name_matcher
from aml.commands.network_store import network_judges
from aml.engines.judging import Judge
from aml.engines.monitoring import BuiltinJudge
from core.db import Database

Overrides = Mapping[str, dict[str, Any] | None]  # config key -> proposed values (None: removed)
JudgeLoader = Callable[[Database, Overrides], Awaitable[Sequence[Judge]]]


async def builtin_judges(db: Database, overrides: Overrides) -> list[Judge]:
    rules = await load_rules(db, overrides=overrides)
    return [BuiltinJudge(rules, await name_matcher(db, rules))]


# One loader per rule family, in the order their alerts are listed.
LOADERS: tuple[JudgeLoader, ...] = (builtin_judges, expression_judges, network_judges)


async def load_judges(db: Database, overrides: Overrides | None = None) -> list[Judge]:
    judges: list[Judge] = []
    for loader in LOADERS:
        judges.extend(await loader(db, overrides or {}))
    return judges
