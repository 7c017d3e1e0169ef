"""dlcflow.post.filters: filters and skeleton features against known trajectories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.signal import medfilt

from dlcflow.cli import main
from dlcflow.devtools import demo
from dlcflow.io.poses import write_analysis
from dlcflow.io.tables import LIKELIHOOD_COORDS, pose_columns
from dlcflow.post.filters import (
    SPLINE_LIKELIHOOD,
    FilterOptions,
    analyzeskeleton,
    filter_file,
    filter_poses,
    filterpredictions,
    median_filter,
    skeleton_features,
    skeleton_file,
    spline_fill,
)
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import Project
from dlcflow.project.posefiles import find_pose_file

SCORER = "DLC_resnet50_demoJan1shuffle1_1000"
PARTS = list(demo.BODYPARTS)


def _table(xy: np.ndarray, p: np.ndarray, parts: list[str] = PARTS) -> pd.DataFrame:
    """A pose table from (n, k, 2) positions and (n, k) likelihoods."""
    data = np.concatenate([xy, p[..., None]], axis=2).reshape(len(xy), -1)
    return pd.DataFrame(data, columns=pose_columns(SCORER, parts, coords=LIKELIHOOD_COORDS))


def _xy(df: pd.DataFrame) -> np.ndarray:
    return df.to_numpy().reshape(len(df), -1, 3)[..., :2]


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.nanmean((a - b) ** 2)))


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    """Ground-truth keypoints (200 frames, 4 parts, x/y) of a simulated recording."""
    return demo.simulate(200, seed=5).keypoints


def _noisy(truth: np.ndarray, sigma: float = 3.0, seed: int = 1) -> np.ndarray:
    return truth + np.random.default_rng(seed).normal(0, sigma, truth.shape)


# -- filters ----------------------------------------------------------------------------
def test_median_lowers_the_error_to_ground_truth(truth: np.ndarray) -> None:
    noisy = _noisy(truth)
    df = _table(noisy, np.full(truth.shape[:2], 0.9))
    out = filter_poses(df, "median", windowlength=5)
    before, after = _rmse(noisy, truth), _rmse(_xy(out), truth)
    assert before == pytest.approx(3.03, abs=0.05)
    assert after == pytest.approx(1.70, abs=0.05)  # noise of sigma 3 px down to 1.7 px
    assert list(out.columns) == list(df.columns)
    np.testing.assert_array_equal(out.xs("likelihood", level="coords", axis=1), 0.9)


def test_median_ends_are_not_zero_padded(truth: np.ndarray) -> None:
    x = _noisy(truth)[:, 0, 0]
    ours, dlc = median_filter(x, 5), medfilt(x, 5)
    assert dlc[0] == x[:3].min() and dlc[-1] == x[-3:].min()  # zeros pad the window
    assert ours[0] == np.median(x[:3]) and ours[1] == np.median(x[:4])  # the window shrinks
    assert ours[-1] == np.median(x[-3:])
    np.testing.assert_allclose(ours[2:-2], dlc[2:-2])  # the same inside


def test_median_ignores_nan_and_keeps_it() -> None:
    x = np.array([1.0, 2.0, np.nan, 4.0, 100.0, 6.0, 7.0])
    out = median_filter(x, 3)
    assert np.isnan(out[2])
    assert out[4] == 6.0 and out[3] == 52.0 and out[0] == 1.5  # 52: median of 4 and 100


def test_even_median_window_is_widened() -> None:
    df = _table(np.zeros((20, 4, 2)), np.ones((20, 4)))
    with pytest.warns(UserWarning, match="windowlength 4 is even; using 5"):
        filter_poses(df, "median", windowlength=4)


def test_arima_lowers_the_error_and_skips_unsure_points(truth: np.ndarray) -> None:
    gt = truth[:150, :1]
    noisy = _noisy(gt, seed=2)
    p = np.full(gt.shape[:2], 0.9)
    wild = noisy.copy()
    wild[40:150:11] += 60.0  # confident-looking jumps the network got wrong...
    p[40:150:11] = 0.0001  # ...but with likelihood under p_bound: missing data
    df = _table(wild, p, PARTS[:1])
    out = filter_poses(df, "arima", p_bound=0.001)
    ok = p[:, 0] > 0.001
    assert _rmse(wild, gt) > 15  # the raw data with its wild points
    assert _rmse(noisy[ok], gt[ok]) == pytest.approx(3.08, abs=0.02)
    # DLC's arima is the one-step-ahead prediction: it removes some of the noise (3.08 px
    # down to 2.85 px here) and, above all, predicts over the points under p_bound
    assert _rmse(_xy(out)[ok], gt[ok]) == pytest.approx(2.85, abs=0.1)
    assert _rmse(_xy(out)[ok], gt[ok]) < 0.95 * _rmse(noisy[ok], gt[ok])
    assert _rmse(_xy(out), gt) < 4.0  # the missing points are predicted, not copied
    assert _xy(out)[0, 0, 0] == wild[0, 0, 0]  # DLC keeps the first frame
    np.testing.assert_array_equal(
        out.xs("likelihood", level="coords", axis=1).to_numpy()[:, 0], p[:, 0]
    )


def test_spline_fills_short_gaps_only() -> None:
    t = np.arange(60, dtype=float)
    x = 50 + 20 * np.sin(t / 8)
    holed = x.copy()
    holed[10:13] = np.nan  # 3 frames: filled
    holed[30:38] = np.nan  # 8 frames: longer than the window, left
    holed[:2] = np.nan  # at the start: no extrapolation
    filled, mask = spline_fill(holed, 5)
    np.testing.assert_array_equal(np.flatnonzero(mask), [10, 11, 12])
    np.testing.assert_allclose(filled[10:13], x[10:13], atol=0.05)
    assert np.isnan(filled[30:38]).all() and np.isnan(filled[:2]).all()
    keep = ~np.isnan(holed)
    np.testing.assert_array_equal(filled[keep], holed[keep])

    xy = np.stack([holed, holed + 10], axis=1)[:, None, :]
    df = _table(xy, np.full((60, 1), 0.95), PARTS[:1])
    out = filter_poses(df, "spline", windowlength=5)
    lik = out.xs("likelihood", level="coords", axis=1).to_numpy()[:, 0]
    assert (lik[10:13] == SPLINE_LIKELIHOOD).all()
    assert (lik[30:38] == 0.95).all() and (lik[13:30] == 0.95).all()
    assert np.isnan(_xy(out)[30:38]).all()


def test_unknown_filter_type_is_one_line() -> None:
    with pytest.raises(ValueError, match="filtertype 'kalman' is not one of median, arima, spline"):
        filter_poses(_table(np.zeros((5, 4, 2)), np.ones((5, 4))), "kalman")


# -- robustness -------------------------------------------------------------------------
@pytest.mark.parametrize("filtertype", ["median", "arima", "spline"])
def test_all_nan_body_part_warns_and_stays_nan(truth: np.ndarray, filtertype: str) -> None:
    xy = _noisy(truth[:40])
    xy[:, 2] = np.nan
    p = np.full((40, 4), 0.9)
    p[:, 2] = np.nan
    if filtertype == "arima":  # keep the test quick: one fitted part beside the empty one
        xy, p = xy[:, 1:3], p[:, 1:3]
    parts = PARTS[1:3] if filtertype == "arima" else PARTS
    with pytest.warns(UserWarning, match="rightear has no predictions; left as NaN"):
        out = filter_poses(_table(xy, p, parts), filtertype, where="mouse.h5")
    empty = parts.index("rightear")
    assert np.isnan(_xy(out)[:, empty]).all()
    assert np.isfinite(_xy(out)[:, empty - 1]).all()


def test_short_video_and_every_likelihood_under_p_bound(tmp_path: Path, truth: np.ndarray) -> None:
    h5 = tmp_path / f"short{SCORER}.h5"
    _table(truth[:6], np.full((6, 4), 0.9)).to_hdf(h5, key="df_with_missing", format="table")
    with pytest.warns(UserWarning, match="only 6 frames"):
        out = filter_file(h5, options=FilterOptions(filtertype="median"))
    assert out.name == f"short{SCORER}_filtered.h5"
    assert pd.read_hdf(out).shape == (6, 12)

    df = _table(_noisy(truth[:30, :1]), np.full((30, 1), 0.0001), PARTS[:1])
    with pytest.warns(UserWarning, match="only 0 of 30 frames have likelihood >= p_bound"):
        out_df = filter_poses(df, "arima", p_bound=0.001)
    pd.testing.assert_frame_equal(out_df, df)  # kept unfiltered


# -- skeleton ---------------------------------------------------------------------------
def test_skeleton_lengths_and_orientations_on_known_geometry(tmp_path: Path) -> None:
    # frame 0: leftear straight above the snout (image y points down), rightear left of it,
    # tailbase right of it; frame 1: leftear below; frame 2: leftear unknown
    xy = np.array(
        [
            [[10, 20], [10, 10], [4, 20], [13, 24]],
            [[10, 20], [10, 27], [4, 20], [13, 24]],
            [[10, 20], [np.nan, np.nan], [4, 20], [13, 24]],
        ],
        dtype=float,
    )
    p = np.array([[0.9, 0.8, 0.3, 0.95]] * 3)
    skeleton = [["snout", "leftear"], ["snout", "rightear"], ["snout", "tailbase"]]
    feats = skeleton_features(_table(xy, p), skeleton)
    assert list(feats.columns.get_level_values(0).unique()) == [
        "snout_leftear",
        "snout_rightear",
        "snout_tailbase",
    ]
    assert list(feats.columns.get_level_values(1)[:3]) == ["length", "orientation", "likelihood"]
    up, left, diag = feats["snout_leftear"], feats["snout_rightear"], feats["snout_tailbase"]
    assert up.loc[0, "length"] == 10 and up.loc[0, "orientation"] == 270  # straight up
    assert up.loc[1, "length"] == 7 and up.loc[1, "orientation"] == 90  # straight down
    assert left.loc[0, "length"] == 6 and left.loc[0, "orientation"] == 180  # left
    assert diag.loc[0, "length"] == 5
    assert diag.loc[0, "orientation"] == pytest.approx(np.degrees(np.arctan2(4, 3)))
    assert up.loc[0, "likelihood"] == 0.8 and left.loc[0, "likelihood"] == 0.3  # the smaller
    assert np.isnan(up.loc[2, ["length", "orientation"]]).all()
    angles = feats.xs("orientation", level=1, axis=1).to_numpy()
    assert ((angles[~np.isnan(angles)] >= 0) & (angles[~np.isnan(angles)] < 360)).all()

    h5 = tmp_path / f"v{SCORER}.h5"
    _table(xy, p).to_hdf(h5, key="df_with_missing", format="table")
    out = skeleton_file(h5, skeleton, save_as_csv=True)
    assert out.name == f"v{SCORER}_skeleton.h5" and out.with_suffix(".csv").is_file()
    with pd.HDFStore(out, "r") as store:
        assert store.keys() == ["/df_with_missing"] and store.get_storer("df_with_missing").is_table
    pd.testing.assert_frame_equal(pd.read_hdf(out), feats)


def test_skeleton_with_unknown_body_part_is_one_line() -> None:
    df = _table(np.zeros((3, 4, 2)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="skeleton body part 'paw' is not in the pose data"):
        skeleton_features(df, [["snout", "paw"]], where="v.h5")


# -- the API on a project ---------------------------------------------------------------
@pytest.fixture
def analyzed(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """A project, one demo video (40 frames) and its pose file: the ground truth plus
    noise, under DLC's name (no trained model: the pose file is found by its name)."""
    video = demo.make_video(tmp_path / "data" / "mouse1.mp4", nframes=40, size=(160, 120), seed=3)
    config = create_new_project("demo", "me", [video], working_directory=tmp_path, bodyparts=PARTS)
    gt = demo.simulate(40, (160, 120), seed=3).keypoints
    data = np.concatenate([_noisy(gt), np.full((40, 4, 1), 0.9)], axis=2).reshape(40, -1)
    meta = {"cropping": False, "cropping_parameters": [0, 160, 0, 120], "nframes": 40}
    h5 = Project.analysis_output(video, SCORER)
    write_analysis(data, SCORER, PARTS, h5, meta, save_as_csv=False)
    return Path(config), video, gt


