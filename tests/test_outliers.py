"""dlcflow.post.outliers and .merge: outlier frames against injected errors, machine labels,
merge_datasets."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dlcflow.cli import main
from dlcflow.core.video import VideoReader
from dlcflow.devtools import demo
from dlcflow.io.labels import read_annotations
from dlcflow.io.poses import write_analysis
from dlcflow.io.tables import LIKELIHOOD_COORDS, pose_columns
from dlcflow.labeling.frames import extract_frames, select_uniform
from dlcflow.post import outliers
from dlcflow.post.merge import MergeError, merge_datasets
from dlcflow.post.outliers import (
    OutlierOptions,
    extract_outlier_frames,
    extract_outliers_file,
)
from dlcflow.project.config import read_config, write_config
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import Project

SCORER = "DLC_resnet50_demoJan1shuffle1_1000"
PARTS = list(demo.BODYPARTS)
N = 120
SIZE = (160, 120)
SPIKES = (30, 75)  # the snout jumps 40 px away for one frame
UNSURE = (50, 51, 90)  # the left ear's likelihood drops to 0.001


def _poses(n: int = N, size: tuple[int, int] = SIZE, seed: int = 7) -> np.ndarray:
    """(n, 4, 3): ground truth + 0.5 px noise, likelihood 0.95, with injected errors."""
    truth = demo.simulate(n, size, seed=seed).keypoints
    data = np.empty((n, 4, 3))
    data[..., :2] = truth + np.random.default_rng(0).normal(0, 0.5, truth.shape)
    data[..., 2] = 0.95
    for i in SPIKES:
        if i < n:
            data[i, 0, 0] += 40
    for i in UNSURE:
        if i < n:
            data[i, 1, 2] = 0.001
    return data


def _table(data: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        data.reshape(len(data), -1), columns=pose_columns(SCORER, PARTS, coords=LIKELIHOOD_COORDS)
    )


def _write_pose(video: Path, data: np.ndarray, crop: list[int] | None = None) -> Path:
    meta = {"cropping": crop is not None, "cropping_parameters": crop or [0, 160, 0, 120]}
    h5 = Project.analysis_output(video, SCORER)
    write_analysis(data.reshape(len(data), -1), SCORER, PARTS, h5, meta, save_as_csv=False)
    return h5


def _set(config: Path, **values: object) -> None:
    cfg = read_config(config)
    for key, value in values.items():
        cfg[key] = value
    write_config(config, cfg)


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    """A demo project with one 120-frame video and its (doctored) pose file."""
    video = demo.make_video(tmp_path / "data" / "mouse1.mp4", nframes=N, size=SIZE, seed=7)
    config = Path(create_new_project("demo", "me", [video], tmp_path, bodyparts=PARTS))
    _write_pose(video, _poses())
    return config, video


# -- detection --------------------------------------------------------------------------
def find_outliers(
    df: pd.DataFrame,
    outlieralgorithm: str,
    *,
    numframes2pick: int = 20,
    first: int = 0,
    last: int | None = None,
    **options: object,
) -> list[int]:
    """outliers.find_outliers with the OutlierOptions fields as keywords."""
    opts = OutlierOptions(outlieralgorithm, **options)  # type: ignore[arg-type]
    return outliers.find_outliers(df, opts, numframes2pick=numframes2pick, first=first, last=last)


def test_jump_and_uncertain_find_the_injected_frames() -> None:
    df = _table(_poses())
    assert find_outliers(df, "jump", epsilon=20) == [30, 31, 75, 76]  # away and back
    assert find_outliers(df, "jump", comparisonbodyparts=["leftear", "tailbase"]) == []
    assert find_outliers(df, "uncertain", p_bound=0.01) == [50, 51, 90]
    assert find_outliers(df, "uncertain", comparisonbodyparts="snout") == []
    assert find_outliers(df, "jump", first=31, last=76) == [31, 75]
    with pytest.raises(ValueError, match="comparisonbodyparts paw not in the pose data"):
        find_outliers(df, "jump", comparisonbodyparts=["paw"])


def test_fitting_finds_the_spikes() -> None:
    df = _table(_poses())
    found = find_outliers(df, "fitting", comparisonbodyparts=["snout"], numframes2pick=2)
    assert {30, 75} <= set(found) and len(found) <= 6


def test_list_keeps_frames_inside_start_stop() -> None:
    df = _table(_poses())
    with pytest.warns(UserWarning, match="1 frame\\(s\\) of frames2use lie outside frames 0-89"):
        assert find_outliers(df, "list", frames2use=[70, 5, 100, 5], last=90) == [5, 70]
    with pytest.raises(ValueError, match="outlieralgorithm 'list' needs frames2use"):
        find_outliers(df, "list")
    with pytest.raises(ValueError, match="outlieralgorithm 'wild' is not one of"):
        find_outliers(df, "wild")


# -- extraction -------------------------------------------------------------------------
def test_extract_writes_dlc_frames_and_machine_labels(project: tuple[Path, Path]) -> None:
    config, video = project
    assert extract_outlier_frames(config, [video]) == [30, 31, 75, 76]
    proj = Project(config)
    folder = proj.labeled_folder("mouse1")
    names = ["img030.png", "img031.png", "img075.png", "img076.png"]  # 3 digits: 120 frames
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".png") == names
    assert not [p for p in folder.iterdir() if p.name.startswith(".dlcflow-outliers")]
    with VideoReader(video) as reader:
        import cv2

        np.testing.assert_array_equal(cv2.imread(str(folder / "img075.png")), reader.read_frame(75))

    h5 = folder / "machinelabels-iter0.h5"
    with pd.HDFStore(h5, "r") as store:
        assert store.keys() == ["/df_with_missing"]
    labels = pd.read_hdf(h5)
    assert list(labels.columns.names) == ["scorer", "bodyparts", "coords"]
    assert set(labels.columns.get_level_values("scorer")) == {SCORER}
    assert list(labels.columns.get_level_values("coords")[:3]) == ["x", "y", "likelihood"]
    assert list(labels.index) == [("labeled-data", "mouse1", name) for name in names]
    np.testing.assert_allclose(labels.to_numpy(), _poses()[[30, 31, 75, 76]].reshape(4, -1))
    csv = read_annotations(folder / "machinelabels.csv")
    np.testing.assert_allclose(csv.to_numpy(), labels.to_numpy())


def test_machine_labels_append_without_duplicates(project: tuple[Path, Path]) -> None:
    config, video = project
    folder = Project(config).labeled_folder("mouse1")
    assert extract_outlier_frames(
        config, [video], outlieralgorithm="list", frames2use=[10, 20]
    ) == [
        10,
        20,
    ]
    moved = _poses()
    moved[..., 0] += 5
    _write_pose(video, moved)
    (folder / "img020.png").unlink()  # extracted again below: its first labels are kept
    found = extract_outlier_frames(
        config, [video], outlieralgorithm="list", frames2use=[10, 20, 30]
    )
    assert found == [20, 30]  # frame 10 is in the folder already
    labels = pd.read_hdf(folder / "machinelabels-iter0.h5")
    assert [row[2] for row in labels.index] == ["img010.png", "img020.png", "img030.png"]
    x = labels.xs("x", level="coords", axis=1).to_numpy()
    np.testing.assert_allclose(x[1], _poses()[20, :, 0])  # the first row of img020 wins
    np.testing.assert_allclose(x[2], moved[30, :, 0])


def test_kmeans_and_uniform_pick_numframes2pick(project: tuple[Path, Path]) -> None:
    config, video = project
    _set(config, numframes2pick=3)
    data = _poses()
    data[10:110:2, 2, 2] = 0.001  # 50 uncertain frames
    h5 = _write_pose(video, data)
    uniform = extract_outliers_file(
        config,
        h5,
        video,
        OutlierOptions(
            "uncertain", comparisonbodyparts=["rightear"], extractionalgorithm="uniform"
        ),
    )
    candidates = list(range(10, 110, 2))
    assert uniform == [candidates[i] for i in select_uniform(0, 50, 3)] == [10, 60, 108]
    record = Project(config).outliers_record("mouse1")
    picked = extract_outliers_file(
        config,
        h5,
        video,
        OutlierOptions(
            "uncertain", comparisonbodyparts=["rightear"], cluster_resizewidth=20, savelabeled=True
        ),
        record=record,
    )
    assert len(picked) == 3 and len(set(picked)) == 3
    assert set(picked) <= set(candidates) - set(uniform)  # frames already there are left out
    summary = json.loads(record.read_text())
    assert summary["qualified"] == 50 and summary["extracted"] == picked
    drawn = Project(config).labeled_data_dir / "mouse1_outliers_labeled"
    assert sorted(p.name for p in drawn.iterdir()) == [f"img{i:03d}labeled.png" for i in picked]
    assert "mouse1_outliers_labeled" not in [p.name for p in Project(config).labeled_folders()]
    with pytest.raises(ValueError, match="'manual': pick frames in the labeling tool"):
        extract_outlier_frames(config, [video], outlieralgorithm="manual")


def test_new_video_joins_video_sets_with_its_crop(project: tuple[Path, Path]) -> None:
    config, _ = project
    other = demo.make_video(config.parent.parent / "more" / "mouse2.mp4", N, SIZE, seed=8)
    data = _poses(seed=8)
    data[..., 0] -= 20  # analyzed inside the crop x 20-160, y 10-120
    data[..., 1] -= 10
    _write_pose(other, data, crop=[20, 160, 10, 120])
    _set(config, start=0.5)  # frames 60-119 only
    assert extract_outlier_frames(config, [other]) == [75, 76]
    proj = Project(config)
    key = str(other.resolve())
    assert proj.video_sets[key] == {"crop": "20, 160, 10, 120"}
    labels = pd.read_hdf(proj.machine_labels("mouse2"))
    np.testing.assert_allclose(labels.iloc[0, :2], data[75, 0, :2] + [20, 10])  # whole frame


def test_failed_write_leaves_no_half_extraction(
    project: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, video = project

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(outliers, "write_machine_labels", broken)
    with pytest.raises(OSError, match="disk full"):
        extract_outlier_frames(config, [video])
    folder = Project(config).labeled_folder("mouse1")
    assert sorted(p.name for p in folder.iterdir()) == []


# -- robustness -------------------------------------------------------------------------
def test_short_video_all_nan_part_and_everything_unsure(tmp_path: Path) -> None:
    video = demo.make_video(tmp_path / "data" / "tiny.mp4", nframes=6, size=(64, 48), seed=1)
    config = Path(create_new_project("demo", "me", [video], tmp_path, bodyparts=PARTS))
    data = np.tile([20.0, 20.0, 0.005], (6, 4, 1))
    data[:, 3] = np.nan
    data[3, 0, 0] = 50
    h5 = Project.analysis_output(video, SCORER)
    write_analysis(data.reshape(6, -1), SCORER, PARTS, h5, {"cropping": False}, False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert extract_outlier_frames(config, [video], epsilon=20) == [3, 4]
        assert extract_outlier_frames(config, [video], outlieralgorithm="fitting") == []
        found = extract_outlier_frames(config, [video], outlieralgorithm="uncertain")
    assert found == [0, 1, 2, 5]  # every frame qualifies; 3 and 4 are there already
    assert sorted(p.name for p in Project(config).labeled_folder("tiny").glob("*.png")) == [
        f"img{i}.png"
        for i in range(6)  # 6 frames: one digit
    ]
    messages = {str(w.message).split(": ", 1)[1] for w in caught}
    assert messages == {
        "only 6 frames of predictions",
        "no predictions for tailbase",
        "snout: too few frames with likelihood >= 0.01 to fit a model; not compared",
        "leftear: too few frames with likelihood >= 0.01 to fit a model; not compared",
        "rightear: too few frames with likelihood >= 0.01 to fit a model; not compared",
        "tailbase: too few frames with likelihood >= 0.01 to fit a model; not compared",
    }


# -- iterations -------------------------------------------------------------------------
def test_merge_refuses_until_labeled_then_iterates(project: tuple[Path, Path]) -> None:
    config, video = project
    _set(config, numframes2pick=3)
    extract_frames(config, algo="uniform")
    (Project(config).labeled_data_dir / "empty-video").mkdir()  # no frames: does not block
    with pytest.raises(MergeError, match=r"labeled-data/mouse1: 3 frame\(s\) but no Collected"):
        merge_datasets(config)
    demo.oracle_label(config, "mouse1")
    assert merge_datasets(config) == 1
    text = config.read_text()
    assert "iteration: 1" in text and "# Project definitions" in text  # comments kept

    found = extract_outlier_frames(config, [video])  # 3 of the 4 jump frames
    assert len(found) == 3 and set(found) <= {30, 31, 75, 76}
    assert (Project(config).labeled_folder("mouse1") / "machinelabels-iter1.h5").is_file()
    with pytest.raises(
        MergeError, match="3 outlier frame\\(s\\) of machinelabels-iter1.h5 are not"
    ):
        merge_datasets(config)
    assert Project(config).iteration == 1
    demo.oracle_label(config, "mouse1")  # the oracle refines the outlier frames
    assert merge_datasets(config) == 2
    assert merge_datasets(config, forceiterate=5) == 5


def test_cli_extract_outliers_and_merge(
    project: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    config, video = project
    assert main(["extract-outliers", str(config), str(video), "--algo", "uncertain"]) == 0
    assert "3 outlier frames extracted" in capsys.readouterr().out
    assert main(["merge", str(config)]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and "dlcflow merge: error:" in err[0] and "mouse1" in err[0]
    demo.oracle_label(config, "mouse1")
    assert main(["merge", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "iteration 1"
