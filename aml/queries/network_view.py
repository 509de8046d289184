"""A network alert's path as a drawing: accounts in order around a circle, the money between
them as arrows with their amounts, and the same as an ordered list for screen readers.

Pure geometry from `details["network"]` (written by `aml.commands.network_store`); the
case page draws it as server-side SVG (`web/templates/partials/aml_network.html`), styled
by classes only (strict CSP: no style attributes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from models.money import format_amount

WIDTH, HEIGHT = 640, 360
RADIUS = 130  # the circle the accounts sit on
NODE = 24  # an account's circle
MAX_NODES = 24
MAX_EDGES = 60


@dataclass(frozen=True)
class Node:
    x: float
    y: float
    label: str  # the customer reference
    order: int  # 1-based place in the pattern
    label_y: float


@dataclass(frozen=True)
class Edge:
    x1: float
    y1: float
    x2: float
    y2: float
    label_x: float
    label_y: float
    amount: str  # 4 200.00 EUR
    booked: str  # 2026-11-03 10:00 UTC
    source: str
    target: str
    trigger: bool  # the transaction that completed the pattern


@dataclass(frozen=True)
class NetworkDrawing:
    typology: str
    title: str
    nodes: list[Node]
    edges: list[Edge]
    hidden_edges: int  # edges beyond what is drawn (listed still)
    steps: list[Edge]  # every edge, in booked order, for the list
    width: int = WIDTH
    height: int = HEIGHT


TITLES = {
    "round_trip": "Round trip",
    "fan_out": "Fan-out",
    "fan_in": "Fan-in",
    "scatter_gather": "Scatter-gather",
    "gather_scatter": "Gather-scatter",
    "bipartite": "Bipartite flow",
    "stack": "Stacked flow",
    "chain": "Layering chain",
    "funnel": "Funnel account",
}


def _amount(edge: dict[str, Any]) -> str:
    try:
        return format_amount(Decimal(str(edge.get("amount", ""))), str(edge.get("currency", "")))
    except (InvalidOperation, ValueError):
        return f"{edge.get('amount', '')} {edge.get('currency', '')}".strip()


def _booked(edge: dict[str, Any]) -> str:
    try:
        at = datetime.fromisoformat(str(edge.get("booked_at")))
    except ValueError:
        return ""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def network_drawing(details: dict[str, Any] | None) -> NetworkDrawing | None:
    """The drawing of an alert's `details["network"]`, or None when it has none."""
    network = (details or {}).get("network")
    if not isinstance(network, dict) or not network.get("accounts"):
        return None
    accounts = [str(a) for a in network["accounts"]]
    refs = list(network.get("references") or [])
    label = {a: (refs[i] if i < len(refs) and refs[i] else a[:8]) for i, a in enumerate(accounts)}
    drawn = accounts[:MAX_NODES]
    cx, cy = WIDTH / 2, HEIGHT / 2
    place: dict[str, tuple[float, float]] = {}
    nodes = []
    for i, account in enumerate(drawn):
        angle = -math.pi / 2 + 2 * math.pi * i / len(drawn)
        x = cx + (RADIUS * math.cos(angle) if len(drawn) > 1 else 0)
        y = cy + (RADIUS * math.sin(angle) if len(drawn) > 1 else 0)
        place[account] = (x, y)
        below = y >= cy
        nodes.append(
            Node(
                round(x, 1),
                round(y, 1),
                label[account],
                i + 1,
                round(y + (NODE + 14 if below else -NODE - 6), 1),
            )
        )
    raw = [e for e in network.get("edges") or [] if isinstance(e, dict)]
    last = raw[-1].get("transaction_id") if raw else None
    steps: list[Edge] = []
    edges: list[Edge] = []
    for e in raw:
        source, target = str(e.get("from")), str(e.get("to"))
        step = _edge(e, source, target, label, place, trigger=e.get("transaction_id") == last)
        steps.append(step)
        if source in place and target in place and len(edges) < MAX_EDGES:
            edges.append(step)
    return NetworkDrawing(
        typology=str(network.get("typology", "")),
        title=TITLES.get(str(network.get("typology")), "Network pattern"),
        nodes=nodes,
        edges=edges,
        hidden_edges=len(steps) - len(edges),
        steps=steps,
    )


def _edge(
    e: dict[str, Any],
    source: str,
    target: str,
    label: dict[str, str],
    place: dict[str, tuple[float, float]],
    *,
    trigger: bool,
) -> Edge:
    (x1, y1), (x2, y2) = place.get(source, (0.0, 0.0)), place.get(target, (0.0, 0.0))
    length = math.hypot(x2 - x1, y2 - y1) or 1.0
    ux, uy = (x2 - x1) / length, (y2 - y1) / length
    # stop at the circles' edges (the arrow head just outside the target)
    sx, sy = x1 + ux * NODE, y1 + uy * NODE
    tx, ty = x2 - ux * (NODE + 4), y2 - uy * (NODE + 4)
    # the amount beside the middle of the arrow, on its left (so A→B and B→A do not collide)
    mx, my = (x1 + x2) / 2 - uy * 16, (y1 + y2) / 2 + ux * 16
    return Edge(
        round(sx, 1), round(sy, 1), round(tx, 1), round(ty, 1), round(mx, 1), round(my, 1),
        _amount(e), _booked(e), label.get(source, source[:8]), label.get(target, target[:8]),
        trigger,
    )  # fmt: skip
