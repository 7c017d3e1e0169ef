"""Multi-animal training augmentation: DeepLabCut 2.3's ``multi-animal-imgaug`` loader.

One call takes an RGB ``uint8`` image, its keypoints ``(n_individuals, n_joints, 2)``
(x, y; NaN = not labeled; a project's unique body parts are the last "individual", whose
multi-animal joints are NaN, as :func:`dlcflow.training.dataset.multi_animal_records`
orders them) and a ``numpy.random.Generator``, and returns the augmented image of exactly
``crop_size`` and the moved keypoints (same shape; NaN where a point is not labeled or has
left the crop). Points use pixel-centre coordinates (pixel ``(0, 0)`` is at ``(0, 0)``).

Steps and keys, in DLC's order (DLC's names and its multi-animal loader's defaults;
``apply_prob`` = 0.5 is the probability of DLC's "sometimes" augmenters):

======================== ==================================================================
``pre_resize`` [w, h]     the image is first resized to [w, h] (``traintime_resize``: to a
                          height of 400, aspect kept), as DLC does.
``scale_jitter_lo/up``    when both are set (DLC's condition): a zoom by U(lo, up) (see
                          "Differences" below).
``crop_size`` [w, h]      (400, 400): the output size. A smaller image is padded (placed at
                          a uniformly random position, as imgaug's PadToFixedSize), a larger
                          one cropped where ``crop_sampling`` says:
``crop_sampling``         ``uniform``: anywhere; ``keypoints``: centred on a random labeled
(``hybrid``)              keypoint; ``density``: centred on a labeled keypoint drawn with
                          probability proportional to 1 + its number of labeled neighbours
                          within 0.1 x min(height, width) (crowded regions preferred; DLC's
                          weights); ``hybrid``: uniform or density with probability 1/2
                          each; ``none``: a centred crop (DLC does not crop; it trains on
                          the image, of size ``pre_resize`` when that is set).
``max_shift`` (0.4)       the centre is shifted by up to ``max_shift`` x the crop size per
                          axis (clamped to 0..0.4, so the keypoint stays inside the crop).
``fliplr`` +              horizontal flip (of the crop) with ``apply_prob`` x p (p = 0.5
``symmetric_pairs``       for ``true``, else the number); left/right parts swap within each
                          individual. As in DLC, both keys are needed (``mirror`` is not
                          read by DLC's multi-animal loader, nor here).
``rotation`` (off)        rotation about the crop centre by U(-r, r) degrees with
                          ``apply_prob`` (``true``: r = 10; ``rotratio`` is not read).
``hist_eq``               per-channel histogram equalisation with ``apply_prob``.
``motion_blur``,          off unless set (DLC's multi-animal defaults), then as in
``covering``,             :func:`dlcflow.training.augment.pixel_transforms` (also
``elastic_transform``,    ``gaussian_noise``, ``grayscale``, ``contrast.histeq/clahe`` with
...                       their ratios).
``convolution``           ``sharpen`` / ``emboss`` (a mapping passes imgaug's ``alpha``,
                          ``lightness`` / ``strength``) with ``sharpenratio`` /
                          ``embossratio`` (0.1).
``crop_only`` (false)     dlcflow's key (DLC has none): no zoom, flip, rotation or pixel
                          transforms; only the resize and the crop (for checks and tests).
======================== ==================================================================

Zoom, crop, flip and rotation are one affine map (one ``cv2.warpAffine`` of the crop
only), so keypoints follow the pixels exactly; the pixel transforms and the elastic
deformation then run as albumentations (keypoints through it). Zooms below 0.5 resize
with area averaging first (no aliasing).

Differences from DLC: DLC draws ``global_scale`` x U(lo, up) once per batch and changes
the *crop size* by it (``ceil(crop_size * scale)``; the content is never resampled: its
multi-animal inference runs at the native resolution). The output here is always
``crop_size``, so the jitter zooms the content instead (``global_scale`` is not applied:
it would shrink every training image against the native-resolution inference).
imgaug's crop takes DLC's "centre" as a fraction of the free range, so a keypoint near
a border can end up outside its crop; here the crop is centred on it. ``convolution.edge``
and ``contrast.log/linear/sigmoid/gamma`` are not implemented (a warning says so).

Determinism: everything is drawn from the ``rng`` passed to the call (or, without one,
from the augmenter's generator seeded by ``build_multi_augmenter(cfg, seed)``).
Concurrent calls are safe when each passes its own ``rng``.
"""

from __future__ import annotations

