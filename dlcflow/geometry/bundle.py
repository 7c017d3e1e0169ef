"""Bundle adjustment of a calibrated rig and the board poses it saw (Anipose-style).

The parameters are every camera's pose (world → camera; the first camera's stays fixed,
it is the world) and, when ``intrinsics`` is set, its focal lengths, principal point and
distortion, plus every image's board pose (board → world). ``scipy.optimize.least_squares``
minimises the corners' reprojection residuals with a sparse Jacobian pattern (a residual
depends on one camera and one board pose only) and a robust loss. As in Anipose, the fit
is repeated while corners whose error exceeds a threshold shrinking geometrically from
15 px to 1 px are left out (the threshold never falls below three times the median
error, so a rig with honest errors of a pixel keeps its corners); the final fit uses the
corners within the last threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import coo_matrix

from dlcflow.data.cameras import Camera, CameraGroup
from dlcflow.geometry.boards import Board, Detection
from dlcflow.geometry.extrinsics import Pose

__all__ = ["BundleResult", "Observations", "bundle_adjust", "observations", "rig_result"]

_N_INTR = 9  # fx fy cx cy k1 k2 p1 p2 k3


@dataclass(frozen=True, eq=False)
class Observations:
    """Board corners seen: camera index, image index, the corner's board point, pixel."""

    cameras: list[str]
    images: list[str]
    cam: np.ndarray  # (m,)
    img: np.ndarray  # (m,)
    obj: np.ndarray  # (m, 3)
    xy: np.ndarray  # (m, 2)


def observations(
    board: Board, detections: Mapping[str, Mapping[str, Detection]], cameras: list[str]
) -> Observations:
    """Flatten ``detections`` (camera → image → detection) in ``cameras`` order."""
    images = sorted({img for cam in cameras for img in detections.get(cam, {})})
    index = {img: i for i, img in enumerate(images)}
    cam, img, obj, xy = [], [], [], []
    for c, name in enumerate(cameras):
        for image, det in detections.get(name, {}).items():
            k = len(det)
            cam.append(np.full(k, c))
            img.append(np.full(k, index[image]))
            obj.append(board.object_points[det.ids])
            xy.append(det.corners)
    return Observations(
        list(cameras),
        images,
        np.concatenate(cam).astype(np.int64),
        np.concatenate(img).astype(np.int64),
        np.concatenate(obj).astype(np.float64),
        np.concatenate(xy).astype(np.float64),
    )


