"""Synthetic calibration images: a board seen through a calibrated camera, distortion and all.

:func:`render_board_image` traces every pixel back to the board: the pixel (sampled
``supersample × supersample`` times within its area) is undistorted to its ray
(:meth:`Camera.undistort`), the ray meets the board's plane, and the board's printout
(:meth:`Board.texture`, bilinear) gives the grey value; the samples are averaged, so edges
are anti-aliased and the corners OpenCV finds sit where :meth:`Camera.project` puts the
board's corners, to a few hundredths of a pixel. Outside the printout is ``background``.

:func:`board_poses` draws board poses that a whole rig sees: the board faces the rig, tilted
up to ``tilt`` degrees, near the point the cameras look at, at a distance where it fills
``fill`` of each image.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

from dlcflow.data.cameras import Camera
from dlcflow.geometry.boards import Board

__all__ = ["board_corners_in_view", "board_poses", "render_board_image", "rig_target"]

#: Texels per square of the printout the renderer samples.
TEXELS_PER_SQUARE = 96


@lru_cache(maxsize=16)
def _rays(
    size: tuple[int, int], matrix: tuple[float, ...], dist: tuple[float, ...], supersample: int
) -> np.ndarray:
    """Normalized rays ``(h, w, s*s, 2)`` of the sub-pixel samples of every pixel."""
    w, h = size
    cam = Camera("render", size, np.reshape(matrix, (3, 3)), np.asarray(dist))
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    ox, oy = np.meshgrid(offsets, offsets)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    px = np.stack(
        [xs[..., None] + ox.reshape(-1), ys[..., None] + oy.reshape(-1)], axis=-1
    )  # (h, w, s*s, 2)
    return cam.undistort(px).astype(np.float32)


@lru_cache(maxsize=8)
def _texture(board: Board, texels_per_unit: float) -> np.ndarray:
    return board.texture(texels_per_unit).astype(np.float32)


def _board_to_camera(camera: Camera, rvec: object, tvec: object) -> tuple[np.ndarray, np.ndarray]:
    rb = cv2.Rodrigues(np.asarray(rvec, dtype=np.float64).reshape(3))[0]
    tb = np.asarray(tvec, dtype=np.float64).reshape(3)
    rc = camera.rotation
    return rc @ rb, rc @ tb + camera.tvec


def render_board_image(
    camera: Camera,
    board: Board,
    rvec: object,
    tvec: object,
    background: int = 128,
    noise_seed: int | None = None,
    supersample: int = 3,
    noise_sigma: float = 2.0,
) -> np.ndarray:
    """The grayscale uint8 image ``(h, w)`` of ``camera.size`` in which ``camera`` sees
    ``board`` at pose ``rvec, tvec`` (board → world: ``X = R(rvec) X_board + tvec``);
    with ``noise_seed``, Gaussian noise of ``noise_sigma`` grey levels is added."""
    w, h = camera.size
    rays = _rays(
        camera.size,
        tuple(camera.matrix.reshape(-1).tolist()),
        tuple(camera.dist.tolist()),
        int(supersample),
    )
    r, t = _board_to_camera(camera, rvec, tvec)
    # The plane's homography: camera ray (u, v, 1) ∝ [r1 r2 t] (X, Y, 1).
    hom = np.column_stack([r[:, 0], r[:, 1], t])
    inv = np.linalg.inv(hom).astype(np.float32)
    q = rays[..., 0:1] * inv[:, 0] + rays[..., 1:2] * inv[:, 1] + inv[:, 2]  # (h, w, s*s, 3)
    depth_ok = q[..., 2] * np.sign(np.linalg.det(hom)) > 0  # the plane in front of the camera
    with np.errstate(divide="ignore", invalid="ignore"):
        bx = q[..., 0] / q[..., 2]
        by = q[..., 1] / q[..., 2]
    texels = TEXELS_PER_SQUARE / board.square
    tex = _texture(board, texels)
    x0, y0, _, _ = board.extent
    mx = ((bx - x0) * texels - 0.5).astype(np.float32)
    my = ((by - y0) * texels - 0.5).astype(np.float32)
    far = np.float32(-1e6)
    mx = np.where(depth_ok & np.isfinite(mx), mx, far)
    my = np.where(depth_ok & np.isfinite(my), my, far)
    n = mx.shape[-1]
    samples = cv2.remap(
        tex,
        mx.reshape(h, w * n),
        my.reshape(h, w * n),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=float(background),
    )
    img = samples.reshape(h, w, n).mean(axis=-1)
    if noise_seed is not None:
        img = img + np.random.default_rng(noise_seed).normal(0.0, noise_sigma, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def board_corners_in_view(camera: Camera, board: Board, rvec: object, tvec: object) -> np.ndarray:
    """The board's corners where ``camera`` sees them (pixels, ``(n, 2)``; NaN behind)."""
    rb = cv2.Rodrigues(np.asarray(rvec, dtype=np.float64).reshape(3))[0]
    world = board.object_points @ rb.T + np.asarray(tvec, dtype=np.float64).reshape(3)
    px = camera.project(world)
    px[camera.camera_points(world)[:, 2] <= 0] = np.nan
    return px


