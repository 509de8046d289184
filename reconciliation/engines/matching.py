"""Matching a statement's lines against our records, in passes. Pure: no database, no I/O.

Columnar (numpy + pandas) so that a million lines against a million records takes about
as long as one plain join of the two. Passes, in order; a line and a record each end in at
most one match or break, and a later pass only sees what the earlier ones left:

1. reference    line.reference == record.external_id. One line, one record: the same
                amount (± tolerance) is a `reference` match, the amount less a known fee a
                `fee` match, anything else an `amount_mismatch` break. Several lines on one
                record: a `split` match when they add up to it, else `amount_mismatch`.
2. batch        our records of a batch channel, per booking day and channel, summed: a line
                of that sum (or the sum less a known fee) 0..window days later is a `batch`.
3. amount_date  same amount (± tolerance), booking days at most `window` apart.
4. fee          the line is the record less a known fee, days at most `window` apart.

Passes 2-4 build the bipartite graph of candidates: a component of exactly one line and
one record (one group, for batches) is a match; anything larger is never guessed but
becomes one `ambiguous` break listing its lines and candidate records, and all of those
leave the later passes. Lines left at the end are `unmatched_line` breaks; records left
are returned for the caller to raise once their window has passed.

Amounts are signed integers of AMOUNT_SCALE units (credit positive; a record of ours is
+amount when money came in, -amount when it went out). A known fee is taken from the
record: credits arrive net of it, debits leave with it on top, so line = record - fee for
both signs; a percentage fee is |amount| x p%, rounded half-even to the cent. Two amounts
"agree" when they differ by at most the tolerance, for every rule.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas._libs import hashtable  # type: ignore[attr-defined]  # (no stubs for it)

from reconciliation.engines.lines import AMOUNT_DECIMALS, AMOUNT_SCALE, StatementLine, scaled
from reconciliation.policy import KnownFee, ReconciliationPolicy

if TYPE_CHECKING:
    from models.reconciliation import ReconSource

# Pass names as stored in recon_match.pass_name (see models.reconciliation.PASSES).
PASS_NAMES = ("reference", "fee", "split", "batch", "amount_date")
_REF, _FEE, _SPLIT, _BATCH, _AMOUNT_DATE = range(len(PASS_NAMES))
LINE_COLUMNS = ("line_no", "booked_on", "amount", "reference")
RECORD_COLUMNS = ("record_id", "external_id", "booked_on", "amount", "channel")
CENT = AMOUNT_SCALE // 100
_I64 = np.int64


@dataclass(frozen=True)
class MatchSettings:
    date_window_days: int = 3
    tolerance: int = 0  # in AMOUNT_SCALE units
    fees: Sequence[KnownFee] = ()
    batch_channels: frozenset[str] = frozenset()
    batch_max_records: int = 5_000
    # Candidate records listed on an ambiguous break. The records listed there are not
    # raised again as unmatched records, so the list keeps (up to this many) all of them.
    max_candidates: int = 1_000

    @classmethod
    def from_policy(cls, policy: ReconciliationPolicy, source: ReconSource) -> MatchSettings:
        return cls(
            date_window_days=policy.date_window_days,
            tolerance=policy.amount_tolerance_minor * CENT,
            fees=tuple(policy.fees()),
            batch_channels=frozenset(source.batch_channels),
            batch_max_records=policy.batch_max_records,
        )


@dataclass(frozen=True, slots=True)
class Break:
    kind: str  # unmatched_line | amount_mismatch | ambiguous (see BREAK_KINDS)
    line_nos: tuple[int, ...]
    record_ids: tuple[str, ...]
    candidate_line_nos: tuple[int, ...]
    candidate_record_ids: tuple[str, ...]
    amount: int  # the lines' sum, scaled
    difference: int  # amount_mismatch: lines - record, scaled; 0 for the other kinds
    booked_on: date  # the first line's


@dataclass
class MatchResult:
    matches: pd.DataFrame  # match_no, pass_name, line_count, record_count, lines_amount,
    # records_amount, days_apart; one row per match, by match_no
    match_lines: pd.DataFrame  # match_no, line_no
    match_records: pd.DataFrame  # match_no, record_id
    breaks: list[Break]  # by first line_no
    unmatched_record_ids: np.ndarray  # sorted; not breaks yet (the caller waits a window)
    ambiguous_record_ids: np.ndarray  # sorted; every candidate held by an ambiguous break
    pass_counts: dict[str, int]  # lines matched per pass
    seconds: dict[str, float] = field(default_factory=dict)

    def break_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for b in self.breaks:
            counts[b.kind] = counts.get(b.kind, 0) + 1
        return counts


def lines_frame(lines: Iterable[StatementLine]) -> pd.DataFrame:
    """Parsed statement lines as the engine's input columns."""
    # The parsers refuse amounts finer than AMOUNT_DECIMALS, so scaleb is exact here.
    rows = [
        (x.line_no, x.booked_on, int(x.amount.scaleb(AMOUNT_DECIMALS)), x.reference) for x in lines
    ]
    line_no, booked_on, amount, reference = zip(*rows, strict=True) if rows else ((),) * 4
    return pd.DataFrame(
        {
            "line_no": np.array(line_no, _I64),
            "booked_on": np.array(booked_on, "datetime64[D]"),
            "amount": np.array(amount, _I64),
            "reference": pd.array(reference, dtype=object),
        }
    )


