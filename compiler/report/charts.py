"""Inline SVG charts for the report: horizontal bars, one row per item.

Drawn here rather than by a plotting library: a few bars need no dependency, and the page must
open offline. Every label goes through :func:`.text.escape`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from .text import escape

ROW = 20  # pixels per bar
LABEL = 200  # width of the label column
BARS = 420  # width of the bar area
VALUE = 110  # width of the value column
WIDTH = LABEL + BARS + VALUE


def bar_chart(
    rows: Sequence[tuple[str, float]], describe: Callable[[float], str], *, title: str
) -> str:
    """Bars proportional to each value (weight bytes per piece, time per pass)."""
    top = max((value for _, value in rows), default=0) or 1
    parts = []
    for index, (label, value) in enumerate(rows):
        y = index * ROW
        width = max(BARS * value / top, 1 if value else 0)
        parts.append(
            f'<g class="bar"><title>{escape(label)}: {escape(describe(value))}</title>'
            f'{_label(label, y)}<rect x="{LABEL}" y="{y + 3}" width="{width:.1f}" '
            f'height="{ROW - 6}" class="fill"/>'
            f'<text x="{LABEL + BARS + 6}" y="{y + 14}" class="value">'
            f"{escape(describe(value))}</text></g>"
        )
    return _svg(title, len(rows) * ROW, parts)


def deviation_chart(
    rows: Sequence[tuple[str, float | None, str]], tolerance: float | None, *, title: str
) -> str:
    """Deviations on a log scale with the tolerance as a dashed line.

    A row is ``(label, max_abs, problem)``: a deviation of 0 sits at the left edge, a problem
    (NaN, another shape) is a full red bar, None (not compared) is left empty.
    """
    finite = [v for _, v, p in rows if v is not None and not p and v > 0 and math.isfinite(v)]
    marks = finite + ([tolerance] if tolerance else [])
    low = math.floor(math.log10(min(marks))) - 1 if marks else -9
    high = math.ceil(math.log10(max(marks))) + 1 if marks else 0
    low, high = max(low, -30), max(min(high, 30), low + 1)

    def x(value: float) -> float:
        if value <= 0:
            return LABEL
        exponent = min(max(math.log10(value), low), high)
        return LABEL + BARS * (exponent - low) / (high - low)

    parts = []
    for index, (label, value, problem) in enumerate(rows):
        y = index * ROW
        if problem:
            shown, end, kind = problem, LABEL + BARS, "fill bad"
        elif value is None:
            shown, end, kind = "not compared", LABEL, "fill"
        else:
            over = tolerance is not None and value > tolerance
            shown, end, kind = f"{value:.3g}", x(value), "fill bad" if over else "fill"
        parts.append(
            f'<g class="bar"><title>{escape(label)}: {escape(shown)}</title>'
            f'{_label(label, y)}<rect x="{LABEL}" y="{y + 3}" width="{max(end - LABEL, 1):.1f}" '
            f'height="{ROW - 6}" class="{kind}"/>'
            f'<text x="{LABEL + BARS + 6}" y="{y + 14}" class="value">{escape(shown[:16])}</text>'
            "</g>"
        )
    height = len(rows) * ROW
    for exponent in range(low, high + 1):
        tick = LABEL + BARS * (exponent - low) / (high - low)
        parts.append(
            f'<line x1="{tick:.1f}" x2="{tick:.1f}" y1="0" y2="{height}" class="grid"/>'
            f'<text x="{tick:.1f}" y="{height + 14}" class="tick">1e{exponent}</text>'
        )
    if tolerance is not None:
        at = x(tolerance)
        parts.append(
            f'<line x1="{at:.1f}" x2="{at:.1f}" y1="0" y2="{height}" class="tolerance"/>'
            f'<text x="{at + 3:.1f}" y="{height + 28}" class="tolerance-label">'
            f"tolerance {tolerance:g}</text>"
        )
    return _svg(title, height + 32, parts)


def _label(label: str, y: int) -> str:
    shown = label if len(label) <= 30 else label[:14] + "…" + label[-14:]
    return f'<text x="{LABEL - 6}" y="{y + 14}" class="label">{escape(shown)}</text>'


def _svg(title: str, height: int, parts: list[str]) -> str:
    return (
        f'<svg class="chart" role="img" width="{WIDTH}" height="{max(height, ROW)}" '
        f'viewBox="0 0 {WIDTH} {max(height, ROW)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{''.join(parts)}</svg>"
    )
