"""Triangulation: 2D points of several calibrated views → 3D points.

:func:`triangulate_points` is the linear (DLT) method over any number of cameras, as
Anipose does it: each view's pixels are undistorted to normalized coordinates
(:meth:`Camera.undistort`) and give two rows ``u·P₃ − P₁``, ``v·P₃ − P₂`` of the
extrinsics ``P = [R | t]``; the point is the least singular vector of the stacked rows.
All points are solved at once (``np.linalg.svd`` on an ``(N, 2C, 4)`` stack). The world is
shifted and scaled to the rig first, so that millimetre rigs are as well conditioned as
unit ones. A point seen by fewer than two cameras is NaN; NaN pixels (or ``mask`` False)
are not used. The quality of each point is the mean reprojection error (px, distortion
applied) over the cameras used, and their number.

:func:`triangulate_ransac` picks, for points seen by three or more cameras, the camera
pair whose triangulation has the most views within ``threshold_px`` (ties: the smaller
mean error), then triangulates again from those views only.

:func:`triangulate_stereo_dlc` is DLC 2.3's method for one camera pair: undistort and
rectify with ``cv2.undistortPoints(R=R_i, P=P_i)``, ``cv2.triangulatePoints(P1, P2)``,
divide by ``w``; its points are in DLC's frame (camera 1 rectified,
:func:`dlcflow.geometry.stereo.world_to_rectified`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from dlcflow.data.cameras import CameraGroup

__all__ = [
    "Triangulation",
    "reprojection_errors",
    "triangulate_points",
    "triangulate_ransac",
    "triangulate_stereo_dlc",
]


@dataclass(frozen=True)
class Triangulation:
    """Triangulated points ``(..., 3)`` (NaN where fewer than two views), their mean
    reprojection error ``(...)`` in pixels over the views used, and the number of views
    used ``(...)``."""

    points: np.ndarray
    error: np.ndarray
    ncams: np.ndarray


def _prepare(
    group: CameraGroup, pixels: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    px = np.asarray(pixels, dtype=np.float64)
    if px.ndim < 2 or px.shape[0] != len(group) or px.shape[-1] != 2:
        raise ValueError(f"pixels must be (n_cameras={len(group)}, ..., 2), got {px.shape}")
    shape = px.shape[1:-1]
    flat = px.reshape(len(group), -1, 2)
    used = np.isfinite(flat).all(axis=2)
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != px.shape[:-1]:
            raise ValueError(f"mask must have shape {px.shape[:-1]}, got {m.shape}")
        used &= m.reshape(len(group), -1)
    return flat, used, shape


def _conditioning(group: CameraGroup) -> np.ndarray:
    """``T`` (4 × 4) with ``X = T X'``: the world centred on the cameras and scaled by
    their spread, so that the DLT's columns have similar sizes."""
    centres = np.stack([cam.position for cam in group])
    centre = centres.mean(axis=0)
    scale = float(np.linalg.norm(centres - centre, axis=1).mean()) or 1.0
    t = np.eye(4)
    t[:3, :3] *= scale
    t[:3, 3] = centre
    return t


