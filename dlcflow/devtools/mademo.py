"""Synthetic multi-animal videos with known ground truth, and the multi-animal demo project.

:func:`render_multi_animal_video` draws ``n_animals`` look-alike mice (the mouse of
:mod:`dlcflow.devtools.demo`: same shape and colours, sizes within ±5 %) over the demo's
busy background, plus a fixed round *feeder* on the floor. Each mouse wanders the arena;
every few seconds two of them are sent through one meeting point from different
directions, so that they cross, touch (a soft push keeps body centres about a body width
apart, no closer) and cover one another. Mice are drawn in a depth order (bottom to top)
that changes only while the mice whose order changes are far apart, so nothing pops: an
animal drawn over another hides the parts of it under its silhouette, and a mouse walking
over the feeder hides it.

Body parts: the demo's four per mouse (:data:`BODYPARTS`: ``snout``, ``leftear``,
``rightear``, ``tailbase``) and one unique part, ``feeder``, the centre of the feeder
(:data:`UNIQUE_BODYPARTS`). The exact positions are written beside the video as
``<stem>_groundtruth.h5`` in DLC's multi-animal layout (key ``df_with_missing``; columns
``scorer='groundtruth' × individuals (mouse1..mouseN, then single) × bodyparts × coords
(x, y)``, the feeder under ``single``; rows ``range(nframes)``; float64; NaN where the part
is hidden). :class:`GroupScene` keeps every position, hidden or not. Everything is
deterministic for a seed; coordinates follow DeepLabCut's convention as in the demo.

:func:`make_multi_animal_demo_project` makes a multi-animal DLC project of such videos
(individuals, multianimalbodyparts, uniquebodyparts, skeleton); the demo's oracle
(:func:`dlcflow.devtools.demo.oracle_label`) labels its extracted frames from the ground
truth, in the 4-level CollectedData layout.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d

from dlcflow.data.pose import SINGLE, make_poses
from dlcflow.devtools.demo import (
    BODYPARTS,
    COLORS,
    DEMO_SCORER,
    GT_SCORER,
    MARGIN,
    SKELETON,
    DemoError,
    add_sensor_noise,
    animal_keypoints,
    background_texture,
    body_motion,
    demo_video_stems,
    draw_animal,
    draw_disc,
    smooth_signal,
    style_demo_config,
    write_video,
)
from dlcflow.io.tables import to_frame
from dlcflow.project.config import read_config, write_config
from dlcflow.project.create import create_new_project

UNIQUE_BODYPARTS: tuple[str, ...] = ("feeder",)
MA_TASK = "mademo"
#: Colours (BGR) of the feeder: a dark rim around a bright green centre.
FEEDER_COLORS: dict[str, tuple[int, int, int]] = {"rim": (35, 95, 40), "centre": (90, 215, 105)}

# Geometry in pixels at 320x240 (scaled with the frame size).
_FEEDER_R, _FEEDER_CENTRE_R = 8.0, 4.5
_TOUCH = 20.0  # body centres are pushed apart when closer than this (a body's width)
_REACH = 47.0  # farthest drawn pixel from the body centre (the tail tip)
_PASS_SPEED = 1.2  # px per frame along the crossing line during an encounter
_GAIN, _MAX_SPEED = 0.15, 4.0  # how fast a mouse closes on its target; px per frame at most
_STIFFNESS, _ASIDE = 0.5, np.radians(30.0)  # the push between mice closer than _TOUCH
_ENCOUNTER_S = 2.5  # seconds between encounters (each one lasts up to that long)
_WHITE = {key: (255, 255, 255) for key in ("body", "head", *BODYPARTS)}


def individual_names(n_animals: int) -> list[str]:
    """``mouse1 .. mouse<n>``: the individuals of a multi-animal demo video."""
    return [f"mouse{k + 1}" for k in range(n_animals)]


@dataclass(frozen=True)
class GroupScene:
    """A simulated multi-animal recording: where everything is in every frame.

    Per frame ``i`` and animal ``k``: body ``center[i, k]``, ``heading``, ``head_yaw``,
    ``tail_bend``; ``keypoints[i, k]`` the true positions of :data:`BODYPARTS` (hidden or
    not) and ``visible[i, k]`` which are not covered by an animal drawn above. ``order[i]``
    lists the animals bottom to top. The feeder sits at ``feeder`` in every frame,
    ``feeder_visible[i]`` unless a mouse covers it.
    """

    width: int
    height: int
    fps: float
    seed: int
    scales: np.ndarray  # (animals,)
    center: np.ndarray  # (n, animals, 2)
    heading: np.ndarray  # (n, animals)
    head_yaw: np.ndarray  # (n, animals)
    tail_bend: np.ndarray  # (n, animals)
    keypoints: np.ndarray  # (n, animals, len(BODYPARTS), 2)
    visible: np.ndarray  # (n, animals, len(BODYPARTS)) bool
    order: np.ndarray  # (n, animals) animal indices, bottom to top
    feeder: np.ndarray  # (2,)
    feeder_radius: float
    feeder_visible: np.ndarray  # (n,) bool
    background: np.ndarray  # (height, width, 3) uint8

    @property
    def nframes(self) -> int:
        return int(self.center.shape[0])

    @property
    def n_animals(self) -> int:
        return int(self.center.shape[1])

    @property
    def individuals(self) -> list[str]:
        return individual_names(self.n_animals)

    def positions(self, hidden: bool = False) -> np.ndarray:
        """``(time, space, keypoints, individuals)`` positions of the data model: the
        animals' parts, then the feeder under ``single``; NaN where hidden unless
        ``hidden`` (then every true position)."""
        n, a = self.nframes, self.n_animals
        pos = np.full((n, 2, len(BODYPARTS) + 1, a + 1), np.nan)
        parts = (
            self.keypoints if hidden else np.where(self.visible[..., None], self.keypoints, np.nan)
        )
        pos[:, :, : len(BODYPARTS), :a] = parts.transpose(0, 3, 2, 1)
        seen = np.ones(n, bool) if hidden else self.feeder_visible
        pos[seen, :, len(BODYPARTS), a] = self.feeder
        return pos

    def groundtruth(self) -> pd.DataFrame:
        """The ground-truth table (4 column levels): visible positions, NaN where hidden."""
        poses = make_poses(
            self.positions(),
            keypoints=[*BODYPARTS, *UNIQUE_BODYPARTS],
            individuals=[*self.individuals, SINGLE],
            scorer=GT_SCORER,
            unique_keypoints=UNIQUE_BODYPARTS,
            skeleton=SKELETON,
            fps=self.fps,
        )
        return to_frame(poses)


# -- simulation -----------------------------------------------------------------------------
def _wander(
    rng: np.random.Generator, n: int, a: int, fps: float, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """(n, a, 2) smooth wandering paths inside the box [lo, hi]."""
    half, reach = (lo + hi) / 2.0, (hi - lo) / 2.0
    signals = [
        [smooth_signal(rng, n, fps, 0.05, 0.2) for _ in range(2)] for _ in range(a)
    ]  # animal, axis, time
    return half + reach * np.asarray(signals).transpose(2, 0, 1)


def _encounters(
    rng: np.random.Generator,
    paths: np.ndarray,
    fps: float,
    s: float,
    lo: np.ndarray,
    hi: np.ndarray,
) -> np.ndarray:
    """``paths`` with, every few seconds, two animals sent through one meeting point from
    different directions (a smooth blend in and out of their wandering)."""
    n, a = paths.shape[:2]
    out = paths.copy()
    pairs = list(itertools.combinations(range(a), 2))
    pairs = [pairs[j] for j in rng.permutation(len(pairs))]
    period = max(1, round(_ENCOUNTER_S * fps))
    n_events = max(1, round(n / period))
    length = max(1, min(period, n // n_events))
    t = np.arange(n)
    for e in range(n_events):
        first, second = pairs[e % len(pairs)]
        mid = int((e + 0.5) * n / n_events)
        t0 = mid - length // 2
        weight = np.where(
            (t >= t0) & (t <= t0 + length), np.sin(np.pi * (t - t0) / length) ** 2, 0.0
        )
        meet = np.clip((paths[mid, first] + paths[mid, second]) / 2.0, lo, hi)
        angle = rng.uniform(-np.pi, np.pi)
        turn = rng.choice([-1.0, 1.0]) * rng.uniform(np.pi / 2.0, np.pi)
        for k, theta in ((first, angle), (second, angle + turn)):
            direction = np.array([np.cos(theta), np.sin(theta)])
            passing = meet + direction * _PASS_SPEED * s * (t - mid)[:, None]
            out[:, k] = (1.0 - weight[:, None]) * out[:, k] + weight[:, None] * passing
    return out


def _follow(targets: np.ndarray, s: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Body centres (n, a, 2) that chase their ``targets`` at a bounded speed and push each
    other off when closer than a body width; the push turns aside (every mouse keeps to
    its right), so mice meeting head-on squeeze past each other instead of stalling."""
    n, a = targets.shape[:2]
    touch, vmax = _TOUCH * s, _MAX_SPEED * s
    aside = np.array([[np.cos(_ASIDE), -np.sin(_ASIDE)], [np.sin(_ASIDE), np.cos(_ASIDE)]])
    out = np.empty_like(targets)
    p = targets[0].copy()
    for t in range(n):
        v = _GAIN * (targets[t] - p)
        speed = np.hypot(v[:, 0], v[:, 1])[:, None]
        v = np.where(speed > vmax, v * vmax / np.maximum(speed, 1e-9), v)
        for j, k in itertools.combinations(range(a), 2):
            delta = p[k] - p[j]
            d = float(np.hypot(*delta))
            if d < touch:
                unit = delta / d if d > 1e-9 else np.array([1.0, 0.0])
                push = _STIFFNESS * (touch - d) * (aside @ unit)
                v[k] += push / 2.0
                v[j] -= push / 2.0
        p = np.clip(p + v, lo, hi)
        out[t] = p
    return out


