"""Training augmentation driven by DeepLabCut's pose_cfg keys (albumentations).

DLC 2.3 builds an imgaug pipeline from the train ``pose_cfg.yaml``; imgaug does not run
with NumPy 2, so dlcflow maps the same keys onto albumentations. One call of the
augmenter takes an RGB ``uint8`` image and its keypoints ``(J, 2)`` (x, y; NaN = not
labeled) and returns the augmented image, the moved keypoints (NaN where a point is not
labeled or has left the frame; row order never changes) and the global scale applied.

Keys (DLC's names and defaults; ``apply_prob`` = 0.5 is the probability DLC gives the
"sometimes" augmenters):

============================== ===========================================================
``global_scale`` (0.8)          every image is resized by ``global_scale`` x a jitter drawn
``scale_jitter_lo/up``          from U(``scale_jitter_lo``, ``scale_jitter_up``) (0.5, 1.25);
                                the size is ``ceil(size * scale)``, clamped so that its area
                                stays within ``min_input_size``\\ :sup:`2` ..
                                ``max_input_size``\\ :sup:`2` (64, 1500; DLC raises instead).
``crop_size`` [w, h]            only when the key is present (DLC drops it for single-animal
``max_shift``                   projects): a larger image is cropped to this size around a
                                random labeled point shifted by up to ``max_shift`` x size.
``mirror``                      horizontal flip; ``true`` flips with probability
(``fliplr``)                    ``apply_prob`` x 0.5, a number p with ``apply_prob`` x p.
``symmetric_pairs``             left/right body-part pairs swapped when the image is
                                flipped: index pairs ``[[1, 2], ...]`` or name pairs
                                ``[[leftear, rightear], ...]``. Without it, ``all_joints``
                                entries of two parts (DeeperCut's ``[[0], [1, 2]]``) are the
                                pairs. Without either, flipping keeps the indices (DLC).
``rotation`` (25), ``rotratio`` rotation by U(-rotation, rotation) degrees with probability
                                ``rotratio`` (0.4); ``rotation: false`` or 0 turns it off.
``motion_blur``                 with ``apply_prob``; ``motion_blur_params: {k: 7, angle:
                                [-90, 90]}`` give the kernel size and angle range.
``covering``                    coarse dropout with ``apply_prob``: 4-16 holes of 2-6 % of
                                the side, filled with random colour (about DLC's 2 % area).
``elastic_transform``           elastic deformation (sigma 5, alpha 20) with ``apply_prob``.
``gaussian_noise``              additive noise (number: max std in 0..255) with apply_prob.
``grayscale``                   full greyscale with ``apply_prob``.
``contrast.histeq/histeqratio`` per-channel histogram equalisation, probability ratio.
``contrast.clahe/claheratio``   CLAHE (a mapping passes ``clip_limit``/``tile_grid_size``).
``cropratio`` (0.4)             crop/pad each side by up to ``crop_by`` (0.15) of the size,
                                resized back (a zoom and shift), with probability cropratio.
============================== ===========================================================

``train=False`` applies only the deterministic global scale.

Seeding: ``build_augmenter(cfg, seed=s)`` gives a reproducible stream when it is called
from one thread; ``augmenter(image, keypoints, seed=k)`` makes that one call depend on
``k`` only (the trainer passes one seed per sample, so a parallel input pipeline stays
deterministic). Concurrent calls use separate albumentations pipelines (they keep
per-call state), taken from a small pool.
"""

from __future__ import annotations

import contextlib
import functools
import math
import random
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import albumentations as A
import cv2
import numpy as np

__all__ = [
    "Augmenter",
    "apply_pipeline",
    "build_augmenter",
    "compose",
    "out_of_frame_to_nan",
    "pixel_transforms",
    "reseed",
    "symmetric_pairs",
]

# Keypoints keep their row (label "ids") and are never dropped by albumentations; points
# outside the frame are marked NaN afterwards.
_KEYPOINTS = A.KeypointParams(
    format="xy", label_fields=["ids"], remove_invisible=False, check_each_transform=False
)


def _ratio(value: Any, default: float) -> float:
    """A probability from a pose_cfg flag: ``true`` -> default, a number -> itself."""
    if value is True:
        return default
    if value is False or value is None:
        return 0.0
    return float(value)