def match(lines: pd.DataFrame, records: pd.DataFrame, settings: MatchSettings) -> MatchResult:
    """Match `lines` (LINE_COLUMNS) against `records` (RECORD_COLUMNS); see the module doc.

    The result depends only on the rows given, not on their order.
    """
    clock = _Clock()
    state = _State(lines, records, settings)
    clock.lap("prepare")
    _reference_pass(state)
    clock.lap("reference")
    _batch_pass(state)
    clock.lap("batch")
    _graph_pass(state, _AMOUNT_DATE, fee_targets=False)
    clock.lap("amount_date")
    _graph_pass(state, _FEE, fee_targets=True)
    clock.lap("fee")
    result = state.result()
    clock.lap("finish")
    result.seconds = clock.seconds
    return result


class _Clock:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._started = self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = now - self._last
        self.seconds["total"] = now - self._started
        self._last = now


@dataclass
class _Chunk:
    """Matches of one pass (or part of one), in match order: by first line_no."""

    passes: np.ndarray  # per match
    line_count: np.ndarray
    record_count: np.ndarray
    lines_amount: np.ndarray
    records_amount: np.ndarray
    days_apart: np.ndarray
    line_match: np.ndarray  # per member line: the match (0-based, in this chunk)
    line_no: np.ndarray
    record_match: np.ndarray  # per member record, by record_id within a match
    record_idx: np.ndarray


def _days(column: pd.Series) -> np.ndarray:
    values = column.to_numpy()
    if values.dtype.kind != "M":
        values = pd.to_datetime(column).to_numpy()
    return values.astype("datetime64[D]").astype(_I64)


