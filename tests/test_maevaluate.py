"""Multi-animal evaluation metrics against DLC's reference data and hand-made cases.

The reference (``shared/fixtures/dlc-unittest-multianimal/montblanc_*``): DLC's
evaluation predictions and ground truth of 30 images (3 birds, 4 multi-animal parts +
``center``), the train/test split, and DLC's graph-selection table. What is compared:

- the limb separabilities and the candidate graphs: exactly;
- per graph size (3..6 limbs): purity mean and std, mAR train/test, mAP test, and all of
  the 6-limb graph except miss: to 1e-12; mAP train of the 3- and 5-limb graphs to 1e-4;
- miss: to 0.005. The reference table's miss (and the 1e-5 mAP differences) come from an
  older DLC than 2.3.11: DLC 2.3.11's own benchmark run on this fixture gives the
  numbers dlcflow gives (its test checks only purity and the 6-limb mAP/mAR, as here).
"""

from __future__ import annotations

import functools
import math
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dlcflow.post.evaluate import RESULT_COLUMNS
from dlcflow.post.maevaluate import (
    EvalData,
    evaluate_multianimal_predictions,
    from_dlc_evaluation,
    keypoint_distances,
    write_multianimal_evaluation,
)
from dlcflow.post.oks import (
    evaluate_assemblies,
    match_assemblies,
    nearest_distinct,
    object_keypoint_similarity,
)
from dlcflow.post.skeleton_select import candidate_graphs, miss_purity
from dlcflow.tracking.assembly import assemble, assemble_scored, unique_parts
from dlcflow.tracking.calibration import calibrate

MA = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dlc-unittest-multianimal"
BEST_GRAPH_MONTBLANC = [1, 0, 2, 5, 4, 3]  # DLC's tests: the graph grown from the tree


def _load(name: str):
    with open(MA / name, "rb") as fh:
        return pickle.load(fh)


@pytest.fixture(scope="module")
def montblanc() -> tuple[EvalData, dict, tuple]:
    data = from_dlc_evaluation(_load("montblanc_eval.pickle"), "montblanc_eval.pickle")
    return data, _load("montblanc_meta.pickle")["data"], _load("montblanc_map.pickle")


@pytest.fixture(scope="module")
def montblanc_eval(montblanc):
    data, meta, _ = montblanc
    return evaluate_multianimal_predictions(
        data,
        meta["trainIndices"],
        meta["testIndices"],
        iterations=30000,
        fraction=meta["trainFraction"],
        shuffle=1,
        pcutoff=0.6,
        topktoretain=8,  # DLC's test's inference_cfg: topktoretain 8, pcutoff/pafthreshold 0.1
    )


# -- DLC's reference data --------------------------------------------------------------------
def test_reads_dlc_evaluation_data(montblanc):
    data, meta, _ = montblanc
    assert data.truth.shape == (30, 8, 4, 2)  # bird1..bird8 (birds 4..8 mostly unlabeled)
    assert data.multi_parts == ["head", "tail", "leftwing", "rightwing"]
    assert data.unique_parts == ["center"]
    assert data.graph == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert data.truth[0, 0, 0].tolist() == pytest.approx([921.58284469, 340.64266812])
    assert sorted(data.positions(meta["testIndices"])) == [13, 25]
    with pytest.raises(ValueError, match="x.pickle: not DLC evaluation data"):
        from_dlc_evaluation({"img": {}}, "x.pickle")
    meta = {"all_joints_names": ["a"], "PAFgraph": []}
    with pytest.raises(ValueError, match="x.pickle: image 'img' has no prediction"):
        from_dlc_evaluation({"img": {"index": 0}, "metadata": meta}, "x.pickle")


def test_separability_and_candidate_graphs_match_dlc(montblanc):
    data, meta, ref = montblanc
    train = data.positions(meta["trainIndices"])
    graphs, scores = candidate_graphs(data.frames, data.truth, data.graph, train, n_graphs=10)
    assert [len(g) for g in graphs] == [3, 4, 5, 6]
    assert graphs[-1] == BEST_GRAPH_MONTBLANC
    assert sorted(scores) == sorted(int(k) for k in ref[1])
    for k, v in ref[1].items():
        assert scores[int(k)] == pytest.approx(float(v), rel=1e-12)


