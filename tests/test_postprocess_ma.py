"""Post-processing of multi-animal tracks (``<stem><scorer>_el.h5``): filters, skeleton
features, trajectory plots, labeled videos, outlier frames and their refinement.

The tracks are the synthetic multi-animal demo's ground truth (three mice and a feeder
under ``single``, NaN where a part is hidden) with 0.5 px noise, likelihood 0.95, and
errors injected into one individual at a time.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from scipy.signal import medfilt
from videoframes import read_frames

from dlcflow.core.draw import colors_bgr
from dlcflow.devtools.mademo import make_multi_animal_demo_project
from dlcflow.io.poses import meta_path
from dlcflow.io.tables import MULTI_LEVELS, to_dataset
from dlcflow.io.tracks import read_tracks, save_tracks
from dlcflow.labeler.store import LabelStore
from dlcflow.plots.poses import (
    PLOT_NAMES,
    LabeledVideoOptions,
    create_labeled_video,
    labeled_video_file,
    plot_poses_file,
    plot_trajectories,
)
from dlcflow.post.filters import (
    analyzeskeleton,
    filter_poses,
    filterpredictions,
    median_filter,
    skeleton_features,
)
from dlcflow.post.outliers import OutlierOptions, extract_outlier_frames, find_outliers
from dlcflow.project.config import read_config, write_config
from dlcflow.project.paths import Project
from dlcflow.project.posefiles import find_pose_file, resolve_track_method

SCORER = "DLC_mobnet_35_mademoDec2shuffle1_1000"
N = 40
ANIMALS = ["mouse1", "mouse2", "mouse3"]
INDIVIDUALS = [*ANIMALS, "single"]
PARTS = ["snout", "leftear", "rightear", "tailbase"]
RADIUS = 5


def _set(config: Path, **values: object) -> None:
    cfg = read_config(config)
    for key, value in values.items():
        cfg[key] = value
    write_config(config, cfg)


def _groundtruth(video: Path) -> pd.DataFrame:
    return pd.read_hdf(video.with_name(f"{video.stem}_groundtruth.h5"))


def _tracks_table(video: Path, seed: int = 0) -> pd.DataFrame:
    """The ground truth as a tracks table: scorer SCORER, x, y + 0.5 px noise, likelihood
    0.95 where the part is visible (NaN x, y and likelihood where hidden)."""
    truth = _groundtruth(video)
    rng = np.random.default_rng(seed)
    columns = []
    data = []
    for _, ind, bp, _ in truth.columns[::2]:
        x, y = truth[("groundtruth", ind, bp, "x")], truth[("groundtruth", ind, bp, "y")]
        noise = rng.normal(0, 0.5, (2, N))
        p = np.where(np.isfinite(x), 0.95, np.nan)
        for coord, values in (("x", x + noise[0]), ("y", y + noise[1]), ("likelihood", p)):
            columns.append((SCORER, ind, bp, coord))
            data.append(np.asarray(values, float))
    return pd.DataFrame(
        np.stack(data, axis=1), columns=pd.MultiIndex.from_tuples(columns, names=MULTI_LEVELS)
    )


def _write_tracks(video: Path, df: pd.DataFrame, method: str = "ellipse") -> Path:
    h5 = Project.tracks_output(video, SCORER, method)
    save_tracks(to_dataset(df), h5)
    return h5


def _steady(df: pd.DataFrame, ind: str, bp: str, margin: int = 3) -> int:
    """A frame in the middle of the video where the point is visible for ±margin frames."""
    seen = df[(SCORER, ind, bp, "x")].notna().to_numpy()
    for f in [*range(N // 2, N - margin), *range(N // 2, margin, -1)]:
        if seen[f - margin : f + margin + 1].all():
            return f
    raise AssertionError(f"{ind}/{bp} is never visible long enough")


@pytest.fixture
def ma(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    """A 40-frame, three-mouse demo project (alpha 1, dots of radius 5) and the tracks
    ``data/mice1<SCORER>_el.h5`` beside its video. Returns config, video, tracks."""
    config = make_multi_animal_demo_project(tmp_path, n_videos=1, nframes=N, numframes2pick=5)
    _set(config, alphavalue=1.0, dotsize=RADIUS, pcutoff=0.6)
    video = tmp_path / "data" / "mice1.mp4"
    df = _tracks_table(video)
    _write_tracks(video, df)
    return config, video, df


def _xy(df: pd.DataFrame, ind: str, bp: str, scorer: str = SCORER) -> np.ndarray:
    return df[[(scorer, ind, bp, "x"), (scorer, ind, bp, "y")]].to_numpy()


# -- finding the tracks -----------------------------------------------------------------
def test_the_track_method_picks_the_tracks_file(ma: tuple[Path, Path, pd.DataFrame]) -> None:
    config, video, _ = ma
    project = Project(config)
    assert resolve_track_method(project) == "ellipse"  # the config's default_track_method
    assert resolve_track_method(project, "box") == "box"
    with pytest.raises(ValueError, match="unknown track_method 'kalman'"):
        resolve_track_method(project, "kalman")
    tracks = video.parent / f"mice1{SCORER}_el.h5"
    assert find_pose_file(project, video) == tracks
    with pytest.raises(FileNotFoundError, match=r"_bx\.h5: not found; mice1\.mp4 has no box"):
        find_pose_file(project, video, track_method="box")
    with pytest.raises(FileNotFoundError, match="no filtered ellipse tracks"):
        find_pose_file(project, video, filtered=True)
    # the tracks share the video analysis's metadata file
    assert meta_path(tracks).name == f"mice1{SCORER}_meta.pickle"
    assert meta_path(tracks.with_name(f"mice1{SCORER}_el_filtered.h5")) == meta_path(tracks)


# -- filters ----------------------------------------------------------------------------
def test_filterpredictions_filters_each_individual_in_dlc_layout(
    ma: tuple[Path, Path, pd.DataFrame],
) -> None:
    config, video, df = ma
    f = _steady(df, "mouse2", "snout")
    spiked = df.copy()
    spiked.loc[f, (SCORER, "mouse2", "snout", "x")] += 40.0
    _write_tracks(video, spiked)
    (out,) = filterpredictions(config, [video])
    assert out == video.parent / f"mice1{SCORER}_el_filtered.h5"
    assert out.with_suffix(".csv").is_file()
    filtered = pd.read_hdf(out)
    assert list(filtered.columns.names) == list(MULTI_LEVELS)
    assert list(filtered.columns) == list(spiked.columns)
    assert list(dict.fromkeys(filtered.columns.get_level_values("individuals"))) == INDIVIDUALS
    assert list(filtered.columns.get_level_values("bodyparts")[-3:]) == ["feeder"] * 3
    truth = _xy(_groundtruth(video), "mouse2", "snout", "groundtruth")
    raw = _xy(spiked, "mouse2", "snout")
    assert np.hypot(*(raw[f] - truth[f])) > 39
    assert np.hypot(*(_xy(filtered, "mouse2", "snout")[f] - truth[f])) < 3  # spike gone
    # each individual's series is filtered on its own: the same as filtering it alone
    for ind in INDIVIDUALS:
        for bp in ["feeder"] if ind == "single" else PARTS:
            x = spiked[(SCORER, ind, bp, "x")].to_numpy()
            np.testing.assert_allclose(
                filtered[(SCORER, ind, bp, "x")], median_filter(x, 5), equal_nan=True
            )
    np.testing.assert_array_equal(
        filtered.xs("likelihood", level="coords", axis=1),
        spiked.xs("likelihood", level="coords", axis=1),
    )
    # the box tracker's file is another file, found with track_method
    _write_tracks(video, spiked, "box")
    (boxed,) = filterpredictions(config, [video], track_method="box", save_as_csv=False)
    assert boxed.name == f"mice1{SCORER}_bx_filtered.h5"


def test_spline_and_arima_work_per_individual(ma: tuple[Path, Path, pd.DataFrame]) -> None:
    _, _, df = ma
    f = _steady(df, "mouse3", "tailbase")
    holed = df.copy()
    gap = [(SCORER, "mouse3", "tailbase", c) for c in ("x", "y", "likelihood")]
    holed.loc[f - 1 : f + 1, gap] = np.nan  # 3 frames of mouse3's tail base lost
    spline = filter_poses(holed, "spline", windowlength=5)
    assert list(spline.columns) == list(df.columns)
    filled = spline.loc[f - 1 : f + 1, gap].to_numpy()
    assert np.isfinite(filled).all()
    np.testing.assert_array_equal(filled[:, 2], 0.01)  # DLC's likelihood of filled points
    err = np.hypot(*(filled[:, :2] - df.loc[f - 1 : f + 1, gap[:2]].to_numpy()).T)
    assert err.max() < 3
    others = [c for c in df.columns if c[1] != "mouse3" or c[2] != "tailbase"]
    pd.testing.assert_frame_equal(spline[others], holed[others])  # nothing else changed
    # ARIMA fits each individual's body part alone: the snouts of two mice give for
    # mouse1 exactly what mouse1's snout alone gives (SARIMAX fits are slow: few points)
    snouts = df.loc[:, df.columns.get_level_values("bodyparts") == "snout"].iloc[:, :6]
    arima = filter_poses(snouts, "arima")
    mouse1 = snouts.iloc[:, :3]
    assert list(mouse1.columns.get_level_values("individuals")) == ["mouse1"] * 3
    np.testing.assert_allclose(arima[mouse1.columns], filter_poses(mouse1, "arima"))
    assert list(arima.columns.names) == list(MULTI_LEVELS)
    assert not np.allclose(arima.iloc[:, :2], snouts.iloc[:, :2])  # it did filter


# -- skeleton -----------------------------------------------------------------------------
def test_analyzeskeleton_has_bones_per_individual(ma: tuple[Path, Path, pd.DataFrame]) -> None:
    config, video, df = ma
    (out,) = analyzeskeleton(config, [video])
    assert out.name == f"mice1{SCORER}_el_skeleton.h5"
    skeleton = pd.read_hdf(out)
    bones = read_config(config)["skeleton"]
    names = [f"{ind}_{a}_{b}" for ind in ANIMALS for a, b in bones]
    assert list(dict.fromkeys(skeleton.columns.get_level_values(0))) == names  # no `single`
    assert list(skeleton.columns.get_level_values(1)[:3]) == ["length", "orientation", "likelihood"]
    d = _xy(df, "mouse2", "tailbase") - _xy(df, "mouse2", "leftear")
    np.testing.assert_allclose(
        skeleton[("mouse2_leftear_tailbase", "length")], np.hypot(d[:, 0], d[:, 1])
    )


# -- plots ----------------------------------------------------------------------------------
def test_trajectory_plots_per_individual(
    ma: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    config, video, _ = ma
    (folder,) = plot_trajectories(config, [video])
    assert folder == video.parent / "plot-poses" / "mice1"
    for ind in INDIVIDUALS:
        for name in PLOT_NAMES:
            png = folder / f"{name}{ind}.png"
            img = cv2.imread(str(png))
            assert img is not None and img.shape[0] > 100, png
    filterpredictions(config, [video], save_as_csv=False)
    plot_trajectories(config, [video], filtered=True)
    assert (folder / "trajectory_filteredmouse3.png").is_file()
    h5 = find_pose_file(Project(config), video)
    only = plot_poses_file(config, h5, tmp_path / "only", video, displayedindividuals=["mouse2"])
    assert sorted(p.name for p in only) == sorted(f"{n}mouse2.png" for n in PLOT_NAMES)
    with pytest.raises(ValueError, match="individual.s. mouse9 not in the project"):
        plot_poses_file(config, h5, tmp_path / "x", video, displayedindividuals="mouse9")


def _isolated_points(df: pd.DataFrame, frame: int) -> list[tuple[str, float, float]]:
    """(individual, x, y) of the frame's shown points farther than two dots from any
    point of another individual (so that only one individual's colour can be there)."""
    points = [
        (ind, df.loc[frame, (SCORER, ind, bp, "x")], df.loc[frame, (SCORER, ind, bp, "y")])
        for _, ind, bp, _ in df.columns[::3]
    ]
    points = [p for p in points if np.isfinite(p[1])]
    return [
        (ind, x, y)
        for ind, x, y in points
        if all(o == ind or np.hypot(x - ox, y - oy) > 2 * RADIUS + 4 for o, ox, oy in points)
    ]


def test_labeled_video_colours_each_individual(ma: tuple[Path, Path, pd.DataFrame]) -> None:
    config, video, df = ma
    (by_part,) = create_labeled_video(config, [video], draw_skeleton=True)
    assert by_part.name == f"mice1{SCORER}_el_bp_labeled.mp4"  # DLC's default colour: part
    assert len(read_frames(by_part)) == len(read_frames(video)) == N
    (by_id,) = create_labeled_video(
        config, [video], keypoints_only=True, draw_skeleton=True, color_by="individual"
    )
    assert by_id.name == f"mice1{SCORER}_el_id_labeled.mp4"
    frames = read_frames(by_id)
    assert len(frames) == N
    palette = np.array(colors_bgr(len(INDIVIDUALS), "rainbow"), float)
    checked = 0
    for i in (0, 13, 26, 39):
        for ind, x, y in _isolated_points(df, i):
            pixel = frames[i][int(round(y)), int(round(x))].astype(float)
            distances = np.abs(palette - pixel).max(axis=1)
            assert INDIVIDUALS[int(np.argmin(distances))] == ind, (i, ind, x, y, pixel)
            assert distances[INDIVIDUALS.index(ind)] < 45
            checked += 1
    assert checked >= 30
    # the skeleton joins each mouse's own parts (white, under the dots)
    i = 0
    a, b = _xy(df, "mouse1", "leftear")[i], _xy(df, "mouse1", "tailbase")[i]
    mid = (a + b) / 2
    if np.isfinite(mid).all():
        assert frames[i][int(round(mid[1])), int(round(mid[0]))].mean() > 150


def test_track_names_are_written_above_the_animals(ma: tuple[Path, Path, pd.DataFrame]) -> None:
    config, video, df = ma
    h5 = find_pose_file(Project(config), video)
    plain_opts = LabeledVideoOptions(keypoints_only=True, color_by="individual")
    named_opts = LabeledVideoOptions(keypoints_only=True, color_by="individual", track_ids=True)
    plain = read_frames(labeled_video_file(config, video, h5, h5.parent / "a.mp4", plain_opts))
    named = read_frames(labeled_video_file(config, video, h5, h5.parent / "b.mp4", named_opts))
    assert len(plain) == len(named) == N
    diff = np.abs(named[0].astype(int) - plain[0].astype(int)).max(axis=2) > 60
    for ind in ANIMALS:
        xy = np.stack([_xy(df, ind, bp)[0] for bp in PARTS])
        xy = xy[np.isfinite(xy).all(axis=1)]
        x, top = int(xy[:, 0].mean()), int(xy[:, 1].min())
        band = diff[max(0, top - 30) : max(1, top - 2), max(0, x - 30) : x + 30]
        assert band.sum() > 20, ind  # the name's strokes
    with pytest.raises(ValueError, match="color_by 'animal' is not one of bodypart, individual"):
        LabeledVideoOptions(color_by="animal")


# -- outliers ---------------------------------------------------------------------------
def test_outliers_are_found_per_individual(ma: tuple[Path, Path, pd.DataFrame]) -> None:
    _, _, df = ma
    f = _steady(df, "mouse2", "snout")
    spiked = df.copy()
    spiked.loc[f, (SCORER, "mouse2", "snout", "x")] += 40.0
    assert find_outliers(spiked, OutlierOptions("jump", epsilon=20)) == [f, f + 1]
    assert find_outliers(df, OutlierOptions("jump", epsilon=20)) == []  # hidden parts: no jump
    unsure = df.copy()
    u = _steady(df, "mouse3", "leftear")
    unsure.loc[u, (SCORER, "mouse3", "leftear", "likelihood")] = 0.001
    assert find_outliers(unsure, OutlierOptions("uncertain")) == [u]  # NaN is not uncertain
    # fitting (on the snouts and tail bases: SARIMAX fits are slow): mouse2's mean
    # distance to its fit is ~80/2 px at the spike; the mean over all six points (DLC's
    # rule) would be ~80/6 px, under epsilon. Frame 0 has no past to predict from (the
    # fit's first prediction is the series mean), so it may be flagged too.
    far = df.copy()
    far.loc[f, (SCORER, "mouse2", "snout", "x")] += 80.0
    opts = OutlierOptions("fitting", comparisonbodyparts=["snout", "tailbase"], epsilon=25)
    found = find_outliers(far, opts, numframes2pick=20)
    assert f in found and set(found) - {0} <= {f, f + 1, f + 2}


def test_machine_labels_hold_every_individual(ma: tuple[Path, Path, pd.DataFrame]) -> None:
    config, video, df = ma
    f = _steady(df, "mouse2", "snout")
    spiked = df.copy()
    spiked.loc[f, (SCORER, "mouse2", "snout", "x")] += 40.0
    _write_tracks(video, spiked)
    frames = extract_outlier_frames(config, [video], extractionalgorithm="uniform")
    assert frames == [f, f + 1]
    project = Project(config)
    folder = project.labeled_folder("mice1")
    names = [f"img{i:02d}.png" for i in frames]
    assert all((folder / n).is_file() for n in names)
    machine = pd.read_hdf(project.machine_labels("mice1"))
    assert list(machine.columns.names) == list(MULTI_LEVELS)
    assert list(machine.index) == [("labeled-data", "mice1", n) for n in names]
    assert list(dict.fromkeys(machine.columns.get_level_values("individuals"))) == INDIVIDUALS
    assert set(machine.columns.get_level_values("coords")) == {"x", "y", "likelihood"}
    np.testing.assert_allclose(machine.to_numpy(), spiked.loc[frames, machine.columns].to_numpy())

    # the refine labeler shows every individual's predictions and saves them as labels
    store = LabelStore(config, mode="refine")
    assert "mice1" in store.videos()
    data = store.video_data("mice1")
    assert sorted(data["frames"][i][0] for i in range(2)) == names
    shown = data["machine"][names[0]]
    assert {p[0] for p in shown} == set(INDIVIDUALS)
    moved = [[ind, bp, x + 1.0, y, *_] for ind, bp, x, y, *_ in shown]
    report = store.save("mice1", {names[0]: [p[:4] for p in moved]})
    assert report["saved"] == [names[0]]
    labels = pd.read_hdf(project.collected_data("mice1"))
    assert list(labels.columns.names) == list(MULTI_LEVELS)
    assert list(dict.fromkeys(labels.columns.get_level_values("individuals"))) == INDIVIDUALS
    row = labels.loc[("labeled-data", "mice1", names[0])]
    for ind, bp, x, y, *_ in moved:
        assert row[(project.scorer, ind, bp, "x")] == pytest.approx(x, abs=1e-3)
        assert row[(project.scorer, ind, bp, "y")] == pytest.approx(y, abs=1e-3)


def test_machine_labels_of_tracks_missing_an_individual(
    ma: tuple[Path, Path, pd.DataFrame],
) -> None:
    config, video, df = ma
    two = df.loc[:, df.columns.get_level_values("individuals") != "mouse3"]
    _write_tracks(video, two, "box")
    opts = OutlierOptions("list", frames2use=[5, 9])
    assert extract_outlier_frames(config, [video], track_method="box", options=opts) == [5, 9]
    assert read_tracks(Project.tracks_output(video, SCORER, "box")).shape[1] == 9 * 3
    machine = pd.read_hdf(Project(config).machine_labels("mice1"))
    assert list(dict.fromkeys(machine.columns.get_level_values("individuals"))) == INDIVIDUALS
    assert machine.xs("mouse3", level="individuals", axis=1).isna().all().all()
    np.testing.assert_allclose(machine[two.columns].to_numpy(), two.loc[[5, 9]].to_numpy())


# -- DLC's own tracks -------------------------------------------------------------------
MONTBLANC = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "fixtures"
    / "dlc-unittest-multianimal"
    / "montblanc_tracks.h5"
)


