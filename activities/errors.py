"""What an activity's failure means for its retries: bad data fails at once, outages retry.

Every workflow retries its activities for hours (a restarted PostgreSQL is an outage, not a
failure), so an error that retrying cannot fix — a NUL byte in a text, an amount too large
for its column, bytes that are not UTF-8, a check constraint the input breaks — used to be
retried for hours too, with the statement or case stuck "in progress". `classify` tells
the two apart and `ClassifyErrors` (a worker interceptor, wired in `worker.build_worker`)
applies it to every activity the worker runs, so no activity can forget it:

- an outage (connection refused or lost, admin shutdown, too many connections,
  serialization failure, deadlock) becomes a short, retryable `database_unavailable`;
- bad data becomes a non-retryable `bad_data` failure naming what is wrong and where (table,
  column, constraint, row of a COPY, SQL parameter, field of the activity's input, byte
  offset and line) — never the value: failures are kept in the workflow's history;
- a unique or foreign-key violation may be a race with another transaction (an attempt
  that committed meanwhile, a parent row not committed yet): retried a few times (a
  foreign key as long as `not_committed_yet` waits), then refused as bad data;
- an ApplicationError an activity raised on purpose, and anything else, is left as it is.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DBAPIError, StatementError
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities.outage import UNCOMMITTED_ATTEMPTS, outage_failure
from core.db import is_outage
from reconciliation.engines.lines import StatementRefused
from shared.errors import Invalid

log = logging.getLogger(__name__)

BAD_DATA = "bad_data"
CONSTRAINT_CONFLICT = "constraint_conflict"
# A unique violation is retried this many attempts (with the DB retry backoff: under a
# second) before it is taken to be the input's fault; a foreign-key violation as long as a
# row not committed yet is waited for (activities.outage.not_committed_yet).
INTEGRITY_ATTEMPTS = 3
_RACE_ATTEMPTS = {
    "23503": UNCOMMITTED_ATTEMPTS,
    "23505": INTEGRITY_ATTEMPTS,
    "23P01": INTEGRITY_ATTEMPTS,
}

# SQLSTATEs of class 22 (data exception) and 23 (integrity) said in words: the server's own
# text can quote the value ('invalid input syntax for type numeric: "…"').
_DATA_PROBLEMS = {
    "22001": "a value is too long for its column",
    "22003": "a number is out of range for its column",
    "22004": "a value is missing (null) where one is required",
    "22007": "a date or time is not valid",
    "22008": "a date or time is out of range",
    "22012": "a division by zero",
    "22021": "text is not valid UTF-8 or contains a NUL (0x00) byte",
    "22P02": "a value is not valid for its type",
    "22P05": "text contains a character PostgreSQL cannot store (such as \\u0000)",
    "23502": "a required value is missing (not-null constraint)",
    "23503": "a reference points at a row that does not exist (foreign key)",
    "23505": "a value that must be unique already exists",
    "23514": "a value breaks a check constraint",
    "23P01": "a value overlaps another one (exclusion constraint)",
}
_COPY_CONTEXT = re.compile(r"^COPY (?P<table>[\w.]+), line (?P<row>\d+)(?:, column (?P<col>\w+))?")
_NUL_CLIENT = "cannot contain NUL"  # psycopg's own refusal, before anything is sent


@dataclasses.dataclass
class _Problem:
    what: str
    where: dict[str, str | int] = dataclasses.field(default_factory=dict)

    def failure(self, *, non_retryable: bool = True, kind: str = BAD_DATA) -> ApplicationError:
        places = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in self.where.items())
        prefix = "Bad data (not retried)" if non_retryable else "Constraint conflict (retried)"
        message = f"{prefix}: {self.what}" + (f"; at {places}" if places else "")
        return ApplicationError(
            message, {"what": self.what, **self.where}, type=kind, non_retryable=non_retryable
        )


def classify(exc: BaseException, activity_input: object = None, attempt: int = 1) -> BaseException:
    """The exception an activity should fail with instead of `exc` (`exc` itself when it
    is left as it is). `activity_input` (the activity's argument) is searched for the field
    holding a NUL character; `attempt` is the activity's attempt number."""
    if isinstance(exc, ApplicationError):
        return exc
    if is_outage(exc):
        return outage_failure(exc)
    orig = _unwrapped(exc)
    if isinstance(orig, psycopg.IntegrityError):
        problem = _database_problem(orig, exc)
        if attempt < _RACE_ATTEMPTS.get(orig.sqlstate or "", 0):
            return problem.failure(non_retryable=False, kind=CONSTRAINT_CONFLICT)
        return problem.failure()
    if isinstance(orig, psycopg.DataError):
        problem = _database_problem(orig, exc)
        if not orig.sqlstate and _NUL_CLIENT in str(orig):
            problem.what = "text contains a NUL (0x00) character, which PostgreSQL cannot store"
            field = _nul_field(activity_input)
            if field:
                problem.where["input_field"] = field
        return problem.failure()
    if isinstance(orig, UnicodeDecodeError | UnicodeEncodeError):
        return _unicode_problem(orig).failure()
    if isinstance(orig, StatementRefused):
        return _Problem("the file was refused", {"location": orig.location}).failure()
    if isinstance(orig, Invalid):
        where: dict[str, str | int] = {}
        if orig.fields:
            where["fields"] = " ".join(sorted(orig.fields))
        location = getattr(orig, "location", None)
        if isinstance(location, str | int):
            where["location"] = location
        return _Problem(f"the input was refused ({orig.code})", where).failure()
    if isinstance(orig, ValidationError):
        return _validation_problem(orig).failure()
    return exc


def refusal_for_lines(exc: BaseException, lines: Sequence[Any]) -> StatementRefused | None:
    """A statement's lines the database will not store (a NUL the parser let through, an
    amount too large for its column): the statement is refused naming the entry and its
    field, like any other refusal, instead of the statement staying "parsing" while its
    workflow fails. `lines` are the StatementLines of the failed store, in COPY order.
    None: not bad data (an outage, a bug), to be raised as it is."""
    failure = classify(exc)  # as a first attempt: a racy unique violation is no refusal
    if not (isinstance(failure, ApplicationError) and failure.non_retryable):
        return None
    where = failure.details[0] if failure.details else {}
    line, field = None, where.get("column")
    row = where.get("copy_row")
    if isinstance(row, int) and 0 < row <= len(lines):
        line = lines[row - 1]
    elif "NUL" in str(where.get("what", "")):
        for candidate in lines:
            field = _nul_field(candidate)
            if field:
                line = candidate
                break
    location = getattr(line, "location", None) or (
        f"entries {lines[0].line_no} to {lines[-1].line_no}" if lines else "the file"
    )
    if field:
        location = f"{location}, field {str(field).replace('_', ' ')}"
    return StatementRefused(location, f"{where.get('what', 'bad data')}; it cannot be stored")


def _unwrapped(exc: BaseException) -> BaseException:
    """The driver's exception under SQLAlchemy's wrapper (DBAPIError, StatementError)."""
    if isinstance(exc, StatementError) and isinstance(exc.orig, BaseException):
        return exc.orig
    return exc


def _database_problem(orig: psycopg.Error, wrapper: BaseException) -> _Problem:
    state = orig.sqlstate or ""
    problem = _Problem(
        _DATA_PROBLEMS.get(state) or f"the database refused a value ({type(orig).__name__})"
    )
    where = problem.where
    if state:
        where["sqlstate"] = state
    diag = orig.diag
    if diag.table_name:
        where["table"] = diag.table_name
    if diag.column_name:
        where["column"] = diag.column_name
    if diag.constraint_name:
        where["constraint"] = diag.constraint_name
    copy = _COPY_CONTEXT.match(diag.context or "")
    if copy:
        where["table"] = copy["table"]
        where["copy_row"] = int(copy["row"])
        if copy["col"]:
            where["column"] = copy["col"]
    if not state and _NUL_CLIENT in str(orig) and isinstance(wrapper, DBAPIError):
        names = [name for name, value in _parameters(wrapper.params) if _has_nul(value)]
        if names:
            where["parameter"] = " ".join(sorted(set(names)))
    return problem


def _parameters(params: object) -> Iterator[tuple[str, object]]:
    if isinstance(params, Mapping):
        yield from ((str(k), v) for k, v in params.items())
    elif isinstance(params, list | tuple):
        for i, p in enumerate(params):
            if isinstance(p, Mapping):
                yield from _parameters(p)
            else:
                yield (str(i + 1), p)


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, bytes):
        return b"\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _nul_field(value: object, path: str = "", depth: int = 0) -> str | None:
    """The dotted path of the first field of an activity input holding a NUL character."""
    if depth > 8:
        return None
    if isinstance(value, str):
        return (path or "input") if "\x00" in value else None
    items: Iterator[tuple[str, Any]]
    if isinstance(value, BaseModel):
        items = ((name, getattr(value, name, None)) for name in type(value).model_fields)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = ((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
    elif isinstance(value, Mapping):
        items = ((str(k), v) for k, v in value.items())
    elif isinstance(value, list | tuple):
        items = ((f"[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for name, child in items:
        joined = f"{path}{name}" if name.startswith("[") or not path else f"{path}.{name}"
        found = _nul_field(child, joined, depth + 1)
        if found:
            return found
    return None


def _unicode_problem(exc: UnicodeDecodeError | UnicodeEncodeError) -> _Problem:
    if isinstance(exc, UnicodeDecodeError):
        what = f"bytes are not valid {exc.encoding} text ({exc.reason})"
        line = exc.object[: exc.start].count(b"\n") + 1
        where: dict[str, str | int] = {"byte_offset": exc.start, "line": line}
    else:
        what = f"text has a character {exc.encoding} cannot encode ({exc.reason})"
        line = exc.object[: exc.start].count("\n") + 1
        where = {"character_offset": exc.start, "line": line}
    return _Problem(what, where)


def _validation_problem(exc: ValidationError) -> _Problem:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    fields = [".".join(str(part) for part in e["loc"]) + f" ({e['type']})" for e in errors[:10]]
    return _Problem(
        f"{len(errors)} value(s) of {exc.title} are not valid", {"fields": ", ".join(fields)}
    )


class ClassifyErrors(Interceptor):
    """Worker interceptor: every activity's failure goes through `classify`."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ClassifyingInbound(next)


class _ClassifyingInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except Exception as exc:
            info = activity.info()
            argument = input.args[0] if input.args else None
            failure = classify(exc, argument, info.attempt)
            if failure is exc:
                if not isinstance(exc, ApplicationError):
                    log.warning(
                        "activity %s (attempt %d) failed with an unclassified %s; retried "
                        "under its workflow's policy",
                        info.activity_type,
                        info.attempt,
                        type(exc).__name__,
                    )
                raise
            if isinstance(failure, ApplicationError) and failure.non_retryable:
                log.warning(
                    "activity %s of %s refused bad data, not retried: %s",
                    info.activity_type,
                    info.workflow_id,
                    failure.message,
                    exc_info=True,
                )
            else:
                log.warning(
                    "activity %s (attempt %d) failed, Temporal will retry: %s",
                    info.activity_type,
                    info.attempt,
                    failure,
                    exc_info=True,
                )
            # `from None`: the original's text (SQL parameters, the value) stays out of
            # the failure Temporal keeps; the worker log above has the traceback.
            raise failure from None
