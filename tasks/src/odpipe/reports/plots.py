"""Plots drawn offline with matplotlib's Agg canvas (no pyplot state, no display, bundled DejaVu font),
returned as PNG bytes; a plot that fails becomes a note in the page and a warning in the log."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from typing import Any

from odpipe.reports.html import Page, add_drawn

Draw = Callable[[Any], None]  # receives a matplotlib Figure


def _matplotlib_env() -> None:
    """Agg, and a writable config/cache folder under the scratch dir (the task images' root is read-only)."""
    from odpipe.ultralytics_env import scratch_dir

    os.environ.setdefault("MPLBACKEND", "Agg")
    if not os.environ.get("MPLCONFIGDIR"):
        os.environ["MPLCONFIGDIR"] = str(scratch_dir() / "matplotlib")
    os.makedirs(os.environ["MPLCONFIGDIR"], exist_ok=True)


def figure_png(draw: Draw, size: tuple[float, float] = (7.0, 4.0)) -> bytes:
    _matplotlib_env()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=90)
    FigureCanvasAgg(fig)
    draw(fig)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def add_plot(page: Page, caption: str, draw: Draw, size: tuple[float, float] = (7.0, 4.0)) -> bool:
    """Draw a plot into the page; on any failure add a note instead and warn. True when drawn."""
    return add_drawn(page, f"plot '{caption}'", lambda: figure_png(draw, size), "image/png", caption)


def bars(labels: Sequence[str], series: dict[str, Sequence[float]], ylabel: str, title: str) -> Draw:
    """Grouped bars: one group per label, one bar per series."""

    def draw(fig: Any) -> None:
        ax = fig.add_subplot(1, 1, 1)
        width = 0.8 / max(len(series), 1)
        for i, (name, values) in enumerate(series.items()):
            ax.bar([x + i * width for x in range(len(labels))], values, width, label=name)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(labels))], list(labels), rotation=30, ha="right")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if len(series) > 1:
            ax.legend(fontsize=8)

    return draw


def curves(lines: dict[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str, title: str) -> Draw:
    def draw(fig: Any) -> None:
        ax = fig.add_subplot(1, 1, 1)
        for name, (xs, ys) in lines.items():
            ax.plot(xs, ys, label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)

    return draw


def matrix(values: Any, rows: Sequence[str], cols: Sequence[str], title: str) -> Draw:
    """A heat map with the counts written in the cells (rows: truth, columns: prediction)."""

    def draw(fig: Any) -> None:
        ax = fig.add_subplot(1, 1, 1)
        ax.imshow(values, cmap="Blues")
        ax.set_xticks(range(len(cols)), list(cols), rotation=30, ha="right")
        ax.set_yticks(range(len(rows)), list(rows))
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title)
        top = max(float(values.max()), 1.0)
        for i in range(len(rows)):
            for j in range(len(cols)):
                v = int(values[i, j])
                ax.text(j, i, str(v), ha="center", va="center", color="white" if v > top / 2 else "black")

    return draw
