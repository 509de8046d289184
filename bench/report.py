"""Rows of the result table, percentiles, and the two outputs: a text table and JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    """One line of the table: our number next to the baseline measured in the same run."""

    name: str
    unit: str
    ours: float
    baseline: float
    baseline_is: str
    higher_is_better: bool
    samples: int

    @property
    def ratio(self) -> float:
        """ours / baseline. >1 is better for throughput, worse for latency."""
        return self.ours / self.baseline if self.baseline else math.inf


@dataclass
class Report:
    meta: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return _finite(
            {
                "meta": self.meta,
                "results": [{**asdict(r), "ratio": round(r.ratio, 3)} for r in self.rows],
                "details": self.details,
            }
        )

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=2, default=str) + "\n")


def _finite(value: Any) -> Any:
    """NaN and infinity (no samples, zero baseline) become null: strict JSON has neither."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation): a value that was actually observed."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _fmt(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(report: Report) -> str:
    headers = ("benchmark", "ours", "baseline", "ratio", "baseline is")
    lines = [
        (
            f"{r.name} [{r.unit}]",
            _fmt(r.ours),
            _fmt(r.baseline),
            f"{r.ratio:.2f}x" if math.isfinite(r.ratio) else "-",  # a stage with no baseline
            r.baseline_is,
        )
        for r in report.rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in (0, 4) else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [fmt(headers), fmt(["-" * w for w in widths])]
    out += [fmt(line) for line in lines]
    out.append("")
    out.append(
        "ratio = ours / baseline: for workflows/s higher is better (1.00x = as fast as bare "
        "Temporal); for latencies lower is better (1.00x = no cost over the raw SQL); for "
        "txn/s and rows/s higher is better (1.00x = as fast as plain INSERT / COPY)."
    )
    return "\n".join(out)
