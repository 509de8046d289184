"""Chart geometry computed on the server, drawn as inline SVG by `partials/aml_charts.html`.

No chart library and no script: the page's CSP allows neither inline code nor styles, and
a reviewer's printout must show the same picture. Colours are SVG presentation attributes
(not CSS), labels go through the template's autoescape. Amounts stay `Decimal` until the
last step, where a bar's pixel height is rounded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from models.money import MoneyError, format_amount

IN_COLOUR = "#1a7f37"
OUT_COLOUR = "#c62828"
ALERT_COLOUR = "#b35900"
GRID_COLOUR = "#d0d7de"
# Stacked-bar segment colours, in segment order.
PALETTE = ("#1a7f37", "#b35900", "#c62828", "#6e7781", "#0969da", "#8250df")


def _fmt(amount: Decimal, currency: str) -> str:
    try:
        return format_amount(amount, currency)
    except MoneyError:  # a currency without known minor units: shown as stored
        return f"{amount} {currency}"


def _px(value: Decimal) -> float:
    return float(round(value, 1))


@dataclass
class Rect:
    x: float
    y: float
    width: float
    height: float


@dataclass
class FlowDay:
    day: date
    amount_in: Decimal
    amount_out: Decimal
    alert: bool
    slot: Rect  # the whole column: the alert band and the hover target
    bar_in: Rect | None
    bar_out: Rect | None
    title: str


@dataclass
class FlowChart:
    """Daily money in (up from the axis) and out (down from it) over a window of days."""

    currency: str
    width: int
    height: int
    axis_y: float
    top: float
    bottom: float
    left: float
    days: list[FlowDay]
    ticks: list[tuple[float, str]]
    max_label: str
    total_in: Decimal
    total_out: Decimal
    totals_label: tuple[str, str]  # (in, out) formatted
    alert_days: int
    colours: dict[str, str] = field(
        default_factory=lambda: {"in": IN_COLOUR, "out": OUT_COLOUR, "alert": ALERT_COLOUR}
    )


def flow_chart(
    amounts: Mapping[date, tuple[Decimal, Decimal]],
    alert_days: set[date],
    *,
    end: date,
    currency: str,
    span_days: int = 90,
    width: int = 720,
    height: int = 200,
) -> FlowChart:
    """`amounts` maps a day to (in, out); days missing from it had no movement."""
    left, right, top, bottom = 8.0, 8.0, 24.0, 22.0  # the top holds the scale and alert marks
    plot_w = width - left - right
    half = (height - top - bottom) / 2
    axis_y = top + half
    first = end - timedelta(days=span_days - 1)
    peak = max((max(i, o) for i, o in amounts.values()), default=Decimal(0)) or Decimal(1)
    slot_w = plot_w / span_days
    bar_w = max(slot_w - 2, 1.0)
    days: list[FlowDay] = []
    ticks: list[tuple[float, str]] = []
    for n in range(span_days):
        day = first + timedelta(days=n)
        amount_in, amount_out = amounts.get(day, (Decimal(0), Decimal(0)))
        x = left + n * slot_w
        h_in = _px(amount_in / peak * Decimal(str(half))) if amount_in else 0.0
        h_out = _px(amount_out / peak * Decimal(str(half))) if amount_out else 0.0
        if amount_in and h_in < 1:
            h_in = 1.0  # a small movement is still visible
        if amount_out and h_out < 1:
            h_out = 1.0
        title = (
            f"{day.isoformat()}: in {_fmt(amount_in, currency)}, "
            f"out {_fmt(amount_out, currency)}" + (" — alert raised" if day in alert_days else "")
        )
        days.append(
            FlowDay(
                day=day,
                amount_in=amount_in,
                amount_out=amount_out,
                alert=day in alert_days,
                slot=Rect(round(x, 1), top, round(slot_w, 1), round(2 * half, 1)),
                bar_in=Rect(round(x + 1, 1), round(axis_y - h_in, 1), round(bar_w, 1), h_in)
                if h_in
                else None,
                bar_out=Rect(round(x + 1, 1), round(axis_y, 1), round(bar_w, 1), h_out)
                if h_out
                else None,
                title=title,
            )
        )
        if n % 15 == 0:
            ticks.append((round(x, 1), day.strftime("%d %b")))
    total_in = sum((i for i, _ in amounts.values()), Decimal(0))
    total_out = sum((o for _, o in amounts.values()), Decimal(0))
    return FlowChart(
        currency=currency,
        width=width,
        height=height,
        axis_y=round(axis_y, 1),
        top=top,
        bottom=round(height - bottom, 1),
        left=left,
        days=days,
        ticks=ticks,
        max_label=_fmt(peak, currency) if amounts else "",
        total_in=total_in,
        total_out=total_out,
        totals_label=(_fmt(total_in, currency), _fmt(total_out, currency))
        if currency
        else ("", ""),
        alert_days=sum(1 for d in days if d.alert),
    )


@dataclass
class Segment:
    name: str
    value: int
    rect: Rect
    colour: str


@dataclass
class BarRow:
    label: str
    total: int
    y: float
    segments: list[Segment]


@dataclass
class BarChart:
    """Horizontal stacked bars, one row per label, with a legend of the segments."""

    width: int
    height: int
    label_width: int
    bar_height: int
    rows: list[BarRow]
    legend: list[tuple[str, str, float, float]]  # (segment name, colour, x, y)


def bar_chart(
    rows: Sequence[tuple[str, Sequence[tuple[str, int]]]],
    *,
    width: int = 640,
    label_width: int = 180,
    bar_height: int = 18,
    gap: int = 8,
) -> BarChart:
    """`rows` is [(label, [(segment name, count), ...]), ...]; every row lists the same segments."""
    names: list[str] = []
    for _, segments in rows:
        for name, _ in segments:
            if name not in names:
                names.append(name)
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    peak = max((sum(v for _, v in segments) for _, segments in rows), default=0) or 1
    plot_w = width - label_width - 60  # room for the total at the bar's end
    # The legend first: it wraps onto more lines when the segment names need them.
    legend: list[tuple[str, str, float, float]] = []
    x, y = 0.0, 4.0
    for name in names:
        needed = 14 + 6.5 * len(name) + 18  # swatch, text at 11px (about 6.5 px a letter), gap
        if x and x + needed > width:
            x, y = 0.0, y + 16
        legend.append((name, colours[name], x, y))
        x += needed
    legend_h = int(y) + 18
    out: list[BarRow] = []
    for i, (label, segments) in enumerate(rows):
        top = legend_h + i * (bar_height + gap)
        x = float(label_width)
        parts = []
        for name, value in segments:
            w = round(plot_w * value / peak, 1)
            if value:
                parts.append(
                    Segment(name, value, Rect(x, top, max(w, 1.0), bar_height), colours[name])
                )
            x += w
        out.append(BarRow(label, sum(v for _, v in segments), top, parts))
    height = legend_h + max(len(rows), 1) * (bar_height + gap)
    return BarChart(
        width=width,
        height=height,
        label_width=label_width,
        bar_height=bar_height,
        rows=out,
        legend=legend,
    )