def test_graph_table_matches_dlc(montblanc, montblanc_eval):
    _, _, ref = montblanc
    table, expected = montblanc_eval.table, pd.DataFrame(ref[0])
    assert list(table.columns) == [3, 4, 5, 6]
    for size in (3, 4, 5, 6):
        got, want = table[size], expected[size]
        for key in [("purity", "mean"), ("purity", "std"), ("mAR_train", "mean")]:
            assert got[key] == pytest.approx(want[key], abs=1e-12), (size, key)
        for key in [("mAP_test", "mean"), ("mAR_test", "mean")]:
            assert got[key] == pytest.approx(want[key], abs=1e-12), (size, key)
        assert got[("mAP_train", "mean")] == pytest.approx(want[("mAP_train", "mean")], abs=1e-4)
        assert got[("miss", "mean")] == pytest.approx(want[("miss", "mean")], abs=0.005)
    for key in [("mAP_train", "mean"), ("mAP_test", "mean")]:
        assert table[6][key] == pytest.approx(expected[6][key], abs=1e-12)
    assert table[4][("mAP_train", "mean")] == pytest.approx(expected[4][("mAP_train", "mean")])
    assert montblanc_eval.paf_best == BEST_GRAPH_MONTBLANC
    assert montblanc_eval.train.mAP == pytest.approx(expected[6][("mAP_train", "mean")], abs=1e-12)
    assert montblanc_eval.test.mAR == pytest.approx(expected[6][("mAR_test", "mean")], abs=1e-12)
    # matched assembled keypoints of a good model sit a few pixels from the labels
    assert 0 < montblanc_eval.train.rmse < 5


def test_keypoint_errors_before_assembly(montblanc, montblanc_eval):
    data, meta, _ = montblanc
    dist, conf = montblanc_eval.dist, montblanc_eval.conf
    assert dist.shape == (30, 8 * 4 + 1)
    checked = 0
    for n, frame in enumerate(data.frames):
        for j in range(4):
            det = frame["coordinates"][0][j]
            gt = data.truth[n, :, j]
            d = np.linalg.norm(gt[:, None] - det[None], axis=2)  # (animals, detections)
            for a in np.flatnonzero(~np.isnan(gt).any(axis=1)):
                value = dist[n, a * 4 + j]
                assert np.isnan(value) or value >= d[a].min() - 1e-9
                nearest = d[a].argmin()
                if np.nanargmin(d[:, nearest]) == a:  # mutual nearest: that distance exactly
                    assert value == pytest.approx(d[a, nearest])
                    assert conf[n, a * 4 + j] == frame["confidence"][j][nearest, 0]
                    checked += 1
    assert checked > 300
    train, test = data.positions(meta["trainIndices"]), data.positions(meta["testIndices"])
    row = montblanc_eval.results
    assert row[:3] == [30000, 95, 1] and row[5] == 0.6
    assert row[3] == round(float(np.nanmean(dist[train])), 2)
    assert row[4] == round(float(np.nanmean(dist[test])), 2)
    cut = np.where(conf >= 0.6, dist, np.nan)
    assert row[6] == round(float(np.nanmean(cut[train])), 2)
    assert row[7] == round(float(np.nanmean(cut[test])), 2)
    table = montblanc_eval.keypoint_table
    assert list(table.columns) == ["head", "tail", "leftwing", "rightwing", "center"]
    heads = dist[train][:, [a * 4 for a in range(8)]]
    assert table.loc["Train error (px)", "head"] == pytest.approx(np.nanmean(heads))
    assert table.loc["Train error (px)", "center"] == pytest.approx(np.nanmean(dist[train, 32]))


def test_a_plain_assembler_can_replace_the_default(montblanc, montblanc_eval):
    """``assemble``'s interface (animals only): ranked by mean keypoint confidence."""
    data, meta, ref = montblanc
    ev = evaluate_multianimal_predictions(
        data,
        meta["trainIndices"],
        meta["testIndices"],
        topktoretain=8,
        assembler=functools.partial(assemble, add_discarded=True),
    )
    expected = pd.DataFrame(ref[0])
    # the same animals: purity, recall and RMSE as before; only the ranking (precision) differs
    assert ev.table[6][("purity", "mean")] == pytest.approx(expected[6][("purity", "mean")])
    assert ev.train.mAR == pytest.approx(expected[6][("mAR_train", "mean")])
    assert ev.train.rmse == pytest.approx(montblanc_eval.train.rmse)
    assert 0 < ev.train.mAP <= ev.train.mAR + 0.01