def _dlt(
    extrinsics: np.ndarray, norm: np.ndarray, used: np.ndarray, cond: np.ndarray
) -> np.ndarray:
    """DLT of normalized points ``norm`` (C, N, 2) with ``used`` (C, N) → (N, 3); NaN where
    fewer than two views are used."""
    n_cams, n = used.shape
    out = np.full((n, 3), np.nan)
    ok = used.sum(axis=0) >= 2
    if not ok.any():
        return out
    p = extrinsics @ cond  # (C, 3, 4)
    uv = np.where(used[..., None], norm, 0.0)[:, ok]  # (C, M, 2)
    w = used[:, ok].astype(np.float64)
    rows_u = (uv[..., 0:1] * p[:, None, 2, :] - p[:, None, 0, :]) * w[..., None]
    rows_v = (uv[..., 1:2] * p[:, None, 2, :] - p[:, None, 1, :]) * w[..., None]
    a = np.concatenate([rows_u, rows_v], axis=0).transpose(1, 0, 2)  # (M, 2C, 4)
    _, _, vh = np.linalg.svd(a, full_matrices=False)
    x = vh[:, -1, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        pts = x[:, :3] / x[:, 3:4]
    pts = pts @ cond[:3, :3].T + cond[:3, 3]
    out[ok] = pts
    return out


def reprojection_errors(group: CameraGroup, points: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Pixel distance ``(C, N)`` between each camera's projection of ``points`` (N, 3)
    and ``pixels`` (C, N, 2); NaN where either is missing."""
    proj = group.project(points)
    return np.linalg.norm(proj - pixels, axis=-1)


def _summary(
    errors: np.ndarray, used: np.ndarray, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    ncams = used.sum(axis=0)
    with np.errstate(invalid="ignore"):
        total = np.where(used, errors, 0.0).sum(axis=0)
        mean = total / np.maximum(ncams, 1)
    mean[~np.isfinite(points).all(axis=1)] = np.nan
    return mean, ncams


def _triangulate_flat(
    group: CameraGroup, flat: np.ndarray, used: np.ndarray, norm: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if norm is None:
        norm = group.undistort(flat)
    extr = np.stack([cam.extrinsic for cam in group])
    points = _dlt(extr, norm, used, _conditioning(group))
    errors = reprojection_errors(group, points, flat)
    return points, errors, norm


def triangulate_points(
    group: CameraGroup, pixels: np.ndarray, mask: np.ndarray | None = None
) -> Triangulation:
    """DLT over every camera that sees a point.

    ``pixels``: ``(C, ..., 2)`` in ``group``'s camera order (distorted image pixels, NaN
    where a view lacks the point); ``mask``: ``(C, ...)``, False for views not to use.
    Returns points ``(..., 3)``, their mean reprojection error (px) over the views used
    and the number of views used (``ncams``; a point with ``ncams < 2`` is NaN).
    """
    flat, used, shape = _prepare(group, pixels, mask)
    points, errors, _ = _triangulate_flat(group, flat, used)
    error, ncams = _summary(errors, used, points)
    return Triangulation(points.reshape(*shape, 3), error.reshape(shape), ncams.reshape(shape))


def triangulate_ransac(
    group: CameraGroup,
    pixels: np.ndarray,
    mask: np.ndarray | None = None,
    threshold_px: float = 10.0,
) -> Triangulation:
    """DLT from the views that agree, for points seen by three or more cameras.

    Every camera pair is triangulated (all points at once); for each point the pair whose
    3D point reprojects within ``threshold_px`` into the most views wins (ties: the
    smaller mean error of those views), and the point is triangulated again from those
    views (the pair itself if fewer than two). Points seen by two cameras are plain DLT.
    Same arguments and result as :func:`triangulate_points` (``ncams``: views kept).
    """
    flat, used, shape = _prepare(group, pixels, mask)
    points, errors, norm = _triangulate_flat(group, flat, used)
    seen = used.sum(axis=0)
    many = seen >= 3
    if many.any() and len(group) >= 3:
        n = int(many.sum())
        best_count = np.full(n, -1)
        best_err = np.full(n, np.inf)
        best_inliers = np.zeros((len(group), n), bool)
        sub_flat, sub_used, sub_norm = flat[:, many], used[:, many], norm[:, many]
        for i, j in itertools.combinations(range(len(group)), 2):
            pair = np.zeros_like(sub_used)
            pair[[i, j]] = sub_used[[i, j]]
            pts, errs, _ = _triangulate_flat(group, sub_flat, pair, sub_norm)
            with np.errstate(invalid="ignore"):
                inliers = sub_used & (errs <= threshold_px) & np.isfinite(pts).all(axis=1)
            count = inliers.sum(axis=0)
            with np.errstate(invalid="ignore"):
                err = np.where(inliers, errs, 0.0).sum(axis=0) / np.maximum(count, 1)
            better = (count > best_count) | ((count == best_count) & (err < best_err))
            better &= pair.sum(axis=0) >= 2
            best_count = np.where(better, count, best_count)
            best_err = np.where(better, err, best_err)
            best_inliers[:, better] = inliers[:, better]
            # a pair without two inliers still stands for itself
            fallback = better & (count < 2)
            best_inliers[:, fallback] = pair[:, fallback]
        keep = best_inliers
        pts, errs, _ = _triangulate_flat(group, sub_flat, keep, sub_norm)
        points[many] = pts
        errors[:, many] = errs
        used = used.copy()
        used[:, many] = keep
    error, ncams = _summary(errors, used, points)
    return Triangulation(points.reshape(*shape, 3), error.reshape(shape), ncams.reshape(shape))


def triangulate_stereo_dlc(
    stereo_entry: Mapping[str, Any], pts1: np.ndarray, pts2: np.ndarray
) -> np.ndarray:
    """DLC 2.3's ``triangulate`` of one camera pair: pixels ``(N, 2)`` of camera 1 and 2
    → points ``(N, 3)`` in DLC's frame (camera 1's rectified frame, units of the
    calibration). As DLC: the pixels go to float32, ``cv2.undistortPoints`` with
    ``R_i, P_i``, ``cv2.triangulatePoints(P1, P2)``, divided by ``w``. NaN in, NaN out."""
    a = np.asarray(pts1, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(pts2, dtype=np.float64).reshape(-1, 2)
    if a.shape != b.shape:
        raise ValueError(f"pts1 {a.shape} and pts2 {b.shape} differ")
    out = np.full((a.shape[0], 3), np.nan)
    ok = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    if not ok.any():
        return out
    rect = []
    for i, pts in ((1, a[ok]), (2, b[ok])):
        und = cv2.undistortPoints(
            src=pts.astype(np.float32).reshape(-1, 1, 2),
            cameraMatrix=np.asarray(stereo_entry[f"cameraMatrix{i}"], dtype=np.float64),
            distCoeffs=np.asarray(stereo_entry[f"distCoeffs{i}"], dtype=np.float64),
            R=np.asarray(stereo_entry[f"R{i}"], dtype=np.float64),
            P=np.asarray(stereo_entry[f"P{i}"], dtype=np.float64),
        )
        rect.append(und.reshape(-1, 2).T)
    p1 = np.asarray(stereo_entry["P1"], dtype=np.float64)[:3]
    p2 = np.asarray(stereo_entry["P2"], dtype=np.float64)[:3]
    x = cv2.triangulatePoints(p1, p2, rect[0], rect[1])
    out[ok] = (x[:3] / x[3]).T
    return out
