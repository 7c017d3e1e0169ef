"""dlcflow.plots.poses: trajectory plots and labeled videos of analyzed videos."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from videoframes import read_frames

from dlcflow.cli import main
from dlcflow.core.draw import colors_bgr
from dlcflow.core.video import VideoReader
from dlcflow.devtools import demo
from dlcflow.io.poses import write_analysis
from dlcflow.io.tables import LIKELIHOOD_COORDS, pose_columns
from dlcflow.plots.poses import (
    PLOT_NAMES,
    LabeledVideoOptions,
    confidence_alpha,
    create_labeled_video,
    labeled_video_file,
    plot_poses,
    plot_trajectories,
)
from dlcflow.project.config import read_config, write_config
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import Project

SCORER = "DLC_resnet50_demoJan1shuffle1_1000"
PARTS = list(demo.BODYPARTS)
N = 12
SIZE = (160, 120)


def _close(a: np.ndarray, b: np.ndarray | tuple[int, ...], tol: float) -> bool:
    return bool(np.abs(a.astype(float) - np.asarray(b, float)).max() <= tol)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """A project with one 12-frame demo video and a pose file: snout at (40, 30) moving
    10 px right per frame, leftear at (120, 90) under pcutoff, rightear at (80, 60),
    tailbase never found. Opaque dots of radius 5. Returns config, video, (n, 4, 3) data."""
    video = demo.make_video(tmp_path / "data" / "mouse1.mp4", nframes=N, size=SIZE, seed=4)
    config = Path(create_new_project("demo", "me", [video], tmp_path, bodyparts=PARTS))
    cfg = read_config(config)
    cfg.update(dotsize=5, alphavalue=1.0, pcutoff=0.6, colormap="rainbow")
    cfg["skeleton"], cfg["skeleton_color"] = [["snout", "rightear"]], "white"
    write_config(config, cfg)
    data = np.full((N, 4, 3), np.nan)
    data[:, 0] = [[40 + 10 * i, 30, 0.9] for i in range(N)]
    data[:, 1] = [120, 90, 0.3]
    data[:, 2] = [80, 60, 0.9]
    _write_pose(video, data)
    return config, video, data


def _write_pose(video: Path, data: np.ndarray, crop: list[int] | None = None) -> Path:
    meta = {"cropping": crop is not None, "cropping_parameters": crop or [0, *SIZE[:1], 0, SIZE[1]]}
    h5 = Project.analysis_output(video, SCORER)
    write_analysis(data.reshape(len(data), -1), SCORER, PARTS, h5, meta, save_as_csv=False)
    return h5


# -- trajectory plots -------------------------------------------------------------------
def test_plot_trajectories_writes_readable_pngs(setup: tuple[Path, Path, np.ndarray]) -> None:
    config, video, data = setup
    (folder,) = plot_trajectories(config, [video])
    assert folder == video.parent / "plot-poses" / "mouse1"
    for name in PLOT_NAMES:
        img = cv2.imread(str(folder / f"{name}.png"))
        assert img is not None and img.shape[0] > 200 and img.shape[1] > 300
        assert img.std() > 10  # not blank
    filtered = Project.analysis_output(video, SCORER, suffix="_filtered.h5")
    pd.read_hdf(Project.analysis_output(video, SCORER)).to_hdf(filtered, key="df_with_missing")
    plot_trajectories(config, [video], filtered=True, displayedbodyparts=["snout"])
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{name}{s}.png" for name in PLOT_NAMES for s in ("", "_filtered")
    )


def test_plots_of_points_all_under_pcutoff(tmp_path: Path) -> None:
    df = pd.DataFrame(
        np.tile([10.0, 20.0, 0.1], (5, 2)),
        columns=pose_columns(SCORER, ["a", "b"], coords=LIKELIHOOD_COORDS),
    )
    df.iloc[:, 3:] = np.nan  # b: never found
    written = plot_poses(df, tmp_path / "p", ["a", "b"], pcutoff=0.6)
    assert [p.name for p in written] == [f"{n}.png" for n in PLOT_NAMES]
    assert all(cv2.imread(str(p)) is not None for p in written)


def test_unknown_displayed_body_part(setup: tuple[Path, Path, np.ndarray]) -> None:
    config, video, _ = setup
    with pytest.raises(ValueError, match="body part\\(s\\) paw not in the pose data"):
        plot_trajectories(config, [video], displayedbodyparts=["paw"])


# -- labeled videos ---------------------------------------------------------------------
def test_labeled_video_frames_size_and_dots(setup: tuple[Path, Path, np.ndarray]) -> None:
    config, video, _ = setup
    (out,) = create_labeled_video(config, [video], draw_skeleton=True)
    assert out == video.parent / f"mouse1{SCORER}_labeled.mp4"
    labeled = read_frames(out)
    source = read_frames(video)
    assert len(labeled) == len(source) == N
    assert labeled[0].shape == source[0].shape == (SIZE[1], SIZE[0], 3)
    snout, _, rightear, _ = colors_bgr(4, "rainbow")
    for i in (0, 5):
        frame, src = labeled[i], source[i]
        assert _close(frame[30, 40 + 10 * i], snout, 40)  # row y, column x
        assert _close(frame[60, 80], rightear, 40)
        assert _close(frame[90, 120], src[90, 120], 20)  # leftear: under pcutoff
    # the skeleton line (white) runs from the snout to the right ear, under the dots
    x_mid, y_mid = (40 + 80) // 2, (30 + 60) // 2
    assert labeled[0][y_mid, x_mid].mean() > source[0][y_mid, x_mid].mean() + 60


def test_labeled_video_of_cropped_analysis(setup: tuple[Path, Path, np.ndarray]) -> None:
    config, video, data = setup
    h5 = _write_pose(video, data, crop=[20, 140, 10, 110])  # coordinates relative to the crop
    snout = colors_bgr(4, "rainbow")[0]
    out = labeled_video_file(config, video, h5)
    frame = read_frames(out)[0]
    assert frame.shape == (SIZE[1], SIZE[0], 3)
    assert _close(frame[30 + 10, 40 + 20], snout, 40)
    cropped = labeled_video_file(
        config, video, h5, h5.parent / "c.mp4", LabeledVideoOptions(displaycropped=True)
    )
    frames = read_frames(cropped)
    assert len(frames) == N and frames[0].shape == (100, 120, 3)
    assert _close(frames[0][30, 40], snout, 40)


def test_keypoints_only_trail_and_confidence_alpha(setup: tuple[Path, Path, np.ndarray]) -> None:
    config, video, data = setup
    data[:, 2, 2] = 0.61  # the right ear barely above pcutoff: nearly transparent
    h5 = _write_pose(video, data)
    snout, _, rightear, _ = colors_bgr(4, "rainbow")
    out = labeled_video_file(
        config,
        video,
        h5,
        h5.parent / "k.mp4",
        LabeledVideoOptions(keypoints_only=True, trailpoints=2),
    )
    frame = read_frames(out)[4]
    assert _close(frame[100, 10], (0, 0, 0), 12)  # black background
    assert _close(frame[30, 80], snout, 40)
    assert frame[30, 70].mean() > 40 and frame[30, 60].mean() > 40  # the two trail points
    assert _close(frame[30, 50], (0, 0, 0), 15)  # three frames back: no trail

    out = labeled_video_file(
        config, video, h5, h5.parent / "a.mp4", LabeledVideoOptions(confidence_to_alpha=True)
    )
    frame, src = read_frames(out)[0], read_frames(video)[0]
    assert _close(frame[60, 80], src[60, 80], 20)  # alpha (0.61 - 0.6) / 0.4: invisible
    assert confidence_alpha(0.6)(0.8) == pytest.approx(0.5)
    assert confidence_alpha(0.6)(0.3) == 0.0


def test_short_video_saved_frames_and_frame_rate(tmp_path: Path) -> None:
    video = demo.make_video(tmp_path / "data" / "tiny.mp4", nframes=6, size=(64, 48), seed=2)
    config = Path(create_new_project("demo", "me", [video], tmp_path, bodyparts=PARTS))
    data = np.tile([20.0, 20.0, 0.9], (6, 4, 1))
    data[:, 3] = np.nan  # an all-NaN body part
    h5 = Project.analysis_output(video, SCORER)
    write_analysis(data.reshape(6, -1), SCORER, PARTS, h5, {"cropping": False}, False)
    (out,) = create_labeled_video(config, [video], save_frames=True, outputframerate=10)
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 6 and cap.get(cv2.CAP_PROP_FPS) == 10
    cap.release()
    saved = sorted(p.name for p in (video.parent / "temp-tiny").iterdir())
    assert saved == [f"file{i}.png" for i in range(6)]
    with VideoReader(out) as reader:
        assert reader.frame_size == (64, 48)


def test_cli_plots_and_labeled_video(
    setup: tuple[Path, Path, np.ndarray], capsys: pytest.CaptureFixture
) -> None:
    config, video, _ = setup
    assert main(["plot-trajectories", str(config), str(video)]) == 0
    assert (video.parent / "plot-poses" / "mouse1" / "hist.png").is_file()
    assert main(["labeled-video", str(config), str(video), "--trailpoints", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith(f"mouse1{SCORER}_labeled.mp4")
    meta = Project.analysis_output(video, SCORER, suffix="_meta.pickle")
    assert pickle.loads(meta.read_bytes())["data"]["cropping"] is False
