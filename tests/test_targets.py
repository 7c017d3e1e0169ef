"""Targets, loss (dlcflow.training.targets) and decoding (dlcflow.inference.decode) against DLC's
definitions."""

from __future__ import annotations

import numpy as np
import pytest

from dlcflow.inference.decode import decode
from dlcflow.training.targets import make_targets, pose_loss

CFG = {
    "stride": 8.0,
    "pos_dist_thresh": 17,
    "locref_stdev": 7.2801,
    "location_refinement": True,
    "locref_huber_loss": True,
    "locref_loss_weight": 0.05,
}


def dlc_reference(kp: np.ndarray, size: tuple[int, int], cfg: dict, scale: float) -> tuple:
    """DLC 2.3's per-joint loop (compute_target_part_scoremap_numpy), restated."""
    h, w = size
    stride, half = cfg["stride"], cfg["stride"] / 2
    thresh_sq = (cfg["pos_dist_thresh"] * scale) ** 2
    part = np.zeros((h, w, len(kp)))
    locref = np.zeros((h, w, 2 * len(kp)))
    mask = np.zeros((h, w, 2 * len(kp)))
    for j, (x, y) in enumerate(kp):
        if np.isnan(x):
            continue
        for r in range(h):
            for c in range(w):
                dx, dy = x - c * stride - half, y - r * stride - half
                if dx * dx + dy * dy <= thresh_sq:
                    part[r, c, j] = 1
                    mask[r, c, 2 * j : 2 * j + 2] = 1
                    locref[r, c, 2 * j] = dx / cfg["locref_stdev"]
                    locref[r, c, 2 * j + 1] = dy / cfg["locref_stdev"]
    return part, locref, mask


def test_targets_match_dlc_loop() -> None:
    rng = np.random.default_rng(0)
    kp = rng.uniform([0, 0], [160, 120], size=(5, 2))
    kp[2] = np.nan
    t = make_targets(kp, (16, 20), CFG, scale=0.8)
    part, locref, mask = dlc_reference(kp, (16, 20), CFG, 0.8)
    assert t["part"].shape == (16, 20, 5) and t["locref"].shape == (16, 20, 10)
    assert all(v.dtype == np.float32 for v in t.values())
    np.testing.assert_array_equal(t["part"], part)
    np.testing.assert_array_equal(t["locref_weight"], mask)
    np.testing.assert_allclose(t["locref"], locref, atol=1e-6)
    np.testing.assert_array_equal(t["part_weight"], 1.0)


def test_missing_keypoints_give_zero_targets() -> None:
    kp = np.array([[np.nan, np.nan], [40.0, 30.0], [np.nan, 5.0]])
    t = make_targets(kp, (8, 10), CFG)
    assert t["part"][..., 0].sum() == 0 and t["part"][..., 2].sum() == 0
    assert t["locref_weight"][..., [0, 1, 4, 5]].sum() == 0
    assert t["part"][..., 1].sum() > 0
    t2 = make_targets(kp, (8, 10), {**CFG, "weigh_only_present_joints": True})
    assert t2["part_weight"][..., 0].sum() == 0 and t2["part_weight"][..., 1].min() == 1


def test_scale_shrinks_disk() -> None:
    kp = np.array([[80.0, 60.0]])
    big = make_targets(kp, (16, 20), CFG, scale=1.0)["part"].sum()
    small = make_targets(kp, (16, 20), CFG, scale=0.5)["part"].sum()
    assert small < big


@pytest.mark.parametrize("num_joints", [4, 20])
def test_round_trip_recovers_keypoints(num_joints: int) -> None:
    rng = np.random.default_rng(num_joints)
    h, w = 30, 40  # 240 x 320 input
    kp = rng.uniform([0, 0], [319.9, 239.9], size=(num_joints, 2))
    t = make_targets(kp, (h, w), CFG)
    # perfect predictions: probability = target (argmax = first cell of the disk)
    prob = t["part"].copy()
    pose = decode(prob[None], t["locref"][None])
    assert pose.shape == (1, num_joints, 3)
    np.testing.assert_allclose(pose[0, :, :2], kp, atol=0.01)
    np.testing.assert_array_equal(pose[0, :, 2], 1.0)


