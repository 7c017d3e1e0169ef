"""Which frames are outliers (DLC's ``extract_outlier_frames`` algorithms) and the
:class:`OutlierOptions` that say how; :mod:`dlcflow.post.outliers` extracts the frames.

Every algorithm looks at each point on its own, a point being a body part of an
individual (one individual in a single-animal project; in a multi-animal project's tracks
every animal and ``single``), so a frame is an outlier when any individual's is:

* ``uncertain``: some point has likelihood below ``p_bound``;
* ``jump``: some point moved more than ``epsilon`` px since the previous frame (the frame
  it jumped to is flagged: a one-frame spike flags the spike and the frame after). DLC
  sums the squared moves of one body part over all individuals before comparing; here
  each individual's own move is compared, so one animal's jump is not hidden or made up
  by the others;
* ``fitting``: for some individual, the mean distance over its body parts between the
  prediction and a SARIMAX fit (:func:`dlcflow.post.filters.fit_sarimax`) exceeds
  ``epsilon`` (DLC averages over every point of every individual); when fewer than ``2 *
  numframes2pick`` frames qualify, the ``2 * numframes2pick`` frames with the largest
  such distance are taken (DLC's fallback);
* ``list``: the frames in ``frames2use``.

Absent points (NaN, e.g. an animal not tracked in a frame) are never outliers.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dlcflow.core.options import Options, check_bool, check_choice, check_int, check_real
from dlcflow.data.pose import point_name, points_array, select_keys
from dlcflow.io.tables import to_dataset
from dlcflow.post.filters import fit_sarimax

__all__ = [
    "EXTRACTION_ALGORITHMS",
    "MANUAL",
    "OUTLIER_ALGORITHMS",
    "OutlierOptions",
    "find_outliers",
]

OUTLIER_ALGORITHMS = ("jump", "uncertain", "fitting", "list")
EXTRACTION_ALGORITHMS = ("kmeans", "uniform")
MANUAL = (
    "outlieralgorithm='manual': pick frames in the labeling tool (dlcflow refine "
    "<config.yaml>); use jump, uncertain, fitting or list here"
)


@dataclass(frozen=True)
class OutlierOptions(Options):
    """What counts as an outlier and how frames are picked: DLC's
    ``extract_outlier_frames`` arguments with their defaults (see the module docstring),
    and ``seed`` for the k-means choice; the workflow's ``outliers`` section."""

    outlieralgorithm: str = "jump"
    frames2use: Sequence[int] | None = None
    comparisonbodyparts: Sequence[str] | str = "all"
    epsilon: float = 20
    p_bound: float = 0.01
    ARdegree: int = 3
    MAdegree: int = 1
    alpha: float = 0.01
    extractionalgorithm: str = "kmeans"
    cluster_resizewidth: int = 30
    cluster_color: bool = False
    savelabeled: bool = False
    seed: int = 0

    CONFIG_KEYS = (
        "outlieralgorithm",
        "epsilon",
        "p_bound",
        "ARdegree",
        "MAdegree",
        "extractionalgorithm",
    )

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if self.outlieralgorithm == "manual":
            raise ValueError(MANUAL)
        check_choice(owner, "outlieralgorithm", self.outlieralgorithm, OUTLIER_ALGORITHMS)
        if self.frames2use is not None:
            try:
                self._set("frames2use", tuple(int(i) for i in self.frames2use))
            except (TypeError, ValueError):
                raise ValueError(
                    f"{owner}: frames2use {self.frames2use!r} must be frame indices"
                ) from None
        elif self.outlieralgorithm == "list":
            raise ValueError(
                f"{owner}: outlieralgorithm 'list' needs frames2use (a list of frame indices)"
            )
        parts = self.comparisonbodyparts
        if not isinstance(parts, str):
            self._set("comparisonbodyparts", tuple(str(b) for b in parts))
        check_real(owner, "epsilon", self.epsilon, 0, None, open_ends=True)
        check_real(owner, "p_bound", self.p_bound, 0, 1)
        check_int(owner, "ARdegree", self.ARdegree)
        check_int(owner, "MAdegree", self.MAdegree)
        check_real(owner, "alpha", self.alpha, 0, 1, open_ends=True)
        check_choice(owner, "extractionalgorithm", self.extractionalgorithm, EXTRACTION_ALGORITHMS)
        check_int(owner, "cluster_resizewidth", self.cluster_resizewidth, minimum=1)
        check_bool(owner, "cluster_color", self.cluster_color)
        check_bool(owner, "savelabeled", self.savelabeled)
        check_int(owner, "seed", self.seed)


