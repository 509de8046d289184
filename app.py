"""Builds the FastAPI application: pages (HTMX), the JSON API under /api/v1, /docs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from temporalio.client import Client

from core.codec import EncryptionCodec
from core.db import Database, resolve_urls
from core.settings import Settings, get_settings
from core.temporal import codec_key_ring
from policies.enforcer import PolicyStore, policy_store
from web import errors, middleware
from web.deps import csrf_guard
from web.proxies import TrustedProxyMiddleware, parse_trusted
from web.routers import (
    access_reviews,
    aml,
    aml_rules,
    aml_shadow,
    application_pages,
    applications,
    assignment,
    audit,
    auth,
    bulk,
    case_notes,
    cases,
    changes,
    codec,
    customers,
    dispute_pages,
    disputes,
    docs,
    edd,
    follow_up,
    health,
    manual_cases,
    mfa,
    notifications,
    reconciliation_api,
    reconciliation_pages,
    restrictions,
    role_grants,
    screening,
    sso,
    staff,
    staff_api,
    status,
    tariffs,
    tasks,
    temporal_ui,
    transactions,
)
from web.routers import settings as settings_routes
from web.services import Services
from web.text_input import refuse_nul_text

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"

DESCRIPTION = """
JSON API of the back office. Authenticate with `POST /api/v1/auth/token`, then send
`Authorization: Bearer <access_token>`. The API obeys exactly the same permission and
segregation-of-duties rules as the web pages; every state-changing call is audited.
"""


def _reload_policy(store: PolicyStore) -> None:
    try:
        store.reload()
    except Exception:  # keep serving the previous policy; say why in the log
        log.exception("policy reload failed; the previous policy stays in force")


def create_app(
    settings: Settings | None = None, *, db: Database | None = None, temporal: Client | None = None
) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_db = db is None
        services = Services(
            settings=settings,
            db=db
            or Database(
                resolve_urls(settings).app,
                pool_size=settings.db_pool_size,
                application_name="backoffice-web",
            ),
        )
        if temporal is not None:
            services.set_temporal(temporal)
        app.state.services = services
        # The one enforcer of this process, built now so a bad policy file stops start-up;
        # SIGHUP re-reads policies/ (a failed reload keeps the previous policy).
        store = policy_store()
        # The payload keys too (an unreadable key file stops start-up, with its name; the
        # development key is made now under DATA_DIR); the codec endpoint decodes with them.
        app.state.display_codec = EncryptionCodec(codec_key_ring(settings), legacy=True)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, _reload_policy, store)
        if not (STATIC_DIR / "vendor" / "htmx.min.js").exists():
            log.warning("front-end assets missing in web/static/vendor; run `make assets`")
        yield
        await temporal_ui.close_client(app)
        if own_db:
            await services.db.dispose()

    app = FastAPI(
        title="backoffice",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(csrf_guard), Depends(refuse_nul_text)],
        docs_url=None,  # served by web.routers.docs from local files
        redoc_url=None,
    )
    errors.install(app)
    middleware.install(app)
    # Added after the other middleware, so it runs first: everything sees the real client.
    app.add_middleware(TrustedProxyMiddleware, trusted=parse_trusted(settings.trusted_proxies))
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    for router in (
        health.router,
        auth.router,
        auth.api,
        mfa.pages,
        mfa.api,
        sso.router,
        tasks.api,
        tasks.pages,
        assignment.api,
        assignment.pages,
        bulk.api,
        bulk.pages,
        tasks.workload_api,
        changes.api,
        changes.pages,
        tariffs.api,
        tariffs.pages,
        settings_routes.api,
        settings_routes.pages,
        applications.api,
        application_pages.pages,
        edd.api,
        edd.pages,
        cases.pages,
        cases.api,
        case_notes.api,
        case_notes.pages,
        follow_up.api,
        follow_up.pages,
        manual_cases.api,
        manual_cases.pages,
        customers.api,
        customers.pages,
        audit.api,
        audit.pages,
        staff.pages,
        staff_api.api,
        role_grants.api,
        role_grants.pages,
        access_reviews.api,
        access_reviews.pages,
        screening.api,
        screening.pages,
        transactions.api,
        aml_rules.api,
        aml_rules.pages,
        aml.api,
        aml.pages,
        aml_shadow.api,
        aml_shadow.pages,
        restrictions.api,
        restrictions.pages,
        notifications.api,
        notifications.pages,
        disputes.api,
        disputes.pages,
        dispute_pages.api,
        dispute_pages.pages,
        reconciliation_api.api,
        reconciliation_pages.api,
        reconciliation_pages.pages,
        docs.pages,
        codec.router,
        status.api,
        status.pages,
    ):
        app.include_router(router)
    # The Temporal UI (read-only reverse proxy): plain routes, see web/routers/temporal_ui.py.
    app.router.routes.extend(temporal_ui.routes)
    app.openapi = lambda: docs.bearer_openapi(app)  # type: ignore[method-assign]

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/inbox", status_code=303)

    return app
