"""Sanctions and PEP screening quality and speed, against brute force, on two labelled sets.

The sets come from bench/screening_queries.py (every list, every script; `tune` seed 1 and
`eval` seed 2 with different parameters). Each query is matched once with the lowest
threshold the configuration allows (50); its target's best score and the best score of any
other entry give precision and recall at every threshold (the curve) in one pass. The
shipped default threshold is measured directly too, with the default configuration.

Counting, per query:
  a positive whose target (or an entry listing the very same name, `equivalent`) is hit is
  a true positive; any other entry hit on a query with no true hit is a false positive —
  a positive missing its target and hitting something else is both a miss and a false hit.
Precision = TP / (TP + FP), recall = TP / positives.

Baselines in the same run, on the same queries:
  brute force   `rapidfuzz.fuzz.token_sort_ratio` over every listed name of every list, at
                the threshold best for it on this very set (F1) — its best case;
  no index      our own scorer over every listed name with no candidate lookup and no
                pruning (`ScreeningIndex.match(..., exhaustive=True)` when the matcher has
                it), on a sample: what the index and its bound cost or save in recall.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process, utils

from bench.report import Row, percentile
from bench.screening_queries import SETS, Lists, Query, build_queries, describe
from screening.commands.importer import DEMO_LISTS
from screening.engines import ofac, opensanctions, un, us_consolidated
from screening.engines.entries import ParsedEntry
from screening.engines.matcher import ScreeningIndex
from screening.policy import ScreeningConfig

CURVE = range(60, 101)
FLOOR = 50  # the lowest hit_threshold the configuration allows
PRECISION_RULE = 0.99  # the default threshold: highest recall on `tune` at this precision


def list_files() -> dict[str, Path]:
    """The four real lists the demo loads (data/sanctions), by list name."""
    return {name: path for name, path, _ in DEMO_LISTS}


PARSERS: dict[str, Callable[[Path], list[ParsedEntry]]] = {
    "OFAC-SDN": ofac.parse_file,
    "OFAC-CONS": us_consolidated.parse_dir,
    "UN-SC": un.parse_file,
    "PEP-OS": opensanctions.parse_file,
}


def load_lists(files: Mapping[str, Path] | None = None) -> dict[str, list[ParsedEntry]]:
    files = files if files is not None else list_files()
    out = {}
    for name, path in files.items():
        entries = PARSERS[name](path)
        for e in entries:
            e.list_name = e.list_name or name
        out[name] = entries
    return out


# ----------------------------------------------------------------------------- scoring
@dataclass
class Scored:
    """One query matched at the floor: the best score of its target and of anything else."""

    query: Query
    target: float  # best score of the target or an equivalent entry; 0 when not hit
    other: float  # best score of any other entry; 0 when none
    other_name: str = ""


@dataclass
class Quality:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    positives: int = 0
    misses: list[str] = field(default_factory=list)
    false_hits: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.tp / self.positives if self.positives else 0.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    def add(self, q: Query, target_hit: bool, other_hit: bool, note: str = "") -> None:
        if q.positive:
            self.positives += 1
            if target_hit:
                self.tp += 1
                return
            self.fn += 1
            if len(self.misses) < 40:
                self.misses.append(f"{q.variant}: {q.name!r} → {q.target}")
        if other_hit:
            self.fp += 1
            if len(self.false_hits) < 40:
                self.false_hits.append(f"{q.variant}: {q.name!r} hit {note}")

    def summary(self) -> dict[str, Any]:
        return {
            "recall": round(self.recall, 4),
            "precision": round(self.precision, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "positives": self.positives,
            "misses": self.misses,
            "false_hits": self.false_hits,
        }


def _accepted(q: Query) -> frozenset[str]:
    return q.equivalent | {q.target} if q.target else frozenset()


def score_all(index: ScreeningIndex, queries: list[Query], floor: int = FLOOR) -> list[Scored]:
    config = ScreeningConfig(hit_threshold=floor)
    out = []
    for q in queries:
        hits = index.match(q.name, kind=q.kind, config=config)  # type: ignore[arg-type]
        ok = _accepted(q)
        target = max((h.score for h in hits if f"{h.list_name}:{h.reference}" in ok), default=0)
        others = [h for h in hits if f"{h.list_name}:{h.reference}" not in ok]
        best = max(others, key=lambda h: h.score, default=None)
        out.append(
            Scored(
                q,
                float(target),
                best.score if best else 0.0,
                f"{best.list_name}:{best.reference} {best.matched_name!r} ({best.score})"
                if best
                else "",
            )
        )
    return out


def script_key(q: Query) -> str | None:
    """Which script group a positive is in ("Greek", "original Arabic"; "Latin" for the
    listed Latin names written differently), or None for a negative."""
    if not q.positive:
        return None
    return q.variant.removeprefix("script:") if q.variant.startswith("script:") else "Latin"


def quality_at(scored: list[Scored], threshold: float, *, script: str | None = None) -> Quality:
    quality = Quality()
    for s in scored:
        if script is not None and (not s.query.positive or script_key(s.query) != script):
            continue
        hit = s.target >= threshold
        quality.add(s.query, hit, s.other >= threshold and not hit, s.other_name)
    return quality


def curve(scored: list[Scored]) -> list[dict[str, float]]:
    rows = []
    for t in CURVE:
        q = quality_at(scored, t)
        rows.append(
            {"threshold": t, "precision": round(q.precision, 4), "recall": round(q.recall, 4)}
        )
    return rows


def choose_threshold(rows: list[dict[str, float]], min_precision: float = PRECISION_RULE) -> int:
    """The threshold of highest recall whose precision is at least `min_precision` (the
    highest such threshold on a tie: fewer false hits for the same recall)."""
    ok = [r for r in rows if r["precision"] >= min_precision]
    if not ok:
        return int(max(rows, key=lambda r: r["precision"])["threshold"])
    best = max(r["recall"] for r in ok)
    return int(max(r["threshold"] for r in ok if r["recall"] == best))


def run_at(
    index: ScreeningIndex, queries: list[Query], config: ScreeningConfig
) -> tuple[Quality, list[float], dict[str, Quality]]:
    """Each query matched as the product matches it (the given configuration): quality,
    latencies (ms) and recall per script."""
    for q in queries[:50]:  # warm-up: the normaliser's caches
        index.match(q.name, kind=q.kind, config=config)  # type: ignore[arg-type]
    quality = Quality()
    per_script: dict[str, Quality] = {}
    latencies = []
    for q in queries:
        started = time.perf_counter()
        hits = index.match(q.name, kind=q.kind, config=config)  # type: ignore[arg-type]
        latencies.append((time.perf_counter() - started) * 1000)
        ok = _accepted(q)
        keys = {f"{h.list_name}:{h.reference}" for h in hits}
        hit = bool(keys & ok)
        wrong = sorted(keys - ok)
        quality.add(q, hit, bool(wrong) and not hit, ", ".join(wrong[:3]))
        key = script_key(q)
        if key is not None:
            per_script.setdefault(key, Quality()).add(q, hit, False)
    return quality, latencies, per_script


# ----------------------------------------------------------------------------- baselines
@dataclass
class Brute:
    choices: list[str]
    owners: list[str]
    is_person: list[bool]


def brute_choices(entries: list[ParsedEntry]) -> Brute:
    choices, owners, person = [], [], []
    for e in entries:
        for n in e.names:
            choices.append(utils.default_process(n.name))
            owners.append(e.entry_key)
            person.append(e.entry_type == "person")
    return Brute(choices, owners, person)


def run_brute_force(
    base: Brute, queries: list[Query]
) -> tuple[Quality, int, list[float], list[Scored]]:
    """token_sort_ratio over every name of every list, at the threshold best for it (F1)."""
    scored: list[Scored] = []
    latencies = []
    for q in queries:
        started = time.perf_counter()
        found = process.extract(
            utils.default_process(q.name),
            base.choices,
            scorer=fuzz.token_sort_ratio,
            processor=None,
            limit=50,
            score_cutoff=60,
        )
        latencies.append((time.perf_counter() - started) * 1000)
        ok = _accepted(q)
        t, o = 0.0, 0.0
        for _, score, i in found:
            if q.kind is not None and base.is_person[i] != (q.kind == "person"):
                continue
            if base.owners[i] in ok:
                t = max(t, score)
            else:
                o = max(o, score)
        scored.append(Scored(q, t, o))
    best: tuple[float, int, Quality] | None = None
    for threshold in CURVE:
        quality = quality_at(scored, threshold)
        p, r = quality.precision, quality.recall
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        if best is None or f1 > best[0]:
            best = (f1, threshold, quality)
    assert best is not None
    return best[2], best[1], latencies, scored


def has_exhaustive(index: ScreeningIndex) -> bool:
    return "exhaustive" in inspect.signature(index.match).parameters


def run_exhaustive(
    index: ScreeningIndex, queries: list[Query], config: ScreeningConfig
) -> tuple[Quality, list[float]] | None:
    """Our scorer over every listed name (no candidate lookup, no pruning), if available."""
    if not has_exhaustive(index):
        return None
    quality, latencies = Quality(), []
    for q in queries:
        started = time.perf_counter()
        hits = index.match(q.name, kind=q.kind, config=config, exhaustive=True)  # type: ignore[arg-type]
        latencies.append((time.perf_counter() - started) * 1000)
        ok = _accepted(q)
        keys = {f"{h.list_name}:{h.reference}" for h in hits}
        hit = bool(keys & ok)
        quality.add(q, hit, bool(keys - ok) and not hit)
    return quality, latencies


# ----------------------------------------------------------------------------- the run
def measure(
    *,
    queries_per_set: int | None = None,
    exhaustive_sample: int = 300,
    sets: tuple[str, ...] = ("tune", "eval"),
    progress: Callable[[str], None] = lambda _: None,
    with_baseline: bool = True,
) -> dict[str, Any]:
    """Both sets: the curve, quality at the shipped default, per script, speed, baselines."""
    started = time.perf_counter()
    lists = load_lists()
    entries = [e for v in lists.values() for e in v]
    parse_s = time.perf_counter() - started
    started = time.perf_counter()
    index = ScreeningIndex(entries)
    build_s = time.perf_counter() - started
    progress(
        f"  {len(entries)} entries of {', '.join(lists)} parsed in {parse_s:.1f}s; "
        f"{len(index.names)} names indexed in {build_s:.1f}s"
    )
    known = Lists(lists)
    config = ScreeningConfig()
    brute = brute_choices(entries) if with_baseline else None
    out: dict[str, Any] = {
        "lists": {k: len(v) for k, v in lists.items()},
        "entries": len(entries),
        "names": len(index.names),
        "parse_seconds": round(parse_s, 2),
        "index_build_seconds": round(build_s, 2),
        "default_threshold": config.hit_threshold,
        "sets": {},
    }
    for set_name in sets:
        params, seed = SETS[set_name]
        half = None if queries_per_set is None else queries_per_set // 2
        queries = build_queries(known, params, seed, positives=half, negatives=half)
        progress(f"  {set_name}: {len(queries)} queries (seed {seed}); scoring the curve")
        scored = score_all(index, queries)
        rows = curve(scored)
        at_default, latencies, per_script = run_at(index, queries, config)
        result: dict[str, Any] = {
            "seed": seed,
            "composition": describe(queries),
            "curve": rows,
            "chosen_threshold": choose_threshold(rows),
            "at_default": at_default,
            "latencies_ms": latencies,
            "per_script": per_script,
        }
        if brute is not None:
            progress(f"  {set_name}: brute force over {len(brute.choices)} names")
            result["brute"] = run_brute_force(brute, queries)
            sample = queries[:exhaustive_sample]
            progress(f"  {set_name}: our scorer without the index, {len(sample)} queries")
            result["exhaustive"] = run_exhaustive(index, sample, config)
            result["indexed_sample"] = run_at(index, sample, config)[0]
        out["sets"][set_name] = result
    return out


def curve_text(rows: list[dict[str, float]], chosen: int) -> str:
    lines = ["threshold  precision  recall"]
    for r in rows:
        mark = "  <- chosen" if r["threshold"] == chosen else ""
        lines.append(f"{int(r['threshold']):>9}  {r['precision']:>9.4f}  {r['recall']:>6.4f}{mark}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- output
def _ms(values: list[float], pct: int) -> float:
    return percentile(values, pct) if values else float("nan")


def rows(result: dict[str, Any]) -> list[Row]:
    """The table rows: quality per set at the shipped default, per script, speed."""
    out: list[Row] = []
    t = result["default_threshold"]
    for set_name, s in result["sets"].items():
        q: Quality = s["at_default"]
        n = s["composition"]["queries"]
        brute = s.get("brute")
        what = (
            f"rapidfuzz token_sort_ratio, all {result['names']} names, its best threshold "
            f"{brute[1]}"
            if brute
            else "no baseline run"
        )
        for label, attr in (("recall", "recall"), ("precision", "precision")):
            out.append(
                Row(
                    f"screening {set_name} set (seed {s['seed']}), {label} at default {t}"
                    if attr == "recall"
                    else f"  {label} at default {t} (target >= 0.98)",
                    "ratio",
                    getattr(q, attr),
                    getattr(brute[0], attr) if brute else float("nan"),
                    what,
                    True,
                    n,
                )
            )
        for key, sq in sorted(s["per_script"].items(), key=lambda kv: (kv[0] != "Latin", kv[0])):
            base = quality_at(brute[3], brute[1], script=key).recall if brute else float("nan")
            out.append(
                Row(
                    "  recall, Latin names written differently"
                    if key == "Latin"
                    else f"  cross-script recall, {key} (target >= 0.9)",
                    "ratio",
                    sq.recall,
                    base,
                    "same brute force",
                    True,
                    sq.positives,
                )
            )
        exhaustive = s.get("exhaustive")
        if exhaustive is not None:
            indexed: Quality = s["indexed_sample"]
            out.append(
                Row(
                    f"  recall on {indexed.positives + 0} positives of a sample, index vs none",
                    "ratio",
                    indexed.recall,
                    exhaustive[0].recall,
                    "our scorer over every name (no index, no pruning)",
                    True,
                    indexed.positives,
                )
            )
    tune = result["sets"].get("tune") or next(iter(result["sets"].values()))
    brute_ms = tune["brute"][2] if tune.get("brute") else []
    for pct in (50, 99):
        out.append(
            Row(
                f"screening one query in-process, all lists, p{pct}"
                if pct == 50
                else f"  p{pct} (target < 3 ms)",
                "ms",
                _ms(tune["latencies_ms"], pct),
                _ms(brute_ms, pct),
                "same brute force (process.extract over every name)",
                False,
                len(tune["latencies_ms"]),
            )
        )
    exhaustive = tune.get("exhaustive")
    if exhaustive is not None:
        out.append(
            Row(
                "  our scorer without the index, p50",
                "ms",
                _ms(exhaustive[1], 50),
                _ms(brute_ms, 50),
                "same brute force",
                False,
                len(exhaustive[1]),
            )
        )
    return out


def details(result: dict[str, Any]) -> dict[str, Any]:
    """JSON for bench/results: curves, compositions, misses and false hits."""
    out: dict[str, Any] = {k: v for k, v in result.items() if k != "sets"}
    out["precision_rule"] = PRECISION_RULE
    out["sets"] = {}
    for set_name, s in result["sets"].items():
        entry: dict[str, Any] = {
            "seed": s["seed"],
            "composition": s["composition"],
            "chosen_threshold": s["chosen_threshold"],
            "at_default": s["at_default"].summary(),
            "per_script": {
                k: {"recall": round(v.recall, 4), "positives": v.positives}
                for k, v in s["per_script"].items()
            },
            "in_process_ms": {
                "p50": round(_ms(s["latencies_ms"], 50), 3),
                "p99": round(_ms(s["latencies_ms"], 99), 3),
            },
            "curve": s["curve"],
        }
        if s.get("brute"):
            entry["brute_force"] = {**s["brute"][0].summary(), "threshold": s["brute"][1]}
        if s.get("exhaustive"):
            entry["no_index_sample"] = {
                "ours_indexed": s["indexed_sample"].summary(),
                "ours_no_index": s["exhaustive"][0].summary(),
                "no_index_p50_ms": round(_ms(s["exhaustive"][1], 50), 2),
            }
        out["sets"][set_name] = entry
    return out


def curve_table(details: dict[str, Any]) -> str:
    """The precision/recall curves of both sets side by side (from `details`)."""
    sets = details["sets"]
    names = list(sets)
    default = details.get("default_threshold")
    head = "threshold  " + "  ".join(f"{n:>6} P  {n:>6} R" for n in names)
    lines = [
        "Screening precision / recall over thresholds "
        f"(* shipped default {default}; chosen on tune: highest recall at precision >= "
        f"{details.get('precision_rule', PRECISION_RULE)} -> "
        f"{sets[names[0]]['chosen_threshold']})",
        head,
    ]
    for i, row in enumerate(sets[names[0]]["curve"]):
        t = int(row["threshold"])
        cells = "  ".join(
            f"{sets[n]['curve'][i]['precision']:>8.4f}  {sets[n]['curve'][i]['recall']:>8.4f}"
            for n in names
        )
        lines.append(f"{t:>8}{'*' if t == default else ' '}  {cells}")
    return "\n".join(lines)


TUNE_CURVE_FILE = Path(__file__).resolve().parent / "screening_tune_curve.txt"


def main() -> None:  # pragma: no cover - a developer's quick look: python -m bench.screening
    """Quality of both sets (no baselines), and the tune curve written to TUNE_CURVE_FILE
    for whoever tunes the matcher (only on `tune`)."""
    result = measure(progress=print, with_baseline=False)
    tune = result["sets"]["tune"]
    q = tune["at_default"]
    TUNE_CURVE_FILE.write_text(
        f"Screening tune set (bench/screening_queries.py TUNE, seed 1, {result['lists']}):\n"
        f"precision and recall over thresholds; written by `python -m bench.screening`.\n"
        f"Rule: the default threshold is the highest recall at precision >= {PRECISION_RULE}.\n"
        f"At the configured default {result['default_threshold']}: precision "
        f"{q.precision:.4f}, recall {q.recall:.4f}; per script: "
        + ", ".join(f"{k} {v.recall:.3f} ({v.positives})" for k, v in tune["per_script"].items())
        + "\n\n"
        + curve_text(tune["curve"], tune["chosen_threshold"])
        + "\n\nMisses at the default:\n  "
        + "\n  ".join(q.misses)
        + "\n\nFalse hits at the default:\n  "
        + "\n  ".join(q.false_hits)
        + "\n"
    )
    for name, s in result["sets"].items():
        print(f"\n== {name} (seed {s['seed']}): {s['composition']}")
        print(curve_text(s["curve"], s["chosen_threshold"]))
        q = s["at_default"]
        print(f"at default {result['default_threshold']}: P {q.precision:.4f} R {q.recall:.4f}")
        for script, sq in s["per_script"].items():
            print(f"  {script}: recall {sq.recall:.3f} of {sq.positives}")
        print(
            f"  p50 {percentile(s['latencies_ms'], 50):.2f} ms p99 {percentile(s['latencies_ms'], 99):.2f} ms"
        )
        print("  misses:", *q.misses[:25], sep="\n    ")
        print("  false hits:", *q.false_hits[:25], sep="\n    ")


if __name__ == "__main__":
    main()
