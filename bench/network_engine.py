"""Benchmark: which engine judges the network typologies, measured on the labelled book.

    python -m bench.network_engine [--params tune] [--seed 1] [--batches 10]

Loads a simulated book (`demo.aml_simulator`) through the real import path without
alerts, takes its last `batches` x 1 000 transactions as batches (already inserted, as
`ingest` hands them to the judges) and times, per batch, dry (nothing stored):

* python: `aml.commands.network_store.NetworkJudge` with every typology on: the
  neighbourhood loaded hop by hop in set-based reads, then the graph search in memory;
* python, round trips only: the same judge with only the cycle search on;
* sql, round trips only: a recursive query in PostgreSQL walking from each trigger's
  receiver along `aml_money_flow`, legs in booked order within the window and the amount
  band, back to its sender (2 to 6 accounts), the way a set-based SQL engine would do it.

The round trip is the search both can do; the SQL engine would need one such walk per
typology, the Python one loads the neighbourhood once for all of them.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aml.commands.legacy_transactions import import_transactions_csv
from aml.commands.monitoring_store import txn_from_row
from aml.commands.network_store import NetworkJudge
from aml.engines.judging import JudgeMemory
from aml.engines.monitoring_data import Txn
from aml.network_policy import SPECS, NetworkPolicy, typologies
from bench.aml_detection import _plans
from bench.services import running_services
from core.db import Database, run_sql
from customers.legacy_import import import_customers_csv
from demo import aml_simulator as sim

BATCH = 1_000

CYCLES_SQL = """
WITH RECURSIVE trig AS (
    SELECT transaction_id AS tid, from_account_id AS u, to_account_id AS v, booked_at AS at,
           amount_eur AS eur
      FROM aml_money_flow WHERE transaction_id = ANY(:ids) AND amount_eur >= :floor
), walk AS (
    SELECT t.tid, t.u, f.to_account_id AS node, f.booked_at AS at,
           ARRAY[t.v, f.to_account_id] AS path, 1 AS legs
      FROM trig t JOIN aml_money_flow f ON f.from_account_id = t.v
     WHERE f.booked_at >= t.at - make_interval(secs => :window) AND f.booked_at < t.at
       AND f.amount_eur BETWEEN t.eur * :keep AND t.eur / :keep AND f.amount_eur >= :floor
    UNION ALL
    SELECT w.tid, w.u, f.to_account_id, f.booked_at, w.path || f.to_account_id, w.legs + 1
      FROM walk w JOIN trig t ON t.tid = w.tid
      JOIN aml_money_flow f ON f.from_account_id = w.node
     WHERE w.legs < 5 AND w.node <> w.u
       AND f.booked_at > w.at AND f.booked_at < t.at
       AND f.amount_eur BETWEEN t.eur * :keep AND t.eur / :keep AND f.amount_eur >= :floor
       AND (f.to_account_id = w.u OR NOT f.to_account_id = ANY(w.path))
)
SELECT DISTINCT tid FROM walk WHERE node = u AND legs + 1 >= :least
"""


async def _batches(db: Database, count: int) -> list[list[Txn]]:
    async with db.session() as session:
        rows = (
            await run_sql(
                session,
                "SELECT * FROM transaction ORDER BY booked_at DESC, external_id DESC LIMIT :n",
                {"n": count * BATCH},
            )
        ).all()
    txns = [txn_from_row(r) for r in reversed(rows)]
    return [txns[i : i + BATCH] for i in range(0, len(txns), BATCH)]


async def _time_python(db: Database, judge: NetworkJudge, batches: Sequence[list[Txn]]) -> Any:
    seconds, found = [], 0
    for batch in batches:
        async with db.session() as session:
            started = time.perf_counter()
            drafts = await judge.judge(session, batch, JudgeMemory())
            seconds.append(time.perf_counter() - started)
        found += len({d.key for d in drafts if d.rule == "network_round_trip"})
    return seconds, found


async def _time_sql(db: Database, batches: Sequence[list[Txn]]) -> Any:
    t = next(t for t in typologies(NetworkPolicy()) if t.name == "round_trip")
    seconds, found = [], 0
    for batch in batches:
        async with db.session() as session:
            started = time.perf_counter()
            rows = (
                await run_sql(
                    session,
                    CYCLES_SQL,
                    {
                        "ids": [x.id for x in batch],
                        "floor": t.min_amount_eur,
                        "window": t.window_seconds,
                        "keep": 1 - t.tolerance,
                        "least": t.min_accounts,
                    },
                )
            ).all()
            seconds.append(time.perf_counter() - started)
        found += len(rows)
    return seconds, found


def _line(name: str, seconds: list[float], found: int) -> str:
    mean = statistics.mean(seconds)
    return (
        f"{name:<28} {mean * 1000:8.0f} ms/batch (max {max(seconds) * 1000:.0f})  "
        f"{BATCH / mean:9.0f} txn/s on its own  round trips found: {found}"
    )


async def main(args: argparse.Namespace) -> None:
    with running_services() as (services, _stop):
        folder = services.workdir / "book"
        book = sim.generate(args.params, args.seed, datetime.now(UTC).date())
        sim.write(book, folder)
        db = Database(services.urls.app, pool_size=4, application_name="bench-network-engine")
        try:
            await _plans(db)
            await import_customers_csv(db, folder / "customers.csv", report_path=folder / "c.csv")
            await import_transactions_csv(
                db,
                services.settings("bench-network"),
                folder / "transactions.csv",
                alert=False,
                progress=lambda done, total: None,
                report_path=Path(folder / "t.csv"),
            )
            batches = await _batches(db, args.batches)
            every = NetworkJudge(NetworkPolicy(), 1)
            only = NetworkJudge(
                NetworkPolicy(**{f"{n}_enabled": n == "round_trip" for n in SPECS}), 1
            )
            print(f"{args.params}/seed {args.seed}: {len(book.rows)} transactions, "
                  f"{len(batches)} batches of {BATCH} (the latest)")  # fmt: skip
            for _ in range(2):  # the second round is the one reported (warm caches)
                lines = [
                    _line("python, every typology", *await _time_python(db, every, batches)),
                    _line("python, round trips only", *await _time_python(db, only, batches)),
                    _line("sql recursive, round trips", *await _time_sql(db, batches)),
                ]
            print("\n".join(lines))
        finally:
            await db.dispose()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.network_engine")
    parser.add_argument("--params", default="tune", choices=sorted(sim.PARAMS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batches", type=int, default=10)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
