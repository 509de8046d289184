"""Activity errors are classified (activities/errors.py): bad data is refused at once and
names where it is (never the value), an outage is retried with a short message.

The exceptions are real: raised by the test PostgreSQL (or by psycopg refusing a NUL
before sending it), and, in the worker tests, by the product's own activities running on
`build_worker` with its interceptor.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.api.enums.v1 import EventType, RetryState
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from activities.errors import (
        BAD_DATA,
        CONSTRAINT_CONFLICT,
        INTEGRITY_ATTEMPTS,
        classify,
        refusal_for_lines,
    )
    from activities.outage import DATABASE_UNAVAILABLE
    from core.db import Database, run_sql
    from models.base import utcnow
    from models.cases import Case
    from models.dispute_io import DeliverMessagesInput
    from models.reconciliation import ReconStatement
    from models.workflow_io import OpenTaskInput, TaskSpec
    from reconciliation.commands import bulk
    from reconciliation.engines.lines import StatementLine
    from shared.errors import Invalid
    from tests.helpers import api_headers, eventually, new_staff
    from tests.recon_data import recon_setup
    from worker import build_worker

# Stands for a customer's name: it must never appear in a failure Temporal keeps.
PERSONAL = "Jane Example"

TABLE = (
    "CREATE TEMP TABLE probe (id int PRIMARY KEY, name text NOT NULL, amount numeric(5, 2), "
    "code varchar(3), qty int CONSTRAINT probe_qty_positive CHECK (qty > 0)) ON COMMIT DROP"
)


async def database_error(db: Database, sql: str, params: dict[str, Any] | None = None) -> Exception:
    try:
        async with db.transaction() as session:
            await run_sql(session, TABLE)
            await run_sql(session, sql, params)
    except Exception as exc:
        return exc
    raise AssertionError("the statement was accepted")


async def copy_error(db: Database, rows: str) -> Exception:
    """A COPY like the statement parser's bulk store (reconciliation/commands/bulk.py)."""
    try:
        async with db.transaction() as session:
            await run_sql(session, TABLE)
            connection = await session.connection()
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection
            async with driver.cursor().copy("COPY probe (id, name, qty) FROM STDIN") as copy:
                await copy.write(rows)
    except Exception as exc:
        return exc
    raise AssertionError("the COPY was accepted")


def refused(failure: BaseException) -> ApplicationError:
    assert isinstance(failure, ApplicationError)
    assert failure.type == BAD_DATA
    assert failure.non_retryable
    assert PERSONAL not in failure.message
    assert PERSONAL not in repr(failure.details)
    return failure


# ----------------------------------------------------------------------------- bad data
async def test_a_nul_in_a_text_parameter_is_refused_naming_the_parameter(db: Database) -> None:
    exc = await database_error(
        db, "INSERT INTO probe VALUES (1, :name, 1, 'a', 1)", {"name": f"{PERSONAL}\x00"}
    )
    failure = refused(classify(exc))
    assert "NUL (0x00)" in failure.message
    assert "parameter name" in failure.message


async def test_a_nul_in_a_copied_row_is_refused_naming_the_row(db: Database) -> None:
    exc = await copy_error(db, f"1\tok\t1\n2\t{PERSONAL}\x00\t1\n")
    failure = refused(classify(exc))
    assert "NUL (0x00)" in failure.message
    assert "table probe" in failure.message
    assert "copy row 2" in failure.message
    assert failure.details[0]["copy_row"] == 2


async def test_a_value_too_long_for_a_copied_column_names_row_and_column(db: Database) -> None:
    exc = await copy_error(db, "1\tok\t1\n2\tok\t1\n3\tok\t99999999999\n")
    failure = refused(classify(exc))
    assert "out of range" in failure.message
    assert "copy row 3" in failure.message
    assert "column qty" in failure.message


@pytest.mark.parametrize(
    ("values", "what"),
    [
        ("(1, 'x', 1, 'abcd', 1)", "too long"),
        ("(1, 'x', 10000, 'a', 1)", "out of range"),
        ("(1, 'x', CAST('twelve' AS numeric), 'a', 1)", "not valid for its type"),
    ],
)
async def test_values_the_columns_cannot_hold_are_refused(
    db: Database, values: str, what: str
) -> None:
    failure = refused(classify(await database_error(db, f"INSERT INTO probe VALUES {values}")))
    assert what in failure.message
    assert "twelve" not in failure.message


