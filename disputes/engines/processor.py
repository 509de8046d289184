"""The card processor a chargeback is filed with: one small interface, chosen by configuration.

`CARD_PROCESSOR=sandbox` (the default) is the built-in sandbox kept in our own database
(disputes.engines.sandbox). A real processor's adapter is a class named as
"package.module:ClassName" that implements `CardProcessor`; it files each stage with the
idempotency key given (a retried filing must not file twice) and reports the merchant's
later answers by signalling the dispute's workflow (`merchant_responded`), as the
sandbox does.
"""

from __future__ import annotations

import importlib
from typing import Protocol

from core.db import Database
from disputes.engines.sandbox import SandboxProcessor
from models.dispute_io import ProcessorAck, ProcessorFiling


class CardProcessor(Protocol):
    name: str

    async def file(self, filing: ProcessorFiling) -> ProcessorAck: ...


def load_processor(spec: str, db: Database) -> CardProcessor:
    """The configured processor: "sandbox" or "package.module:ClassName"."""
    if spec == "sandbox":
        return SandboxProcessor(db)
    module_name, _, class_name = spec.partition(":")
    if not class_name:
        raise ValueError(f"CARD_PROCESSOR={spec!r}: use 'sandbox' or 'package.module:ClassName'")
    cls = getattr(importlib.import_module(module_name), class_name)
    processor: CardProcessor = cls()
    return processor
