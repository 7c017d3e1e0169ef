"""Synthetic calibration images: a board rendered through a camera model with distortion.

:func:`render_board_image` traces every pixel back to the board: the pixel is undistorted
to a ray (:meth:`Camera.undistort`), the ray meets the board's plane, and the board's
picture (:meth:`Board.texture`, a white margin of one square around the pattern) is
looked up bilinearly; ``supersample × supersample`` rays a pixel are averaged, so edges
are anti-aliased and corners land where the camera model puts them to a small fraction
of a pixel. :func:`board_poses` draws board poses that a whole rig sees at once.

Board poses map the board frame to the world: ``X_world = R(rvec) X_board + tvec``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from dlcflow.data.cameras import Camera, CameraGroup
from dlcflow.geometry.boards import Board

__all__ = ["board_poses", "board_to_camera", "camera_looking_at", "render_board_image"]

_RAYS: dict[tuple, np.ndarray] = {}


def _rays(camera: Camera, supersample: int) -> np.ndarray:
    """Normalized rays ``(h·s, w·s, 2)`` of the camera's sub-pixel centres (cached)."""
    key = (camera.size, camera.matrix.tobytes(), camera.dist.tobytes(), supersample)
    rays = _RAYS.get(key)
    if rays is None:
        w, h = camera.size
        s = supersample
        xs = np.arange(w * s) / s + (0.5 / s - 0.5)
        ys = np.arange(h * s) / s + (0.5 / s - 0.5)
        grid = np.stack(np.meshgrid(xs, ys), axis=-1)
        rays = camera.undistort(grid)
        if len(_RAYS) > 16:
            _RAYS.clear()
        _RAYS[key] = rays
    return rays


