"""Inline SVG bar charts: no script, no external asset, print in colour or grey alike."""

import math
from xml.sax.saxutils import escape, quoteattr

from reporting import labels

PALETTE = ("#1f4e79", "#c55a11", "#548235", "#bf9000", "#7030a0", "#2e75b6", "#843c0c")
FONT = "font-family='Arial, Helvetica, sans-serif'"
LABEL_WIDTH = 250
RIGHT = 46
CHAR_WIDTH = 6.4  # an estimate for 11px Arial, Vietnamese diacritics included
LABEL_CHARS = int((LABEL_WIDTH - 12) / CHAR_WIDTH)


def bar_chart(title: str, categories: list[str], series: list[tuple[str, list[float]]], *, stacked: bool,
              width: int = 700) -> str:
    """Horizontal bars, one row per category: one bar per series side by side, or stacked."""
    bar = 18 if stacked else 11
    row = bar + 10 if stacked else bar * len(series) + 10
    legend = _legend(series, 28, width) if len(series) > 1 else []
    top = 28 + (legend[-1][1] - 28 + 22 if legend else 0)
    height = top + row * max(len(categories), 1) + 26
    plot = width - LABEL_WIDTH - RIGHT
    totals = [sum(values[i] for _, values in series) for i in range(len(categories))] if stacked else \
             [max((values[i] for _, values in series), default=0) for i in range(len(categories))]
    scale_max = _nice(max(totals, default=0))
    parts = [(f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='100%' role='img' "
              f"aria-label={quoteattr(title)} {FONT} font-size='11'>"),
             f"<title>{escape(title)}</title>",
             f"<text x='0' y='16' font-size='13' font-weight='bold'>{escape(title)}</text>"]
    parts += [svg for svg, _ in legend]
    parts += _grid(scale_max, top, height - 20, plot)
    for i, category in enumerate(categories):
        y = top + i * row + 5
        short = category if len(category) <= LABEL_CHARS else category[:LABEL_CHARS - 1] + "…"
        parts.append(f"<text x='{LABEL_WIDTH - 6}' y='{y + row / 2 - 2:.1f}' text-anchor='end'>"
                     f"<title>{escape(category)}</title>{escape(short)}</text>")
        offset = 0.0
        for s, (name, values) in enumerate(series):
            value = values[i]
            length = plot * value / scale_max if scale_max else 0
            x = LABEL_WIDTH + (offset if stacked else 0)
            by = y if stacked else y + s * bar
            if length > 0:
                parts.append(f"<rect x='{x:.1f}' y='{by:.1f}' width='{length:.1f}' height='{bar - 1}' "
                             f"fill='{PALETTE[s % len(PALETTE)]}'><title>{escape(f'{category} – {name}: {labels.number(value)}')}"
                             f"</title></rect>")
            if stacked and length >= 18:
                parts.append(f"<text x='{x + length / 2:.1f}' y='{by + bar - 5:.1f}' text-anchor='middle' fill='#fff'>"
                             f"{labels.number(value)}</text>")
            elif not stacked:
                parts.append(f"<text x='{x + length + 3:.1f}' y='{by + bar - 2:.1f}'>{labels.number(value)}</text>")
            offset += length
        if stacked:
            parts.append(f"<text x='{LABEL_WIDTH + offset + 4:.1f}' y='{y + bar - 5:.1f}' font-weight='bold'>"
                         f"{labels.number(totals[i])}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _legend(series: list[tuple[str, list[float]]], y: int, width: int) -> list[tuple[str, int]]:
    """(svg, its line's y) for each entry, wrapping to a new line rather than leaving the picture."""
    parts, x = [], LABEL_WIDTH
    for s, (name, _) in enumerate(series):
        size = 24 + CHAR_WIDTH * len(name)
        if x > LABEL_WIDTH and x + size > width:
            x, y = LABEL_WIDTH, y + 16
        entry = (f"<rect x='{x:.0f}' y='{y}' width='10' height='10' fill='{PALETTE[s % len(PALETTE)]}'/>"
                 f"<text x='{x + 14:.0f}' y='{y + 9}'>{escape(name)}</text>")
        parts.append((entry, y))
        x += size
    return parts


def _grid(scale_max: float, top: int, bottom: int, plot: int) -> list[str]:
    if not scale_max:
        return []
    step = _nice(scale_max / 5)
    parts = []
    for n in range(math.floor(scale_max / step + 1e-9) + 1):
        value = n * step
        x = LABEL_WIDTH + plot * value / scale_max
        parts.append(f"<line x1='{x:.1f}' y1='{top}' x2='{x:.1f}' y2='{bottom}' stroke='#d9d9d9'/>"
                     f"<text x='{x:.1f}' y='{bottom + 12}' text-anchor='middle' fill='#595959'>{labels.number(value)}</text>")
    return parts


def _nice(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at least `value` (whole numbers for counts)."""
    if value <= 0:
        return 0
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if factor * power >= value - 1e-9:
            return max(factor * power, 1)
    return 10 * power