class _State:
    def __init__(self, lines: pd.DataFrame, records: pd.DataFrame, settings: MatchSettings):
        self.settings = settings
        line_no = lines["line_no"].to_numpy(_I64)
        if len(line_no) > 1 and not np.all(line_no[1:] > line_no[:-1]):
            lines = lines.iloc[np.argsort(line_no, kind="stable")]
            line_no = lines["line_no"].to_numpy(_I64)
            if np.any(line_no[1:] == line_no[:-1]):
                raise ValueError("lines' line_no must be unique")
        self.line_no = line_no
        self.l_day = _days(lines["booked_on"])
        self.l_amt = lines["amount"].to_numpy(_I64)
        self.l_ref = lines["reference"]
        self.r_ids = records["record_id"]
        self.r_id = self.r_ids.to_numpy(object)
        self.r_ext = records["external_id"]
        self.r_day = _days(records["booked_on"])
        self.r_amt = records["amount"].to_numpy(_I64)
        self.r_channel = records["channel"]
        self.line_free = np.ones(len(self.line_no), bool)
        self.record_free = np.ones(len(self.r_id), bool)
        self.held: list[np.ndarray] = []  # records held by ambiguous breaks
        self.chunks: list[_Chunk] = []
        self.breaks: list[Break] = []

    # -- matches and breaks ---------------------------------------------------------------

    def add_matches(
        self,
        passes: np.ndarray,
        line_match: np.ndarray,
        line_idx: np.ndarray,
        record_match: np.ndarray,
        record_idx: np.ndarray,
    ) -> None:
        """Matches 0..n-1 of one pass and their members; numbered later, chunk by chunk."""
        n = len(passes)
        by_line, by_record = _Groups(line_match, n), _Groups(record_match, n)
        l_day, r_day = self.l_day[line_idx], self.r_day[record_idx]
        first = by_line.reduce(np.minimum, self.line_no[line_idx])
        days = np.maximum(
            np.abs(by_line.reduce(np.maximum, l_day) - by_record.reduce(np.minimum, r_day)),
            np.abs(by_record.reduce(np.maximum, r_day) - by_line.reduce(np.minimum, l_day)),
        )
        columns = [
            passes.astype(np.int8),
            np.bincount(line_match, minlength=n),
            np.bincount(record_match, minlength=n),
            by_line.reduce(np.add, self.l_amt[line_idx]),
            by_record.reduce(np.add, self.r_amt[record_idx]),
            days,
        ]
        if n > 1 and not np.all(first[1:] >= first[:-1]):
            order = np.argsort(first, kind="stable")
            columns = [c[order] for c in columns]
            rank = np.empty(n, _I64)
            rank[order] = np.arange(n)
            line_match, record_match = rank[line_match], rank[record_match]
        line_no = self.line_no[line_idx]
        # Members in match order: lines by line_no, records by record_id.
        if not by_line.identity or not _ascending(line_match):
            order = np.lexsort((line_no, line_match))
            line_match, line_no = line_match[order], line_no[order]
        if not by_record.identity or not _ascending(record_match):
            ids = self.r_id[record_idx].astype(str)
            order = np.lexsort((ids, record_match))
            record_match, record_idx = record_match[order], record_idx[order]
        passes, line_count, record_count, lines_amount, records_amount, days = columns
        self.chunks.append(
            _Chunk(
                passes,
                line_count,
                record_count,
                lines_amount,
                records_amount,
                days,
                line_match,
                line_no,
                record_match,
                record_idx,
            )
        )
        self.line_free[line_idx] = False
        self.record_free[record_idx] = False

    def line_break(
        self,
        kind: str,
        lines: np.ndarray,
        *,
        records: np.ndarray | None = None,
        candidates: np.ndarray | None = None,
        difference: int = 0,
    ) -> None:
        """One break over several lines (a split that does not add up, an ambiguity)."""
        lines = np.sort(lines)  # line order is line_no order
        amount = int(self.l_amt[lines].sum())
        listed = [] if candidates is None else sorted(self.r_id[candidates].tolist())
        self.breaks.append(
            Break(
                kind=kind,
                line_nos=tuple(self.line_no[lines].tolist()),
                record_ids=() if records is None else tuple(sorted(self.r_id[records].tolist())),
                candidate_line_nos=(),
                candidate_record_ids=tuple(listed[: self.settings.max_candidates]),
                amount=amount,
                difference=difference,
                booked_on=_date(int(self.l_day[lines[0]])),
            )
        )
        self.line_free[lines] = False
        if records is not None:
            self.record_free[records] = False

    def single_line_breaks(
        self, kind: str, lines: np.ndarray, records: np.ndarray | None = None
    ) -> None:
        """One break per line, each with its record if any (difference: line - record)."""
        nos = self.line_no[lines].tolist()
        amounts = self.l_amt[lines].tolist()
        days = self.l_day[lines].astype("datetime64[D]").astype(object).tolist()
        if records is None:
            ids: list[tuple[str, ...]] = [()] * len(nos)
            diffs = [0] * len(nos)
        else:
            ids = [(r,) for r in self.r_id[records].tolist()]
            diffs = (self.l_amt[lines] - self.r_amt[records]).tolist()
            self.record_free[records] = False
        self.line_free[lines] = False
        self.breaks.extend(
            Break(kind, (no,), rid, (), (), amount, diff, day)
            for no, rid, amount, diff, day in zip(nos, ids, amounts, diffs, days, strict=True)
        )

    # -- the result -----------------------------------------------------------------------

    def result(self) -> MatchResult:
        self.single_line_breaks("unmatched_line", np.flatnonzero(self.line_free))
        self.breaks.sort(key=lambda b: (b.line_nos[0], b.kind))
        held = np.concatenate(self.held) if self.held else np.empty(0, _I64)
        none = np.empty(0, _I64)
        chunks = self.chunks or [_Chunk(none.astype(np.int8), *[none] * 9)]
        sizes = [len(c.passes) for c in chunks]
        bases = np.cumsum([0, *sizes[:-1]]) + 1  # match_no = base + position in its chunk
        total = sum(sizes)

        def joined(name: str, offset: bool = False) -> np.ndarray:
            parts = [getattr(c, name) for c in chunks]
            if offset:
                parts = [p + b for p, b in zip(parts, bases, strict=True)]
            return np.concatenate(parts)

        codes = joined("passes")
        line_count = joined("line_count")
        matches = pd.DataFrame(
            {
                "match_no": np.arange(1, total + 1, dtype=_I64),
                "pass_name": pd.Categorical.from_codes(
                    codes.astype(np.int8), dtype=pd.CategoricalDtype(list(PASS_NAMES))
                ),
                "line_count": line_count,
                "record_count": joined("record_count"),
                "lines_amount": joined("lines_amount"),
                "records_amount": joined("records_amount"),
                "days_apart": joined("days_apart"),
            }
        )
        match_lines = pd.DataFrame(
            {"match_no": joined("line_match", True), "line_no": joined("line_no")}
        )
        match_records = pd.DataFrame(
            {
                "match_no": joined("record_match", True),
                "record_id": self.r_ids.array.take(joined("record_idx")),
            }
        )
        per_pass = np.bincount(codes, weights=line_count, minlength=len(PASS_NAMES))
        return MatchResult(
            matches=matches,
            match_lines=match_lines,
            match_records=match_records,
            breaks=self.breaks,
            unmatched_record_ids=np.sort(self.r_id[self.record_free]),
            ambiguous_record_ids=np.sort(self.r_id[held]),
            pass_counts={p: int(k) for p, k in zip(PASS_NAMES, per_pass, strict=True)},
        )


