"""One camera's intrinsics from board detections: ``cv2.calibrateCamera``, as DLC does.

:func:`calibrate_intrinsics` takes the detections of one camera (any board of
:mod:`dlcflow.geometry.boards`; a ChArUco view may show some corners only) and returns the
camera (matrix, distortion ``k1 k2 p1 p2 k3``, image size; pose at the origin), the board's
pose in every image and each image's reprojection error: the mean distance (px) between
the found corners and the board's corners projected with the fitted camera.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from dlcflow.data.cameras import Camera
from dlcflow.geometry.boards import Board, Detection

__all__ = ["Intrinsics", "calibrate_intrinsics", "image_errors", "views"]


@dataclass(frozen=True, eq=False)
class Intrinsics:
    """What :func:`calibrate_intrinsics` found for one camera."""

    camera: Camera
    rms: float  # calibrateCamera's RMS reprojection error (px)
    images: tuple[str, ...]  # the images used, in order
    rvecs: np.ndarray  # (n, 3) board → camera, per image
    tvecs: np.ndarray  # (n, 3)
    errors: np.ndarray  # (n,) mean reprojection error per image (px)
    objpoints: tuple[np.ndarray, ...]  # per image (k, 3) float32, as DLC keeps them
    imgpoints: tuple[np.ndarray, ...]  # per image (k, 1, 2) float32

    @property
    def mean_error(self) -> float:
        return float(np.mean(self.errors))


def views(board: Board, detection: Detection) -> tuple[np.ndarray, np.ndarray]:
    """The object points ``(k, 3)`` and image points ``(k, 1, 2)`` (float32, OpenCV's
    layout) of one detection."""
    obj = board.object_points[detection.ids].astype(np.float32)
    img = detection.corners.astype(np.float32).reshape(-1, 1, 2)
    return obj, img


def image_errors(
    camera: Camera,
    objpoints: Sequence[np.ndarray],
    imgpoints: Sequence[np.ndarray],
    rvecs: np.ndarray,
    tvecs: np.ndarray,
) -> np.ndarray:
    """Mean reprojection error (px) of each image, board poses ``rvecs, tvecs`` (board →
    camera)."""
    out = np.empty(len(objpoints))
    for i, (obj, img) in enumerate(zip(objpoints, imgpoints, strict=True)):
        proj, _ = cv2.projectPoints(
            np.asarray(obj, dtype=np.float64),
            np.asarray(rvecs[i], dtype=np.float64),
            np.asarray(tvecs[i], dtype=np.float64),
            camera.matrix,
            camera.dist,
        )
        out[i] = float(np.linalg.norm(proj.reshape(-1, 2) - img.reshape(-1, 2), axis=1).mean())
    return out


def calibrate_intrinsics(
    name: str,
    size: tuple[int, int],
    detections: Mapping[str, Detection],
    board: Board,
    flags: int = 0,
) -> Intrinsics:
    """Calibrate camera ``name`` (images of ``size`` (w, h)) from its ``detections``
    ``{image: Detection}`` (``cv2.calibrateCamera``, DLC's default model: 5 distortion
    coefficients, ``flags`` 0)."""
    images = tuple(detections)
    if len(images) < 3:
        raise ValueError(f"camera {name}: {len(images)} views of the board, 3 or more needed")
    objpoints, imgpoints = zip(*(views(board, detections[i]) for i in images), strict=True)
    w, h = int(size[0]), int(size[1])
    rms, mtx, dist, rvecs, tvecs = cv2.calibrateCamera(
        list(objpoints), list(imgpoints), (w, h), None, None, flags=flags
    )
    camera = Camera(name, (w, h), mtx, np.asarray(dist).reshape(-1)[:5])
    rv = np.asarray(rvecs, dtype=np.float64).reshape(-1, 3)
    tv = np.asarray(tvecs, dtype=np.float64).reshape(-1, 3)
    return Intrinsics(
        camera=camera,
        rms=float(rms),
        images=images,
        rvecs=rv,
        tvecs=tv,
        errors=image_errors(camera, objpoints, imgpoints, rv, tv),
        objpoints=tuple(objpoints),
        imgpoints=tuple(imgpoints),
    )
