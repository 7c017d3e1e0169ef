"""The 3D outputs: the labeled 3D video (views + 3D panel, streamed) and the 3D trajectory
plot, on a tiny 3D project with two synthetic camera videos, their 2D poses (the 3D
points projected through known cameras) and the 3D file with its ``_meta.pickle``."""

from __future__ import annotations

import pickle
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from videoframes import read_frames

import dlcflow
from dlcflow.cli.main import main
from dlcflow.core.draw import PlotError, get_cmap
from dlcflow.core.video import VideoWriter
from dlcflow.data.cameras import Camera
from dlcflow.data.pose import make_poses
from dlcflow.io.poses import save_poses
from dlcflow.io.poses3d import save_poses_3d
from dlcflow.plots.labeled3d import axis_limits, render_labeled_video_3d
from dlcflow.plots.trajectories3d import plot_trajectories_3d as plot_file
from dlcflow.project.config import write_config
from dlcflow.project.project3d import Project3D, create_new_project_3d
from dlcflow.threed.labeled import (
    Labeled3DError,
    create_labeled_video_3d,
    plot_trajectories_3d,
    pose_files_2d,
    view_videos,
)

SIZE = (160, 120)  # width, height of each view
NFRAMES = 30
BODYPARTS = ["snout", "ear", "tail"]
SCORER = "DLC_resnet50_rigJan1shuffle1_1000"
BACKGROUND = 40  # grey level of the synthetic frames
DOTSIZE = 400  # marker area (pt²): discs about 8 px across at 120 px high
K = np.array([[120.0, 0, 80], [0, 120.0, 60], [0, 0, 1]])
CAMERAS = [
    Camera("camera-1", SIZE, K, tvec=(0, 0, 10)),
    Camera("camera-2", SIZE, K, rvec=(0, np.deg2rad(25), 0), tvec=(0, 0, 10)),
]
LOW = (5, 0)  # (frame, body part) under pcutoff in camera-1's 2D poses
NAN_3D = (7, 1)  # (frame, body part) with no 3D point


def _trajectory(n: int, offset: float = 0.0) -> np.ndarray:
    """(n, parts, 3): three points on a slowly turning bar near the origin."""
    t = np.linspace(0, np.pi, n)[:, None]
    along = np.array([-1.5, 0.0, 1.5])[None, :]
    x = along * np.cos(t) + offset
    y = along * np.sin(t) * 0.5 - offset / 2
    z = 0.3 * np.sin(2 * t) + 0 * along
    return np.stack([x, y, z], axis=-1)


def _write_video(path: Path, n: int) -> Path:
    frame = np.full((SIZE[1], SIZE[0], 3), BACKGROUND, np.uint8)
    with VideoWriter(path, 30.0, SIZE) as writer:
        for _ in range(n):
            writer.write(frame)
    return path


def _rig(tmp_path: Path, multi: bool = False, nframes: int = NFRAMES) -> tuple[str, Path]:
    """A 3D project and ``rec-camera-1.mp4``, ``rec-camera-2.mp4``, their 2D poses and
    ``rec_DLC_3D.h5`` (+ ``_meta.pickle``) in ``videos/``; returns (config, 3D file)."""
    config = create_new_project_3d("rig", "me", working_directory=tmp_path)
    project = Project3D(config)
    cfg = project.cfg
    cfg["skeleton"] = [["snout", "ear"], ["ear", "tail"]]
    cfg["dotsize"] = DOTSIZE
    write_config(config, cfg)
    folder = tmp_path / "videos"
    folder.mkdir()
    animals = ["m1", "m2"] if multi else [None]
    world = np.stack(
        [_trajectory(nframes, 1.2 * i - 0.6 * (len(animals) - 1)) for i in range(len(animals))],
        axis=-1,
    )  # (T, parts, 3, animals)
    xyz = world.copy()
    xyz[NAN_3D[0], NAN_3D[1]] = np.nan
    individuals = ["m1", "m2"] if multi else None
    ds3 = make_poses(
        xyz.transpose(0, 2, 1, 3)[..., : len(animals)],
        None,
        keypoints=BODYPARTS,
        individuals=individuals,
        space=("x", "y", "z"),
        scorer="DLC_3D",
    )
    h5 = project.output_3d("rec", folder)
    save_poses_3d(ds3, h5)
    tracks = "_el" if multi else ""
    for cam in CAMERAS:
        video = _write_video(folder / f"rec-{cam.name}.mp4", nframes)
        pix = np.stack(
            [
                cam.project(world[..., a].reshape(-1, 3)).reshape(nframes, 3, 2)
                for a in range(len(animals))
            ],
            axis=-1,
        )  # (T, parts, 2, animals)
        conf = np.full((nframes, 3, len(animals)), 0.95)
        if cam.name == "camera-1":
            conf[LOW] = 0.1
        ds = make_poses(
            pix.transpose(0, 2, 1, 3),
            conf,
            keypoints=BODYPARTS,
            individuals=individuals,
            scorer=SCORER,
        )
        save_poses(ds, folder / f"{video.stem}{SCORER}{tracks}.h5")
    with Project3D.meta_3d(h5).open("wb") as fh:
        pickle.dump({"scorer_name": {c.name: SCORER for c in CAMERAS}}, fh)
    return config, h5


