"""Predictions on images (labeled frames, for evaluation), batched by size.

:func:`predict_images` predicts on images given as files or arrays: images of different
sizes are batched by size, and ``scale`` feeds them resized (DLC's ``rescale``
evaluation) with the predictions scaled back to the original pixels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from dlcflow.core.images import image_shape
from dlcflow.inference.engines import Engine, predict_batch

__all__ = ["predict_images", "read_image_rgb", "rescaled"]


def read_image_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file as uint8 RGB (H, W, 3) (grey images get three equal channels)."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"{path}: image missing or unreadable")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def rescaled(image: np.ndarray, scale: float) -> np.ndarray:
    """An image resized by ``scale`` (DLC's ``rescale`` by ``global_scale``; area
    interpolation to shrink, bilinear to grow); the image itself when ``scale`` is 1."""
    if scale == 1:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=interp)


def _as_rgb(image: np.ndarray, where: str) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{where}: expected an (H, W, 3) RGB image, not {img.shape}")
    return img


def _image_hw(item: str | os.PathLike[str] | np.ndarray) -> tuple[int, int]:
    if isinstance(item, np.ndarray):
        return int(item.shape[0]), int(item.shape[1])
    _, height, width = image_shape(item)
    return height, width


def predict_images(
    engine: Engine,
    images: Sequence[str | os.PathLike[str] | np.ndarray],
    cfg: Mapping[str, Any],
    batch_size: int = 1,
    scale: float = 1.0,
    progress: bool = False,
) -> np.ndarray:
    """Poses (N, J, 3) of images given as paths or RGB arrays, in the input order.

    Images of the same size are batched together (``batch_size`` at most); files are read
    one batch at a time. With ``scale != 1`` every image is resized by ``scale`` before
    it goes in and the coordinates are divided by ``scale`` (original pixels, as DLC's
    ``rescale`` plots them).
    """
    if scale <= 0:
        raise ValueError(f"scale must be positive, not {scale}")
    batch_size = max(1, int(batch_size))
    num_joints = int(cfg["num_joints"]) if "num_joints" in cfg else None
    groups: dict[tuple[int, int], list[int]] = {}
    for i, item in enumerate(images):
        groups.setdefault(_image_hw(item), []).append(i)
    out: np.ndarray | None = None
    if num_joints is not None:
        out = np.full((len(images), num_joints, 3), np.nan)
    bar = tqdm(total=len(images), unit="image", disable=not progress, leave=False)
    try:
        for indices in groups.values():
            for start in range(0, len(indices), batch_size):
                chunk = indices[start : start + batch_size]
                arrays = []
                for i in chunk:
                    item = images[i]
                    img = (
                        _as_rgb(item, f"image {i}")
                        if isinstance(item, np.ndarray)
                        else read_image_rgb(item)
                    )
                    arrays.append(rescaled(img, scale))
                poses = predict_batch(engine, np.stack(arrays), cfg)
                if scale != 1:
                    poses[..., :2] /= scale
                if out is None:
                    out = np.full((len(images), poses.shape[1], 3), np.nan)
                out[chunk] = poses
                bar.update(len(chunk))
    finally:
        bar.close()
    return out if out is not None else np.zeros((0, 0, 3))
