"""Triangulation: DLT over N cameras, DLC's stereo method, RANSAC, trajectory optimisation,
cross-view matching of individuals, and the 3D files of ``triangulate`` / ``filter-3d``.

A known rig of three cameras with lens distortion looks at synthetic trajectories of a
rigid four-part body (limb lengths constant); its projections, with pixel noise, are the
2D pose files (DLC's layout, with the analysis metadata's frame size)."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import write_video

from dlcflow.cli.main import main
from dlcflow.data.cameras import Camera, CameraGroup
from dlcflow.data.pose import make_poses
from dlcflow.geometry.matching import match_individuals
from dlcflow.geometry.optimize import optimize_trajectory
from dlcflow.geometry.stereo import rectified_to_world, stereo_entry, world_to_rectified
from dlcflow.geometry.triangulate import (
    triangulate_points,
    triangulate_ransac,
    triangulate_stereo_dlc,
)
from dlcflow.io.calibration import STEREO_KEYS, write_calibration_toml, write_stereo_pickle
from dlcflow.io.poses import save_poses
from dlcflow.project.project3d import Project3D, create_new_project_3d
from dlcflow.threed.filter3d import filter_3d
from dlcflow.threed.triangulate import TriangulationError, triangulate, triangulate_files

SIZE = (640, 480)
NAMES = ["cam-A", "cam-B", "cam-C"]
PARTS = ["bodypart1", "bodypart2", "bodypart3", "bodypart4"]  # the 3D config's skeleton names
OFFSETS = np.array([[0.0, 0, 0], [40, 0, 0], [40, 30, 0], [40, 30, 25]])  # mm, rigid body


def _look_at(position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = -position / np.linalg.norm(position)
    x = np.cross([0.0, 0.0, 1.0], z)
    x /= np.linalg.norm(x)
    rot = np.stack([x, np.cross(z, x), z])
    return cv2.Rodrigues(rot)[0].ravel(), -rot @ position


def make_rig(n: int = 3) -> CameraGroup:
    positions = ([900.0, 0, 300], [0, 950, 400], [-800, -500, 350])
    dists = ([-0.15, 0.04, 0.001, -0.0005, 0], [-0.1, 0.02, 0, 0, 0], [0.05, -0.01, 0, 0.001, 0])
    cams = []
    for i in range(n):
        rvec, tvec = _look_at(np.asarray(positions[i]))
        k = np.array(
            [[820.0 + 20 * i, 0, 320 + 3 * i], [0, 815.0 + 10 * i, 240 - 2 * i], [0, 0, 1]]
        )
        cams.append(Camera(NAMES[i], SIZE, k, dists[i], rvec, tvec))
    return CameraGroup(tuple(cams))


def trajectory(n_frames: int = 120, shift: float = 0.0) -> np.ndarray:
    """``(T, K, 3)``: a rigid body moving smoothly (mm)."""
    t = np.arange(n_frames)
    centre = np.stack(
        [80 * np.sin(0.05 * t + shift), 60 * np.cos(0.04 * t + shift), 20 * np.sin(0.03 * t)], 1
    )
    angle = 0.02 * t + shift
    rot = np.zeros((n_frames, 3, 3))
    rot[:, 0, 0], rot[:, 0, 1] = np.cos(angle), -np.sin(angle)
    rot[:, 1, 0], rot[:, 1, 1] = np.sin(angle), np.cos(angle)
    rot[:, 2, 2] = 1
    return centre[:, None] + np.einsum("tij,kj->tki", rot, OFFSETS)


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.nanmean(np.sum((a - b) ** 2, axis=-1))))


# -- geometry ----------------------------------------------------------------------------------
def test_dlt_exact_batched_and_missing_views() -> None:
    rig = make_rig()
    rng = np.random.default_rng(0)
    truth = rng.normal(0, 60, (100_000, 3))
    px = rig.project(truth)
    px[1:, :10] = np.nan  # seen by camera A only
    px[2, 10:20] = np.nan  # by two cameras
    result = triangulate_points(rig, px)
    assert np.isnan(result.points[:10]).all() and (result.ncams[:10] == 1).all()
    assert np.isnan(result.error[:10]).all()
    assert (result.ncams[10:20] == 2).all() and (result.ncams[20:] == 3).all()
    assert np.abs(result.points[10:] - truth[10:]).max() < 1e-6  # mm
    assert np.nanmax(result.error) < 1e-6  # px
    mask = np.ones(px.shape[:2], bool)
    mask[0] = False  # camera A not used
    masked = triangulate_points(rig, px[:, 20:30], mask[:, 20:30])
    assert (masked.ncams == 2).all()
    assert np.abs(masked.points - truth[20:30]).max() < 1e-6


def test_three_cameras_beat_two_on_noisy_points() -> None:
    rig = make_rig()
    rng = np.random.default_rng(1)
    truth = rng.normal(0, 60, (5000, 3))
    px = rig.project(truth) + rng.normal(0, 1.0, (3, 5000, 2))
    three = triangulate_points(rig, px)
    two = triangulate_points(rig.subset(NAMES[:2]), px[:2])
    e3, e2 = rmse(three.points, truth), rmse(two.points, truth)
    print(f"1 px noise: RMSE 3 cameras {e3:.3f} mm, 2 cameras {e2:.3f} mm")
    assert e3 < 0.9 * e2
    assert 0.3 < np.median(three.error) < 1.5  # the noise, in px


def test_dlc_stereo_method_agrees_with_dlt() -> None:
    rig = make_rig()
    cam1, cam2 = rig.cameras[:2]
    entry = stereo_entry(cam1, cam2, alpha=0.4)
    assert set(STEREO_KEYS) <= set(entry)
    rng = np.random.default_rng(2)
    truth = rng.normal(0, 60, (2000, 3))
    px = rig.project(truth)[:2]
    dlc = triangulate_stereo_dlc(entry, px[0], px[1])
    ours = world_to_rectified(
        triangulate_points(rig.subset(NAMES[:2]), px).points, cam1, entry["R1"]
    )
    rel = np.abs(dlc - ours).max() / np.abs(ours).max()
    print(f"DLC stereo vs DLT, noise free: {rel:.2e} relative")
    assert rel < 1e-6
    assert np.abs(rectified_to_world(dlc, cam1, entry["R1"]) - truth).max() < 1e-3
    noisy = px + rng.normal(0, 1.0, px.shape)
    dlc = triangulate_stereo_dlc(entry, noisy[0], noisy[1])
    ours = world_to_rectified(
        triangulate_points(rig.subset(NAMES[:2]), noisy).points, cam1, entry["R1"]
    )
    diff, err = rmse(dlc, ours), rmse(ours, world_to_rectified(truth, cam1, entry["R1"]))
    print(f"DLC stereo vs DLT, 1 px noise: {diff:.3f} mm apart, DLT error {err:.3f} mm")
    assert diff < 0.2 * err


def test_ransac_rejects_an_outlier_view() -> None:
    rig = make_rig()
    rng = np.random.default_rng(3)
    truth = rng.normal(0, 60, (1000, 3))
    px = rig.project(truth) + rng.normal(0, 0.5, (3, 1000, 2))
    px[2, :400] += rng.normal(0, 40, (400, 2)) + 60  # camera C wrong on 400 points
    plain = triangulate_points(rig, px)
    robust = triangulate_ransac(rig, px, threshold_px=5.0)
    e_plain = np.linalg.norm(plain.points[:400] - truth[:400], axis=1)
    e_robust = np.linalg.norm(robust.points[:400] - truth[:400], axis=1)
    print(
        f"outlier view: median 3D error DLT {np.median(e_plain):.2f} mm, "
        f"RANSAC {np.median(e_robust):.2f} mm; RANSAC within 3 mm: {(e_robust < 3).mean():.1%}"
    )
    # with three cameras a wrong view that falls near another pair's epipolar line is
    # ambiguous (two pairs of two inliers each): a few points may pick the wrong pair
    assert np.median(e_robust) < 1.0 and np.median(e_plain) > 10.0
    assert (e_robust < 3).mean() > 0.97
    assert (robust.ncams[:400] == 2).mean() > 0.98
    assert (robust.ncams[400:] == 3).mean() > 0.98
    assert rmse(robust.points[400:], truth[400:]) <= 1.05 * rmse(plain.points[400:], truth[400:])


def test_optimisation_beats_dlt_on_noisy_trajectories() -> None:
    rig = make_rig()
    rng = np.random.default_rng(4)
    truth = trajectory(100)
    px = rig.project(truth) + rng.normal(0, 2.0, (3, *truth.shape[:2], 2))
    px[0, 30:40, 1] = np.nan  # gaps
    dlt = triangulate_points(rig, px).points
    limbs = [(0, 1), (1, 2), (2, 3)]
    refined = optimize_trajectory(rig, px, dlt, limbs)
    e_dlt, e_opt = rmse(dlt, truth), rmse(refined, truth)
    print(f"2 px noise: DLT {e_dlt:.3f} mm, optimised {e_opt:.3f} mm")
    assert e_opt < 0.8 * e_dlt
    lengths = np.linalg.norm(refined[:, 1] - refined[:, 0], axis=1)
    assert np.std(lengths) < np.std(np.linalg.norm(dlt[:, 1] - dlt[:, 0], axis=1))


def test_matching_individuals_across_views() -> None:
    rig = make_rig()
    rng = np.random.default_rng(5)
    bodies = np.stack([trajectory(60, s) + o for s, o in ((0, 0), (1.5, 70), (3.0, -70))], 1)
    px = rig.project(bodies) + rng.normal(0, 1.0, (3, *bodies.shape[:3], 2))
    px[1] = px[1][:, [2, 0, 1]]
    px[2] = px[2][:, [1, 2, 0]]
    px[2, 10:20, 0] = np.nan
    perms = match_individuals(rig, px)
    assert perms[0].tolist() == [0, 1, 2]
    assert perms[1].tolist() == [1, 2, 0]  # view B's individual 1 is view A's 0
    assert perms[2].tolist() == [2, 0, 1]


# -- files -------------------------------------------------------------------------------------
def write_pose_file(
    path: Path,
    pixels: np.ndarray,
    likelihood: np.ndarray,
    individuals: list[str] | None = None,
    parts: list[str] = PARTS,
    size: tuple[int, int] | None = SIZE,
    scorer: str = "DLC_resnet50_rigJan1shuffle1_1000",
) -> Path:
    """A DLC 2D pose file of pixels ``(T, [I,] K, 2)``."""
    if individuals is None:
        pos, conf = pixels.transpose(0, 2, 1), likelihood
    else:
        pos, conf = pixels.transpose(0, 3, 2, 1), likelihood.transpose(0, 2, 1)
    ds = make_poses(pos, conf, keypoints=parts, individuals=individuals, scorer=scorer)
    meta = None if size is None else {"frame_dimensions": (size[1], size[0]), "fps": 30.0}
    save_poses(ds, path, metadata=meta)
    return path


def make_project(tmp_path: Path, n: int = 3, toml: bool = True) -> tuple[Project3D, CameraGroup]:
    config = create_new_project_3d("rig", "me", n, tmp_path, camera_names=NAMES[:n])
    project = Project3D(config)
    rig = make_rig(n)
    if toml:
        write_calibration_toml(rig, project.calibration_file)
    return project, rig


def recording_files(
    folder: Path, rig: CameraGroup, n_frames: int = 80, noise: float = 1.0, seed: int = 6
) -> tuple[list[Path], np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = trajectory(n_frames)
    px = rig.project(truth) + rng.normal(0, noise, (len(rig), n_frames, len(PARTS), 2))
    like = np.full((n_frames, len(PARTS)), 0.95)
    files = [
        write_pose_file(
            folder / f"run1-{cam.name}DLC_resnet50_rigJan1shuffle1_1000.h5", px[i], like
        )
        for i, cam in enumerate(rig)
    ]
    return files, truth


def test_triangulate_files_outputs(tmp_path: Path) -> None:
    project, rig = make_project(tmp_path)
    files, truth = recording_files(tmp_path, rig)
    low = pd.read_hdf(files[2])  # camera C's bodypart2 under pcutoff in frames 0-9
    low.loc[0:9, (slice(None), "bodypart2", "likelihood")] = 0.1
    low.to_hdf(files[2], key="df_with_missing", format="table", mode="w")
    out = triangulate_files(project.config_path, files, save_as_csv=True)
    assert out == tmp_path / "run1_DLC_3D.h5"
    df = pd.read_hdf(out)  # no key, as DLC's readers call it: one table in the file
    with pd.HDFStore(out, mode="r") as store:
        assert store.keys() == ["/df_with_missing"]  # noqa: SIM118 (not a dict)
    two = tmp_path / "two.h5"  # why the quality goes to a file of its own
    df.to_hdf(two, key="df_with_missing")
    df.to_hdf(two, key="quality")
    with pytest.raises(ValueError, match="key"):
        pd.read_hdf(two)
    assert list(df.columns.names) == ["scorer", "bodyparts", "coords"]
    assert set(df.columns.get_level_values("scorer")) == {"DLC_3D"}
    assert list(df.columns.get_level_values("bodyparts").unique()) == PARTS
    assert list(df.columns.get_level_values("coords").unique()) == ["x", "y", "z"]
    points = df.to_numpy().reshape(len(df), len(PARTS), 3)
    error = rmse(points, truth)
    print(f"triangulate_files, 3 cameras, 1 px noise: RMSE {error:.3f} mm")
    assert error < 2.5  # 1 px is about 1.1 mm at the cameras' distance
    csv = pd.read_csv(out.with_suffix(".csv"), header=[0, 1, 2], index_col=0)
    assert np.allclose(csv.to_numpy(), df.to_numpy(), equal_nan=True)
    quality = pd.read_hdf(Project3D.quality_3d(out))
    assert list(quality.columns.names) == ["bodyparts", "quality"]
    assert quality.index.equals(df.index)
    ncams = quality.xs("ncams", axis=1, level="quality")
    assert (ncams.loc[0:9, "bodypart2"] == 2).all() and (ncams.loc[10:, "bodypart2"] == 3).all()
    err = quality.xs("error", axis=1, level="quality").to_numpy()
    print(f"median reprojection error {np.median(err):.2f} px")
    assert 0.3 < np.median(err) < 1.5
    with open(Project3D.meta_3d(out), "rb") as fh:
        meta = pickle.load(fh)
    assert set(meta) >= {"stereo_matrix", "stereo_matrix_file", "scorer_name"}
    assert meta["stereo_matrix_file"] == str(project.calibration_file)
    assert meta["scorer_name"] == dict.fromkeys(NAMES, "DLC_resnet50_rigJan1shuffle1_1000")
    assert set(STEREO_KEYS) <= set(meta["stereo_matrix"])
    # RANSAC and the optimisation through the same call
    opt = triangulate_files(project.config_path, files, tmp_path / "opt.h5", optimize=True)
    e_opt = rmse(pd.read_hdf(opt).to_numpy().reshape(len(df), len(PARTS), 3), truth)
    print(f"optimised: RMSE {e_opt:.3f} mm")
    assert e_opt < error
    rans = triangulate_files(project.config_path, files, tmp_path / "r.h5", ransac=True)
    assert rmse(pd.read_hdf(rans).to_numpy().reshape(len(df), len(PARTS), 3), truth) < 2.5


def test_filter_3d_drops_bad_points(tmp_path: Path) -> None:
    project, rig = make_project(tmp_path)
    files, truth = recording_files(tmp_path, rig, noise=0.5)
    bad = pd.read_hdf(files[1])
    bad.loc[[20, 50], (slice(None), "bodypart3", "x")] += 80  # two wrong detections
    bad.to_hdf(files[1], key="df_with_missing", format="table", mode="w")
    out = triangulate_files(project.config_path, files)
    raw = pd.read_hdf(out).to_numpy().reshape(-1, len(PARTS), 3)
    filtered = filter_3d(out, windowlength=5, max_error=10.0)
    assert filtered == Project3D.filtered_3d(out)
    df = pd.read_hdf(filtered)
    assert df.columns.equals(pd.read_hdf(out).columns)
    pts = df.to_numpy().reshape(-1, len(PARTS), 3)
    assert np.isfinite(pts).all()  # the dropped points are filled in
    e_raw = np.abs(raw[[20, 50], 2] - truth[[20, 50], 2]).max()
    e_filt = np.abs(pts[[20, 50], 2] - truth[[20, 50], 2]).max()
    print(f"filter_3d at the wrong detections: {e_raw:.1f} mm → {e_filt:.2f} mm")
    assert e_filt < 2.0 < e_raw


def test_cropped_analysis_moved_to_the_whole_frame(tmp_path: Path) -> None:
    project, rig = make_project(tmp_path)
    files, truth = recording_files(tmp_path, rig, n_frames=20, noise=0.0)
    df = pd.read_hdf(files[1])
    df.loc[:, (slice(None), slice(None), "x")] -= 100  # analyzed in the crop x 100-500
    df.loc[:, (slice(None), slice(None), "y")] -= 50  # y 50-450
    df.to_hdf(files[1], key="df_with_missing", format="table", mode="w")
    meta = {"frame_dimensions": (SIZE[1], SIZE[0]), "cropping": True,
            "cropping_parameters": [100, 500, 50, 450]}  # fmt: skip
    with open(str(files[1]).replace(".h5", "_meta.pickle"), "wb") as fh:
        pickle.dump({"data": meta}, fh)
    out = triangulate_files(project.config_path, files)
    points = pd.read_hdf(out).to_numpy().reshape(-1, len(PARTS), 3)
    assert np.abs(points - truth).max() < 1e-6


def test_stereo_pickle_gives_dlc_frame(tmp_path: Path) -> None:
    project, rig = make_project(tmp_path, n=2, toml=False)
    entry = stereo_entry(rig.cameras[0], rig.cameras[1])
    write_stereo_pickle(project.stereo_file, {f"{NAMES[0]}-{NAMES[1]}": entry})
    files, truth = recording_files(tmp_path, rig, noise=0.0)
    out = triangulate_files(project.config_path, files)
    points = pd.read_hdf(out).to_numpy().reshape(-1, len(PARTS), 3)
    px = rig.project(truth).reshape(2, -1, 2)
    dlc = triangulate_stereo_dlc(entry, px[0], px[1]).reshape(points.shape)
    assert np.abs(points - dlc).max() / np.abs(dlc).max() < 1e-5
    with open(Project3D.meta_3d(out), "rb") as fh:
        assert pickle.load(fh)["stereo_matrix_file"] == str(project.stereo_file)


def test_multi_animal_individuals_matched(tmp_path: Path) -> None:
    project, rig = make_project(tmp_path)
    rng = np.random.default_rng(7)
    names = ["mouse1", "mouse2"]
    bodies = np.stack([trajectory(50), trajectory(50, 2.0) + [0, 90, 10]], 1)  # T, I, K, 3
    px = rig.project(bodies) + rng.normal(0, 0.5, (3, *bodies.shape[:3], 2))
    like = np.full(bodies.shape[:3], 0.9)
    files = []
    for i, cam in enumerate(rig):
        view = px[i][:, ::-1] if i == 1 else px[i]  # camera B names them the other way
        files.append(write_pose_file(tmp_path / f"m-{cam.name}DLC_x_el.h5", view, like, names))
    out = triangulate_files(project.config_path, files)
    df = pd.read_hdf(out)
    assert list(df.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
    pts = df.to_numpy().reshape(len(df), 2, len(PARTS), 3)
    print(f"multi-animal: RMSE {rmse(pts, bodies):.3f} mm")
    assert rmse(pts, bodies) < 1.0
    quality = pd.read_hdf(Project3D.quality_3d(out))
    assert list(quality.columns.names) == ["individuals", "bodyparts", "quality"]


def test_triangulate_videos(tmp_path: Path, reaching_project: Path) -> None:
    project, rig = make_project(tmp_path)
    for cam in NAMES:
        project.cfg[f"config_file_{cam}"] = str(reaching_project)
    from dlcflow.project.config import write_config

    write_config(project.config_path, project.cfg)
    videos = tmp_path / "videos"
    videos.mkdir()
    files, truth = recording_files(videos, rig)
    for cam in NAMES:
        write_video(videos / f"run1-{cam}.avi", nframes=3, size=SIZE)
    outs = triangulate(project.config_path, str(videos), filterpredictions=True, save_as_csv=True)
    assert outs == [videos / "run1_DLC_3D.h5"]
    points = pd.read_hdf(outs[0]).to_numpy().reshape(-1, len(PARTS), 3)
    assert rmse(points, truth) < 2.5  # the median filter keeps a smooth trajectory
    assert all(Path(str(f).replace(".h5", "_filtered.h5")).is_file() for f in files)
    assert outs[0].with_suffix(".csv").is_file()
    # the CLI on the same files
    assert main(["triangulate", str(project.config_path), "--poses", *map(str, files),
                 "--out", str(tmp_path / "cli.h5"), "--ransac"]) == 0  # fmt: skip
    assert main(["filter-3d", str(tmp_path / "cli.h5"), "--max-error", "15"]) == 0
    assert (tmp_path / "cli_filtered.h5").is_file()
    with pytest.raises(TriangulationError, match="none of the camera names"):
        triangulate(project.config_path, [str(write_video(videos / "other.avi", nframes=2))])
    small = videos / "small"
    small.mkdir()
    for cam in NAMES:
        write_video(
            small / f"run2-{cam}.avi", nframes=2, size=(320, 240) if cam == "cam-B" else SIZE
        )
    with pytest.raises(TriangulationError, match=r"run2-cam-B\.avi: frames are 320×240 px"):
        triangulate(project.config_path, str(small))
    assert not list(small.glob("*.h5"))


def test_videos_without_pose_files_are_analyzed(
    tmp_path: Path, reaching_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No pose file beside a video: its camera's 2D project analyzes it (with the 3D
    config's shuffle and trainingsetindex of that camera), then it is filtered."""
    from dlcflow.project.config import write_config
    from dlcflow.threed import triangulate as module

    project, rig = make_project(tmp_path)
    for cam in NAMES:
        project.cfg[f"config_file_{cam}"] = str(reaching_project)
        project.cfg[f"shuffle_{cam}"] = 2
    write_config(project.config_path, project.cfg)
    videos, dest = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    truth = trajectory(40)
    px = rig.project(truth) + np.random.default_rng(8).normal(0, 0.5, (3, 40, len(PARTS), 2))
    calls = []

    def fake_analyze(config, found, shuffle=1, trainingsetindex=0, destfolder=None, **kw):
        (video,) = found
        calls.append((Path(config), Path(video).name, shuffle, trainingsetindex, destfolder))
        i = next(j for j, cam in enumerate(NAMES) if cam in Path(video).stem)
        scorer = "DLC_resnet50_fakeJan1shuffle2_10"
        out = Path(destfolder) / f"{Path(video).stem}{scorer}.h5"
        write_pose_file(out, px[i], np.full((40, len(PARTS)), 0.9), scorer=scorer)
        return scorer

    monkeypatch.setattr(module, "analyze_videos", fake_analyze)
    for cam in NAMES:
        write_video(videos / f"day1_{cam}_top.avi", nframes=2, size=SIZE)
    write_video(videos / f"day2_{NAMES[0]}_top.avi", nframes=2, size=SIZE)  # no partners
    with pytest.warns(UserWarning, match="day2_cam-A_top.avi: the other cameras"):
        (out,) = triangulate(project.config_path, [str(videos)], destfolder=dest)
    assert out == dest / "day1_top_DLC_3D.h5"
    assert [c[1] for c in calls] == [f"day1_{cam}_top.avi" for cam in NAMES]
    assert all(c[2] == 2 and c[3] == 0 and c[4] == dest for c in calls)
    assert len(list(dest.glob("*_filtered.h5"))) == 3  # filterpredictions=True by default
    with open(Project3D.meta_3d(out), "rb") as fh:
        scorers = pickle.load(fh)["scorer_name"]
    assert scorers == dict.fromkeys(NAMES, "DLC_resnet50_fakeJan1shuffle2_10")
    points = pd.read_hdf(out).to_numpy().reshape(-1, len(PARTS), 3)
    assert rmse(points, truth) < 2.5
    calls.clear()
    triangulate(
        project.config_path, [str(videos / f"day1_{c}_top.avi") for c in NAMES], destfolder=dest
    )
    assert calls == []  # analyzed, filtered and triangulated already: nothing redone


