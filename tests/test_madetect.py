"""Multi-animal detection (dlcflow.inference.madetect) against DLC's reference detections.

The data: DLC's unit-test outputs of one 640x480 three-mouse image (``outputs.pickle``:
probabilities (1, 60, 80, 12), locref (1, 60, 80, 24), PAFs (1, 60, 80, 132)) and DLC's
detections from them (``dets.pickle``: nmsradius 5, minconfidence 0.01, stride 8, the
complete graph of 66 limbs).

``dets.pickle`` was made by DLC before 2.2.0.4 (Aug 2021): plain NMS without the Gaussian
smoothing, confidences rounded to 5 decimals, costs unrounded and computed another way
(:func:`legacy_costs` below reproduces them to float noise). So we compare

* peaks, positions, confidences with the smoothing off (``sigma=0``, DLC's own test of its
  max-pool NMS): identical peaks, positions equal (both rounded to 3 decimals from the same
  float32 arithmetic), confidences within the reference's 5-decimal rounding;
* the smoothing and NMS of DLC 2.3 (``sigma=1``) against the same operations run in
  TensorFlow (DLC's graph): identical peaks; against the reference: each peak within one
  cell of a reference peak, and the reference peaks lost are those the smoothing takes under
  ``minconfidence``;
* DLC 2.3's PAF costs against the reference: the best target of each source agrees on 60
  of the 66 limbs (DLC's own test asserts exactly this), distances within 1.5 cells and
  equal wherever the old method's cells are the peaks' cells (the old method measured from
  the truncated cells of the refined positions, 50 points, and another integral).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import yaml

from dlcflow.inference import madetect as md

MA_FIXTURE = (
    Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dlc-unittest-multianimal"
)
GRAPH = [(i, j) for i in range(12) for j in range(i + 1, 12)]
STRIDE = 8
LOCREF_STDEV = 7.2801


@pytest.fixture(scope="module")
def outputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DLC's raw network outputs (probabilities, locref in DLC's units, PAFs)."""
    with (MA_FIXTURE / "outputs.pickle").open("rb") as f:
        scmaps, locref, pafs = pickle.load(f)
    return scmaps, locref, pafs


@pytest.fixture(scope="module")
def reference() -> dict:
    """DLC's detections of those outputs (one frame dict)."""
    with (MA_FIXTURE / "dets.pickle").open("rb") as f:
        return pickle.load(f)[0]


def legacy_costs(
    coords: list[np.ndarray], pafs: np.ndarray, graph: list[tuple[int, int]]
) -> dict[int, dict[str, np.ndarray]]:
    """The cost method of DLC before 2.2.0.4, which made ``dets.pickle``: both ends are the
    truncated grid cells of the refined positions; 50 points; each PAF component integrated
    with a step of (its coordinate difference) / (length · 50); ``m1`` = the norm."""
    h, w = pafs.shape[:2]
    out = {}
    for k, (s, t) in enumerate(graph):
        m1 = np.full((len(coords[s]), len(coords[t])), np.nan)
        dist = np.zeros_like(m1)
        for a, c1 in enumerate(coords[s]):
            for b, c2 in enumerate(coords[t]):
                g1 = np.clip(np.trunc((c1 - STRIDE / 2) / STRIDE), 0, [w - 1, h - 1])
                g2 = np.clip(np.trunc((c2 - STRIDE / 2) / STRIDE), 0, [w - 1, h - 1])
                length = np.hypot(*(g1 - g2))
                dist[a, b] = length
                if length == 0:
                    continue
                xs = np.linspace(g1[0], g2[0], 50).astype(int)
                ys = np.linspace(g1[1], g2[1], 50).astype(int)
                comps = [
                    np.trapezoid(pafs[ys, xs, 2 * k + i], dx=(g1[i] - g2[i]) / (length * 50))
                    if g1[i] != g2[i]
                    else 0.0
                    for i in range(2)
                ]
                m1[a, b] = np.hypot(*comps)
        out[k] = {"m1": m1, "distance": dist}
    return out