def symmetric_pairs(cfg: Mapping[str, Any]) -> list[tuple[int, int]]:
    """Left/right body-part index pairs swapped by a horizontal flip.

    From ``symmetric_pairs`` (index or name pairs) or else from two-part ``all_joints``
    entries; an empty list when neither is set.
    """
    names = [str(n) for n in cfg.get("all_joints_names") or []]
    pairs: list[tuple[int, int]] = []
    raw = cfg.get("symmetric_pairs")
    if raw:
        for pair in raw:
            if len(pair) != 2:
                raise ValueError(f"symmetric_pairs: {pair!r} is not a pair")
            idx = []
            for item in pair:
                if isinstance(item, str) and not item.lstrip("-").isdigit():
                    if item not in names:
                        raise ValueError(f"symmetric_pairs: unknown body part {item!r}")
                    idx.append(names.index(item))
                else:
                    idx.append(int(item))
            pairs.append((idx[0], idx[1]))
    else:
        for entry in cfg.get("all_joints") or []:
            if len(entry) == 2:
                pairs.append((int(entry[0]), int(entry[1])))
    n = int(cfg.get("num_joints") or len(names) or 0)
    for a, b in pairs:
        if n and not (0 <= a < n and 0 <= b < n):
            raise ValueError(f"symmetric pair ({a}, {b}) is outside 0..{n - 1}")
    return pairs


def out_of_frame_to_nan(keypoints: np.ndarray, height: int, width: int) -> np.ndarray:
    """Keypoints (..., 2) with the points outside ``0 <= x < width, 0 <= y < height`` as NaN."""
    kp = np.asarray(keypoints, dtype=np.float32).copy()
    with np.errstate(invalid="ignore"):
        x, y = kp[..., 0], kp[..., 1]
        inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    kp[~inside] = np.nan
    return kp


