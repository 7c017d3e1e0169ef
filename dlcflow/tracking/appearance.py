"""Appearance for re-identification (Lauer et al. 2022), on arrays and tracklets.

The three pieces that DeepLabCut's ``transformer_reID`` needs around its network, without
the network itself (that is :mod:`dlcflow.training.reidnet`):

* :func:`keypoint_features`: a feature map ``(height, width, channels)`` sampled
  bilinearly (SciPy ``map_coordinates``) at one detection's keypoints, ``(n_keypoints,
  channels)``: the network's backbone map (``stride`` pixels per cell) or, for tests, an
  image itself (``stride`` 1);
* :func:`mine_triplets`: anchor and positive from one tracklet, the negative from a
  tracklet that shares frames with it (so another animal);
* :func:`appearance_weight`: the stitching weight plus ``strength`` times the cosine
  dissimilarity of the two tracklets' mean embeddings near the link (the last frames of
  the earlier one, the first of the later one). ``strength`` 0 leaves the weight as is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.ndimage import map_coordinates

from dlcflow.tracking.stitchgraph import WeightFunc, distance_weight
from dlcflow.tracking.tracklet import Tracklet

__all__ = [
    "Embedder",
    "Triplet",
    "appearance_weight",
    "keypoint_features",
    "mine_triplets",
]

#: One triplet: ``((tracklet, frame) anchor, (tracklet, frame) positive, (tracklet, frame)
#: negative)``, tracklets as indices into the list given to :func:`mine_triplets`.
Triplet = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
#: ``embed(frames, xy)``: embeddings ``(n, dim)`` of the detections ``xy`` ``(n, parts, 2)``
#: at the video's frames ``frames`` ``(n,)``.
Embedder = Callable[[np.ndarray, np.ndarray], np.ndarray]


def keypoint_features(feature_map: np.ndarray, xy: np.ndarray, stride: float = 1.0) -> np.ndarray:
    """``feature_map`` ``(height, width, channels)`` sampled bilinearly at ``xy``
    ``(n_keypoints, 2)`` image pixels (cell centres at ``(i + 0.5) * stride - 0.5``);
    points outside the map take its nearest edge value, missing (NaN) points zeros."""
    fmap = np.asarray(feature_map, dtype=np.float32)
    points = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if fmap.ndim != 3:
        raise ValueError(f"a feature map of shape {fmap.shape}, not (height, width, channels)")
    known = np.all(np.isfinite(points), axis=1)
    out = np.zeros((points.shape[0], fmap.shape[2]), dtype=np.float32)
    if not known.any():
        return out
    cells = (points[known] + 0.5) / float(stride) - 0.5
    coords = np.stack([cells[:, 1], cells[:, 0]])
    for c in range(fmap.shape[2]):
        out[known, c] = map_coordinates(fmap[..., c], coords, order=1, mode="nearest")
    return out


def mine_triplets(tracklets: Sequence[Tracklet], n_triplets: int, seed: int = 0) -> list[Triplet]:
    """Up to ``n_triplets`` triplets: a random tracklet that shares frames with another,
    two of its frames (anchor, positive) and a frame of an overlapping tracklet
    (negative), drawn with ``numpy.random.default_rng(seed)``. Empty when no two
    tracklets share a frame."""
    rng = np.random.default_rng(seed)
    frames = [set(t.inds.tolist()) for t in tracklets]
    partners = [
        [j for j in range(len(tracklets)) if j != i and frames[i] & frames[j]]
        for i in range(len(tracklets))
    ]
    anchors = [i for i, p in enumerate(partners) if p and len(tracklets[i]) > 1]
    triplets: list[Triplet] = []
    if not anchors:
        return triplets
    for _ in range(int(n_triplets)):
        i = anchors[rng.integers(len(anchors))]
        j = partners[i][rng.integers(len(partners[i]))]
        a, p = rng.choice(tracklets[i].inds, size=2, replace=False)
        n = rng.choice(tracklets[j].inds)
        triplets.append(((i, int(a)), (i, int(p)), (j, int(n))))
    return triplets


def _mean_embedding(embed: Embedder, tracklet: Tracklet, at_end: bool, window: int) -> np.ndarray:
    part = slice(-window, None) if at_end else slice(0, window)
    vectors = np.asarray(embed(tracklet.inds[part], tracklet.xy[part]), dtype=np.float64)
    mean = vectors.mean(axis=0)
    norm = np.linalg.norm(mean)
    return mean / norm if norm > 0 else mean


def appearance_weight(
    embed: Embedder,
    strength: float = 0.0,
    base: WeightFunc = distance_weight,
    window: int = 5,
) -> WeightFunc:
    """``base(earlier, later) + strength * (1 - cosine similarity)`` of the two tracklets'
    mean embeddings over ``window`` frames beside the gap (``strength`` in the units of
    ``base``: pixels for DLC's distance weight). Embeddings are computed once per
    tracklet end."""
    if strength < 0:
        raise ValueError(f"appearance strength must be at least 0, not {strength}")
    if strength == 0:
        return base
    cache: dict[tuple[int, bool], tuple[Tracklet, np.ndarray]] = {}

    def ends(tracklet: Tracklet, at_end: bool) -> np.ndarray:
        key = (id(tracklet), at_end)  # the tracklet is kept with it, so its id stays unique
        if key not in cache:
            cache[key] = (tracklet, _mean_embedding(embed, tracklet, at_end, window))
        return cache[key][1]

    def weight(first: Tracklet, second: Tracklet) -> float:
        earlier, later = (first, second) if first.end <= second.start else (second, first)
        similarity = float(np.dot(ends(earlier, True), ends(later, False)))
        return base(first, second) + strength * (1.0 - similarity)

    return weight