def test_decode_argmax_likelihood_and_no_locref() -> None:
    prob = np.zeros((2, 5, 6, 2), np.float32)
    prob[0, 1, 2, 0] = 0.7
    prob[0, 3, 4, 1] = 0.9
    prob[1, 4, 5, 0] = 0.4
    prob[1, 0, 0, 1] = 0.2
    locref = np.zeros((2, 5, 6, 4), np.float32)
    locref[0, 1, 2, 0:2] = [0.5, -0.5]
    pose = decode(prob, locref, stride=8, locref_stdev=2.0)
    np.testing.assert_allclose(pose[0, 0], [2 * 8 + 4 + 1.0, 1 * 8 + 4 - 1.0, 0.7], rtol=1e-6)
    np.testing.assert_allclose(pose[0, 1], [4 * 8 + 4, 3 * 8 + 4, 0.9], rtol=1e-6)
    np.testing.assert_allclose(pose[1, :, 2], [0.4, 0.2], rtol=1e-6)
    plain = decode(prob, locref, stride=8, locref_stdev=2.0, location_refinement=False)
    np.testing.assert_allclose(plain[0, 0, :2], [20, 12])
    single = decode(prob[0], locref[0], stride=8, locref_stdev=2.0)
    np.testing.assert_allclose(single, pose[:1])


def _batch(kp: np.ndarray) -> dict[str, np.ndarray]:
    t = make_targets(kp, (8, 10), CFG)
    return {k: v[None] for k, v in t.items()}


def test_loss_zero_for_perfect_logits_and_positive_otherwise() -> None:
    import tensorflow as tf

    targets = _batch(np.array([[30.0, 20.0], [50.5, 40.25]]))
    perfect = {
        "part": tf.constant(np.where(targets["part"] > 0, 30.0, -30.0), tf.float32),
        "locref": tf.constant(targets["locref"]),
        "part_interm": tf.constant(np.where(targets["part"] > 0, 30.0, -30.0), tf.float32),
    }
    cfg = {**CFG, "intermediate_supervision": True}
    losses = pose_loss(targets, perfect, cfg)
    assert set(losses) == {"total", "part", "locref", "part_interm"}
    assert float(losses["total"]) < 1e-6

    logits = tf.Variable(tf.zeros_like(perfect["part"]))
    locref = tf.Variable(tf.zeros_like(perfect["locref"]) + 3.0)
    with tf.GradientTape() as tape:
        losses = pose_loss(targets, {"part": logits, "locref": locref}, CFG)
    assert float(losses["part"]) == pytest.approx(np.log(2), rel=1e-5)
    grads = tape.gradient(losses["total"], [logits, locref])
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)
    # Huber(delta=1) weighted by the locref mask, mean over its non-zero entries
    diff = 3.0 - targets["locref"]
    huber = np.where(np.abs(diff) <= 1, 0.5 * diff**2, np.abs(diff) - 0.5)
    mask = targets["locref_weight"]
    expected = 0.05 * (huber * mask).sum() / np.count_nonzero(mask)
    assert float(losses["locref"]) == pytest.approx(expected, rel=1e-5)
    off = pose_loss(
        targets, {"part": logits, "locref": locref}, {**CFG, "location_refinement": False}
    )
    assert float(off["locref"]) == 0.0 and float(off["total"]) == pytest.approx(np.log(2), rel=1e-5)


def test_loss_ignores_zero_weight_cells() -> None:
    import tensorflow as tf

    targets = _batch(np.array([[30.0, 20.0]]))
    targets["part_weight"][:, 4:] = 0.0  # padding rows
    logits = np.zeros_like(targets["part"])
    logits[:, 4:] = 50.0  # wrong, but in the padding
    loss = pose_loss(targets, {"part": tf.constant(logits), "locref": targets["locref"]}, CFG)
    assert float(loss["part"]) == pytest.approx(np.log(2), rel=1e-5)
