"""Calibration of animal assembly on labeled poses (DLC 2.3's ``Assembler.calibrate``).

The shape of an animal is learned from the squared distances between every pair of its
multi-animal body parts in the labeled data:

- only poses with at least 90 % of their coordinates labeled are used, at least
  :data:`MIN_POSES` of them; a missing distance takes the mean of that pair over the poses;
- their mean, and DLC's kernel covariance (that of :class:`scipy.stats.gaussian_kde`:
  the sample covariance times Scott's factor squared, ``n^(-2/(d+4))``) plus, on each
  pair, the variance that a noise of :data:`LABEL_NOISE_PX` per coordinate gives a
  squared distance (``8 σ² ℓ²`` for a pair ``ℓ`` px apart).

The floor is dlcflow's. DLC's KDE refuses statistics that are singular: animals of one
rigid shape (the demo's mice, whose distances depend on each other) or fewer poses than
pairs. And assembly compares detections, which carry a localisation error that the
labels lack, with the labels' spread.

Two measures come from it (:class:`Calibration`):

- :meth:`Calibration.link_probability`: how plausible a link's length is for its pair of
  body parts, ``erfc(|z| / √2)`` with ``z = (length² − mean) / variance`` (DLC divides by
  the variance of the squared length, not its standard deviation; kept for equal results);
- :meth:`Calibration.mahalanobis`: the Mahalanobis distance of a (partial) pose's squared
  pairwise distances to the mean, over the pairs it has, scaled by ``d / pairs present``
  (DLC's ``nan_policy="little"``), or with missing pairs set to the mean (any other policy).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import pdist

__all__ = ["LABEL_NOISE_PX", "MIN_COMPLETE", "MIN_POSES", "Calibration", "calibrate", "pair_index"]

#: The share of a labeled pose's coordinates that must be present for it to be used.
MIN_COMPLETE = 0.9
#: The fewest complete poses a calibration is made from.
MIN_POSES = 10
#: The labelling noise (px per coordinate) whose variance every calibration adds (the floor).
LABEL_NOISE_PX = 1.0


def pair_index(a: int, b: int, n: int) -> int:
    """The position of body-part pair ``(a, b)`` (``a != b``) in a condensed distance
    vector of ``n`` parts (SciPy's ``pdist`` order)."""
    if a == b:
        raise ValueError(f"a pair needs two different body parts, not {a} twice")
    i, j = min(a, b), max(a, b)
    return n * i - i * (i + 1) // 2 + j - i - 1


@dataclass(frozen=True)
class Calibration:
    """What assembly needs of the KDE of squared pairwise distances: their mean, the
    kernel covariance and its inverse, over the ``n_parts`` multi-animal body parts."""

    mean: np.ndarray  # (d,)
    covariance: np.ndarray  # (d, d)
    inv_cov: np.ndarray  # (d, d)
    n_parts: int

    @property
    def d(self) -> int:
        """The number of body-part pairs."""
        return len(self.mean)

    def link_probability(self, a: int, b: int, length: float) -> float:
        """The two-sided probability of a link of ``length`` px between body parts ``a``
        and ``b`` under the calibrated squared length (see the module's docstring)."""
        k = pair_index(a, b, self.n_parts)
        z = (length**2 - self.mean[k]) / self.covariance[k, k]
        return math.erfc(abs(z) / math.sqrt(2))

    def mahalanobis(self, xy: np.ndarray, nan_policy: str = "little") -> float:
        """The Mahalanobis distance of the pose ``xy`` (``(n_parts, 2)``, NaN where a part
        is missing) to the calibrated mean; ``inf`` for a pose without any pair."""
        diff = pdist(np.asarray(xy, dtype=float), metric="sqeuclidean") - self.mean
        present = ~np.isnan(diff)
        if not present.any():
            return math.inf
        if nan_policy == "little":
            keep = np.flatnonzero(present)
            diff = diff[keep]
            inv = self.inv_cov[np.ix_(keep, keep)]
            factor = self.d / len(keep)
        else:
            diff = np.where(present, diff, 0.0)
            inv = self.inv_cov
            factor = 1.0
        return float(factor * math.sqrt(float(diff @ inv @ diff)))


def calibrate(poses: np.ndarray) -> Calibration | None:
    """Calibrate on labeled poses ``(n, n_parts, 2)`` (one pose per image and animal,
    NaN where unlabeled; see the module's docstring).
    ``None``, with a warning, when it cannot be done: one body part, fewer than
    :data:`MIN_POSES` poses complete enough, or a body-part pair never labeled."""
    xy = np.asarray(poses, dtype=float)
    if xy.ndim != 3 or xy.shape[-1] != 2:
        raise ValueError(f"calibration poses must be (n, n_parts, 2), not {xy.shape}")
    n_parts = xy.shape[1]
    if n_parts < 2:
        warnings.warn("assembly calibration skipped: there is only one body part", stacklevel=2)
        return None
    complete = np.mean(~np.isnan(xy), axis=(1, 2)) >= MIN_COMPLETE
    xy = xy[complete]
    if not len(xy):
        warnings.warn("assembly calibration skipped: no labeled pose is complete", stacklevel=2)
        return None
    if len(xy) < MIN_POSES:
        warnings.warn(
            f"assembly calibration skipped: {len(xy)} complete labeled poses, "
            f"at least {MIN_POSES} are needed",
            stacklevel=2,
        )
        return None
    dists = np.vstack([pdist(pose, metric="sqeuclidean") for pose in xy])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a pair never labeled: NaN mean
        mean = np.nanmean(dists, axis=0)
    dists = np.where(np.isnan(dists), mean, dists)
    if not np.isfinite(dists).all():
        warnings.warn(
            "assembly calibration skipped: a body-part pair is never labeled", stacklevel=2
        )
        return None
    # the kernel covariance of scipy.stats.gaussian_kde (Scott's factor), plus the floor
    scott = len(dists) ** (-1.0 / (dists.shape[1] + 4))
    kernel = np.atleast_2d(np.cov(dists.T)) * scott**2
    noise = 8 * LABEL_NOISE_PX**2 * np.maximum(mean, 1.0)
    covariance = kernel + np.diag(noise)
    return Calibration(mean, covariance, np.linalg.inv(covariance), n_parts)