def _depth_order(
    rng: np.random.Generator, center: np.ndarray, fps: float, far: float
) -> np.ndarray:
    """(n, a) drawing order per frame, bottom to top: a slow random ranking, adopted only
    when every pair it swaps is farther apart than ``far`` (no visible change)."""
    n, a = center.shape[:2]
    height = np.stack([smooth_signal(rng, n, fps, 0.05, 0.2) for _ in range(a)], axis=1)
    order = np.empty((n, a), int)
    current = [int(v) for v in rng.permutation(a)]
    for i in range(n):
        wanted = [int(v) for v in np.argsort(height[i], kind="stable")]
        rank = {k: r for r, k in enumerate(current)}
        new_rank = {k: r for r, k in enumerate(wanted)}
        swapped = [
            (j, k)
            for j, k in itertools.combinations(range(a), 2)
            if (rank[j] < rank[k]) != (new_rank[j] < new_rank[k])
        ]
        if all(np.hypot(*(center[i, j] - center[i, k])) > far for j, k in swapped):
            current = wanted
        order[i] = current
    return order


def _covered(mask: np.ndarray, x: float, y: float) -> bool:
    """Whether a silhouette covers (any of the four pixels around) the point (x, y)."""
    h, w = mask.shape
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    xs, ys = np.clip([x0, x0 + 1], 0, w - 1), np.clip([y0, y0 + 1], 0, h - 1)
    return bool(mask[np.ix_(ys, xs)].any())


