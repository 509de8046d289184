"""Temporal's remote codec protocol, for the Temporal UI: `POST /codec/decode`.

The UI (served at /temporal/, or from TEMPORAL_UI_ORIGIN in production) shows workflow
histories whose payloads are encrypted (core/codec.py); it posts them here to read them:
`{"payloads": [{"metadata": {key: base64}, "data": base64}]}` with an `X-Namespace` header,
and gets the same shape back, decoded. Only signed-in staff whose roles allow
`workflow_history` / `read` (engineer, auditor) are answered; every decode is one audit event
(how many payloads, which namespace; never their content).

Need-to-know holds here too: each payload carries its scope (`bo-scope`, bound to the
ciphertext: core/codec.py), and a payload is decoded only for a reader the policy also allows
`workflow_history:<scope>` / `read` (untagged, older payloads: `workflow_history:unscoped`).
Engineers read change, reconciliation, process-repair and other payloads, not AML, KYC or
dispute ones; auditors read all. A withheld payload comes back sealed, as it came, and the
audit event counts it.

Decoding here is for display: a payload we cannot decrypt (another key, plain JSON from
before encryption or sent from outside) comes back as it was, so the UI shows what Temporal
holds. Workers never read plain payloads (the strict codec refuses them).

`POST /codec/encode` is refused (403, audited) on purpose: an encode endpoint would seal any
payload a browser session sent with the product's key, which is exactly the forgery the
codec exists to stop (a Start, Signal or Update Temporal would take as ours). The UI is
read-only, so it never needs one.

CSRF: the UI cannot send our token, so `web.deps.csrf_guard` lets these two paths through
when the body is `application/json` (never sent cross-site without a CORS preflight) and
an `Origin` header, if present, is ours or TEMPORAL_UI_ORIGIN. The preflight is answered,
with credentials, for TEMPORAL_UI_ORIGIN only.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload

from audit import trail as audit
from core.codec import REFUSED, EncryptionCodec, payload_scope
from core.temporal import codec_key_ring
from identity.access import can
from identity.actors import Actor
from shared.errors import Forbidden, Invalid
from web.deps import ServicesDep, get_services, require, signed_in

MAX_PAYLOADS = 10_000
PREFLIGHT_HEADERS = "content-type, x-namespace, authorization"

router = APIRouter(prefix="/codec", tags=["codec"], include_in_schema=False)


class WirePayload(BaseModel):
    """One payload in protobuf JSON: metadata values and data in base64."""

    metadata: dict[str, str] = Field(default_factory=dict)
    data: str = ""


class WirePayloads(BaseModel):
    payloads: list[WirePayload] = Field(default_factory=list, max_length=MAX_PAYLOADS)


def _from_wire(index: int, wire: WirePayload) -> Payload:
    try:
        return Payload(
            metadata={k: base64.b64decode(v, validate=True) for k, v in wire.metadata.items()},
            data=base64.b64decode(wire.data, validate=True),
        )
    except (binascii.Error, ValueError):
        raise Invalid(
            f"Payload {index} is not protobuf JSON (metadata values and data in base64).",
            fields={f"payloads.{index}": "not base64"},
        ) from None


def _to_wire(payload: Payload) -> WirePayload:
    return WirePayload(
        metadata={k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        data=base64.b64encode(payload.data).decode(),
    )


def _display_codec(request: Request) -> EncryptionCodec:
    state = request.app.state
    codec: EncryptionCodec | None = getattr(state, "display_codec", None)
    if codec is None:
        ring = codec_key_ring(get_services(request).settings)
        codec = state.display_codec = EncryptionCodec(ring, legacy=True)
    return codec


def ui_origin(request: Request) -> str:
    return get_services(request).settings.temporal_ui_origin.rstrip("/")


def _cors(request: Request, response: Response) -> Response:
    origin = request.headers.get("origin", "")
    allowed = ui_origin(request)
    response.headers["Vary"] = "Origin"
    if allowed and origin == allowed:
        response.headers["Access-Control-Allow-Origin"] = allowed
        response.headers["Access-Control-Allow-Credentials"] = "true"
    return response


@router.options("/decode")
@router.options("/encode")
async def codec_preflight(request: Request) -> Response:
    """CORS preflight, answered only for the configured Temporal UI origin."""
    allowed = ui_origin(request)
    if not allowed or request.headers.get("origin", "") != allowed:
        return Response(status_code=403, headers={"Vary": "Origin"})
    response = Response(status_code=204)
    response.headers["Access-Control-Allow-Methods"] = "POST"
    response.headers["Access-Control-Allow-Headers"] = PREFLIGHT_HEADERS
    response.headers["Access-Control-Max-Age"] = "600"
    return _cors(request, response)


@router.post("/decode")
async def decode_payloads(
    request: Request,
    body: WirePayloads,
    services: ServicesDep,
    actor: Annotated[Actor, Depends(require("workflow_history", "read", action="temporal.decode"))],
    x_namespace: Annotated[str, Header(max_length=200)] = "",
) -> Response:
    payloads = [_from_wire(i, wire) for i, wire in enumerate(body.payloads)]
    codec = _display_codec(request)
    decoded, unread, withheld = [], 0, 0
    for payload in payloads:
        if not can(actor, f"workflow_history:{payload_scope(payload)}", "read"):
            decoded.append(payload)  # not this reader's to know: shown still sealed
            withheld += 1
            continue
        plain = codec.decode_one(payload)
        if plain.metadata.get("encoding") == REFUSED:
            plain, unread = payload, unread + 1  # shown as Temporal holds it
        decoded.append(plain)
    namespace = x_namespace or services.settings.temporal_namespace
    async with services.db.transaction() as session:
        await audit.record(
            session,
            action="temporal.decode",
            actor=actor.ref,
            object_type="temporal_namespace",
            object_id=namespace[:100],
            origin=actor.origin,
            details={
                "payloads": len(payloads),
                "not_decrypted": unread,
                "withheld": withheld,
                "namespace": namespace,
            },
        )
    answer = WirePayloads(payloads=[_to_wire(p) for p in decoded])
    response = Response(answer.model_dump_json(), media_type="application/json")
    return _cors(request, response)


@router.post("/encode")
async def refuse_encode(
    request: Request, services: ServicesDep, actor: Annotated[Actor, Depends(signed_in)]
) -> Response:
    error = Forbidden(
        "The codec server does not encode: an encode endpoint would let any signed-in session "
        "forge payloads that Temporal and our workers take as the product's own. The Temporal "
        "UI is read-only; act on a case through backoffice.",
        code="encode_refused",
    )
    async with services.db.transaction() as session:
        await audit.record(
            session,
            action="temporal.encode",
            actor=actor.ref,
            outcome=audit.DENIED,
            object_type="temporal_namespace",
            object_id=(request.headers.get("x-namespace") or "")[:100] or None,
            reason=f"{error.code}: {error.message}"[:500],
            origin=actor.origin,
        )
    raise error