def board_to_camera(camera: Camera, rvec: object, tvec: object) -> tuple[np.ndarray, np.ndarray]:
    """Rotation and translation board frame → ``camera``'s frame."""
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
    supersample: int = 2,
    noise_sigma: float = 2.0,
    pixels_per_square: int = 32,
) -> np.ndarray:
    """Grayscale uint8 image ``(h, w)`` of ``board`` at pose ``rvec, tvec`` (board →
    world) seen by ``camera`` (distortion included); ``background`` grey elsewhere;
    Gaussian noise (``noise_sigma``) when ``noise_seed`` is given."""
    w, h = camera.size
    s = int(supersample)
    rays = _rays(camera, s)
    rot, t = board_to_camera(camera, rvec, tvec)
    normal = rot[:, 2]
    d = np.concatenate([rays, np.ones(rays.shape[:-1] + (1,))], axis=-1)
    denom = d @ normal
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = (normal @ t) / denom
        hit = np.isfinite(lam) & (lam > 0) & np.isfinite(rays).all(axis=-1)
        pts = d * lam[..., None] - t  # camera frame, relative to the board origin
    local = pts @ rot  # = rotᵀ (X_c - t): board frame
    texture, origin = board.texture(pixels_per_square)
    scale = pixels_per_square / float(board.square_size)
    mx = ((local[..., 0] - origin[0]) * scale - 0.5).astype(np.float32)
    my = ((local[..., 1] - origin[1]) * scale - 0.5).astype(np.float32)
    mx[~hit] = -1e6
    my[~hit] = -1e6
    sampled = cv2.remap(
        texture.astype(np.float32),
        mx,
        my,
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=float(background),
    )
    img = sampled.reshape(h, s, w, s).mean(axis=(1, 3))
    if noise_seed is not None and noise_sigma > 0:
        img = img + np.random.default_rng(noise_seed).normal(0.0, noise_sigma, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def camera_looking_at(
    name: str,
    size: tuple[int, int],
    matrix: object,
    dist: object,
    position: object,
    target: object,
    up: object = (0.0, -1.0, 0.0),
) -> Camera:
    """A camera at ``position`` whose optical axis points at ``target``, its image's
    upward direction (``-y``) as near ``up`` as can be."""
    pos = np.asarray(position, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64) - pos
    z /= np.linalg.norm(z)
    down = -np.asarray(up, dtype=np.float64)
    y = down - z * (down @ z)
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    rot = np.vstack([x, y, z])  # rows: camera axes in world coordinates
    rvec = cv2.Rodrigues(rot)[0].reshape(3)
    return Camera(name, size, np.asarray(matrix, dtype=np.float64), dist, rvec, -rot @ pos)


def _rot(axis: int, angle: float) -> np.ndarray:
    v = np.zeros(3)
    v[axis] = angle
    return cv2.Rodrigues(v)[0]


def _look_at(cameras: Sequence[Camera], distance: float) -> np.ndarray:
    """The point nearest to every optical axis; ``distance`` down the first camera's
    axis when the axes are (nearly) parallel or there is one camera."""
    first = cameras[0]
    fallback = first.position + first.rotation[2] * distance
    if len(cameras) < 2:
        return fallback
    a = np.zeros((3, 3))
    b = np.zeros(3)
    for cam in cameras:
        axis = cam.rotation[2]
        proj = np.eye(3) - np.outer(axis, axis)
        a += proj
        b += proj @ cam.position
    if np.linalg.cond(a) > 1e4:
        return fallback
    point = np.linalg.solve(a, b)
    if any(cam.camera_points(point)[2] <= 0 for cam in cameras):
        return fallback
    return point


def board_poses(
    n: int,
    rng: np.random.Generator,
    cameras: CameraGroup | Sequence[Camera],
    board: Board,
    tilt_deg: float = 30.0,
    spin_deg: float = 15.0,
    fill: tuple[float, float] = (0.3, 0.6),
    margin_px: float = 12.0,
    max_tries: int = 20000,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` board poses ``(rvec, tvec)`` (board → world), each seen whole by every camera
    (margin included, ``margin_px`` inside the image), tilted up to ``tilt_deg`` about the
    board's axes and turned up to ``spin_deg`` in its plane, its bounding box filling
    ``fill`` (a fraction of the image's width or height, the larger) in every camera."""
    cams = list(cameras)
    if not cams:
        raise ValueError("board_poses needs one or more cameras")
    texture, origin = board.texture(8)
    extent = np.array([texture.shape[1], texture.shape[0]]) / 8 * board.square_size
    outline = np.array(
        [[origin[0] + x, origin[1] + y, 0.0] for x in (0, extent[0]) for y in (0, extent[1])]
    )
    centre = np.array([origin[0] + extent[0] / 2, origin[1] + extent[1] / 2, 0.0])
    first = cams[0]
    target = float(np.mean(fill))
    distance = first.matrix[0, 0] * float(max(extent)) / (target * first.size[0])
    look = _look_at(cams, distance)
    depth = float(np.mean([cam.camera_points(look)[2] for cam in cams]))
    z = np.mean([cam.rotation[2] for cam in cams], axis=0)
    z /= np.linalg.norm(z)
    x = first.rotation[0] - z * (first.rotation[0] @ z)
    x /= np.linalg.norm(x)
    base = np.column_stack([x, np.cross(z, x), z])
    poses: list[tuple[np.ndarray, np.ndarray]] = []
    tries = 0
    while len(poses) < n:
        tries += 1
        if tries > max_tries:
            raise RuntimeError(
                f"board_poses: found {len(poses)} of {n} poses that every camera sees"
            )
        tilt = np.radians(tilt_deg)
        rot = (
            base
            @ _rot(0, rng.uniform(-tilt, tilt))
            @ _rot(1, rng.uniform(-tilt, tilt))
            @ _rot(2, rng.uniform(-1, 1) * np.radians(spin_deg))
        )
        offset = rng.uniform(-1, 1, 3) * np.array([0.25, 0.2, 0.25]) * depth
        where = look + base @ offset
        tvec = where - rot @ centre
        world = outline @ rot.T + tvec
        ok = True
        for cam in cams:
            if (cam.camera_points(world)[:, 2] <= 0).any():
                ok = False
                break
            px = cam.project(world)
            w, h = cam.size
            inside = (
                (px >= margin_px).all()
                and (px[:, 0] <= w - 1 - margin_px).all()
                and (px[:, 1] <= h - 1 - margin_px).all()
            )
            span = px.max(axis=0) - px.min(axis=0)
            frac = max(span[0] / w, span[1] / h)
            if not inside or not fill[0] <= frac <= fill[1]:
                ok = False
                break
        if ok:
            poses.append((cv2.Rodrigues(rot)[0].reshape(3), tvec))
    return poses
