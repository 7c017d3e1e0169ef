"""Synthetic mouse videos with known ground truth, a demo project, and the oracle labeler.

:func:`make_video` draws a mouse seen from above (body, bright head with a red nose, a
yellow left ear, a blue right ear, a pink tail) walking a smooth, turning path over a
fixed, busy but low-contrast background texture, with per-frame sensor noise and, now and
then, an opaque occluder passing over it (a part under it is hidden). Its four body parts
(:data:`BODYPARTS`) are well-defined points of the drawing:

``snout``    the tip of the head, at the centre of the red nose disc,
``leftear``  the centre of the yellow ear disc on the animal's left,
``rightear`` the centre of the blue ear disc on the animal's right,
``tailbase`` where the tail joins the body: the centre of the tail's round root.

The exact positions are written beside the video as ``<stem>_groundtruth.h5`` (pandas,
key ``df_with_missing``; columns ``scorer='groundtruth' × bodyparts × coords (x, y)``;
rows ``range(nframes)``; float64; NaN where the occluder hides the part). Everything is
deterministic for a seed.

Coordinates follow DeepLabCut: ``x`` is the column and ``y`` the row, with pixel centres
at integer coordinates (the pixel in row ``i``, column ``j`` is centred on
``(x, y) = (j, i)`` and covers ``[j - 0.5, j + 0.5) × [i - 0.5, i + 0.5)``). Shapes are
drawn with OpenCV at 1/16 px precision (``shift=4``, anti-aliased), so the ground truth
is sub-pixel exact.

The *oracle labeler* (:func:`oracle_label`, :func:`oracle_label_project`) stands in for
the human in the demo and the tests: it writes ``CollectedData_<scorer>.h5`` of the
extracted frames straight from the ground truth (hidden parts stay unlabeled), for the
single-animal projects and the multi-animal ones of :mod:`dlcflow.devtools.mademo`.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from dlcflow.core.fileio import atomic_path
from dlcflow.core.video import VideoWriter
from dlcflow.data.pose import make_poses, point_keys, points_array, with_points
from dlcflow.io.hdf import read_frame, write_frame_to
from dlcflow.io.labels import empty_annotations, write_annotations
from dlcflow.io.tables import to_dataset, to_frame
from dlcflow.labeling.frames import read_manifest
from dlcflow.project.config import read_config, write_config
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import GROUNDTRUTH_SUFFIX, Project

BODYPARTS: tuple[str, ...] = ("snout", "leftear", "rightear", "tailbase")
SKELETON: list[list[str]] = [
    ["snout", "leftear"],
    ["snout", "rightear"],
    ["leftear", "rightear"],
    ["leftear", "tailbase"],
    ["rightear", "tailbase"],
]
GT_SCORER = "groundtruth"
GT_SUFFIX = GROUNDTRUTH_SUFFIX  # the project layer owns the name
DEMO_TASK = "demo"
DEMO_SCORER = "oracle"

# Colours (BGR). Each body part has its own colour; the background stays between
# BACKGROUND_RANGE, darker than the head and brighter than the body.
COLORS: dict[str, tuple[int, int, int]] = {
    "body": (55, 65, 80),
    "head": (200, 205, 215),
    "snout": (70, 60, 230),
    "leftear": (40, 190, 235),
    "rightear": (235, 150, 40),
    "tailbase": (150, 135, 215),
    "occluder": (60, 95, 60),
    "occluder_inner": (45, 75, 45),
}
BACKGROUND_RANGE = (85, 170)

# Animal geometry in pixels at 320x240 (scaled with the frame size).
_BODY_A, _BODY_B = 17.0, 10.0  # body ellipse semi-axes (along, across)
_NECK = 13.0  # body centre -> neck, along the heading
_HEAD_C, _HEAD_A, _HEAD_B = 6.0, 9.0, 6.5  # neck -> head centre; head semi-axes
_NOSE_R = 2.5
_EAR_BACK, _EAR_SIDE, _EAR_R = 2.0, 6.0, 3.5  # ear centres behind / beside head centre
_TAIL_LEN, _TAIL_SEGMENTS, _TAIL_ROOT_R = 28.0, 8, 3.0
MARGIN = 48.0  # body centre keeps this far from the frame edges (tail tip included)

_SHIFT = 4
_ONE = 1 << _SHIFT


class DemoError(ValueError):
    """Bad input to the demo tools; the one-line message names the file and the cause."""


@dataclass(frozen=True)
class Scene:
    """A simulated recording: where everything is in every frame.

    ``keypoints`` holds the true position of every body part in every frame, hidden or
    not; ``visible`` says which are not covered by the occluder (a part is hidden when its
    point lies inside the occluder or within half a pixel of its edge). ``occluders[i]`` is
    the occluder polygon (float, (k, 2)) in frame ``i`` or None.
    """

    width: int
    height: int
    fps: float
    seed: int
    scale: float
    center: np.ndarray  # (n, 2) body centre
    heading: np.ndarray  # (n,) body direction, radians (image coordinates, y down)
    head_yaw: np.ndarray  # (n,) head angle relative to the body, radians
    tail_bend: np.ndarray  # (n,) total bend of the tail, radians
    keypoints: np.ndarray  # (n, len(BODYPARTS), 2)
    visible: np.ndarray  # (n, len(BODYPARTS)) bool
    occluders: tuple[np.ndarray | None, ...]
    background: np.ndarray  # (height, width, 3) uint8

    @property
    def nframes(self) -> int:
        return int(self.center.shape[0])

    def groundtruth(self) -> pd.DataFrame:
        """The ground-truth table: visible keypoints, NaN where hidden."""
        values = np.where(self.visible[..., None], self.keypoints, np.nan)  # frames, parts, xy
        poses = make_poses(values.transpose(0, 2, 1), keypoints=BODYPARTS, scorer=GT_SCORER)
        return to_frame(poses)


# -- simulation -----------------------------------------------------------------------------
def smooth_signal(
    rng: np.random.Generator, n: int, fps: float, fmin: float, fmax: float
) -> np.ndarray:
    """A smooth signal in [-1, 1]: a sum of three sinusoids (frequencies in Hz)."""
    t = np.arange(n) / fps
    amps = rng.uniform(0.5, 1.0, 3)
    freqs = rng.uniform(fmin, fmax, 3)
    phases = rng.uniform(0.0, 2.0 * np.pi, 3)
    s = (amps[:, None] * np.sin(2.0 * np.pi * freqs[:, None] * t + phases[:, None])).sum(0)
    return s / amps.sum()


def _wrap(angle: np.ndarray | float) -> np.ndarray | float:
    return (angle + np.pi) % (2.0 * np.pi) - np.pi


def _unit(theta: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(theta), np.sin(theta)], axis=-1)


def _left(theta: np.ndarray) -> np.ndarray:
    """The animal's left seen from above, in image coordinates (y down)."""
    return np.stack([np.sin(theta), -np.cos(theta)], axis=-1)