import contextlib
import math
import threading
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import albumentations as A
import cv2
import numpy as np

from dlcflow.training.augment import (
    apply_pipeline,
    compose,
    out_of_frame_to_nan,
    pixel_transforms,
    reseed,
    symmetric_pairs,
)

__all__ = ["CROP_SAMPLING", "MultiAugmenter", "build_multi_augmenter", "crowd_weights"]

CROP_SAMPLING = ("uniform", "keypoints", "density", "hybrid", "none")
DEFAULT_CROP = (400, 400)  # width, height
_UNSUPPORTED = (("contrast", "log"), ("contrast", "linear"), ("contrast", "sigmoid"))
_UNSUPPORTED += (("contrast", "gamma"), ("convolution", "edge"))


def _ratio(value: Any, default: float) -> float:
    """A probability from a pose_cfg flag: ``true`` -> default, a number -> itself."""
    if value is True:
        return default
    if value is False or value is None:
        return 0.0
    return float(value)


def _size_pair(cfg: Mapping[str, Any], key: str, default: tuple[int, int] | None) -> Any:
    raw = cfg.get(key)
    if raw is None or (not isinstance(raw, str) and len(raw) == 0):
        return default
    try:
        w, h = (int(v) for v in raw)
    except (TypeError, ValueError):
        raise ValueError(f"pose_cfg {key}: {raw!r} is not [width, height]") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"pose_cfg {key}: {raw!r} must be positive [width, height]")
    return w, h


def _pair(value: Any, default: tuple[float, float]) -> tuple[float, float]:
    if value is None:
        return default
    if isinstance(value, int | float):
        return (0.0, float(value))
    lo, hi = (float(v) for v in value)
    return lo, hi


def _convolution(cfg: Mapping[str, Any]) -> list[A.BasicTransform]:
    """imgaug's ``convolution.sharpen`` / ``emboss`` as albumentations transforms."""
    conv = cfg.get("convolution") or {}
    transforms: list[A.BasicTransform] = []
    sharpen = conv.get("sharpen", False)
    if sharpen:
        opt = sharpen if isinstance(sharpen, Mapping) else {}
        transforms.append(
            A.Sharpen(
                alpha=_pair(opt.get("alpha"), (0.0, 0.2)),
                lightness=_pair(opt.get("lightness"), (0.8, 1.2)),
                p=float(conv.get("sharpenratio", 0.1)),
            )
        )
    emboss = conv.get("emboss", False)
    if emboss:
        opt = emboss if isinstance(emboss, Mapping) else {}
        transforms.append(
            A.Emboss(
                alpha=_pair(opt.get("alpha"), (0.0, 1.0)),
                strength=_pair(opt.get("strength"), (0.25, 1.0)),
                p=float(conv.get("embossratio", 0.1)),
            )
        )
    return transforms


def _transforms(cfg: Mapping[str, Any]) -> list[A.BasicTransform]:
    """The pixel-level part of the multi-animal pipeline, in DLC's order."""
    for group, key in _UNSUPPORTED:
        if (cfg.get(group) or {}).get(key, False):
            warnings.warn(f"pose_cfg {group}.{key} is not implemented; ignored", stacklevel=3)
    transforms: list[A.BasicTransform] = []
    if cfg.get("hist_eq", False):
        transforms.append(A.Equalize(by_channels=True, p=float(cfg.get("apply_prob", 0.5))))
    transforms.extend(pixel_transforms(cfg, default_on=False))
    transforms.extend(_convolution(cfg))
    return transforms


@dataclass(frozen=True)
class _Settings:
    crop: tuple[int, int]  # width, height
    sampling: str
    max_shift: float
    resize: tuple[int, int] | None  # pre_resize (width, height)
    resize_height: int | None  # traintime_resize
    jitter: tuple[float, float] | None
    flip_p: float
    pairs: tuple[tuple[int, int], ...]
    rotation: float
    rotation_p: float