async def test_a_check_violation_names_its_table_and_constraint_not_the_row(
    db: Database,
) -> None:
    exc = await database_error(
        db, "INSERT INTO probe VALUES (1, :name, 1, 'a', -1)", {"name": PERSONAL}
    )
    failure = refused(classify(exc, attempt=1))
    assert "check constraint" in failure.message
    assert "table probe" in failure.message
    assert "constraint probe_qty_positive" in failure.message


async def test_a_missing_required_value_names_its_column(db: Database) -> None:
    exc = await database_error(db, "INSERT INTO probe VALUES (1, NULL, 1, 'a', 1)")
    failure = refused(classify(exc, attempt=1))
    assert "column name" in failure.message


async def test_a_unique_violation_is_retried_a_few_times_then_refused(db: Database) -> None:
    exc = await database_error(
        db,
        "INSERT INTO probe VALUES (1, :name, 1, 'a', 1), (1, :name, 1, 'a', 1)",
        {"name": PERSONAL},
    )
    first = classify(exc, attempt=1)
    assert isinstance(first, ApplicationError)
    assert first.type == CONSTRAINT_CONFLICT
    assert not first.non_retryable
    assert "probe_pkey" in first.message
    last = refused(classify(exc, attempt=INTEGRITY_ATTEMPTS))
    assert "must be unique" in last.message


def test_bytes_that_are_not_utf8_name_their_line_and_offset() -> None:
    try:
        f"{PERSONAL}\nline two\nbad \xff byte".encode("latin-1").decode("utf-8")
    except UnicodeDecodeError as exc:
        failure = refused(classify(exc))
    assert "not valid utf-8" in failure.message
    assert "line 3" in failure.message


@dataclass
class Comment:
    author: str
    text: str


class Decision(BaseModel):
    task_id: uuid.UUID
    comments: list[Comment]


async def test_a_nul_in_the_activity_input_names_the_field(db: Database) -> None:
    exc = await database_error(
        db, "INSERT INTO probe VALUES (1, :name, 1, 'a', 1)", {"name": f"{PERSONAL}\x00"}
    )
    decision = Decision(
        task_id=uuid.uuid4(), comments=[Comment("a", "fine"), Comment("b", f"{PERSONAL}\x00")]
    )
    failure = refused(classify(exc, decision))
    assert "input field comments[1].text" in failure.message


def test_a_domain_refusal_names_its_fields_not_its_values() -> None:
    failure = refused(
        classify(Invalid(f"{PERSONAL} is not valid", fields={"iban": "not an IBAN", "name": "x"}))
    )
    assert "fields iban name" in failure.message


def test_an_invalid_model_names_the_fields_not_the_input() -> None:
    class Payment(BaseModel):
        amount: int

    with pytest.raises(ValidationError) as caught:
        Payment.model_validate({"amount": PERSONAL})
    failure = refused(classify(caught.value))
    assert "amount (int_parsing)" in failure.message


# ----------------------------------------------------------------------------- statements
def statement_lines(count: int) -> list[StatementLine]:
    return [
        StatementLine(
            line_no=n,
            section=0,
            booked_on=date(2026, 3, 2),
            value_date=None,
            amount=Decimal("12.50"),
            currency="EUR",
            reference=f"INV-{n}",
            bank_reference=None,
            counterparty_name=None,
            counterparty_account=None,
            description="Payment",
            location=f"line {10 * n}",
        )
        for n in range(1, count + 1)
    ]


async def store_error(db: Database, lines: list[StatementLine]) -> Exception:
    try:
        async with db.transaction() as session:
            await bulk.copy_lines(session, uuid.uuid4(), lines)
    except Exception as exc:
        return exc
    raise AssertionError("the lines were stored")


async def test_a_line_with_a_nul_the_parser_let_through_refuses_the_statement_naming_it(
    db: Database,
) -> None:
    lines = statement_lines(4)
    lines[2] = replace(lines[2], counterparty_name=f"{PERSONAL}\x00")
    refusal = refusal_for_lines(await store_error(db, lines), lines)
    assert refusal is not None
    assert refusal.location == "line 30, field counterparty name"
    assert "NUL (0x00)" in refusal.reason
    assert PERSONAL not in refusal.reason


