"""What a request handler needs from the process: settings, the database, Temporal."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from temporalio.client import Client

from core.db import Database
from core.settings import Settings
from core.temporal import connect
from shared.errors import Unavailable


@dataclass
class Services:
    settings: Settings
    db: Database
    _temporal: Client | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def temporal(self) -> Client:
        """Connect on first use, so the web keeps serving reads while Temporal is down."""
        if self._temporal is not None:
            return self._temporal
        async with self._lock:
            if self._temporal is None:
                try:
                    self._temporal = await connect(
                        self.settings.temporal_target,
                        self.settings.temporal_namespace,
                        settings=self.settings,
                    )
                except RuntimeError as exc:
                    raise Unavailable(
                        "The workflow engine is unreachable; nothing was changed. Try again shortly."
                    ) from exc
        return self._temporal

    def set_temporal(self, client: Client) -> None:
        self._temporal = client
