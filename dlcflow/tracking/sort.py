"""SORT: one frame's animals matched to the tracked ones (Hungarian), as DLC 2.3 does it.

Each tracker is fed the frames with animals in order (:meth:`track`) and answers with
its hypotheses: ``(tracklet id, index of the animal in the frame, or -1, predicted
keypoints or None)``, in DLC's order (latest tracklet first).

- :class:`SortEllipse` (DLC's ``SORTEllipse``): animals with ≥ 3 keypoints as their
  covariance ellipses; the similarity matrix to the predicted ellipses is maximised,
  pairs below ``threshold`` are not matches.
- :class:`SortBox` (``SORTBox``): animals as keypoint boxes; IoU (float32, as DLC)
  maximised, pairs below ``threshold`` are not matches.
- Both: an animal left unmatched starts a tracklet; a tracklet is reported in a frame
  only when it was matched there and has ``hit_streak >= min_hits`` (or in the first
  ``min_hits`` frames); it ends after more than ``max_age`` frames without a match, and
  a tracklet whose prediction is not finite ends at once. The hit streak counts matches
  after the animal that started the tracklet, so (as in DLC's files) that animal is in
  no tracklet unless it came in the first ``min_hits`` frames.
- :class:`SortSkeleton` (``SORTSkeleton``): animals as keypoints; the directed Hausdorff
  distance from each animal to each predicted pose is minimised, with no threshold (DLC
  has none; its ``oks_threshold`` and ``min_hits`` are unused). Every living tracklet is
  reported in every frame: with its animal, or with its predicted keypoints while it has
  been unmatched for at most ``max_age`` frames. Unlike DLC's, each tracklet is predicted
  once per frame (DLC's predicts twice), the tracklet that has aged out is the one
  removed (DLC's removes the last one), and an animal with missing keypoints counts as
  a match (DLC's does not reset its counters).
"""

from __future__ import annotations

import itertools
import warnings
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from dlcflow.tracking.ellipse import Ellipse, fit_ellipse
from dlcflow.tracking.kalman import BoxTrack, EllipseTrack, SkeletonTrack, Track

__all__ = [
    "Hypothesis",
    "SortBox",
    "SortEllipse",
    "SortSkeleton",
    "box_iou",
    "boxes_from_keypoints",
    "directed_hausdorff",
]


class Hypothesis(NamedTuple):
    """A tracklet in one frame: its id, the animal's index in the frame (-1: none), and
    the predicted keypoints ``(n, 2)`` when there is no animal."""

    tracklet: int
    animal: int
    predicted: np.ndarray | None = None


def boxes_from_keypoints(animals: np.ndarray, slack: float = 0.0) -> np.ndarray:
    """Boxes ``(n, 5)``: ``x1, y1, x2, y2`` of each animal's finite keypoints ± ``slack``,
    and its mean likelihood; ``animals`` is ``(n, n_keypoints, >= 3)``."""
    animals = np.asarray(animals, dtype=np.float64)
    boxes = np.full((len(animals), 5), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an animal without keypoints
        boxes[:, :2] = np.nanmin(animals[..., :2], axis=1) - slack
        boxes[:, 2:4] = np.nanmax(animals[..., :2], axis=1) + slack
        boxes[:, 4] = np.nanmean(animals[..., 2], axis=1)
    return boxes


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes ``(x1, y1, x2, y2, ...)``; 0 when the union
    is empty or not finite."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    if not np.isfinite(union) or union <= 0:
        return 0.0
    return float(inter / union)


def directed_hausdorff(x: np.ndarray, y: np.ndarray) -> float:
    """Largest distance from a finite point of ``x`` to its nearest finite point of
    ``y`` (0 when either has none)."""
    x = x[np.isfinite(x).all(axis=1)]
    y = y[np.isfinite(y).all(axis=1)]
    if not len(x) or not len(y):
        return 0.0
    d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=-1)
    return float(np.sqrt(d2.min(axis=1).max()))


def _assign(score: np.ndarray, threshold: float) -> tuple[list[tuple[int, int]], list[int]]:
    """Hungarian maximisation of ``score`` (detections × tracklets): the matches at or
    above ``threshold``, and the unmatched detections in DLC's order (never assigned
    first, ascending; then those assigned below the threshold, in row order)."""
    n_det, n_trk = score.shape
    if n_trk == 0:
        return [], list(range(n_det))
    rows, cols = linear_sum_assignment(score, maximize=True)
    assigned = set(rows.tolist())
    unmatched = [d for d in range(n_det) if d not in assigned]
    matches = []
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        if score[r, c] < threshold:
            unmatched.append(r)
        else:
            matches.append((r, c))
    return matches, unmatched