# -- bad input ---------------------------------------------------------------------------------
def _outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*_DLC_3D*"))


def test_bad_inputs(tmp_path: Path) -> None:
    project, rig = make_project(tmp_path)
    files, _ = recording_files(tmp_path, rig, n_frames=20)
    like = np.full((20, len(PARTS)), 0.9)
    px = rig.project(trajectory(20))
    cfg = project.config_path
    with pytest.raises(TriangulationError, match="2 pose files given for 3 cameras"):
        triangulate_files(cfg, files[:2])
    other = write_pose_file(tmp_path / "o.h5", px[2], like, parts=["a", "b", "c", "d"])
    with pytest.raises(TriangulationError, match=r"o\.h5: body parts"):
        triangulate_files(cfg, [*files[:2], other])
    small = write_pose_file(tmp_path / "s.h5", px[2], like, size=(320, 240))
    with pytest.raises(TriangulationError, match=r"s\.h5: frames are 320×240 px but camera cam-C"):
        triangulate_files(cfg, [*files[:2], small])
    dim = write_pose_file(tmp_path / "d.h5", px[2], np.full_like(like, 0.2))
    with pytest.raises(TriangulationError, match=r"d\.h5: no point with likelihood >= pcutoff"):
        triangulate_files(cfg, [*files[:2], dim])
    empty = write_pose_file(tmp_path / "e.h5", np.full_like(px[2], np.nan), like)
    with pytest.raises(TriangulationError, match=r"e\.h5: no point"):
        triangulate_files(cfg, [*files[:2], empty])
    assert _outputs(tmp_path) == []  # nothing half-written
    project.calibration_file.unlink()
    with pytest.raises(TriangulationError, match="camera_matrix: neither calibration.toml"):
        triangulate_files(cfg, files)
    assert _outputs(tmp_path) == []


def test_unequal_lengths_are_truncated(tmp_path: Path) -> None:
    project, rig = make_project(tmp_path)
    files, truth = recording_files(tmp_path, rig, n_frames=30)
    short = pd.read_hdf(files[1]).iloc[:25]
    short.to_hdf(files[1], key="df_with_missing", format="table", mode="w")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = triangulate_files(project.config_path, files)
    text = " ".join(str(w.message) for w in caught)
    assert files[1].name in text and "first 25" in text
    assert len(pd.read_hdf(out)) == 25
