"""Matching the individuals of a multi-animal project across camera views.

Each view's tracks name the animals in their own order; before triangulating, every
view's individuals are matched to the first view's. Per frame, the cost of pairing
individual ``i`` of the first view with individual ``j`` of view ``c`` is the symmetric
epipolar distance (px: the distance of each point to the epipolar line of the other, the
two added) averaged over the body parts both detect, with the fundamental matrix of the
camera pair on undistorted pixels; ``scipy.optimize.linear_sum_assignment`` pairs them.
The frames then vote: the permutation kept for the whole video is the assignment with
the most votes (as DLC's ``cross_view_match_dataframes``, which matches whole tracks of
two views, gives one permutation per video).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from dlcflow.data.cameras import Camera, CameraGroup
from dlcflow.geometry.stereo import fundamental_matrix

__all__ = ["epipolar_costs", "match_individuals", "symmetric_epipolar_distance"]

#: The cost of a pair with no body part seen in both views (px).
NO_OVERLAP = 1e6


def _undistorted_pixels(cam: Camera, pixels: np.ndarray) -> np.ndarray:
    """Pixels ``(..., 2)`` without lens distortion: ``K`` times the normalized points,
    homogeneous ``(..., 3)``."""
    norm = cam.undistort(pixels)
    ones = np.ones(norm.shape[:-1] + (1,))
    return np.concatenate([norm, ones], axis=-1) @ cam.matrix.T


def symmetric_epipolar_distance(f: np.ndarray, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """``d(x2, F x1) + d(x1, Fᵀ x2)`` (px) for homogeneous points ``(..., 3)``."""
    l2 = x1 @ f.T  # epipolar lines in image 2
    l1 = x2 @ f  # in image 1
    algebraic = np.abs(np.sum(x2 * l2, axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return algebraic / np.hypot(l2[..., 0], l2[..., 1]) + algebraic / np.hypot(
            l1[..., 0], l1[..., 1]
        )


def epipolar_costs(cam1: Camera, cam2: Camera, view1: np.ndarray, view2: np.ndarray) -> np.ndarray:
    """Costs ``(T, I1, I2)`` of pairing the individuals of two views, from their pixels
    ``(T, I, K, 2)`` (NaN: not seen): the symmetric epipolar distance averaged over the
    body parts both see; :data:`NO_OVERLAP` when they share none."""
    f = fundamental_matrix(cam1, cam2)
    h1 = _undistorted_pixels(cam1, view1)[:, :, None]  # T, I1, 1, K, 3
    h2 = _undistorted_pixels(cam2, view2)[:, None]  # T, 1, I2, K, 3
    d = symmetric_epipolar_distance(f, h1, h2)  # T, I1, I2, K
    seen = np.isfinite(d)
    count = seen.sum(axis=-1)
    total = np.where(seen, d, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cost = total / count
    cost[count == 0] = NO_OVERLAP
    return cost


def match_individuals(group: CameraGroup, pixels: np.ndarray) -> list[np.ndarray]:
    """For each view, the permutation ``perm`` (``(I,)``) such that individual ``perm[i]``
    of that view is individual ``i`` of the first view (``view[:, perm]`` reorders it).

    ``pixels``: ``(C, T, I, K, 2)`` in ``group``'s camera order, NaN where not seen.
    Frames where two individuals share no body part with any of the other view's do not
    vote; without any vote a view keeps its order.
    """
    px = np.asarray(pixels, dtype=np.float64)
    n_cams, _, n_ind = px.shape[:3]
    perms = [np.arange(n_ind)]
    for c in range(1, n_cams):
        cost = epipolar_costs(group.cameras[0], group.cameras[c], px[0], px[c])
        votes = np.zeros((n_ind, n_ind))
        for frame in cost:
            informative = (frame < NO_OVERLAP).any(axis=1)
            if informative.sum() < 1:
                continue
            rows, cols = linear_sum_assignment(frame)
            ok = frame[rows, cols] < NO_OVERLAP
            votes[rows[ok], cols[ok]] += 1
        rows, cols = linear_sum_assignment(-votes)
        perm = np.empty(n_ind, dtype=int)
        perm[rows] = cols
        perms.append(perm)
    return perms
