"""dlcflow.training.maaugment: keypoints follow the pixels, crops are where DLC puts them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import pdist, squareform

from dlcflow.project.posecfg import TEMPLATE
from dlcflow.training.augment import build_augmenter
from dlcflow.training.maaugment import build_multi_augmenter, crowd_weights

IMAGE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dlc-unittest-multianimal"
IMAGE = IMAGE / "image.png"

# Four multi-animal parts and one unique part; three animals plus the unique "individual".
NAMES = ["snout", "leftear", "rightear", "tailbase", "center"]
H, W = 240, 320
CROP = [200, 160]  # width, height

# Everything off; each test switches on what it checks.
QUIET = {
    "crop_size": CROP,
    "crop_sampling": "uniform",
    "max_shift": 0.4,
    "apply_prob": 1.0,
    "contrast": {"clahe": False, "histeq": False},
    "convolution": {"sharpen": False, "emboss": False, "edge": False},
    "num_joints": len(NAMES),
    "all_joints": [[i] for i in range(len(NAMES))],
    "all_joints_names": NAMES,
}


def cfg_with(**values: object) -> dict:
    return {**QUIET, **values}


def grid_keypoints() -> np.ndarray:
    """(4, 5, 2): animals on a 50 px grid (some parts unlabeled), the unique part alone."""
    kp = np.full((4, 5, 2), np.nan)
    spots = [(30 + 50 * i, 30 + 50 * j) for j in range(4) for i in range(5)]
    for n, (a, b) in enumerate([(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 3)]):
        kp[a, b] = spots[n]
    for n, b in enumerate(range(4)):
        kp[2, b] = spots[8 + n]
    kp[3, 4] = spots[14]
    return kp


def code(i: int, j: int) -> int:
    """The green level that identifies the dot of individual i, joint j."""
    return 30 + 10 * (i * 5 + j)


def dot_image(kp: np.ndarray, size: tuple[int, int] = (H, W)) -> np.ndarray:
    """Black image, a disc of radius 3 at each labeled keypoint: red 255, green = its code."""
    img = np.zeros((*size, 3), np.uint8)
    for i, j in zip(*np.nonzero(np.isfinite(kp).all(axis=2)), strict=True):
        x, y = (int(round(v)) for v in kp[i, j])
        cv2.circle(img, (x, y), 3, (255, code(int(i), int(j)), 0), -1)
    return img


def dot_code(img: np.ndarray, x: float, y: float) -> float:
    """The code of the dot at (x, y): green / red is kept by any blend with black."""
    r, g = (float(v) for v in img[int(round(y)), int(round(x)), :2])
    return 255 * g / r if r > 60 else -100.0


def was_flipped(img: np.ndarray, out: np.ndarray) -> bool:
    """Whether the ears' dots carry the other ear's code (the crop was mirrored)."""
    votes = []
    for i in range(3):
        for j, other in ((1, 2), (2, 1)):
            x, y = out[i, j]
            if np.isfinite(out[i, j]).all() and 0 <= x < img.shape[1] and 0 <= y < img.shape[0]:
                votes.append(abs(dot_code(img, x, y) - code(i, other)) <= 4)
    return bool(votes) and np.mean(votes) > 0.5


def check_dots(img: np.ndarray, out: np.ndarray, expected_code, tol: float) -> int:
    """Each finite output keypoint lies on the red dot (within tol px) of the right code."""
    checked = 0
    ch, cw = img.shape[:2]
    red = img[..., 0].astype(np.float64)
    for i, j in zip(*np.nonzero(np.isfinite(out).all(axis=2)), strict=True):
        x, y = out[i, j]
        if not (7 <= x < cw - 7 and 7 <= y < ch - 7):
            continue  # a dot cut by the border has a biased centroid
        x0, y0 = int(round(x)) - 6, int(round(y)) - 6
        win = red[y0 : y0 + 13, x0 : x0 + 13]
        win = np.where(win > 40, win, 0)
        assert win.sum() > 0, f"no dot under keypoint {i},{j} at {(x, y)}"
        ys, xs = np.mgrid[y0 : y0 + 13, x0 : x0 + 13]
        cx, cy = (xs * win).sum() / win.sum(), (ys * win).sum() / win.sum()
        err = np.hypot(cx - x, cy - y)
        assert err <= tol, f"keypoint {i},{j} at {(x, y)}, its dot at {(cx, cy)}"
        assert abs(dot_code(img, x, y) - expected_code(i, j)) <= 4, f"{i},{j} on another dot"
        checked += 1
    return checked


FAMILIES = {
    "crop": {"crop_only": True},
    "scale": {"scale_jitter_lo": 0.5, "scale_jitter_up": 1.25},
    "small scale (area resize)": {"scale_jitter_lo": 0.3, "scale_jitter_up": 0.45},
    "rotation": {"rotation": 40},
    "pre_resize, no crop": {"pre_resize": [240, 180], "crop_sampling": "none", "crop_only": True},
    "flip": {"fliplr": 1, "symmetric_pairs": [["leftear", "rightear"]]},
    "all geometric": {
        "scale_jitter_lo": 0.5,
        "scale_jitter_up": 1.25,
        "rotation": 25,
        "apply_prob": 0.5,
        "fliplr": True,
        "symmetric_pairs": [[1, 2]],
        "crop_sampling": "hybrid",
    },
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_keypoints_stay_on_their_dots(family: str) -> None:
    cfg = cfg_with(**FAMILIES[family])
    kp = grid_keypoints()
    img = dot_image(kp)
    aug = build_multi_augmenter(cfg, seed=0)
    checked = 0
    for seed in range(15):
        out_img, out = aug(img, kp, np.random.default_rng(seed))
        width, height = aug.crop_size
        assert out_img.shape == (height, width, 3) and out.shape == kp.shape
        flipped = family == "flip" or (family == "all geometric" and was_flipped(out_img, out))

        def expected(i: int, j: int, flipped: bool = flipped) -> int:
            return code(i, {1: 2, 2: 1}.get(j, j)) if flipped else code(i, j)

        checked += check_dots(out_img, out, expected, tol=1.0)
    assert checked >= 30


def test_elastic_and_pixel_transforms() -> None:
    """The elastic deformation moves keypoints with the pixels (to about a pixel); pixel
    transforms do not move them: same geometry as crop_only for the same rng."""
    kp = grid_keypoints()
    img = dot_image(kp)
    aug = build_multi_augmenter(cfg_with(elastic_transform=True), seed=0)
    checked = sum(
        check_dots(*aug(img, kp, np.random.default_rng(s)), code, tol=1.5) for s in range(8)
    )
    assert checked >= 20
    pixel = cfg_with(
        motion_blur=True,
        covering=True,
        grayscale=True,
        hist_eq=True,
        gaussian_noise=10,
        contrast={"clahe": True, "claheratio": 1.0, "histeq": True, "histeqratio": 1.0},
        convolution={"sharpen": True, "sharpenratio": 1.0, "emboss": {"alpha": [0, 1]}},
    )
    busy, plain = build_multi_augmenter(pixel), build_multi_augmenter(cfg_with(crop_only=True))
    photo = np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8)
    for s in range(5):
        a_img, a = busy(photo, kp, np.random.default_rng(s))
        b_img, b = plain(photo, kp, np.random.default_rng(s))
        np.testing.assert_array_equal(a, b)
        assert a_img.shape == b_img.shape and a_img.dtype == np.uint8
        assert not np.array_equal(a_img, b_img)


def test_flip_needs_symmetric_pairs() -> None:
    """As DLC: fliplr without symmetric_pairs never flips."""
    kp = grid_keypoints()
    aug = build_multi_augmenter(cfg_with(fliplr=1, crop_size=[W, H]))
    for s in range(5):
        _, out = aug(dot_image(kp), kp, np.random.default_rng(s))
        np.testing.assert_allclose(out, kp)


def test_crop_is_an_exact_window_of_a_real_image() -> None:
    """crop_only on DLC's three-mouse image: the output is the image's pixels at the
    offset the keypoints moved by (a window, or the image inside padding)."""
    image = cv2.cvtColor(cv2.imread(str(IMAGE)), cv2.COLOR_BGR2RGB)
    h, w = image.shape[:2]
    probes = np.stack(np.meshgrid(np.arange(0, w, 8.0), np.arange(0, h, 8.0)), -1)
    kp = probes.reshape(1, -1, 2)
    for crop in ([400, 400], [700, 300], [800, 600]):
        aug = build_multi_augmenter(cfg_with(crop_only=True, crop_size=crop))
        for s in range(3):
            out_img, out = aug(image, kp, np.random.default_rng(s))
            assert out_img.shape == (crop[1], crop[0], 3)
            shift = (kp - out)[np.isfinite(out).all(axis=2)]
            np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape))
            x0, y0 = (int(v) for v in shift[0])
            pad = np.zeros((max(h, crop[1]) + 2 * 800, max(w, crop[0]) + 2 * 800, 3), np.uint8)
            pad[800 : 800 + h, 800 : 800 + w] = image
            window = pad[800 + y0 : 800 + y0 + crop[1], 800 + x0 : 800 + x0 + crop[0]]
            np.testing.assert_array_equal(out_img, window)


def crop_windows(cfg: dict, kp: np.ndarray, size: tuple[int, int], n: int) -> np.ndarray:
    """(n, 2) origins (x0, y0) of crop_only crops: the image holds a coordinate code
    (red = x // 4, green = y // 4 plus fine bits in blue) read back at the output's corner."""
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w]
    img = np.stack([xs % 256, ys % 256, (xs // 256) * 16 + ys // 256], -1).astype(np.uint8)
    aug = build_multi_augmenter({**cfg, "crop_only": True}, seed=0)
    rng = np.random.default_rng(7)
    found = np.empty((n, 2))
    for k in range(n):
        out_img, _ = aug(img, kp, rng)
        r, g, b = (int(v) for v in out_img[0, 0])
        found[k] = r + 256 * (b // 16), g + 256 * (b % 16)
    return found


def cluster_scene() -> tuple[np.ndarray, tuple[int, int]]:
    """800x600: animal 0 packed in 30 px around (100, 100), two others spread out."""
    rng = np.random.default_rng(3)
    kp = np.empty((3, 12, 2))
    kp[0] = rng.uniform(85, 115, (12, 2))
    kp[1:] = rng.uniform([250, 200], [790, 590], (2, 12, 2))
    return kp, (600, 800)


def fraction_with_cluster(sampling: str, n: int = 300) -> float:
    kp, size = cluster_scene()
    x0 = crop_windows(cfg_with(crop_sampling=sampling), kp, size, n)
    inside = (x0[:, 0] <= 100) & (x0[:, 0] + CROP[0] > 100)
    inside &= (x0[:, 1] <= 100) & (x0[:, 1] + CROP[1] > 100)
    return float(inside.mean())


def test_keypoints_crops_always_hold_a_labeled_keypoint() -> None:
    kp, size = cluster_scene()
    kp[1, :6] = np.nan
    aug = build_multi_augmenter(cfg_with(crop_sampling="keypoints", crop_only=True), seed=0)
    rng = np.random.default_rng(0)
    for _ in range(300):
        _, out = aug(np.zeros((*size, 3), np.uint8), kp, rng)
        assert np.isfinite(out).all(axis=2).any()


def test_density_favours_the_dense_cluster() -> None:
    density, keypoints = fraction_with_cluster("density"), fraction_with_cluster("keypoints")
    uniform, hybrid = fraction_with_cluster("uniform"), fraction_with_cluster("hybrid")
    # The crop holds the cluster whenever a cluster point is drawn (max_shift keeps it
    # inside): with DLC's weights (1 + neighbours within 0.1 x 600 px) that is p_cluster.
    kp, size = cluster_scene()
    p_cluster = crowd_weights(kp.reshape(-1, 2), 0.1 * min(size))[:12].sum()
    assert p_cluster > 0.6
    assert abs(density - p_cluster) < 0.08
    assert 0.2 < keypoints < 0.5  # 12 of 36 points
    assert uniform < 0.1  # (101/601) * (141/441) = 0.05
    assert abs(hybrid - (density + uniform) / 2) < 0.1


def test_uniform_crops_cover_the_image() -> None:
    kp, size = cluster_scene()
    found = crop_windows(cfg_with(crop_sampling="uniform"), kp, size, 400)
    for axis, top in ((0, size[1] - CROP[0]), (1, size[0] - CROP[1])):
        assert found[:, axis].min() >= 0 and found[:, axis].max() <= top
        assert found[:, axis].min() < 0.02 * top and found[:, axis].max() > 0.98 * top
        assert stats.kstest(found[:, axis] / top, "uniform").pvalue > 1e-3


def test_crowd_weights_are_dlcs() -> None:
    pts = np.random.default_rng(0).uniform(0, 100, (30, 2))
    neighbours = squareform(pdist(pts, "sqeuclidean") <= 20.0**2).sum(axis=0)
    np.testing.assert_allclose(crowd_weights(pts, 20.0), (neighbours + 1) / (neighbours + 1).sum())


@pytest.mark.parametrize("size", [(100, 80), (60, 300), (500, 90), (240, 320), (160, 200)])
def test_output_is_always_crop_size(size: tuple[int, int]) -> None:
    h, w = size
    kp = np.array([[[w / 2, h / 2], [np.nan, np.nan]], [[1.0, 1.0], [w - 2.0, h - 2.0]]])
    img = np.full((h, w, 3), 200, np.uint8)
    cfg = cfg_with(scale_jitter_lo=0.5, scale_jitter_up=1.25, rotation=30, crop_sampling="hybrid")
    for c in (cfg, {**cfg, "crop_only": True}):
        aug = build_multi_augmenter(c, seed=1)
        for _ in range(5):
            out_img, out = aug(img, kp)
            assert out_img.shape == (CROP[1], CROP[0], 3) and out_img.dtype == np.uint8
            finite = np.isfinite(out).all(axis=2)
            assert (out[finite] >= 0).all() and (out[finite] < CROP).all()
            assert np.isnan(out[0, 1]).all()
    # crop_only, image smaller than the crop: every pixel of the image is in the output.
    if h <= CROP[1] and w <= CROP[0]:
        out_img, out = build_multi_augmenter(cfg_with(crop_only=True))(img, kp)
        assert (out_img[..., 0] == 200).sum() == h * w
        np.testing.assert_allclose(out[1, 0] - out[1, 1], kp[1, 0] - kp[1, 1])


def test_nan_handling() -> None:
    kp = grid_keypoints()
    aug = build_multi_augmenter(cfg_with(rotation=45, crop_sampling="density"), seed=0)
    lost = 0
    for s in range(20):
        _, out = aug(dot_image(kp), kp, np.random.default_rng(s))
        assert out.shape == kp.shape and out.dtype == np.float32
        assert np.isnan(out[~np.isfinite(kp)]).all()  # unlabeled stays unlabeled
        assert np.isnan(out[3, :4]).all()  # the unique row's animal parts
        lost += int((~np.isfinite(out).all(axis=2) & np.isfinite(kp).all(axis=2)).sum())
    assert lost > 0  # a 200x160 crop of a 320x240 image loses points
    # No labeled point at all: keypoint-based sampling falls back to a uniform crop.
    empty = np.full((2, 3, 2), np.nan)
    for sampling in ("keypoints", "density", "hybrid"):
        out_img, out = build_multi_augmenter(cfg_with(crop_sampling=sampling))(
            np.zeros((H, W, 3), np.uint8), empty, np.random.default_rng(0)
        )
        assert out_img.shape == (CROP[1], CROP[0], 3) and np.isnan(out).all()


def test_seeded_calls_repeat() -> None:
    cfg = {**TEMPLATE, **cfg_with(fliplr=True, symmetric_pairs=[[1, 2]], covering=True)}
    cfg["elastic_transform"] = True
    kp = grid_keypoints()
    img = dot_image(kp)

    def run(aug, rngs):
        return [aug(img, kp, r) for r in rngs]

    a = run(build_multi_augmenter(cfg, seed=5), [None] * 4)
    b = run(build_multi_augmenter(cfg, seed=5), [None] * 4)
    c = run(build_multi_augmenter(cfg), [np.random.default_rng(s) for s in range(4)])
    d = run(build_multi_augmenter(cfg, seed=9), [np.random.default_rng(s) for s in range(4)])
    for x, y in zip(a + c, b + d, strict=True):
        np.testing.assert_array_equal(x[0], y[0])
        np.testing.assert_array_equal(x[1], y[1])
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(a, c, strict=True))


def test_bad_settings_and_inputs() -> None:
    with pytest.raises(ValueError, match="crop_sampling 'random'"):
        build_multi_augmenter(cfg_with(crop_sampling="random"))
    with pytest.raises(ValueError, match="crop_size"):
        build_multi_augmenter(cfg_with(crop_size=[400]))
    aug = build_multi_augmenter(cfg_with())
    with pytest.raises(ValueError, match="n_individuals, n_joints, 2"):
        aug(np.zeros((H, W, 3), np.uint8), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="RGB uint8"):
        aug(np.zeros((H, W), np.uint8), grid_keypoints())


def test_dlc_defaults_on_the_real_image() -> None:
    """DLC's multi-animal train pose_cfg (template + the multi-animal items) on the
    640x480 three-mouse image: sane outputs over many calls, next to the single-animal
    augmenter on the same points (speed: benchmarks/ma_augment.py)."""
    image = cv2.cvtColor(cv2.imread(str(IMAGE)), cv2.COLOR_BGR2RGB)
    cfg = {**TEMPLATE, "crop_size": [400, 400], "crop_sampling": "hybrid"}
    cfg.update(all_joints_names=[f"p{i}" for i in range(12)], num_joints=12)
    kp = np.random.default_rng(0).uniform([0, 0], [640, 480], (3, 12, 2))
    aug = build_multi_augmenter(cfg, seed=0)
    single = build_augmenter({**TEMPLATE, **cfg, "crop_size": None}, seed=0)
    for _ in range(20):
        out_img, out = aug(image, kp)
        assert out_img.shape == (400, 400, 3) and out.shape == kp.shape
        finite = np.isfinite(out).all(axis=2)
        assert (out[finite] >= 0).all() and (out[finite] < 400).all()
        assert single(image, kp.reshape(-1, 2))[1].shape == (36, 2)
