"""Benchmark: how much planted laundering the AML rules find, and at what ingest speed.

For each labelled book (`demo.aml_simulator`: `tune` with seed 1, the set detectors are
tuned on, and `eval` with seed 2, which they never see), in a database of its own:

1. the customers file through `customers.legacy_import.import_customers_csv` (what
   `backoffice import customers` runs);
2. all but the last `live` transactions through `import_transactions_csv(alert=True)` (what
   `backoffice import transactions --alert` runs): every rule family judges them in booked
   order, alerts go to cases;
3. the last `live` transactions through `aml.commands.transactions.ingest` in batches of
   1 000 with every rule on (the API path), timed; next to it the same rows by plain
   `executemany` INSERT into a table with no index or constraint (the baseline of
   `bench/aml.py`);
4. the score, at the account level. An account is flagged when a live (not shadow) alert
   names it (`aml_alert.account_id`) or lists it in `details["network"]["accounts"]`.
   Recall per planted typology (share of its accounts flagged) and overall; precision
   overall and per detector (rule key, or a network alert's typology); share of accounts
   flagged. Baseline on the same data in the same run: "N or more distinct senders in the
   period" (a sender is the paying account when it is ours, else the counterparty key), N
   the smallest threshold that flags no larger a share than the rules did.
"""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, text

from aml.commands.legacy_transactions import import_transactions_csv
from aml.commands.transactions import ingest
from aml.rule_policy import RULE_SCHEMAS
from bench.aml import BenchAccount, create_plain_table, insert_baseline
from bench.changes import bench_actor
from bench.services import APP_ROLE, Services, queue_name
from core.db import Database, DatabaseUrls
from core.schema import ensure_database, migrate
from core.temporal import connect, ensure_search_attributes
from customers.legacy_import import import_customers_csv
from demo import aml_simulator as sim
from models.tariffs import TariffPlan

SETS: tuple[tuple[str, int], ...] = (("tune", 1), ("eval", 2))
BATCH = 1000
# A detector's name -> the planted typology it looks for (names compared lower-case, with
# spaces and hyphens as underscores).
SYNONYMS = {
    "round_trip": "cycle",
    "cycles": "cycle",
    "scatter": "scatter_gather",
    "gather": "gather_scatter",
    "layered": "stack",
    "layering": "stack",
    "bipartite_stack": "bipartite",
}

FLAGGED_SQL = """
SELECT a.account_id::text AS account, a.rule_key AS detector, a.details -> 'network' ->> 'typology'
       AS typology
  FROM aml_alert a WHERE NOT a.shadow
UNION
SELECT n.account, a.rule_key, a.details -> 'network' ->> 'typology'
  FROM aml_alert a
 CROSS JOIN LATERAL jsonb_array_elements_text(
       CASE WHEN jsonb_typeof(a.details -> 'network' -> 'accounts') = 'array'
            THEN a.details -> 'network' -> 'accounts' ELSE '[]'::jsonb END) AS n(account)
 WHERE NOT a.shadow
"""
SENDERS_SQL = """
SELECT receiver::text, count(DISTINCT sender) FROM (
    SELECT t.account_id AS receiver, COALESCE(o.iban, t.counterparty_key) AS sender
      FROM transaction t LEFT JOIN account o ON o.id = t.counterparty_account_id
     WHERE t.direction = 'in' AND (t.counterparty_key IS NOT NULL OR o.id IS NOT NULL)
    UNION ALL
    SELECT t.counterparty_account_id, s.iban
      FROM transaction t JOIN account s ON s.id = t.account_id
     WHERE t.direction = 'out' AND t.counterparty_account_id IS NOT NULL
       AND t.counterparty_account_id <> t.account_id
) edges GROUP BY receiver
"""


