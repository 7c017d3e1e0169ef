"""Drawing on images with OpenCV: markers and line segments, alpha-blended, at 1/16 px
precision, in the colours of matplotlib colormaps as DeepLabCut picks them.

Markers and skeleton lines are drawn straight onto the frame's pixels and alpha-blended
(``alphavalue``), which is far faster than a matplotlib figure per image; colours come from
matplotlib colormaps exactly as DeepLabCut picks them (``colormap`` resampled to one colour
per body part or per individual). Marker sizes follow matplotlib's: ``dotsize`` is in
points, ``dotsize * dpi / 72`` pixels across. Coordinates follow DeepLabCut: ``x`` is the
column, ``y`` the row, pixel centres at integer coordinates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import matplotlib
import matplotlib.colors as mcolors
import numpy as np

MARKERS = ("+", "x", ".", "o", "s")
_SHIFT = 4
_ONE = 1 << _SHIFT
Color = tuple[int, int, int]


class PlotError(ValueError):
    """Bad plotting input (unknown colormap, marker, missing image); the message says which."""


# -- colours --------------------------------------------------------------------------------
def get_cmap(n: int, name: str = "hsv") -> np.ndarray:
    """``n`` RGBA colours (floats, shape (n, 4)) of a matplotlib colormap, as DLC picks them.

    DLC uses ``plt.cm.get_cmap(name, n)``: the colormap resampled to ``n`` entries, so
    colour ``i`` is the map at ``i / (n - 1)``.
    """
    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise PlotError(f"colormap {name!r} is not a matplotlib colormap") from None
    return np.asarray(cmap.resampled(max(int(n), 1))(np.arange(max(int(n), 1))))


def colors_bgr(n: int, name: str = "rainbow") -> list[Color]:
    """``n`` colormap colours as OpenCV BGR tuples (0..255)."""
    rgba = get_cmap(n, name)
    return [tuple(int(round(255 * c)) for c in (b, g, r)) for r, g, b, _ in rgba]


def to_bgr(color: str | Sequence[float]) -> Color:
    """A matplotlib colour (name, hex or RGB floats) as an OpenCV BGR tuple."""
    try:
        r, g, b = mcolors.to_rgb(color)
    except ValueError:
        raise PlotError(f"{color!r} is not a matplotlib colour") from None
    return int(round(255 * b)), int(round(255 * g)), int(round(255 * r))


# -- drawing --------------------------------------------------------------------------------
def _fx(x: float, y: float) -> tuple[int, int]:
    return int(round(x * _ONE)), int(round(y * _ONE))


def _blend(img: np.ndarray, mask: np.ndarray, color: Color, alpha: float) -> None:
    """In place: ``img = img * (1 - a) + color * a`` with ``a = alpha * mask / 255``."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    a = (mask[y0:y1, x0:x1].astype(np.float32) * (alpha / 255.0))[..., None]
    roi = img[y0:y1, x0:x1].astype(np.float32)
    roi += (np.asarray(color, np.float32) - roi) * a
    img[y0:y1, x0:x1] = np.clip(np.rint(roi), 0, 255).astype(np.uint8)


def _draw_marker(mask: np.ndarray, x: float, y: float, marker: str, size: float, thick: int):
    """Draw one marker (white on a single-channel mask), ``size`` px across."""
    h = size / 2.0
    line = cv2.LINE_AA
    if marker == "+":
        cv2.line(mask, _fx(x - h, y), _fx(x + h, y), 255, thick, line, _SHIFT)
        cv2.line(mask, _fx(x, y - h), _fx(x, y + h), 255, thick, line, _SHIFT)
    elif marker == "x":
        d = h / np.sqrt(2.0)
        cv2.line(mask, _fx(x - d, y - d), _fx(x + d, y + d), 255, thick, line, _SHIFT)
        cv2.line(mask, _fx(x - d, y + d), _fx(x + d, y - d), 255, thick, line, _SHIFT)
    elif marker in (".", "o"):
        r = max(h / 2.0 if marker == "." else h, 1.0)
        cv2.circle(mask, _fx(x, y), int(round(r * _ONE)), 255, -1, line, _SHIFT)
    elif marker == "s":
        d = h / np.sqrt(2.0)
        pts = np.array([_fx(x - d, y - d), _fx(x + d, y - d), _fx(x + d, y + d), _fx(x - d, y + d)])
        cv2.fillPoly(mask, [pts.reshape(-1, 1, 2).astype(np.int32)], 255, line, _SHIFT)
    else:
        raise PlotError(f"marker {marker!r} is not supported (use one of {' '.join(MARKERS)})")


def draw_points(
    img: np.ndarray,
    points: np.ndarray,
    colors: Sequence[Color],
    marker: str = "+",
    size: float = 12.0,
    alpha: float = 0.7,
    thickness: int = 1,
) -> np.ndarray:
    """Draw markers at ``points`` ((k, 2) x, y; NaN rows are skipped) onto ``img`` in place.

    Points of the same colour are drawn on one mask and blended once, so overlapping
    markers of one colour do not darken each other. Returns ``img``.
    """
    if marker not in MARKERS:
        raise PlotError(f"marker {marker!r} is not supported (use one of {' '.join(MARKERS)})")
    groups: dict[Color, list[tuple[float, float]]] = {}
    for (x, y), color in zip(np.asarray(points, float), colors, strict=True):
        if np.isfinite(x) and np.isfinite(y):
            groups.setdefault(tuple(color), []).append((float(x), float(y)))
    mask = np.zeros(img.shape[:2], np.uint8)
    for color, pts in groups.items():
        mask[:] = 0
        for x, y in pts:
            _draw_marker(mask, x, y, marker, size, thickness)
        _blend(img, mask, color, alpha)
    return img


def draw_segments(
    img: np.ndarray,
    segments: Iterable[tuple[tuple[float, float], tuple[float, float]]],
    color: Color,
    alpha: float = 0.7,
    thickness: int = 2,
) -> np.ndarray:
    """Draw line segments ``((x1, y1), (x2, y2))`` in one colour; NaN ends are skipped."""
    mask = np.zeros(img.shape[:2], np.uint8)
    for (x1, y1), (x2, y2) in segments:
        if np.isfinite([x1, y1, x2, y2]).all():
            cv2.line(mask, _fx(x1, y1), _fx(x2, y2), 255, thickness, cv2.LINE_AA, _SHIFT)
    _blend(img, mask, color, alpha)
    return img
