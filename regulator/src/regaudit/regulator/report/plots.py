"""Inline SVG bar charts of a report's plots, in pure Python (no plotting library, no script).

A plot is data (:class:`Plot`, part of the JSON-ready report document); :func:`render_svg` draws
it as one ``<svg class="plot" data-plot="NAME" role="img">`` element with a ``<title>``, axis
ticks, one bar per item (error bounds or confidence intervals as whiskers, marked items such as
the reference group or the top-K buckets highlighted) and reference lines (thresholds, the
four-fifths line, chance level). An undefined value (None) is drawn as a labelled gap, never as
a bar of height 0. Every label is escaped; coordinates are rounded to 0.1 px.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import TypedDict

#: Size of a chart in px (the viewBox; the page scales it to its width).
WIDTH = 640
HEIGHT = 300
#: Margins: left (ticks), right, top, bottom (item labels).
MARGIN_LEFT = 64
MARGIN_RIGHT = 16
MARGIN_TOP = 20
MARGIN_BOTTOM = 58
#: Approximate number of y-axis ticks.
TICKS = 5
#: Longest item label drawn under its bar (the full label is in the bar's tooltip title).
MAX_LABEL_CHARS = 16
#: Significant digits of numbers printed in a chart.
LABEL_DIGITS = 4


class Bar(TypedDict):
    """One item: ``value`` (None: undefined), an interval ``low``..``high`` drawn as a whisker
    (None: none), ``marked`` with ``mark`` text (reference group, top-K)."""

    label: str
    value: float | None
    low: float | None
    high: float | None
    marked: bool
    mark: str


class RefLine(TypedDict):
    """A horizontal reference line (a threshold, the four-fifths line, chance level)."""

    label: str
    value: float


class Plot(TypedDict):
    """One chart of the report."""

    name: str
    title: str
    caption: str
    y_label: str
    bars: list[Bar]
    lines: list[RefLine]


def bar(
    label: str,
    value: float | None,
    *,
    low: float | None = None,
    high: float | None = None,
    mark: str = "",
) -> Bar:
    """A :class:`Bar` (``mark`` non-empty: a marked item)."""
    return {
        "label": label,
        "value": value,
        "low": low,
        "high": high,
        "marked": bool(mark),
        "mark": mark,
    }


def number(value: float) -> str:
    """A number as a chart prints it (:data:`LABEL_DIGITS` significant digits)."""
    return f"{value:.{LABEL_DIGITS}g}"


def _px(value: float) -> str:
    return f"{value:.1f}"


def _nice_step(span: float) -> float:
    raw = span / TICKS
    magnitude = math.pow(10.0, math.floor(math.log10(raw)))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10.0 * magnitude


def axis_range(plot: Plot) -> tuple[float, float, float]:
    """(low, high, tick step) of the y axis: 0 and every value, whisker and line included."""
    numbers = [0.0]
    for item in plot["bars"]:
        numbers += [v for v in (item["value"], item["low"], item["high"]) if v is not None]
    numbers += [line["value"] for line in plot["lines"]]
    finite = [v for v in numbers if math.isfinite(v)]
    low, high = min(finite), max(finite)
    if high - low < 1e-12:
        high = low + 1.0
    step = _nice_step(high - low)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def _ticks(low: float, high: float, step: float) -> list[float]:
    count = round((high - low) / step)
    return [low + i * step for i in range(count + 1)]


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def render_svg(plot: Plot) -> str:
    """The chart as one inline ``<svg>`` element (every text escaped)."""
    esc = html.escape
    low, high, step = axis_range(plot)
    inner_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    inner_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def y(value: float) -> float:
        return MARGIN_TOP + inner_h * (high - value) / (high - low)

    parts = [
        f'<svg class="plot" data-plot="{esc(plot["name"])}" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'aria-label="{esc(plot["title"])}">',
        f"<title>{esc(plot['title'])}</title>",
        f"<desc>{esc(plot['caption'])}</desc>",
    ]
    for tick in _ticks(low, high, step):
        ty = _px(y(tick))
        parts.append(
            f'<line class="grid" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" '
            f'y1="{ty}" y2="{ty}"/>'
            f'<text class="tick" x="{MARGIN_LEFT - 6}" y="{ty}" text-anchor="end" '
            f'dominant-baseline="middle">{esc(number(tick + 0.0))}</text>'
        )
    parts.append(
        f'<text class="axis-label" x="12" y="{_px(MARGIN_TOP + inner_h / 2)}" '
        f'transform="rotate(-90 12 {_px(MARGIN_TOP + inner_h / 2)})" '
        f'text-anchor="middle">{esc(plot["y_label"])}</text>'
    )
    parts += _bars(plot["bars"], y, inner_w, zero=y(min(max(0.0, low), high)))
    parts.append(
        f'<line class="axis" x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT}" y1="{MARGIN_TOP}" '
        f'y2="{MARGIN_TOP + inner_h}"/>'
    )
    for index, line in enumerate(plot["lines"]):
        ly = _px(y(line["value"]))
        parts.append(
            f'<g class="refline refline-{index % 3}"><title>{esc(line["label"])}: '
            f"{esc(number(line['value']))}</title>"
            f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{ly}" y2="{ly}"/>'
            f'<text x="{WIDTH - MARGIN_RIGHT}" y="{_px(y(line["value"]) - 4)}" '
            f'text-anchor="end">{esc(line["label"])} {esc(number(line["value"]))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _bars(
    bars: Sequence[Bar], y: Callable[[float], float], inner_w: float, *, zero: float
) -> list[str]:
    esc = html.escape
    parts: list[str] = []
    slot = inner_w / max(len(bars), 1)
    width = min(slot * 0.6, 80.0)
    base_y = HEIGHT - MARGIN_BOTTOM
    for index, item in enumerate(bars):
        cx = MARGIN_LEFT + slot * (index + 0.5)
        x = _px(cx - width / 2)
        value = item["value"]
        tooltip = f"{item['label']}: " + ("undefined" if value is None else number(value))
        if item["low"] is not None and item["high"] is not None:
            tooltip += f" (interval {number(item['low'])} to {number(item['high'])})"
        if item["marked"]:
            tooltip += f" [{item['mark']}]"
        kind = "bar marked" if item["marked"] else "bar"
        marked = f' data-mark="{esc(item["mark"])}"' if item["marked"] else ""
        parts.append(f'<g class="item" data-label="{esc(item["label"])}"{marked}>')
        parts.append(f"<title>{esc(tooltip)}</title>")
        if value is None:
            parts.append(
                f'<rect class="gap" x="{x}" y="{_px(zero - 40)}" width="{_px(width)}" '
                f'height="40"/><text class="gap-label" x="{_px(cx)}" y="{_px(zero - 20)}" '
                'text-anchor="middle" dominant-baseline="middle">undefined</text>'
            )
        else:
            top, bottom = sorted((y(value), zero))
            parts.append(
                f'<rect class="{kind}" x="{x}" y="{_px(top)}" width="{_px(width)}" '
                f'height="{_px(max(bottom - top, 0.5))}"/>'
                f'<text class="value" x="{_px(cx)}" y="{_px(top - 4)}" '
                f'text-anchor="middle">{esc(number(value))}</text>'
            )
        if item["low"] is not None and item["high"] is not None:
            y_low, y_high = _px(y(item["low"])), _px(y(item["high"]))
            parts.append(
                f'<path class="whisker" d="M{_px(cx)} {y_low}V{y_high}'
                f"M{_px(cx - 6)} {y_low}H{_px(cx + 6)}M{_px(cx - 6)} {y_high}"
                f'H{_px(cx + 6)}"/>'
            )
        parts.append(
            f'<text class="item-label" x="{_px(cx)}" y="{base_y + 16}" '
            f'text-anchor="middle">{esc(_short(item["label"]))}</text>'
        )
        if item["marked"]:
            parts.append(
                f'<text class="mark" x="{_px(cx)}" y="{base_y + 32}" '
                f'text-anchor="middle">{esc(item["mark"])}</text>'
            )
        parts.append("</g>")
    return parts


__all__ = ["Bar", "Plot", "RefLine", "axis_range", "bar", "number", "render_svg"]