# ----------------------------------------------------------------------------- scoring
@dataclass
class Score:
    """Account-level detection quality of one detector set against the labels."""

    accounts: int
    laundering: int
    flagged: int
    true_positives: int

    @property
    def recall(self) -> float:
        return self.true_positives / self.laundering if self.laundering else float("nan")

    @property
    def precision(self) -> float:
        return self.true_positives / self.flagged if self.flagged else float("nan")

    @property
    def share_flagged(self) -> float:
        return self.flagged / self.accounts if self.accounts else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts,
            "laundering": self.laundering,
            "flagged": self.flagged,
            "true_positives": self.true_positives,
            "recall": round(self.recall, 4),
            "precision": round(self.precision, 4),
            "share_flagged": round(self.share_flagged, 4),
        }


def score(laundering: set[str], flagged: set[str], accounts: int) -> Score:
    return Score(accounts, len(laundering), len(flagged), len(flagged & laundering))


def typology_of(detector: str) -> str | None:
    """The planted typology a network detector (`rule_key/typology`) looks for, if any."""
    if "/" not in detector:
        return None  # a per-account rule (the built-in `fan_in` too) is no typology detector
    name = detector.rsplit("/", 1)[-1].strip().lower().replace("-", "_").replace(" ", "_")
    name = SYNONYMS.get(name, name)
    return name if name in sim.TYPOLOGIES else None


def family_of(detector: str) -> str:
    """`network` (typologies), `builtin` (the nine rules) or `expression` (rules without code)."""
    if "/" in detector:
        return "network"
    return "builtin" if detector in RULE_SCHEMAS else "expression"


def naive_threshold(senders: Mapping[str, int], budget: int) -> int:
    """The smallest N such that "N or more distinct senders" flags at most `budget` accounts."""
    counts = sorted(senders.values(), reverse=True)
    if budget <= 0 or not counts:
        return (counts[0] + 1) if counts else 1
    if budget >= len(counts):
        return 1
    # Flagging "≥ counts[budget-1]" may overshoot through ties: go one above then.
    n = counts[budget - 1]
    return n if sum(1 for c in counts if c >= n) <= budget else n + 1


@dataclass
class Labels:
    accounts: list[str]  # ibans, in book order
    typologies: dict[str, set[str]]  # iban -> planted typologies (empty: ordinary)

    @classmethod
    def read(cls, path: Path) -> Labels:
        accounts, typologies = [], {}
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                accounts.append(row["iban"])
                typologies[row["iban"]] = {t for t in row["typologies"].split(";") if t}
        return cls(accounts, typologies)

    @property
    def laundering(self) -> set[str]:
        return {iban for iban, kinds in self.typologies.items() if kinds}

    def of(self, typology: str) -> set[str]:
        return {iban for iban, kinds in self.typologies.items() if typology in kinds}


@dataclass
class Detection:
    """Flagged accounts (ibans) per detector, and the naive baseline's input.

    A detector is an alert's rule key, or `rule key/typology` for a network alert."""

    by_detector: dict[str, set[str]]
    senders: dict[str, int]  # iban -> distinct senders in the period

    @property
    def flagged(self) -> set[str]:
        return set().union(*self.by_detector.values()) if self.by_detector else set()