def _ascending(values: np.ndarray) -> bool:
    return len(values) < 2 or bool(np.all(values[1:] >= values[:-1]))


def _date(day: int) -> date:
    return date(1970, 1, 1) + timedelta(days=day)


class _Groups:
    """Values per match (0..n-1, every match has members), reduced without a Python loop."""

    def __init__(self, groups: np.ndarray, n: int):
        self.n = n
        # The usual case: one member per match, in match order; nothing to reduce.
        self.identity = len(groups) == n and bool(np.all(groups == np.arange(n)))
        if not self.identity:
            self.order = np.argsort(groups, kind="stable")
            g = groups[self.order]
            self.starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
            self.keys = g[self.starts]

    def reduce(self, op: Any, values: np.ndarray) -> np.ndarray:
        if self.identity:
            return values.astype(_I64)
        out = np.zeros(self.n, _I64)
        if len(values):
            out[self.keys] = op.reduceat(values[self.order], self.starts)
        return out


# -- pass 1: reference ----------------------------------------------------------------------


def _reference_pass(s: _State) -> None:
    found = _positions(s.r_ext, s.l_ref)
    li = np.flatnonzero(found >= 0)
    ri = found[li]
    if not len(li):
        return
    per_record = np.bincount(ri, minlength=len(s.r_id))
    one = per_record[ri] == 1
    tol = s.settings.tolerance

    # One line, one record: the same amount, the amount less a fee, or a mismatch.
    l1, r1 = li[one], ri[one]
    diff = s.l_amt[l1] - s.r_amt[r1]
    same = np.abs(diff) <= tol
    fee = ~same
    fee[fee] = _is_fee(s, diff[fee], s.r_amt[r1[fee]])
    good = same | fee
    s.single_line_breaks("amount_mismatch", l1[~good], r1[~good])
    n1 = int(good.sum())
    s.add_matches(
        np.where(same[good], _REF, _FEE), np.arange(n1), l1[good], np.arange(n1), r1[good]
    )

    # Several lines, one record: they add up to it, or a mismatch.
    ls, rs = li[~one], ri[~one]
    if not len(ls):
        return
    order = np.argsort(rs, kind="stable")
    ls, rs = ls[order], rs[order]
    starts = np.flatnonzero(np.r_[True, rs[1:] != rs[:-1]])
    bounds = np.r_[starts, len(rs)]
    sums = np.add.reduceat(s.l_amt[ls], starts)
    records = rs[starts]
    split_ok = np.abs(sums - s.r_amt[records]) <= tol
    for k in np.flatnonzero(~split_ok):
        difference = int(sums[k] - s.r_amt[records[k]])
        s.line_break("amount_mismatch", ls[bounds[k] : bounds[k + 1]],
                     records=records[k : k + 1], difference=difference)  # fmt: skip
    group_of = np.repeat(np.arange(len(starts)), np.diff(bounds))
    keep = split_ok[group_of]
    number = np.cumsum(split_ok) - 1  # the good splits, numbered 0..
    n2 = int(split_ok.sum())
    s.add_matches(np.full(n2, _SPLIT), number[group_of[keep]], ls[keep], np.arange(n2), records[split_ok])  # fmt: skip