def find_outliers(
    df: pd.DataFrame,
    options: OutlierOptions | None = None,
    *,
    numframes2pick: int = 20,
    first: int = 0,
    last: int | None = None,
    where: str = "",
) -> list[int]:
    """Frame indices (sorted) of a pose table that ``options.outlieralgorithm`` flags,
    within ``[first, last)``; ``fitting`` takes at least ``2 * numframes2pick`` frames
    where it can. See the module docstring for the algorithms."""
    opts = options if options is not None else OutlierOptions()
    n = len(df)
    last = n if last is None else min(int(last), n)
    first = max(0, int(first))
    label = f"{where}: " if where else ""
    epsilon, p_bound = opts.epsilon, opts.p_bound
    if opts.outlieralgorithm == "list":
        wanted = sorted(set(opts.frames2use or ()))
        inside = [i for i in wanted if first <= i < last]
        if len(inside) < len(wanted):
            warnings.warn(
                f"{label}{len(wanted) - len(inside)} frame(s) of frames2use lie outside "
                f"frames {first}-{last - 1} (start/stop of the video); left out",
                stacklevel=2,
            )
        return inside
    outlieralgorithm = opts.outlieralgorithm
    ds = to_dataset(df)
    keys = select_keys(ds, opts.comparisonbodyparts)
    xy = points_array(ds, keys)  # (frames, points, 2)
    x, y = xy[first:last, :, 0], xy[first:last, :, 1]
    p = points_array(ds, keys, "confidence")[first:last]
    if x.shape[0] and np.isnan(x).all(axis=0).any():
        empty = [point_name(ds, k) for k, e in zip(keys, np.isnan(x).all(axis=0), strict=True) if e]
        warnings.warn(f"{label}no predictions for {', '.join(empty)}", stacklevel=2)
    with np.errstate(invalid="ignore"):
        if outlieralgorithm == "uncertain":
            flagged = (p < p_bound).any(axis=1)
        elif outlieralgorithm == "jump":
            # the first frame of the range is compared with the frame before it, if any
            before = xy[first - 1 : first] if first > 0 else xy[:0]
            bx = np.concatenate([before[..., 0], x])
            by = np.concatenate([before[..., 1], y])
            moved = np.hypot(np.diff(bx, axis=0), np.diff(by, axis=0)) > epsilon
            flagged = np.zeros(len(x), bool)
            flagged[len(x) - len(moved) :] = moved.any(axis=1)
        else:
            distance = np.full(x.shape, np.nan)
            for j in range(x.shape[1]):
                sarimax = (p_bound, opts.alpha, opts.ARdegree, opts.MAdegree)
                fx = fit_sarimax(x[:, j], p[:, j], *sarimax)
                fy = fit_sarimax(y[:, j], p[:, j], *sarimax)
                if fx is None or fy is None:
                    warnings.warn(
                        f"{label}{point_name(ds, keys[j])}: too few frames with likelihood >= "
                        f"{p_bound} to fit a model; not compared",
                        stacklevel=2,
                    )
                    continue
                distance[:, j] = np.hypot(x[:, j] - fx[0], y[:, j] - fy[0])
            mean = _worst_individual(distance, [ind for ind, _ in keys])
            with np.errstate(invalid="ignore"):
                flagged = mean > epsilon
            finite = np.flatnonzero(np.isfinite(mean))
            want = 2 * int(numframes2pick)
            if flagged.sum() < want and finite.size > want:
                top = finite[np.argsort(mean[finite], kind="stable")[::-1][:want]]
                flagged = np.zeros(len(mean), bool)
                flagged[top] = True
    return [int(i) + first for i in np.flatnonzero(flagged)]


def _worst_individual(distance: np.ndarray, individuals: Sequence[str]) -> np.ndarray:
    """Per frame, the largest over individuals of the mean of an individual's ``(frames,
    points)`` distances (NaN where no individual has one)."""
    names = list(dict.fromkeys(individuals))
    owner = np.array([names.index(ind) for ind in individuals], dtype=int)
    means = np.full((distance.shape[0], len(names)), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames without any distance
        for i in range(len(names)):
            if (owner == i).any():
                means[:, i] = np.nanmean(distance[:, owner == i], axis=1)
        return np.nanmax(means, axis=1) if names else np.zeros(distance.shape[0])
