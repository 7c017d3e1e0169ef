"""Two-camera geometry: the relative pose of a camera pair, its fundamental matrix, and
DLC 2.3's rectified-stereo parameters (one entry of ``stereo_params.pickle``).

DLC's ``calibrate_cameras`` stores per pair ``cameraMatrix1/2``, ``distCoeffs1/2``, ``R``,
``T`` (camera 2 from camera 1: ``x2 = R x1 + T``), ``E``, ``F`` and what
``cv2.stereoRectify`` makes of them (``R1, R2, P1, P2, Q, roi1, roi2``), plus
``image_shape`` (``[(w, h) of camera 1, (w, h) of camera 2]``). DLC triangulates in the
rectified frame of camera 1: a point ``X`` of camera 1's frame is ``R1 @ X`` there
(:func:`world_to_rectified`).

DLC passes the image size to ``stereoRectify`` as ``(h, w)`` where OpenCV reads ``(w,
h)``; :func:`stereo_entry` passes ``(w, h)``. The size only changes the scale of ``P1,
P2`` (the rectified pixels), not the triangulated points.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from dlcflow.data.cameras import Camera

__all__ = [
    "fundamental_matrix",
    "relative_pose",
    "rectified_to_world",
    "skew",
    "stereo_entry",
    "world_to_rectified",
]


def skew(v: np.ndarray) -> np.ndarray:
    """The cross-product matrix ``[v]x`` (3 × 3)."""
    x, y, z = np.asarray(v, dtype=np.float64).reshape(3)
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def relative_pose(cam1: Camera, cam2: Camera) -> tuple[np.ndarray, np.ndarray]:
    """``(R, T)`` of camera 2 in camera 1's frame: ``x2 = R x1 + T`` (``stereoCalibrate``'s)."""
    r1, r2 = cam1.rotation, cam2.rotation
    rot = r2 @ r1.T
    return rot, cam2.tvec - rot @ cam1.tvec


def fundamental_matrix(cam1: Camera, cam2: Camera) -> np.ndarray:
    """``F`` with ``x2ᵀ F x1 = 0`` for undistorted pixels (``K`` times the normalized
    coordinates) of the two cameras, scaled to ``‖F‖ = 1``."""
    rot, t = relative_pose(cam1, cam2)
    essential = skew(t) @ rot
    f = np.linalg.inv(cam2.matrix).T @ essential @ np.linalg.inv(cam1.matrix)
    return f / np.linalg.norm(f)


def stereo_entry(cam1: Camera, cam2: Camera, alpha: float = 0.4) -> dict[str, Any]:
    """DLC's ``stereo_params.pickle`` entry of a camera pair (``"<cam1>-<cam2>"``), from
    two calibrated cameras: their relative pose and ``cv2.stereoRectify`` with ``alpha``
    (DLC's ``calibrate_cameras`` default 0.4; 0 keeps only valid pixels, 1 all)."""
    rot, t = relative_pose(cam1, cam2)
    essential = skew(t) @ rot
    fundamental = np.linalg.inv(cam2.matrix).T @ essential @ np.linalg.inv(cam1.matrix)
    fundamental = fundamental / fundamental[2, 2] if abs(fundamental[2, 2]) > 1e-12 else fundamental
    r1, r2, p1, p2, q, roi1, roi2 = cv2.stereoRectify(
        cam1.matrix,
        cam1.dist.reshape(1, 5),
        cam2.matrix,
        cam2.dist.reshape(1, 5),
        tuple(int(v) for v in cam1.size),
        rot,
        t.reshape(3, 1),
        alpha=float(alpha),
    )
    return {
        "cameraMatrix1": cam1.matrix.copy(),
        "cameraMatrix2": cam2.matrix.copy(),
        "distCoeffs1": cam1.dist.reshape(1, 5).copy(),
        "distCoeffs2": cam2.dist.reshape(1, 5).copy(),
        "R": rot,
        "T": t.reshape(3, 1),
        "E": essential,
        "F": fundamental,
        "R1": r1,
        "R2": r2,
        "P1": p1,
        "P2": p2,
        "roi1": tuple(int(v) for v in roi1),
        "roi2": tuple(int(v) for v in roi2),
        "Q": q,
        "image_shape": [tuple(cam1.size), tuple(cam2.size)],
    }


def world_to_rectified(points: np.ndarray, cam1: Camera, r1: np.ndarray) -> np.ndarray:
    """World points ``(..., 3)`` in DLC's frame: camera 1's rectified frame, ``R1 (R X + t)``."""
    return cam1.camera_points(points) @ np.asarray(r1, dtype=np.float64).T


def rectified_to_world(points: np.ndarray, cam1: Camera, r1: np.ndarray) -> np.ndarray:
    """The inverse of :func:`world_to_rectified`."""
    in_cam = np.asarray(points, dtype=np.float64) @ np.asarray(r1, dtype=np.float64)
    return (in_cam - cam1.tvec) @ cam1.rotation
