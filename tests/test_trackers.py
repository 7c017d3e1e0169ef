"""The multi-animal trackers: DLC's montblanc tracklets reproduced from DLC's assemblies,
and synthetic animals with known tracks (crossings, gaps, late arrivals)."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from dlcflow.project import posecfg
from dlcflow.tracking.ellipse import Ellipse, fit_ellipse
from dlcflow.tracking.sort import box_iou, boxes_from_keypoints, directed_hausdorff
from dlcflow.tracking.trackers import (
    TrackingError,
    TrackingParams,
    build_tracklets,
    tracklet_header,
)

MA = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dlc-unittest-multianimal"
MONTBLANC_MULTI = ["head", "tail", "leftwing", "rightwing"]
MONTBLANC_INDIVIDUALS = ["bird1", "bird2", "bird3"]


def _load(name: str) -> dict:
    with (MA / name).open("rb") as f:
        return pickle.load(f)


def _tracklet_ids(tracklets: dict) -> list[int]:
    return [k for k in tracklets if k not in ("single", "header")]


def _labels(tracklets: dict) -> dict[tuple[str, tuple[float, ...]], int]:
    """(frame key, the animal's coordinates) → its tracklet: a detection's label."""
    out = {}
    for tid in _tracklet_ids(tracklets):
        for frame, data in tracklets[tid].items():
            out[(frame, tuple(np.nan_to_num(data[:, :2], nan=-1.0).ravel()))] = int(tid)
    return out


def partition_agreement(ours: dict, ref: dict) -> float:
    """Share of the reference's (frame, detection) pairs that sit in the tracklet of ours
    mapped (one to one, best overlap) to their reference tracklet."""
    a, b = _labels(ours), _labels(ref)
    ids_a, ids_b = sorted(set(a.values())), sorted(set(b.values()))
    overlap = np.zeros((len(ids_a), len(ids_b)))
    for key, label in b.items():
        if key in a:
            overlap[ids_a.index(a[key]), ids_b.index(label)] += 1
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    return float(overlap[rows, cols].sum() / len(b))


# --- DLC's reference ------------------------------------------------------------------


@pytest.fixture(scope="module")
def montblanc() -> tuple[dict, dict, dict]:
    """DLC's assemblies and tracklets, and ours from those assemblies with the settings
    of DLC's default inference_cfg for the project (max_age 1, min_hits 1, iou 0.6)."""
    assemblies, ref = _load("montblanc_assemblies.pickle"), _load("montblanc_tracklets.pickle")
    cfg = posecfg.inference_cfg(MONTBLANC_MULTI, MONTBLANC_INDIVIDUALS, identity=False)
    params = TrackingParams.from_inference_cfg(cfg)
    scorer = ref["header"].get_level_values("scorer")[0]
    header = tracklet_header(scorer, [*MONTBLANC_MULTI, "center"])
    ours = build_tracklets(assemblies, "ellipse", params, header=header)
    return assemblies, ref, ours


def test_dlc_defaults_are_the_reference_settings(montblanc) -> None:
    params = TrackingParams.from_inference_cfg(
        posecfg.inference_cfg(MONTBLANC_MULTI, MONTBLANC_INDIVIDUALS, identity=False)
    )
    # DLC's unit test tracks montblanc with SORTEllipse(max_age=1, min_hits=1, 0.6)
    assert (params.max_age, params.min_hits, params.iou_threshold) == (1, 1, 0.6)
    assert params == TrackingParams(topktoretain=3)


def test_montblanc_ellipse_tracklets_are_dlcs(montblanc) -> None:
    _, ref, ours = montblanc
    # the same detections in the same tracklets: measured, then required to be all
    agreement = partition_agreement(ours, ref)
    assert agreement == 1.0, f"partition agreement {agreement:.4f}"
    # and the very same file content: ids, their order, frame keys, values, header
    assert [str(k) for k in ours] == [str(k) for k in ref]
    for key in ref:
        if key == "header":
            assert ours[key].equals(ref[key])
            assert list(ours[key].names) == ["scorer", "bodyparts", "coords"]
            continue
        assert list(ours[key]) == list(ref[key]), key
        for frame, data in ref[key].items():
            got = ours[key][frame]
            assert got.dtype == data.dtype == np.float64
            assert got.shape == data.shape
            np.testing.assert_array_equal(got, data)


def test_montblanc_structure(montblanc) -> None:
    assemblies, _, ours = montblanc
    ids = _tracklet_ids(ours)
    assert all(type(k) is int for k in ids)
    frames = {f for tid in ids for f in ours[tid]}
    assert frames == {f"frame{i:03d}" for i in range(180)}  # ceil(log10(180)) = 3 digits
    assert all(ours[tid][f].shape == (4, 4) for tid in ids for f in ours[tid])
    single = ours["single"]
    assert list(single) == sorted(assemblies["single"])
    assert all(v.shape == (1, 3) for v in single.values())
    # every assembly (all have >= 3 keypoints, so an ellipse) is in one tracklet but the
    # one that started tracklet 3: as DLC's, a tracklet started after the first min_hits
    # frames is reported from its next match on (its hit streak counts matches only).
    # Bird 0 is lost after frame 130 (absent in 131 and 132: more than max_age), comes
    # back in 133 (a new tracklet, unreported), is absent in 134, matched again in 135.
    assert list(ours[0])[-1] == "frame130"
    assert [len(assemblies[i]) for i in range(131, 136)] == [2, 2, 3, 2, 3]
    assert _unreported(ours, assemblies)[0][0] == 133
    assert len(_unreported(ours, assemblies)) == 1
    assert list(ours[3])[0] == "frame135"


def _unreported(tracklets: dict, assemblies: dict) -> list[tuple[int, int]]:
    """(frame, index) of the assemblies that no tracklet holds; each is held once at most."""
    held: dict[int, list[np.ndarray]] = {}
    for tid in _tracklet_ids(tracklets):
        for frame, data in tracklets[tid].items():
            held.setdefault(int(frame[5:]), []).append(data)
    out = []
    for i, animals in assemblies.items():
        if i == "single":
            continue
        for j, arr in enumerate(animals):
            n = sum(np.array_equal(arr, d, equal_nan=True) for d in held.get(i, []))
            assert n <= 1, (i, j)
            if n == 0:
                out.append((i, j))
    return out


@pytest.mark.parametrize("method", ["box", "skeleton"])
def test_montblanc_box_and_skeleton(montblanc, method: str) -> None:
    # no reference from DLC (its test data has only ellipse tracklets): what is reported
    # is each frame's assemblies, each once, and (skeleton) the predictions of tracklets
    # whose animal is missing
    assemblies, _, _ = montblanc
    for params in (TrackingParams(), TrackingParams(max_age=5, boundingboxslack=20)):
        tracklets = build_tracklets(assemblies, method, params)
        ids = _tracklet_ids(tracklets)
        unreported = _unreported(tracklets, assemblies)
        if method == "skeleton":  # it reports every tracklet in every frame
            assert unreported == []
        for tid in ids:
            for frame, data in tracklets[tid].items():
                assert data.shape == (4, 4)
                if not any(
                    np.array_equal(data, a, equal_nan=True) for a in assemblies[int(frame[5:])]
                ):
                    assert method == "skeleton"
                    assert (data[:, 2] == 1).all() and (data[:, 3] == -1).all()
    # a longer memory and larger boxes bridge the birds' fast turns: fewer tracklets
    few = build_tracklets(assemblies, method, TrackingParams(max_age=5, boundingboxslack=20))
    many = build_tracklets(assemblies, method, TrackingParams())
    assert len(_tracklet_ids(few)) <= len(_tracklet_ids(many))


def test_progress_and_frame_width(montblanc) -> None:
    assemblies, _, _ = montblanc
    calls = []
    out = build_tracklets(
        assemblies, "ellipse", TrackingParams(), progress=lambda d, t: calls.append((d, t))
    )
    assert calls[-1] == (180, 180) and len(calls) == 180
    assert "header" not in out
    wide = build_tracklets(assemblies, "ellipse", TrackingParams(), nframes=1001)
    assert "frame0000" in wide[0] and "frame000" not in wide[0]
    with pytest.raises(TrackingError, match="beyond"):
        build_tracklets(assemblies, "ellipse", TrackingParams(), nframes=100)


# --- synthetic animals ----------------------------------------------------------------

#: An elongated body along x (4 keypoints), and the same body turned by 90 degrees.
BODY_X = np.array([[-20.0, 0.0], [20.0, 0.0], [0.0, 5.0], [0.0, -5.0]])
BODY_Y = BODY_X[:, ::-1].copy()


def _animal(body: np.ndarray, centre: np.ndarray) -> np.ndarray:
    out = np.full((len(body), 4), -1.0)
    out[:, :2] = body + centre
    out[:, 2] = 0.9
    return out


def _scene(tracks: dict[str, list[np.ndarray | None]], seed: int = 0) -> tuple[dict, dict]:
    """Assemblies from per-animal lists of one array per frame (None: absent), shuffled
    within each frame; and the truth: (frame, animal index in the frame) → name."""
    rng = np.random.default_rng(seed)
    n = len(next(iter(tracks.values())))
    assemblies, truth = {}, {}
    for i in range(n):
        present = [(name, arr[i]) for name, arr in tracks.items() if arr[i] is not None]
        order = rng.permutation(len(present))
        assemblies[i] = [present[j][1] for j in order]
        truth[i] = [present[j][0] for j in order]
    return assemblies, truth


def _tracks_by_name(tracklets: dict, assemblies: dict, truth: dict) -> dict[str, set[int]]:
    """Each animal's tracklet ids, from the animals each tracklet holds."""
    found: dict[str, set[int]] = {}
    for tid in _tracklet_ids(tracklets):
        for frame, data in tracklets[tid].items():
            i = int(frame[5:])
            for arr, name in zip(assemblies[i], truth[i], strict=True):
                if np.array_equal(arr, data):
                    found.setdefault(name, set()).add(tid)
    return found


def _crossing(n: int = 41, speed: float = 5.0) -> dict[str, list[np.ndarray | None]]:
    """Animal a moves right along y = 100, b moves down along x = 100; they meet at
    (100, 100) in frame 20."""
    t = np.arange(n) - 20
    a = [_animal(BODY_X, np.array([100 + speed * k, 100.0])) for k in t]
    b = [_animal(BODY_Y, np.array([100.0, 100 + speed * k])) for k in t]
    return {"a": list(a), "b": list(b)}


@pytest.mark.parametrize("method", ["ellipse", "box", "skeleton"])
def test_crossing_animals_keep_their_tracklets(method: str) -> None:
    assemblies, truth = _scene(_crossing())
    tracklets = build_tracklets(assemblies, method, TrackingParams())
    ids = _tracks_by_name(tracklets, assemblies, truth)
    assert len(ids["a"]) == 1 and len(ids["b"]) == 1 and ids["a"] != ids["b"]
    assert len(_tracklet_ids(tracklets)) == 2
    for tid in _tracklet_ids(tracklets):
        assert len(tracklets[tid]) == 41  # every frame, no gap


def test_crossing_is_a_real_test() -> None:
    # at the crossing the two animals share the centre: only the motion (and for the
    # ellipse the orientation) tells them apart; without it a and b would swap or merge
    frame = _crossing()
    a, b = frame["a"][20], frame["b"][20]
    np.testing.assert_allclose(a[:, :2].mean(axis=0), b[:, :2].mean(axis=0))
    ea, eb = fit_ellipse(a[:, :2]), fit_ellipse(b[:, :2])
    assert ea is not None and eb is not None
    assert ea.similarity(eb) == pytest.approx(0.8)


def _with_gap(gap: int, start: int = 10, n: int = 30) -> dict[str, list[np.ndarray | None]]:
    """Animal a moves right along y = 100; b moves right along y = 300 but is missing in
    ``gap`` frames from ``start``."""
    a = [_animal(BODY_X, np.array([50 + 3.0 * k, 100.0])) for k in range(n)]
    b: list[np.ndarray | None] = [
        _animal(BODY_X, np.array([50 + 3.0 * k, 300.0])) for k in range(n)
    ]
    for k in range(start, start + gap):
        b[k] = None
    return {"a": list(a), "b": b}


@pytest.mark.parametrize("method", ["ellipse", "box"])
@pytest.mark.parametrize(("gap", "max_age", "n_b"), [(1, 1, 1), (2, 1, 2), (2, 2, 1), (4, 3, 2)])
def test_max_age(method: str, gap: int, max_age: int, n_b: int) -> None:
    # a tracklet survives at most max_age frames without its animal
    assemblies, truth = _scene(_with_gap(gap))
    tracklets = build_tracklets(assemblies, method, TrackingParams(max_age=max_age))
    ids = _tracks_by_name(tracklets, assemblies, truth)
    assert len(ids["a"]) == 1
    assert len(ids["b"]) == n_b


@pytest.mark.parametrize("method", ["ellipse", "box"])
def test_min_hits(method: str) -> None:
    # b arrives in frame 6 and starts a tracklet, reported once it has been matched
    # min_hits times in a row (frame 9: 6 + 3), as DLC's; a is reported throughout (its
    # first frames fall within the first min_hits frames, when every match is reported)
    tracks = _with_gap(6, start=0, n=20)
    assemblies, truth = _scene(tracks)
    tracklets = build_tracklets(assemblies, method, TrackingParams(min_hits=3))
    ids = _tracks_by_name(tracklets, assemblies, truth)
    (ta,), (tb,) = ids["a"], ids["b"]
    assert list(tracklets[ta]) == [f"frame{i:02d}" for i in range(20)]
    assert list(tracklets[tb]) == [f"frame{i:02d}" for i in range(9, 20)]
    every = build_tracklets(assemblies, method, TrackingParams(min_hits=1))
    (tb1,) = _tracks_by_name(every, assemblies, truth)["b"]
    assert list(every[tb1]) == [f"frame{i:02d}" for i in range(7, 20)]


def test_skeleton_reports_its_prediction_while_an_animal_is_missing() -> None:
    assemblies, truth = _scene(_with_gap(1, start=10))
    tracklets = build_tracklets(assemblies, "skeleton", TrackingParams(max_age=1))
    ids = _tracks_by_name(tracklets, assemblies, truth)
    assert len(ids["a"]) == 1 and len(ids["b"]) == 1
    (tb,) = ids["b"]
    assert list(tracklets[tb]) == [f"frame{i:02d}" for i in range(30)]
    predicted = tracklets[tb]["frame10"]
    assert (predicted[:, 2] == 1).all() and (predicted[:, 3] == -1).all()
    # constant velocity: the prediction is where the animal would have been
    expected = BODY_X + np.array([50 + 3.0 * 10, 300.0])
    np.testing.assert_allclose(predicted[:, :2], expected, atol=1.0)
    # a longer absence than max_age ends the tracklet: b comes back under a new id
    assemblies, truth = _scene(_with_gap(3, start=10))
    tracklets = build_tracklets(assemblies, "skeleton", TrackingParams(max_age=1))
    assert len(_tracks_by_name(tracklets, assemblies, truth)["b"]) == 2


def test_skeleton_follows_animals_with_missing_keypoints() -> None:
    tracks = _crossing()
    for k, arr in enumerate(tracks["a"]):
        if k % 3 == 0:
            arr[1, :3] = np.nan  # a loses its second keypoint every third frame
    assemblies, truth = _scene(tracks)
    tracklets = build_tracklets(assemblies, "skeleton", TrackingParams())
    ids = _tracks_by_name(tracklets, assemblies, truth)
    assert len(ids["a"]) == 1 and len(ids["b"]) == 1 and ids["a"] != ids["b"]


def test_one_body_part_is_tracked_as_boxes() -> None:
    # two points cannot make an ellipse: DLC switches to boxes with a slack of >= 40 px
    a = [np.array([[10.0 + 4 * k, 50.0, 0.9, -1.0]]) for k in range(20)]
    b = [np.array([[10.0 + 4 * k, 150.0, 0.9, -1.0]]) for k in range(20)]
    assemblies, truth = _scene({"a": a, "b": b})
    with pytest.warns(UserWarning, match="tracking boxes"):
        tracklets = build_tracklets(assemblies, "ellipse", TrackingParams())
    ids = _tracks_by_name(tracklets, assemblies, truth)
    assert len(ids["a"]) == 1 and len(ids["b"]) == 1 and ids["a"] != ids["b"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_tracklets(assemblies, "box", TrackingParams())  # no warning for box


def test_topktoretain_one_is_one_untracked_tracklet() -> None:
    assemblies, _ = _scene(_crossing(n=5))
    tracklets = build_tracklets(assemblies, "ellipse", TrackingParams(topktoretain=1))
    assert _tracklet_ids(tracklets) == [0]
    for i in range(5):
        np.testing.assert_array_equal(tracklets[0][f"frame{i}"], assemblies[i][0])


def test_unique_parts_and_missing_animals() -> None:
    assemblies, _ = _scene(_crossing(n=5))
    assemblies[2] = [np.full((4, 4), np.nan)]  # an empty animal is no animal
    assemblies["single"] = {0: np.array([[1.0, 2.0, 0.5]]), 3: np.array([[3.0, 4.0, 0.7]])}
    header = tracklet_header("DLC_x", ["p1", "p2", "p3", "p4", "u1"])
    tracklets = build_tracklets(assemblies, "ellipse", TrackingParams(), header=header)
    assert list(tracklets)[0] == "single" and list(tracklets)[-1] == "header"
    assert list(tracklets["single"]) == [0, 3]
    assert all("frame2" not in tracklets[t] for t in _tracklet_ids(tracklets))
    # a project with unique parts but none detected still gets its (empty) single
    del assemblies["single"]
    assert build_tracklets(assemblies, "ellipse", TrackingParams(), header=header)["single"] == {}


# --- settings and bad input -----------------------------------------------------------


def test_params_from_inference_cfg() -> None:
    cfg = posecfg.inference_cfg(["a", "b", "c"], ["m1", "m2"], identity=False)
    cfg.update(max_age=5, min_hits=2, iou_threshold=0.5, boundingboxslack=10, oks_threshold=0.2)
    params = TrackingParams.from_inference_cfg(cfg, max_age=7)
    assert (params.max_age, params.min_hits, params.iou_threshold) == (7, 2, 0.5)
    assert (params.boundingboxslack, params.box_threshold, params.topktoretain) == (10, 0.2, 2)
    assert TrackingParams().box_threshold == 0.3  # DLC's default when the key is absent
    placeholder = {"topktoretain": "willbeautomaticallyupdatedbycreate_training_datasetcode"}
    assert TrackingParams.from_inference_cfg(placeholder).topktoretain == 0
    with pytest.raises(TrackingError, match="unknown tracking setting"):
        TrackingParams.from_inference_cfg(cfg, maxage=3)
    for bad in ({"max_age": -1}, {"min_hits": 1.5}, {"iou_threshold": 2}, {"sd": "2"}):
        with pytest.raises(TrackingError, match=next(iter(bad))):
            TrackingParams(**bad)


def test_bad_method_and_assemblies() -> None:
    assemblies, _ = _scene(_crossing(n=3))
    with pytest.raises(TrackingError, match="unknown track_method 'transformer'"):
        build_tracklets(assemblies, "transformer", TrackingParams())
    with pytest.raises(TrackingError, match="another size"):
        build_tracklets({0: [np.zeros((4, 4))], 1: [np.zeros((5, 4))]}, "box", TrackingParams())
    with pytest.raises(TrackingError, match="frame key 'frame0'"):
        build_tracklets({"frame0": [np.zeros((4, 4))]}, "box", TrackingParams())
    with pytest.raises(TrackingError, match="not \\(n, >= 3\\)"):
        build_tracklets({0: [np.zeros((4, 2))]}, "box", TrackingParams())


# --- the shapes ------------------------------------------------------------------------


def test_ellipse_fit_and_similarity() -> None:
    el = fit_ellipse(BODY_X)
    assert el is not None
    # 2 sigma each side: axis = 4 * sample std (ddof 1)
    assert el.width == pytest.approx(4 * np.std(BODY_X[:, 0], ddof=1))
    assert el.height == pytest.approx(4 * np.std(BODY_X[:, 1], ddof=1))
    assert el.theta == pytest.approx(0.0) or el.theta == pytest.approx(np.pi)
    assert fit_ellipse(BODY_Y).theta == pytest.approx(np.pi / 2)
    assert el.similarity(el) == 1.0
    far = Ellipse(el.x + 2 * el.width, el.y, el.width, el.height, el.theta)
    assert el.similarity(far) == 0.0
    assert fit_ellipse(np.array([[0.0, 0.0], [1.0, 1.0], [np.nan, 2.0]])) is None


def test_boxes_iou_hausdorff() -> None:
    animals = np.array([[[0.0, 0.0, 1.0], [10.0, 20.0, 0.5], [np.nan, np.nan, np.nan]]])
    np.testing.assert_array_equal(boxes_from_keypoints(animals, 5), [[-5, -5, 15, 25, 0.75]])
    assert box_iou(np.array([0, 0, 10, 10]), np.array([5, 0, 15, 10])) == pytest.approx(1 / 3)
    assert box_iou(np.array([0, 0, 0, 0]), np.array([0, 0, 0, 0])) == 0.0
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    y = np.array([[0.0, 0.0], [np.nan, np.nan]])
    assert directed_hausdorff(x, y) == 5.0
    assert directed_hausdorff(y, x) == 0.0


def test_assemblies_as_arrays(montblanc) -> None:
    # {frame: array (n, n_multibodyparts, 4)} tracks as DLC's {frame: [array]} does
    assemblies, _, ours = montblanc
    stacked = {k: (np.stack(v) if k != "single" else v) for k, v in assemblies.items()}
    header = ours["header"]
    tracked = build_tracklets(stacked, "ellipse", TrackingParams(), header=header)
    assert partition_agreement(tracked, ours) == 1.0
    assert [str(k) for k in tracked] == [str(k) for k in ours]


def test_animals_without_an_ellipse_do_not_shift_the_others() -> None:
    # an animal with two keypoints has no ellipse and is not tracked; the animals after
    # it in the frame still go to their own tracklets (DLC's indices shift here)
    tracks = _crossing()
    stray = [np.array([[400.0, 400.0, 0.9, -1], [410.0, 400.0, 0.9, -1]] + [[np.nan] * 4] * 2)]
    tracks["stray"] = stray * 41
    assemblies, truth = _scene(tracks, seed=3)
    tracklets = build_tracklets(assemblies, "ellipse", TrackingParams())
    ids = _tracks_by_name(tracklets, assemblies, truth)
    assert "stray" not in ids
    assert len(ids["a"]) == 1 and len(ids["b"]) == 1 and ids["a"] != ids["b"]
    assert sum(len(tracklets[t]) for t in _tracklet_ids(tracklets)) == 82