def test_filterpredictions_writes_dlc_files(analyzed: tuple[Path, Path, np.ndarray]) -> None:
    config, video, gt = analyzed
    (out,) = filterpredictions(config, [video])
    assert out == video.parent / f"mouse1{SCORER}_filtered.h5"
    assert out.with_suffix(".csv").is_file()
    with pd.HDFStore(out, "r") as store:
        assert store.keys() == ["/df_with_missing"] and store.get_storer("df_with_missing").is_table
    raw, filtered = pd.read_hdf(Project.analysis_output(video, SCORER)), pd.read_hdf(out)
    assert filtered.columns.equals(raw.columns) and filtered.index.equals(raw.index)
    assert _rmse(_xy(filtered), gt) < _rmse(_xy(raw), gt)
    csv = pd.read_csv(out.with_suffix(".csv"), header=[0, 1, 2], index_col=0)
    np.testing.assert_allclose(csv.to_numpy(), filtered.to_numpy())
    assert find_pose_file(Project(config), video, filtered=True) == out

    mtime = out.stat().st_mtime_ns
    filterpredictions(config, [video], filtertype="arima")  # up to date: kept
    assert out.stat().st_mtime_ns == mtime


def test_analyzeskeleton_and_missing_analysis(analyzed: tuple[Path, Path, np.ndarray]) -> None:
    config, video, _ = analyzed
    (out,) = analyzeskeleton(config, [video], save_as_csv=True)
    assert out.name == f"mouse1{SCORER}_skeleton.h5"
    bones = pd.read_hdf(out).columns.get_level_values(0).unique()
    assert list(bones) == [f"{a}_{b}" for a, b in Project(config).cfg["skeleton"]]
    with pytest.warns(
        UserWarning,
        match=r"_filtered\.h5: not found; mouse1.mp4 has no filtered predictions .*; skipped",
    ):
        assert analyzeskeleton(config, [video], filtered=True) == []
    other = demo.make_video(video.parent / "mouse2.mp4", nframes=5, size=(64, 48))
    with pytest.raises(
        FileNotFoundError, match=r"mouse2DLC\*\.h5: not found; mouse2.mp4 has not been analyzed"
    ):
        find_pose_file(Project(config), other)


def test_cli_filter_and_skeleton(
    analyzed: tuple[Path, Path, np.ndarray], capsys: pytest.CaptureFixture
) -> None:
    config, video, _ = analyzed
    assert main(["filter", str(config), str(video), "--filtertype", "spline", "--no-csv"]) == 0
    out = video.parent / f"mouse1{SCORER}_filtered.h5"
    assert capsys.readouterr().out.strip() == str(out)
    assert not out.with_suffix(".csv").exists()
    assert main(["analyze-skeleton", str(config), str(video), "--filtered"]) == 0
    assert (video.parent / f"mouse1{SCORER}_filtered_skeleton.h5").is_file()
    with pytest.raises(SystemExit):
        main(["filter", str(config), str(video), "--filtertype", "kalman"])
