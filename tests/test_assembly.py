"""Assembly of animals (``dlcflow.tracking.assembly``) against DLC's reference and on small
synthetic frames whose right answer is known.

The reference (``shared/fixtures/dlc-unittest-multianimal``): DLC 2.3's
``montblanc_full.pickle`` (180 frames, 3 birds, multi-animal parts head, tail, leftwing,
rightwing, unique part center) and the ``montblanc_assemblies.pickle`` DLC assembled from
it with its default settings. What is compared: the frames present, the number and order
of animals per frame, and every value (x, y, confidence, identity) exactly (tolerance 0;
NaN where DLC has NaN); the unique parts likewise.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from dlcflow.io.fullpickle import FullPickle, read_full_pickle
from dlcflow.post.maevaluate import from_dlc_evaluation
from dlcflow.project import posecfg
from dlcflow.tracking.animal import Animal, Joint, Link
from dlcflow.tracking.assembler import _fuse_calibrated, best_links
from dlcflow.tracking.assembly import (
    AssemblyError,
    AssemblyParams,
    assemble_frame,
    assemble_video,
    check_joints,
)
from dlcflow.tracking.calibration import LABEL_NOISE_PX, calibrate, pair_index

MA = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dlc-unittest-multianimal"
MULTI = ["head", "tail", "leftwing", "rightwing"]
BIRDS = ["bird1", "bird2", "bird3"]


@pytest.fixture(scope="module")
def montblanc():
    full = read_full_pickle(MA / "montblanc_full.pickle")
    with open(MA / "montblanc_assemblies.pickle", "rb") as fh:
        reference = pickle.load(fh)
    params = AssemblyParams.from_inference_cfg(posecfg.inference_cfg(MULTI, BIRDS, False))
    return full, reference, assemble_video(full, 4, 1, params)


def test_dlc_defaults_from_the_inference_cfg(montblanc):
    cfg = posecfg.inference_cfg(MULTI, BIRDS, False)
    params = AssemblyParams.from_inference_cfg(cfg)
    assert (params.max_n_individuals, params.pcutoff, params.min_affinity) == (3, 0.1, 0.1)
    assert (params.min_n_links, params.max_overlap, params.window_size) == (2, 0.8, 0)
    assert not (params.greedy or params.identity_only or params.add_discarded)
    # DLC reads pafthreshold with 0.05 when absent; arguments override the file
    assert AssemblyParams.from_inference_cfg({"topktoretain": 2}).min_affinity == 0.05
    custom = AssemblyParams.from_inference_cfg(cfg, greedy=True, window_size=None)
    assert custom.greedy and custom.window_size == 0
    with pytest.raises(AssemblyError, match="unknown assembly settings: calibrat"):
        AssemblyParams.from_inference_cfg(cfg, calibrat=True)
    with pytest.raises(AssemblyError, match="topktoretain"):
        AssemblyParams.from_inference_cfg({"pcutoff": 0.1})
    with pytest.raises(AssemblyError, match="pcutoff must lie in"):
        AssemblyParams(2, pcutoff=1.5)
    with pytest.raises(AssemblyError, match="max_n_individuals"):
        AssemblyParams(0)


def test_montblanc_gives_dlcs_assemblies(montblanc):
    full, reference, found = montblanc
    want = {k: v for k, v in reference.items() if k != "single"}
    got = {k: v for k, v in found.items() if k != "single"}
    assert len(want) == 180 and set(got) == set(want)  # every frame has animals
    assert sum(len(v) for v in got.values()) == sum(len(v) for v in want.values()) == 535
    for index, animals in want.items():
        assert isinstance(got[index], list) and len(got[index]) == len(animals), index
        for mine, theirs in zip(got[index], animals, strict=True):
            assert mine.dtype == np.float64 and mine.shape == (4, 4)
            np.testing.assert_array_equal(mine, theirs)  # same order, exact values
    assert set(found["single"]) == set(reference["single"]) and len(found["single"]) == 78
    for index, unique in reference["single"].items():
        assert found["single"][index].shape == (1, 3)
        np.testing.assert_array_equal(found["single"][index], unique)


def test_montblanc_progress_and_greedy(montblanc):
    full, _, plain = montblanc
    calls = []
    params = AssemblyParams(3, min_affinity=0.1, greedy=True)
    greedy = assemble_video(full, 4, 1, params, progress=lambda d, n: calls.append((d, n)))
    assert calls[0] == (1, 180) and calls[-1] == (180, 180) and len(calls) == 180
    # greedy linking keeps the structure: at most 3 animals of distinct detections per frame
    for index, animals in greedy.items():
        if index == "single":
            continue
        assert 1 <= len(animals) <= 3
        xy = np.concatenate([a[:, :2] for a in animals])
        xy = xy[~np.isnan(xy).any(axis=1)]
        assert len(np.unique(xy, axis=0)) == len(xy)
    assert greedy["single"].keys() == plain["single"].keys()


def test_check_joints_names_the_file_and_both_lists(montblanc):
    full = montblanc[0]
    check_joints(full, MULTI, ["center"], "v_full.pickle")
    with pytest.raises(AssemblyError) as err:
        check_joints(full, ["head", "tail"], ["center"], "/data/v_full.pickle")
    message = str(err.value)
    assert "\n" not in message and message.startswith("/data/v_full.pickle: ")
    assert "'leftwing'" in message and "['head', 'tail', 'center']" in message


# -- synthetic frames -----------------------------------------------------------------------
#: two animals of three parts, 200 px apart; sides of 20 px
TRIANGLE = np.array([[100.0, 100.0], [120.0, 100.0], [110.0, 117.32]])
TWO = np.stack([TRIANGLE, TRIANGLE + [200.0, 0.0]])
CLIQUE = [(0, 1), (0, 2), (1, 2)]


def _frame(points, affinities, graph, identity=None) -> dict:
    """A ``_full.pickle`` frame of detections ``points`` (animals, parts, 2), confidence
    0.9, and the given affinity matrix per limb (rows: the animals' source detections)."""
    n_parts = points.shape[1]
    frame = {
        "coordinates": ([points[:, j].copy() for j in range(n_parts)],),
        "confidence": [np.full((len(points), 1), 0.9, np.float32) for _ in range(n_parts)],
        "costs": {},
    }
    for k, (s, t) in enumerate(graph):
        length = np.linalg.norm(points[:, s][:, None] - points[:, t][None], axis=2) / 8
        frame["costs"][k] = {"m1": np.asarray(affinities[k], np.float32), "distance": length}
    if identity is not None:
        frame["identity"] = [np.asarray(identity, float) for _ in range(n_parts)]
    return frame


def _animals(result) -> list[set[tuple[float, float]]]:
    """Each animal as the set of its points, to compare with the truth in any order."""
    return [{tuple(p) for p in a.xy[~np.isnan(a.xy).any(axis=1)].tolist()} for a in result.animals]


TRUTH = [{tuple(p) for p in animal.tolist()} for animal in TWO]
RIGHT, CROSS = [[0.9, 0.05], [0.05, 0.9]], [[0.3, 0.95], [0.95, 0.3]]


def _poses(shape: np.ndarray, n: int = 60, noise: float = 1.5) -> np.ndarray:
    rng = np.random.default_rng(0)
    return shape + rng.normal(0, noise, (n, *shape.shape)) + rng.uniform(0, 500, (n, 1, 2))


def test_calibration_drops_a_link_of_implausible_length():
    """Limb (1, 2)'s affinities favour the links across the two animals: plain assembly
    builds two wrong animals; calibrated, those 190 px links are improbable for a 20 px
    limb and dropped, and the right animals are the complete components left."""
    frame = _frame(TWO, [RIGHT, RIGHT, CROSS], CLIQUE)
    params = AssemblyParams(2, min_affinity=0.1)
    plain = assemble_frame(frame, 3, 0, params, graph=CLIQUE, paf_inds=[0, 1, 2])
    assert len(plain.animals) == 2 and all(a not in TRUTH for a in _animals(plain))
    calibration = calibrate(_poses(TRIANGLE))
    calibrated = assemble_frame(
        frame, 3, 0, params, graph=CLIQUE, paf_inds=[0, 1, 2], calibration=calibration
    )
    assert sorted(_animals(calibrated), key=min) == TRUTH
    assert len(calibrated.links) == 4  # the two cross links are gone


def test_calibration_measures():
    calibration = calibrate(_poses(TRIANGLE))
    assert calibration is not None and calibration.d == 3
    for a, b in CLIQUE:  # SciPy's condensed order
        assert pair_index(a, b, 3) == pair_index(b, a, 3) == CLIQUE.index((a, b))
    # a link of the mean length is certain; a 190 px one is not
    assert calibration.link_probability(0, 1, np.sqrt(calibration.mean[0])) == 1.0
    assert calibration.link_probability(1, 2, 190.0) < 1e-9
    right = calibration.mahalanobis(TRIANGLE)
    wrong = calibration.mahalanobis(np.array([TRIANGLE[0], TRIANGLE[1], TRIANGLE[2] + 200]))
    assert right < 5 < wrong
    # a missing part: the pairs present, scaled by d / pairs present
    partial = TRIANGLE.copy()
    partial[2] = np.nan
    diff = np.sum((TRIANGLE[0] - TRIANGLE[1]) ** 2) - calibration.mean[0]
    expected = 3 * np.sqrt(diff**2 * calibration.inv_cov[0, 0])
    assert calibration.mahalanobis(partial) == pytest.approx(expected)
    assert calibration.mahalanobis(np.full((3, 2), np.nan)) == np.inf


def test_calibration_refuses_what_it_cannot_learn():
    with pytest.warns(UserWarning, match="only one body part"):
        assert calibrate(_poses(TRIANGLE[:1])) is None
    sparse = _poses(TRIANGLE)
    sparse[:, 2] = np.nan  # every pose 67 % complete
    with pytest.warns(UserWarning, match="no labeled pose is complete"):
        assert calibrate(sparse) is None
    with pytest.warns(UserWarning, match="2 complete labeled poses, at least 10"):
        assert calibrate(_poses(TRIANGLE, n=2)) is None
    with pytest.raises(ValueError, match="must be"):
        calibrate(np.zeros((4, 3)))


def _rigid_poses(shape: np.ndarray, n: int = 40) -> np.ndarray:
    """``shape`` turned and moved at random, never deformed (the demo's mice)."""
    rng = np.random.default_rng(1)
    angles = rng.uniform(0, 2 * np.pi, n)
    rot = np.stack([[np.cos(angles), -np.sin(angles)], [np.sin(angles), np.cos(angles)]])
    return np.einsum("ijn,pj->npi", rot, shape) + rng.uniform(0, 500, (n, 1, 2))


def test_rigid_animals_are_calibrated_with_a_label_noise_floor():
    """All distances of a rigid animal are constant: their covariance is singular (DLC's
    KDE refuses it). dlcflow's calibration keeps the mean and gives each pair the variance
    that 1 px of labelling noise gives a squared length, 8 σ² ℓ², and then drops the
    implausible cross links."""
    poses = _rigid_poses(TRIANGLE)
    dists = np.vstack([pdist(p, metric="sqeuclidean") for p in poses])
    assert np.linalg.eigvalsh(np.cov(dists.T)).max() < 1e-6
    calibration = calibrate(poses)
    assert calibration is not None
    assert calibration.mean == pytest.approx(pdist(TRIANGLE, metric="sqeuclidean"))
    floor = 8 * LABEL_NOISE_PX**2 * calibration.mean
    assert np.diag(calibration.covariance) == pytest.approx(floor, rel=1e-6)
    assert calibration.mahalanobis(TRIANGLE + 100) < 1e-3
    frame = _frame(TWO, [RIGHT, RIGHT, CROSS], CLIQUE)
    params = AssemblyParams(2, min_affinity=0.1)
    result = assemble_frame(
        frame, 3, 0, params, graph=CLIQUE, paf_inds=[0, 1, 2], calibration=calibration
    )
    assert sorted(_animals(result), key=min) == TRUTH


def _link_animal(*pairs: tuple[Joint, Joint]) -> Animal:
    animal = Animal(4)
    for a, b in pairs:
        animal.add_link(Link(a, b, 0.9))
    return animal


def test_calibrated_fusion_joins_the_halves_of_one_animal():
    square = np.array([[0.0, 0.0], [20.0, 0.0], [20.0, 20.0], [0.0, 20.0]])
    calibration = calibrate(_poses(square, n=100))
    joints = [
        Joint(*xy, 0.9, label, 4 * n + label)
        for n, offset in enumerate([(100.0, 100.0), (300.0, 100.0)])
        for label, xy in enumerate((square + offset).tolist())
    ]
    a0, a1, a2, a3, b0, b1, b2, b3 = joints
    halves = [_link_animal((a0, a1)), _link_animal((b0, b1)), _link_animal((a2, a3))]
    halves.append(_link_animal((b2, b3)))
    _fuse_calibrated(halves, 2, calibration)
    assert sorted(sorted(a.members) for a in halves) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_greedy_linking_takes_the_best_affinity_first():
    joints = [Joint(0.0, 0.0, 0.9, 0, 0), Joint(50.0, 0, 0.9, 0, 1)]
    joints += [Joint(0.0, 10.0, 0.9, 1, 2), Joint(50.0, 10.0, 0.9, 1, 3)]
    bag = {0: joints[:2], 1: joints[2:]}
    costs = {0: {"m1": np.array([[0.9, 0.8], [0.7, 0.1]], np.float32), "distance": np.ones((2, 2))}}
    kw = {"max_n": 2, "pcutoff": 0.1, "min_affinity": 0.05}
    hungarian = best_links(bag, costs, [(0, 1)], [0], **kw)
    greedy = best_links(bag, costs, [(0, 1)], [0], greedy=True, **kw)
    assert sorted(link.idx for link in hungarian) == [(0, 3), (1, 2)]  # best total: 1.5
    assert [link.idx for link in greedy] == [(0, 2), (1, 3)]  # 0.9 first, then what is left


IDENTITY = [[0.9, 0.1], [0.2, 0.8]]  # animal 0's detections: identity 0; animal 1's: 1


def test_identity_only_assembles_by_identity():
    frame = _frame(TWO, [RIGHT, CROSS], [(0, 1), (1, 2)], identity=IDENTITY)
    graph = [(0, 1), (1, 2)]
    by_paf = assemble_frame(frame, 3, 0, AssemblyParams(2), graph=graph, paf_inds=[0, 1])
    assert all(a not in TRUTH for a in _animals(by_paf))
    # the identity column: each detection's arg-max identity, mixed in the wrong animals
    assert {tuple(a.data[:, 3]) for a in by_paf.animals} == {(0, 0, 1), (1, 1, 0)}
    params = AssemblyParams(2, identity_only=True)
    by_id = assemble_frame(frame, 3, 0, params, graph=graph, paf_inds=[0, 1])
    assert _animals(by_id) == TRUTH
    assert [a.data[:, 3].tolist() for a in by_id.animals] == [[0, 0, 0], [1, 1, 1]]


def test_identity_only_without_identity_warns_and_uses_the_pafs():
    graph = [(0, 1), (1, 2)]
    meta = {"PAFgraph": graph, "PAFinds": [0, 1], "all_joints_names": ["a", "b", "c"]}
    full = FullPickle({**meta, "nframes": 1}, {0: _frame(TWO, [RIGHT, RIGHT], graph)})
    with pytest.warns(UserWarning, match="identity_only is ignored"):
        out = assemble_video(full, 3, 0, AssemblyParams(2, identity_only=True))
    assert [a[:, 3].tolist() for a in out[0]] == [[-1, -1, -1]] * 2 and "single" not in out


def test_temporal_window_keeps_last_frames_links():
    """Frame 1's head-tail affinities favour the cross pairs; with ``window_size=1`` the
    links of frame 0 (2 px away) outweigh them."""
    graph = [(0, 1), (1, 2)]
    tie = [[0.5, 0.6], [0.6, 0.5]]
    frames = {0: _frame(TWO, [RIGHT, RIGHT], graph), 1: _frame(TWO + 2.0, [tie, RIGHT], graph)}
    meta = {"PAFgraph": graph, "PAFinds": [0, 1], "all_joints_names": ["a", "b", "c"]}
    full = FullPickle({**meta, "nframes": 2}, frames)
    truth1 = [{(x + 2, y + 2) for x, y in animal} for animal in TRUTH]

    def sets(out, index):
        return sorted(({tuple(p) for p in a[:, :2].tolist()} for a in out[index]), key=min)

    plain = assemble_video(full, 3, 0, AssemblyParams(2))
    windowed = assemble_video(full, 3, 0, AssemblyParams(2, window_size=1))
    assert sets(plain, 0) == sets(windowed, 0) == TRUTH
    assert all(s not in truth1 for s in sets(plain, 1))
    assert sets(windowed, 1) == truth1


def test_overlapping_poses_suppressed_and_left_overs_added():
    graph = [(0, 1), (1, 2)]
    near = np.stack([TRIANGLE, TRIANGLE])  # the same bird detected twice
    frame = _frame(near, [RIGHT, RIGHT], graph)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = assemble_frame(frame, 3, 0, AssemblyParams(2), graph=graph, paf_inds=[0, 1])
        both = assemble_frame(
            frame, 3, 0, AssemblyParams(2, max_overlap=1.0), graph=graph, paf_inds=[0, 1]
        )
    assert len(kept.animals) == 1 and len(both.animals) == 2
    # a part without any link: left out, or given to the nearest animal with add_discarded
    weak = [[0.9, 0.05], [0.05, 0.01]]
    frame = _frame(TWO, [RIGHT, weak], graph)
    one = AssemblyParams(2, min_n_links=1)
    plain = assemble_frame(frame, 3, 0, one, graph=graph, paf_inds=[0, 1])
    params = AssemblyParams(2, min_n_links=1, add_discarded=True)
    added = assemble_frame(frame, 3, 0, params, graph=graph, paf_inds=[0, 1])
    assert sorted(len(a) for a in plain.animals) == [2, 3]
    assert sorted(_animals(added), key=min) == TRUTH


def test_montblanc_calibrated_on_its_labels(montblanc):
    """Calibrated on the 30 labeled montblanc images (DLC has no calibrated reference):
    the KDE is learned, and every frame still gets 1-3 animals of distinct detections."""
    with open(MA / "montblanc_eval.pickle", "rb") as fh:
        truth = from_dlc_evaluation(pickle.load(fh), "montblanc_eval.pickle").truth
    poses = truth.reshape(-1, 4, 2)
    assert calibrate(poses) is not None
    full, _, plain = montblanc
    found = assemble_video(full, 4, 1, AssemblyParams(3, min_affinity=0.1), poses)
    assert set(found) == set(plain)
    for index, animals in found.items():
        if index == "single":
            continue
        assert 1 <= len(animals) <= 3
        xy = np.concatenate([a[:, :2] for a in animals])
        xy = xy[~np.isnan(xy).any(axis=1)]
        assert len(np.unique(xy, axis=0)) == len(xy)
