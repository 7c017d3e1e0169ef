"""Stitching of tracklets into tracks (dlcflow.tracking.stitch) against DeepLabCut 2.3.11's
own result on its montblanc fixture, and on synthetic cases with known answers: broken
tracks, infeasible flows, too many tracks, identities, empty input."""

from __future__ import annotations

import copy
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment

from dlcflow.io.tables import MULTI_LEVELS, to_frame
from dlcflow.io.tracks import TRACKS_KEY, read_tracks, save_tracks
from dlcflow.tracking.stitch import (
    StitchError,
    StitchParams,
    frame_ranges,
    stitch,
    tracks_dataset,
)

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dlc-unittest-multianimal"
SCORER = "DLC_resnet50_MontBlancDec16shuffle1_30000"
BIRDS = ["bird1", "bird2", "bird3"]
MULTI = ["head", "tail", "leftwing", "rightwing"]
UNIQUE = ["center"]
MULTI_COORDS = ("x", "y", "likelihood")


def _montblanc() -> dict:
    with open(FIXTURES / "montblanc_tracklets.pickle", "rb") as fh:
        return pickle.load(fh)


def _cells(df: pd.DataFrame, individuals: list[str]) -> np.ndarray:
    """(frames, individuals, body parts, 3) of a tracks table."""
    cols = [(SCORER, i, b, c) for i in individuals for b in MULTI for c in MULTI_COORDS]
    return (
        df.reindex(columns=pd.MultiIndex.from_tuples(cols))
        .to_numpy()
        .reshape(len(df), len(individuals), len(MULTI), 3)
    )


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cells (frame, track, part) whose x, y and likelihood are equal (NaN where NaN)."""
    return ((a == b) | (np.isnan(a) & np.isnan(b))).all(axis=-1)


def _matched_agreement(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Share of identical (frame, track, body part) cells after matching our tracks to
    theirs by the Hungarian algorithm on the count of identical cells."""
    n = ours.shape[1]
    agree = np.array([[_same(ours[:, i], theirs[:, j]).sum() for j in range(n)] for i in range(n)])
    rows, cols = linear_sum_assignment(-agree)
    return agree[rows, cols].sum() / (ours.shape[0] * n * ours.shape[2])


def test_montblanc_matches_deeplabcut() -> None:
    """DLC's defaults (n_tracks=3, min_length 10, split and prestitch, max_gap from the
    data): every (frame, track, body part) cell equals DLC's montblanc_tracks.h5 after
    matching tracks by the Hungarian on agreement (measured: 100.0 %; 180 frames x 3
    tracks x 4 parts), and the unique part too."""
    tracklets = _montblanc()
    before = copy.deepcopy(tracklets)
    result = stitch(tracklets, 3, StitchParams())
    assert result.method == "flow" and result.warnings == () and result.unresolved == ()
    assert result.max_gap == 7  # int(1.5 * 5): the 5-frame gap before tracklet 3
    assert set(tracklets) == set(before)  # the input (header included) is left as it is
    dlc = read_tracks(FIXTURES / "montblanc_tracks.h5")
    assert len(dlc) == result.nframes == 180
    ours = _cells(to_frame(tracks_dataset(result, SCORER, BIRDS, MULTI, UNIQUE)), BIRDS)
    assert _matched_agreement(ours, _cells(dlc, BIRDS)) == 1.0
    single = dlc.xs("single", axis=1, level="individuals").to_numpy()
    np.testing.assert_array_equal(result.single.reshape(180, 3), single)


def test_flat_frames_without_identity_give_the_same_tracks() -> None:
    """Frames stored as flat (parts * 3,) rows, as DLC also reads them."""
    tracklets = _montblanc()
    flat = {
        k: v if k == "header" else {f: np.asarray(a)[..., :3].ravel() for f, a in v.items()}
        for k, v in tracklets.items()
    }
    expected = stitch(tracklets, 3).tracks
    np.testing.assert_array_equal(stitch(flat, 3).tracks, expected)


def _animals(nframes: int = 120, n: int = 3, seed: int = 0) -> np.ndarray:
    """(nframes, n, 2) smooth paths of ``n`` animals kept 150 px apart in y."""
    rng = np.random.default_rng(seed)
    t = np.arange(nframes)[:, None]
    x = 100 + 2.0 * t + 20 * np.sin(t / 9 + rng.uniform(0, 6, n))
    y = 100 + 150 * np.arange(n) + 10 * np.cos(t / 7 + rng.uniform(0, 6, n))
    return np.stack([x, y], axis=-1)