def _settings(cfg: Mapping[str, Any]) -> _Settings:
    """The geometric settings of a pose_cfg (see the module docstring), validated."""
    pre_resize = _size_pair(cfg, "pre_resize", None)
    sampling = str(cfg.get("crop_sampling", "hybrid"))
    if sampling not in CROP_SAMPLING:
        raise ValueError(f"pose_cfg crop_sampling {sampling!r} is not one of {CROP_SAMPLING}")
    crop = _size_pair(cfg, "crop_size", DEFAULT_CROP)
    if sampling == "none" and pre_resize:
        crop = pre_resize  # DLC trains on the pre-resized image then
    crop_only = bool(cfg.get("crop_only", False))
    apply_prob = float(cfg.get("apply_prob", 0.5))
    jitter = None
    if "scale_jitter_lo" in cfg and "scale_jitter_up" in cfg and not crop_only:
        jitter = (float(cfg["scale_jitter_lo"]), float(cfg["scale_jitter_up"]))
        if not 0 < jitter[0] <= jitter[1]:
            raise ValueError(f"pose_cfg scale_jitter_lo/up {jitter} must satisfy 0 < lo <= up")
    flip = cfg.get("fliplr", False)
    pairs = symmetric_pairs(cfg) if flip and cfg.get("symmetric_pairs") else []
    rotation = cfg.get("rotation", False)
    degrees = 10.0 if rotation is True else float(rotation or 0)
    return _Settings(
        crop=crop,
        sampling=sampling,
        max_shift=max(0.0, min(float(cfg.get("max_shift", 0.4)), 0.4)),
        resize=pre_resize,
        resize_height=400 if cfg.get("traintime_resize", False) and not pre_resize else None,
        jitter=jitter,
        flip_p=0.0 if crop_only or not pairs else apply_prob * min(1.0, _ratio(flip, 0.5)),
        pairs=tuple(pairs),
        rotation=0.0 if crop_only else abs(degrees),
        rotation_p=apply_prob,
    )


def crowd_weights(points: np.ndarray, radius: float) -> np.ndarray:
    """DLC's density weights of points (N, 2): 1 + the number of other points within
    ``radius``, normalised to sum to 1."""
    d2 = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1)
    counts = (d2 <= radius * radius).sum(axis=1)  # includes the point itself: 1 + neighbours
    return counts / counts.sum()


def _origin(
    size: float, crop: int, centre: float | None, shift: float, rng: np.random.Generator
) -> int:
    """Where a crop of ``crop`` px starts along an axis of ``size`` px (negative: padding,
    at a uniformly random position); ``centre`` None: anywhere."""
    if size <= crop:
        return int(rng.integers(math.ceil(size - crop - 1e-9), 1))
    top = math.floor(size - crop + 1e-9)
    if centre is None:
        return int(rng.integers(0, top + 1))
    return int(np.clip(round(centre + shift - (crop - 1) / 2), 0, top))


def _affine(zoom: tuple[float, float], origin: tuple[int, int]) -> np.ndarray:
    """3x3 map: zoom (pixel centres kept in place, as cv2.resize), then the crop offset."""
    zx, zy = zoom
    return np.array(
        [[zx, 0, 0.5 * zx - 0.5 - origin[0]], [0, zy, 0.5 * zy - 0.5 - origin[1]], [0, 0, 1]]
    )