def test_calibrated_evaluation_learns_from_the_training_images(montblanc, montblanc_eval):
    """``calibrate``: assembly calibrated on the training images' ground truth only (DLC
    calibrates on every labeled image), the same as that calibrated assembler given."""
    data, meta, _ = montblanc
    train = data.positions(meta["trainIndices"])
    shape = calibrate(data.truth[train].reshape(-1, len(data.multi_parts), 2))
    assert shape is not None and not montblanc_eval.calibrated
    kw = {"topktoretain": 8, "pcutoff": 0.6}
    ev = evaluate_multianimal_predictions(
        data, meta["trainIndices"], meta["testIndices"], calibrate=True, **kw
    )
    given = evaluate_multianimal_predictions(
        data,
        meta["trainIndices"],
        meta["testIndices"],
        assembler=functools.partial(assemble_scored, add_discarded=True, calibration=shape),
        **kw,
    )
    assert ev.calibrated and not given.calibrated  # a given assembler is used as it is
    assert ev.table.equals(given.table) and ev.test.mAP == given.test.mAP
    # the birds' shape varies: the calibration changes little of a good model's animals
    assert ev.train.mAR == pytest.approx(montblanc_eval.train.mAR)
    assert abs(ev.train.mAP - montblanc_eval.train.mAP) < 0.01


def test_writes_dlc_files(tmp_path, montblanc_eval):
    paths = write_multianimal_evaluation(
        montblanc_eval, tmp_path, "DLC_resnet50_MontBlancDec16shuffle1_30000", "snapshot-30000"
    )
    results = pd.read_csv(paths["results"], index_col=0)
    assert list(results.columns) == RESULT_COLUMNS
    assert results.iloc[0].tolist() == pytest.approx(montblanc_eval.results)
    write_multianimal_evaluation(  # the same snapshot again replaces its row
        montblanc_eval, tmp_path, "DLC_resnet50_MontBlancDec16shuffle1_30000", "snapshot-30000"
    )
    assert len(pd.read_csv(paths["results"], index_col=0)) == 1
    dist = pd.read_csv(paths["dist"], header=[0, 1, 2, 3], index_col=0)
    assert dist.shape == (30, 66)
    assert dist.columns.names == ["scorer", "individuals", "bodyparts", "metrics"]
    with open(paths["map"], "rb") as fh:
        table, scores = pickle.load(fh)
    pd.testing.assert_frame_equal(table, montblanc_eval.table)
    assert scores == montblanc_eval.paf_scores
    assert paths["dist"].name == "dist_30000.csv"


def test_assembler_reproduces_dlc_assemblies():
    """DLC's assemblies of the 180 montblanc video frames (its test's settings: 3 animals,
    pcutoff and min_affinity 0.1, the metadata's PAFinds): the same animals, in the same
    order, in every frame, and the same unique parts (tests/test_assembly.py checks the
    whole-video function and the file)."""
    full = _load("montblanc_full.pickle")
    reference = _load("montblanc_assemblies.pickle")
    single = reference.pop("single")
    meta = full.pop("metadata")
    frames = list(full.values())
    assert len(frames) == 180
    found, found_unique, same_order = set(), set(), 0
    for n, frame in enumerate(frames):
        animals = assemble(frame, meta["PAFgraph"], list(meta["PAFinds"]), 4, 1, 3)
        unique = unique_parts(frame, 4, 1)
        if len(animals):
            found.add(n)
            want = np.asarray(reference[n])[..., :3]

            def rows(a: np.ndarray) -> list:
                return sorted(map(tuple, np.nan_to_num(a.reshape(len(a), -1), nan=-1)))

            assert rows(animals[..., :3]) == rows(want), n
            same_order += np.array_equal(animals[..., :3], want, equal_nan=True)
        if not np.isnan(unique).all():
            found_unique.add(n)
            np.testing.assert_array_equal(unique, single[n])
    assert found == set(reference) and found_unique == set(single)
    assert same_order == len(reference)


