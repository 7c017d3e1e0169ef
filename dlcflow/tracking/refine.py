"""What DLC's tracklet refinement computes before the window opens, on arrays.

DLC 2.3.11's ``refine_tracklets`` loads a tracklet pickle or a tracks table into its
``TrackletManager`` (``deeplabcut/refine_training_dataset/tracklets.py``) and does three
things this module does, as pure functions:

- :func:`place_tracklets` (``_load_tracklets``): tracklets of ``min_tracklet_len`` frames
  or fewer are dropped (DLC keeps ``len > min_tracklet_len``), the others are put, longest
  first, into the slots of the config's individuals: into the first individual they do not
  overlap, else into the free cells of the emptiest individuals, the rest over the closest
  detection (Manhattan distance) where it is more confident. Tracklets of the unique body
  parts fill the ``single`` slots, keeping the more confident detection where two meet.
  DLC's loader still reads the tracklet layout of DLC 2.2 (one flat row of every body part
  a frame); dlcflow reads 2.3's ``_el.pickle`` (:mod:`dlcflow.io.tracklets`) and places the
  same values. DLC computes in float16; dlcflow keeps float64.
- :func:`fill_gaps` (``columnwise_spline_interp`` of ``deeplabcut.post_processing``): each
  x and y column with more than 3 values gets a cubic spline through them; runs of missing
  frames longer than ``max_gap`` stay missing (``max_gap=0``: every run is filled, those
  at the start and end too, by the spline's extrapolation); a filled part gets the
  likelihood 0.01. DLC applies it to pickles and tracks files alike.
- :func:`find_swapping_bodypart_pairs`: two body-part rows of different individuals swap
  when the differences of their x and of their y change sign between the same two frames;
  a pair is kept when it does so more than ``min_swap_len`` times (DLC counts these
  crossings, not frames, and keeps ``count > min_swap_len``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.interpolate import CubicSpline

from dlcflow.data.pose import SINGLE
from dlcflow.io.tables import MULTI_LEVELS
from dlcflow.tracking.tracklet import Tracklet, TrackletError, parse_tracklets

__all__ = [
    "FILLED_LIKELIHOOD",
    "Swap",
    "fill_gaps",
    "find_swapping_bodypart_pairs",
    "place_tracklets",
    "spline_fill",
    "tracklets_table",
]

#: The likelihood DLC gives a filled-in part ("not the network's estimate").
FILLED_LIKELIHOOD = 0.01


def spline_fill(values: np.ndarray, max_gap: int = 0) -> np.ndarray:
    """``values`` ``(frames, columns)`` with missing cells filled per column by a cubic
    spline through its values (columns with 3 values or fewer left as they are); runs of
    more than ``max_gap`` missing frames stay missing (``max_gap=0``: none). As DLC, a
    spline value of exactly 0 is taken as missing. Only missing cells change."""
    data = np.array(values, dtype=np.float64)
    if data.ndim == 1:
        data = data[:, None]
    nrows = data.shape[0]
    frames = np.arange(nrows)
    for col in range(data.shape[1]):
        valid = ~np.isnan(data[:, col])
        if valid.sum() <= 3 or valid.all():
            continue
        curve = CubicSpline(frames[valid], data[valid, col])(frames)
        if max_gap > 0:
            # runs of equal validity: their starts and lengths
            starts = np.flatnonzero(np.r_[True, valid[1:] != valid[:-1]])
            lengths = np.diff(np.r_[starts, nrows])
            for start, length in zip(starts, lengths, strict=True):
                if not valid[start] and length > max_gap:
                    curve[start : start + length] = np.nan
        curve[curve == 0] = np.nan
        missing = ~valid
        data[missing, col] = curve[missing]
    return data


def fill_gaps(data: np.ndarray, max_gap: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Tracks ``(frames, parts, 3)`` (x, y, likelihood) with their gaps filled by
    :func:`spline_fill` and the likelihood of a filled part set to
    :data:`FILLED_LIKELIHOOD`; and the ``(frames, parts)`` mask of the filled parts."""
    array = np.array(data, dtype=np.float64)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"tracks of shape {array.shape}, not (frames, parts, 3)")
    nframes, nparts, _ = array.shape
    xy = array[:, :, :2].reshape(nframes, nparts * 2)
    filled_xy = spline_fill(xy, max_gap)
    was_missing = np.isnan(xy) & ~np.isnan(filled_xy)
    filled = was_missing.reshape(nframes, nparts, 2).any(axis=2)
    array[:, :, :2] = filled_xy.reshape(nframes, nparts, 2)
    array[:, :, 2][filled] = FILLED_LIKELIHOOD
    return array, filled


