"""Constant-velocity Kalman filters (filterpy) for one tracked animal, three shapes.

Each :class:`Track` filters a state of positions and their velocities, one frame per
step (``x' = x + v``), observing the positions, and counts what SORT needs: ``age``
(predictions made), ``hits`` (updates), ``hit_streak`` (updates since the last frame
without one) and ``time_since_update`` (predictions since the last update).

The noise settings are DLC 2.3's (``trackingutils.EllipseTracker``, ``BoxTracker``,
``SkeletonTracker``). DLC builds the filters with ``filterpy.common.kinematic_kf``,
whose 1.4.x releases (the ones DLC 2.3 ran with) observe each position once (``H =
[I 0]``); later releases changed how it fills ``H``, so the matrices are built here
explicitly and stay the same whatever filterpy is installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # filterpy is imported where a filter is made (see _kalman_filter)
    from filterpy.kalman import KalmanFilter

__all__ = ["BoxTrack", "EllipseTrack", "SkeletonTrack", "Track", "constant_velocity_filter"]


def _kalman_filter(dim_x: int, dim_z: int) -> KalmanFilter:
    """filterpy's filter. filterpy's package imports scipy.stats (a second), which every
    workflow job importing the tracking stages would pay; only tracking needs it."""
    from filterpy.kalman import KalmanFilter  # noqa: PLC0415

    return KalmanFilter(dim_x=dim_x, dim_z=dim_z)


def constant_velocity_filter(n: int) -> KalmanFilter:
    """A filter of ``n`` positions then ``n`` velocities, observing the positions, with
    filterpy's unit ``P``, ``Q`` and ``R``."""
    kf = _kalman_filter(dim_x=2 * n, dim_z=n)
    eye = np.eye(n)
    kf.F = np.block([[eye, eye], [np.zeros((n, n)), eye]])
    kf.H = np.hstack([eye, np.zeros((n, n))])
    return kf


class Track:
    """One tracked animal: a Kalman filter whose first ``n_observed`` state entries are
    what is observed, with SORT's counters."""

    def __init__(self, track_id: int, kf: KalmanFilter) -> None:
        self.id = int(track_id)
        self.kf = kf
        self.age = 0
        self.hits = 0
        self.hit_streak = 0
        self.time_since_update = 0

    @property
    def n_observed(self) -> int:
        """How many state entries are observed (the filter's ``dim_z``)."""
        return int(self.kf.dim_z)

    @property
    def state(self) -> np.ndarray:
        """The observed part of the state (a copy)."""
        return self.kf.x[: self.n_observed, 0].copy()

    def predict(self) -> np.ndarray:
        """Advance one frame; returns the predicted :attr:`state`."""
        self.kf.predict()
        self.age += 1
        if self.time_since_update > 0:
            self.hit_streak = 0
        self.time_since_update += 1
        return self.state

    def update(self, z: np.ndarray) -> None:
        """Correct the state with an observation of this frame."""
        self.time_since_update = 0
        self.hits += 1
        self.hit_streak += 1
        self.kf.update(np.asarray(z, dtype=np.float64).reshape(-1, 1))


class EllipseTrack(Track):
    """An animal as an ellipse ``(x, y, width, height, theta)`` and its velocities."""

    def __init__(self, track_id: int, params: tuple[float, ...] | np.ndarray) -> None:
        kf = constant_velocity_filter(5)
        kf.R[2:, 2:] *= 10.0  # the axes and angle are noisier than the centre
        kf.P[5:, 5:] *= 1000.0  # velocities unknown at first
        kf.P *= 10.0
        kf.Q[5:, 5:] *= 0.01
        kf.x[:5, 0] = np.asarray(params, dtype=np.float64)
        super().__init__(track_id, kf)


def box_to_z(box: np.ndarray) -> np.ndarray:
    """``(x1, y1, x2, y2, ...)`` → SORT's observation: centre x, centre y, area, aspect
    ratio ``w / h``."""
    w = box[2] - box[0]
    h = box[3] - box[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.float64(w) / np.float64(h)
    return np.array([box[0] + w / 2.0, box[1] + h / 2.0, w * h, ratio], dtype=np.float64)


def z_to_box(z: np.ndarray) -> np.ndarray:
    """SORT's ``(x, y, area, ratio)`` → ``(x1, y1, x2, y2)``; NaN where area × ratio < 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.sqrt(z[2] * z[3])
        h = z[2] / w
    return np.array([z[0] - w / 2.0, z[1] - h / 2.0, z[0] + w / 2.0, z[1] + h / 2.0])


class BoxTrack(Track):
    """An animal as a box: SORT's state of centre, area and aspect ratio, with the
    velocities of the centre and the area (the ratio is taken as constant)."""

    def __init__(self, track_id: int, box: np.ndarray) -> None:
        kf = _kalman_filter(dim_x=7, dim_z=4)
        kf.F = np.eye(7)
        kf.F[0, 4] = kf.F[1, 5] = kf.F[2, 6] = 1.0
        kf.H = np.hstack([np.eye(4), np.zeros((4, 3))])
        kf.R[2:, 2:] *= 10.0
        kf.P[4:, 4:] *= 1000.0
        kf.P *= 10.0
        kf.Q[-1, -1] *= 0.01
        kf.Q[4:, 4:] *= 0.01
        kf.x[:4, 0] = box_to_z(np.asarray(box, dtype=np.float64))
        super().__init__(track_id, kf)

    @property
    def state(self) -> np.ndarray:
        """The box ``(x1, y1, x2, y2)``."""
        return z_to_box(self.kf.x[:4, 0])

    def predict(self) -> np.ndarray:
        """Advance one frame, never letting the area shrink below zero."""
        if self.kf.x[6, 0] + self.kf.x[2, 0] <= 0:
            self.kf.x[6, 0] = 0.0
        return super().predict()

    def update(self, z: np.ndarray) -> None:
        """Correct with a box ``(x1, y1, x2, y2, ...)``."""
        super().update(box_to_z(np.asarray(z, dtype=np.float64)))


class SkeletonTrack(Track):
    """An animal as its ``n`` keypoints (``2n`` coordinates) and their velocities."""

    def __init__(self, track_id: int, pose: np.ndarray) -> None:
        pose = np.asarray(pose, dtype=np.float64)[:, :2]
        n = 2 * len(pose)
        kf = constant_velocity_filter(n)
        kf.Q[n:, n:] *= 10.0
        kf.P[n:, n:] *= 1000.0
        start = pose.copy()
        missing = np.isnan(start).all(axis=1)
        if missing.any() and not missing.all():
            start[missing] = np.nanmean(pose, axis=0)  # unseen keypoints start at the centre
        kf.x[:n, 0] = start.ravel()
        super().__init__(track_id, kf)

    @property
    def pose(self) -> np.ndarray:
        """The filtered keypoints ``(n, 2)``."""
        return self.state.reshape(-1, 2)

    def update(self, z: np.ndarray) -> None:
        """Correct with a pose ``(n, 2)``; its NaN coordinates are not observed."""
        flat = np.asarray(z, dtype=np.float64)[:, :2].reshape(-1, 1).copy()
        missing = np.isnan(flat[:, 0])
        if not missing.any():
            super().update(flat)
            return
        self.time_since_update = 0
        self.hits += 1
        self.hit_streak += 1
        H = self.kf.H.copy()
        H[missing] = 0.0
        flat[missing] = 0.0
        self.kf.update(flat, H=H)