def _positions(keys: pd.Series, wanted: pd.Series) -> np.ndarray:
    """Per wanted value the position of the key equal to it, or -1 (keys are unique).

    pandas' own hash table directly: Index.get_indexer builds the same table, but takes
    half as long again to check and convert around it.
    """
    table = hashtable.PyObjectHashTable(len(keys))
    table.map_locations(keys.to_numpy(object))
    if len(table) != len(keys):
        raise ValueError("records' external_id must be unique")
    found: np.ndarray = table.lookup(wanted.to_numpy(object))
    return found.astype(_I64)


def fee_units(fee: KnownFee, amounts: np.ndarray) -> np.ndarray:
    """What `fee` takes from each amount, in scaled units (positive)."""
    if fee.fixed is not None:
        return np.full(len(amounts), scaled(fee.fixed), _I64)
    assert fee.percent is not None
    num, den = fee.percent.as_integer_ratio()
    den *= 100 * CENT  # |amount| x p / 100, in cents
    magnitude = np.abs(amounts)
    if len(magnitude) and int(magnitude.max()) * num >= 2**62:  # exact, if slowly
        exact = [_half_even(int(m) * num, den) for m in magnitude.tolist()]
        return np.array(exact, _I64) * CENT
    q, r = np.divmod(magnitude * num, den)
    up = (2 * r > den) | ((2 * r == den) & (q % 2 == 1))
    return (q + up) * CENT


def _half_even(num: int, den: int) -> int:
    q, r = divmod(num, den)
    return q + (2 * r > den or (2 * r == den and q % 2 == 1))


def _is_fee(s: _State, diff: np.ndarray, record_amounts: np.ndarray) -> np.ndarray:
    """line - record == -fee (± tolerance) for some known fee."""
    hit = np.zeros(len(diff), bool)
    for fee in s.settings.fees:
        hit |= np.abs(diff + fee_units(fee, record_amounts)) <= s.settings.tolerance
    return hit


# -- candidate graphs -----------------------------------------------------------------------


