"""Calibrated cameras: OpenCV's pinhole model with distortion, and a rig of them.

A :class:`Camera` maps world points to pixels the way ``cv2.projectPoints`` does: the world
point ``X`` goes to the camera frame as ``R @ X + t`` (``R`` from the Rodrigues vector
``rvec``), is divided by its depth, distorted by ``dist`` (``k1, k2, p1, p2, k3``) and
mapped through the camera matrix ``K``. Pixel coordinates follow DeepLabCut: ``x`` the
column, ``y`` the row, pixel centres at integers. Units of ``tvec`` are the world's (mm
when the calibration board's square size is given in mm).

A :class:`CameraGroup` is an ordered rig; its order is the order of the 3D project's
``camera_names``. Anipose's ``calibration.toml`` and DLC's pickles are read and written by
:mod:`dlcflow.io.calibration`; this module knows nothing of files.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

__all__ = ["Camera", "CameraGroup"]


def _vector(values: object, n: int, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size != n:
        raise ValueError(f"{what} needs {n} numbers, got {arr.size}")
    return arr


@dataclass(frozen=True, eq=False)
class Camera:
    """One calibrated camera: intrinsics (``matrix``, ``dist``, image ``size``) and its
    pose (``rvec``, ``tvec``: world → camera)."""

    name: str
    size: tuple[int, int]  # (width, height) in pixels
    matrix: np.ndarray  # 3 × 3
    dist: np.ndarray = field(default_factory=lambda: np.zeros(5))  # k1 k2 p1 p2 k3
    rvec: np.ndarray = field(default_factory=lambda: np.zeros(3))
    tvec: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self) -> None:
        matrix = np.asarray(self.matrix, dtype=np.float64)
        if matrix.shape != (3, 3):
            raise ValueError(f"camera {self.name}: matrix must be 3 × 3, got {matrix.shape}")
        dist = np.zeros(5)
        given = np.asarray(self.dist, dtype=np.float64).reshape(-1)[:5]
        dist[: given.size] = given
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "dist", dist)
        object.__setattr__(self, "rvec", _vector(self.rvec, 3, f"camera {self.name}: rvec"))
        object.__setattr__(self, "tvec", _vector(self.tvec, 3, f"camera {self.name}: tvec"))
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))

    @property
    def rotation(self) -> np.ndarray:
        """``R`` (3 × 3), world → camera."""
        return cv2.Rodrigues(self.rvec)[0]

    @property
    def extrinsic(self) -> np.ndarray:
        """``[R | t]`` (3 × 4)."""
        return np.hstack([self.rotation, self.tvec[:, None]])

    @property
    def projection(self) -> np.ndarray:
        """``K [R | t]`` (3 × 4), for points already undistorted to pixels."""
        return self.matrix @ self.extrinsic

    @property
    def position(self) -> np.ndarray:
        """The camera centre in world coordinates, ``-Rᵀ t``."""
        return -self.rotation.T @ self.tvec

    @property
    def focal(self) -> tuple[float, float]:
        return float(self.matrix[0, 0]), float(self.matrix[1, 1])

    @property
    def principal_point(self) -> tuple[float, float]:
        return float(self.matrix[0, 2]), float(self.matrix[1, 2])

    def with_pose(self, rvec: object, tvec: object) -> Camera:
        return replace(self, rvec=np.asarray(rvec), tvec=np.asarray(tvec))

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` → pixels ``(..., 2)``, distortion applied; a NaN
        point stays NaN."""
        pts = np.asarray(points, dtype=np.float64)
        flat = pts.reshape(-1, 3)
        out = np.full((flat.shape[0], 2), np.nan)
        ok = np.isfinite(flat).all(axis=1)
        if ok.any():
            img, _ = cv2.projectPoints(flat[ok], self.rvec, self.tvec, self.matrix, self.dist)
            out[ok] = img.reshape(-1, 2)
        return out.reshape(pts.shape[:-1] + (2,))

    def camera_points(self, points: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` in this camera's frame (``z`` is the depth)."""
        pts = np.asarray(points, dtype=np.float64)
        return pts @ self.rotation.T + self.tvec

    def undistort(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels ``(..., 2)`` → normalized image coordinates ``(..., 2)`` (the ray
        ``(u, v, 1)`` in the camera frame); a NaN point stays NaN."""
        px = np.asarray(pixels, dtype=np.float64)
        flat = px.reshape(-1, 2)
        out = np.full_like(flat, np.nan)
        ok = np.isfinite(flat).all(axis=1)
        if ok.any():
            und = cv2.undistortPoints(flat[ok].reshape(-1, 1, 2), self.matrix, self.dist)
            out[ok] = und.reshape(-1, 2)
        return out.reshape(px.shape)


@dataclass(frozen=True)
class CameraGroup:
    """An ordered rig of calibrated cameras sharing one world frame."""

    cameras: tuple[Camera, ...]

    def __post_init__(self) -> None:
        cams = tuple(self.cameras)
        names = [c.name for c in cams]
        if len(set(names)) != len(names):
            raise ValueError(f"camera names must be unique, got {names}")
        object.__setattr__(self, "cameras", cams)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cameras]

    def __len__(self) -> int:
        return len(self.cameras)

    def __iter__(self) -> Iterator[Camera]:
        return iter(self.cameras)

    def __getitem__(self, name: str) -> Camera:
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise KeyError(f"no camera {name!r} in the calibration (cameras: {self.names})")

    def subset(self, names: Sequence[str]) -> CameraGroup:
        """The cameras of ``names``, in that order."""
        return CameraGroup(tuple(self[n] for n in names))

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` → pixels ``(n_cameras, ..., 2)``."""
        return np.stack([cam.project(points) for cam in self.cameras])

    def undistort(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels ``(n_cameras, ..., 2)`` → normalized coordinates, per camera."""
        return np.stack([cam.undistort(p) for cam, p in zip(self.cameras, pixels, strict=True)])