def _path(
    rng: np.random.Generator, n: int, width: int, height: int, fps: float, margin: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Body centre, heading, head yaw and tail bend for ``n`` frames."""
    half = np.array([width / 2.0, height / 2.0])
    reach = np.maximum(half - margin, 1.0)
    sx = smooth_signal(rng, n, fps, 0.04, 0.15)
    sy = smooth_signal(rng, n, fps, 0.04, 0.15)
    center = half + reach * np.stack([sx, sy], axis=-1)
    return (center, *body_motion(rng, center, fps))


def body_motion(
    rng: np.random.Generator, center: np.ndarray, fps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heading, head yaw and tail bend of an animal whose body centre moves along ``center``
    ``(n, 2)``: it faces where it goes, turning smoothly, and holds its heading when still."""
    n = int(center.shape[0])
    vel = np.gradient(center, axis=0) if n > 1 else np.zeros((n, 2))
    speed = np.hypot(vel[:, 0], vel[:, 1])
    target = np.arctan2(vel[:, 1], vel[:, 0])
    heading = np.empty(n)
    heading[0] = target[0] if speed[0] > 0 else rng.uniform(-np.pi, np.pi)
    for i in range(1, n):  # follow the direction of motion, smoothly; hold it when still
        turn = _wrap(target[i] - heading[i - 1]) * min(1.0, speed[i] / 0.8) * 0.3
        heading[i] = heading[i - 1] + np.clip(turn, -0.15, 0.15)
    turning = np.gradient(np.unwrap(heading)) if n > 1 else np.zeros(n)
    yaw = 0.3 * smooth_signal(rng, n, fps, 0.2, 0.6) + np.clip(4.0 * turning, -0.3, 0.3)
    bend = 0.8 * smooth_signal(rng, n, fps, 0.2, 0.7) - np.clip(6.0 * turning, -0.6, 0.6)
    return heading, yaw, bend


def animal_keypoints(
    center: np.ndarray, heading: np.ndarray, yaw: np.ndarray, s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 4, 2) keypoints plus the head centre and head direction for drawing."""
    f = _unit(heading)
    head_dir = heading + yaw
    g, lg = _unit(head_dir), _left(head_dir)
    neck = center + _NECK * s * f
    head = neck + _HEAD_C * s * g
    snout = head + _HEAD_A * s * g
    ear_base = head - _EAR_BACK * s * g
    leftear = ear_base + _EAR_SIDE * s * lg
    rightear = ear_base - _EAR_SIDE * s * lg
    tailbase = center - _BODY_A * s * f
    return np.stack([snout, leftear, rightear, tailbase], axis=1), head, head_dir


def _occluder_polygon(rng: np.random.Generator, radius: float, k: int = 14) -> np.ndarray:
    """An irregular blob outline around (0, 0)."""
    angles = np.sort(rng.uniform(0.0, 2.0 * np.pi, k))
    r = radius * rng.uniform(0.75, 1.2, k)
    r = (r + np.roll(r, 1) + np.roll(r, -1)) / 3.0  # smooth the outline
    return np.stack([r * np.cos(angles), r * np.sin(angles)], axis=-1)


def _occlusions(
    rng: np.random.Generator, n: int, center: np.ndarray, s: float
) -> list[np.ndarray | None]:
    """Occluder polygons per frame: blobs that pass over the animal now and then."""
    occluders: list[np.ndarray | None] = [None] * n
    n_events = max(1, round(n / 150))
    segment = n / n_events
    for e in range(n_events):
        duration = int(min(n, rng.integers(30, 60)))
        lo = int(e * segment)
        hi = max(lo, int((e + 1) * segment) - duration)
        start = int(rng.integers(lo, hi + 1))
        mid = min(n - 1, start + duration // 2)
        radius = rng.uniform(20.0, 30.0) * s
        shape = _occluder_polygon(rng, radius)
        direction = _unit(np.array(rng.uniform(-np.pi, np.pi)))
        across = np.array([-direction[1], direction[0]])
        anchor = center[mid] + rng.uniform(-0.8, 0.8) * radius * across
        speed = 2.0 * (radius + 45.0 * s) / max(duration, 1)
        spin = rng.uniform(-0.03, 0.03)
        for i in range(start, min(n, start + duration)):
            a = spin * (i - start)
            rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
            occluders[i] = shape @ rot.T + anchor + direction * speed * (i - mid)
    return occluders


def background_texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A fixed, busy, low-contrast texture (bedding-like) with a per-video tint."""
    lo, hi = BACKGROUND_RANGE
    base = rng.uniform(lo + 35, hi - 35) + rng.uniform(-8, 8, 3)
    coarse = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 12)
    coarse *= 12.0 / max(float(coarse.std()), 1e-6)
    fine = np.zeros((height, width), np.float32)
    for _ in range(int(width * height / 40)):  # short straw-like strokes
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        a, length = rng.uniform(0, np.pi), rng.uniform(3, 12)
        dx, dy = np.cos(a) * length / 2, np.sin(a) * length / 2
        p1 = (int((x - dx) * _ONE), int((y - dy) * _ONE))
        p2 = (int((x + dx) * _ONE), int((y + dy) * _ONE))
        cv2.line(fine, p1, p2, float(rng.uniform(-25, 25)), 1, cv2.LINE_AA, _SHIFT)
    for _ in range(int(width * height / 300)):  # pebbles and crumbs
        centre = (int(rng.uniform(0, width) * _ONE), int(rng.uniform(0, height) * _ONE))
        radius = int(rng.uniform(1.0, 3.0) * _ONE)
        cv2.circle(fine, centre, radius, float(rng.uniform(-22, 22)), -1, cv2.LINE_AA, _SHIFT)
    fine = cv2.GaussianBlur(fine, (0, 0), 0.7)
    img = base[None, None, :] + (coarse + fine)[..., None]
    return np.clip(img, lo, hi).astype(np.uint8)


