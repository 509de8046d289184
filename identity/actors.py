"""Who is acting, with which roles, from where."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from audit.trail import ActorRef
from models.workflow_io import Origin


@dataclass(frozen=True)
class Actor:
    user_id: uuid.UUID
    username: str
    display_name: str
    roles: frozenset[str]
    origin: Origin = field(default_factory=Origin)
    session_id: uuid.UUID | None = None

    @property
    def ref(self) -> ActorRef:
        return ActorRef(id=self.user_id, name=self.username)

    def has_role(self, role: str) -> bool:
        return role in self.roles
