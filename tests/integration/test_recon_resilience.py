"""A worker killed in the middle of reading a statement (design promise 3, reconciliation):
the retried parse resumes after the last stored chunk, and nothing is stored or matched
twice. The retry comes after the parse's real 30 s heartbeat timeout."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from core.db import Database, DatabaseUrls, run_sql
from core.settings import Settings
from models.audit import AuditEvent
from models.reconciliation import ReconStatement
from reconciliation.commands.statements import receive_statement
from tests.helpers import new_staff
from tests.integration.test_resilience import WorkerProcess, fresh_queue, worker_env, workers
from tests.recon_data import recon_setup

LINES = 45_000  # three chunks of at most 20 000: the worker dies after the first


@pytest.mark.slow
async def test_worker_killed_mid_file_resumes_without_duplicating_lines_or_matches(
    db: Database,
    db_urls: DatabaseUrls,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    tmp_path: Path,
) -> None:
    client = temporal_env.client
    target = client.service_client.config.target_host
    queue = fresh_queue("recon")
    config = settings.model_copy(update={"task_queue": queue})
    finance = await new_staff(db, "finance_ops")
    setup = await recon_setup(db, "csv", lines=LINES)

    async with workers() as running:
        first = WorkerProcess(
            tmp_path / "worker-1.log",
            worker_env(
                db_urls, target, queue, tmp_path, faults="crash_after_commit:recon_parse_chunk"
            ),
        )
        running.append(first)
        try:
            received = await receive_statement(
                db, client, config, finance.actor, source_id=setup.source_id,
                filename=setup.filename, content=setup.content,
            )  # fmt: skip
            code = await first.exited(within=90)
            assert code == 137, f"worker exited with {code}:\n{first.log()}"
            async with db.session() as session:
                stored = (
                    await run_sql(
                        session,
                        "SELECT count(*) FROM recon_line WHERE statement_id = :s",
                        {"s": received.statement_id},
                    )
                ).scalar_one()
                halfway = await session.get(ReconStatement, received.statement_id)
            assert halfway is not None
            assert 0 < stored < LINES, "the worker died with part of the file stored"
            assert (halfway.status, halfway.lines_read) == ("parsing", stored)

            second = WorkerProcess(
                tmp_path / "worker-2.log", worker_env(db_urls, target, queue, tmp_path)
            )
            running.append(second)
            handle = client.get_workflow_handle(received.workflow_id)
            await asyncio.wait_for(handle.result(), timeout=120)
        except BaseException:
            for worker in running:
                print(f"--- {worker.log_file.name}\n{worker.log()}")
            raise

    async with db.session() as session:
        statement = await session.get(ReconStatement, received.statement_id)
        counts = (
            await run_sql(
                session,
                "SELECT (SELECT count(*) FROM recon_line WHERE statement_id = :s), "
                "(SELECT count(DISTINCT line_no) FROM recon_line WHERE statement_id = :s), "
                "(SELECT count(*) FROM recon_match_line WHERE statement_id = :s), "
                "(SELECT count(*) FROM recon_match_record WHERE statement_id = :s), "
                "(SELECT sum(record_count) FROM recon_match WHERE statement_id = :s)",
                {"s": received.statement_id},
            )
        ).one()
        parsed = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "recon.statement_parsed",
                    col(AuditEvent.object_id) == str(received.statement_id),
                )
            )
        ).all()
    assert statement is not None and statement.status == "matched"
    lines, distinct, matched_lines, matched_records, expected_records = counts
    assert lines == distinct == LINES, "every line once"
    expected = setup.sample.expected
    assert matched_lines == sum(expected.pass_counts.values())
    assert {k: v for k, v in statement.summary["pass_counts"].items() if v} == {
        k: v for k, v in expected.pass_counts.items() if v
    }
    assert matched_records == expected_records, "each record matched once, as its match says"
    assert len(parsed) == 1
    assert parsed[0].details["resumed_from"] == stored, "the retry skipped what was stored"