def simulate(
    nframes: int = 300, size: tuple[int, int] = (320, 240), fps: float = 30, seed: int = 0
) -> Scene:
    """Simulate a recording of ``nframes`` frames of ``size = (width, height)``."""
    width, height = (int(v) for v in size)
    if nframes < 1:
        raise DemoError(f"nframes must be at least 1, got {nframes}")
    if width < 64 or height < 48:
        raise DemoError(f"size {width}x{height} is too small for the demo animal (min 64x48)")
    rng = np.random.default_rng(seed)
    s = min(width / 320.0, height / 240.0) * rng.uniform(0.95, 1.05)
    center, heading, yaw, bend = _path(rng, nframes, width, height, fps, MARGIN * s)
    keypoints, _, _ = animal_keypoints(center, heading, yaw, s)
    occluders = _occlusions(rng, nframes, center, s)
    visible = np.ones(keypoints.shape[:2], bool)
    for i, poly in enumerate(occluders):
        if poly is None:
            continue
        contour = poly.astype(np.float32).reshape(-1, 1, 2)
        for j, (x, y) in enumerate(keypoints[i]):
            # hidden: inside the blob or within half a pixel of its edge
            dist = cv2.pointPolygonTest(contour, (float(x), float(y)), True)
            visible[i, j] = dist < -0.5
    background = background_texture(rng, width, height)
    return Scene(
        width=width,
        height=height,
        fps=float(fps),
        seed=int(seed),
        scale=float(s),
        center=center,
        heading=heading,
        head_yaw=yaw,
        tail_bend=bend,
        keypoints=keypoints,
        visible=visible,
        occluders=tuple(occluders),
        background=background,
    )


