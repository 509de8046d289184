"""Where the Temporal UI is mounted (our read-only proxy, web/routers/temporal_ui.py) and how
a page links to a workflow there. Apart from the proxy so the templates can link to it
without importing the router (which renders its refusals with the templates)."""

from __future__ import annotations

from urllib.parse import quote

PREFIX = "/temporal"


def workflow_link(namespace: str, workflow_id: str) -> str:
    """Where a case page links for its workflow: the UI through this proxy."""
    return (
        f"{PREFIX}/namespaces/{quote(namespace, safe='')}/workflows/{quote(workflow_id, safe='')}"
    )
