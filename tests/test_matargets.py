"""training.matargets: DLC's multi-animal targets against hand-computed values; the loss
against a direct NumPy computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dlcflow.training.matargets import make_multi_targets, multi_pose_loss, target_channels

NAN = np.nan


def cfg(**kw: object) -> dict:
    base = {
        "num_joints": 3,
        "num_idchannel": 0,
        "partaffinityfield_graph": [[0, 1], [1, 2]],
        "stride": 8.0,
        "pos_dist_thresh": 17,
        "locref_stdev": 7.2801,
        "pafwidth": 20,
    }
    return {**base, **kw}


def centre(col: int, row: int) -> tuple[float, float]:
    return col * 8 + 4.0, row * 8 + 4.0


def test_disk_radius_and_locref_values() -> None:
    kp = np.full((2, 3, 2), NAN)
    kp[0, 0] = (44.0, 44.0)  # on the centre of cell (5, 5)
    t = make_multi_targets(kp, (12, 12), cfg())
    assert t["part"].shape == (12, 12, 3) and t["locref"].shape == (12, 12, 6)
    part = t["part"][..., 0]
    for row in range(12):
        for col in range(12):
            x, y = centre(col, row)
            expected = math.hypot(x - 44, y - 44) <= 17
            assert part[row, col] == expected, (row, col)
    assert part[5, 7] == 1 and part[5, 8] == 0  # 16 px inside, 24 px outside
    assert part[7, 5] == 1 and part[7, 6] == 0  # 16 px inside, sqrt(16² + 8²) = 17.9 out
    # locref at cell (col 7, row 5): (44 - 60, 44 - 44) / 7.2801
    np.testing.assert_allclose(t["locref"][5, 7, 0:2], [(44 - 60) / 7.2801, 0.0], rtol=1e-6)
    np.testing.assert_allclose(t["locref"][6, 4, 0:2], [8 / 7.2801, -8 / 7.2801], rtol=1e-6)
    assert (t["locref"][part == 0][:, :2] == 0).all()
    assert t["part"][..., 1:].sum() == 0  # joints 1, 2 missing
    assert (t["locref_weight"] == 1).all() and (t["pairwise_weight"] == 1).all()  # DLC: ones
    # scale shrinks the disk: 17 * 0.5 = 8.5 px
    small = make_multi_targets(kp, (12, 12), cfg(), scale=0.5)["part"][..., 0]
    assert small[5, 6] == 1 and small[6, 6] == 0 and small.sum() == 5


def test_overlapping_disks_last_individual_wins_and_identity_union() -> None:
    kp = np.full((3, 3, 2), NAN)
    kp[0, 0] = (44.0, 44.0)
    kp[1, 0] = (52.0, 44.0)  # overlaps individual 0
    kp[1, 2] = (20.0, 20.0)
    t = make_multi_targets(kp, (12, 12), cfg(num_idchannel=3))
    assert t["part"].shape[-1] == 6
    # cell (col 5, row 5) is in both disks: locref from individual 1
    np.testing.assert_allclose(t["locref"][5, 5, 0], (52 - 44) / 7.2801, rtol=1e-6)
    # cell (col 3, row 5): only individual 0's disk (52 - 28 = 24 > 17)
    np.testing.assert_allclose(t["locref"][5, 3, 0], (44 - 28) / 7.2801, rtol=1e-6)
    ind0 = make_multi_targets(kp[:1], (12, 12), cfg())["part"]
    ind1 = make_multi_targets(kp[1:2], (12, 12), cfg())["part"]
    np.testing.assert_array_equal(t["part"][..., 3], ind0.max(axis=-1))
    np.testing.assert_array_equal(t["part"][..., 4], ind1.max(axis=-1))
    assert t["part"][..., 5].sum() == 0  # individual 2 unlabeled
    np.testing.assert_array_equal(t["part"][..., 0], np.maximum(ind0[..., 0], ind1[..., 0]))


def test_paf_direction_and_triangular_falloff() -> None:
    kp = np.full((1, 3, 2), NAN)
    kp[0, 0] = (20.0, 36.0)  # horizontal limb along y = 36 from x = 20 to x = 76
    kp[0, 1] = (76.0, 36.0)
    t = make_multi_targets(kp, (10, 12), cfg())
    paf = t["pairwise"]
    assert paf.shape == (10, 12, 4)
    for row in range(10):
        for col in range(12):
            x, y = centre(col, row)
            d = abs(y - 36)
            inside = 20 <= x <= 76 and d <= 20
            expected = (1 - d / 20) if inside else 0.0
            assert paf[row, col, 0] == pytest.approx(expected, abs=1e-6), (row, col)
            assert paf[row, col, 1] == 0
    assert paf[4, 5, 0] == pytest.approx(1.0)  # on the axis (y = 36)
    assert paf[6, 5, 0] == pytest.approx(1 - 16 / 20)  # 16 px off
    assert paf[4, 2, 0] == 1 and paf[4, 9, 0] == 1  # x = 20 and x = 76: the ends
    assert paf[4, 1, 0] == 0 and paf[4, 10, 0] == 0  # x = 12 and x = 84: beyond them
    assert (paf[..., 2:] == 0).all()  # limb (1, 2): part 2 missing


def test_paf_diagonal_unit_vector_and_scale() -> None:
    kp = np.full((1, 3, 2), NAN)
    kp[0, 1] = (12.0, 12.0)
    kp[0, 2] = (76.0, 76.0)
    t = make_multi_targets(kp, (10, 10), cfg(), scale=0.5)
    paf = t["pairwise"][..., 2:4]
    u = 1 / math.sqrt(2)
    np.testing.assert_allclose(paf[4, 4], [u, u], rtol=1e-6)  # centre (36, 36) on the axis
    # centre (44, 28): perpendicular distance |28 - 44| / sqrt(2), times scale 0.5
    d = abs(28 - 44) / math.sqrt(2)
    np.testing.assert_allclose(paf[3, 5], np.array([u, u]) * (1 - d * 0.5 / 20), rtol=1e-6)


def _targets_cell_by_cell(kp: np.ndarray, h: int, w: int, c: dict, scale: float) -> dict:
    """The module docstring's definitions, one cell and one individual at a time."""
    j, n_id, limbs = c["num_joints"], c["num_idchannel"], c["partaffinityfield_graph"]
    part = np.zeros((h, w, j + n_id))
    locref = np.zeros((h, w, j, 2))
    paf = np.zeros((h, w, len(limbs), 2))
    radius, width = c["pos_dist_thresh"] * scale, c["pafwidth"]
    for row in range(h):
        for col in range(w):
            x, y = centre(col, row)
            for k, points in enumerate(kp):  # config order: the last one wins
                for p, (px, py) in enumerate(points):
                    if math.hypot(px - x, py - y) <= radius:  # NaN: False
                        part[row, col, p] = 1
                        locref[row, col, p] = (px - x, py - y)
                        if k < n_id:
                            part[row, col, j + k] = 1
                for limb, (a, b) in enumerate(limbs):
                    (ax, ay), (bx, by) = points[a], points[b]
                    length = math.hypot(bx - ax, by - ay)
                    if not length > 0:
                        continue
                    u, v = (bx - ax) / length, (by - ay) / length
                    along = (x - ax) * u + (y - ay) * v
                    across = abs((y - ay) * u - (x - ax) * v) * scale / width
                    if -1e-9 <= along <= length + 1e-9 and across <= 1:
                        paf[row, col, limb] = (u * (1 - across), v * (1 - across))
    return {
        "part": part,
        "locref": locref.reshape(h, w, -1) / c["locref_stdev"],
        "pairwise": paf.reshape(h, w, -1),
    }


