"""Where a box stands against its image, each rule written once. The expressions work on one box (Python
floats, in validate's per-annotation path) and on a column of boxes (numpy arrays, in its columnar path)
alike, so the two paths cannot drift apart: a rule changed here changes both."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


def pick(condition: Any, then: T, otherwise: T) -> T:
    """`then if condition else otherwise`, element-wise on arrays."""
    if isinstance(condition, np.ndarray):
        return np.where(condition, then, otherwise)  # type: ignore[return-value]
    return then if condition else otherwise


def tolerance_limits(width: Any, height: Any, tolerance: float) -> tuple[Any, Any, Any, Any]:
    """How far a box may lie outside its image before it is dropped: (low x, low y, high x, high y)."""
    tol_x, tol_y = tolerance * width, tolerance * height
    return -tol_x, -tol_y, width + tol_x, height + tol_y


def has_area(w: Any, h: Any) -> Any:
    """A box with no width or no height is dropped (annotation-empty-bbox)."""
    return (w > 0) & (h > 0)


def outside(x: Any, y: Any, w: Any, h: Any, limits: tuple[Any, Any, Any, Any]) -> Any:
    """Beyond the tolerance limits: dropped (annotation-bbox-outside)."""
    low_x, low_y, high_x, high_y = limits
    return (x < low_x) | (y < low_y) | (x + w > high_x) | (y + h > high_y)


def inside(x: Any, y: Any, w: Any, h: Any, width: Any, height: Any) -> Any:
    """Wholly in the image: nothing to clip."""
    return (x >= 0.0) & (y >= 0.0) & (x + w <= width) & (y + h <= height)


def clip(x: Any, y: Any, w: Any, h: Any, width: Any, height: Any) -> tuple[Any, Any, Any, Any]:
    """The box (x, y, w, h) cut to the image (width and height as floats)."""
    right, bottom = x + w, y + h
    x0, y0 = pick(x > 0.0, x, 0.0), pick(y > 0.0, y, 0.0)
    x1, y1 = pick(right < width, right, width), pick(bottom < height, bottom, height)
    return x0, y0, x1 - x0, y1 - y0