def evaluate(labels: Labels, detection: Detection) -> dict[str, Any]:
    """Every number the table and the JSON show for one book."""
    n = len(labels.accounts)
    laundering = labels.laundering
    ours = detection.flagged
    threshold = naive_threshold(detection.senders, len(ours))
    naive = {iban for iban, c in detection.senders.items() if c >= threshold}
    typologies: dict[str, Any] = {}
    by_typology: dict[str, set[str]] = defaultdict(set)
    for detector, accounts in detection.by_detector.items():
        if (kind := typology_of(detector)) is not None:
            by_typology[kind] |= accounts
    for kind in sim.TYPOLOGIES:
        members = labels.of(kind)
        if not members:
            continue
        found = by_typology.get(kind, set())
        typologies[kind] = {
            "accounts": len(members),
            "recall": round(len(members & ours) / len(members), 4),
            "recall_naive": round(len(members & naive) / len(members), 4),
            # Of the accounts this typology's own detector flagged, how many launder.
            "detector_flagged": len(found),
            "detector_precision": (
                round(len(found & laundering) / len(found), 4) if found else None
            ),
        }
    families: dict[str, set[str]] = defaultdict(set)
    for detector, accounts in detection.by_detector.items():
        families[family_of(detector)] |= accounts
    detectors = {
        name: {
            "flagged": len(accounts),
            "laundering": len(accounts & laundering),
            "precision": round(len(accounts & laundering) / len(accounts), 4),
        }
        for name, accounts in sorted(detection.by_detector.items())
        if accounts
    }
    return {
        "overall": score(laundering, ours, n).as_dict(),
        "naive": {**score(laundering, naive, n).as_dict(), "min_distinct_senders": threshold},
        "typologies": typologies,
        # Each rule family alone: where the recall comes from and where precision goes.
        "families": {
            name: score(laundering, accounts, n).as_dict()
            for name, accounts in sorted(families.items())
        },
        "detectors": detectors,
    }


# ----------------------------------------------------------------------------- one book
@dataclass
class BookRun:
    params: str
    seed: int
    customers: int = 0
    transactions: int = 0
    imported: int = 0
    live_rows: int = 0
    customer_import_seconds: float = 0.0
    import_seconds: float = 0.0  # CSV import with --alert (insert + judge + route)
    ingest_seconds: float = 0.0  # the live tail through ingest, batches of 1 000
    ingest_baseline_seconds: float = 0.0
    alerts: int = 0
    shadow_alerts: int = 0
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.params}/seed {self.seed}"

    def summary(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "seed": self.seed,
            "customers": self.customers,
            "transactions": self.transactions,
            "imported_with_alert": self.imported,
            "import_alert_rows_per_second": round(self.imported / self.import_seconds),
            "customer_import_seconds": round(self.customer_import_seconds, 1),
            "ingest_rows": self.live_rows,
            "ingest_per_second": round(self.live_rows / self.ingest_seconds),
            "ingest_baseline_per_second": round(self.live_rows / self.ingest_baseline_seconds),
            "alerts": self.alerts,
            "shadow_alerts": self.shadow_alerts,
            **self.result,
        }


async def fresh_database(services: Services, name: str) -> Services:
    """A migrated database of its own on the same server: one book's rules see only it."""
    admin = make_url(services.urls.admin)
    ensure_database(admin.set(database="postgres").render_as_string(hide_password=False), name)
    urls = DatabaseUrls(
        app=make_url(services.urls.app).set(database=name).render_as_string(hide_password=False),
        admin=admin.set(database=name).render_as_string(hide_password=False),
    )
    migrate(urls, app_role=APP_ROLE, embedded=True)
    return replace(services, urls=urls)


async def _plans(db: Database) -> None:
    """A default tariff plan per segment: the customer import needs one for each."""
    async with db.transaction() as session:
        for segment in ("retail", "business", "private"):
            session.add(
                TariffPlan(
                    code=f"SIM-{segment.upper()}",
                    name=f"Simulated {segment}",
                    segment=segment,
                    currency="EUR",
                    is_default=True,
                )
            )