def test_crowded_scene_against_the_definition_cell_by_cell() -> None:
    """Four individuals crowded on a 14 x 11 grid (overlapping disks and limbs, missing
    parts, parts beyond the border), several scales: every map equals the cell-by-cell
    computation of the definitions."""
    rng = np.random.default_rng(7)
    c = cfg(num_idchannel=3, partaffinityfield_graph=[[0, 1], [1, 2], [2, 0], [0, 2]])
    for trial in range(6):
        kp = rng.uniform(-20, 130, (4, 3, 2))
        kp[rng.random((4, 3)) < 0.2] = NAN
        scale = (1.0, 0.8, 0.5, 1.25, 2.0, 0.3)[trial]
        t = make_multi_targets(kp, (11, 14), c, scale=scale)
        ref = _targets_cell_by_cell(kp, 11, 14, c, scale)
        assert ref["part"].any() and ref["pairwise"].any()
        for key, expected in ref.items():
            np.testing.assert_allclose(t[key], expected, rtol=1e-5, atol=1e-6, err_msg=key)


def test_weigh_only_present_joints_masks() -> None:
    kp = np.full((1, 3, 2), NAN)
    kp[0, 0] = (44.0, 44.0)
    kp[0, 1] = (60.0, 44.0)
    c = cfg(weigh_only_present_joints=True, weigh_part_predictions=True)
    t = make_multi_targets(kp, (12, 12), c)
    np.testing.assert_array_equal(t["locref_weight"][..., 0], t["part"][..., 0])
    assert t["locref_weight"][..., 4:].sum() == 0
    assert (t["part_weight"][..., :2] == 1).all() and (t["part_weight"][..., 2] == 0).all()
    np.testing.assert_array_equal(t["pairwise_weight"][..., 0], t["pairwise"][..., 0] > 0)