class MultiAugmenter:
    """Callable ``(image, keypoints, rng) -> (image, keypoints)`` built from a pose_cfg.

    See the module docstring for the keys. ``crop_size`` is (width, height).
    """

    def __init__(self, cfg: Mapping[str, Any], seed: int | None = None):
        self.settings = _settings(cfg)
        self.crop_size: tuple[int, int] = self.settings.crop
        self._cfg = dict(cfg)
        self._pixel = not bool(cfg.get("crop_only", False)) and bool(_transforms(self._cfg))
        self._rng = np.random.default_rng(seed)
        self._pool: list[A.Compose] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _pipeline(self) -> Iterator[A.Compose | None]:
        """A pixel pipeline for this call (albumentations keeps per-call state)."""
        if not self._pixel:
            yield None
            return
        with self._lock:
            pipeline = self._pool.pop() if self._pool else None
        if pipeline is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pipeline = compose(_transforms(self._cfg))
        try:
            yield pipeline
        finally:
            with self._lock:
                self._pool.append(pipeline)

    def _zoom(self, height: int, width: int, rng: np.random.Generator) -> tuple[float, float]:
        s = self.settings
        if s.resize is not None:
            zx, zy = s.resize[0] / width, s.resize[1] / height
        elif s.resize_height is not None:
            zx = zy = s.resize_height / height
        else:
            zx = zy = 1.0
        if s.jitter is not None:
            j = float(rng.uniform(*s.jitter))
            zx, zy = zx * j, zy * j
        return zx, zy

    def _centre(
        self, points: np.ndarray, size: tuple[float, float], rng: np.random.Generator
    ) -> tuple[float, float] | None:
        """The crop centre (zoomed coordinates), or None for a uniform crop."""
        sampling = self.settings.sampling
        if sampling == "hybrid":
            sampling = "uniform" if rng.random() < 0.5 else "density"
        if sampling == "none":
            return (size[0] - 1) / 2, (size[1] - 1) / 2
        if sampling == "uniform" or len(points) == 0:
            return None
        p = None
        if sampling == "density":
            cw, ch = self.crop_size
            p = crowd_weights(points, 0.1 * min(max(size[0], cw), max(size[1], ch)))
        x, y = points[int(rng.choice(len(points), p=p))]
        return float(x), float(y)

    def _geometry(
        self, shape: tuple[int, int], kp: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, bool]:
        """The 3x3 map from the image to the output crop, and whether it mirrors."""
        s = self.settings
        cw, ch = self.crop_size
        zoom = self._zoom(*shape, rng)
        size = (shape[1] * zoom[0], shape[0] * zoom[1])
        labeled = kp[np.isfinite(kp).all(axis=1)]
        points = (labeled + 0.5) * np.asarray(zoom) - 0.5
        shift = s.max_shift * np.array([cw, ch]) * rng.uniform(-1, 1, 2)
        if s.sampling == "none":
            shift[:] = 0
        centre = self._centre(points, size, rng)
        origin = (
            _origin(size[0], cw, None if centre is None else centre[0], shift[0], rng),
            _origin(size[1], ch, None if centre is None else centre[1], shift[1], rng),
        )
        m = _affine(zoom, origin)
        flip = s.flip_p > 0 and rng.random() < s.flip_p
        if flip:
            m = np.array([[-1.0, 0, cw - 1], [0, 1, 0], [0, 0, 1]]) @ m
        if s.rotation > 0 and rng.random() < s.rotation_p:
            angle = float(rng.uniform(-s.rotation, s.rotation))
            rot = cv2.getRotationMatrix2D(((cw - 1) / 2, (ch - 1) / 2), angle, 1.0)
            m = np.vstack([rot, [0, 0, 1]]) @ m
        return m, flip

    def __call__(
        self, image: np.ndarray, keypoints: np.ndarray, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Augment one image; return ``(image (crop_h, crop_w, 3) uint8, keypoints)``."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}"
            )
        kp_in = np.asarray(keypoints, dtype=np.float64)
        if kp_in.ndim != 3 or kp_in.shape[2] != 2:
            raise ValueError(
                f"expected keypoints (n_individuals, n_joints, 2), got shape {kp_in.shape}"
            )
        if rng is None:
            rng = self._rng
        kp = kp_in.reshape(-1, 2)
        m, flip = self._geometry(image.shape[:2], kp, rng)
        if min(m[0, 0] ** 2 + m[1, 0] ** 2, m[0, 1] ** 2 + m[1, 1] ** 2) < 0.25:
            image, kp, m = self._shrink(image, kp, m)
        cw, ch = self.crop_size
        out = cv2.warpAffine(
            image, m[:2], (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        moved = (kp @ m[:2, :2].T + m[:2, 2]).astype(np.float32)
        with self._pipeline() as pipeline:
            if pipeline is not None:
                reseed(pipeline, rng)
                out, moved = apply_pipeline(pipeline, out, moved)
        moved = out_of_frame_to_nan(moved, ch, cw).reshape(kp_in.shape)
        if flip:  # left and right swap within every individual
            for a, b in self.settings.pairs:
                moved[:, [a, b]] = moved[:, [b, a]]
        return np.ascontiguousarray(out, dtype=np.uint8), moved

    @staticmethod
    def _shrink(
        image: np.ndarray, kp: np.ndarray, m: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A zoom below 0.5 done first by area averaging (bilinear sampling would alias):
        the image, keypoints and the remaining map."""
        h, w = image.shape[:2]
        zx, zy = math.hypot(m[0, 0], m[1, 0]), math.hypot(m[0, 1], m[1, 1])
        tw, th = max(1, round(w * zx)), max(1, round(h * zy))
        small = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA)
        pre = _affine((tw / w, th / h), (0, 0))
        return small, (kp + 0.5) * [tw / w, th / h] - 0.5, m @ np.linalg.inv(pre)


def build_multi_augmenter(cfg: Mapping[str, Any], seed: int | None = None) -> MultiAugmenter:
    """The multi-animal augmenter of a train pose_cfg: ``(image, keypoints (n_individuals,
    n_joints, 2), rng) -> (image (crop_h, crop_w, 3) uint8, keypoints)``."""
    return MultiAugmenter(cfg, seed=seed)