def _expected(color_rgba: np.ndarray, alpha: float = 0.8) -> np.ndarray:
    bgr = 255 * np.asarray(color_rgba[:3])[::-1]
    return BACKGROUND + (bgr - BACKGROUND) * alpha


def _patch(img: np.ndarray, xy: np.ndarray) -> np.ndarray:
    x, y = (int(round(v)) for v in xy)
    return img[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).mean(axis=0)


def test_labeled_video_3d(tmp_path: Path) -> None:
    config, h5 = _rig(tmp_path)
    (out,) = create_labeled_video_3d(config, h5.parent, start=2, end=22)
    assert dlcflow.create_labeled_video_3d is create_labeled_video_3d
    assert out == Project3D.labeled_video_3d(h5) and out.name == "rec_DLC_3D_labeled3d.mp4"
    frames = read_frames(out)
    assert len(frames) == 20  # end - start
    assert frames[0].shape == (SIZE[1], 2 * SIZE[0] + SIZE[1], 3)  # two views + a square 3D
    colors = get_cmap(3, "jet")  # the config's colormap, one colour per body part
    world = _trajectory(NFRAMES)
    for i, cam in enumerate(CAMERAS):
        for frame in (2, 10, 20):
            pix = cam.project(world[frame])
            img = frames[frame - 2][:, i * SIZE[0] : (i + 1) * SIZE[0]]
            for j in range(3):
                got = _patch(img, pix[j])
                assert np.abs(got - _expected(colors[j])).max() < 30, (cam.name, frame, j, got)
    # under pcutoff in camera-1: nothing drawn there; camera-2 still has it
    frame, part = LOW
    pix = CAMERAS[0].project(world[frame])[part]
    got = _patch(frames[frame - 2][:, : SIZE[0]], pix)
    assert np.abs(got - BACKGROUND).max() < 20 < 50 < np.abs(got - _expected(colors[part])).max()
    got = _patch(
        frames[frame - 2][:, SIZE[0] : 2 * SIZE[0]], CAMERAS[1].project(world[frame])[part]
    )
    assert np.abs(got - _expected(colors[part])).max() < 30

    # the 3D panel shows coloured points (not just the white axes and grid)
    def coloured(frame: int, j: int) -> int:
        panel = frames[frame - 2][:, 2 * SIZE[0] :].astype(int)
        white = 255 + (255 * colors[j][:3][::-1] - 255) * 0.8
        return int((np.abs(panel - white[None, None]).max(axis=2) < 40).sum())

    assert all(coloured(6, j) >= 4 for j in range(3)), [coloured(6, j) for j in range(3)]
    assert coloured(NAN_3D[0], NAN_3D[1]) == 0  # no 3D point there
    assert coloured(NAN_3D[0], 0) >= 4
    # a video newer than the 3D file is kept; overwrite redraws
    stamp = out.stat().st_mtime_ns
    assert create_labeled_video_3d(config, [h5], start=0, end=3) == [out]
    assert out.stat().st_mtime_ns == stamp and len(read_frames(out)) == 20
    create_labeled_video_3d(
        config, [h5], start=12, end=14, trailpoints=10, overwrite=True, draw_skeleton=False
    )
    frames = read_frames(out)
    assert len(frames) == 2
    # the trail: the snout 10 frames back (before start, as DLC draws it), fainter
    pix = CAMERAS[0].project(world[2])[0]
    assert np.abs(_patch(frames[0], pix) - _expected(colors[0], 0.6)).max() < 30


def test_missing_points_and_mismatched_lengths(tmp_path: Path) -> None:
    """NaN 2D and 3D points and all-NaN frames draw nothing and do not fail; a 2D file
    shorter than the 3D file cuts the video with a warning."""
    config, h5 = _rig(tmp_path)
    folder = h5.parent
    short = make_poses(
        np.full((12, 2, 3), np.nan), np.full((12, 3), np.nan), keypoints=BODYPARTS, scorer=SCORER
    )
    save_poses(short, folder / f"rec-camera-2{SCORER}.h5")
    out = tmp_path / "short.mp4"
    videos = [folder / f"rec-{c.name}.mp4" for c in CAMERAS]
    poses = [folder / f"rec-{c.name}{SCORER}.h5" for c in CAMERAS]
    with pytest.warns(UserWarning, match="12 frames of 2D poses but 30"):
        render_labeled_video_3d(videos, poses, h5, out, skeleton=[["snout", "ear"]], trailpoints=3)
    frames = read_frames(out)
    assert len(frames) == 12
    view2 = np.stack(frames)[:, :, SIZE[0] : 2 * SIZE[0]].astype(int)
    assert np.abs(view2 - BACKGROUND).max() < 12  # camera-2 has no points at all
    with (
        pytest.raises(PlotError, match="no frames to draw from start 12"),
        pytest.warns(UserWarning),
    ):
        render_labeled_video_3d(videos, poses, h5, out, start=12)
    assert len(read_frames(out)) == 12  # the failed call left the video as it was


