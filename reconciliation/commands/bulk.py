"""Statement lines, our records, matches and breaks in and out of PostgreSQL in bulk.

COPY on the session's own connection, so everything is part of the caller's transaction.
Amounts leave the database as integers of AMOUNT_SCALE units (what the matching engine
compares) and go back in as `<units>e-5`, which numeric reads exactly.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from psycopg import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import run_sql
from reconciliation.engines.lines import AMOUNT_DECIMALS, AMOUNT_SCALE, StatementLine
from reconciliation.engines.matching import Break, MatchResult

LINE_BREAK_KINDS = ("unmatched_line", "amount_mismatch", "ambiguous", "already_matched")
_STAGE_COLUMNS = (
    "line_no, section, booked_on, value_date, amount, currency, reference, bank_reference, "
    "counterparty_name, counterparty_account, description"
)
_BREAK_STAGE_COLUMNS = (
    "dedupe_key, kind, line_nos, record_ids, candidate_line_nos, candidate_record_ids, "
    "amount, difference, booked_on"
)
_CHUNK = 1 << 20  # bytes of COPY text sent at a time


async def _driver(session: AsyncSession) -> AsyncConnection[Any]:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    assert driver is not None
    return driver


def _cut(text: str | None, width: int) -> str | None:
    return text if text is None or len(text) <= width else text[:width]


def _units(values: np.ndarray) -> list[str]:
    """Scaled integers as numeric text: 12345 -> '12345e-5' (exact; no float on the way)."""
    suffix = f"e-{AMOUNT_DECIMALS}"
    return [f"{v}{suffix}" for v in values.tolist()]


# -- lines ----------------------------------------------------------------------------------


async def copy_lines(
    session: AsyncSession, statement_id: uuid.UUID, lines: Iterable[StatementLine]
) -> int:
    """Store a statement's lines; those already stored (a resumed parse sends them again)
    are left as they are. Returns how many were new."""
    await run_sql(
        session,
        "CREATE TEMP TABLE recon_line_stage (line_no int, section int, booked_on date, "
        "value_date date, amount numeric(24, 5), currency varchar(3), reference varchar(140), "
        "bank_reference varchar(140), counterparty_name varchar(200), "
        "counterparty_account varchar(64), description varchar(500)) ON COMMIT DROP",
    )
    driver = await _driver(session)
    async with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY recon_line_stage ({_STAGE_COLUMNS}) FROM STDIN") as copy,
    ):
        for x in lines:
            await copy.write_row(
                (
                    x.line_no,
                    x.section,
                    x.booked_on,
                    x.value_date,
                    x.amount,
                    x.currency,
                    # A bank's text longer than our columns is kept as far as they reach.
                    _cut(x.reference, 140),
                    _cut(x.bank_reference, 140),
                    _cut(x.counterparty_name, 200),
                    _cut(x.counterparty_account, 64),
                    _cut(x.description, 500),
                )
            )
    inserted = (
        await run_sql(
            session,
            "WITH ins AS (INSERT INTO recon_line (statement_id, "  # noqa: S608 (fixed fragments, bound values)
            f"{_STAGE_COLUMNS}) SELECT :s, {_STAGE_COLUMNS} FROM recon_line_stage "
            "ON CONFLICT (statement_id, line_no) DO NOTHING RETURNING 1) "
            "SELECT count(*) FROM ins",
            {"s": statement_id},
        )
    ).scalar_one()
    await run_sql(session, "DROP TABLE recon_line_stage")
    return int(inserted)


async def _copy_out(session: AsyncSession, query: str, params: dict[str, Any]) -> bytes:
    driver = await _driver(session)
    chunks: list[bytes] = []
    async with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)", params) as copy,
    ):
        async for data in copy:
            chunks.append(bytes(data))
    return b"".join(chunks)


def _read_csv(data: bytes, names: list[str], dtype: dict[str, Any]) -> pd.DataFrame:
    if not data:
        return pd.DataFrame({n: pd.Series(dtype=dtype[n]) for n in names})
    return pd.read_csv(
        io.BytesIO(data), header=None, names=names, dtype=dtype, keep_default_na=False,
        na_values=[""], engine="c",
    )  # fmt: skip


def _day_column(frame: pd.DataFrame) -> None:
    frame["booked_on"] = frame["booked_on"].to_numpy(np.int64).astype("datetime64[D]")


async def load_lines(session: AsyncSession, statement_id: uuid.UUID) -> pd.DataFrame:
    """The statement's lines not matched yet, as the engine takes them (LINE_COLUMNS)."""
    data = await _copy_out(
        session,
        "SELECT l.line_no, l.booked_on - DATE '1970-01-01', "  # noqa: S608 (fixed fragments, bound values)
        f"(l.amount * {AMOUNT_SCALE})::bigint, l.reference FROM recon_line l "
        "WHERE l.statement_id = %(s)s AND NOT EXISTS (SELECT 1 FROM recon_match_line m "
        "WHERE m.statement_id = l.statement_id AND m.line_no = l.line_no) ORDER BY l.line_no",
        {"s": statement_id},
    )
    frame = _read_csv(
        data,
        ["line_no", "booked_on", "amount", "reference"],
        {"line_no": np.int64, "booked_on": np.int64, "amount": np.int64, "reference": object},
    )
    _day_column(frame)
    return frame