def rig_target(cameras: Sequence[Camera]) -> np.ndarray:
    """The point nearest to every camera's optical axis (least squares); for one camera,
    a point on its axis 1000 units away."""
    if len(cameras) == 1:
        cam = cameras[0]
        return cam.position + 1000.0 * cam.rotation[2]
    a = np.zeros((3, 3))
    b = np.zeros(3)
    for cam in cameras:
        d = cam.rotation[2]
        m = np.eye(3) - np.outer(d, d)
        a += m
        b += m @ cam.position
    return np.linalg.solve(a, b)


def _outline(board: Board) -> np.ndarray:
    x0, y0, x1, y1 = board.extent
    return np.array([[x0, y0, 0], [x1, y0, 0], [x1, y1, 0], [x0, y1, 0]], dtype=np.float64)


def _fits(
    cameras: Sequence[Camera],
    board: Board,
    rvec: np.ndarray,
    tvec: np.ndarray,
    fill: tuple[float, float],
    margin: float,
) -> bool:
    rb = cv2.Rodrigues(rvec)[0]
    outline = _outline(board) @ rb.T + tvec
    for cam in cameras:
        w, h = cam.size
        if (cam.camera_points(outline)[:, 2] <= 0).any():
            return False
        # the printout faces the camera: its z axis points away from it
        if (cam.rotation @ rb[:, 2]) @ cam.camera_points(tvec[None])[0] <= 0:
            return False
        px = cam.project(outline)
        if (px[:, 0] < margin).any() or (px[:, 0] > w - 1 - margin).any():
            return False
        if (px[:, 1] < margin).any() or (px[:, 1] > h - 1 - margin).any():
            return False
        share = np.sqrt(cv2.contourArea(px.astype(np.float32)) / (w * h))
        if not fill[0] <= share <= fill[1]:
            return False
    return True


def board_poses(
    n: int,
    rng: np.random.Generator,
    cameras: Sequence[Camera],
    board: Board,
    fill: tuple[float, float] = (0.3, 0.6),
    tilt: float = 30.0,
    spin: float = 15.0,
    center: object | None = None,
    margin: float = 10.0,
    max_tries: int = 20000,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` board poses ``(rvec, tvec)`` (board → world) that every camera of ``cameras``
    sees whole: the board faces the rig (tilted up to ``tilt`` degrees about its axes,
    turned up to ``spin`` degrees in its plane), its centre near ``center`` (default
    :func:`rig_target`), filling ``fill`` of each image (the square root of the share of
    the image its printout covers)."""
    cams = list(cameras)
    target = rig_target(cams) if center is None else np.asarray(center, dtype=np.float64)
    # the rig's mean axes: the board's x, y follow the cameras' x, y; its z looks away
    axes = np.mean([cam.rotation for cam in cams], axis=0)  # rows: camera x, y, z in world
    u, _, vt = np.linalg.svd(axes.T)
    base = u @ vt  # columns: board x, y, z in world
    x0, y0, x1, y1 = board.extent
    middle = np.array([(x0 + x1) / 2, (y0 + y1) / 2, 0.0])
    diag = float(np.hypot(x1 - x0, y1 - y0))
    mean_cam = np.mean([cam.position for cam in cams], axis=0)
    toward = mean_cam - target
    toward /= np.linalg.norm(toward)
    # the distance along the rig's view at which the board fills the middle of ``fill``
    f = float(np.mean([cam.matrix[0, 0] for cam in cams]))
    size = float(np.mean([np.sqrt(cam.size[0] * cam.size[1]) for cam in cams]))
    side = np.sqrt((x1 - x0) * (y1 - y0))
    nominal = f * side / (np.mean(fill) * size)
    poses: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(max_tries):
        if len(poses) == n:
            break
        angles = np.radians(
            [rng.uniform(-tilt, tilt), rng.uniform(-tilt, tilt), rng.uniform(-spin, spin)]
        )
        rot = base @ cv2.Rodrigues(angles)[0]
        # the centre on the rig's line of sight to the target, at about ``nominal``
        centre = mean_cam - toward * nominal * rng.uniform(0.85, 1.15)
        centre = centre + rng.normal(0.0, 0.1 * diag, 3)
        rvec = cv2.Rodrigues(rot)[0].reshape(3)
        tvec = centre - rot @ middle
        if _fits(cams, board, rvec, tvec, fill, margin):
            poses.append((rvec, tvec))
    if len(poses) < n:
        raise ValueError(
            f"only {len(poses)} of {n} board poses fit in every camera's view "
            f"(fill {fill}); move the board's centre or the cameras"
        )
    return poses