def test_multi_animal(tmp_path: Path) -> None:
    config, h5 = _rig(tmp_path, multi=True)
    (out,) = create_labeled_video_3d(config, [h5], end=10, view=(30, -60))
    frames = read_frames(out)
    assert len(frames) == 10 and frames[0].shape == (SIZE[1], 2 * SIZE[0] + SIZE[1], 3)
    colors = get_cmap(2, "jet")  # one colour per animal
    cam = CAMERAS[0]
    img = frames[3][:, : SIZE[0]]
    for a, offset in enumerate((-0.6, 0.6)):
        pix = cam.project(_trajectory(NFRAMES, offset)[3])
        for j in (0, 2):
            got = _patch(img, pix[j])
            assert np.abs(got - _expected(colors[a])).max() < 30, (a, j, got)
    png = plot_trajectories_3d(config, h5.parent)[0]
    assert png == Project3D.trajectories_3d(h5)
    assert cv2.imread(str(png)) is not None


def test_trajectory_plot(tmp_path: Path) -> None:
    config, h5 = _rig(tmp_path)
    (png,) = plot_trajectories_3d(config, [h5])
    assert png.name == "rec_DLC_3D_trajectories3d.png"
    img = cv2.imread(str(png))
    assert img is not None and img.shape[0] > 300 and img.shape[1] > 600
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 20  # lines, not a blank image
    one = plot_file(h5, tmp_path / "snout.png", bodyparts=["snout"], view=(20, 30))
    assert cv2.imread(str(one)) is not None
    with pytest.raises(PlotError, match="nose"):
        plot_file(h5, tmp_path / "x.png", bodyparts=["nose"])


def test_axis_limits() -> None:
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(500, 4, 3)) * np.array([1.0, 2.0, 0.5]) + np.array([10, 0, -5])
    pts[::7, 1] = np.nan
    x, y, z = axis_limits(pts)
    spans = [b - a for a, b in (x, y, z)]
    assert np.allclose(spans, spans[0])  # equal scale
    assert abs((x[0] + x[1]) / 2 - 10) < 0.3 and abs((z[0] + z[1]) / 2 + 5) < 0.3
    ys = pts[..., 1][np.isfinite(pts[..., 1])]
    inside = np.mean((ys > y[0]) & (ys < y[1]))
    assert inside > 0.98
    assert axis_limits(pts, zlim=(0, 1))[2] == (0, 1)
    assert axis_limits(np.full((3, 2, 3), np.nan)) == ((-1, 1), (-1, 1), (-1, 1))
    with pytest.raises(PlotError, match="xlim"):
        axis_limits(pts, xlim=(2, 1))


def test_finds_views_without_metadata(tmp_path: Path) -> None:
    """No _meta.pickle: the one ``<video stem>DLC*.h5`` analysis of each view, the
    ``_filtered`` one first (DLC's order); several analyses are an error."""
    config, h5 = _rig(tmp_path)
    Project3D.meta_3d(h5).unlink()
    folder = h5.parent
    for cam in CAMERAS:
        shutil.copy(
            folder / f"rec-{cam.name}{SCORER}.h5", folder / f"rec-{cam.name}{SCORER}_filtered.h5"
        )
    project = Project3D(config)
    videos = view_videos(project, h5)
    assert list(videos) == ["camera-1", "camera-2"]
    found = pose_files_2d(h5, videos)
    assert [p.name for p in found] == [f"rec-{c.name}{SCORER}_filtered.h5" for c in CAMERAS]
    shutil.copy(folder / f"rec-camera-1{SCORER}.h5", folder / "rec-camera-1DLC_other.h5")
    with pytest.raises(Labeled3DError, match="several 2D analyses of rec-camera-1.mp4"):
        pose_files_2d(h5, videos)