def _tracklets(paths: np.ndarray, runs: list[tuple[int, int, int]], identity: bool = False) -> dict:
    """A tracklet dict, one tracklet per run ``(animal, first, last)`` (4 body parts around
    the animal's position), in a scrambled order with arbitrary ids."""
    out: dict = {}
    offsets = np.array([[0, 0], [8, 3], [-6, 4], [2, -7]], dtype=float)
    order = np.random.default_rng(1).permutation(len(runs))
    for key, k in zip(range(100, 100 + len(runs)), order, strict=True):
        animal, first, last = runs[k]
        frames = {}
        for f in range(first, last + 1):
            arr = np.empty((4, 4))
            arr[:, :2] = paths[f, animal] + offsets
            arr[:, 2] = 0.9
            arr[:, 3] = animal if identity else -1
            frames[f"frame{f:04d}"] = arr
        out[key] = frames
    return out


def _animal_of(result_track: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """For each frame of one result track, the animal it holds (-1: none)."""
    with warnings.catch_warnings():  # frames without a detection: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmean(result_track[..., :2], axis=1)
    dist = np.linalg.norm(centre[:, None] - paths[: len(centre)], axis=-1)
    return np.where(np.isnan(centre[:, 0]), -1, np.argmin(np.nan_to_num(dist, nan=np.inf), axis=1))


def test_broken_tracks_stitch_back() -> None:
    """Three animals whose tracklets break (1-3 missing frames) at known frames: each
    track holds one animal, at exactly the frames it was detected."""
    paths = _animals()
    runs = [(0, 0, 39), (0, 41, 79), (0, 82, 119), (1, 0, 24), (1, 28, 119)]
    runs += [(2, 0, 59), (2, 61, 99), (2, 101, 119)]
    result = stitch(_tracklets(paths, runs), 3)
    assert result.method == "flow" and not result.warnings
    for k in range(3):
        who = _animal_of(result.tracks[:, k], paths)
        animal = int(np.bincount(who[who >= 0]).argmax())
        expected = np.full(120, -1)
        for a, first, last in runs:
            if a == animal:
                expected[first : last + 1] = animal
        np.testing.assert_array_equal(who, expected)


def test_more_tracklets_at_once_than_tracks_returns_tracks_and_names_frames() -> None:
    """A spurious fourth tracklet (frames 50-69) beside three whole animals: DLC's flow is
    infeasible for n_tracks=3; the three animals come back and the frames are named."""
    paths = _animals()
    ghost = paths.copy()
    ghost[:, 0, 1] += 400  # a fourth "animal" far away, for 20 frames only
    tracklets = _tracklets(paths, [(0, 0, 119), (1, 0, 119), (2, 0, 119)])
    tracklets[7] = _tracklets(ghost, [(0, 50, 69)])[100]
    result = stitch(tracklets, 3)
    assert result.method == "cover"
    assert result.unresolved == ((50, 69),)
    (line,) = result.warnings
    assert "cannot stitch" in line and "unresolved frames: 50-69" in line and "\n" not in line
    found = sorted(
        int(np.bincount(w[w >= 0]).argmax())
        for w in (_animal_of(result.tracks[:, k], paths) for k in range(3))
    )
    assert found == [0, 1, 2]
    assert np.isfinite(result.tracks[..., 0]).all(axis=2).all()  # every frame, every track


def test_gap_longer_than_max_gap_is_bridged() -> None:
    """An animal unseen for 30 frames with max_gap=5: DLC's flow would need a fourth
    track; the fallback bridges the gap and keeps three pure tracks."""
    paths = _animals()
    runs = [(0, 0, 119), (1, 0, 119), (2, 0, 44), (2, 75, 119)]
    result = stitch(_tracklets(paths, runs), 3, StitchParams(max_gap=5))
    assert result.method == "cover" and result.unresolved == ()
    assert "gaps longer than max_gap=5" in result.warnings[0]
    for k in range(3):
        who = _animal_of(result.tracks[:, k], paths)
        assert len(set(who[who >= 0])) == 1


def test_more_tracks_than_animals_leaves_tracks_empty() -> None:
    """montblanc with n_tracks=5: DLC's three tracks, then two empty ones, and one line."""
    result = stitch(_montblanc(), 5)
    (line,) = result.warnings
    assert "at most 3 animal(s) at once" in line and "tracks 4-5 left empty" in line
    assert np.isnan(result.tracks[:, 3:]).all()
    np.testing.assert_array_equal(result.tracks[:, :3], stitch(_montblanc(), 3).tracks)
    ds = tracks_dataset(result, SCORER, BIRDS, MULTI, UNIQUE)
    assert list(ds["individuals"].values) == ["ind1", "ind2", "ind3", "ind4", "ind5", "single"]


def test_fewer_tracklets_than_tracks() -> None:
    """Two tracklets, three tracks asked: two tracks and an empty third."""
    paths = _animals()
    result = stitch(_tracklets(paths, [(0, 0, 119), (1, 10, 99)]), 3)
    assert "track 3 left empty" in result.warnings[0]
    assert np.isfinite(result.tracks[:, :2, :, 0]).any() and np.isnan(result.tracks[:, 2]).all()


def test_identity_weighted_links_prefer_identity() -> None:
    """Two animals swap sides during a 2-frame gap: the nearest link is a switch. With
    identities (DLC weighs same-identity links by 0.01) each track keeps one identity;
    without them the distance-only links switch."""
    paths = np.zeros((60, 2, 2))
    paths[:, 0] = [100, 100]
    paths[:, 1] = [200, 100]
    paths[32:, 0] = [170, 100]  # animal 0 comes back near where animal 1 was
    paths[32:, 1] = [130, 100]
    runs = [(0, 0, 29), (1, 0, 29), (0, 32, 59), (1, 32, 59)]
    with_id = stitch(_tracklets(paths, runs, identity=True), 2)
    without = stitch(_tracklets(paths, runs, identity=False), 2)
    for k in range(2):
        before, after = with_id.tracks[10, k, 0, 0], with_id.tracks[50, k, 0, 0]
        assert (before, after) in ((100, 170), (200, 130))
        before, after = without.tracks[10, k, 0, 0], without.tracks[50, k, 0, 0]
        assert (before, after) in ((100, 130), (200, 170))
    assert with_id.identities == (0, 1)


def test_weights_that_are_not_numbers_do_not_crash() -> None:
    result = stitch(_montblanc(), 3, StitchParams(weight_func=lambda a, b: float("nan")))
    assert any("no finite weight" in w for w in result.warnings)
    assert result.tracks.shape == (180, 3, 4, 3)


@pytest.mark.parametrize(
    "tracklets",
    [{}, {"header": None}, {0: {}}, {0: {"frame000": np.full((4, 4), np.nan)}}],
)
def test_empty_input_is_one_line_error(tracklets: dict) -> None:
    with pytest.raises(StitchError, match="^x.pickle: no tracklets to stitch") as err:
        stitch(tracklets, 3, source="x.pickle")
    assert "\n" not in str(err.value)


def test_a_video_where_no_animal_was_tracked_gives_empty_tracks() -> None:
    """With the video's size known, no detection at all is a result (a warning), not an
    error: the workflow still writes the video's tracks file; unique parts are kept."""
    single = {"frame00": np.array([[5.0, 6.0, 0.9]])}
    tracklets = {"single": single, 0: {"frame03": np.full((4, 4), np.nan)}}
    result = stitch(tracklets, 3, nframes=20, source="x.pickle", n_bodyparts=4)
    assert result.tracks.shape == (20, 3, 4, 3) and np.isnan(result.tracks).all()
    assert result.single.shape == (20, 1, 3)
    np.testing.assert_array_equal(result.single[0, 0], [5.0, 6.0, 0.9])
    assert result.warnings == (
        "x.pickle: no animal was tracked (the tracklets hold no detection): 3 empty tracks",
    )


def test_bad_arguments_are_one_line_errors() -> None:
    with pytest.raises(StitchError, match="n_tracks"):
        stitch(_montblanc(), 0)
    with pytest.raises(StitchError, match="different numbers of body parts"):
        stitch({0: {"frame0": np.zeros((4, 3))}, 1: {"frame0": np.zeros((2, 3))}}, 2)
    with pytest.raises(ValueError, match="min_length"):
        StitchParams(min_length=2)


def test_saved_tracks_read_back_with_pandas(tmp_path: Path) -> None:
    """save_tracks writes DLC's <stem><scorer>_el.h5 (key 'tracks', 4 column levels) that
    pandas reads as DLC's own table."""
    result = stitch(_montblanc(), 3)
    path = tmp_path / f"montblanc{SCORER}_el.h5"
    save_tracks(tracks_dataset(result, SCORER, BIRDS, MULTI, UNIQUE, fps=30.0), path)
    df = pd.read_hdf(path, TRACKS_KEY)
    assert list(df.columns.names) == list(MULTI_LEVELS)
    assert df.columns.get_level_values("individuals").unique().tolist() == [*BIRDS, "single"]
    dlc = read_tracks(FIXTURES / "montblanc_tracks.h5")
    assert _matched_agreement(_cells(df, BIRDS), _cells(dlc, BIRDS)) == 1.0


def test_frame_ranges() -> None:
    assert frame_ranges([5, 3, 4, 9, 11, 10, 20]) == ((3, 5), (9, 11), (20, 20))
    assert frame_ranges([]) == ()