# -- hand-made cases -------------------------------------------------------------------------
GRAPH = [(0, 1), (0, 2), (1, 2)]
#: two animals of three parts; animal 0's box is 10 x 20 px
ANIMALS = np.array(
    [
        [[0.0, 0.0], [10.0, 0.0], [10.0, 20.0]],
        [[100.0, 100.0], [130.0, 100.0], [130.0, 140.0]],
    ]
)


def _frame(points: np.ndarray, within: float = 0.9, between: float = 0.05, unique=None) -> dict:
    """A _full.pickle frame whose detections are ``points`` (animals, parts, 2), with PAF
    affinity ``within`` between parts of one animal and ``between`` across animals."""
    n_animals, n_parts, _ = points.shape
    coords = [points[:, j].copy() for j in range(n_parts)]
    conf = [np.full((n_animals, 1), 0.9) for _ in range(n_parts)]
    if unique is not None:
        coords.append(np.asarray(unique, dtype=float))
        conf.append(np.array([[0.3], [0.95]]))
    costs = {}
    for k, (s, t) in enumerate(GRAPH):
        same = np.eye(n_animals, dtype=bool)
        length = np.linalg.norm(points[:, s][:, None] - points[:, t][None], axis=2)
        costs[k] = {"m1": np.where(same, within, between), "distance": length / 8}
    return {"coordinates": (coords,), "confidence": conf, "costs": costs}


def test_oks_by_hand():
    shifted = ANIMALS[0] + [1.0, 1.0]
    expected = math.exp(-2 / (2 * 200 * (2 * 0.1) ** 2))  # d² = 2, s² = 10·20
    assert object_keypoint_similarity(shifted, ANIMALS[0]) == pytest.approx(expected)
    assert object_keypoint_similarity(ANIMALS[0], ANIMALS[0]) == 1.0
    missing = shifted.copy()
    missing[2] = np.nan  # a missing prediction counts 0
    assert object_keypoint_similarity(missing, ANIMALS[0]) == pytest.approx(2 * expected / 3)
    one_point = np.full((3, 2), np.nan)
    one_point[0] = 0
    assert math.isnan(object_keypoint_similarity(ANIMALS[0], one_point))


def test_perfect_prediction_scores_one():
    frame = _frame(ANIMALS)
    animals, scores = assemble_scored(frame, GRAPH, [0, 1, 2], 3, 0, 2)
    assert animals.shape == (2, 3, 4)
    assert (animals[..., 3] == -1).all() and scores == pytest.approx([0.9, 0.9])
    order = np.argsort(animals[:, 0, 0])
    np.testing.assert_array_equal(animals[order, :, :2], ANIMALS)
    m = evaluate_assemblies({0: list(animals)}, {0: list(ANIMALS)}, {0: scores})
    assert (m.mAP, m.mAR, m.rmse, m.n_matched) == (1.0, 1.0, 0.0, 2)
    assert miss_purity(animals, ANIMALS) == (0.0, 1.0)


def test_shifted_prediction_gives_hand_oks():
    pred = ANIMALS + [1.0, 1.0]
    oks0 = math.exp(-2 / (2 * 200 * 0.04))  # ≈ 0.8825: passes thresholds 0.50 … 0.85
    oks1 = math.exp(-2 / (2 * 1200 * 0.04))  # box 30 x 40
    matched, unmatched = match_assemblies(list(pred), list(ANIMALS))
    assert sorted(matched) == [(0, 0, pytest.approx(oks0)), (1, 1, pytest.approx(oks1))]
    assert unmatched == []
    m = evaluate_assemblies({0: [pred[0]]}, {0: [ANIMALS[0]]})
    assert m.mAP == pytest.approx(0.8) and m.mAR == pytest.approx(0.8)
    assert m.rmse == pytest.approx(math.sqrt(2))