def test_errors(tmp_path: Path) -> None:
    config, h5 = _rig(tmp_path)
    folder = h5.parent
    with pytest.raises(Labeled3DError, match="nope_DLC_3D.h5: 3D pose file not found"):
        create_labeled_video_3d(config, [folder / "nope_DLC_3D.h5"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(Labeled3DError, match=r"empty: no 3D pose files \(\*_DLC_3D.h5\)"):
        create_labeled_video_3d(config, empty)
    with pytest.raises(Labeled3DError, match="no video of camera 'camera-1'"):
        create_labeled_video_3d(config, h5, videofolder=empty)
    (folder / f"rec-camera-2{SCORER}.h5").unlink()
    with pytest.raises(
        Labeled3DError, match=f"no 2D poses of rec-camera-2.mp4 .rec-camera-2{SCORER}.h5"
    ):
        create_labeled_video_3d(config, h5)
    (folder / "rec-camera-2.mp4").unlink()
    with pytest.raises(
        Labeled3DError, match="rec_DLC_3D.h5: no video of camera 'camera-2' for recording 'rec'"
    ):
        create_labeled_video_3d(config, h5)
    other = folder / "rec_other.h5"
    shutil.copy(h5, other)
    with pytest.raises(Labeled3DError, match="not a 3D output of this project"):
        create_labeled_video_3d(config, other)
    assert not list(folder.glob("*.mp4.*")) and not list(folder.glob(".*"))  # no temp files
    assert not Project3D.labeled_video_3d(h5).exists()
    with pytest.raises(PlotError, match="trailpoints must be 0 or more"):
        render_labeled_video_3d([folder / "a.mp4"], [folder / "a.h5"], h5, "o.mp4", trailpoints=-1)
    with pytest.raises(PlotError, match="2 videos and 1 2D pose files"):
        render_labeled_video_3d([folder / "a.mp4"] * 2, [folder / "a.h5"], h5, tmp_path / "o.mp4")


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config, h5 = _rig(tmp_path)
    args = ["labeled-video-3d", config, str(h5.parent), "--start", "1", "--end", "6"]
    assert main([*args, "--view", "20", "45", "--no-skeleton", "--trailpoints", "1"]) == 0
    out = Project3D.labeled_video_3d(h5)
    assert capsys.readouterr().out.strip() == str(out)
    assert len(read_frames(out)) == 5
    assert main(["plot-trajectories-3d", config, str(h5)]) == 0
    assert capsys.readouterr().out.strip() == str(Project3D.trajectories_3d(h5))
    assert main(["labeled-video-3d", config, str(tmp_path / "none_DLC_3D.h5")]) == 1
    err = capsys.readouterr().err
    assert "none_DLC_3D.h5: 3D pose file not found" in err and len(err.strip().splitlines()) == 1


def test_warnings_are_single_lines(tmp_path: Path) -> None:
    """A video shorter than the poses cuts the labeled video, with one warning."""
    config, h5 = _rig(tmp_path)
    _write_video(h5.parent / "rec-camera-2.mp4", 8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (out,) = create_labeled_video_3d(config, h5)
    texts = [str(w.message) for w in caught]
    assert any("rec-camera-2.mp4: 8 video frames but 30 frames of poses" in t for t in texts)
    assert len(read_frames(out)) == 8


def test_views_of_different_sizes(tmp_path: Path) -> None:
    """A view twice as large: the other is scaled to its height, points with it; the 3D
    panel takes the width asked for, one more to make the frame's width even."""
    config, h5 = _rig(tmp_path)
    folder = h5.parent
    big = (2 * SIZE[0], 2 * SIZE[1])
    frame = np.full((big[1], big[0], 3), BACKGROUND, np.uint8)
    with VideoWriter(folder / "big.mp4", 30.0, big) as writer:
        for _ in range(NFRAMES):
            writer.write(frame)
    world = _trajectory(NFRAMES)
    cam = CAMERAS[1]
    pix = cam.project(world.reshape(-1, 3)).reshape(NFRAMES, 3, 2) * 2
    ds = make_poses(pix.transpose(0, 2, 1), np.full((NFRAMES, 3), 0.95), keypoints=BODYPARTS)
    save_poses(ds, folder / "big.h5")
    out = render_labeled_video_3d(
        [folder / "rec-camera-1.mp4", folder / "big.mp4"],
        [folder / f"rec-camera-1{SCORER}.h5", folder / "big.h5"],
        h5,
        tmp_path / "sizes.mp4",
        end=4,
        dotsize=DOTSIZE,
        panel_width=101,
    )
    frames = read_frames(out)
    height = big[1]
    width1 = round(SIZE[0] * height / SIZE[1])
    assert frames[0].shape == (height, width1 + big[0] + 102, 3)  # mp4: an even width
    colors = get_cmap(3, "jet")
    scale = height / SIZE[1]
    first = (CAMERAS[0].project(world[2]) + 0.5) * scale - 0.5
    second = pix[2]
    for j in range(3):
        assert np.abs(_patch(frames[2], first[j]) - _expected(colors[j])).max() < 30
        got = _patch(frames[2][:, width1:], second[j])
        assert np.abs(got - _expected(colors[j])).max() < 30
