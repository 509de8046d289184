"""Demo saved inbox views (casework/inbox_views.py): an analyst's and a lead's, made through
the same function the inbox's "Save view" form calls (audited like any other)."""

from __future__ import annotations

from casework.inbox_views import list_views, save_view
from core.db import Database
from demo.seed import actor_named

VIEWS: tuple[tuple[str, str, str], ...] = (
    ("aml.ana", "Overdue L1 alerts", "scope=available&kind=aml_l1_review&sla=overdue"),
    ("aml.ana", "Due soonest", "scope=available&sort=due"),
    ("aml.lena", "My team: overdue", "scope=team&sla=overdue"),
    ("aml.lena", "My team: claimed, most urgent", "scope=team&sort=priority"),
)


async def seed_inbox_views(db: Database) -> dict[str, int]:
    """The demo views, once: a person who already has a view of that name keeps theirs."""
    made = 0
    for username, name, query in VIEWS:
        actor = await actor_named(db, username)
        if any(v.name == name for v in await list_views(db, actor)):
            continue
        await save_view(db, actor, name, query)
        made += 1
    return {"saved inbox views": made}
