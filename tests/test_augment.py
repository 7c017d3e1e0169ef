"""dlcflow.training.augment: keypoints follow the pixels, flips swap sides, out-of-frame is NaN."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from dlcflow.training.augment import build_augmenter, out_of_frame_to_nan, symmetric_pairs

NAMES = ["snout", "leftear", "rightear", "tailbase"]
H, W = 120, 160

# Everything off; each test switches on what it checks.
QUIET = {
    "global_scale": 1.0,
    "scale_jitter_lo": 1.0,
    "scale_jitter_up": 1.0,
    "rotation": 0,
    "rotratio": 0.0,
    "mirror": False,
    "motion_blur": False,
    "covering": False,
    "elastic_transform": False,
    "contrast": {"clahe": False, "histeq": False},
    "cropratio": 0.0,
    "apply_prob": 1.0,
    "num_joints": 4,
    "all_joints": [[0], [1], [2], [3]],
    "all_joints_names": NAMES,
}


def cfg_with(**values: object) -> dict:
    return {**QUIET, **values}


def dot_image(x: float, y: float, sigma: float = 1.5) -> np.ndarray:
    """A black image with one Gaussian dot centred at (x, y) (pixel centres at integers)."""
    yy, xx = np.mgrid[0:H, 0:W]
    blob = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    img = np.round(255 * blob).astype(np.uint8)
    return np.repeat(img[..., None], 3, axis=2)


def centroid(image: np.ndarray) -> np.ndarray:
    g = image[..., 0].astype(np.float64)
    g[g < 20] = 0  # ignore faint interpolation tails
    ys, xs = np.nonzero(g)
    w = g[ys, xs]
    return np.array([(xs * w).sum() / w.sum(), (ys * w).sum() / w.sum()])


def check_dot_follows(cfg: dict, seeds: range, train: bool = True, tol: float = 1.0) -> None:
    rng = np.random.default_rng(0)
    aug = build_augmenter(cfg, train=train, seed=0)
    checked = 0
    for seed in seeds:
        x, y = rng.uniform(45, W - 45), rng.uniform(40, H - 40)
        kp = np.array([[x, y], [np.nan, np.nan], [10.0, 10.0], [x, y]], np.float32)
        img, out, scale = aug(dot_image(x, y), kp, seed=seed)
        assert out.shape == (4, 2) and out.dtype == np.float32
        assert np.isnan(out[1]).all()
        assert scale > 0
        if np.isnan(out[0]).any():
            continue
        np.testing.assert_allclose(out[0], out[3])
        err = np.abs(centroid(img) - out[0]).max()
        assert err <= tol, f"seed {seed}: dot at {centroid(img)}, keypoint at {out[0]}"
        checked += 1
    assert checked >= len(seeds) // 2


def test_global_scale_only_when_not_training() -> None:
    cfg = cfg_with(global_scale=0.6, rotation=45, rotratio=1.0, cropratio=1.0)
    aug = build_augmenter(cfg, train=False)
    img, kp, scale = aug(dot_image(80, 60), np.array([[80, 60]] * 4, np.float32))
    assert img.shape == (math.ceil(H * 0.6), math.ceil(W * 0.6), 3)
    assert scale == pytest.approx(0.6)
    again = aug(dot_image(80, 60), np.array([[80, 60]] * 4, np.float32))
    np.testing.assert_array_equal(img, again[0])
    assert np.abs(centroid(img) - kp[0]).max() <= 0.5


@pytest.mark.parametrize(
    "name, values",
    [
        ("scale", {"global_scale": 0.8, "scale_jitter_lo": 0.5, "scale_jitter_up": 1.25}),
        ("rotation", {"rotation": 40, "rotratio": 1.0}),
        ("flip", {"mirror": 1.0}),
        ("crop-pad", {"cropratio": 1.0}),
        ("elastic", {"elastic_transform": True}),
        (
            "all geometric",
            {
                "global_scale": 0.8,
                "scale_jitter_lo": 0.5,
                "scale_jitter_up": 1.25,
                "rotation": 25,
                "rotratio": 0.5,
                "mirror": True,
                "cropratio": 0.5,
                "elastic_transform": True,
            },
        ),
    ],
)
def test_keypoints_stay_on_their_pixels(name: str, values: dict) -> None:
    check_dot_follows(cfg_with(**values), range(12))


def test_pixel_transforms_do_not_move_keypoints() -> None:
    cfg = cfg_with(
        motion_blur=True,
        covering=True,
        grayscale=True,
        contrast={"clahe": True, "claheratio": 1.0, "histeq": True, "histeqratio": 1.0},
    )
    aug = build_augmenter(cfg, seed=1)
    kp = np.array([[20.5, 30.25], [np.nan, np.nan], [100, 50], [159, 119]], np.float32)
    for _ in range(5):
        img, out, _ = aug(np.full((H, W, 3), 128, np.uint8), kp)
        assert img.shape == (H, W, 3) and img.dtype == np.uint8
        np.testing.assert_array_equal(out, kp)


def test_mirror_swaps_left_and_right() -> None:
    kp = np.array([[40, 60], [50, 40], [50, 80], [120, 60]], np.float32)
    for pairs in ({"symmetric_pairs": [["leftear", "rightear"]]}, {"symmetric_pairs": [[1, 2]]}):
        aug = build_augmenter(cfg_with(mirror=1.0, **pairs), seed=0)
        _, out, _ = aug(np.zeros((H, W, 3), np.uint8), kp)
        expected = kp.copy()
        expected[:, 0] = W - 1 - kp[:, 0]
        expected[[1, 2]] = expected[[2, 1]]
        np.testing.assert_allclose(out, expected)
    # Without pairs the flip keeps the indices (as DLC's mirror).
    _, out, _ = build_augmenter(cfg_with(mirror=1.0))(np.zeros((H, W, 3), np.uint8), kp)
    np.testing.assert_allclose(out[:, 0], W - 1 - kp[:, 0])
    np.testing.assert_allclose(out[:, 1], kp[:, 1])


def test_symmetric_pairs_sources() -> None:
    assert symmetric_pairs(cfg_with(symmetric_pairs=[["leftear", "rightear"]])) == [(1, 2)]
    assert symmetric_pairs(cfg_with(all_joints=[[0], [1, 2], [3]])) == [(1, 2)]
    assert symmetric_pairs(cfg_with()) == []
    with pytest.raises(ValueError, match="unknown body part"):
        symmetric_pairs(cfg_with(symmetric_pairs=[["leftear", "leftpaw"]]))


def test_points_leaving_the_frame_become_nan() -> None:
    kp = np.array([[2, 2], [80, 60], [np.nan, np.nan], [157, 3]], np.float32)
    aug = build_augmenter(cfg_with(rotation=45, rotratio=1.0), seed=0)
    lost = 0
    for seed in range(10):
        img, out, _ = aug(np.zeros((H, W, 3), np.uint8), kp, seed=seed)
        assert out.shape == kp.shape  # rows never drop out
        assert np.isnan(out[2]).all()
        # (80, 60) turns about the image centre (79.5, 59.5): its distance stays.
        assert np.hypot(*(out[1] - [79.5, 59.5])) == pytest.approx(math.sqrt(0.5), abs=0.01)
        finite = np.isfinite(out).all(axis=1)
        assert (out[finite] >= 0).all() and (out[finite] < [W, H]).all()
        lost += int((~finite[[0, 3]]).sum())
    assert lost >= 5  # corners of a 4:3 frame rotate out of it
    marked = out_of_frame_to_nan(np.array([[-0.1, 5], [0, 0], [W, 5], [W - 0.01, H - 0.01]]), H, W)
    assert np.isnan(marked[[0, 2]]).all() and np.isfinite(marked[[1, 3]]).all()


def test_crop_size_limits_large_images() -> None:
    cfg = cfg_with(crop_size=[64, 48], max_shift=0.4)
    aug = build_augmenter(cfg, seed=0)
    kp = np.array([[80, 60], [81, 61], [np.nan, np.nan], [10, 10]], np.float32)
    for seed in range(5):
        img, out, _ = aug(dot_image(80, 60), kp, seed=seed)
        assert img.shape == (48, 64, 3)
        if np.isfinite(out[0]).all():
            assert np.abs(centroid(img) - out[0]).max() <= 1.0


def test_input_size_is_clamped() -> None:
    aug = build_augmenter(cfg_with(global_scale=10.0, max_input_size=200), train=False)
    img, _, scale = aug(np.zeros((H, W, 3), np.uint8), np.full((4, 2), np.nan, np.float32))
    assert img.shape[0] * img.shape[1] <= 200 * 200 * 1.02
    assert scale == pytest.approx(200 / math.sqrt(H * W), rel=0.02)


def test_seeded_augmenters_repeat() -> None:
    cfg = cfg_with(
        global_scale=0.8,
        scale_jitter_lo=0.5,
        scale_jitter_up=1.25,
        rotation=25,
        rotratio=0.4,
        mirror=True,
        motion_blur=True,
        covering=True,
        elastic_transform=True,
        cropratio=0.4,
    )
    image = cv2.GaussianBlur(
        np.random.default_rng(0).integers(0, 255, (H, W, 3), np.uint8), (5, 5), 0
    )
    kp = np.array([[40, 60], [50, 40], [50, 80], [120, 60]], np.float32)
    a, b = build_augmenter(cfg, seed=7), build_augmenter(cfg, seed=7)
    for _ in range(4):
        (ia, ka, sa), (ib, kb, sb) = a(image, kp), b(image, kp)
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(ka, kb)
        assert sa == sb
    # One call with a seed depends on that seed only.
    first = build_augmenter(cfg)(image, kp, seed=11)
    second = build_augmenter(cfg, seed=3)(image, kp, seed=11)
    np.testing.assert_array_equal(first[0], second[0])
    assert not np.array_equal(first[0], build_augmenter(cfg)(image, kp, seed=12)[0])
