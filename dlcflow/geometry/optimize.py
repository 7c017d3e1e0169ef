"""Optimisation of triangulated trajectories (Anipose's idea of ``optim=True``).

The 3D points of one animal over time, ``(T, K, 3)``, are refined together by
``scipy.optimize.least_squares`` with three kinds of residual:

* reprojection: for every camera and every observed 2D point, the pixel difference of
  the point's projection (distortion applied) and the observation;
* temporal smoothness: ``smooth`` times the second difference ``X[t-1] - 2 X[t] + X[t+1]``
  of each coordinate (world units);
* limb lengths: ``limb`` times ``|X_a - X_b| - L_ab`` for each limb ``(a, b)`` of the
  skeleton, ``L_ab`` the median length of the limb in the initial estimate.

The loss is robust (``soft_l1`` by default, scale ``f_scale`` in pixels) so that wrong 2D
detections pull less. The Jacobian is computed by finite differences with its sparsity
pattern (each residual depends on at most six unknowns), so long videos stay fast.
Points missing in the initial estimate are filled by linear interpolation over time
before the optimisation; a keypoint never triangulated stays NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import lil_matrix

from dlcflow.data.cameras import CameraGroup

__all__ = ["limb_lengths", "optimize_trajectory", "project_points"]


def project_points(
    rotation: np.ndarray,
    tvec: np.ndarray,
    matrix: np.ndarray,
    dist: np.ndarray,
    points: np.ndarray,
) -> np.ndarray:
    """OpenCV's projection (5 distortion terms) of world points ``(N, 3)`` → ``(N, 2)``,
    in numpy (``cv2.projectPoints`` does the same, one call per camera)."""
    xc = points @ rotation.T + tvec
    x, y = xc[:, 0] / xc[:, 2], xc[:, 1] / xc[:, 2]
    k1, k2, p1, p2, k3 = dist
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    u = matrix[0, 0] * xd + matrix[0, 1] * yd + matrix[0, 2]
    v = matrix[1, 1] * yd + matrix[1, 2]
    return np.stack([u, v], axis=1)


def limb_lengths(points: np.ndarray, limbs: Sequence[tuple[int, int]]) -> np.ndarray:
    """The median length of each limb ``(a, b)`` (keypoint indices) over the frames of
    ``points`` ``(T, K, 3)`` where both ends are known (NaN when never)."""
    out = np.full(len(limbs), np.nan)
    for i, (a, b) in enumerate(limbs):
        d = np.linalg.norm(points[:, a] - points[:, b], axis=1)
        d = d[np.isfinite(d)]
        if d.size:
            out[i] = float(np.median(d))
    return out


def _fill_time(points: np.ndarray) -> np.ndarray:
    """NaN frames of each keypoint coordinate filled by linear interpolation (ends held)."""
    out = points.copy()
    t = np.arange(points.shape[0])
    for k in range(points.shape[1]):
        ok = np.isfinite(points[:, k]).all(axis=1)
        if ok.any() and not ok.all():
            for d in range(3):
                out[:, k, d] = np.interp(t, t[ok], points[ok, k, d])
    return out


def optimize_trajectory(
    group: CameraGroup,
    pixels: np.ndarray,
    initial: np.ndarray,
    limbs: Sequence[tuple[int, int]] = (),
    *,
    smooth: float = 1.0,
    limb: float = 2.0,
    loss: str = "soft_l1",
    f_scale: float = 2.0,
    max_nfev: int = 30,
) -> np.ndarray:
    """Refine the trajectory ``initial`` ``(T, K, 3)`` (e.g. from DLT) against the 2D
    observations ``pixels`` ``(C, T, K, 2)`` (NaN: not seen) of ``group``'s cameras, with
    temporal smoothness and the lengths of ``limbs`` (pairs of keypoint indices; see the
    module docstring). Returns the refined ``(T, K, 3)``; keypoints never triangulated
    stay NaN."""
    init = np.asarray(initial, dtype=np.float64)
    px = np.asarray(pixels, dtype=np.float64)
    n_t, n_k, _ = init.shape
    if px.shape != (len(group), n_t, n_k, 2):
        raise ValueError(f"pixels must be {(len(group), n_t, n_k, 2)}, got {px.shape}")
    known = np.isfinite(init).all(axis=2).any(axis=0)  # keypoints with any 3D point
    if not known.any():
        return init.copy()
    x0 = _fill_time(init)
    x0[:, ~known] = 0.0
    lengths = limb_lengths(init, limbs)
    limbs_ok = [
        (a, b, lengths[i])
        for i, (a, b) in enumerate(limbs)
        if np.isfinite(lengths[i]) and known[a] and known[b]
    ]
    n_par = n_t * n_k * 3

    def index(t: np.ndarray, k: np.ndarray) -> np.ndarray:
        return (t * n_k + k) * 3

    # observations
    obs = []
    for c in range(len(group)):
        seen = np.isfinite(px[c]).all(axis=2) & known[None, :]
        tt, kk = np.nonzero(seen)
        obs.append((tt, kk, px[c, tt, kk]))
    cams = [(cam.rotation, cam.tvec, cam.matrix, cam.dist) for cam in group]
    tk = np.arange(n_t - 2) if n_t >= 3 else np.arange(0)
    smooth_t, smooth_k = np.meshgrid(tk, np.flatnonzero(known), indexing="ij")
    smooth_t, smooth_k = smooth_t.ravel(), smooth_k.ravel()

    def residuals(params: np.ndarray) -> np.ndarray:
        pts = params.reshape(n_t, n_k, 3)
        parts = []
        for (tt, kk, seen_px), (rot, tvec, mat, dist) in zip(obs, cams, strict=True):
            if tt.size:
                parts.append((project_points(rot, tvec, mat, dist, pts[tt, kk]) - seen_px).ravel())
        if smooth_t.size and smooth > 0:
            d2 = (
                pts[smooth_t, smooth_k]
                - 2 * pts[smooth_t + 1, smooth_k]
                + pts[smooth_t + 2, smooth_k]
            )
            parts.append(smooth * d2.ravel())
        if limbs_ok and limb > 0:
            for a, b, length in limbs_ok:
                d = np.linalg.norm(pts[:, a] - pts[:, b], axis=1)
                parts.append(limb * (d - length))
        return np.concatenate(parts) if parts else np.zeros(0)

    # sparsity pattern, rows in the order of residuals()
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    row = 0
    for tt, kk, _ in obs:
        base = index(tt, kk)
        for comp in range(2):
            r = row + 2 * np.arange(tt.size) + comp
            for d in range(3):
                rows.append(r)
                cols.append(base + d)
        row += 2 * tt.size
    if smooth_t.size and smooth > 0:
        for step in range(3):
            base = index(smooth_t + step, smooth_k)
            for d in range(3):
                rows.append(row + 3 * np.arange(smooth_t.size) + d)
                cols.append(base + d)
        row += 3 * smooth_t.size
    if limbs_ok and limb > 0:
        t_all = np.arange(n_t)
        for a, b, _ in limbs_ok:
            for end in (a, b):
                for d in range(3):
                    rows.append(row + t_all)
                    cols.append(index(t_all, np.full(n_t, end)) + d)
            row += n_t
    if row == 0:
        return init.copy()
    sparsity = lil_matrix((row, n_par), dtype=np.int8)
    sparsity[np.concatenate(rows), np.concatenate(cols)] = 1
    # unknowns nothing depends on (keypoints never seen) are left out of the problem
    used = np.asarray(sparsity.sum(axis=0)).ravel() > 0
    free = np.flatnonzero(used)
    full = x0.ravel().copy()

    def fun(sub: np.ndarray) -> np.ndarray:
        p = full.copy()
        p[free] = sub
        return residuals(p)

    result = least_squares(
        fun,
        full[free],
        jac_sparsity=sparsity.tocsc()[:, free],
        method="trf",
        loss=loss,
        f_scale=f_scale,
        x_scale="jac",
        max_nfev=max_nfev,
    )
    out = full.copy()
    out[free] = result.x
    out = out.reshape(n_t, n_k, 3)
    out[:, ~known] = np.nan
    return out
