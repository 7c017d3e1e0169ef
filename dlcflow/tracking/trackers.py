"""Assemblies → tracklets: DLC 2.3's ``convert_detections2tracklets`` on assemblies.

:func:`build_tracklets` feeds the frames of an ``_assemblies.pickle`` structure, in frame
order, to one of the SORT trackers of :mod:`dlcflow.tracking.sort` (``ellipse``, ``box``,
``skeleton``) and files each animal of each frame under the tracklet it was matched to,
giving DLC's tracklet pickle structure (``_el.pickle``, ``_bx.pickle``, ``_sk.pickle``)::

    {"single": {frame index (int): array (n_unique, 3)},      # projects with unique parts
     tracklet id (int): {"frame000": array (n_multibodyparts, 4) x, y, likelihood, id,
                         ...},                                # in order of first appearance
     ...,
     "header": pd.MultiIndex (scorer, bodyparts, coords)}     # all body parts, x/y/likelihood

Frame keys are DLC's (``"frame"`` + the index zero-padded to ``ceil(log10(nframes))``
digits, the keys of the video's ``_full.pickle``); the arrays are the assemblies
themselves (float64), except the skeleton tracker's predicted frames: keypoints predicted
by the tracker, likelihood 1, id -1, as DLC reports them. DLC's ids are ``numpy.int64``;
these are ``int`` (equal and hashing alike).

An animal that starts a tracklet after the first ``min_hits`` frames is in none (the
ellipse and box trackers report a tracklet from its ``min_hits``-th match on), as in DLC's
files. As DLC: a project with a single multi-animal body part is tracked with boxes whatever
the method (with a warning), with ``boundingboxslack`` at least 40 px; with
``topktoretain == 1`` every frame's first assembly goes to tracklet 0, untracked.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dlcflow.io.fullpickle import frame_key
from dlcflow.tracking.sort import (
    Hypothesis,
    SortBox,
    SortEllipse,
    SortSkeleton,
    boxes_from_keypoints,
)

__all__ = [
    "TRACK_METHODS",
    "TrackingError",
    "TrackingParams",
    "build_tracklets",
    "tracklet_header",
]

#: The trackers (DLC's ``TRACK_METHODS`` without the transformer, a PyTorch re-identifier).
TRACK_METHODS = ("ellipse", "box", "skeleton")

#: DLC's IoU threshold of the box tracker when inference_cfg has no ``oks_threshold``.
BOX_OKS_THRESHOLD = 0.3
#: The slack DLC forces on single-keypoint projects, which can only be tracked as boxes.
SINGLE_POINT_SLACK = 40.0


class TrackingError(ValueError):
    """Settings or assemblies that cannot be tracked; the message is one line."""


@dataclass(frozen=True)
class TrackingParams:
    """The trackers' settings, with the defaults of DLC's inference_cfg.yaml.

    ``max_age``: frames a tracklet may go unmatched before it ends; ``min_hits``: matches
    in a row before a tracklet is reported (ellipse, box); ``iou_threshold``: least
    ellipse similarity of a match; ``boundingboxslack``: px added around keypoint boxes;
    ``oks_threshold``: least box IoU of a match (None: DLC's 0.3; the skeleton tracker
    uses none); ``topktoretain``: animals per frame (1: one untracked tracklet; 0: not
    set); ``sd``: the ellipse's size in standard deviations.
    """

    max_age: int = 1
    min_hits: int = 1
    iou_threshold: float = 0.6
    boundingboxslack: float = 0.0
    oks_threshold: float | None = None
    topktoretain: int = 0
    sd: float = 2.0

    def __post_init__(self) -> None:
        for name in ("max_age", "min_hits", "topktoretain"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise TrackingError(f"{name} must be an integer >= 0, not {value!r}")
        for name in ("iou_threshold", "oks_threshold"):
            value = getattr(self, name)
            if value is not None and not (_is_number(value) and 0 <= value <= 1):
                raise TrackingError(f"{name} must be a number in [0, 1], not {value!r}")
        for name in ("boundingboxslack", "sd"):
            value = getattr(self, name)
            if not (_is_number(value) and value >= 0):
                raise TrackingError(f"{name} must be a number >= 0, not {value!r}")

    @property
    def box_threshold(self) -> float:
        """The box tracker's IoU threshold (``oks_threshold`` or DLC's 0.3)."""
        return BOX_OKS_THRESHOLD if self.oks_threshold is None else float(self.oks_threshold)

    @classmethod
    def from_inference_cfg(cls, cfg: Mapping[str, Any], **overrides: Any) -> TrackingParams:
        """The settings of an inference_cfg.yaml mapping (its tracker keys; missing ones
        take DLC's defaults), then ``overrides`` (field names)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TrackingError(f"unknown tracking setting(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name in names:
            if name in cfg and cfg[name] is not None:
                values[name] = cfg[name]
        if not isinstance(values.get("topktoretain", 0), int):
            values.pop("topktoretain")  # DLC's template placeholder, never filled in
        values.update(overrides)
        return cls(**values)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)


