"""Bundle adjustment of a rig and its board views, Anipose's way.

All cameras' extrinsics (the first camera stays the world's frame; the board's known size
fixes the scale), optionally their intrinsics (``fx fy cx cy k1 k2 p1 p2 k3``), and the
board's pose in every image are fitted together to the corners found, by
``scipy.optimize.least_squares`` (trust region, robust loss, a sparse Jacobian pattern: a
corner depends on its camera and its image only). The fit is repeated with a threshold
that shrinks from ``start_threshold`` (15 px) to ``end_threshold`` (1 px) on a log scale:
before each round the corners whose reprojection error exceeds the threshold (but never
fewer than those within ``keep_factor`` × the median error, so a noisy rig keeps its good
corners) are left out; what the last round leaves out are the outliers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse
from scipy.optimize import least_squares

from dlcflow.data.cameras import Camera, CameraGroup
from dlcflow.geometry.boards import Board, Detection

__all__ = ["BundleResult", "bundle_adjust", "rodrigues"]


def rodrigues(rvecs: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(n, 3, 3)`` of Rodrigues vectors ``(n, 3)``."""
    r = np.asarray(rvecs, dtype=np.float64).reshape(-1, 3)
    theta = np.linalg.norm(r, axis=1)
    small = theta < 1e-12
    k = r / np.where(small, 1.0, theta)[:, None]
    kx = np.zeros((len(r), 3, 3))
    kx[:, 0, 1], kx[:, 0, 2] = -k[:, 2], k[:, 1]
    kx[:, 1, 0], kx[:, 1, 2] = k[:, 2], -k[:, 0]
    kx[:, 2, 0], kx[:, 2, 1] = -k[:, 1], k[:, 0]
    s, c = np.sin(theta)[:, None, None], np.cos(theta)[:, None, None]
    out = np.eye(3)[None] + s * kx + (1.0 - c) * (kx @ kx)
    out[small] = np.eye(3)
    return out