def _pairs(
    l_val: np.ndarray,
    l_day: np.ndarray,
    r_val: np.ndarray,
    r_day: np.ndarray,
    tol: int,
    lo: int,
    hi: int,
) -> tuple[np.ndarray, np.ndarray]:
    """All (i, j) with |l_val[i] - r_val[j]| <= tol and lo <= l_day[i] - r_day[j] <= hi."""
    empty = np.empty(0, _I64)
    if not len(l_val) or not len(r_val):
        return empty, empty
    d_min = int(r_day.min())
    span = int(r_day.max()) - d_min + 1
    if tol == 0:  # equality join: records by (amount, day), one range per line
        order = np.lexsort((r_day, r_val))
        v = r_val[order]
        new = np.r_[True, v[1:] != v[:-1]]
        uniq, rank = v[new], np.cumsum(new) - 1
        key = rank * span + (r_day[order] - d_min)
        pos = np.searchsorted(uniq, l_val)
        hit = uniq[np.minimum(pos, len(uniq) - 1)] == l_val
        first, last = l_day - hi - d_min, l_day - lo - d_min
        hit &= (last >= 0) & (first < span)
        li = np.flatnonzero(hit)
        base = pos[li] * span
        start = np.searchsorted(key, base + np.maximum(first[li], 0), "left")
        end = np.searchsorted(key, base + np.minimum(last[li], span - 1), "right")
        return _expand(li, start, end, order)
    # band join: records by (day, amount); per day offset, the range of amounts within tol
    order = np.lexsort((r_val, r_day))
    uniq = np.unique(r_val)
    key = (r_day[order] - d_min) * len(uniq) + np.searchsorted(uniq, r_val[order])
    lo_rank = np.searchsorted(uniq, l_val - tol, "left")
    hi_rank = np.searchsorted(uniq, l_val + tol, "right")
    out_l, out_r = [], []
    for offset in range(lo, hi + 1):
        day = l_day - offset - d_min
        li = np.flatnonzero((lo_rank < hi_rank) & (day >= 0) & (day < span))
        base = day[li] * len(uniq)
        start = np.searchsorted(key, base + lo_rank[li])
        end = np.searchsorted(key, base + hi_rank[li])
        pl, pr = _expand(li, start, end, order)
        out_l.append(pl)
        out_r.append(pr)
    return np.concatenate(out_l), np.concatenate(out_r)