def loop_costs(
    peaks: list[np.ndarray], pafs: np.ndarray, graph: list[tuple[int, int]]
) -> dict[int, dict[str, np.ndarray]]:
    """DLC 2.3's cost formula, one pair at a time: 10 integer points from the source cell
    to the target cell, each PAF component integrated over its own coordinate
    (trapezoids), ``m1 = |integral| / length``, ``distance = length`` (cells)."""
    out = {}
    for k, (s, t) in enumerate(graph):
        m1 = np.zeros((len(peaks[s]), len(peaks[t])))
        dist = np.zeros_like(m1)
        for a, (r1, c1) in enumerate(peaks[s]):
            for b, (r2, c2) in enumerate(peaks[t]):
                rows = np.linspace(r1, r2, 10).astype(int)
                cols = np.linspace(c1, c2, 10).astype(int)
                fx, fy = pafs[rows, cols, 2 * k], pafs[rows, cols, 2 * k + 1]
                ix = np.sum((fx[1:] + fx[:-1]) / 2 * np.diff(cols))
                iy = np.sum((fy[1:] + fy[:-1]) / 2 * np.diff(rows))
                length = np.hypot(r2 - r1, c2 - c1) + np.spacing(np.float32(1))
                m1[a, b] = np.hypot(ix, iy) / length
                dist[a, b] = length
        out[k] = {"m1": m1, "distance": dist}
    return out


def per_part(peaks: np.ndarray, n_parts: int = 12) -> list[np.ndarray]:
    """(row, col) of find_peaks' peaks of one frame, per part."""
    return [peaks[peaks[:, 3] == j][:, 1:3] for j in range(n_parts)]


def test_peaks_positions_confidences_match_dlc_without_smoothing(outputs, reference):
    scmaps, locref, pafs = outputs
    params = md.DetectionParams(graph=GRAPH, sigma=0)
    frame = md.detect_frame(scmaps, locref, pafs, params=params)
    raw = md.detect_frame(scmaps, locref, pafs, params=md.DetectionParams(sigma=0, decimals=None))
    assert len(frame["coordinates"]) == 1 and len(frame["coordinates"][0]) == 12
    for j in range(12):
        ours, theirs = frame["coordinates"][0][j], reference["coordinates"][0][j]
        assert ours.shape == theirs.shape, f"part {j}: {len(ours)} peaks, DLC {len(theirs)}"
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)
        assert frame["confidence"][j].shape == (len(theirs), 1)
        # the reference holds the probability rounded to 5 decimals, we round to DLC 2.3's 3
        np.testing.assert_allclose(raw["confidence"][j], reference["confidence"][j], atol=5e-6)
        np.testing.assert_allclose(frame["confidence"][j], raw["confidence"][j], atol=5e-4)
    assert "costs" not in raw  # no graph, no costs


def test_smoothing_and_nms_are_dlc23s_tensorflow_operations(outputs):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf  # noqa: PLC0415 (the reference only; the module is NumPy)

    scmaps = outputs[0]
    for radius, sigma in ((5, 1.0), (4, 1.0), (5, 2.5)):
        # DLC 2.3's inference graph: depthwise Gaussian ("SAME"), max pool of the radius
        k = np.arange(-radius, radius + 1, dtype=np.float32) ** 2
        k = tf.nn.softmax(-k / (2 * sigma**2))
        kernel = tf.tile(tf.einsum("i,j->ij", k, k)[:, :, None, None], [1, 1, 12, 1])
        smoothed = tf.nn.depthwise_conv2d(scmaps, kernel, [1, 1, 1, 1], "SAME")
        pooled = tf.nn.max_pool2d(smoothed, [radius, radius], strides=1, padding="SAME")
        maxima = smoothed * tf.cast(tf.equal(smoothed, pooled), tf.float32)
        expected = tf.where(maxima >= 0.01).numpy()
        expected = expected[np.argsort(expected[:, 3], kind="stable")]
        np.testing.assert_allclose(
            md.smooth_maps(scmaps, radius, sigma), smoothed.numpy(), rtol=0, atol=1e-6
        )
        np.testing.assert_array_equal(md.find_peaks(scmaps, radius, 0.01, sigma), expected)


def test_smoothed_peaks_stay_near_the_reference_peaks(outputs, reference):
    scmaps, locref, _ = outputs
    peaks = per_part(md.find_peaks(scmaps, 5, 0.01, sigma=1))
    plain = per_part(md.find_peaks(scmaps, 5, 0.01, sigma=0))
    smoothed = md.smooth_maps(scmaps, 5, 1)[0]
    moved = 0
    for j in range(12):
        assert len(plain[j]) == len(reference["coordinates"][0][j])
        d = np.abs(peaks[j][:, None, :] - plain[j][None, :, :]).max(axis=2)  # cells
        assert d.min(axis=1).max() <= 1, f"part {j}: a smoothed peak moved more than a cell"
        moved += int(np.count_nonzero(d.min(axis=1)))
        lost = plain[j][d.min(axis=0) > 1]
        # the only reference peaks lost: the smoothing takes them under minconfidence
        assert all(smoothed[r, c, j] < 0.01 for r, c in lost)
    assert moved > 0  # the smoothing does change something on this image


