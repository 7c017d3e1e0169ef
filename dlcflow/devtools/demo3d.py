"""A synthetic mouse moving in 3D, seen by three calibrated cameras: the 3D demo's data.

The world is in mm: the floor is ``z = 0`` (``z`` up), the arena centre the origin. The
mouse walks a smooth random path on the floor and now and then rears (its body pitches
up, its head lifts), so the body parts' depth differs between views and over time. Its
body parts are the 2D demo's (:data:`dlcflow.devtools.demo.BODYPARTS`: snout, ears, tail
base), drawn with the 2D demo's colours and helpers through each camera (OpenCV's model
with lens distortion, :class:`~dlcflow.data.cameras.Camera`), so one 2D network learns
all views. Three cameras (``camera-1..3``) stand around the arena looking at its centre,
each with its own focal length, principal point and radial distortion.

Files (:func:`make_3d_demo_data`), in ``<outdir>/data/``: ``<rec>-camera-N.mp4`` per
recording and camera, beside each ``<stem>_groundtruth.h5`` (the 2D demo's format: the
projected body parts, so the oracle labeler works) and per recording
``<rec>_groundtruth_3d.h5`` (the 3D pose file format, world frame, mm); the true rig in
``<outdir>/truth/calibration_true.toml``. :func:`make_3d_demo_project` adds a 2D project
of all views (labeled by the oracle, one network for every camera, as DLC's 3D examples
do), a 3D project of the three cameras with checkerboard images of the same board poses
in every view (``calibration_images/camera-N-NN.jpg``), and a second 3D project of
cameras 1 and 2 only in ``<outdir>/two_cameras/``.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dlcflow.core.fileio import atomic_path, atomic_write_text
from dlcflow.core.log import log
from dlcflow.core.video import VideoWriter
from dlcflow.data.cameras import Camera, CameraGroup
from dlcflow.data.pose import make_poses
from dlcflow.devtools.demo import (
    BODYPARTS,
    COLORS,
    GT_SCORER,
    SKELETON,
    DemoError,
    add_sensor_noise,
    background_texture,
    draw_disc,
    groundtruth_path,
    smooth_signal,
    style_demo_config,
)
from dlcflow.devtools.render3d import board_poses, render_board_image
from dlcflow.geometry.boards import Checkerboard
from dlcflow.io.calibration import write_calibration_toml
from dlcflow.io.hdf import write_frame_to
from dlcflow.io.poses3d import save_poses_3d
from dlcflow.io.tables import to_frame
from dlcflow.project.config import read_config, write_config
from dlcflow.project.create import create_new_project
from dlcflow.project.project3d import Project3D, create_new_project_3d, read_config_3d

__all__ = [
    "CAMERA_NAMES",
    "DEMO3D_TASK",
    "Mouse3D",
    "draw_mouse",
    "make_3d_demo_data",
    "make_3d_demo_project",
    "make_rig",
    "recording_names",
    "render_view",
    "simulate_3d",
    "true_calibration_path",
    "video_name",
    "write_pointers",
]

CAMERA_NAMES: tuple[str, ...] = ("camera-1", "camera-2", "camera-3")
DEMO3D_TASK = "demo3d"
DEMO3D_SCORER = "oracle"
SIZE = (320, 240)
FPS = 30.0
FILL = (0.4, 0.75)  # how much of each image the board spans
TILT = 35.0  # the board tilts up to this (degrees) about its axes

# Mouse geometry in mm (the 2D demo's proportions).
_BODY_A, _BODY_B = 17.0, 10.0
_NECK = 13.0
_HEAD_C, _HEAD_A, _HEAD_B = 6.0, 9.0, 6.5
_NOSE_R = 2.5
_EAR_BACK, _EAR_SIDE, _EAR_UP, _EAR_R = 2.0, 6.0, 3.0, 3.5
_TAIL_LEN, _TAIL_SEGMENTS, _TAIL_ROOT_R = 28.0, 8, 3.0
_REACH = 45.0  # the body centre stays within this of the arena centre (mm, per axis)
_TARGET = np.array([0.0, 0.0, 15.0])  # where the cameras look


@dataclass(frozen=True)
class Mouse3D:
    """A simulated 3D recording: per frame the points the drawing is made of (world, mm).

    ``points[name]`` is ``(n, 3)`` for each of :data:`BODYPARTS` and the drawing's other
    points (``center``, ``front``, ``back``, ``left``, ``right`` of the body; ``head``,
    ``headfront``, ``headleft``, ``headright``); ``tail`` is ``(n, segments + 1, 3)``."""

    seed: int
    points: dict[str, np.ndarray]
    tail: np.ndarray

    @property
    def nframes(self) -> int:
        return int(self.tail.shape[0])

    def keypoints(self) -> np.ndarray:
        """``(n, len(BODYPARTS), 3)`` body parts, world mm."""
        return np.stack([self.points[bp] for bp in BODYPARTS], axis=1)


def _horizontal(theta: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(theta), np.sin(theta), np.zeros_like(theta)], axis=-1)


def simulate_3d(nframes: int = 300, fps: float = FPS, seed: int = 0) -> Mouse3D:
    """A mouse walking on the floor for ``nframes`` frames, rearing now and then."""
    if nframes < 1:
        raise DemoError(f"nframes must be at least 1, got {nframes}")
    rng = np.random.default_rng(seed)
    n = int(nframes)
    sx = smooth_signal(rng, n, fps, 0.04, 0.15)
    sy = smooth_signal(rng, n, fps, 0.04, 0.15)
    xy = _REACH * np.stack([sx, sy], axis=-1)
    vel = np.gradient(xy, axis=0) if n > 1 else np.zeros((n, 2))
    speed = np.hypot(vel[:, 0], vel[:, 1])
    target = np.arctan2(vel[:, 1], vel[:, 0])
    heading = np.empty(n)
    heading[0] = target[0]
    for i in range(1, n):  # face where it goes, turning smoothly; hold it when still
        turn = (target[i] - heading[i - 1] + np.pi) % (2 * np.pi) - np.pi
        heading[i] = heading[i - 1] + np.clip(turn * min(1.0, speed[i] / 0.5) * 0.3, -0.15, 0.15)
    # rearing: pitch up to ~55 degrees in bouts, otherwise on all fours
    rear = smooth_signal(rng, n, fps, 0.1, 0.3)
    pitch = np.radians(55.0) * np.clip(rear / 0.5, 0.0, 1.0) ** 1.5
    head_pitch = np.radians(25.0) * smooth_signal(rng, n, fps, 0.2, 0.6)
    yaw = 0.35 * smooth_signal(rng, n, fps, 0.2, 0.6)
    bend = 0.8 * smooth_signal(rng, n, fps, 0.2, 0.7)

    cp, sp = np.cos(pitch)[:, None], np.sin(pitch)[:, None]
    flat = _horizontal(heading)
    up = np.array([0.0, 0.0, 1.0])
    f = flat * cp + up * sp  # body axis, pitched up when rearing
    left = _horizontal(heading + np.pi / 2)
    center = np.concatenate([xy, (_BODY_B * 0.8 + _BODY_A * np.sin(pitch))[:, None]], axis=1)
    hd = heading + yaw
    hp = (pitch + head_pitch)[:, None]
    g = _horizontal(hd) * np.cos(hp) + up * np.sin(hp)  # head direction
    hleft = _horizontal(hd + np.pi / 2)
    hup = np.cross(g, hleft)
    neck = center + _NECK * f
    head = neck + _HEAD_C * g
    ear_base = head - _EAR_BACK * g + _EAR_UP * hup
    tailbase = center - _BODY_A * f
    points = {
        "snout": head + _HEAD_A * g,
        "leftear": ear_base + _EAR_SIDE * hleft,
        "rightear": ear_base - _EAR_SIDE * hleft,
        "tailbase": tailbase,
        "center": center,
        "front": center + _BODY_A * f,
        "back": tailbase,
        "left": center + _BODY_B * left,
        "right": center - _BODY_B * left,
        "head": head,
        "headfront": head + _HEAD_A * g,
        "headleft": head + _HEAD_B * hleft,
        "headright": head - _HEAD_B * hleft,
    }
    # tail: from the tail base backwards, bending, down to the floor
    seg = _TAIL_LEN / _TAIL_SEGMENTS
    tail = np.empty((n, _TAIL_SEGMENTS + 1, 3))
    tail[:, 0] = tailbase
    angle = heading + np.pi
    for k in range(1, _TAIL_SEGMENTS + 1):
        angle = angle + bend / _TAIL_SEGMENTS
        step = seg * _horizontal(angle)
        nxt = tail[:, k - 1] + step
        nxt[:, 2] = np.maximum(1.0, tail[:, k - 1, 2] * 0.55)
        tail[:, k] = nxt
    return Mouse3D(seed=int(seed), points=points, tail=tail)


# -- the rig --------------------------------------------------------------------------------
def _look_at(position: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rvec, tvec) of a camera at ``position`` looking at ``target``, image up ~ world up."""
    z = target - position
    z /= np.linalg.norm(z)
    x = np.cross(z, np.array([0.0, 0.0, 1.0]))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    rot = np.stack([x, y, z])  # rows: the camera axes in world coordinates
    return cv2.Rodrigues(rot)[0].reshape(3), -rot @ position


