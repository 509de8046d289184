"""Transactions in from core banking (monitored as they arrive), and read back page by page."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query

from aml.commands import transactions
from aml.commands.transaction_rows import MAX_BATCH, TransactionBatch, TransactionIn
from aml.queries import transaction_list
from shared.errors import Invalid
from web.deps import (
    CurrentActor,
    LongPerPageParam,
    PageParam,
    ServicesDep,
    TemporalDep,
    in_body,
    require,
)
from web.responses import API_ERRORS, ErrorBody

api = APIRouter(prefix="/api/v1", tags=["transactions"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its `$defs` put in place (the body is documented by hand)."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


# The body is read as plain JSON and each row validated on its own (one bad row must not
# refuse its batch), so the documented schema is given here rather than by the parameter.
BODY_SCHEMA = {
    "oneOf": [
        _inline(TransactionIn.model_json_schema()),
        _inline(TransactionBatch.model_json_schema()),
    ]
}
BODY_EXAMPLE = {
    "external_id": "cb-2026-11-26-000123",
    "account": "DE89370400440532013000",
    "booked_at": "2026-11-26T09:30:00+01:00",
    "amount": "9700.00",
    "currency": "EUR",
    "direction": "in",
    "channel": "cash",
    "counterparty": None,
    "description": "Cash deposit, branch 12",
}


@api.post(
    "/transactions",
    response_model=transactions.IngestResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": BODY_SCHEMA, "example": BODY_EXAMPLE},
            },
        }
    },
    dependencies=[
        Depends(require("transaction", "submit", about=in_body("transaction", "external_id")))
    ],
    responses={
        422: {
            "model": ErrorBody,
            "description": f"The body is neither a transaction nor a batch, the batch holds more "
            f"than {MAX_BATCH:,} rows, or the single transaction sent was refused (its fields "
            "named in `fields`).",
        }
    },
)
async def ingest_transactions(
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    body: Annotated[Any, Body()],
) -> transactions.IngestResult:
    """Book transactions in: one transaction object, or `{"transactions": [...]}` (up to 10 000).

    Every new transaction is monitored at once; alerts go to the customer's open AML case.
    Each row is judged on its own: refused rows are listed by index with a message per
    field and the good rows of the batch are kept. Idempotent by `external_id`: a row sent
    again is counted as a duplicate and changes nothing; the same `external_id` with other
    content is refused for that row. A single transaction that is refused answers 422.
    """
    single = isinstance(body, dict) and "transactions" not in body
    if single:
        rows = [body]
    elif isinstance(body, dict) and isinstance(body.get("transactions"), list):
        rows = body["transactions"]
    else:
        raise Invalid(
            'Send one transaction object or {"transactions": [...]}.',
            fields={"transactions": "must be a list of transaction objects"},
        )
    result = await transactions.ingest(services.db, temporal, services.settings, actor, rows)
    if single and result.rejected:
        errors = result.rejected_rows[0].errors
        raise Invalid(
            "The transaction was refused: "
            + "; ".join(f"{field}: {message}" for field, message in errors.items()),
            code="transaction_refused",
            fields=errors,
        )
    return result


@api.get("/transactions", response_model=transaction_list.TransactionPage)
async def list_transactions(
    services: ServicesDep,
    actor: CurrentActor,
    account: Annotated[
        str | None, Query(max_length=42, description="IBAN of the account (spaces allowed).")
    ] = None,
    customer_id: Annotated[uuid.UUID | None, Query(description="The customer's id.")] = None,
    direction: Annotated[Literal["in", "out"] | None, Query()] = None,
    channel: Annotated[Literal["card", "sepa", "swift", "cash", "crypto"] | None, Query()] = None,
    booked_from: Annotated[date | None, Query(description="First UTC day, included.")] = None,
    booked_to: Annotated[date | None, Query(description="Last UTC day, included.")] = None,
    page: PageParam = 1,
    per_page: LongPerPageParam = 50,
) -> transaction_list.TransactionPage:
    """Transactions, newest booking first, filtered by account, customer, direction, channel
    and booking days."""
    return await transaction_list.list_transactions(
        services.db,
        actor,
        account=(account or "").strip() or None,
        customer_id=customer_id,
        direction=direction,
        channel=channel,
        date_from=booked_from,
        date_to=booked_to,
        page=page,
        per_page=per_page,
    )
