"""Benchmark: reconciling a million-line statement, next to a plain join of the same frames.

Setup (not in the total): a statement and our records with a known outcome
(`demo.statement_samples.generate`), the statement written as CSV, our records
COPYed into `transaction` for one bench customer and account, then VACUUM ANALYZE.

Ours, each stage timed, as the reconciliation activities run them:
* parse      `read_statement("csv", ...)` with the sample's CsvMapping, every line read
* store      `bulk.copy_lines`, 20 000 lines a transaction (the parse activity's chunk)
* load       `bulk.load_lines` + `bulk.load_records` (COPY TO STDOUT -> pandas)
* match      `matching.match`, all passes
* save       `bulk.save_result` (COPY of matches and their lines and records, breaks)
and the outcome is checked against the sample's expected counts.

Baselines, in the same run on the same in-memory frames the engine took: the
exact-reference pass alone, as a plain pandas merge and as a plain DuckDB join (all cores),
each returning the matched pairs. Ours and both baselines are run three times,
interleaved; the medians are compared. Also: pandas.read_csv of the same CSV file, and
our camt.053 and MT940 parsers on a 100 000-line file from the same writers.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import duckdb
import pandas as pd
import psycopg

from bench.aml import make_accounts
from bench.changes import bench_actor
from bench.services import Services
from core.db import Database
from demo.statement_samples import CSV_MAPPING, Sample, generate, to_camt053, to_csv, to_mt940
from models.reconciliation import ReconSource, ReconStatement
from reconciliation.commands import bulk
from reconciliation.engines.lines import StatementLine
from reconciliation.engines.matching import MatchResult, MatchSettings, match
from reconciliation.engines.parsing import read_statement
from reconciliation.policy import ReconciliationPolicy

CHUNK = 20_000  # lines per transaction while storing, as the parse activity does
ROUNDS = 3
FORMAT_LINES = 100_000  # the camt.053 and MT940 files
IBAN = "DE89370400440532013000"
TARGET_SECONDS = 60.0


@dataclass
class ReconBench:
    lines: int
    records: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # setup and stages
    match_rounds: list[float] = field(default_factory=list)
    pandas_rounds: list[float] = field(default_factory=list)
    duckdb_rounds: list[float] = field(default_factory=list)
    pass_seconds: dict[str, float] = field(default_factory=dict)
    read_csv_seconds: float = 0.0
    format_rates: dict[str, float] = field(default_factory=dict)  # lines/s per format
    outcome: dict[str, Any] = field(default_factory=dict)
    exact: bool = False

    STAGES = ("parse", "store", "load", "match", "save")

    @property
    def total(self) -> float:
        return sum(self.seconds[s] for s in self.STAGES)

    @property
    def match_median(self) -> float:
        return statistics.median(self.match_rounds)

    @property
    def pandas_median(self) -> float:
        return statistics.median(self.pandas_rounds)

    @property
    def duckdb_median(self) -> float:
        return statistics.median(self.duckdb_rounds)

    def summary(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "records": self.records,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "total_seconds": round(self.total, 2),
            "target_seconds": TARGET_SECONDS,
            "lines_per_second": {s: round(self.lines / self.seconds[s]) for s in self.STAGES},
            "match_rounds": [round(x, 3) for x in self.match_rounds],
            "pandas_merge_rounds": [round(x, 3) for x in self.pandas_rounds],
            "duckdb_join_rounds": [round(x, 3) for x in self.duckdb_rounds],
            "ratio_to_pandas": round(self.match_median / self.pandas_median, 2),
            "ratio_to_duckdb": round(self.match_median / self.duckdb_median, 2),
            "pass_seconds": {k: round(v, 3) for k, v in self.pass_seconds.items()},
            "pandas_read_csv_seconds": round(self.read_csv_seconds, 3),
            "format_lines_per_second": {k: round(v) for k, v in self.format_rates.items()},
            "outcome": self.outcome,
            "outcome_exact": self.exact,
        }


async def run(services: Services, *, lines: int, progress: Callable[[str], None]) -> ReconBench:
    result = ReconBench(lines=lines)
    clock = time.perf_counter()
    progress(f"reconciliation: generating {lines} lines and our records")
    sample = await asyncio.to_thread(generate, lines, seed=42)
    csv_bytes = await asyncio.to_thread(to_csv, sample)
    result.records = len(sample.records)
    result.seconds["setup_generate"] = time.perf_counter() - clock

    db = Database(services.urls.app, pool_size=4, application_name="bench-recon")
    try:
        account = (await make_accounts(db, 1))[0]
        source, statement_id = await _source_and_statement(db, sample)
        progress(f"  inserting {result.records} records into transaction (COPY)")
        clock = time.perf_counter()
        async with db.transaction() as session:
            await bulk.copy_sample_records(
                session,
                sample.records,
                currency=sample.currency,
                account_id=account.id,
                customer_id=account.customer_id,
            )
        await asyncio.to_thread(_vacuum, services)
        result.seconds["setup_insert"] = time.perf_counter() - clock

        progress(f"  parse {len(csv_bytes) / 1e6:.0f} MB of CSV")
        clock = time.perf_counter()
        parsed = await asyncio.to_thread(_read, "csv", csv_bytes)
        result.seconds["parse"] = time.perf_counter() - clock
        if len(parsed) != lines:
            raise RuntimeError(f"the CSV parser read {len(parsed)} lines of {lines}")

        progress("  store lines, load, match, save")
        clock = time.perf_counter()
        for start in range(0, len(parsed), CHUNK):
            async with db.transaction() as session:
                await bulk.copy_lines(session, statement_id, parsed[start : start + CHUNK])
        result.seconds["store"] = time.perf_counter() - clock
        del parsed

        settings = MatchSettings.from_policy(ReconciliationPolicy(), source)
        window = timedelta(days=8)
        async with db.transaction() as session:
            clock = time.perf_counter()
            line_frame = await bulk.load_lines(session, statement_id)
            result.seconds["load_lines"] = time.perf_counter() - clock
            record_frame = await bulk.load_records(
                session,
                currency=sample.currency,
                channels=list(source.channels),
                booked_from=sample.period_from - window,
                booked_to=sample.period_to + window,
            )
            line_frame, repeated = await bulk.already_matched(session, line_frame, record_frame)
            result.seconds["load"] = time.perf_counter() - clock
            result.seconds["load_records"] = result.seconds["load"] - result.seconds["load_lines"]
            clock = time.perf_counter()
            matched = await asyncio.to_thread(match, line_frame, record_frame, settings)
            result.seconds["match"] = time.perf_counter() - clock
            matched.breaks.extend(repeated)
            clock = time.perf_counter()
            counts = await bulk.save_result(
                session, statement_id, source.id, sample.currency, matched
            )
        result.seconds["save"] = time.perf_counter() - clock
        result.pass_seconds = dict(matched.seconds)
        result.outcome, result.exact = _check(sample, matched, counts)
        progress(
            f"  total {result.total:.1f}s "
            f"({', '.join(f'{s} {result.seconds[s]:.1f}s' for s in result.STAGES)}); "
            f"outcome {'exact' if result.exact else 'WRONG'}"
        )

        progress(f"  match vs plain joins, {ROUNDS} rounds each")
        await asyncio.to_thread(_compare, result, line_frame, record_frame, settings)
        progress(
            f"  match {result.match_median:.2f}s, pandas merge {result.pandas_median:.2f}s, "
            f"DuckDB {result.duckdb_median:.2f}s"
        )
        clock = time.perf_counter()
        pd.read_csv(io.BytesIO(csv_bytes))
        result.read_csv_seconds = time.perf_counter() - clock
        del csv_bytes, line_frame, record_frame, matched

        progress(f"  camt.053 and MT940 parsers, {FORMAT_LINES} lines each")
        small = await asyncio.to_thread(generate, FORMAT_LINES, seed=43)
        for fmt, writer in (("camt053", to_camt053), ("mt940", to_mt940)):
            data = writer(small, IBAN)
            clock = time.perf_counter()
            read = await asyncio.to_thread(_read, fmt, data)
            result.format_rates[fmt] = len(read) / (time.perf_counter() - clock)
    finally:
        await db.dispose()
    return result


def _read(fmt: str, data: bytes) -> list[StatementLine]:
    mapping = CSV_MAPPING if fmt == "csv" else None
    return [x for x in read_statement(fmt, data, mapping) if isinstance(x, StatementLine)]


async def _source_and_statement(db: Database, sample: Sample) -> tuple[ReconSource, uuid.UUID]:
    """A card acquirer's source (card records settle as daily batches) and its statement."""
    actor = await bench_actor(db, "finance_ops")
    tag = uuid.uuid4().hex
    source = ReconSource(
        name=f"Bench card acquirer {tag[:8]}",
        format="csv",
        currency=sample.currency,
        channels=["card", "sepa", "swift", "cash"],
        batch_channels=["card"],
        csv_mapping=CSV_MAPPING.model_dump(),
    )
    async with db.transaction() as session:
        session.add(source)
        await session.flush()
        statement = ReconStatement(
            reference=f"STM-B{tag[:10]}",
            source_id=source.id,
            filename="bench.csv",
            format="csv",
            sha256=tag * 2,
            size=0,
            uploaded_by=actor.user_id,
            workflow_id=f"recon-bench-{tag}",
            status="parsing",
        )
        session.add(statement)
    return source, statement.id