def test_dlc_tracks_filter_as_dlc_inside_and_bones_per_bird() -> None:
    """DLC 2.3's stitched tracks of three birds (key ``df``): the median filter matches
    DLC's ``scipy.signal.medfilt`` inside every run of visible frames (medfilt run on the
    run alone: DLC runs it on whole columns, where it zero-pads the ends and, next to the
    NaN of a gap, returns wrong medians in about 1 % of even complete windows; dlcflow
    does neither), and each bird gets DLC's bones ``<bird>_<bp1>_<bp2>`` with DLC's length
    and orientation (atan2 in degrees, [0, 360))."""
    df = read_tracks(MONTBLANC)
    filtered = filter_poses(df, "median", windowlength=5)
    assert list(filtered.columns) == list(df.columns)
    compared = 0
    for col in [c for c in df.columns if c[3] in ("x", "y")]:
        x, ours = df[col].to_numpy(), filtered[col].to_numpy()
        edges = np.flatnonzero(np.diff(np.r_[0, np.isfinite(x).astype(int), 0]))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            if stop - start >= 5:  # inside the run, away from medfilt's zero padding
                dlc = medfilt(x[start:stop], 5)[2:-2]
                np.testing.assert_array_equal(ours[start + 2 : stop - 2], dlc)
                compared += len(dlc)
    assert compared > 3000, compared

    bones = [["head", "tail"], ["leftwing", "rightwing"]]
    features = skeleton_features(df, bones)
    birds = [i for i in dict.fromkeys(df.columns.get_level_values("individuals")) if i != "single"]
    names = [f"{b}_{p}_{q}" for b in birds for p, q in bones]
    assert list(dict.fromkeys(features.columns.get_level_values(0))) == names
    scorer = df.columns.get_level_values("scorer")[0]
    for bird in birds:
        head = df[[(scorer, bird, "head", "x"), (scorer, bird, "head", "y")]].to_numpy()
        tail = df[[(scorer, bird, "tail", "x"), (scorer, bird, "tail", "y")]].to_numpy()
        ok = np.isfinite(head).all(axis=1) & np.isfinite(tail).all(axis=1)
        dlc_length = [float(np.hypot(*(t - h))) for h, t in zip(head[ok], tail[ok], strict=True)]
        dlc_angle = [
            (a := np.degrees(np.arctan2(t[1] - h[1], t[0] - h[0]))) + (360 if a < 0 else 0)
            for h, t in zip(head[ok], tail[ok], strict=True)
        ]
        got = features[f"{bird}_head_tail"].to_numpy()[ok]
        np.testing.assert_allclose(got[:, 0], dlc_length, atol=1e-9)
        np.testing.assert_allclose(got[:, 1], dlc_angle, atol=1e-9)