@dataclass(frozen=True, eq=False)
class _Problem:
    cam: np.ndarray  # (m,) camera index of each corner seen
    img: np.ndarray  # (m,) image index
    obj: np.ndarray  # (m, 3) board points
    uv: np.ndarray  # (m, 2) pixels found
    n_cams: int
    n_imgs: int
    intrinsics: bool

    @property
    def n_ext(self) -> int:
        return 6 * (self.n_cams - 1)

    @property
    def n_int(self) -> int:
        return 9 * self.n_cams if self.intrinsics else 0

    def unpack(self, x: np.ndarray, fixed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ext = np.vstack([fixed[:6][None], x[: self.n_ext].reshape(-1, 6)])
        if self.intrinsics:
            intr = x[self.n_ext : self.n_ext + self.n_int].reshape(-1, 9)
        else:
            intr = fixed[6:].reshape(-1, 9)
        boards = x[self.n_ext + self.n_int :].reshape(-1, 6)
        return ext, intr, boards

    def project(self, x: np.ndarray, fixed: np.ndarray, rows: np.ndarray) -> np.ndarray:
        ext, intr, boards = self.unpack(x, fixed)
        cam, img, obj = self.cam[rows], self.img[rows], self.obj[rows]
        rb, rc = rodrigues(boards[:, :3]), rodrigues(ext[:, :3])
        world = np.einsum("nij,nj->ni", rb[img], obj) + boards[img, 3:]
        pc = np.einsum("nij,nj->ni", rc[cam], world) + ext[cam, 3:]
        x_, y_ = pc[:, 0] / pc[:, 2], pc[:, 1] / pc[:, 2]
        fx, fy, cx, cy, k1, k2, p1, p2, k3 = intr[cam].T
        r2 = x_ * x_ + y_ * y_
        radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x_ * radial + 2.0 * p1 * x_ * y_ + p2 * (r2 + 2.0 * x_ * x_)
        yd = y_ * radial + p1 * (r2 + 2.0 * y_ * y_) + 2.0 * p2 * x_ * y_
        return np.column_stack([fx * xd + cx, fy * yd + cy])

    def sparsity(self, rows: np.ndarray) -> scipy.sparse.csr_matrix:
        n_par = self.n_ext + self.n_int + 6 * self.n_imgs
        pattern = scipy.sparse.lil_matrix((2 * len(rows), n_par), dtype=np.int8)
        r = np.arange(len(rows))
        cam, img = self.cam[rows], self.img[rows]
        for axis in (0, 1):
            row = 2 * r + axis
            moving = cam > 0
            for k in range(6):
                pattern[row[moving], 6 * (cam[moving] - 1) + k] = 1
                pattern[row, self.n_ext + self.n_int + 6 * img + k] = 1
            if self.intrinsics:
                for k in range(9):
                    pattern[row, self.n_ext + 9 * cam + k] = 1
        return pattern.tocsr()


def _intrinsic_vector(cam: Camera) -> np.ndarray:
    (fx, fy), (cx, cy) = cam.focal, cam.principal_point
    return np.concatenate([[fx, fy, cx, cy], cam.dist])


@dataclass(frozen=True, eq=False)
class BundleResult:
    """The adjusted rig, the board's poses (board → world) and each corner's error."""

    group: CameraGroup
    board_poses: dict[str, tuple[np.ndarray, np.ndarray]]
    cameras: np.ndarray  # (m,) camera name of each corner seen
    images: np.ndarray  # (m,) image name
    errors: np.ndarray  # (m,) reprojection error (px) with the adjusted rig
    inliers: np.ndarray  # (m,) bool: kept by the last round
    thresholds: list[float] = field(default_factory=list)

    @property
    def mean_error(self) -> float:
        """Mean reprojection error (px) of the inlying corners."""
        return float(self.errors[self.inliers].mean())

    @property
    def outliers(self) -> int:
        return int((~self.inliers).sum())

    def camera_errors(self) -> dict[str, float]:
        """Mean error (px) of each camera's inlying corners."""
        return {
            name: float(self.errors[(self.cameras == name) & self.inliers].mean())
            for name in self.group.names
            if ((self.cameras == name) & self.inliers).any()
        }

    def image_errors(self) -> list[tuple[str, str, float, int]]:
        """``(camera, image, mean error px, inlying corners)`` per view, in rig order."""
        out = []
        for name in self.group.names:
            for image in sorted(set(self.images[self.cameras == name])):
                sel = (self.cameras == name) & (self.images == image)
                good = sel & self.inliers
                err = float(self.errors[good].mean()) if good.any() else float("nan")
                out.append((name, str(image), err, int(good.sum())))
        return out


def bundle_adjust(
    group: CameraGroup,
    observations: Mapping[str, Mapping[str, Detection]],
    board: Board,
    board_poses: Mapping[str, tuple[np.ndarray, np.ndarray]],
    intrinsics: bool = False,
    start_threshold: float = 15.0,
    end_threshold: float = 1.0,
    rounds: int = 6,
    keep_factor: float = 3.0,
    loss: str = "soft_l1",
    f_scale: float = 1.0,
    max_nfev: int = 200,
) -> BundleResult:
    """Adjust ``group`` (world = its first camera, which stays put) and ``board_poses``
    ``{image: (rvec, tvec)}`` (board → world) to ``observations`` ``{camera: {image:
    Detection}}``; with ``intrinsics``, each camera's matrix and distortion too."""
    names = group.names
    images = sorted(board_poses)
    img_index = {im: i for i, im in enumerate(images)}
    cams, imgs, objs, uvs = [], [], [], []
    for c, name in enumerate(names):
        for image, det in observations.get(name, {}).items():
            if image not in img_index or not len(det):
                continue
            cams.append(np.full(len(det), c))
            imgs.append(np.full(len(det), img_index[image]))
            objs.append(board.object_points[det.ids])
            uvs.append(det.corners)
    if not cams:
        raise ValueError("bundle adjustment: no corners seen")
    problem = _Problem(
        cam=np.concatenate(cams),
        img=np.concatenate(imgs),
        obj=np.concatenate(objs),
        uv=np.concatenate(uvs),
        n_cams=len(names),
        n_imgs=len(images),
        intrinsics=intrinsics,
    )
    first = group.cameras[0]
    fixed = np.concatenate(
        [first.rvec, first.tvec] + [_intrinsic_vector(c) for c in group.cameras]
    )
    parts = [np.concatenate([c.rvec, c.tvec]) for c in group.cameras[1:]]
    if intrinsics:
        parts += [_intrinsic_vector(c) for c in group.cameras]
    parts += [np.concatenate([np.ravel(board_poses[i][0]), np.ravel(board_poses[i][1])]) for i in images]
    x = np.concatenate(parts)
    everything = np.arange(len(problem.cam))

    def errors_of(x: np.ndarray) -> np.ndarray:
        return np.linalg.norm(problem.project(x, fixed, everything) - problem.uv, axis=1)

    thresholds = np.geomspace(start_threshold, end_threshold, max(rounds, 1)).tolist()
    used: list[float] = []
    rows = everything
    for mu in thresholds:
        err = errors_of(x)
        limit = max(mu, keep_factor * float(np.median(err)))
        rows = everything[err < limit]
        if len(rows) < 6:
            rows = everything[np.argsort(err)[: max(6, len(err) // 2)]]
        used.append(limit)

        def residuals(p: np.ndarray, rows: np.ndarray = rows) -> np.ndarray:
            return (problem.project(p, fixed, rows) - problem.uv[rows]).ravel()

        fit = least_squares(
            residuals,
            x,
            jac_sparsity=problem.sparsity(rows),
            loss=loss,
            f_scale=f_scale,
            x_scale="jac",
            method="trf",
            max_nfev=max_nfev,
        )
        x = fit.x
    err = errors_of(x)
    inliers = err < used[-1]
    ext, intr, boards = problem.unpack(x, fixed)
    cameras = []
    for c, cam in enumerate(group.cameras):
        fx, fy, cx, cy = intr[c, :4]
        matrix = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        cameras.append(
            Camera(cam.name, cam.size, matrix, intr[c, 4:], ext[c, :3].copy(), ext[c, 3:].copy())
        )
    return BundleResult(
        group=CameraGroup(tuple(cameras)),
        board_poses={im: (boards[i, :3].copy(), boards[i, 3:].copy()) for i, im in enumerate(images)},
        cameras=np.asarray(names, dtype=object)[problem.cam],
        images=np.asarray(images, dtype=object)[problem.img],
        errors=err,
        inliers=inliers,
        thresholds=used,
    )
