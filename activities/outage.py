"""A database outage, as an activity failure Temporal keeps and an engineer can read.

Temporal retries a failed activity and shows its last failure on the workflow (Temporal UI,
`describe`), but the server replaces a retained failure over 4 KB with "Failure exceeds size
limit". A raw SQLAlchemy/psycopg connection error (SQL, chained causes, stack traces) is
about 11 KB, so during an outage every retrying activity said nothing about why. This turns
connection-level errors into a short, still retryable ApplicationError; the worker log keeps
the full traceback.

Every activity the worker runs gets the same treatment from the worker interceptor in
`activities.errors` (which also refuses bad data at once); the decorator stays for
activities run outside a worker (ActivityEnvironment in tests).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.db import is_outage

P = ParamSpec("P")
R = TypeVar("R")

DATABASE_UNAVAILABLE = "database_unavailable"


def outage_failure(exc: BaseException) -> ApplicationError:
    """A short, retryable failure for an outage (see the module's docstring); the same
    for every activity, whether decorated here or classified by `activities.errors`."""
    orig = getattr(exc, "orig", None) or exc
    detail = " ".join(str(orig).split())[:300]
    return ApplicationError(
        f"Database unavailable ({type(orig).__name__}): {detail}", type=DATABASE_UNAVAILABLE
    )


def retry_on_outage(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorate an activity (below `@activity.defn`) so an outage fails it briefly, retryably."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            if not is_outage(exc):
                raise
            activity.logger.warning("database unavailable; Temporal will retry", exc_info=True)
            raise outage_failure(exc) from None

    return wrapper


# Attempts (with the DB retry backoff: about six minutes) before a row that never appears
# is given up.
UNCOMMITTED_ATTEMPTS = 20


def not_committed_yet(what: str) -> ApplicationError:
    """A workflow is started or signalled inside its starter's transaction, so its first
    activity may run before that commits, when `what` is not visible yet: retried, and
    refused for good once it plainly never will be (the starter rolled back)."""
    if activity.info().attempt < UNCOMMITTED_ATTEMPTS:
        return ApplicationError(f"{what} is not visible yet", type="not_committed_yet")
    return ApplicationError(
        f"{what} was never committed; nothing to do.", type="orphan_workflow", non_retryable=True
    )