def animal_mask(scene: GroupScene, i: int, k: int) -> np.ndarray:
    """The silhouette (uint8, 0 outside, >0 where anti-aliased drawing touches) of animal
    ``k`` in frame ``i``: the pixels it paints over whatever lies below."""
    return _mask(
        (scene.height, scene.width),
        (scene.center[i, k], scene.heading[i, k], scene.head_yaw[i, k], scene.tail_bend[i, k]),
        float(scene.scales[k]),
    )


def _mask(
    shape: tuple[int, int], pose: tuple[np.ndarray, float, float, float], s: float
) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    draw_animal(mask, *pose, s, colors=_WHITE)
    return mask


def simulate_group(
    nframes: int = 300,
    n_animals: int = 3,
    size: tuple[int, int] = (320, 240),
    fps: float = 30,
    seed: int = 0,
) -> GroupScene:
    """Simulate a recording of ``n_animals`` mice, ``nframes`` frames of ``size = (width,
    height)``."""
    width, height = (int(v) for v in size)
    if nframes < 1:
        raise DemoError(f"nframes must be at least 1, got {nframes}")
    if n_animals < 2:
        raise DemoError(f"n_animals must be at least 2 for a multi-animal video, got {n_animals}")
    if width < 128 or height < 96:
        raise DemoError(f"size {width}x{height} is too small for the group of mice (min 128x96)")
    rng = np.random.default_rng(seed)
    base = min(width / 320.0, height / 240.0)
    scales = base * rng.uniform(0.95, 1.05, n_animals)
    lo = np.full(2, MARGIN * base)
    hi = np.array([width, height], float) - MARGIN * base
    paths = _encounters(rng, _wander(rng, nframes, n_animals, fps, lo, hi), fps, base, lo, hi)
    center = _follow(paths, base, lo, hi)
    if nframes > 1:
        center = np.clip(gaussian_filter1d(center, 1.5, axis=0, mode="nearest"), lo, hi)
    motion = [body_motion(rng, center[:, k], fps) for k in range(n_animals)]
    heading, yaw, bend = (np.stack([m[j] for m in motion], axis=1) for j in range(3))
    keypoints = np.stack(
        [
            animal_keypoints(center[:, k], heading[:, k], yaw[:, k], scales[k])[0]
            for k in range(n_animals)
        ],
        axis=1,
    )
    order = _depth_order(rng, center, fps, 2.0 * _REACH * base * 1.05)
    feeder = rng.uniform(lo, hi)
    visible = np.ones(keypoints.shape[:3], bool)
    feeder_visible = np.ones(nframes, bool)
    for i in range(nframes):
        masks = {
            k: _mask(
                (height, width), (center[i, k], heading[i, k], yaw[i, k], bend[i, k]), scales[k]
            )
            for k in range(n_animals)
        }
        feeder_visible[i] = not any(_covered(m, *feeder) for m in masks.values())
        for depth, k in enumerate(order[i]):
            above = [masks[int(j)] for j in order[i, depth + 1 :]]
            for p, (x, y) in enumerate(keypoints[i, k]):
                visible[i, k, p] = not any(_covered(m, x, y) for m in above)
    return GroupScene(
        width=width,
        height=height,
        fps=float(fps),
        seed=int(seed),
        scales=scales,
        center=center,
        heading=heading,
        head_yaw=yaw,
        tail_bend=bend,
        keypoints=keypoints,
        visible=visible,
        order=order,
        feeder=feeder,
        feeder_radius=_FEEDER_R * base,
        feeder_visible=feeder_visible,
        background=background_texture(rng, width, height),
    )