async def test_an_amount_too_large_to_store_refuses_the_statement_naming_its_line(
    db: Database,
) -> None:
    lines = statement_lines(3)
    lines[1] = replace(lines[1], amount=Decimal("1e22"))
    refusal = refusal_for_lines(await store_error(db, lines), lines)
    assert refusal is not None
    assert refusal.location == "line 20, field amount"
    assert "out of range" in refusal.reason


async def test_an_outage_while_storing_lines_is_no_refusal() -> None:
    dead = Database(f"postgresql+psycopg://nobody@/none?host=/nonexistent-{uuid.uuid4().hex}")
    lines = statement_lines(1)
    try:
        exc = await store_error(dead, lines)
    finally:
        await dead.dispose()
    assert refusal_for_lines(exc, lines) is None


# ----------------------------------------------------------------------------- left alone
def test_a_deliberate_application_error_passes_unchanged() -> None:
    deliberate = ApplicationError("case 1 is not visible yet", type="not_committed_yet")
    assert classify(deliberate) is deliberate


def test_an_unknown_error_passes_unchanged() -> None:
    bug = KeyError("stage")
    assert classify(bug) is bug


# ----------------------------------------------------------------------------- outages
@pytest.mark.parametrize(
    ("sqlstate", "name"),
    [
        ("40001", "SerializationFailure"),
        ("40P01", "DeadlockDetected"),
        ("57P01", "AdminShutdown"),
        ("53300", "TooManyConnections"),
    ],
)
async def test_transient_server_errors_are_retried_briefly(
    db: Database, sqlstate: str, name: str
) -> None:
    exc = await database_error(
        db,
        f"DO $$ BEGIN RAISE EXCEPTION 'transient' USING ERRCODE = '{sqlstate}'; END $$",
    )
    failure = classify(exc)
    assert isinstance(failure, ApplicationError)
    assert failure.type == DATABASE_UNAVAILABLE
    assert not failure.non_retryable
    assert name in failure.message


async def test_an_unreachable_database_is_retried_with_a_short_message() -> None:
    dead = Database(f"postgresql+psycopg://nobody@/none?host=/nonexistent-{uuid.uuid4().hex}")
    try:
        async with dead.session() as session:
            await run_sql(session, "SELECT 1")
    except Exception as exc:
        failure = classify(exc)
    finally:
        await dead.dispose()
    assert isinstance(failure, ApplicationError)
    assert failure.type == DATABASE_UNAVAILABLE
    assert not failure.non_retryable
    assert len(failure.message) < 4096


# ----------------------------------------------------------------------------- on a worker
@dataclass
class ProbeInput:
    activity: str
    argument: Any
    attempts: int
    task_queue: str  # the product worker's (build_worker)


@dataclass
class ProbeResult:
    error_type: str | None
    non_retryable: bool
    message: str
    retry_state: int
    has_cause: bool = False  # the original exception (its text) chained under it


@workflow.defn(sandboxed=False)
class ActivityProbeWorkflow:
    """Calls one of the product's activities by name and reports how it failed."""

    @workflow.run
    async def run(self, inp: ProbeInput) -> ProbeResult:
        try:
            await workflow.execute_activity(
                inp.activity,
                inp.argument,
                task_queue=inp.task_queue,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=100),
                    backoff_coefficient=1.0,
                    maximum_attempts=inp.attempts,
                ),
            )
        except ActivityError as err:
            # No assert here: a failing workflow task would retry (and the test hang).
            cause = err.cause
            if not isinstance(cause, ApplicationError):
                return ProbeResult(type(cause).__name__, False, str(cause), 0)
            return ProbeResult(
                cause.type,
                cause.non_retryable,
                cause.message,
                int(err.retry_state or 0),
                cause.cause is not None,
            )
        return ProbeResult(None, False, "", 0)


async def probe(client: Client, queue: str, inp: ProbeInput) -> tuple[ProbeResult, list[int]]:
    """The probe's result and the attempt number of each activity try the history shows."""
    probe_queue = f"{queue}-probe"
    async with Worker(client, task_queue=probe_queue, workflows=[ActivityProbeWorkflow]):
        handle = await client.start_workflow(
            ActivityProbeWorkflow.run, inp, id=f"probe-{uuid.uuid4()}", task_queue=probe_queue
        )
        result = await handle.result()
    history = await handle.fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    return result, attempts