def _expand(
    li: np.ndarray, start: np.ndarray, end: np.ndarray, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    counts = np.maximum(end - start, 0)
    total = int(counts.sum())
    lines = np.repeat(li, counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return lines, order[np.repeat(start, counts) + offsets]


def _components(
    li: np.ndarray, rj: np.ndarray
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Distinct edges of a bipartite graph -> (mask of edges that are a component of their
    own, [(lines, right nodes) of every larger component])."""
    if not len(li):
        return np.zeros(0, bool), []
    deg_l = np.bincount(li)
    deg_r = np.bincount(rj)
    alone = (deg_l[li] == 1) & (deg_r[rj] == 1)
    if alone.all():
        return alone, []
    nodes_l, u = np.unique(li[~alone], return_inverse=True)
    nodes_r, v = np.unique(rj[~alone], return_inverse=True)
    v = v + len(nodes_l)
    parent = np.arange(len(nodes_l) + len(nodes_r))
    while True:  # hook every edge to the smaller label, then jump pointers to the root
        pu, pv = parent[u], parent[v]
        if np.array_equal(pu, pv):
            break
        low = np.minimum(pu, pv)
        np.minimum.at(parent, pu, low)
        np.minimum.at(parent, pv, low)
        while not np.array_equal(jumped := parent[parent], parent):
            parent = jumped
    label_l, label_r = parent[: len(nodes_l)], parent[len(nodes_l) :]
    comps: list[tuple[np.ndarray, np.ndarray]] = []
    by_l, by_r = np.argsort(label_l, kind="stable"), np.argsort(label_r, kind="stable")
    roots_l, cut_l = np.unique(label_l[by_l], return_index=True)
    roots_r, cut_r = np.unique(label_r[by_r], return_index=True)
    assert np.array_equal(roots_l, roots_r)
    groups_l = np.split(nodes_l[by_l], cut_l[1:])
    groups_r = np.split(nodes_r[by_r], cut_r[1:])
    comps.extend(zip(groups_l, groups_r, strict=True))
    return alone, comps


def _take_graph(
    s: _State,
    pass_code: int,
    li: np.ndarray,
    rj: np.ndarray,
    members: list[np.ndarray] | None = None,
) -> None:
    """Match the components of one line and one right node, raise the rest as ambiguous.

    Right nodes are records, or (batch pass) groups whose records are members[node].
    """
    width = int(rj.max()) + 1
    edges = np.unique(li * width + rj)  # distinct (a line may reach a record by two fees)
    li, rj = edges // width, edges % width
    alone, comps = _components(li, rj)
    ml, mr = li[alone], rj[alone]
    n = len(ml)
    if members is None:
        rec_match, rec_idx = np.arange(n), mr
    else:
        rec_match = np.repeat(np.arange(n), [len(members[g]) for g in mr.tolist()])
        rec_idx = np.concatenate([members[g] for g in mr.tolist()]) if n else mr
    s.add_matches(np.full(n, pass_code), np.arange(n), ml, rec_match, rec_idx)
    for lines, right in comps:
        records = right if members is None else np.concatenate([members[g] for g in right])
        s.line_break("ambiguous", lines, candidates=records)
        s.record_free[records] = False
        s.held.append(records)


# -- pass 2: batch --------------------------------------------------------------------------


def _batch_pass(s: _State) -> None:
    cfg = s.settings
    if not cfg.batch_channels:
        return
    free = np.flatnonzero(s.record_free)
    channel, names = pd.factorize(s.r_channel.iloc[free], sort=True)
    batch_codes = [i for i, name in enumerate(names) if name in cfg.batch_channels]
    in_batch = np.isin(channel, batch_codes)
    ri, channel = free[in_batch], channel[in_batch]
    li = np.flatnonzero(s.line_free)
    if not len(ri) or not len(li):
        return
    day = s.r_day[ri]
    group_key = (day - day.min()) * len(names) + channel
    keys, group_of, sizes = np.unique(group_key, return_inverse=True, return_counts=True)
    order = np.argsort(group_of, kind="stable")
    bounds = np.r_[0, np.cumsum(sizes)]
    members = [ri[order[bounds[g] : bounds[g + 1]]] for g in range(len(keys))]
    totals = np.add.reduceat(s.r_amt[ri[order]], bounds[:-1])
    g_day = s.r_day[ri[order[bounds[:-1]]]]
    eligible = np.flatnonzero(sizes <= cfg.batch_max_records)
    # What a line may be: the total, or the total less each known fee.
    t_val = [totals[eligible]] + [
        totals[eligible] - fee_units(fee, totals[eligible]) for fee in cfg.fees
    ]
    t_group = np.tile(eligible, len(t_val))
    t_day = g_day[t_group]
    pl, pt = _pairs(s.l_amt[li], s.l_day[li], np.concatenate(t_val), t_day,
                    cfg.tolerance, 0, cfg.date_window_days)  # fmt: skip
    if len(pl):
        _take_graph(s, _BATCH, li[pl], t_group[pt], members)


# -- passes 3 and 4: amount and date, amount less a fee and date -------------------------------


def _graph_pass(s: _State, pass_code: int, *, fee_targets: bool) -> None:
    cfg = s.settings
    li = np.flatnonzero(s.line_free)
    ri = np.flatnonzero(s.record_free)
    if not len(li) or not len(ri):
        return
    if fee_targets:
        if not cfg.fees:
            return
        values = [s.r_amt[ri] - fee_units(fee, s.r_amt[ri]) for fee in cfg.fees]
        r_val, targets = np.concatenate(values), np.tile(ri, len(values))
    else:
        r_val, targets = s.r_amt[ri], ri
    w = cfg.date_window_days
    pl, pr = _pairs(s.l_amt[li], s.l_day[li], r_val, s.r_day[targets], cfg.tolerance, -w, w)
    if len(pl):
        _take_graph(s, pass_code, li[pl], targets[pr])
