"""What a bulk import of a legacy book reports, and how it reports progress.

Shared by `backoffice import customers` and `backoffice import transactions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class Progress(Protocol):
    def __call__(self, done: int, total: int) -> None:
        """`done` of `total` rows read so far (total is the file's data-row count)."""


def no_progress(done: int, total: int) -> None:
    return None


class JudgingProgress(Protocol):
    def __call__(self, judged: int, total: int, alerts: int) -> None:
        """`judged` of `total` imported transactions judged by the rules, `alerts` raised."""


def no_judging_progress(judged: int, total: int, alerts: int) -> None:
    return None


@dataclass
class ImportReport:
    total: int = 0  # data rows in the file
    inserted: int = 0  # new rows written
    duplicates: int = 0  # rows already present (a re-run), written again as nothing
    rejected: int = 0  # rows refused; each is in the report file with its reason
    alerts: int = 0  # alerts raised (transactions with --alert)
    report_path: Path | None = None
    reasons: dict[str, int] = field(default_factory=dict)  # rejection reason -> count