async def load_records(
    session: AsyncSession,
    *,
    currency: str,
    channels: list[str],
    booked_from: date,
    booked_to: date,
) -> pd.DataFrame:
    """Our records in scope (booked in [booked_from, booked_to], UTC days) that no statement
    has matched yet, as the engine takes them (RECORD_COLUMNS). Signed: out is negative."""
    start = datetime.combine(booked_from, time(0), tzinfo=UTC)
    end = datetime.combine(booked_to + timedelta(days=1), time(0), tzinfo=UTC)
    data = await _copy_out(
        session,
        "SELECT t.id, t.external_id, (t.booked_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01', "  # noqa: S608 (fixed fragments, bound values)
        f"(CASE WHEN t.direction = 'in' THEN t.amount ELSE -t.amount END * {AMOUNT_SCALE})"
        '::bigint, t.channel FROM "transaction" t WHERE t.currency = %(c)s '
        "AND t.channel = ANY(%(ch)s) AND t.booked_at >= %(f)s AND t.booked_at < %(t)s "
        "AND NOT EXISTS (SELECT 1 FROM recon_match_record m WHERE m.transaction_id = t.id)",
        {"c": currency, "ch": list(channels), "f": start, "t": end},
    )
    frame = _read_csv(
        data,
        ["record_id", "external_id", "booked_on", "amount", "channel"],
        {"record_id": str, "external_id": str, "booked_on": np.int64, "amount": np.int64,
         "channel": str},
    )  # fmt: skip
    _day_column(frame)
    return frame


# -- references to records matched before ---------------------------------------------------


async def already_matched(
    session: AsyncSession, lines: pd.DataFrame, records: pd.DataFrame
) -> tuple[pd.DataFrame, list[Break]]:
    """Split off the lines whose reference names a record of ours that an earlier match
    holds (the same payment on the statement again, or on another one): each is a break
    naming that record, never left to the amount passes, which could pair it with another
    record of the same amount. Returns the lines to match and those breaks."""
    refs = lines["reference"]
    unknown = refs.notna() & ~refs.isin(records["external_id"])
    if not unknown.any():
        return lines, []
    held = (
        await run_sql(
            session,
            'SELECT t.external_id, t.id FROM "transaction" t JOIN recon_match_record m '
            "ON m.transaction_id = t.id WHERE t.external_id = ANY(:refs)",
            {"refs": sorted(set(refs[unknown].tolist()))},
        )
    ).all()
    if not held:
        return lines, []
    record_of = {ref: str(rid) for ref, rid in held}
    taken = unknown & refs.isin(list(record_of))
    repeated = lines[taken]
    days = pd.to_datetime(repeated["booked_on"]).dt.date.tolist()
    breaks = [
        Break(
            kind="already_matched",
            line_nos=(int(line_no),),
            record_ids=(),
            candidate_line_nos=(),
            candidate_record_ids=(record_of[str(ref)],),
            amount=int(amount),
            difference=0,
            booked_on=day,
        )
        for line_no, amount, ref, day in zip(
            repeated["line_no"].tolist(),
            repeated["amount"].tolist(),
            repeated["reference"].tolist(),
            days,
            strict=True,
        )
    ]
    return lines[~taken], breaks


# -- generated records (bench, demo seed, tests) ---------------------------------------------