def _place_multi(slots: np.ndarray, inds: np.ndarray, values: np.ndarray) -> None:
    """One animal tracklet ``values`` ``(n, cells)`` at frames ``inds`` into ``slots``
    ``(individuals, frames, cells)``, as DLC's loader does (see the module docstring)."""
    free = np.isnan(slots[:, inds])
    has = ~np.isnan(values)
    at_risk = np.any(has & ~free, axis=(1, 2))
    if not at_risk.all():
        rows, cols = np.nonzero(has)
        slots[int(np.argmin(at_risk)), inds[rows], cols] = values[has]
        return
    # every individual overlaps: free cells first, the emptiest individuals first
    n_empty = free.all(axis=2).sum(axis=1)
    for ind in np.argsort(n_empty)[::-1]:
        here = has & free[ind]
        rows, cols = np.nonzero(here)
        if rows.size:
            slots[ind, inds[rows], cols] = values[here]
            free[ind, here] = False
            has[here] = False
    if not has.any():
        return
    # the rest over the closest detection, where it is more confident
    remaining = values[has].reshape(-1, 3)
    rows, cols = np.nonzero(has)
    current = slots[:, inds[rows], cols].reshape(slots.shape[0], -1, 3)
    diff = remaining[None] - current
    dist = np.abs(diff[:, :, 0]) + np.abs(diff[:, :, 1])
    closest = np.argmin(dist, axis=0)
    gain = diff[closest, np.arange(closest.size), 2]
    flat = remaining.reshape(-1)
    for j in np.flatnonzero(gain > 0):
        sl = slice(3 * j, 3 * j + 3)
        slots[closest[j], inds[rows[sl]], cols[sl]] = flat[sl]


def _place_single(slots: np.ndarray, inds: np.ndarray, values: np.ndarray) -> None:
    """The unique parts' tracklet into the ``single`` slots ``(frames, cells)``: free
    cells taken, occupied ones replaced by a more confident detection."""
    free = np.isnan(slots[inds])
    has = ~np.isnan(values)
    take = has & free
    rows, cols = np.nonzero(take)
    slots[inds[rows], cols] = values[take]
    over = has & ~free
    if over.any():
        rows, cols = np.nonzero(over)
        better = (values[over] > slots[inds[rows], cols])[2::3]
        for i in np.flatnonzero(better):
            sl = slice(3 * i, 3 * i + 3)
            slots[inds[rows[sl]], cols[sl]] = values[rows[sl], cols[sl]]


def place_tracklets(
    animals: Sequence[Tracklet],
    single: Tracklet | None,
    n_individuals: int,
    min_tracklet_len: int = 2,
) -> np.ndarray:
    """Tracks ``(frames, n_individuals * n_parts + n_unique, 3)`` (individual after
    individual, then the unique parts) from tracklets, as DLC's loader makes them (see the
    module docstring). The frames run to the last frame of any tracklet, dropped or not."""
    everyone = [*animals, *([single] if single is not None else [])]
    if not everyone or n_individuals < 1:
        raise TrackletError("no tracklets to place (or no individuals in the config)")
    nframes = max(int(t.inds.max()) for t in everyone) + 1
    n_parts = animals[0].data.shape[1] if animals else 0
    n_unique = single.data.shape[1] if single is not None else 0
    multi = np.full((n_individuals, nframes, n_parts * 3), np.nan)
    unique = np.full((nframes, n_unique * 3), np.nan)
    # longest first; among equal lengths the later one in the file first (DLC's pops)
    ordered = sorted(everyone, key=len)
    kept = [t for t in ordered if len(t) > min_tracklet_len]
    for tracklet in reversed(kept):
        values = tracklet.data[:, :, :3].reshape(len(tracklet), -1)
        if tracklet is single:
            _place_single(unique, tracklet.inds, values)
        else:
            _place_multi(multi, tracklet.inds, values)
    rows = multi.swapaxes(0, 1).reshape(nframes, -1)
    return np.c_[rows, unique].reshape(nframes, -1, 3)


