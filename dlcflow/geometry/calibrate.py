"""One camera's intrinsics from board detections (``cv2.calibrateCamera``, as DLC 2.3).

:func:`calibrate_intrinsics` fits ``K`` and ``k1 k2 p1 p2 k3`` to the board corners found in
a camera's images and gives each image's reprojection error (the mean distance, in
pixels, between a found corner and the board's corner projected at that image's pose).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from dlcflow.geometry.boards import Board, Detection

__all__ = ["CalibrationError", "Intrinsics", "calibrate_intrinsics", "reprojection_errors"]


class CalibrationError(ValueError):
    """Calibration input that cannot be used; the one-line message names file and cause."""


@dataclass(frozen=True, eq=False)
class Intrinsics:
    """A camera's fitted intrinsics and the board poses (board → camera) of its images."""

    matrix: np.ndarray
    dist: np.ndarray
    rms: float  # calibrateCamera's RMS error (px)
    rvecs: dict[str, np.ndarray]
    tvecs: dict[str, np.ndarray]
    errors: dict[str, float]  # image → mean reprojection error (px)


def _points(board: Board, det: Detection) -> tuple[np.ndarray, np.ndarray]:
    obj = board.object_points[det.ids].astype(np.float32).reshape(-1, 1, 3)
    img = det.corners.astype(np.float32).reshape(-1, 1, 2)
    return obj, img


def reprojection_errors(
    board: Board,
    detections: Mapping[str, Detection],
    matrix: np.ndarray,
    dist: np.ndarray,
    rvecs: Mapping[str, np.ndarray],
    tvecs: Mapping[str, np.ndarray],
) -> dict[str, float]:
    """Per image, the mean distance (px) between found and reprojected corners."""
    out = {}
    for name, det in detections.items():
        proj, _ = cv2.projectPoints(
            board.object_points[det.ids], rvecs[name], tvecs[name], matrix, dist
        )
        out[name] = float(np.linalg.norm(proj.reshape(-1, 2) - det.corners, axis=1).mean())
    return out


def calibrate_intrinsics(
    board: Board, detections: Mapping[str, Detection], size: tuple[int, int]
) -> Intrinsics:
    """Fit one camera's intrinsics to ``detections`` (image name → corners) of images of
    ``size`` ``(w, h)``; three or more images needed."""
    names = list(detections)
    if len(names) < 3:
        raise CalibrationError(f"{len(names)} usable images; 3 or more are needed to calibrate")
    objs, imgs = zip(*(_points(board, detections[n]) for n in names), strict=True)
    rms, matrix, dist, rvecs, tvecs = cv2.calibrateCamera(
        list(objs), list(imgs), (int(size[0]), int(size[1])), None, None
    )
    rv = {n: np.asarray(r, dtype=np.float64).reshape(3) for n, r in zip(names, rvecs, strict=True)}
    tv = {n: np.asarray(t, dtype=np.float64).reshape(3) for n, t in zip(names, tvecs, strict=True)}
    dist = np.asarray(dist, dtype=np.float64).reshape(-1)[:5]
    errors = reprojection_errors(board, detections, matrix, dist, rv, tv)
    return Intrinsics(np.asarray(matrix, dtype=np.float64), dist, float(rms), rv, tv, errors)
