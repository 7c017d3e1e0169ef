"""Identity-tracking quality of stitched tracks against ground truth of the same video.

Both inputs are pose datasets (:mod:`dlcflow.data.pose`); unique body parts (the
individual ``single``) are left out, frames are compared by index over the shorter of the
two lengths. A ground-truth *animal* is present in a frame when one of its points is known
(not NaN), a *track* when one of its points is; their distance in a frame is the mean
Euclidean distance over the body parts both have there. A track closer than the gate
(``gate_px``; by default :data:`GATE_FACTOR` times the animals' median size, the largest
distance between two of an animal's visible parts) *can* be the animal in that frame.

Two matchings are scored:

* **per frame** (CLEAR MOT, Bernardin & Stiefelhagen 2008): an animal keeps the track it
  was last matched to while that track stays within the gate; the others are assigned by
  the Hungarian method (:func:`scipy.optimize.linear_sum_assignment`) on the distances,
  pairs beyond the gate left unmatched. An *identity switch* is a matched animal whose
  track differs from the track it was matched to the last time it was matched (gaps
  between do not reset it). MOTA = 1 − (misses + false positives + switches) / animal
  presences; MOTP the mean distance of the matched pairs.
* **global** (IDF1, Ristani et al. 2016): one track per animal for the whole video, the
  one-to-one assignment that maximises the number of frames where the track is within the
  gate of its animal (IDTP); IDFN = animal presences − IDTP, IDFP = track presences −
  IDTP, IDF1 = 2·IDTP / (2·IDTP + IDFP + IDFN). Keypoint errors compare each animal with its
  global track on every frame and body part both have; a frame *keeps every identity*
  when each animal present there is matched (per frame) to its global track.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.optimize import linear_sum_assignment

from dlcflow.data.pose import SINGLE
from dlcflow.io.hdf import read_frame
from dlcflow.io.tables import to_dataset
from dlcflow.io.tracks import load_tracks

__all__ = [
    "GATE_FACTOR",
    "IdentityScoreError",
    "IdentityScores",
    "animal_size",
    "identity_scores",
    "load_groundtruth",
    "score_track_file",
]

#: The default gate: this share of the animals' median size (their largest part-to-part
#: distance), e.g. about 20 px for the demo's mice.
GATE_FACTOR = 0.5
#: The keypoint-error threshold of :attr:`IdentityScores.within_5px`.
CLOSE_PX = 5.0
_FAR = 1e12  # cost of a pair beyond the gate in the Hungarian assignment


class IdentityScoreError(ValueError):
    """Tracks and ground truth that cannot be compared; the one-line message names both."""


@dataclass(frozen=True)
class IdentityScores:
    """Identity-tracking scores of one video (see the module docstring for definitions).

    Counts are animal-frames (presences, matches) or points (keypoint errors); shares are
    in [0, 1], NaN where their denominator is 0. ``matching`` holds the global
    ``(animal, track)`` pairs; animals without a track in it are unmatched throughout.
    """

    frames: int
    animals: int
    tracks: int
    gate_px: float
    truth_presences: int
    track_presences: int
    matches: int
    misses: int
    false_positives: int
    switches: int
    mota: float
    motp_px: float
    idtp: int
    idfp: int
    idfn: int
    idf1: float
    idp: float
    idr: float
    frames_with_animals: int
    frames_identity_kept: int
    identity_kept: float
    points: int
    truth_points: int
    mean_px: float
    median_px: float
    within_5px: float
    matching: tuple[tuple[str, str], ...]


def _name(ds: xr.Dataset, default: str) -> str:
    return str(ds.attrs.get("source_file") or default)


def _animal_parts(ds: xr.Dataset) -> tuple[list[str], list[str]]:
    """(individuals, keypoints) of a dataset without ``single`` and its unique parts."""
    unique = {str(k) for k in ds.attrs.get("unique_keypoints", ())}
    individuals = [str(i) for i in ds["individuals"].values if str(i) != SINGLE]
    keypoints = [str(k) for k in ds["keypoints"].values if str(k) not in unique]
    return individuals, keypoints


def _xy(ds: xr.Dataset, individuals: list[str], keypoints: list[str], n: int) -> np.ndarray:
    """(n, individuals, keypoints, 2) x, y positions."""
    pos = ds["position"].sel(space=["x", "y"], keypoints=keypoints, individuals=individuals)
    return pos.transpose("time", "individuals", "keypoints", "space").values[:n].astype(float)


def _check(tracks: xr.Dataset, truth: xr.Dataset) -> tuple[np.ndarray, np.ndarray, list, list]:
    """Both datasets as aligned arrays ``(frames, individuals, keypoints, 2)``, with the
    track and animal names; bad input raises :class:`IdentityScoreError`."""
    where = f"{_name(tracks, 'tracks')} vs {_name(truth, 'ground truth')}"
    for ds in (tracks, truth):
        if "position" not in ds or not {"x", "y"} <= {str(s) for s in ds["space"].values}:
            raise IdentityScoreError(f"{where}: {_name(ds, 'a dataset')} has no x, y positions")
    track_names, track_parts = _animal_parts(tracks)
    animal_names, parts = _animal_parts(truth)
    if set(track_parts) != set(parts):
        raise IdentityScoreError(
            f"{where}: body parts differ (tracks: {', '.join(track_parts) or 'none'}; "
            f"ground truth: {', '.join(parts) or 'none'})"
        )
    if not parts:
        raise IdentityScoreError(f"{where}: no body parts other than unique ones")
    if not animal_names:
        raise IdentityScoreError(f"{where}: the ground truth has no animals")
    if not track_names:
        raise IdentityScoreError(f"{where}: the tracks hold no track")
    n = min(tracks.sizes["time"], truth.sizes["time"])
    if n == 0:
        raise IdentityScoreError(
            f"{where}: no frames to compare ({tracks.sizes['time']} tracked, "
            f"{truth.sizes['time']} in the ground truth)"
        )
    truth_xy = _xy(truth, animal_names, parts, n)
    if np.isnan(truth_xy).all():
        raise IdentityScoreError(f"{where}: the ground truth has no known point")
    return _xy(tracks, track_names, parts, n), truth_xy, track_names, animal_names


def animal_size(truth_xy: np.ndarray) -> float:
    """The median over animals and frames of the largest distance between two visible
    parts of an animal (NaN when no animal shows two parts) from ``(n, animals, parts, 2)``."""
    d = np.linalg.norm(truth_xy[:, :, :, None] - truth_xy[:, :, None], axis=-1)
    with np.errstate(invalid="ignore"):
        extent = np.where(np.isnan(d), -np.inf, d).max(axis=(2, 3))
    extent = extent[np.isfinite(extent) & (extent > 0)]
    return float(np.median(extent)) if extent.size else float("nan")


def _distances(truth_xy: np.ndarray, track_xy: np.ndarray) -> np.ndarray:
    """(n, animals, tracks) mean distance over the parts both have; NaN where none."""
    d = np.linalg.norm(truth_xy[:, :, None] - track_xy[:, None], axis=-1)  # (n, a, t, k)
    known = ~np.isnan(d)
    count = known.sum(axis=-1)
    total = np.where(known, d, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _frame_matches(within: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, int]:
    """CLEAR MOT matching per frame: (n, animals) matched track index (−1: none) and the
    number of identity switches, from the gate test and the distances (n, a, t)."""
    n, n_animals, n_tracks = within.shape
    matched = np.full((n, n_animals), -1)
    last = np.full(n_animals, -1)
    switches = 0
    for t in range(n):
        taken: set[int] = set()
        for a in range(n_animals):  # an animal keeps its last track while within the gate
            j = int(last[a])
            if j >= 0 and j not in taken and within[t, a, j]:
                matched[t, a] = j
                taken.add(j)
        rest_a = [a for a in range(n_animals) if matched[t, a] < 0 and within[t, a].any()]
        rest_t = [j for j in range(n_tracks) if j not in taken and within[t, :, j].any()]
        if rest_a and rest_t:
            sub = dist[t][np.ix_(rest_a, rest_t)]
            cost = np.where(within[t][np.ix_(rest_a, rest_t)], sub, _FAR)
            for r, c in zip(*linear_sum_assignment(cost), strict=True):
                if cost[r, c] < _FAR:
                    a, j = rest_a[r], rest_t[c]
                    matched[t, a] = j
                    if last[a] >= 0 and last[a] != j:
                        switches += 1
                    last[a] = j
    return matched, switches


def _share(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def identity_scores(
    tracks: xr.Dataset, truth: xr.Dataset, gate_px: float | None = None
) -> IdentityScores:
    """Identity-tracking scores of ``tracks`` against ``truth`` (pose datasets of one
    video). ``gate_px``: the largest mean keypoint distance at which a track can be an
    animal; None for :data:`GATE_FACTOR` × the animals' median size."""
    track_xy, truth_xy, track_names, animal_names = _check(tracks, truth)
    where = f"{_name(tracks, 'tracks')} vs {_name(truth, 'ground truth')}"
    if gate_px is None:
        size = animal_size(truth_xy)
        if not np.isfinite(size):
            raise IdentityScoreError(
                f"{where}: no animal shows two body parts to size the gate; give gate_px"
            )
        gate = GATE_FACTOR * size
    else:
        gate = float(gate_px)
        if not np.isfinite(gate) or gate <= 0:
            raise IdentityScoreError(f"{where}: gate_px must be a positive number, got {gate_px}")
    dist = _distances(truth_xy, track_xy)
    with np.errstate(invalid="ignore"):
        within = dist <= gate  # NaN compares False
    truth_present = ~np.isnan(truth_xy).all(axis=(2, 3))  # (n, animals)
    track_present = ~np.isnan(track_xy).all(axis=(2, 3))  # (n, tracks)
    n_truth, n_track = int(truth_present.sum()), int(track_present.sum())

    matched, switches = _frame_matches(within, dist)
    hit = matched >= 0
    n_matches = int(hit.sum())
    a_idx, t_idx = np.nonzero(hit)
    motp = float(dist[a_idx, t_idx, matched[hit]].mean()) if n_matches else float("nan")
    misses, false_pos = n_truth - n_matches, n_track - n_matches

    overlap = within.sum(axis=0)  # (animals, tracks) frames within the gate
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    pairs = [(int(a), int(j)) for a, j in zip(rows, cols, strict=True) if overlap[a, j] > 0]
    idtp = int(sum(overlap[a, j] for a, j in pairs))
    global_track = np.full(len(animal_names), -1)
    for a, j in pairs:
        global_track[a] = j

    shown = truth_present.any(axis=1)
    own = hit & (matched == global_track[None])
    kept = (own | ~truth_present).all(axis=1) & shown

    errors = [np.linalg.norm(track_xy[:, j] - truth_xy[:, a], axis=-1).ravel() for a, j in pairs]
    d = np.concatenate(errors) if errors else np.empty(0)
    d = d[~np.isnan(d)]
    return IdentityScores(
        frames=int(truth_xy.shape[0]),
        animals=len(animal_names),
        tracks=len(track_names),
        gate_px=float(gate),
        truth_presences=n_truth,
        track_presences=n_track,
        matches=n_matches,
        misses=misses,
        false_positives=false_pos,
        switches=switches,
        mota=1.0 - _share(misses + false_pos + switches, n_truth) if n_truth else float("nan"),
        motp_px=motp,
        idtp=idtp,
        idfp=n_track - idtp,
        idfn=n_truth - idtp,
        idf1=_share(2 * idtp, n_truth + n_track),
        idp=_share(idtp, n_track),
        idr=_share(idtp, n_truth),
        frames_with_animals=int(shown.sum()),
        frames_identity_kept=int(kept.sum()),
        identity_kept=_share(kept.sum(), shown.sum()),
        points=int(d.size),
        truth_points=int((~np.isnan(truth_xy[..., 0])).sum()),
        mean_px=float(d.mean()) if d.size else float("nan"),
        median_px=float(np.median(d)) if d.size else float("nan"),
        within_5px=float((d <= CLOSE_PX).mean()) if d.size else float("nan"),
        matching=tuple((animal_names[a], track_names[j]) for a, j in pairs),
    )


def load_groundtruth(path: str | os.PathLike[str]) -> xr.Dataset:
    """A multi-animal ground-truth table (DLC's 4 column levels, any key) as a dataset."""
    p = Path(path)
    if not p.is_file():
        raise IdentityScoreError(f"{p}: ground truth file not found")
    df = read_frame(p, error=IdentityScoreError)
    if "individuals" not in (df.columns.names or ()):
        raise IdentityScoreError(f"{p}: not a multi-animal table (no 'individuals' column level)")
    try:
        return to_dataset(df.astype("float64"), source_file=str(p))
    except ValueError as err:
        raise IdentityScoreError(f"{p}: {err}") from None


def score_track_file(
    tracks_h5: str | os.PathLike[str],
    groundtruth_h5: str | os.PathLike[str],
    gate_px: float | None = None,
) -> IdentityScores:
    """:func:`identity_scores` of a tracks file (``_el.h5``, :mod:`dlcflow.io.tracks`)
    against a ground-truth file of the same video (e.g. a demo's ``_groundtruth.h5``)."""
    return identity_scores(load_tracks(tracks_h5), load_groundtruth(groundtruth_h5), gate_px)