def tracklets_table(
    tracklets: Mapping[Any, Any],
    individuals: Sequence[str],
    min_tracklet_len: int = 2,
) -> pd.DataFrame:
    """The tracks table (DLC's columns ``scorer, individuals, bodyparts, coords``; unique
    parts under ``single``) of a tracklet dict (``_el.pickle``) placed into
    ``individuals`` by :func:`place_tracklets`; frames 0..last. Body parts and scorer come
    from the dict's header (animal parts first, then the unique parts)."""
    parsed = parse_tracklets(tracklets)
    header = parsed.header
    if not isinstance(header, pd.MultiIndex) or "bodyparts" not in header.names:
        raise TrackletError("the tracklets have no header of scorer, bodyparts, coords")
    scorer = str(header.get_level_values("scorer")[0])
    parts = list(dict.fromkeys(str(b) for b in header.get_level_values("bodyparts")))
    n_unique = parsed.single.data.shape[1] if parsed.single is not None else 0
    n_multi = parsed.n_bodyparts
    if n_multi + n_unique != len(parts) or (not n_multi and not n_unique):
        raise TrackletError(
            f"the header names {len(parts)} body parts, the tracklets hold {n_multi} "
            f"animal and {n_unique} unique parts"
        )
    data = place_tracklets(parsed.tracklets, parsed.single, len(individuals), min_tracklet_len)
    multi, unique = parts[:n_multi], parts[n_multi:]
    tuples = [
        (scorer, ind, b, c) for ind in individuals for b in multi for c in ("x", "y", "likelihood")
    ]
    tuples += [(scorer, SINGLE, b, c) for b in unique for c in ("x", "y", "likelihood")]
    columns = pd.MultiIndex.from_tuples(tuples, names=list(MULTI_LEVELS))
    return pd.DataFrame(data.reshape(data.shape[0], -1), columns=columns)


@dataclass(frozen=True)
class Swap:
    """Two body-part rows (indices into the rows given) of different individuals and the
    frames ``t`` after which both their x and y differences change sign (t → t + 1)."""

    first: int
    second: int
    frames: tuple[int, ...]


def _crossings(a: np.ndarray, others: np.ndarray) -> np.ndarray:
    """``(n_others, frames - 1)``: whether the differences of x and of y between ``a``
    ``(frames, 2)`` and each of ``others`` ``(n, frames, 2)`` both change sign from t to
    t + 1 (DLC's sign: > 0 against <= 0; missing values never cross)."""
    sub = a[None] - others
    valid = ~np.isnan(sub)
    with np.errstate(invalid="ignore"):
        pos = sub > 0
    cross = (pos[:, 1:] != pos[:, :-1]) & valid[:, 1:] & valid[:, :-1]
    return cross.all(axis=2)


def find_swapping_bodypart_pairs(
    xy: np.ndarray, row_individual: Sequence[int], min_swap_len: float = 2
) -> list[Swap]:
    """DLC's ``find_swapping_bodypart_pairs``: ``xy`` ``(rows, frames, 2)`` of every
    body part of every individual, ``row_individual`` the individual of each row; the pairs
    ``(a, b)``, ``a > b``, of different individuals with more than ``min_swap_len``
    crossings (in DLC's order: by ``a``, then ``b``), each with its crossing frames."""
    array = np.asarray(xy, dtype=np.float64)
    if array.ndim != 3 or array.shape[2] != 2 or array.shape[0] != len(row_individual):
        raise ValueError(f"xy of shape {array.shape} for {len(row_individual)} rows")
    owner = np.asarray(row_individual)
    found = []
    for a in range(1, array.shape[0]):
        others = np.flatnonzero(owner[:a] != owner[a])
        if not others.size:
            continue
        cross = _crossings(array[a], array[others])
        counts = cross.sum(axis=1)
        for k in np.flatnonzero(counts > min_swap_len):
            frames = tuple(int(f) for f in np.flatnonzero(cross[k]))
            found.append(Swap(a, int(others[k]), frames))
    return found