def make_rig(seed: int = 0, size: tuple[int, int] = SIZE) -> CameraGroup:
    """The three cameras: around the arena (azimuths ~120 degrees apart, 55-70 degrees
    above the floor), distances that keep the arena in view, focal lengths ~500-800 px,
    principal points a few px off centre, ``k1`` -0.05 to -0.15."""
    rng = np.random.default_rng([seed, 3])
    w, h = size
    focals = (520.0, 650.0, 780.0)
    cams = []
    for k, name in enumerate(CAMERA_NAMES):
        f = focals[k] * rng.uniform(0.98, 1.02)
        fy = f * rng.uniform(0.995, 1.005)
        cx, cy = w / 2 + rng.uniform(-6, 6), h / 2 + rng.uniform(-5, 5)
        k1 = -rng.uniform(0.05, 0.15)
        dist = [k1, 0.2 * k1 * rng.uniform(-1, 1), 0.0, 0.0, 0.0]
        azimuth = np.radians(90 + 120 * k + rng.uniform(-10, 10))
        elevation = np.radians(rng.uniform(55, 70))
        distance = 0.95 * f  # ~1.05 px per mm at the arena centre in every view
        pos = _TARGET + distance * np.array(
            [
                np.cos(elevation) * np.cos(azimuth),
                np.cos(elevation) * np.sin(azimuth),
                np.sin(elevation),
            ]
        )
        rvec, tvec = _look_at(pos, _TARGET)
        matrix = np.array([[f, 0, cx], [0, fy, cy], [0, 0, 1]])
        cams.append(Camera(name, (w, h), matrix, dist, rvec, tvec))
    return CameraGroup(tuple(cams))


