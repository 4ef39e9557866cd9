"""The dataset report's SVG charts: well-formed, bars as tall as their values, histograms that count every
value once, class names escaped and cut but whole in the tooltips, and ticks that cover the data."""

from __future__ import annotations

import itertools
import math
import re
from xml.etree import ElementTree

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from odpipe.reports.svg import LABEL_CHARS, bar_chart, histogram_chart, nice_ticks

NS = "{http://www.w3.org/2000/svg}"


def _bars(svg: bytes) -> list[tuple[float, float, str]]:
    """(top y, height, tooltip) of every bar."""
    root = ElementTree.fromstring(svg)
    assert root.tag == f"{NS}svg"
    out = []
    for rect in root.iter(f"{NS}rect"):
        if rect.get("class") == "bar":
            tip = rect.find(f"{NS}title")
            assert tip is not None and tip.text
            out.append((float(rect.get("y", "nan")), float(rect.get("height", "nan")), tip.text))
    return out


def _texts(svg: bytes) -> list[str]:
    return [t.text or "" for t in ElementTree.fromstring(svg).iter(f"{NS}text")]


def test_bars_are_as_tall_as_their_values() -> None:
    values = {"train": [30, 0, 12, 7], "val": [3, 1, 0, 9]}
    svg = bar_chart(["a", "b", "c", "d"], values, "boxes", "boxes per class")
    bars = _bars(svg)
    assert len(bars) == 8
    expected = [v for series in values.values() for v in series]
    heights = [h for _, h, _ in bars]
    per_unit = heights[0] / expected[0]
    assert heights == pytest.approx([v * per_unit for v in expected], abs=0.02)
    bottoms = {round(y + h, 1) for y, h, _ in bars}
    assert len(bottoms) == 1  # all stand on the axis
    assert bars[2][2] == "c (train): 12 boxes" and bars[7][2] == "d (val): 9 boxes"
    assert {"train", "val"} <= set(_texts(svg))  # a legend for two series


def test_class_names_are_escaped_and_cut_but_whole_in_the_tooltip() -> None:
    hostile = '<script>alert("x")</script> & ' + "y" * 40
    svg = bar_chart([hostile, "ok"], {"train": [5, 6]}, "boxes", "t <b>")
    assert b"<script>" not in svg
    texts = _texts(svg)
    assert hostile[: LABEL_CHARS - 1] + "…" in texts and "t <b>" in texts
    assert _bars(svg)[0][2] == f"{hostile} (train): 5 boxes"


def test_characters_xml_forbids_are_replaced_not_left_to_break_the_picture() -> None:
    """A class name is any non-blank string: control characters and lone surrogates (json accepts
    them) must not make the SVG unreadable, which a browser shows as a broken image and no note."""
    svg = bar_chart(["a\x01b", "c\ud800", "d\ufffe"], {"train": [1, 2, 3]}, "boxes", "t\x00")
    assert {"a\ufffdb", "c\ufffd", "d\ufffd", "t\ufffd"} <= set(_texts(svg))


def test_many_classes_widen_the_chart_and_stand_their_names_up() -> None:
    names = [f"class {i}" for i in range(80)]
    svg = bar_chart(names, {"train": list(range(80))}, "boxes", "t")
    root = ElementTree.fromstring(svg)
    assert float(root.get("width", "0")) >= 80 * 14
    turned = [t for t in root.iter(f"{NS}text") if (t.text or "").startswith("class ")]
    assert len(turned) == 80 and all("rotate(-90" in t.get("transform", "") for t in turned)


@pytest.mark.parametrize("log", [True, False])
def test_histograms_count_every_value_once(log: bool) -> None:
    rng = np.random.default_rng(3)
    series = {"train": rng.lognormal(5, 2, 5000), "val": np.concatenate([rng.lognormal(5, 2, 700), [0.0, -1.0]])}
    svg = histogram_chart(series, "area", "box area", log=log)
    counted: dict[str, int] = {"train": 0, "val": 0}
    for _, _, tip in _bars(svg):
        m = re.match(r"(\w+): (\d+) boxes in \[", tip)
        assert m, tip
        counted[m.group(1)] += int(m.group(2))
    shown = {k: int((v > 0).sum()) if log else len(v) for k, v in series.items()}
    assert counted == shown
    assert "train (5000)" in _texts(svg) and "val (702)" in _texts(svg)


def test_values_that_are_not_finite_are_left_out() -> None:
    svg = histogram_chart({"train": [1.0, float("inf"), float("nan"), 100.0]}, "w/h", "aspect ratio", log=True)
    assert sum(int(re.match(r"train: (\d+)", tip).group(1)) for _, _, tip in _bars(svg)) == 2  # type: ignore[union-attr]


def test_an_empty_split_still_draws_its_axes() -> None:
    svg = histogram_chart({"train": []}, "area", "box area", log=True)
    assert _bars(svg) == [] and "box area" in _texts(svg)


@given(
    lo=st.floats(-1e6, 1e6, allow_nan=False),
    span=st.floats(0, 1e7, allow_nan=False),
    integer=st.booleans(),
)
def test_ticks_cover_the_range_in_even_steps(lo: float, span: float, integer: bool) -> None:
    hi = lo + span
    ticks = nice_ticks(lo, hi, integer=integer)
    assert ticks[0] <= lo + 1e-9 * max(1.0, abs(lo)) and ticks[-1] >= hi - 1e-9 * max(1.0, abs(hi))
    steps = [b - a for a, b in itertools.pairwise(ticks)]
    assert 2 <= len(ticks) <= 12 and all(math.isclose(s, steps[0], rel_tol=1e-6) for s in steps)
    if integer:
        assert steps[0] >= 1 and math.isclose(steps[0], round(steps[0]))