def tracklet_header(scorer: str, bodyparts: Iterable[str]) -> pd.MultiIndex:
    """DLC's tracklet header: ``scorer`` × each body part (multi-animal ones, then the
    unique ones, as DLC's ``all_joints_names``) × ``x, y, likelihood``."""
    return pd.MultiIndex.from_product(
        [[scorer], list(bodyparts), ["x", "y", "likelihood"]],
        names=["scorer", "bodyparts", "coords"],
    )


def _frames(assemblies: Mapping[Any, Any]) -> dict[int, np.ndarray]:
    """The assemblies by frame index, each ``(n, n_multibodyparts, 4)`` float64, without
    animals whose keypoints are all missing; checked for one shape."""
    frames: dict[int, np.ndarray] = {}
    n_parts = None
    for key, value in assemblies.items():
        if key == "single":
            continue
        if isinstance(key, bool) or not isinstance(key, int | np.integer):
            raise TrackingError(f"assemblies: frame key {key!r} is not a frame index")
        arrays = [np.asarray(a, dtype=np.float64) for a in value]
        if not arrays:
            continue
        if any(a.ndim != 2 or a.shape[1] < 3 for a in arrays):
            raise TrackingError(f"assemblies: frame {key} holds arrays that are not (n, >= 3)")
        stack = (
            np.stack([a[:, :4] for a in arrays]) if len({a.shape for a in arrays}) == 1 else None
        )
        if stack is None or (n_parts is not None and stack.shape[1] != n_parts):
            raise TrackingError(f"assemblies: frame {key} has animals of another size")
        n_parts = stack.shape[1]
        if stack.shape[2] == 3:
            stack = np.concatenate([stack, np.full(stack.shape[:2] + (1,), -1.0)], axis=2)
        stack = stack[~np.isnan(stack[..., :2]).all(axis=(1, 2))]
        if len(stack):
            frames[int(key)] = stack
    return dict(sorted(frames.items()))


def build_tracklets(
    assemblies: Mapping[Any, Any],
    method: str,
    params: TrackingParams,
    header: pd.MultiIndex | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    nframes: int | None = None,
) -> dict[Any, Any]:
    """Track the animals of DLC's ``_assemblies.pickle`` structure (``{frame index:
    [array (n_multibodyparts, 4)] or array (n, n_multibodyparts, 4)}`` + ``"single"``)
    with the ``method`` tracker; returns DLC's tracklet structure (module docstring).

    ``header``: stored under ``"header"`` (:func:`tracklet_header`; none when None);
    ``nframes``: the video's frame count, for the width of the frame keys (default: the
    last frame + 1); ``progress(done, total)`` is called after each frame.
    """
    if method not in TRACK_METHODS:
        raise TrackingError(f"unknown track_method {method!r}; known: {', '.join(TRACK_METHODS)}")
    frames = _frames(assemblies)
    single = assemblies.get("single")
    last = max([*frames, *(single or {})], default=-1)
    nframes = int(nframes) if nframes is not None else last + 1
    if last >= nframes:
        raise TrackingError(f"assemblies: frame {last} beyond a video of {nframes} frames")
    n_parts = next(iter(frames.values())).shape[1] if frames else 0

    tracklets: dict[Any, Any] = {}
    n_unique = (
        len(header.get_level_values("bodyparts").unique()) - n_parts if header is not None else 0
    )
    if single is not None or (frames and n_unique > 0):
        tracklets["single"] = {int(k): np.asarray(v) for k, v in sorted((single or {}).items())}

    slack = float(params.boundingboxslack)
    if n_parts == 1 and method != "box":
        warnings.warn(
            f"one multi-animal body part: the {method} tracker needs more, tracking boxes",
            stacklevel=2,
        )
        method = "box"
    if n_parts == 1:
        slack = max(slack, SINGLE_POINT_SLACK)

    tracker: SortEllipse | SortBox | SortSkeleton
    if method == "ellipse":
        tracker = SortEllipse(params.max_age, params.min_hits, params.iou_threshold, params.sd)
    elif method == "box":
        tracker = SortBox(params.max_age, params.min_hits, params.box_threshold)
    else:
        tracker = SortSkeleton(params.max_age)

    for done, (index, animals) in enumerate(frames.items(), start=1):
        key = frame_key(index, nframes)
        if params.topktoretain == 1:
            hyps = [Hypothesis(0, 0)]
        elif isinstance(tracker, SortBox):
            hyps = tracker.track(boxes_from_keypoints(animals, slack))
        else:
            hyps = tracker.track(animals[..., :2])
        for hyp in hyps:
            if hyp.animal >= 0:
                row = animals[hyp.animal].copy()
            else:
                assert hyp.predicted is not None
                row = np.column_stack(
                    [hyp.predicted, np.ones(len(hyp.predicted)), np.full(len(hyp.predicted), -1.0)]
                )
            tracklets.setdefault(int(hyp.tracklet), {})[key] = row
        if progress is not None:
            progress(done, len(frames))
    if header is not None:
        tracklets["header"] = header
    return tracklets