# -- rendering ------------------------------------------------------------------------------
def _fx(p: np.ndarray | tuple[float, float]) -> tuple[int, int]:
    """A point in OpenCV's fixed-point coordinates (``shift=4``)."""
    return int(round(float(p[0]) * _ONE)), int(round(float(p[1]) * _ONE))


def draw_disc(img: np.ndarray, p: np.ndarray, r: float, color: tuple[int, int, int]) -> None:
    """A filled, anti-aliased disc of radius ``r`` centred on ``p`` (sub-pixel exact)."""
    cv2.circle(img, _fx(p), int(round(r * _ONE)), color, -1, cv2.LINE_AA, _SHIFT)


def _ellipse(
    img: np.ndarray, p: np.ndarray, a: float, b: float, theta: float, color: tuple[int, int, int]
) -> None:
    axes = (int(round(a * _ONE)), int(round(b * _ONE)))
    cv2.ellipse(img, _fx(p), axes, float(np.degrees(theta)), 0, 360, color, -1, cv2.LINE_AA, _SHIFT)


def draw_animal(
    img: np.ndarray,
    center: np.ndarray,
    heading: float,
    head_yaw: float,
    tail_bend: float,
    scale: float,
    colors: dict[str, tuple[int, int, int]] = COLORS,
) -> None:
    """Draw the mouse (body, tail, head, ears, nose) onto ``img`` in place; ``colors``
    (default :data:`COLORS`) gives each piece's colour (one value for all: a silhouette)."""
    s, c, theta = scale, np.asarray(center, float), float(heading)
    kp, head, head_dir = animal_keypoints(
        c[None], np.array([theta]), np.array([float(head_yaw)]), s
    )
    kp, head, hd = kp[0], head[0], float(head_dir[0])
    snout, leftear, rightear, tailbase = kp
    _ellipse(img, c, _BODY_A * s, _BODY_B * s, theta, colors["body"])
    # tail: a tapered, bending polyline from the tail base backwards
    seg = _TAIL_LEN * s / _TAIL_SEGMENTS
    angle, p = theta + np.pi, tailbase.copy()
    for k in range(_TAIL_SEGMENTS):
        angle += float(tail_bend) / _TAIL_SEGMENTS
        q = p + seg * np.array([np.cos(angle), np.sin(angle)])
        thick = max(1, int(round((4.0 - 3.0 * k / _TAIL_SEGMENTS) * s)))
        cv2.line(img, _fx(p), _fx(q), colors["tailbase"], thick, cv2.LINE_AA, _SHIFT)
        p = q
    draw_disc(img, tailbase, _TAIL_ROOT_R * s, colors["tailbase"])
    _ellipse(img, head, _HEAD_A * s, _HEAD_B * s, hd, colors["head"])
    draw_disc(img, leftear, _EAR_R * s, colors["leftear"])
    draw_disc(img, rightear, _EAR_R * s, colors["rightear"])
    draw_disc(img, snout, _NOSE_R * s, colors["snout"])