def test_missing_and_swapped_animals_lower_recall():
    # one of two animals found: recall 1/2 at every threshold, precision 1 up to it
    m = evaluate_assemblies({0: [ANIMALS[0]]}, {0: list(ANIMALS)})
    assert m.mAR == pytest.approx(0.5)
    assert m.mAP == pytest.approx(51 / 101)
    # swapped: each assembly holds the other animal's part 2, OKS (1 + 1 + e^-huge) / 3,
    # which passes the thresholds 0.50 … 0.65 only (4 of 10)
    swapped = ANIMALS.copy()
    swapped[0, 2], swapped[1, 2] = ANIMALS[1, 2], ANIMALS[0, 2]
    assert object_keypoint_similarity(swapped[0], ANIMALS[0]) == pytest.approx(2 / 3)
    m = evaluate_assemblies({0: list(swapped)}, {0: list(ANIMALS)})
    assert m.mAR == pytest.approx(0.4) and m.mAP == pytest.approx(0.4)
    # costs that favour the cross links make the assembler swap too: purity drops
    frame = _frame(ANIMALS)
    for k in (1, 2):  # limbs to part 2: across animals
        frame["costs"][k]["m1"] = np.array([[0.05, 0.9], [0.9, 0.05]])
    animals = assemble(frame, GRAPH, [0, 1, 2], 3, 0, 2)
    miss, purity = miss_purity(animals, ANIMALS)
    assert miss == 0.0 and purity == pytest.approx(4 / 6)
    np.testing.assert_array_equal(np.sort(animals[:, 2, 0]), [10.0, 130.0])
    m = evaluate_assemblies({0: list(animals)}, {0: list(ANIMALS)})
    assert m.mAR == pytest.approx(0.4)


def test_assembler_thresholds_and_unique_parts():
    frame = _frame(ANIMALS, within=0.08, unique=[[5.0, 5.0], [50.0, 60.0]])
    assert assemble(frame, GRAPH, [0, 1, 2], 3, 1, 2).shape == (0, 3, 4)  # below 0.1
    assert len(assemble(frame, GRAPH, [0, 1, 2], 3, 1, 2, min_affinity=0.05)) == 2
    np.testing.assert_array_equal(unique_parts(frame, 3, 1), [[50.0, 60.0, 0.95]])
    assert np.isnan(unique_parts(frame, 3, 1, pcutoff=0.96)).all()
    # a graph of one limb: one-link animals are dropped (DLC's min_n_links 2) …
    assert len(assemble(_frame(ANIMALS), GRAPH, [0], 3, 0, 2)) == 0
    # … unless the left-over detections are added to the nearest animal
    two = assemble(_frame(ANIMALS), GRAPH, [0, 1], 3, 0, 2, min_n_links=1)
    assert (~np.isnan(two[..., 0])).sum() == 6
    # detections under pcutoff are not linked
    low = _frame(ANIMALS)
    low["confidence"] = [c * 0 + 0.05 for c in low["confidence"]]
    assert len(assemble(low, GRAPH, [0, 1, 2], 3, 0, 2)) == 0


def test_nearest_distinct_detections():
    gt = np.array([[0.0, 0.0], [1.0, 0.0], [50.0, 50.0]])
    det = np.array([[0.5, 0.0], [3.0, 0.0]])
    # closest first (a tie keeps the given order): (0, 0) takes (0.5, 0), (1, 0) its next
    # nearest (3, 0), and (50, 50) finds both taken
    assert nearest_distinct(gt, det).tolist() == [0, 1, -1]
    # looking at the single nearest only, (1, 0) stays unmatched and (50, 50) gets (3, 0)
    assert nearest_distinct(gt, det, k=1).tolist() == [0, -1, 1]
    assert nearest_distinct(gt, det[:0]).tolist() == [-1, -1, -1]


def test_keypoint_distances_hand(montblanc):
    template, _, _ = montblanc
    frame = _frame(ANIMALS + [3.0, 4.0])
    data = EvalData(
        frames=[frame],
        truth=ANIMALS[None],
        truth_unique=np.zeros((1, 0, 2)),
        rows=np.array([0]),
        names=["img0.png"],
        individuals=["a", "b"],
        multi_parts=["p0", "p1", "p2"],
        unique_parts=[],
        graph=GRAPH,
    )
    dist, conf = keypoint_distances(data)
    np.testing.assert_allclose(dist, np.full((1, 6), 5.0))
    np.testing.assert_allclose(conf, np.full((1, 6), 0.9))
    assert template.scorer == "Daniel"