def _bilinear(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``field`` (H, W) sampled at float points (clamped to the image), bilinearly."""
    h, w = field.shape
    x = np.clip(x, 0, w - 1)
    y = np.clip(y, 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), max(w - 2, 0))
    y0 = np.minimum(np.floor(y).astype(np.int64), max(h - 2, 0))
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    top = field[y0, x0] * (1 - fx) + field[y0, x1] * fx
    bottom = field[y1, x0] * (1 - fx) + field[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


@functools.lru_cache(maxsize=16)
def _grids(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel x and y coordinate grids (float32, read-only)."""
    gx, gy = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    gx.flags.writeable = False
    gy.flags.writeable = False
    return gx, gy


class ElasticTransform(A.ElasticTransform):
    """albumentations' elastic transform with sub-pixel keypoints kept in order.

    albumentations 2.0 remaps keypoints through a rasterised mask (integer positions,
    points can vanish) or an inverse map (slow). The image is sampled as
    ``out(q) = in(q + d(q))``, so a point p moves to q with ``q + d(q) = p``; for a smooth
    field a few fixed-point steps ``q <- p - d(q)`` solve it to well under a pixel.
    """

    def get_params_dependent_on_data(
        self, params: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        """Displacement maps: uniform noise smoothed by a Gaussian of ``sigma`` px, times
        ``alpha`` (imgaug's recipe), drawn on a grid 4x coarser and upsampled (the field
        is smooth at this scale, and it is about 5x cheaper)."""
        height, width = params["shape"][:2]
        f = 4 if self.sigma >= 4 else 1
        sh, sw = -(-height // f), -(-width // f)
        noise = self.random_generator.uniform(-1.0, 1.0, (2, sh, sw)).astype(np.float32)
        maps = []
        for k, grid in enumerate(_grids(height, width)):
            field = cv2.GaussianBlur(noise[k], (0, 0), self.sigma / f)
            # A white-noise field blurred on an f-times coarser grid is f times stronger.
            field *= self.alpha / f
            if f > 1:
                field = cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR)
            maps.append(grid + field)
        return {"map_x": maps[0], "map_y": maps[1]}

    def apply_to_keypoints(
        self, keypoints: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, **params: Any
    ) -> np.ndarray:
        if len(keypoints) == 0:
            return keypoints
        h, w = map_x.shape
        gx = map_x - np.arange(w, dtype=np.float32)[None, :]
        gy = map_y - np.arange(h, dtype=np.float32)[:, None]
        px, py = keypoints[:, 0].astype(np.float64), keypoints[:, 1].astype(np.float64)
        qx, qy = px, py
        for _ in range(3):
            qx, qy = px - _bilinear(gx, qx, qy), py - _bilinear(gy, qx, qy)
        out = keypoints.copy()
        out[:, 0], out[:, 1] = qx, qy
        return out


def _clahe(opt: Any, p: float) -> A.CLAHE:
    kwargs: dict[str, Any] = {}
    if isinstance(opt, Mapping):
        if "clip_limit" in opt:
            limit = opt["clip_limit"]
            kwargs["clip_limit"] = tuple(limit) if isinstance(limit, Sequence) else float(limit)
        if "tile_grid_size" in opt:
            size = opt["tile_grid_size"]
            kwargs["tile_grid_size"] = (
                tuple(int(s) for s in size) if isinstance(size, Sequence) else (int(size),) * 2
            )
    return A.CLAHE(p=p, **kwargs)


def _motion_blur(cfg: Mapping[str, Any], p: float) -> A.MotionBlur:
    params = dict(cfg.get("motion_blur_params") or {})
    k = params.get("k", 7)
    lo, hi = (int(v) for v in k) if isinstance(k, Sequence) else (int(k), int(k))
    lo, hi = max(3, lo | 1), max(3, hi | 1)  # odd kernel sizes, at least 3
    angle = params.get("angle", (-90, 90))
    a0, a1 = (float(a) for a in (angle if isinstance(angle, Sequence) else (-angle, angle)))
    # A line's direction repeats every 180 degrees: map DLC's (-90, 90) into 0..360.
    angle_range = (a0 + 180.0, a1 + 180.0) if a0 < 0 else (a0, a1)
    # Centred kernels only: a shifted kernel would move the image but not the keypoints.
    return A.MotionBlur(blur_limit=(lo, hi), angle_range=angle_range, allow_shifted=False, p=p)


def pixel_transforms(cfg: Mapping[str, Any], default_on: bool = True) -> list[A.BasicTransform]:
    """The pixel-level transforms (and the elastic deformation) of a pose_cfg, in DLC's
    order: motion blur, covering, elastic, noise, greyscale, histeq, CLAHE.

    ``default_on`` is what an absent ``motion_blur``/``covering``/``elastic_transform``
    means (DLC's single-animal loader turns them on, its multi-animal one off).
    """
    apply_prob = float(cfg.get("apply_prob", 0.5))
    transforms: list[A.BasicTransform] = []
    if cfg.get("motion_blur", default_on):
        transforms.append(_motion_blur(cfg, apply_prob))
    if cfg.get("covering", default_on):
        transforms.append(
            A.CoarseDropout(
                num_holes_range=(4, 16),
                hole_height_range=(0.02, 0.06),
                hole_width_range=(0.02, 0.06),
                fill="random",
                p=apply_prob,
            )
        )
    if cfg.get("elastic_transform", default_on):
        transforms.append(ElasticTransform(alpha=20.0, sigma=5.0, p=apply_prob))
    noise = cfg.get("gaussian_noise", False)
    if noise:
        top = 0.05 if noise is True else float(noise) / 255.0
        transforms.append(A.GaussNoise(std_range=(0.0, top), p=apply_prob))
    if cfg.get("grayscale", False):
        transforms.append(A.ToGray(p=apply_prob))
    contrast = cfg.get("contrast") or {}
    if contrast.get("histeq", False):
        transforms.append(A.Equalize(by_channels=True, p=float(contrast.get("histeqratio", 0.1))))
    if contrast.get("clahe", False):
        transforms.append(_clahe(contrast["clahe"], float(contrast.get("claheratio", 0.1))))
    return transforms


def _pixel_and_geometry(cfg: Mapping[str, Any]) -> list[A.BasicTransform]:
    """The random albumentations transforms of a training pipeline, in DLC's order."""
    transforms: list[A.BasicTransform] = []
    rotation = cfg.get("rotation", 25)
    if rotation is True:
        rotation = 25
    rotation = float(rotation or 0)
    rotratio = float(cfg.get("rotratio", 0.4))
    if rotation > 0 and rotratio > 0:
        transforms.append(
            A.Affine(rotate=(-rotation, rotation), border_mode=cv2.BORDER_CONSTANT, p=rotratio)
        )
    transforms.extend(pixel_transforms(cfg, default_on=True))
    cropratio = float(cfg.get("cropratio", 0.4))
    crop_by = float(cfg.get("crop_by") or 0.15)
    if cropratio > 0 and crop_by > 0:
        transforms.append(A.CropAndPad(percent=(-crop_by, crop_by), keep_size=True, p=cropratio))
    return transforms


def compose(transforms: Sequence[A.BasicTransform]) -> A.Compose | None:
    """An albumentations pipeline that carries keypoints (rows kept, none dropped), or
    None when there is nothing to apply."""
    if not transforms:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return A.Compose(list(transforms), keypoint_params=_KEYPOINTS)


def reseed(pipeline: A.Compose, rng: np.random.Generator) -> None:
    """Seed an albumentations pipeline from ``rng`` (one draw)."""
    state = int(rng.integers(0, 2**63 - 1))
    pipeline.set_random_state(np.random.default_rng(state), random.Random(state))


def apply_pipeline(
    pipeline: A.Compose, image: np.ndarray, kp: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``pipeline`` on an image and its keypoints (J, 2); NaN rows stay NaN, row order
    never changes (points may lie outside the frame afterwards)."""
    missing = ~np.isfinite(kp).all(axis=1)
    placeholder = np.where(missing[:, None], 0.0, kp).astype(np.float32)
    out = pipeline(image=image, keypoints=placeholder, ids=np.arange(len(kp)))
    moved = np.full_like(placeholder, np.nan)
    got = np.asarray(out["ids"], dtype=np.int64)
    moved[got] = np.asarray(out["keypoints"], dtype=np.float32).reshape(-1, 2)[:, :2]
    moved[missing] = np.nan
    return out["image"], moved


@dataclass
class _Slot:
    rng: np.random.Generator
    pipeline: A.Compose | None


class Augmenter:
    """Callable ``(image, keypoints) -> (image, keypoints, scale)`` built from a pose_cfg.

    See the module docstring for the keys. Thread-safe (a pool of pipelines).
    """

    def __init__(self, cfg: Mapping[str, Any], train: bool = True, seed: int | None = None):
        self.train = bool(train)
        self.global_scale = float(cfg.get("global_scale", 0.8))
        self.jitter = (
            float(cfg.get("scale_jitter_lo", 1.0)),
            float(cfg.get("scale_jitter_up", 1.0)),
        )
        if not (0 < self.jitter[0] <= self.jitter[1]):
            raise ValueError(f"scale_jitter_lo/up {self.jitter} must satisfy 0 < lo <= up")
        if self.global_scale <= 0:
            raise ValueError(f"global_scale must be positive, not {self.global_scale}")
        self.max_input_size = float(cfg.get("max_input_size", 1500))
        self.min_input_size = float(cfg.get("min_input_size", 64))
        crop = cfg.get("crop_size")
        self.crop_size: tuple[int, int] | None = (
            (int(crop[0]), int(crop[1])) if train and crop and len(crop) == 2 else None
        )
        self.max_shift = float(cfg.get("max_shift", 0.4))
        flip = cfg.get("mirror", False) or cfg.get("fliplr", False)
        self.flip_p = float(cfg.get("apply_prob", 0.5)) * _ratio(flip, 0.5) if train else 0.0
        self.pairs = symmetric_pairs(cfg) if self.flip_p > 0 else []
        self._transforms_cfg = dict(cfg)
        self._seed = seed
        self._pool: list[_Slot] = []
        self._made = 0
        self._lock = threading.Lock()

    # -- random state and pipelines, one per concurrent caller -------------------------------
    def _new_slot(self, k: int) -> _Slot:
        entropy = None if self._seed is None else [int(self._seed), k]
        slot = _Slot(np.random.default_rng(np.random.SeedSequence(entropy)), None)
        slot.pipeline = compose(_pixel_and_geometry(self._transforms_cfg) if self.train else [])
        if slot.pipeline is not None:
            self._reseed(slot.pipeline, slot.rng)
        return slot

    @contextlib.contextmanager
    def _slot(self) -> Iterator[_Slot]:
        """A random state + pipeline for this call (albumentations transforms keep
        per-call state, so concurrent calls must not share one). Sequential calls reuse
        the same slot, so a seeded augmenter called from one thread repeats."""
        with self._lock:
            slot = self._pool.pop() if self._pool else None
            if slot is None:
                k, self._made = self._made, self._made + 1
        if slot is None:
            slot = self._new_slot(k)
        try:
            yield slot
        finally:
            with self._lock:
                self._pool.append(slot)

    @staticmethod
    def _reseed(pipeline: A.Compose, rng: np.random.Generator) -> None:
        reseed(pipeline, rng)

    # -- steps ----------------------------------------------------------------------------
    def sample_jitter(self, rng: np.random.Generator | None = None) -> float:
        """One scale-jitter factor (1.0 when not training)."""
        if not self.train:
            return 1.0
        if rng is None:
            with self._slot() as slot:
                return float(slot.rng.uniform(*self.jitter))
        return float(rng.uniform(*self.jitter))

    def target_size(self, height: int, width: int, scale: float) -> tuple[int, int]:
        """``ceil(size * scale)`` with the area kept within min/max_input_size squared."""
        area = height * width * scale * scale
        if area > self.max_input_size**2:
            scale = self.max_input_size / math.sqrt(height * width)
        elif area < self.min_input_size**2:
            scale = self.min_input_size / math.sqrt(height * width)
        return max(1, math.ceil(height * scale - 1e-9)), max(1, math.ceil(width * scale - 1e-9))

    def _resize(
        self, image: np.ndarray, kp: np.ndarray, scale: float
    ) -> tuple[np.ndarray, np.ndarray, float]:
        h, w = image.shape[:2]
        th, tw = self.target_size(h, w, scale)
        if (th, tw) != (h, w):
            # Area averaging only where bilinear would alias (it is 6x slower).
            interp = cv2.INTER_AREA if th * tw < h * w / 4 else cv2.INTER_LINEAR
            image = cv2.resize(image, (tw, th), interpolation=interp)
            sx, sy = tw / w, th / h
            # Pixel centres at integer coordinates, as cv2.resize maps them.
            kp = np.column_stack([(kp[:, 0] + 0.5) * sx - 0.5, (kp[:, 1] + 0.5) * sy - 0.5])
        return image, kp.astype(np.float32), min(th / h, tw / w)

    def _crop(self, image: np.ndarray, kp: np.ndarray, rng: np.random.Generator) -> tuple:
        assert self.crop_size is not None
        cw, ch = self.crop_size
        h, w = image.shape[:2]
        if w <= cw and h <= ch:
            return image, kp
        labeled = np.flatnonzero(np.isfinite(kp).all(axis=1))
        if labeled.size and rng.random() < 0.5:
            cx, cy = kp[int(rng.choice(labeled))]
            cx += self.max_shift * cw * rng.uniform(-1, 1)
            cy += self.max_shift * ch * rng.uniform(-1, 1)
        else:
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        x0 = int(np.clip(round(cx - cw / 2), 0, max(0, w - cw)))
        y0 = int(np.clip(round(cy - ch / 2), 0, max(0, h - ch)))
        image = image[y0 : y0 + ch, x0 : x0 + cw]
        return image, kp - np.array([x0, y0], dtype=np.float32)

    def _flip(self, image: np.ndarray, kp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = image.shape[1]
        image = np.ascontiguousarray(image[:, ::-1])
        kp = kp.copy()
        kp[:, 0] = (w - 1) - kp[:, 0]
        for a, b in self.pairs:
            kp[[a, b]] = kp[[b, a]]
        return image, kp

    def __call__(
        self,
        image: np.ndarray,
        keypoints: np.ndarray,
        seed: int | None = None,
        jitter: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Augment one image; return ``(image uint8 RGB, keypoints (J, 2) float32, scale)``.

        ``seed`` makes this call reproducible on its own; ``jitter`` fixes the scale
        jitter factor (the trainer draws one per batch, as DLC does).
        """
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
        kp = np.asarray(keypoints, dtype=np.float32).reshape(-1, 2)
        with self._slot() as slot:
            rng = slot.rng
            if seed is not None:
                rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x617567]))
                if slot.pipeline is not None:
                    self._reseed(slot.pipeline, rng)
            return self._augment(image, kp, rng, slot.pipeline, jitter)

    def _augment(
        self,
        image: np.ndarray,
        kp: np.ndarray,
        rng: np.random.Generator,
        pipeline: A.Compose | None,
        jitter: float | None,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        if jitter is None:
            jitter = self.sample_jitter(rng)
        image, kp, scale = self._resize(image, kp, self.global_scale * float(jitter))
        if not self.train:
            return image, out_of_frame_to_nan(kp, *image.shape[:2]), scale
        if self.crop_size is not None:
            image, kp = self._crop(image, kp, rng)
        if self.flip_p > 0 and rng.random() < self.flip_p:
            image, kp = self._flip(image, kp)
        if pipeline is not None:
            image, kp = apply_pipeline(pipeline, image, kp)
        return image, out_of_frame_to_nan(kp, *image.shape[:2]), scale


def build_augmenter(
    cfg: Mapping[str, Any], train: bool = True, seed: int | None = None
) -> Augmenter:
    """The augmenter of a (train) pose_cfg: ``(image, keypoints) -> (image, keypoints,
    scale)``. ``train=False`` applies only the deterministic ``global_scale`` resize."""
    return Augmenter(cfg, train=train, seed=seed)