# -- rendering and files ------------------------------------------------------------------
def render_group_frame(
    scene: GroupScene,
    i: int,
    noise: bool = True,
    animals: Collection[int] | None = None,
    colors: Sequence[dict[str, tuple[int, int, int]]] | None = None,
) -> np.ndarray:
    """Frame ``i`` of a group scene (BGR uint8): the background, the feeder, then the mice
    bottom to top (only those in ``animals``, when given; each in ``colors[k]`` when
    given, else all in the demo's colours). Sensor noise is seeded by (seed, frame)."""
    img = scene.background.copy()
    r = scene.feeder_radius
    draw_disc(img, scene.feeder, r, FEEDER_COLORS["rim"])
    draw_disc(img, scene.feeder, r * _FEEDER_CENTRE_R / _FEEDER_R, FEEDER_COLORS["centre"])
    for k in (int(v) for v in scene.order[i]):
        if animals is not None and k not in animals:
            continue
        draw_animal(
            img,
            scene.center[i, k],
            scene.heading[i, k],
            scene.head_yaw[i, k],
            scene.tail_bend[i, k],
            float(scene.scales[k]),
            COLORS if colors is None else colors[k],
        )
    return add_sensor_noise(img, scene.seed, i) if noise else img


def write_group_video(scene: GroupScene, path: str | os.PathLike[str]) -> Path:
    """Render a group scene into an mp4 (mp4v) and its ground truth beside it, atomically."""
    return write_video(scene, path, render_group_frame)