def test_costs_against_dlc_reference(outputs, reference):
    scmaps, locref, pafs = outputs
    # the reference's own method reproduces its costs (to float noise): they are understood
    legacy = legacy_costs(reference["coordinates"][0], pafs[0], GRAPH)
    for k in range(66):
        np.testing.assert_allclose(legacy[k]["m1"], reference["costs"][k]["m1"], atol=1e-6)
        np.testing.assert_allclose(legacy[k]["distance"], reference["costs"][k]["distance"])

    params = md.DetectionParams(graph=GRAPH, sigma=0)
    frame = md.detect_frame(scmaps, locref, pafs, params=params)
    costs = frame["costs"]
    assert sorted(costs) == list(range(66))
    best_agrees = 0
    for k, (s, t) in enumerate(GRAPH):
        ours, theirs = costs[k], reference["costs"][k]
        assert ours["m1"].shape == theirs["m1"].shape == ours["distance"].shape
        assert ours["m1"].dtype == np.float32 and ours["distance"].dtype == np.float32
        best_agrees += np.array_equal(ours["m1"].argmax(axis=0), theirs["m1"].argmax(axis=0))
        np.testing.assert_allclose(ours["distance"], theirs["distance"], atol=1.5)
        # same cells -> same distance (ours rounded to 3 decimals)
        cells = [
            np.trunc((frame["coordinates"][0][p] - STRIDE / 2) / STRIDE)[:, ::-1] for p in (s, t)
        ]
        peaks = per_part(md.find_peaks(scmaps, 5, 0.01, 0))
        same = (cells[0] == peaks[s]).all(1)[:, None] & (cells[1] == peaks[t]).all(1)[None, :]
        np.testing.assert_allclose(
            ours["distance"][same], theirs["distance"][same], rtol=0, atol=5e-4
        )
    assert best_agrees == 60


def test_vectorised_costs_equal_the_formula_pair_by_pair(outputs):
    scmaps, locref, pafs = outputs
    peaks = md.find_peaks(scmaps, 5, 0.01, sigma=1)
    params = md.DetectionParams(graph=GRAPH, decimals=None)
    frame = md.detect_frame(scmaps, locref, pafs, params=params)
    expected = loop_costs(per_part(peaks), pafs[0], GRAPH)
    for k in range(66):
        np.testing.assert_allclose(frame["costs"][k]["m1"], expected[k]["m1"], atol=1e-6)
        np.testing.assert_allclose(frame["costs"][k]["distance"], expected[k]["distance"])
    rounded = md.detect_frame(scmaps, locref, pafs, params=md.DetectionParams(graph=GRAPH))
    for k in range(66):
        np.testing.assert_allclose(
            rounded["costs"][k]["m1"], np.round(frame["costs"][k]["m1"], 3), atol=1e-7
        )
    # paf_best: the chosen limbs only, the same values
    subset = md.DetectionParams(graph=GRAPH, paf_inds=(5, 0, 65))
    chosen = md.detect_frame(scmaps, locref, pafs, params=subset)["costs"]
    assert list(chosen) == [5, 0, 65]
    for k in chosen:
        np.testing.assert_array_equal(chosen[k]["m1"], rounded["costs"][k]["m1"])


