"""dlcflow.devtools.demo: synthetic videos with exact ground truth, the demo project, the oracle."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from videoframes import read_frames

from dlcflow.core.video import video_info
from dlcflow.devtools import demo
from dlcflow.labeling.frames import extract_frames
from dlcflow.project.config import read_config, write_config
from dlcflow.project.paths import Project, frame_name

PALETTE_NAMES = [*demo.BODYPARTS, "body", "head"]
PALETTE = np.array([demo.COLORS[n] for n in PALETTE_NAMES], float)


def _clear_of_occluder(scene: demo.Scene, i: int, j: int, margin: float) -> bool:
    poly = scene.occluders[i]
    if poly is None:
        return True
    contour = poly.astype(np.float32).reshape(-1, 1, 2)
    x, y = (float(v) for v in scene.keypoints[i, j])
    return cv2.pointPolygonTest(contour, (x, y), True) < -margin


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo.make_video(tmp_path_factory.mktemp("video") / "mouse.mp4", nframes=60, seed=3)


def test_video_has_requested_frames_and_size(video: Path) -> None:
    info = video_info(video)
    assert (info.nframes, info.width, info.height) == (60, 320, 240)
    assert info.fps == pytest.approx(30)
    assert len(read_frames(video)) == 60
    assert demo.groundtruth_path(video) == video.with_name("mouse_groundtruth.h5")


def test_groundtruth_table_layout(video: Path) -> None:
    gt = demo.read_groundtruth(video)
    assert gt.equals(demo.read_groundtruth(demo.groundtruth_path(video)))
    assert gt.shape == (60, 2 * len(demo.BODYPARTS))
    assert list(gt.columns.names) == ["scorer", "bodyparts", "coords"]
    assert list(gt.columns) == [("groundtruth", bp, c) for bp in demo.BODYPARTS for c in ("x", "y")]
    assert list(gt.index) == list(range(60))
    assert (gt.dtypes == "float64").all()
    with pd.HDFStore(demo.groundtruth_path(video), mode="r") as store:
        assert store.keys() == ["/df_with_missing"]


def test_groundtruth_is_nan_exactly_where_occluded() -> None:
    scene = demo.simulate(60, seed=3)
    gt = scene.groundtruth().to_numpy().reshape(60, len(demo.BODYPARTS), 2)
    hidden = ~scene.visible
    assert 0 < hidden.sum() < hidden.size // 2
    assert np.array_equal(np.isnan(gt).all(-1), hidden)
    assert np.array_equal(np.isnan(gt).any(-1), hidden)
    # a hidden keypoint lies under the occluder: its pixel is occluder-coloured
    occluder = np.array([demo.COLORS["occluder"], demo.COLORS["occluder_inner"]])
    for i, j in zip(*np.nonzero(hidden), strict=True):
        if not _clear_of_occluder(scene, i, j, -2.0):  # 2 px inside the edge
            x, y = np.round(scene.keypoints[i, j]).astype(int)
            pixel = demo.render_frame(scene, i, noise=False)[y, x].astype(int)
            assert np.abs(occluder - pixel).max(1).min() <= 16, pixel


def test_animal_stays_inside_the_frame() -> None:
    for seed in range(4):
        scene = demo.simulate(300, size=(320, 240), seed=seed)
        xy = scene.keypoints
        assert xy[..., 0].min() > 10 and xy[..., 0].max() < 310
        assert xy[..., 1].min() > 10 and xy[..., 1].max() < 230
        length = np.linalg.norm(xy[:, 0] - xy[:, 3], axis=-1)  # snout to tail base
        assert length.min() > 38 and length.max() < 62
        step = np.linalg.norm(np.diff(scene.center, axis=0), axis=-1)
        assert step.max() < 8 and step.mean() > 0.3  # moves, smoothly


def test_parts_are_drawn_at_their_subpixel_positions() -> None:
    """The centroid of each nose/ear disc is its ground truth, to a fraction of a pixel."""
    scene = demo.simulate(60, seed=3)
    errors = []
    for i in range(0, 60, 2):
        img = demo.render_frame(scene, i, noise=False).astype(float)
        yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
        for j, bp in enumerate(demo.BODYPARTS[:3]):  # nose and ear discs
            if not _clear_of_occluder(scene, i, j, 8.0):
                continue
            x, y = scene.keypoints[i, j]
            near = (xx - x) ** 2 + (yy - y) ** 2 < 6**2
            match = near & (np.abs(img - demo.COLORS[bp]).max(-1) < 50)
            assert match.sum() >= 9, (i, bp)
            errors.append(max(abs(xx[match].mean() - x), abs(yy[match].mean() - y)))
    assert len(errors) > 40
    assert max(errors) < 0.35 and np.median(errors) < 0.15


def test_video_pixels_at_groundtruth_have_the_part_colour(video: Path) -> None:
    scene = demo.simulate(60, seed=3)
    gt = demo.read_groundtruth(video).to_numpy().reshape(60, len(demo.BODYPARTS), 2)
    assert np.array_equal(np.isnan(gt).any(-1), ~scene.visible)
    checked = 0
    for i, frame in enumerate(read_frames(video)):
        for j, bp in enumerate(demo.BODYPARTS):
            if np.isnan(gt[i, j]).any() or not _clear_of_occluder(scene, i, j, 4.0):
                continue
            x, y = np.round(gt[i, j]).astype(int)
            nearest = np.argmin(((PALETTE - frame[y, x]) ** 2).sum(1))
            assert PALETTE_NAMES[nearest] == bp, (i, bp, frame[y, x])
            checked += 1
    assert checked > 60


def test_same_seed_same_video_other_seed_other_video(tmp_path: Path, video: Path) -> None:
    again = demo.make_video(tmp_path / "a" / "mouse.mp4", nframes=60, seed=3)
    other = demo.make_video(tmp_path / "b" / "mouse.mp4", nframes=60, seed=4)
    assert demo.read_groundtruth(again).equals(demo.read_groundtruth(video))
    assert all(
        np.array_equal(a, b) for a, b in zip(read_frames(again), read_frames(video), strict=True)
    )
    assert not np.allclose(
        demo.read_groundtruth(other).to_numpy(),
        demo.read_groundtruth(video).to_numpy(),
        equal_nan=True,
    )
    assert not [p.name for p in again.parent.iterdir() if p.name.startswith(".")]


def test_make_demo_data_names_and_seeds(tmp_path: Path) -> None:
    videos = demo.make_demo_data(tmp_path, n_videos=2, nframes=12, size=(160, 120))
    assert [v.name for v in videos] == ["mouse1.mp4", "mouse2.mp4"]
    assert all(demo.groundtruth_path(v).is_file() for v in videos)
    assert video_info(videos[0]).width == 160
    gts = [demo.read_groundtruth(v) for v in videos]
    assert not np.allclose(gts[0].to_numpy(), gts[1].to_numpy(), equal_nan=True)


def test_read_groundtruth_errors(tmp_path: Path) -> None:
    with pytest.raises(demo.DemoError, match="mouse_groundtruth.h5: ground truth file not found"):
        demo.read_groundtruth(tmp_path / "mouse.mp4")
    with pytest.raises(demo.DemoError, match="too small"):
        demo.simulate(5, size=(32, 24))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A one-video demo project (60 frames) with 8 frames extracted."""
    config = demo.make_demo_project(tmp_path, n_videos=1, nframes=60, numframes2pick=8, seed=1)
    extract_frames(config, algo="uniform")
    return config