def render_multi_animal_video(
    path: str | os.PathLike[str],
    nframes: int = 300,
    n_animals: int = 3,
    seed: int = 0,
    size: tuple[int, int] = (320, 240),
    fps: float = 30,
) -> Path:
    """Write a synthetic multi-animal video (mp4v) and ``<stem>_groundtruth.h5`` beside it.

    ``size`` is ``(width, height)``. The same arguments give the same video and ground truth.
    """
    return write_group_video(simulate_group(nframes, n_animals, size, fps, seed), path)


def _video_seed(seed: int, k: int) -> int:
    return int(np.random.SeedSequence([seed, 2, k]).generate_state(1)[0])


def multi_animal_video_stems(n_videos: int, n_test_videos: int = 0) -> tuple[list[str], list[str]]:
    """(labeled, held-out) video stems of a multi-animal demo project: ``mice1, mice2, ...``."""
    return demo_video_stems(n_videos, n_test_videos, prefix="mice")


def make_multi_animal_demo_data(
    outdir: str | os.PathLike[str],
    n_videos: int = 2,
    nframes: int = 300,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
    n_animals: int = 3,
    first: int = 0,
) -> list[Path]:
    """Write ``mice<first+1>.mp4 ...`` (``n_videos`` of them, with ground truth) into ``outdir``."""
    if n_videos < 1:
        raise DemoError(f"n_videos must be at least 1, got {n_videos}")
    stems, _ = multi_animal_video_stems(first + n_videos)
    return [
        render_multi_animal_video(
            Path(outdir) / f"{stem}.mp4", nframes, n_animals, _video_seed(seed, k), size
        )
        for k, stem in enumerate(stems)
        if k >= first
    ]


def make_multi_animal_demo_project(
    outdir: str | os.PathLike[str],
    n_videos: int = 2,
    nframes: int = 300,
    numframes2pick: int = 50,
    seed: int = 0,
    size: tuple[int, int] = (320, 240),
    n_animals: int = 3,
    n_test_videos: int = 0,
) -> Path:
    """Make multi-animal demo videos in ``outdir/data/`` and a project
    ``mademo-oracle-<date>`` in ``outdir``; return its config.yaml.

    The project is multi-animal: individuals ``mouse1..mouse<n_animals>``,
    multianimalbodyparts :data:`BODYPARTS`, uniquebodyparts :data:`UNIQUE_BODYPARTS`, the
    demo's skeleton, ``numframes2pick`` frames per video. ``n_test_videos`` more videos are
    linked into ``videos/`` without being added to ``video_sets`` (never labeled).
    """
    root = Path(outdir).expanduser().resolve()
    videos = make_multi_animal_demo_data(root / "data", n_videos, nframes, size, seed, n_animals)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*project exists already.*")
        config = Path(
            create_new_project(
                MA_TASK,
                DEMO_SCORER,
                videos,
                working_directory=root,
                multianimal=True,
                individuals=individual_names(n_animals),
                bodyparts=list(BODYPARTS),
            )
        )
    cfg = read_config(config)
    cfg["uniquebodyparts"] = list(UNIQUE_BODYPARTS)
    style_demo_config(cfg, numframes2pick)
    write_config(config, cfg)
    if n_test_videos:
        held_out = make_multi_animal_demo_data(
            root / "data", n_test_videos, nframes, size, seed, n_animals, first=n_videos
        )
        for video in held_out:
            link = config.parent / "videos" / video.name
            if not link.exists():
                link.symlink_to(video)
    return config
