"""Bar charts and histograms written as SVG text, for the dataset report.

prepare's report drew these with matplotlib: ~0.5 s to import it and ~1 s to lay out and rasterise 80
rotated class names, a second core's worth of a 20k-image prepare. Written here they cost milliseconds,
stay sharp at any zoom, and every bar carries its value as a tooltip (``<title>``). Colours are
matplotlib's defaults, so these sit well beside the model report's plots.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
FONT = 11  # px
CHAR = 0.6 * FONT  # a character's average advance in DejaVu Sans / Arial, for margins
LABEL_CHARS = 28  # longer class names are cut (the full name is in the bar's tooltip)
PLOT_H, MIN_WIDTH, GROUP_MIN = 270, 630, 14  # px; the least width of one class's group of bars
LEFT, RIGHT, TOP = 64, 16, 34


# characters XML 1.0 does not allow (a class name may hold them); escape() leaves them in
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", text))


@dataclass
class _Canvas:
    width: float
    height: float
    bottom: float  # margin below the plot area
    parts: list[str] = field(default_factory=list)

    @property
    def plot_w(self) -> float:
        return self.width - LEFT - RIGHT

    @property
    def plot_h(self) -> float:
        return self.height - TOP - self.bottom

    def text(self, x: float, y: float, text: str, anchor: str = "middle", rotate: float = 0, size: int = FONT) -> None:
        turn = f' transform="rotate({rotate:g} {x:.1f} {y:.1f})"' if rotate else ""
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{turn}>{_xml(text)}</text>'
        )

    def rect(self, x: float, y: float, w: float, h: float, colour: str, tip: str, opacity: float = 1.0) -> None:
        fill = f' fill-opacity="{opacity:g}"' if opacity < 1 else ""
        self.parts.append(
            f'<rect class="bar" x="{x:.2f}" y="{y:.2f}" width="{max(w, 0):.2f}" height="{max(h, 0):.2f}" '
            f'fill="{colour}"{fill}><title>{_xml(tip)}</title></rect>'
        )

    def frame(self, title: str, xlabel: str, ylabel: str, ymax: float) -> float:
        """Title, axes, y ticks with grid lines and axis labels; the y scale's top (a tick)."""
        ticks = nice_ticks(0.0, ymax, integer=True)
        top = ticks[-1]
        for t in ticks:
            y = self.y(t, top)
            self.parts.append(
                f'<line x1="{LEFT}" x2="{LEFT + self.plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>'
            )
            self.text(LEFT - 5, y + FONT / 3, tick_label(t), anchor="end")
        bottom = TOP + self.plot_h
        self.parts.append(f'<path d="M{LEFT} {TOP}V{bottom:.1f}H{LEFT + self.plot_w:.1f}" fill="none" stroke="#333"/>')
        self.text(LEFT, TOP - 14, title, anchor="start", size=FONT + 2)
        self.text(14, TOP + self.plot_h / 2, ylabel, rotate=-90)
        self.text(LEFT + self.plot_w / 2, self.height - 6, xlabel)
        return top

    def y(self, value: float, top: float) -> float:
        return TOP + self.plot_h * (1 - value / top)

    def legend(self, entries: Sequence[tuple[str, str]], opacity: float = 1.0) -> None:
        """One row, right-aligned above the plot area, so it never hides a bar."""
        x = LEFT + self.plot_w - sum(CHAR * len(name) + 24 for name, _ in entries)
        y = TOP - 14
        for name, colour in entries:
            self.parts.append(
                f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour}" fill-opacity="{opacity:g}"/>'
            )
            self.text(x + 14, y, name, anchor="start")
            x += CHAR * len(name) + 24

    def svg(self, title: str) -> bytes:
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width:.0f}" height="{self.height:.0f}" '
            f'viewBox="0 0 {self.width:.0f} {self.height:.0f}" role="img" '
            f'font-family="DejaVu Sans, Arial, Helvetica, sans-serif">'
            f'<title>{_xml(title)}</title><rect width="100%" height="100%" fill="#fff"/>'
        )
        return (head + "".join(self.parts) + "</svg>").encode()


def nice_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """Ticks at 1, 2, 2.5 or 5 times a power of ten (no 2.5 and no fractions for ``integer`` data),
    from ``lo`` up to the first at or above ``hi``."""
    span = max(hi - lo, 1e-9 * max(1.0, abs(lo), abs(hi)))  # a flat range still gets a scale
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    steps = [m * power for m in ((1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10))]
    step = next(st for st in steps if st >= raw)
    step = max(step, 1.0) if integer else step
    first = math.floor(lo / step) * step
    n = max(1, math.ceil((hi - first) / step - 1e-9))
    return [float(f"{first + i * step:.12g}") for i in range(n + 1)]