async def run_book(
    base: Services,
    params: sim.Params,
    seed: int,
    *,
    live: int,
    progress: Callable[[str], None],
) -> BookRun:
    run = BookRun(params.name, seed)
    services = await fresh_database(base, f"bench_sim_{params.name}_{seed}")
    folder = services.workdir / f"sim-{params.name}-{seed}"
    book = sim.generate(params, seed, datetime.now(UTC).date())
    sim.write(book, folder)
    run.customers, run.transactions = len(book.customers), len(book.rows)
    progress(
        f"aml detection {run.name}: {run.customers} customers, {run.transactions} transactions, "
        f"{len(book.laundering())} laundering accounts in {len(book.patterns)} patterns"
    )
    client = await connect(services.temporal_address)
    await ensure_search_attributes(client)
    settings = services.settings(queue_name(f"bench-sim-{params.name}"))
    db = Database(services.urls.app, pool_size=10, application_name="bench-aml-detection")
    try:
        await _plans(db)
        started = time.perf_counter()
        customers = await import_customers_csv(
            db, folder / "customers.csv", report_path=folder / "customers.rejected.csv"
        )
        run.customer_import_seconds = time.perf_counter() - started
        if customers.rejected:
            raise RuntimeError(f"customer import refused rows: {customers.reasons}")
        history, tail = _split(folder / "transactions.csv", live)
        run.live_rows = len(tail)
        progress(f"  import {len(book.rows) - len(tail)} transactions with --alert")
        started = time.perf_counter()
        imported = await import_transactions_csv(
            db,
            settings,
            history,
            alert=True,
            temporal=client,
            progress=lambda done, total: None,
            report_path=folder / "transactions.rejected.csv",
        )
        run.import_seconds = time.perf_counter() - started
        run.imported = imported.inserted
        if imported.rejected:
            raise RuntimeError(f"transaction import refused rows: {imported.reasons}")
        progress(
            f"  {run.imported / run.import_seconds:.0f} rows/s imported and judged, "
            f"{imported.alerts} alerts"
        )

        actor = await bench_actor(db, "upstream_system")
        batches = [tail[i : i + BATCH] for i in range(0, len(tail), BATCH)]
        progress(f"  ingest {len(tail)} transactions in batches of {BATCH}, every rule on")
        started = time.perf_counter()
        for rows in batches:
            outcome = await ingest(db, client, settings, actor, rows)
            if outcome.accepted != len(rows):
                raise RuntimeError(f"ingest refused rows: {outcome.rejected_rows[:3]}")
        run.ingest_seconds = time.perf_counter() - started
        create_plain_table(services)
        run.ingest_baseline_seconds = await insert_baseline(services, batches, await _accounts(db))
        progress(
            f"  {run.live_rows / run.ingest_seconds:.0f} transactions/s; plain INSERT "
            f"{run.live_rows / run.ingest_baseline_seconds:.0f}/s"
        )
        detection, run.alerts, run.shadow_alerts = await detect(db)
        run.result = evaluate(Labels.read(folder / "labels.csv"), detection)
        overall = run.result["overall"]
        progress(
            f"  recall {overall['recall']:.2f}, precision {overall['precision']:.2f}, "
            f"{overall['share_flagged']:.1%} flagged ({run.alerts} alerts)"
        )
    finally:
        await db.dispose()
    return run