async def open_case(db: Database) -> Case:
    async with db.transaction() as session:
        case = Case(
            reference=f"TST-{uuid.uuid4().hex[:8]}",
            case_type="change_request",
            title="Probe",
            subject_type="probe",
            subject_id=uuid.uuid4().hex,
            workflow_id=f"probe-case-{uuid.uuid4()}",
        )
        session.add(case)
    return case


async def test_a_product_activity_hitting_bad_data_fails_after_one_attempt(
    temporal_env: WorkflowEnvironment, db: Database
) -> None:
    case = await open_case(db)
    spec = TaskSpec(
        task_id=uuid.uuid4(),
        task_key="review",
        kind="review",
        title=f"Review {PERSONAL}\x00",
        candidate_role="ops_manager",
        allowed_outcomes=["approve"],
        sla_seconds=3600,
    )
    task_input = OpenTaskInput(
        case_id=case.id, workflow_id=case.workflow_id, spec=spec, due_at=utcnow()
    )
    queue = f"errors-{uuid.uuid4().hex[:8]}"
    client = temporal_env.client
    async with build_worker(client, db, queue):
        result, attempts = await probe(client, queue, ProbeInput("open_task", task_input, 5, queue))
    assert result.error_type == BAD_DATA
    assert result.non_retryable
    assert "NUL (0x00)" in result.message
    assert "spec.title" in result.message
    assert PERSONAL not in result.message
    assert not result.has_cause
    assert result.retry_state == RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE
    assert attempts == [1]


async def test_a_product_activity_in_an_outage_is_retried(
    temporal_env: WorkflowEnvironment,
) -> None:
    # deliver_customer_messages has no retry_on_outage of its own: the interceptor does it.
    dead = Database(f"postgresql+psycopg://nobody@/none?host=/nonexistent-{uuid.uuid4().hex}")
    queue = f"errors-{uuid.uuid4().hex[:8]}"
    client = temporal_env.client
    inp = DeliverMessagesInput(case_id=uuid.uuid4(), workflow_id="probe")
    try:
        async with build_worker(client, dead, queue):
            result, attempts = await probe(
                client, queue, ProbeInput("deliver_customer_messages", inp, 3, queue)
            )
    finally:
        await dead.dispose()
    assert result.error_type == DATABASE_UNAVAILABLE
    assert not result.non_retryable
    assert result.retry_state == RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED
    assert attempts == [3]


async def test_a_statement_line_the_database_cannot_hold_refuses_the_statement(
    http: httpx.AsyncClient, db: Database
) -> None:
    """The parser reads an amount no column can hold; storing it fails with a DataError.
    The statement is refused within seconds naming the line, and its workflow ends."""
    user = await new_staff(db, "upstream_system")
    headers = await api_headers(http, user.username)
    setup = await recon_setup(db, "csv")
    rows = setup.content.decode().split("\n")
    fields = rows[2].split(",")  # the second entry: its debit (1) or credit (2) column
    amount = 1 if fields[1] else 2
    fields[amount] = "12345678901234567890123.00"
    rows[2] = ",".join(fields)
    content = "\n".join(rows).encode()
    response = await http.post(
        "/api/v1/reconciliation/statements",
        data={"source_id": str(setup.source_id)},
        files={"file": ("statement.csv", content, "text/csv")},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    statement_id = uuid.UUID(response.json()["statement_id"])

    async def refused_statement() -> ReconStatement | None:
        async with db.session() as session:
            s = await session.get(ReconStatement, statement_id)
        return s if s is not None and s.status == "refused" else None

    statement = await eventually(refused_statement, within=30, what="the statement refused")
    assert statement is not None
    assert statement.refused_location is not None
    assert statement.refused_location.startswith("line 3")
    assert "amount" in statement.refused_location
    assert "out of range" in (statement.refused_reason or "")
    assert "cannot be stored" in (statement.refused_reason or "")


async def test_an_unclassified_database_error_does_not_quote_its_parameters(
    db: Database,
) -> None:
    exc = await database_error(db, "SELECT CAST(:name AS no_such_type)", {"name": PERSONAL})
    assert classify(exc) is exc  # a bug, not bad data: left to the workflow's retries
    assert PERSONAL not in str(exc)
