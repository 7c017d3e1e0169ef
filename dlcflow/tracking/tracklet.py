"""Tracklets: one animal's detections over a run of frames, as the stitching sees them.

A :class:`Tracklet` holds ``data`` ``(n, n_bodyparts, 3 or 4)`` (x, y, likelihood and,
when the tracker recorded one, the identity class) at sorted frame indices ``inds``. It
knows what DeepLabCut 2.3's stitching asks of a tracklet: its likelihood-weighted
centroid, its identity (the most frequent class), the time gap and the distance to
another tracklet, the overlap of their end boxes.

:func:`parse_tracklets` reads the tracklet dict of DLC's ``_el.pickle`` (``_bx``, ``_sk``):
``{tracklet id: {"frame0000": array (n_multibodyparts, 4)}, "single": {frame: array
(n_unique, 3)}, "header": columns}``, without changing it.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["NO_IDENTITY", "ParsedTracklets", "Tracklet", "TrackletError", "parse_tracklets"]

#: The identity of a tracklet that has none (DLC's value).
NO_IDENTITY = -1
_DIGITS = re.compile(r"\d+")


class TrackletError(ValueError):
    """Tracklet data that cannot be stitched; the message is one line naming the cause."""


class Tracklet:
    """Detections of one animal at frames ``inds`` (sorted on creation, stable for ties).

    ``key`` names the tracklet it came from (for messages and bookkeeping)."""

    def __init__(self, data: np.ndarray, inds: Sequence[int] | np.ndarray, key: Hashable = None):
        array = np.asarray(data, dtype=np.float64)
        frames = np.asarray(inds, dtype=np.int64).reshape(-1)
        if array.ndim != 3 or array.shape[-1] not in (3, 4):
            raise TrackletError(f"tracklet data of shape {array.shape}, not (frames, parts, 3|4)")
        if array.shape[0] != frames.size:
            raise TrackletError(f"{array.shape[0]} detections for {frames.size} frame indices")
        if frames.size > 1 and np.any(np.diff(frames) < 0):
            order = np.argsort(frames, kind="stable")
            frames, array = frames[order], array[order]
        self.data = array
        self.inds = frames
        self.key = key
        self._centroid: np.ndarray | None = None
        self._identity: int | None = None

    def __len__(self) -> int:
        return int(self.inds.size)

    def __repr__(self) -> str:
        return f"Tracklet({self.key!r}, frames {self.start}-{self.end}, {len(self)} detections)"

    @property
    def start(self) -> int:
        """The first frame."""
        return int(self.inds[0])

    @property
    def end(self) -> int:
        """The last frame."""
        return int(self.inds[-1])

    @property
    def xy(self) -> np.ndarray:
        """Positions, ``(n, n_bodyparts, 2)``."""
        return self.data[..., :2]

    @property
    def xyp(self) -> np.ndarray:
        """x, y and likelihood, ``(n, n_bodyparts, 3)`` (no identity)."""
        return self.data[..., :3]

    @property
    def centroid(self) -> np.ndarray:
        """The likelihood-weighted mean position of each frame, ``(n, 2)`` (NaN where no
        part has a likelihood)."""
        if self._centroid is None:
            like = self.data[..., 2:3]
            with np.errstate(invalid="ignore", divide="ignore"):
                total = np.nansum(like, axis=1)
                weighted = np.nansum(self.xy * like, axis=1)
                ok = total > 0
                self._centroid = np.where(ok, weighted / np.where(ok, total, 1), np.nan)
        return self._centroid

    @property
    def identity(self) -> int:
        """The most frequent identity class (the smallest of ties), or ``NO_IDENTITY``."""
        if self._identity is None:
            self._identity = NO_IDENTITY
            if self.data.shape[-1] == 4:
                ids = self.data[..., 3]
                ids = ids[np.isfinite(ids)]
                if ids.size:
                    values, counts = np.unique(ids, return_counts=True)
                    self._identity = int(values[np.argmax(counts)])
        return self._identity

    def is_continuous(self) -> bool:
        """Whether the tracklet has a detection at every frame from start to end."""
        return self.end - self.start + 1 == len(self)

    def overlaps(self, other: Tracklet) -> bool:
        """Whether the two share a frame."""
        if self.end < other.start or other.end < self.start:
            return False
        return bool(np.isin(self.inds, other.inds, assume_unique=True).any())

    def time_gap_to(self, other: Tracklet) -> int:
        """Frames from one's end to the other's start (0 if they share a frame)."""
        if self.overlaps(other):
            return 0
        if self.end < other.start:
            return other.start - self.end
        return self.start - other.end

    def distance_to(self, other: Tracklet) -> float:
        """Centroid distance: over shared frames their mean; otherwise from the end of the
        earlier tracklet to the start of the later one."""
        if self.overlaps(other):
            mine = self.centroid[np.isin(self.inds, other.inds)]
            theirs = other.centroid[np.isin(other.inds, self.inds)]
            return float(np.mean(np.linalg.norm(mine - theirs, axis=1)))
        if self.end < other.start:
            return float(np.linalg.norm(self.centroid[-1] - other.centroid[0]))
        return float(np.linalg.norm(self.centroid[0] - other.centroid[-1]))

    def box(self, index: int) -> np.ndarray:
        """The bounding box ``(x0, y0, x1, y1)`` of the detection at position ``index``."""
        xy = self.xy[index]
        if np.isnan(xy).any(axis=1).all():
            return np.full(4, np.nan)
        xy = xy[~np.isnan(xy).any(axis=1)]
        return np.concatenate([xy.min(axis=0), xy.max(axis=0)])

    def box_overlap_with(self, other: Tracklet) -> float:
        """Intersection over union of the boxes where the two meet (0 if they overlap in
        time or a box is degenerate)."""
        if self.overlaps(other):
            return 0.0
        first, second = (self, other) if self.end < other.start else (other, self)
        return _iou(first.box(-1), second.box(0))

    def joined(self, others: Sequence[Tracklet]) -> Tracklet:
        """This tracklet and ``others`` as one (frames sorted; the key is this one's)."""
        if not others:
            return self
        parts = [self, *others]
        if len({p.data.shape[1:] for p in parts}) > 1:
            width = min(p.data.shape[-1] for p in parts)
            parts_data = [p.data[..., :width] for p in parts]
        else:
            parts_data = [p.data for p in parts]
        return Tracklet(
            np.concatenate(parts_data), np.concatenate([p.inds for p in parts]), key=self.key
        )

    def valid(self) -> Tracklet | None:
        """The frames where some part has a position (None when there is none)."""
        keep = ~np.isnan(self.xy).all(axis=(1, 2))
        if not keep.any():
            return None
        if keep.all():
            return self
        return Tracklet(self.data[keep], self.inds[keep], key=self.key)

    def split_at_gaps(self) -> list[Tracklet]:
        """The runs of consecutive frames."""
        cuts = np.flatnonzero(np.diff(self.inds) != 1) + 1
        if not cuts.size:
            return [self]
        return [
            Tracklet(d, i, key=self.key)
            for d, i in zip(np.split(self.data, cuts), np.split(self.inds, cuts), strict=True)
        ]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes (0 when undefined)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    if not np.isfinite(union) or union <= 0 or not np.isfinite(inter):
        return 0.0
    return float(inter / union)


@dataclass(frozen=True)
class ParsedTracklets:
    """The tracklets of a tracklet dict (in its order), its unique parts and header."""

    tracklets: list[Tracklet]
    single: Tracklet | None
    header: Any
    n_bodyparts: int


def frame_index(key: Any) -> int:
    """The frame number of a frame key (``"frame0042"`` → 42; numbers as they are)."""
    if isinstance(key, str):
        found = _DIGITS.search(key)
        if found is None:
            raise TrackletError(f"frame key {key!r} holds no frame number")
        return int(found.group())
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return int(key)
    raise TrackletError(f"frame key {key!r} is not a frame number")


def _read_one(key: Hashable, frames: Any) -> Tracklet | None:
    """One tracklet of the dict (None when it has no frames)."""
    if not isinstance(frames, Mapping):
        raise TrackletError(f"tracklet {key!r} is a {type(frames).__name__}, not a dict of frames")
    if not frames:
        return None
    inds = [frame_index(k) for k in frames]
    try:
        data = np.asarray([np.asarray(v, dtype=np.float64) for v in frames.values()])
    except (TypeError, ValueError):
        shapes = "its frames hold arrays of different shapes"
        raise TrackletError(f"tracklet {key!r}: {shapes}") from None
    if data.ndim == 2:
        if data.shape[1] % 3:
            raise TrackletError(f"tracklet {key!r}: {data.shape[1]} values a frame, not 3 a part")
        data = data.reshape(data.shape[0], data.shape[1] // 3, 3)
    try:
        return Tracklet(data, inds, key=key)
    except TrackletError as err:
        raise TrackletError(f"tracklet {key!r}: {err}") from None


def parse_tracklets(tracklets: Mapping[Any, Any]) -> ParsedTracklets:
    """The :class:`Tracklet` objects of a tracklet dict (DLC's ``_el.pickle`` structure);
    the dict is left as it is. Raises :class:`TrackletError` (one line) on a malformed dict."""
    if not isinstance(tracklets, Mapping):
        raise TrackletError(f"tracklets must be a dict, not {type(tracklets).__name__}")
    found: list[Tracklet] = []
    single = None
    for key, frames in tracklets.items():
        if key == "header":
            continue
        tracklet = _read_one(key, frames)
        if tracklet is None:
            continue
        if key == "single":
            single = tracklet
        else:
            found.append(tracklet)
    widths = sorted({t.data.shape[1] for t in found})
    if len(widths) > 1:
        raise TrackletError(f"tracklets have different numbers of body parts: {widths}")
    return ParsedTracklets(found, single, tracklets.get("header"), widths[0] if widths else 0)
