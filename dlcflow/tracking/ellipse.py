"""The covariance ellipse of an animal's keypoints, the shape the ellipse tracker follows.

An assembly with at least three finite keypoints is summarised by the ``sd``-sigma error
ellipse of its points (DLC 2.3's ``EllipseFitter`` with ``sd=2``): centre = the mean of
the points; axes = ``2 * sd * sqrt(eigenvalue)`` of their sample covariance (``width``
along the major eigenvector, ``height`` along the minor one); ``theta`` = the angle of
the major eigenvector to the x axis, in ``[0, pi)``.

Two ellipses are alike by DLC's similarity: with ``d`` the distance of the centres and
``m`` the longest of the four axes, ``c = 1 - min(d / m, 1)`` and
``similarity = 0.8 c + 0.2 |cos(theta_1 - theta_2)| c``; 1 for the same ellipse, 0 for
ellipses farther apart than their longest axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Ellipse", "fit_ellipse"]


@dataclass(frozen=True)
class Ellipse:
    """An ellipse: centre ``(x, y)``, full axis lengths ``width`` (major) and ``height``
    (minor), and the major axis' angle ``theta`` to the x axis (radians)."""

    x: float
    y: float
    width: float
    height: float
    theta: float

    @property
    def parameters(self) -> tuple[float, float, float, float, float]:
        """``(x, y, width, height, theta)``, the state the ellipse tracker filters."""
        return self.x, self.y, self.width, self.height, self.theta

    def similarity(self, other: Ellipse) -> float:
        """DLC's similarity of two ellipses, in ``[0, 1]`` (see the module docstring)."""
        longest = max(self.width, self.height, other.width, other.height)
        dist = math.hypot(self.x - other.x, self.y - other.y)
        if longest == 0:  # two points: alike only where they coincide
            return 1.0 if dist == 0 else 0.0
        closeness = 1.0 - min(dist / longest, 1.0)
        alignment = abs(math.cos(self.theta - other.theta))
        return 0.8 * closeness + 0.2 * alignment * closeness


def fit_ellipse(xy: np.ndarray, sd: float = 2.0) -> Ellipse | None:
    """The ``sd``-sigma covariance ellipse of the finite rows of ``xy`` ``(n, 2)``; None
    with fewer than three finite points or a degenerate (non-finite) fit."""
    pts = np.asarray(xy, dtype=np.float64)[:, :2]
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) < 3:
        return None
    centre = pts.mean(axis=0)
    dev = pts - centre
    cov = dev.T @ dev / (len(pts) - 1)  # np.cov's sample covariance, without its overhead
    values, vectors = np.linalg.eigh(cov)  # ascending eigenvalues
    with np.errstate(invalid="ignore"):
        minor, major = 2.0 * sd * np.sqrt(values)
    a, b = vectors[:, 1]
    theta = math.atan2(b, a) % math.pi
    params = (float(centre[0]), float(centre[1]), float(major), float(minor), theta)
    if not all(math.isfinite(p) for p in params):
        return None
    return Ellipse(*params)