def _text_cell(value: object) -> str:
    """A value as COPY text: NULL, or the text with COPY's special characters escaped."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "\\N"
    return (
        str(value)
        .replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


async def copy_sample_records(
    session: AsyncSession,
    records: pd.DataFrame,
    *,
    currency: str,
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
) -> int:
    """A generated sample's records (demo.statement_samples) as core banking
    booked them on one account, by COPY into `transaction`."""
    days = records["booked_on"].dt.strftime("%Y-%m-%d").tolist()
    now = datetime.now(UTC).isoformat()
    head = f"\t{account_id}\t{customer_id}\t"
    tail = f"\t{currency}\t"
    rows = (
        f"{rid}\t{_text_cell(ext)}{head}{day}T12:00:00+00:00\t{amount}{tail}{direction}\t"
        f"{channel}\t{_text_cell(name)}\t{_text_cell(text)}\timport\t{now}\n"
        for rid, ext, day, amount, direction, channel, name, text in zip(
            records["id"], records["external_id"], days, records["amount"],
            records["direction"], records["channel"], records["counterparty_name"],
            records["description"], strict=True,
        )
    )  # fmt: skip
    await _copy_text(
        session,
        '"transaction"',
        "id, external_id, account_id, customer_id, booked_at, amount, currency, direction, "
        "channel, counterparty_name, description, source, received_at",
        rows,
    )
    return len(records)


# -- the result -----------------------------------------------------------------------------


async def _copy_text(session: AsyncSession, table: str, columns: str, rows: Iterable[str]) -> None:
    """COPY ready-made text rows (tab-separated, newline-terminated) into `table`."""
    driver = await _driver(session)
    async with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        buffer: list[str] = []
        size = 0
        for row in rows:
            buffer.append(row)
            size += len(row)
            if size >= _CHUNK:
                await copy.write("".join(buffer))
                buffer, size = [], 0
        if buffer:
            await copy.write("".join(buffer))


async def stored_counts(session: AsyncSession, statement_id: uuid.UUID) -> dict[str, int]:
    """What save_result stored for a statement (its return value, read back)."""
    row = (
        await run_sql(
            session,
            "SELECT (SELECT count(*) FROM recon_match WHERE statement_id = :s "
            "AND matched_by IS NULL) AS matches, "
            "(SELECT count(*) FROM recon_match_line ml JOIN recon_match m USING "
            "(statement_id, match_no) WHERE ml.statement_id = :s AND m.matched_by IS NULL) "
            "AS match_lines, "
            "(SELECT count(*) FROM recon_match_record mr JOIN recon_match m USING "
            "(statement_id, match_no) WHERE mr.statement_id = :s AND m.matched_by IS NULL) "
            "AS match_records",
            {"s": statement_id},
        )
    ).one()
    kinds = (
        await run_sql(
            session,
            "SELECT kind, count(*) AS n FROM recon_break WHERE statement_id = :s "
            "AND dedupe_key LIKE :prefix GROUP BY kind",
            {"s": statement_id, "prefix": f"line:{statement_id}:%"},
        )
    ).all()
    counts = {"matches": row.matches, "match_lines": row.match_lines}
    counts["match_records"] = row.match_records
    by_kind = {k.kind: k.n for k in kinds}
    counts.update({kind: int(by_kind.get(kind, 0)) for kind in LINE_BREAK_KINDS})
    return {k: int(v) for k, v in counts.items()}


async def save_result(
    session: AsyncSession,
    statement_id: uuid.UUID,
    source_id: uuid.UUID,
    currency: str,
    result: MatchResult,
) -> dict[str, int]:
    """Store the matches and the line breaks (status open; no cases) of a statement, once.

    When this statement's matching was stored already (a retry after the commit), nothing
    is stored again; either way the stored counts come back: matches, match_lines,
    match_records and breaks by kind.
    """
    done = (
        await run_sql(
            session,
            "SELECT EXISTS (SELECT 1 FROM recon_match WHERE statement_id = :s "
            "AND matched_by IS NULL) OR EXISTS (SELECT 1 FROM recon_break "
            "WHERE statement_id = :s AND dedupe_key LIKE :prefix)",
            {"s": statement_id, "prefix": f"line:{statement_id}:%"},
        )
    ).scalar_one()
    if done:
        return await stored_counts(session, statement_id)
    sid = str(statement_id)
    m = result.matches
    if len(m):
        columns = (
            m["match_no"].tolist(),
            np.asarray(m["pass_name"]).tolist(),
            m["line_count"].tolist(),
            m["record_count"].tolist(),
            _units(m["lines_amount"].to_numpy()),
            _units(m["records_amount"].to_numpy()),
            m["days_apart"].tolist(),
        )
        await _copy_text(
            session,
            "recon_match",
            "statement_id, match_no, pass_name, line_count, record_count, lines_amount, "
            "records_amount, days_apart",
            (f"{sid}\t{no}\t{p}\t{lc}\t{rc}\t{la}\t{ra}\t{d}\n"
             for no, p, lc, rc, la, ra, d in zip(*columns, strict=True)),
        )  # fmt: skip
        ml = result.match_lines
        await _copy_text(
            session,
            "recon_match_line",
            "statement_id, line_no, match_no",
            (f"{sid}\t{line}\t{no}\n" for line, no in
             zip(ml["line_no"].tolist(), ml["match_no"].tolist(), strict=True)),
        )  # fmt: skip
        mr = result.match_records
        await _copy_text(
            session,
            "recon_match_record",
            "transaction_id, statement_id, match_no",
            (f"{rid}\t{sid}\t{no}\n" for rid, no in
             zip(mr["record_id"].tolist(), mr["match_no"].tolist(), strict=True)),
        )  # fmt: skip
    inserted = await _insert_breaks(
        session,
        statement_id,
        source_id,
        currency,
        ((f"line:{statement_id}:{b.line_nos[0]}", b) for b in result.breaks),
    )
    counts = {
        "matches": len(m),
        "match_lines": len(result.match_lines),
        "match_records": len(result.match_records),
    }
    counts.update({kind: inserted.get(kind, 0) for kind in LINE_BREAK_KINDS})
    return counts


async def _insert_breaks(
    session: AsyncSession,
    statement_id: uuid.UUID,
    source_id: uuid.UUID,
    currency: str,
    breaks: Iterable[tuple[str, Break]],
) -> dict[str, int]:
    """Breaks by dedupe key, staged by COPY; those raised before are left alone.
    Returns how many of each kind were new."""
    await run_sql(
        session,
        "CREATE TEMP TABLE recon_break_stage (dedupe_key varchar(200), kind varchar(20), "
        "line_nos int[], record_ids uuid[], candidate_line_nos int[], "
        "candidate_record_ids uuid[], amount numeric(24, 5), difference numeric(24, 5), "
        "booked_on date) ON COMMIT DROP",
    )
    driver = await _driver(session)
    suffix = f"e-{AMOUNT_DECIMALS}"
    async with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY recon_break_stage ({_BREAK_STAGE_COLUMNS}) FROM STDIN") as copy,
    ):
        for key, b in breaks:
            await copy.write_row(
                (
                    key,
                    b.kind,
                    _array(b.line_nos),
                    _array(b.record_ids),
                    _array(b.candidate_line_nos),
                    _array(b.candidate_record_ids),
                    f"{b.amount}{suffix}",
                    f"{b.difference}{suffix}",
                    b.booked_on,
                )
            )
    rows = (
        await run_sql(
            session,
            "WITH ins AS (INSERT INTO recon_break (id, dedupe_key, statement_id, source_id, "
            "kind, line_nos, record_ids, candidate_line_nos, candidate_record_ids, amount, "
            "difference, currency, booked_on, status, created_at) "
            "SELECT gen_random_uuid(), dedupe_key, :s, :src, kind, line_nos, record_ids, "
            "candidate_line_nos, candidate_record_ids, amount, difference, :ccy, booked_on, "
            "'open', now() FROM recon_break_stage ORDER BY dedupe_key "
            "ON CONFLICT (dedupe_key) DO NOTHING RETURNING kind) "
            "SELECT kind, count(*) AS n FROM ins GROUP BY kind",
            {"s": statement_id, "src": source_id, "ccy": currency},
        )
    ).all()
    await run_sql(session, "DROP TABLE recon_break_stage")
    return {r.kind: int(r.n) for r in rows}


def _array(values: Iterable[object]) -> str:
    """A PostgreSQL array literal of ints or uuids (no quoting needed for either)."""
    return "{" + ",".join(str(v) for v in values) + "}"


async def save_record_breaks(
    session: AsyncSession,
    statement_id: uuid.UUID,
    source_id: uuid.UUID,
    currency: str,
    records: pd.DataFrame,
) -> int:
    """Raise our records (RECORD_COLUMNS rows: record_id, booked_on, amount) as
    unmatched_record breaks, once each (`record:<transaction id>`). Returns how many were new."""
    days = records["booked_on"].to_numpy().astype("datetime64[D]").astype(object).tolist()
    breaks = (
        (
            f"record:{rid}",
            Break("unmatched_record", (), (str(rid),), (), (), int(amount), 0, day),
        )
        for rid, amount, day in zip(
            records["record_id"].tolist(), records["amount"].tolist(), days, strict=True
        )
    )
    inserted = await _insert_breaks(session, statement_id, source_id, currency, breaks)
    return inserted.get("unmatched_record", 0)