def tick_label(value: float) -> str:
    if value == int(value) and abs(value) < 1e7:
        return str(int(value))
    return f"{value:.3g}"


def _class_labels(canvas: _Canvas, labels: Sequence[str], group: float) -> None:
    """Class names under their groups: level when they all fit, else upright (never cut at an edge)."""
    cut = _cut(labels)
    level = max((len(n) for n in cut), default=0) * CHAR <= group - 4
    base = TOP + canvas.plot_h + FONT + 4
    for i, name in enumerate(cut):
        x = LEFT + (i + 0.5) * group
        if level:
            canvas.text(x, base, name)
        else:
            canvas.text(x + FONT / 3, base - FONT + 2, name, anchor="end", rotate=-90)


def _cut(labels: Sequence[str]) -> list[str]:
    return [n if len(n) <= LABEL_CHARS else n[: LABEL_CHARS - 1] + "…" for n in labels]


def _label_room(labels: Sequence[str], group: float) -> float:
    longest = max((len(n) for n in _cut(labels)), default=0) * CHAR
    return FONT + 28 if longest <= group - 4 else longest + 16


def bar_chart(labels: Sequence[str], series: dict[str, Sequence[float]], ylabel: str, title: str) -> bytes:
    """Grouped bars: one group per label, one bar per series (a legend when there are several)."""
    width = max(MIN_WIDTH, LEFT + RIGHT + GROUP_MIN * len(labels))
    group = (width - LEFT - RIGHT) / max(len(labels), 1)
    room = _label_room(labels, group)
    canvas = _Canvas(width, TOP + PLOT_H + room, room)
    ymax = max((float(v) for values in series.values() for v in values), default=0.0)
    top = canvas.frame(title, "", ylabel, ymax if ymax > 0 else 1.0)
    bar = 0.8 * group / max(len(series), 1)
    for s, (name, values) in enumerate(series.items()):
        colour = COLOURS[s % len(COLOURS)]
        for i, value in enumerate(values):
            y = canvas.y(float(value), top)
            tip = f"{labels[i]} ({name}): {tick_label(float(value))} {ylabel}"
            canvas.rect(LEFT + i * group + 0.1 * group + s * bar, y, bar, TOP + canvas.plot_h - y, colour, tip)
    _class_labels(canvas, labels, group)
    if len(series) > 1:
        canvas.legend([(name, COLOURS[s % len(COLOURS)]) for s, name in enumerate(series)])
    return canvas.svg(title)


def histogram_chart(series: dict[str, Sequence[float]], xlabel: str, title: str, log: bool = False) -> bytes:
    """Overlaid histograms on 30 shared bins (of log10 of the values when ``log``: non-positive values
    are left out there; so are infinite and NaN ones); the legend gives each series' number of values."""
    values = {name: np.asarray(v, dtype=float) for name, v in series.items()}
    finite = {name: v[np.isfinite(v)] for name, v in values.items()}
    shown = {name: np.log10(v[v > 0]) if log else v for name, v in finite.items()}
    pooled = np.concatenate(list(shown.values())) if shown else np.zeros(0)
    edges = np.histogram_bin_edges(pooled, bins=30) if pooled.size else np.linspace(0.0, 1.0, 11)
    counts = {name: np.histogram(v, bins=edges)[0] for name, v in shown.items()}
    canvas = _Canvas(MIN_WIDTH, TOP + PLOT_H + 50, 50)
    ymax = max((int(c.max()) for c in counts.values() if c.size), default=0)
    top = canvas.frame(title, f"log10 {xlabel}" if log else xlabel, "boxes", max(ymax, 1))
    lo, span = float(edges[0]), float(edges[-1] - edges[0]) or 1.0

    def x_of(v: float) -> float:
        return LEFT + canvas.plot_w * (v - lo) / span

    for t in nice_ticks(lo, float(edges[-1])):
        if lo - 1e-9 <= t <= float(edges[-1]) + 1e-9:
            canvas.text(x_of(t), TOP + canvas.plot_h + FONT + 4, tick_label(t))
    for s, (name, c) in enumerate(counts.items()):
        colour = COLOURS[s % len(COLOURS)]
        for i, n in enumerate(c.tolist()):
            if n:
                left, right = float(edges[i]), float(edges[i + 1])
                y = canvas.y(n, top)
                tip = f"{name}: {n} boxes in [{left:.3g}, {right:.3g})"
                canvas.rect(x_of(left), y, x_of(right) - x_of(left), TOP + canvas.plot_h - y, colour, tip, 0.5)
    if series:
        entries = [(f"{name} ({len(values[name])})", COLOURS[s % len(COLOURS)]) for s, name in enumerate(series)]
        canvas.legend(entries, 0.5)
    return canvas.svg(title)