def test_make_demo_project_config(project: Path) -> None:
    cfg = read_config(project)
    assert cfg["Task"] == "demo" and cfg["scorer"] == "oracle"
    assert list(cfg["bodyparts"]) == list(demo.BODYPARTS)
    assert [list(b) for b in cfg["skeleton"]] == demo.SKELETON
    assert cfg["numframes2pick"] == 8
    video = Path(next(iter(cfg["video_sets"])))
    assert video.name == "mouse1.mp4" and video.parent == project.parents[1] / "data"
    assert (project.parent / "videos" / "mouse1.mp4").exists()


def test_oracle_labels_equal_groundtruth(project: Path) -> None:
    proj = Project(project)
    folder = proj.labeled_folder("mouse1")
    gt = demo.read_groundtruth(Path(next(iter(proj.video_sets))))
    # add a frame in which a part is hidden: the oracle leaves it unlabeled
    hidden = int(np.nonzero(gt.isna().any(axis=1).to_numpy())[0][0])
    shutil.copy(next(folder.glob("img*.png")), folder / frame_name(hidden, 60))
    written = demo.oracle_label_project(project)
    assert written == [proj.collected_data("mouse1")]
    assert proj.collected_data("mouse1", "csv").is_file()
    df = pd.read_hdf(written[0])
    names = sorted(p.name for p in folder.glob("img*.png"))
    assert list(df.index) == [("labeled-data", "mouse1", n) for n in names]
    assert list(df.columns) == [("oracle", bp, c) for bp in demo.BODYPARTS for c in ("x", "y")]
    indices = [int(n[3:-4]) for n in names]
    expected = gt.loc[indices].to_numpy()
    assert np.array_equal(df.to_numpy(), expected, equal_nan=True)
    assert df.loc[("labeled-data", "mouse1", frame_name(hidden, 60))].isna().any()


def test_oracle_labels_cropped_frames_relative_to_the_crop(tmp_path: Path) -> None:
    config = demo.make_demo_project(tmp_path, n_videos=1, nframes=30, numframes2pick=4)
    cfg = read_config(config)
    key = next(iter(cfg["video_sets"]))
    cfg["video_sets"][key]["crop"] = "5, 315, 8, 236"
    write_config(config, cfg)
    extract_frames(config, algo="uniform", crop=True)
    df = pd.read_hdf(demo.oracle_label(config, "mouse1"))
    indices = [int(row[2][3:-4]) for row in df.index]
    gt = demo.read_groundtruth(Path(key)).loc[indices].to_numpy()
    assert np.allclose(df.to_numpy(), gt - np.tile([5.0, 8.0], 4), equal_nan=True)


def test_oracle_errors(project: Path, tmp_path: Path) -> None:
    proj = Project(project)
    gt = demo.groundtruth_path(Path(next(iter(proj.video_sets))))
    gt.unlink()
    with pytest.raises(demo.DemoError) as err:
        demo.oracle_label(project, "mouse1")
    assert str(gt) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(demo.DemoError, match="no extracted frames"):
        demo.oracle_label(project, "nosuchvideo", groundtruth=tmp_path / "x.h5")
    assert not proj.collected_data("mouse1").exists()