def _vacuum(services: Services) -> None:
    with psycopg.connect(services.owner_dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE transaction")


def _check(
    sample: Sample, result: MatchResult, counts: dict[str, int]
) -> tuple[dict[str, Any], bool]:
    expected = sample.expected
    got = {
        "pass_counts": result.pass_counts,
        "breaks": {k: counts[k] for k in bulk.LINE_BREAK_KINDS},
        "unmatched_records": len(result.unmatched_record_ids),
        "ambiguous_records": len(result.ambiguous_record_ids),
        "stored": counts,
    }
    exact = (
        got["pass_counts"] == expected.pass_counts
        and got["breaks"] == expected.breaks
        and got["unmatched_records"] == expected.unmatched_records
        and got["ambiguous_records"] == expected.ambiguous_records
        and counts["match_lines"] == sum(expected.pass_counts.values())
    )
    want = {
        "pass_counts": expected.pass_counts,
        "breaks": expected.breaks,
        "unmatched_records": expected.unmatched_records,
        "ambiguous_records": expected.ambiguous_records,
    }
    return {"got": got, "expected": want}, exact


def _compare(
    result: ReconBench, lines: pd.DataFrame, records: pd.DataFrame, settings: MatchSettings
) -> None:
    """Ours (all passes) and the two plain joins of the exact-reference pass, interleaved."""
    con = duckdb.connect()
    con.register("lines", lines)
    con.register("records", records)
    query = (
        "SELECT l.line_no, r.record_id FROM lines l JOIN records r ON l.reference = r.external_id"
    )
    for _ in range(ROUNDS):
        clock = time.perf_counter()
        match(lines, records, settings)
        result.match_rounds.append(time.perf_counter() - clock)
        clock = time.perf_counter()
        lines.merge(records, left_on="reference", right_on="external_id", how="inner")
        result.pandas_rounds.append(time.perf_counter() - clock)
        clock = time.perf_counter()
        con.execute(query).df()
        result.duckdb_rounds.append(time.perf_counter() - clock)
    con.close()