def _rodrigues(r: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(m, 3, 3)`` of Rodrigues vectors ``(m, 3)``."""
    theta = np.linalg.norm(r, axis=1)
    small = theta < 1e-12
    k = r / np.where(small, 1.0, theta)[:, None]
    kx = np.zeros((len(r), 3, 3))
    kx[:, 0, 1], kx[:, 0, 2] = -k[:, 2], k[:, 1]
    kx[:, 1, 0], kx[:, 1, 2] = k[:, 2], -k[:, 0]
    kx[:, 2, 0], kx[:, 2, 1] = -k[:, 1], k[:, 0]
    s, c = np.sin(theta)[:, None, None], np.cos(theta)[:, None, None]
    return np.eye(3) + s * kx + (1 - c) * (kx @ kx)


def _project(intr: np.ndarray, cam_rt: np.ndarray, points: np.ndarray) -> np.ndarray:
    """OpenCV's pinhole + distortion model, one row of parameters per point."""
    pc = np.einsum("mij,mj->mi", _rodrigues(cam_rt[:, :3]), points) + cam_rt[:, 3:]
    z = np.where(np.abs(pc[:, 2]) < 1e-12, 1e-12, pc[:, 2])
    x, y = pc[:, 0] / z, pc[:, 1] / z
    fx, fy, cx, cy, k1, k2, p1, p2, k3 = intr.T
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([fx * xd + cx, fy * yd + cy], axis=1)


@dataclass(frozen=True, eq=False)
class BundleResult:
    """The adjusted rig, board poses (board → world per image) and the corners' errors."""

    group: CameraGroup
    board_poses: dict[str, tuple[np.ndarray, np.ndarray]]  # image → (rvec, tvec)
    observations: Observations
    errors: np.ndarray  # (m,) px, every corner
    inliers: np.ndarray  # (m,) bool: kept by the last threshold

    def image_errors(self) -> dict[tuple[str, str], float]:
        """``(camera, image)`` → mean error (px) of its kept corners."""
        obs = self.observations
        out = {}
        for c, cam in enumerate(obs.cameras):
            for i, img in enumerate(obs.images):
                sel = (obs.cam == c) & (obs.img == i)
                if sel.any():
                    keep = sel & self.inliers
                    out[cam, img] = float(self.errors[keep if keep.any() else sel].mean())
        return out

    def camera_errors(self) -> dict[str, float]:
        """Camera → mean error (px) of its kept corners."""
        obs = self.observations
        return {
            cam: float(self.errors[(obs.cam == c) & self.inliers].mean())
            for c, cam in enumerate(obs.cameras)
            if ((obs.cam == c) & self.inliers).any()
        }

    @property
    def mean_error(self) -> float:
        return float(self.errors[self.inliers].mean())


def bundle_adjust(
    group: CameraGroup,
    obs: Observations,
    board_poses: Mapping[str, Pose],
    intrinsics: bool = False,
    thresholds: tuple[float, float] = (15.0, 1.0),
    n_iters: int = 5,
    loss: str = "soft_l1",
    f_scale: float = 1.0,
    max_nfev: int = 200,
) -> BundleResult:
    """Adjust ``group`` (cameras named and ordered as ``obs.cameras``) and the board poses
    ``board_poses`` (image → board → world) to the corners of ``obs``."""
    cams = [group[n] for n in obs.cameras]
    n_cam, n_img = len(cams), len(obs.images)
    intr0 = np.array(
        [[*c.focal, *c.principal_point, *c.dist[:2], c.dist[2], c.dist[3], c.dist[4]] for c in cams]
    )
    ext0 = np.array([[*c.rvec, *c.tvec] for c in cams])
    boards0 = np.array(
        [[*cv2.Rodrigues(board_poses[i][0])[0].reshape(3), *board_poses[i][1]] for i in obs.images]
    )
    free_cams = n_cam - 1  # the first camera's pose is the world; its intrinsics may move

    def unpack(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ext = ext0.copy()
        intr = intr0.copy()
        off = 0
        if intrinsics:
            intr = p[: n_cam * _N_INTR].reshape(n_cam, _N_INTR)
            off = n_cam * _N_INTR
        ext[1:] = p[off : off + free_cams * 6].reshape(free_cams, 6)
        off += free_cams * 6
        boards = p[off:].reshape(n_img, 6)
        return intr, ext, boards

    def pack(intr: np.ndarray, ext: np.ndarray, boards: np.ndarray) -> np.ndarray:
        parts = [intr.ravel()] if intrinsics else []
        return np.concatenate(parts + [ext[1:].ravel(), boards.ravel()])

    def residuals(p: np.ndarray, sel: np.ndarray) -> np.ndarray:
        intr, ext, boards = unpack(p)
        c, i = obs.cam[sel], obs.img[sel]
        b = boards[i]
        world = np.einsum("mij,mj->mi", _rodrigues(b[:, :3]), obs.obj[sel]) + b[:, 3:]
        return (_project(intr[c], ext[c], world) - obs.xy[sel]).ravel()

    def sparsity(sel: np.ndarray) -> coo_matrix:
        c, i = obs.cam[sel], obs.img[sel]
        m = int(sel.sum())
        off = n_cam * _N_INTR if intrinsics else 0
        n_par = off + free_cams * 6 + n_img * 6
        rows, cols = [], []
        six = np.arange(6)
        for k in range(2):
            r = 2 * np.arange(m) + k
            if intrinsics:
                rows.append(np.repeat(r, _N_INTR))
                cols.append((c[:, None] * _N_INTR + np.arange(_N_INTR)).ravel())
            moving = c > 0
            rows.append(np.repeat(r[moving], 6))
            cols.append((off + (c[moving, None] - 1) * 6 + six).ravel())
            rows.append(np.repeat(r, 6))
            cols.append((off + free_cams * 6 + i[:, None] * 6 + six).ravel())
        rr, cc = np.concatenate(rows), np.concatenate(cols)
        return coo_matrix((np.ones(rr.size, np.int8), (rr, cc)), shape=(2 * m, n_par))

    def fit(p: np.ndarray, sel: np.ndarray, fit_loss: str, nfev: int) -> np.ndarray:
        res = least_squares(
            residuals,
            p,
            jac_sparsity=sparsity(sel),
            method="trf",
            loss=fit_loss,
            f_scale=f_scale,
            x_scale="jac",
            max_nfev=nfev,
            args=(sel,),
        )
        return res.x

    def errors(p: np.ndarray) -> np.ndarray:
        return np.linalg.norm(residuals(p, np.ones(len(obs.cam), bool)).reshape(-1, 2), axis=1)

    p = pack(intr0, ext0, boards0)
    everything = np.ones(len(obs.cam), bool)
    keep = everything
    mus = np.geomspace(thresholds[0], thresholds[1], max(n_iters, 1))
    for mu in mus:
        err = errors(p)
        limit = max(float(mu), 3.0 * float(np.median(err[keep])))
        keep = err < limit
        if keep.sum() < 6:
            keep = everything
        p = fit(p, keep, loss, max(10, max_nfev // 5))
    err = errors(p)
    keep = err < max(float(mus[-1]), 3.0 * float(np.median(err[keep])))
    p = fit(p, keep, loss, max_nfev)
    err = errors(p)
    keep = err < max(float(mus[-1]), 3.0 * float(np.median(err[keep])))
    intr, ext, boards = unpack(p)
    out = []
    for cam, k, e in zip(cams, intr, ext, strict=True):
        matrix = np.array([[k[0], 0.0, k[2]], [0.0, k[1], k[3]], [0.0, 0.0, 1.0]])
        out.append(Camera(cam.name, cam.size, matrix, k[4:], e[:3], e[3:]))
    poses = {img: (boards[i, :3].copy(), boards[i, 3:].copy()) for i, img in enumerate(obs.images)}
    return BundleResult(CameraGroup(tuple(out)), poses, obs, err, keep)


def rig_result(
    group: CameraGroup, obs: Observations, board_poses: Mapping[str, Pose]
) -> BundleResult:
    """The corners' errors of a rig and board poses as they are (no adjustment)."""
    cams = [group[n] for n in obs.cameras]
    intr = np.array([[*c.focal, *c.principal_point, *c.dist] for c in cams])
    ext = np.array([[*c.rvec, *c.tvec] for c in cams])
    rots = np.stack([board_poses[i][0] for i in obs.images])
    trans = np.stack([board_poses[i][1] for i in obs.images])
    world = np.einsum("mij,mj->mi", rots[obs.img], obs.obj) + trans[obs.img]
    err = np.linalg.norm(_project(intr[obs.cam], ext[obs.cam], world) - obs.xy, axis=1)
    poses = {
        img: (cv2.Rodrigues(board_poses[img][0])[0].reshape(3), board_poses[img][1].copy())
        for img in obs.images
    }
    return BundleResult(group.subset(obs.cameras), poses, obs, err, np.ones(len(err), bool))