def test_a_batch_decodes_as_its_frames(outputs):
    scmaps, locref, pafs = outputs
    batch = [np.concatenate([a, a[:, ::-1], np.zeros_like(a)]) for a in (scmaps, locref, pafs)]
    params = md.DetectionParams(graph=GRAPH)
    frames = md.detect_batch(*batch, params=params)
    assert len(frames) == 3
    for i, frame in enumerate(frames):
        alone = md.detect_frame(*(a[i] for a in batch), params=params)
        for j in range(12):
            np.testing.assert_array_equal(frame["coordinates"][0][j], alone["coordinates"][0][j])
            np.testing.assert_array_equal(frame["confidence"][j], alone["confidence"][j])
        for k in range(66):
            np.testing.assert_array_equal(frame["costs"][k]["m1"], alone["costs"][k]["m1"])
    # the flipped image: the same peaks upside down (rows h-1-r), the same confidences
    flipped = frames[1]
    assert [len(c) for c in flipped["confidence"]] == [len(c) for c in frames[0]["confidence"]]
    # the empty frame: every part without peaks, every limb (0, 0)
    empty = frames[2]
    assert all(c.shape == (0, 2) for c in empty["coordinates"][0])
    assert all(c.shape == (0, 1) for c in empty["confidence"])
    assert all(v["m1"].shape == (0, 0) for v in empty["costs"].values())
    # a part without peaks (leftear, 1): its limbs have no rows / no columns
    no_ear = scmaps.copy()
    no_ear[..., 1] = 0
    costs = md.detect_frame(no_ear, locref, pafs, params=params)["costs"]
    assert costs[0]["m1"].shape == (4, 0)  # snout (4 peaks) -> leftear
    assert costs[11]["distance"].shape == (0, 3)  # leftear -> rightear (3 peaks)


def test_identity_logits_and_locref_options(outputs):
    scmaps, locref, pafs = outputs
    rng = np.random.default_rng(0)
    ids = rng.uniform(size=(1, 60, 80, 3)).astype(np.float32)
    params = md.DetectionParams(graph=GRAPH)
    frame = md.detect_frame(scmaps, locref, pafs, identity=ids, params=params)
    peaks = md.find_peaks(scmaps)
    for rc, vec in zip(per_part(peaks), frame["identity"], strict=True):
        assert vec.shape == (len(rc), 3)
        np.testing.assert_allclose(vec, np.round(ids[0, rc[:, 0], rc[:, 1]], 3), atol=1e-7)
    # no locref: the cell centres; with it, the offset x locref_stdev
    bare = md.detect_frame(scmaps, None, params=md.DetectionParams())
    for j, rc in enumerate(per_part(peaks)):
        np.testing.assert_array_equal(bare["coordinates"][0][j], STRIDE * rc[:, ::-1] + 4)
        offset = frame["coordinates"][0][j] - bare["coordinates"][0][j]
        expected = locref[0, rc[:, 0], rc[:, 1]].reshape(-1, 12, 2)[:, j] * LOCREF_STDEV
        np.testing.assert_allclose(offset, expected, atol=6e-4)
    # logits: the sigmoid is applied to the score and identity maps
    logits = rng.normal(0, 3, size=(2, 30, 40, 12)).astype(np.float32)
    id_logits = rng.normal(size=(2, 30, 40, 3)).astype(np.float32)
    lr = rng.normal(size=(2, 30, 40, 24)).astype(np.float32)
    a = md.detect_batch(logits, lr, identity=id_logits, logits=True)
    b = md.detect_batch(md.sigmoid(logits), lr, identity=md.sigmoid(id_logits))
    for fa, fb in zip(a, b, strict=True):
        for key in ("confidence", "identity"):
            for x, y in zip(fa[key], fb[key], strict=True):
                np.testing.assert_array_equal(x, y)
    assert sum(len(c) for c in a[0]["confidence"]) > 12  # several peaks per part


def test_params_from_pose_cfg_and_bad_input(outputs):
    cfg = yaml.safe_load((MA_FIXTURE / "trimouse_pose_cfg.yaml").read_text())
    params = md.DetectionParams.from_pose_cfg(cfg)
    assert params.graph == tuple(GRAPH) and params.limbs == tuple(range(66))
    assert (params.stride, params.nmsradius, params.minconfidence, params.sigma) == (8, 5, 0.01, 1)
    assert params.locref_stdev == LOCREF_STDEV
    best = md.DetectionParams.from_pose_cfg({**cfg, "paf_best": [3, 1], "nmsradius": 4})
    assert best.limbs == (3, 1) and best.nmsradius == 4
    scmaps, locref, pafs = outputs
    with pytest.raises(ValueError, match="PAF maps have 130 channels"):
        md.detect_frame(scmaps, locref, pafs[..., :130], params=params)
    with pytest.raises(ValueError, match="locref maps"):
        md.detect_frame(scmaps, locref[..., :20], pafs, params=params)
    with pytest.raises(ValueError, match="outside the graph"):
        md.DetectionParams(graph=GRAPH, paf_inds=(66,))
    with pytest.raises(ValueError, match="one frame"):
        md.detect_frame(np.repeat(scmaps, 2, 0), None)