# -- drawing --------------------------------------------------------------------------------
def floor_image(camera: Camera, texture: np.ndarray, mm_per_px: float = 1.0) -> np.ndarray:
    """The floor ``z = 0`` seen by ``camera`` (lens distortion included): ``texture``
    (BGR) covers the floor centred on the origin at ``mm_per_px``; beyond it, mirrored."""
    w, h = camera.size
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    rays = camera.undistort(np.stack([u, v], axis=-1))  # normalized (x, y)
    dirs = np.concatenate([rays, np.ones(rays.shape[:-1] + (1,))], axis=-1)
    rot = camera.rotation
    world_dirs = dirs @ rot  # Rᵀ d for each pixel
    origin = camera.position
    with np.errstate(divide="ignore", invalid="ignore"):
        s = -origin[2] / world_dirs[..., 2]
    hits = origin + s[..., None] * world_dirs
    th, tw = texture.shape[:2]
    map_x = (hits[..., 0] / mm_per_px + tw / 2).astype(np.float32)
    map_y = (-hits[..., 1] / mm_per_px + th / 2).astype(np.float32)
    bad = ~(s > 0)
    map_x[bad], map_y[bad] = -1, -1
    img = cv2.remap(texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    img[bad] = COLORS["body"]
    return img


def _ellipse_from(
    img: np.ndarray, c: np.ndarray, u: np.ndarray, v: np.ndarray, color: tuple[int, int, int]
) -> None:
    """The filled ellipse with conjugate semi-diameters ``u``, ``v`` around ``c`` (px)."""
    m = np.stack([u, v], axis=1)
    rot, axes, _ = np.linalg.svd(m)
    theta = float(np.degrees(np.arctan2(rot[1, 0], rot[0, 0])))
    one = 16
    cv2.ellipse(
        img,
        (int(round(c[0] * one)), int(round(c[1] * one))),
        (int(round(max(axes[0], 0.5) * one)), int(round(max(axes[1], 0.5) * one))),
        theta,
        0,
        360,
        color,
        -1,
        cv2.LINE_AA,
        4,
    )


def draw_mouse(img: np.ndarray, camera: Camera, mouse: Mouse3D, i: int) -> None:
    """Draw frame ``i`` of ``mouse`` as ``camera`` sees it onto ``img``, in place: the 2D
    demo's pieces and colours, projected (discs scaled by their depth)."""
    names = list(mouse.points)
    pts = np.stack([mouse.points[n][i] for n in names])
    px = dict(zip(names, camera.project(pts), strict=True))
    depth = dict(zip(names, camera.camera_points(pts)[:, 2], strict=True))
    focal = float(np.mean(camera.focal))
    body_c = px["center"]
    _ellipse_from(
        img,
        body_c,
        (px["front"] - px["back"]) / 2,
        (px["left"] - px["right"]) / 2,
        COLORS["body"],
    )
    tail_px = camera.project(mouse.tail[i])
    one = 16
    for k in range(len(tail_px) - 1):
        thick = max(1, int(round(4.0 - 3.0 * k / _TAIL_SEGMENTS)))
        p, q = tail_px[k], tail_px[k + 1]
        cv2.line(
            img,
            (int(round(p[0] * one)), int(round(p[1] * one))),
            (int(round(q[0] * one)), int(round(q[1] * one))),
            COLORS["tailbase"],
            thick,
            cv2.LINE_AA,
            4,
        )

    def radius(r: float, name: str) -> float:
        return r * focal / max(float(depth[name]), 1e-6)

    draw_disc(img, px["tailbase"], radius(_TAIL_ROOT_R, "tailbase"), COLORS["tailbase"])
    head = px["head"]
    _ellipse_from(
        img,
        head,
        px["headfront"] - head,
        (px["headleft"] - px["headright"]) / 2,
        COLORS["head"],
    )
    draw_disc(img, px["leftear"], radius(_EAR_R, "leftear"), COLORS["leftear"])
    draw_disc(img, px["rightear"], radius(_EAR_R, "rightear"), COLORS["rightear"])
    draw_disc(img, px["snout"], radius(_NOSE_R, "snout"), COLORS["snout"])


def render_view(
    camera: Camera, mouse: Mouse3D, i: int, floor: np.ndarray, noise: bool = True
) -> np.ndarray:
    """Frame ``i`` seen by ``camera`` over its ``floor`` image (BGR uint8)."""
    img = floor.copy()
    draw_mouse(img, camera, mouse, i)
    index = CAMERA_NAMES.index(camera.name) if camera.name in CAMERA_NAMES else 9
    seed = int(np.random.SeedSequence([mouse.seed, index]).generate_state(1)[0])
    return add_sensor_noise(img, seed, i) if noise else img


# -- files ----------------------------------------------------------------------------------
def video_name(recording: str, camera: str) -> str:
    """``<recording>-<camera>.mp4``: a name the 3D project groups by camera."""
    return f"{recording}-{camera}.mp4"


def recording_names(n: int) -> list[str]:
    return [f"rec{k + 1}" for k in range(n)]


def true_calibration_path(outdir: str | os.PathLike[str]) -> Path:
    """``<outdir>/truth/calibration_true.toml``: the rig the demo rendered with."""
    return Path(outdir) / "truth" / "calibration_true.toml"


def _groundtruth_2d(camera: Camera, mouse: Mouse3D):  # -> pd.DataFrame
    xy = camera.project(mouse.keypoints())  # frames, parts, 2
    poses = make_poses(xy.transpose(0, 2, 1), keypoints=BODYPARTS, scorer=GT_SCORER)
    return to_frame(poses)


def _write_view(path: Path, camera: Camera, mouse: Mouse3D, floor: np.ndarray) -> None:
    with atomic_path(groundtruth_path(path)) as tmp_gt:
        write_frame_to(_groundtruth_2d(camera, mouse), tmp_gt, table=False)
        with VideoWriter(path, FPS, camera.size) as writer:
            for i in range(mouse.nframes):
                writer.write(render_view(camera, mouse, i, floor))


def make_3d_demo_data(
    outdir: str | os.PathLike[str], n_recordings: int = 2, nframes: int = 300, seed: int = 0
) -> dict[str, dict[str, Path]]:
    """Render every recording through every camera into ``<outdir>/data/`` (videos, 2D
    and 3D ground truth) and write the true rig; return ``{recording: {camera: video}}``."""
    if n_recordings < 1:
        raise DemoError(f"n_recordings must be at least 1, got {n_recordings}")
    root = Path(outdir)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    rig = make_rig(seed)
    true_calibration_path(root).parent.mkdir(parents=True, exist_ok=True)
    write_calibration_toml(rig, true_calibration_path(root), {"adjusted": False, "units": "mm"})
    texture = background_texture(np.random.default_rng([seed, 5]), 400, 400)
    floors = {cam.name: floor_image(cam, texture) for cam in rig}
    out: dict[str, dict[str, Path]] = {}
    for k, rec in enumerate(recording_names(n_recordings)):
        mouse = simulate_3d(
            nframes, seed=int(np.random.SeedSequence([seed, k]).generate_state(1)[0])
        )
        poses = make_poses(
            mouse.keypoints().transpose(0, 2, 1),
            keypoints=BODYPARTS,
            space=("x", "y", "z"),
            scorer=GT_SCORER,
        )
        save_poses_3d(poses, Project3D.groundtruth_3d(data, rec))
        out[rec] = {}
        for cam in rig:
            path = data / video_name(rec, cam.name)
            log(f"demo 3D: rendering {path.name} ({nframes} frames)")
            _write_view(path, cam, mouse, floors[cam.name])
            out[rec][cam.name] = path
    return out


def _calibration_images(
    project3d: Project3D, rig: CameraGroup, board: Checkerboard, n_images: int, seed: int
) -> None:
    """The same board poses through every camera: ``calibration_images/<cam>-NN.jpg``."""
    rng = np.random.default_rng([seed, 7])
    try:  # about the arena, tilted up to 45 degrees, seen whole by every camera
        poses = board_poses(n_images, rng, rig, board, tilt_deg=TILT, fill=FILL)
    except RuntimeError as err:
        raise DemoError(f"{project3d.calibration_images_dir}: {err}") from None
    folder = project3d.calibration_images_dir
    folder.mkdir(parents=True, exist_ok=True)
    for j, (rvec, tvec) in enumerate(poses):
        for cam in rig:
            img = render_board_image(cam, board, rvec, tvec, noise_seed=seed * 1000 + j)
            with atomic_path(folder / f"{cam.name}-{j + 1:02d}.jpg") as tmp:
                if not cv2.imwrite(str(tmp.with_suffix(".jpg")), img):
                    raise DemoError(f"{folder}: could not write calibration image {j + 1}")
                tmp.with_suffix(".jpg").replace(tmp)


def _project_3d(
    workdir: Path,
    cameras: Sequence[str],
    config2d: Path,
    images_from: Project3D | None = None,
) -> Project3D:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*project exists already.*")
        path = create_new_project_3d(
            DEMO3D_TASK,
            DEMO3D_SCORER,
            num_cameras=len(cameras),
            working_directory=workdir,
            camera_names=list(cameras),
        )
    cfg = read_config_3d(path)
    for cam in cameras:
        cfg[f"config_file_{cam}"] = str(config2d)
    cfg["skeleton"] = [list(bone) for bone in SKELETON]
    cfg["pcutoff"] = 0.4
    cfg["dotsize"] = 6
    write_config(path, cfg)
    project = Project3D(path)
    if images_from is not None:  # the same images, of these cameras only
        project.calibration_images_dir.mkdir(parents=True, exist_ok=True)
        for cam in cameras:
            for img in images_from.calibration_images(cam):
                dst = project.calibration_images_dir / img.name
                if not dst.exists():
                    shutil.copyfile(img, dst)
    return project


def make_3d_demo_project(
    outdir: str | os.PathLike[str],
    n_recordings: int = 2,
    nframes: int = 300,
    numframes2pick: int = 30,
    seed: int = 0,
    cbrow: int = 7,
    cbcol: int = 6,
    square_size: float = 10.0,
    n_calibration_images: int = 30,
) -> tuple[Path, Path, Path]:
    """Render the data and make the projects in ``outdir``: the 2D project
    ``demo3d-oracle-<date>`` (every view's video), the 3D project of the three cameras
    (its checkerboard images: ``cbrow`` × ``cbcol`` inner corners of ``square_size`` mm)
    and ``two_cameras/``'s 3D project of cameras 1 and 2. Returns their config paths."""
    root = Path(outdir).expanduser().resolve()
    recordings = make_3d_demo_data(root, n_recordings, nframes, seed)
    videos = [v for views in recordings.values() for v in views.values()]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*project exists already.*")
        config = Path(
            create_new_project(
                DEMO3D_TASK,
                DEMO3D_SCORER,
                videos,
                working_directory=root,
                bodyparts=list(BODYPARTS),
            )
        )
    cfg = read_config(config)
    style_demo_config(cfg, numframes2pick)
    write_config(config, cfg)
    three = _project_3d(root, CAMERA_NAMES, config)
    board = Checkerboard(int(cbrow), int(cbcol), float(square_size))
    log(f"demo 3D: rendering {n_calibration_images} checkerboard images per camera")
    _calibration_images(three, make_rig(seed), board, int(n_calibration_images), seed)
    two = _project_3d(root / "two_cameras", CAMERA_NAMES[:2], config, images_from=three)
    return config, three.config_path, two.config_path


def write_pointers(path: str | os.PathLike[str], configs: Sequence[Path]) -> None:
    """The 3D projects' config paths, one a line (their names carry a date)."""
    atomic_write_text(Path(path), "".join(f"{c}\n" for c in configs))