def _split(path: Path, live: int) -> tuple[Path, list[dict[str, Any]]]:
    """The file without its last `live` rows (written next to it), and those rows as API rows."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    cut = max(0, len(rows) - live)
    history = path.with_name("history.csv")
    with history.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=sim.TRANSACTION_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows[:cut])
    return history, [api_row(r) for r in rows[cut:]]


def api_row(row: Mapping[str, str]) -> dict[str, Any]:
    """A transactions-file row as the ingest API takes it."""
    party = {k: row[f"counterparty_{k}"] or None for k in ("name", "account", "country")}
    return {
        "external_id": row["external_id"],
        "account": row["account_iban"],
        "booked_at": row["booked_at"],
        "amount": row["amount"],
        "currency": row["currency"],
        "direction": row["direction"],
        "channel": row["channel"],
        "counterparty": party if any(party.values()) else None,
        "description": row["description"] or None,
    }


async def _accounts(db: Database) -> dict[str, BenchAccount]:
    async with db.session() as session:
        result = await session.execute(text("SELECT id, customer_id, iban FROM account"))
        return {r.iban: BenchAccount(r.id, r.customer_id, r.iban) for r in result}


async def detect(db: Database) -> tuple[Detection, int, int]:
    """(flagged accounts per detector and distinct senders per account, alerts, shadow)."""
    async with db.session() as session:
        iban_of = {
            str(r.id): r.iban for r in await session.execute(text("SELECT id, iban FROM account"))
        }
        by_detector: dict[str, set[str]] = defaultdict(set)
        for r in await session.execute(text(FLAGGED_SQL)):
            if (iban := iban_of.get(r.account)) is not None:
                name = f"{r.detector}/{r.typology}" if r.typology else r.detector
                by_detector[name].add(iban)
        senders = {iban_of[r[0]]: int(r[1]) for r in await session.execute(text(SENDERS_SQL))}
        counts = (
            await session.execute(
                text(
                    "SELECT count(*) FILTER (WHERE NOT shadow), count(*) FILTER (WHERE shadow) "
                    "FROM aml_alert"
                )
            )
        ).one()
    return Detection(dict(by_detector), senders), int(counts[0]), int(counts[1])


async def run(
    services: Services,
    *,
    sets: Iterable[tuple[str, int]] = SETS,
    scale: float = 1.0,
    live: int = 10 * BATCH,
    progress: Callable[[str], None],
) -> list[BookRun]:
    runs = []
    for name, seed in sets:
        params = scaled(sim.PARAMS[name], scale)
        runs.append(await run_book(services, params, seed, live=live, progress=progress))
    return runs


def scaled(params: sim.Params, scale: float) -> sim.Params:
    """`params` with `scale` times the customers and planted patterns (at least one each)."""
    if scale == 1.0:
        return params
    return replace(
        params,
        customers=max(200, round(params.customers * scale)),
        typologies={
            k: replace(t, count=max(1, round(t.count * scale)))
            for k, t in params.typologies.items()
        },
    )


# ----------------------------------------------------------------------------- the table
def _pct(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.2f}"


def detection_table(runs: list[dict[str, Any]]) -> str:
    """Per-typology recall (ours / naive) and the typology detector's precision, per book."""
    names = [f"{r['params']}/seed {r['seed']}" for r in runs]
    head = ["typology"] + [f"{n}: accts  recall  naive  det.prec" for n in names]
    lines = [head]
    for kind in sim.TYPOLOGIES:
        cells = [kind]
        for r in runs:
            t = r["typologies"].get(kind)
            cells.append(
                "-"
                if t is None
                else f"{t['accounts']:>5}  {_pct(t['recall']):>6}  {_pct(t['recall_naive']):>5}"
                f"  {_pct(t['detector_precision']):>8}"
            )
        lines.append(cells)
    for label, key in (("overall", "overall"), ("naive baseline", "naive")):
        cells = [label]
        for r in runs:
            s = r[key]
            cells.append(
                f"{s['laundering']:>5}  {_pct(s['recall']):>6}  prec {_pct(s['precision'])}"
                f"  flagged {s['share_flagged']:.1%}"
                + (f" (>= {s['min_distinct_senders']} senders)" if key == "naive" else "")
            )
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
           for line in lines]  # fmt: skip
    out.insert(1, "  ".join("-" * w for w in widths))
    detectors = []
    for r, n in zip(runs, names, strict=True):
        alone = "; ".join(
            f"{k}: recall {_pct(v['recall'])}, precision {_pct(v['precision'])}, "
            f"{v['share_flagged']:.1%} flagged"
            for k, v in r.get("families", {}).items()
        )
        detectors.append(f"{n} each rule family alone: {alone or 'no alerts'}")
        shown = ", ".join(
            f"{k} {v['laundering']}/{v['flagged']}" for k, v in r["detectors"].items()
        )
        detectors.append(f"{n} detectors (laundering/flagged accounts): {shown or 'none'}")
    return "\n".join(
        [
            "AML detection on the simulated books (account level; det.prec = precision of the "
            "accounts flagged by that typology's own network detector):",
            *out,
            *detectors,
        ]
    )
