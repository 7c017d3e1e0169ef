"""Benchmark: multi-animal augmentation time per sample against single-animal augmentation.

One 640x480 image (DLC's three-mouse test image from ``../shared/fixtures`` when present,
else noise) with 3 animals x 12 body parts. Both augmenters get the train pose_cfg dlcflow
writes (DLC's template and defaults, ``dlcflow.project.posecfg.make_train_pose_cfg``):

* single animal: :func:`dlcflow.training.augment.build_augmenter` on the 36 points as one
  (36, 2) array (global scale 0.8 x jitter, rotation, pixel transforms, crop/pad);
* multi animal: :func:`dlcflow.training.maaugment.build_multi_augmenter` on (3, 12, 2),
  crop 400x400, ``crop_sampling: hybrid``.

They run in ``--rounds`` back-to-back pairs of ``--samples`` calls (the order alternates)
and the ratio is the median of the pairs' ratios (a shared machine slows both sides of a
pair alike). The last line is ``ma_augment ratio=<multi-animal time per sample /
single-animal time per sample>``.

    .venv/bin/python benchmarks/ma_augment.py
    .venv/bin/python benchmarks/ma_augment.py --samples 100 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from dlcflow.project.posecfg import SINGLE_DROP, make_train_pose_cfg
from dlcflow.training.augment import build_augmenter
from dlcflow.training.maaugment import build_multi_augmenter

IMAGE = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
IMAGE = IMAGE / "dlc-unittest-multianimal" / "image.png"
PARTS = 12
ANIMALS = 3


def load_image() -> np.ndarray:
    """The 640x480 test image (RGB), or noise of that size."""
    if IMAGE.exists():
        image = cv2.imread(str(IMAGE))
        if image is not None and image.shape[:2] == (480, 640):
            return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)


def per_sample(work: Callable[[], object], samples: int) -> float:
    """Seconds per call of ``work`` over ``samples`` calls."""
    start = time.perf_counter()
    for _ in range(samples):
        work()
    return (time.perf_counter() - start) / samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="calls per timed segment")
    parser.add_argument("--rounds", type=int, default=5, help="back-to-back pairs")
    args = parser.parse_args()

    image = load_image()
    rng = np.random.default_rng(1)
    centres = rng.uniform([100, 100], [540, 380], (ANIMALS, 1, 2))
    keypoints = centres + rng.normal(0, 25, (ANIMALS, PARTS, 2))
    names = [f"part{i}" for i in range(PARTS)]
    items = {"num_joints": PARTS, "all_joints": [[i] for i in range(PARTS)]}
    items["all_joints_names"] = names
    single_cfg = make_train_pose_cfg(items, drop=SINGLE_DROP)
    multi_cfg = make_train_pose_cfg({**items, "crop_size": [400, 400], "crop_sampling": "hybrid"})
    single = build_augmenter(single_cfg, seed=0)
    multi = build_multi_augmenter(multi_cfg, seed=0)
    flat = keypoints.reshape(-1, 2).astype(np.float32)
    aug_rng = np.random.default_rng(2)

    def run_single() -> object:
        return single(image, flat)

    def run_multi() -> object:
        return multi(image, keypoints, aug_rng)

    for _ in range(10):  # warm-up: pipelines, caches
        run_single(), run_multi()
    ratios = []
    for r in range(args.rounds):
        if r % 2:
            t_multi = per_sample(run_multi, args.samples)
            t_single = per_sample(run_single, args.samples)
        else:
            t_single = per_sample(run_single, args.samples)
            t_multi = per_sample(run_multi, args.samples)
        ratios.append(t_multi / t_single)
        print(
            f"round {r + 1}: single animal {t_single * 1e3:.2f} ms/sample, "
            f"multi animal {t_multi * 1e3:.2f} ms/sample, ratio {ratios[-1]:.3f}"
        )
    print(f"ma_augment ratio={statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
