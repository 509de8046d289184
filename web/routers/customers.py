"""Customers: the searchable list and the customer 360, as pages and as JSON."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from casework.cases import CASE_TYPES
from customers import directory as customer_service
from customers.activity import TransactionFilters
from identity.access import not_found
from models.aml import CHANNELS, DIRECTIONS
from web.deps import CurrentActor, HtmxRequest, OneOf, PageParam, PerPageParam, ServicesDep
from web.responses import API_ERRORS
from web.templating import render

api = APIRouter(prefix="/api/v1/customers", tags=["customers"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)
PER_PAGE = 25


@api.get("", response_model=customer_service.CustomerPage)
async def list_customers_api(
    services: ServicesDep,
    actor: CurrentActor,
    q: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str, OneOf(customer_service.CUSTOMER_STATUSES)] | None = None,
    risk_level: Annotated[str, OneOf(customer_service.RISK_LEVELS)] | None = None,
    page: PageParam = 1,
    per_page: PerPageParam = PER_PAGE,
) -> customer_service.CustomerPage:
    """Search customers by name, reference, email or IBAN; filter by status and risk level."""
    return await customer_service.list_customers(
        services.db,
        actor,
        q=(q or "").strip() or None,
        status=status or None,
        risk_level=risk_level or None,
        page=page,
        per_page=per_page,
    )


@api.get("/{customer_id}", response_model=customer_service.Customer360Public)
async def read_customer_api(
    services: ServicesDep, actor: CurrentActor, customer_id: uuid.UUID
) -> customer_service.Customer360Public:
    """The customer 360 in brief: profile, risk, accounts with tariff, cases, screening."""
    view = await customer_service.customer_360(services.db, actor, customer_id)
    if view is None:
        raise await not_found(services.db, actor, "customer", customer_id, action="customer.read")
    return customer_service.summary(view)


@pages.get("/customers")
async def list_customers(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    q: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    risk_level: Annotated[str | None, Query(max_length=10)] = None,
    page: PageParam = 1,
) -> Response:
    q, status, risk_level = (q or "").strip() or None, status or None, risk_level or None
    result = await customer_service.list_customers(
        services.db, actor, q=q, status=status, risk_level=risk_level, page=page, per_page=PER_PAGE
    )
    context = {
        "result": result,
        "pages": max(1, -(-result.total // PER_PAGE)),
        "filters": {"q": q or "", "status": status or "", "risk_level": risk_level or ""},
        "statuses": customer_service.CUSTOMER_STATUSES,
        "risk_levels": customer_service.RISK_LEVELS,
    }
    block = (
        "customer_list" if htmx and request.headers.get("hx-target") == "customer-list" else None
    )
    response: Response = render(request, "customers.html", context, block=block)
    response.headers["Vary"] = "HX-Request"
    return response


@pages.get("/customers/{customer_id}")
async def read_customer(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    customer_id: uuid.UUID,
    tx_direction: Annotated[str | None, Query(max_length=3)] = None,
    tx_channel: Annotated[str | None, Query(max_length=10)] = None,
    tx_from: Annotated[str | None, Query(max_length=10)] = None,
    tx_to: Annotated[str | None, Query(max_length=10)] = None,
    tx_page: PageParam = 1,
) -> Response:
    filters = TransactionFilters.parse(
        direction=tx_direction,
        channel=tx_channel,
        date_from=tx_from,
        date_to=tx_to,
        page=tx_page,
    )
    view = await customer_service.customer_360(services.db, actor, customer_id, filters)
    if view is None:
        # Not there, or not yours to see: the same answer, and the attempt is recorded.
        raise await not_found(services.db, actor, "customer", customer_id, action="customer.read")
    # The transactions table's filters and pager swap only that block.
    block = (
        "transactions"
        if htmx and request.headers.get("hx-target") == "customer-transactions"
        else None
    )
    response: Response = render(
        request,
        "customer.html",
        {
            "view": view,
            "customer": view.customer,
            "case_types": CASE_TYPES,
            "activity": view.activity,
            "channels": CHANNELS,
            "directions": DIRECTIONS,
        },
        block=block,
    )
    response.headers["Vary"] = "HX-Request"
    return response