def add_sensor_noise(img: np.ndarray, seed: int, i: int) -> np.ndarray:
    """``img`` with the sensor noise of frame ``i`` (seeded by (seed, frame))."""
    rng = np.random.default_rng([seed, 1, i])
    jitter = rng.normal(0.0, 3.0, img.shape) + rng.normal(0.0, 1.5)
    return np.clip(img + jitter, 0, 255).astype(np.uint8)


def render_frame(scene: Scene, i: int, noise: bool = True) -> np.ndarray:
    """Frame ``i`` of a scene (BGR uint8). Sensor noise is seeded by (seed, frame)."""
    img, sc = scene.background.copy(), scene
    draw_animal(img, sc.center[i], sc.heading[i], sc.head_yaw[i], sc.tail_bend[i], sc.scale)
    poly = scene.occluders[i]
    if poly is not None:
        pts = np.round(poly * _ONE).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(img, [pts], COLORS["occluder"], cv2.LINE_AA, _SHIFT)
        inner = poly.mean(0) + 0.55 * (poly - poly.mean(0))
        pts = np.round(inner * _ONE).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(img, [pts], COLORS["occluder_inner"], cv2.LINE_AA, _SHIFT)
    return add_sensor_noise(img, scene.seed, i) if noise else img


# -- files ----------------------------------------------------------------------------------
def groundtruth_path(video: str | os.PathLike[str]) -> Path:
    """``<video folder>/<stem>_groundtruth.h5`` (:meth:`Project.groundtruth_file`)."""
    return Project.groundtruth_file(video)


def read_groundtruth(video_or_h5: str | os.PathLike[str]) -> pd.DataFrame:
    """The ground truth of a demo video (give the video or the ``_groundtruth.h5``): 3 column
    levels for a single-animal video, 4 (with ``individuals``) for a multi-animal one."""
    p = Path(video_or_h5)
    path = p if p.suffix.lower() in (".h5", ".hdf5") else groundtruth_path(p)
    if not path.is_file():
        raise DemoError(f"{path}: ground truth file not found (only dlcflow demo videos have one)")
    df = read_frame(path, error=DemoError)
    if not isinstance(df, pd.DataFrame) or df.columns.nlevels not in (3, 4):
        raise DemoError(
            f"{path}: not a ground truth table (scorer, (individuals,) bodyparts, coords)"
        )
    return df