def test_loss_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    c = cfg(num_idchannel=2, locref_loss_weight=0.05, pairwise_loss_weight=0.1)
    ch = target_channels(c)
    kps = rng.uniform(0, 90, (2, 2, 3, 2))
    kps[0, 1, 2] = NAN
    maps = [make_multi_targets(k, (12, 12), c) for k in kps]
    targets = {k: np.stack([m[k] for m in maps]) for k in maps[0]}
    outputs = {
        "part_pred": rng.normal(0, 2, (2, 12, 12, ch["part"])).astype(np.float32),
        "locref": rng.normal(0, 2, (2, 12, 12, ch["locref"])).astype(np.float32),
        "pairwise_pred": rng.normal(0, 1, (2, 12, 12, ch["pairwise"])).astype(np.float32),
    }
    losses = {k: float(v) for k, v in multi_pose_loss(targets, outputs, c).items()}
    z, y = outputs["part_pred"].astype(np.float64), targets["part"]
    ce = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    part = ce.mean()
    err = np.abs(outputs["locref"] - targets["locref"])
    huber = np.where(err <= 1, 0.5 * err**2, err - 0.5)
    locref = 0.05 * huber.mean()
    pairwise = 0.1 * ((outputs["pairwise_pred"] - targets["pairwise"]) ** 2).mean()
    assert losses["part"] == pytest.approx(part, rel=1e-5)
    assert losses["locref"] == pytest.approx(locref, rel=1e-5)
    assert losses["pairwise"] == pytest.approx(pairwise, rel=1e-5)
    assert losses["total"] == pytest.approx(part + locref + pairwise, rel=1e-5)
    # weighted: Huber PAF over the non-zero weights only
    c2 = {**c, "weigh_only_present_joints": True, "pairwise_huber_loss": True}
    maps = [make_multi_targets(k, (12, 12), c2) for k in kps]
    targets = {k: np.stack([m[k] for m in maps]) for k in maps[0]}
    got = float(multi_pose_loss(targets, outputs, c2)["pairwise"])
    w = targets["pairwise_weight"]
    e = np.abs(outputs["pairwise_pred"] - targets["pairwise"])
    h = np.where(e <= 1, 0.5 * e**2, e - 0.5)
    assert got == pytest.approx(0.1 * (h * w).sum() / np.count_nonzero(w), rel=1e-5)