class _Sort:
    """What the ellipse and box trackers share: predict, match, update, create, report.
    A subclass says how observations score against predictions and start a track."""

    def __init__(self, max_age: int, min_hits: int, threshold: float) -> None:
        self.max_age = int(max_age)
        self.min_hits = int(min_hits)
        self.threshold = float(threshold)
        self.n_frames = 0
        self.tracks: list[Track] = []
        self._ids = itertools.count()

    def _score(self, observations: list[np.ndarray], predicted: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def _new_track(self, track_id: int, observation: np.ndarray) -> Track:
        raise NotImplementedError

    def _step(self, observations: list[np.ndarray], sources: list[int]) -> list[Hypothesis]:
        """One frame: ``observations`` of the animals ``sources`` of the frame."""
        self.n_frames += 1
        predicted = [t.predict() for t in self.tracks]
        alive = [i for i, p in enumerate(predicted) if np.isfinite(p).all()]
        self.tracks = [self.tracks[i] for i in alive]
        predicted = [predicted[i] for i in alive]
        if predicted and observations:
            matrix = self._score(observations, predicted)
        else:
            matrix = np.zeros((len(observations), len(predicted)))
        matches, unmatched = _assign(matrix, self.threshold)
        animal_of: dict[int, int] = {}
        for det, trk in matches:
            self.tracks[trk].update(observations[det])
            animal_of[trk] = sources[det]
        for det in unmatched:
            animal_of[len(self.tracks)] = sources[det]
            self.tracks.append(self._new_track(next(self._ids), observations[det]))
        hyps = []
        for index in reversed(range(len(self.tracks))):
            trk = self.tracks[index]
            fresh = trk.hit_streak >= self.min_hits or self.n_frames <= self.min_hits
            if trk.time_since_update < 1 and fresh:
                hyps.append(Hypothesis(trk.id, animal_of[index]))
            if trk.time_since_update > self.max_age:
                self.tracks.pop(index)
        return hyps


class SortEllipse(_Sort):
    """SORT on covariance ellipses (``threshold``: DLC's ``iou_threshold``)."""

    def __init__(self, max_age: int, min_hits: int, threshold: float, sd: float = 2.0) -> None:
        super().__init__(max_age, min_hits, threshold)
        self.sd = float(sd)

    def track(self, poses: np.ndarray) -> list[Hypothesis]:
        """One frame's animals ``(n, n_keypoints, >= 2)``; those with fewer than three
        finite keypoints are not tracked."""
        observations, sources = [], []
        for i, pose in enumerate(poses):
            el = fit_ellipse(np.asarray(pose)[:, :2], self.sd)
            if el is not None:
                observations.append(np.array(el.parameters))
                sources.append(i)
        return self._step(observations, sources)

    def _score(self, observations: list[np.ndarray], predicted: list[np.ndarray]) -> np.ndarray:
        found = [Ellipse(*map(float, p)) for p in observations]
        refs = [Ellipse(*map(float, p)) for p in predicted]
        return np.array([[el.similarity(ref) for ref in refs] for el in found])

    def _new_track(self, track_id: int, observation: np.ndarray) -> Track:
        return EllipseTrack(track_id, observation)


class SortBox(_Sort):
    """SORT on keypoint boxes (``threshold``: DLC's ``oks_threshold``, an IoU)."""

    def track(self, boxes: np.ndarray) -> list[Hypothesis]:
        """One frame's boxes ``(n, >= 4)`` (:func:`boxes_from_keypoints`)."""
        boxes = np.asarray(boxes, dtype=np.float64)
        return self._step(list(boxes), list(range(len(boxes))))

    def _score(self, observations: list[np.ndarray], predicted: list[np.ndarray]) -> np.ndarray:
        ious = [[box_iou(box, ref) for ref in predicted] for box in observations]
        return np.array(ious, dtype=np.float32)  # DLC compares float32 IoUs

    def _new_track(self, track_id: int, observation: np.ndarray) -> Track:
        return BoxTrack(track_id, observation)


class SortSkeleton:
    """SORT on keypoints (see the module docstring for how it differs from DLC's)."""

    def __init__(self, max_age: int) -> None:
        self.max_age = int(max_age)
        self.n_frames = 0
        self.tracks: list[SkeletonTrack] = []
        self._ids = itertools.count()

    def track(self, poses: np.ndarray) -> list[Hypothesis]:
        """One frame's animals ``(n, n_keypoints, >= 2)``."""
        self.n_frames += 1
        poses = np.asarray(poses, dtype=np.float64)[..., :2]
        refs = [t.predict().reshape(-1, 2) for t in self.tracks]
        cost = np.zeros((len(poses), len(refs)))
        for i, pose in enumerate(poses):
            for j, ref in enumerate(refs):
                cost[i, j] = directed_hausdorff(pose, ref)
        rows, cols = linear_sum_assignment(cost) if refs else (np.array([], int),) * 2
        animal_of = dict(zip(cols.tolist(), rows.tolist(), strict=True))
        for trk, det in animal_of.items():
            self.tracks[trk].update(poses[det])
        for det in sorted(set(range(len(poses))) - set(rows.tolist())):
            animal_of[len(self.tracks)] = det
            self.tracks.append(SkeletonTrack(next(self._ids), poses[det]))
        hyps = []
        for index in reversed(range(len(self.tracks))):
            trk = self.tracks[index]
            if trk.time_since_update > self.max_age:
                self.tracks.pop(index)
            elif index in animal_of:
                hyps.append(Hypothesis(trk.id, animal_of[index]))
            else:
                hyps.append(Hypothesis(trk.id, -1, trk.pose))
        return hyps