def write_video(
    scene: Any, path: str | os.PathLike[str], render: Callable[[Any, int], np.ndarray] | None = None
) -> Path:
    """Render a scene (frame by frame with ``render``, default :func:`render_frame`) into
    an mp4 (mp4v) and its ground truth beside it, atomically."""
    render = render or render_frame
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(groundtruth_path(out)) as tmp_gt:
        write_frame_to(scene.groundtruth(), tmp_gt, table=False)
        with VideoWriter(out, scene.fps, (scene.width, scene.height)) as writer:
            for i in range(scene.nframes):
                writer.write(render(scene, i))
    return out


def make_video(
    path: str | os.PathLike[str],
    nframes: int = 300,
    size: tuple[int, int] = (320, 240),
    fps: float = 30,
    seed: int = 0,
) -> Path:
    """Write a synthetic mouse video (mp4v) and ``<stem>_groundtruth.h5`` beside it.

    ``size`` is ``(width, height)``. The same arguments give the same video and ground truth.
    """
    return write_video(simulate(nframes, size, fps, seed), path)


def _video_seed(seed: int, k: int) -> int:
    return int(np.random.SeedSequence([seed, k]).generate_state(1)[0])


def demo_video_stems(
    n_videos: int, n_test_videos: int = 0, prefix: str = "mouse"
) -> tuple[list[str], list[str]]:
    """(labeled, held-out) video stems of a demo project made with these counts."""
    names = [f"{prefix}{k + 1}" for k in range(n_videos + n_test_videos)]
    return names[:n_videos], names[n_videos:]


def make_demo_data(
    outdir: str | os.PathLike[str],
    n_videos: int = 2,
    nframes: int = 300,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
) -> list[Path]:
    """Write ``mouse1.mp4 ... mouse<n>.mp4`` (and their ground truth) into ``outdir``."""
    if n_videos < 1:
        raise DemoError(f"n_videos must be at least 1, got {n_videos}")
    folder = Path(outdir)
    return [
        make_video(folder / f"mouse{k + 1}.mp4", nframes, size, seed=_video_seed(seed, k))
        for k in range(n_videos)
    ]


def style_demo_config(cfg: MutableMapping[str, Any], numframes2pick: int) -> None:
    """The demos' frames to pick, skeleton and drawing settings, set in a project config."""
    cfg["numframes2pick"] = int(numframes2pick)
    cfg["skeleton"] = [list(bone) for bone in SKELETON]
    cfg["skeleton_color"] = "white"
    cfg["colormap"] = "rainbow"
    cfg["dotsize"] = 6
    cfg["alphavalue"] = 0.7


def make_demo_project(
    outdir: str | os.PathLike[str],
    n_videos: int = 2,
    nframes: int = 300,
    numframes2pick: int = 50,
    seed: int = 0,
    size: tuple[int, int] = (320, 240),
    n_test_videos: int = 0,
) -> Path:
    """Make demo videos in ``outdir/data/`` and a project ``demo-oracle-<date>`` in ``outdir``.

    The project has the demo body parts and skeleton, ``numframes2pick`` frames per video,
    and markers sized for small frames. ``n_test_videos`` more videos are linked into the
    project's ``videos/`` folder without being added to ``video_sets``: nothing of them is
    labeled, so analyzing them measures how the model does on unseen video. Returns the
    path of its config.yaml.
    """
    root = Path(outdir).expanduser().resolve()
    videos = make_demo_data(root / "data", n_videos, nframes, size, seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*project exists already.*")
        config = Path(
            create_new_project(
                DEMO_TASK, DEMO_SCORER, videos, working_directory=root, bodyparts=list(BODYPARTS)
            )
        )
    cfg = read_config(config)
    style_demo_config(cfg, numframes2pick)
    write_config(config, cfg)
    for k in range(n_videos, n_videos + n_test_videos):
        video = make_video(
            root / "data" / f"mouse{k + 1}.mp4", nframes, size, seed=_video_seed(seed, k)
        )
        link = config.parent / "videos" / video.name
        if not link.exists():
            link.symlink_to(video)
    return config


# -- the oracle labeler ---------------------------------------------------------------------
_FRAME_RE = re.compile(r"^img(\d+)\.png$")


def _find_groundtruth(project: Project, stem: str) -> Path:
    try:
        key = project.video_key_for_stem(stem)
    except KeyError:
        raise DemoError(
            f"{project.config_path}: no video named {stem!r} in video_sets; "
            "give the ground truth file"
        ) from None
    candidates = [Path(key), project.resolve_video(key)]
    candidates.append(candidates[-1].resolve())
    for video in candidates:
        if groundtruth_path(video).is_file():
            return groundtruth_path(video)
    raise DemoError(
        f"{groundtruth_path(Path(key))}: ground truth file not found "
        f"(the oracle labels only dlcflow demo videos)"
    )


def oracle_label(
    config: str | os.PathLike[str],
    stem: str,
    groundtruth: str | os.PathLike[str] | None = None,
) -> Path:
    """Label the frames extracted into ``labeled-data/<stem>/`` from the ground truth.

    ``img<N>.png`` is frame ``N`` of the video. Writes ``CollectedData_<scorer>.h5`` (and
    the csv) with the project scorer and body parts (multi-animal projects: each of the
    project's individuals from the ground truth's individual of that name, unique parts
    under ``single``), replacing an older file; parts hidden in a frame stay NaN.
    ``groundtruth`` defaults to the file beside the project's video. Returns the h5 path.
    """
    project = Project(config)
    folder = project.labeled_folder(stem)
    found = folder.iterdir() if folder.is_dir() else []
    frames = sorted((int(m.group(1)), p.name) for p in found if (m := _FRAME_RE.match(p.name)))
    if not frames and not _no_outliers_found(project, stem):
        raise DemoError(f"{folder}: no extracted frames (img<N>.png) to label")
    gt_path = Path(groundtruth) if groundtruth is not None else _find_groundtruth(project, stem)
    gt = to_dataset(read_groundtruth(gt_path))
    labels = to_dataset(empty_annotations(project, [name for _, name in frames], video=stem))
    keys = point_keys(labels)  # the project's (individual, body part) points
    if gt.attrs["multianimal"] != project.multianimal:
        kind = "multi-animal" if project.multianimal else "single-animal"
        raise DemoError(f"{gt_path}: not the ground truth of a {kind} video, as the project's")
    gt_keys = set(point_keys(gt))
    for individual, bp in keys:
        if (individual, bp) not in gt_keys:
            who = f"individual {individual!r}, " if project.multianimal else ""
            raise DemoError(f"{gt_path}: no ground truth for {who}body part {bp!r} of the project")
    too_late = [name for index, name in frames if index >= gt.sizes["time"]]
    if too_late:
        raise DemoError(
            f"{folder / too_late[0]}: frame beyond the {gt.sizes['time']} frames of {gt_path.name}"
        )
    indices = [index for index, _ in frames]
    xy = points_array(gt, keys)[indices]  # frames, points, 2
    crop = (read_manifest(project, stem) or {}).get("crop")
    if crop:  # frames cut to the video_sets crop: labels are relative to the crop
        x1, x2, y1, y2 = (float(v) for v in crop)
        xy = xy - np.array([x1, y1])
        with np.errstate(invalid="ignore"):
            outside = (xy[..., 0] < 0) | (xy[..., 0] > x2 - x1) | (xy[..., 1] < 0)
            outside |= xy[..., 1] > y2 - y1
        xy[outside] = np.nan
    labels = with_points(labels, xy, keys)
    out = project.collected_data(stem)
    write_annotations(to_frame(labels), out)
    return out


def _no_outliers_found(project: Project, stem: str) -> bool:
    """Whether the outlier extraction of ``stem`` ran and found no frame (an empty table)."""
    record = project.outliers_record(stem)
    return record.is_file() and not json.loads(record.read_text()).get("extracted")


def oracle_label_project(config: str | os.PathLike[str]) -> list[Path]:
    """Run :func:`oracle_label` on every labeled-data folder that holds extracted frames."""
    project = Project(config)
    written = []
    for folder in project.labeled_folders():
        if any(_FRAME_RE.match(p.name) for p in folder.iterdir()):
            written.append(oracle_label(project.config_path, folder.name))
    return written
