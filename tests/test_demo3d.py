"""dlcflow.devtools.demo3d and the `demo_3d` target: a mouse in 3D seen by three cameras,
its truth, the projects, the 3D workflow's file lists and the report."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from conftest import snakemake_workdir

from dlcflow.core.video import video_info
from dlcflow.data.cameras import Camera, CameraGroup
from dlcflow.devtools import demo3d
from dlcflow.devtools.demo import BODYPARTS, COLORS, read_groundtruth
from dlcflow.devtools.demo3dreport import (
    align_to_truth,
    calibration_errors,
    pose_errors_3d,
    rigid_fit,
)
from dlcflow.devtools.demos import Demo, demos
from dlcflow.geometry.boards import Checkerboard
from dlcflow.io.calibration import read_calibration_toml
from dlcflow.io.poses3d import read_poses_3d, save_poses_3d
from dlcflow.io.tables import to_dataset
from dlcflow.project.paths import Project
from dlcflow.project.project3d import Project3D
from dlcflow.workflow import threed as wf3d
from dlcflow.workflow.settings import settings

REPO = Path(__file__).resolve().parents[1]
SMALL_DEMO_3D = yaml.safe_load(Path(__file__).with_name("small-demo-3d.yaml").read_text())
NFRAMES = 20


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    """outdir, the 2D config and the two 3D configs of a small 3D demo."""
    out = tmp_path_factory.mktemp("demo3d")
    config, three, two = demo3d.make_3d_demo_project(
        out, n_recordings=1, nframes=NFRAMES, numframes2pick=4, seed=2, n_calibration_images=6
    )
    return out, config, three, two


def _points_3d(h5: Path) -> np.ndarray:
    pos = to_dataset(read_poses_3d(h5))["position"].sel(keypoints=list(BODYPARTS))
    return pos.values[..., 0].transpose(0, 2, 1)  # frames, parts, xyz


def test_truth_projects_onto_the_2d_groundtruth(made) -> None:
    out, *_ = made
    data = out / "data"
    rig, meta = read_calibration_toml(demo3d.true_calibration_path(out))
    assert rig.names == list(demo3d.CAMERA_NAMES)
    expected = demo3d.make_rig(2)
    for cam in rig:
        want = expected[cam.name]
        assert np.allclose(cam.matrix, want.matrix) and np.allclose(cam.dist, want.dist)
        assert np.allclose(cam.rvec, want.rvec) and np.allclose(cam.tvec, want.tvec)
    focals = [cam.focal[0] for cam in rig]
    assert min(focals) > 480 and max(focals) < 820 and len(set(np.round(focals))) == 3
    assert all(-0.16 < cam.dist[0] < -0.04 for cam in rig)
    truth = _points_3d(Project3D.groundtruth_3d(data, "rec1"))
    assert truth.shape == (NFRAMES, len(BODYPARTS), 3)
    assert (truth[..., 2] > 0).all()  # above the floor
    for cam in rig:
        video = data / demo3d.video_name("rec1", cam.name)
        info = video_info(video)
        assert (info.nframes, info.width, info.height) == (NFRAMES, 320, 240)
        gt = read_groundtruth(video).to_numpy().reshape(NFRAMES, len(BODYPARTS), 2)
        assert np.allclose(cam.project(truth), gt, atol=1e-6)
        assert ((gt >= 0) & (gt < [320, 240])).all()  # in view


def test_parts_are_drawn_where_they_project() -> None:
    rig = demo3d.make_rig(0)
    mouse = demo3d.simulate_3d(30, seed=4)
    floor = np.full((240, 320, 3), 128, np.uint8)
    for cam in rig:
        px = cam.project(mouse.keypoints())
        for i in (0, 15, 29):
            img = demo3d.render_view(cam, mouse, i, floor, noise=False)
            for j, bp in enumerate(("snout", "leftear", "rightear")):
                x, y = np.round(px[i, j]).astype(int)
                assert np.abs(img[y, x].astype(int) - COLORS[bp]).max() < 40, (cam.name, i, bp)


def test_the_mouse_rears_so_depth_varies() -> None:
    mouse = demo3d.simulate_3d(600, seed=0)
    snout_z = mouse.points["snout"][:, 2]
    assert snout_z.min() < 15 and snout_z.max() > 35  # on all fours and rearing
    xy = mouse.points["center"][:, :2]
    assert np.abs(xy).max() < 50 and np.ptp(xy, axis=0).min() > 20  # it walks about
    assert np.all(mouse.tail[..., 2] >= 1.0)


def test_calibration_images_are_synchronized_and_detectable(made) -> None:
    _, _, three, two = made
    p3d, p2 = Project3D(three), Project3D(two)
    names = {
        cam: [p.name[len(cam) :] for p in p3d.calibration_images(cam)] for cam in p3d.camera_names
    }
    assert names["camera-1"] == [f"-{k:02d}.jpg" for k in range(1, 7)]
    assert names["camera-1"] == names["camera-2"] == names["camera-3"]
    board = Checkerboard(7, 6, 10.0)
    for cam in p3d.camera_names:
        found = 0
        for path in p3d.calibration_images(cam):
            gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            assert gray.shape == (240, 320)
            found += board.detect(gray) is not None
        assert found >= 4, cam  # small boards in JPEGs: now and then one is missed
    assert p2.camera_names == ["camera-1", "camera-2"]
    assert [p.name for p in p2.calibration_images("camera-2")] == [
        p.name for p in p3d.calibration_images("camera-2")
    ]
    assert p2.calibration_images("camera-3") == []


def test_projects_point_at_one_2d_project(made) -> None:
    _, config, three, _ = made
    p3d = Project3D(three)
    assert {p3d.camera_config(c) for c in p3d.camera_names} == {config}
    assert p3d.skeleton and p3d.pcutoff == pytest.approx(0.4)
    project = Project(config)
    assert project.bodyparts == list(BODYPARTS)
    assert project.video_stems() == [f"rec1-{c}" for c in demo3d.CAMERA_NAMES]


def test_workflow_views_and_targets(made) -> None:
    out, config, three, _ = made
    wf_config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    wf_config["demo_3d"]["outdir"] = str(out)
    st = settings(wf_config, demo="demo_3d")
    p3d = Project3D(three)
    found = wf3d.views(p3d, lambda project: st)
    assert list(found) == ["rec1"]
    project = Project(config)
    assert [v.camera for v in found["rec1"]] == p3d.camera_names
    for view in found["rec1"]:
        assert view.video == project.root / "videos" / f"rec1-{view.camera}.mp4"
        assert view.poses.parent == view.video.parent
        assert view.poses.name.startswith(f"rec1-{view.camera}DLC_mobnet_35_")
        assert view.poses.name.endswith(f"shuffle1_{st.maxiters}.h5")
    h5 = p3d.triangulation_dir / "rec1_DLC_3D.h5"
    assert wf3d.stage_targets_3d(p3d, "triangulate", lambda p: st) == [str(h5)]
    assert wf3d.stage_targets_3d(p3d, "calibrate", lambda p: st) == [str(p3d.calibration_file)]
    inputs = wf3d.triangulation_inputs(p3d, lambda p: st, "rec1_DLC_3D")
    assert inputs["poses"] == [str(v.poses) for v in found["rec1"]]
    with pytest.raises(ValueError, match="no recording"):
        wf3d.triangulation_inputs(p3d, lambda p: st, "rec9_DLC_3D")
    assert len(wf3d.calibration_inputs(p3d)) == 18


def test_demo_3d_names_and_folders(tmp_path: Path) -> None:
    wf_config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    all_demos = demos(wf_config)
    d3 = all_demos["demo_3d"]
    assert d3.threed and not d3.refines and all_demos["demo"].refines
    labeled, heldout = Demo("demo_3d", tmp_path, 2, 0).stems()
    assert labeled[:3] == ["rec1-camera-1", "rec1-camera-2", "rec1-camera-3"]
    assert len(labeled) == 6 and heldout == []
    wf_config["demo_3d"]["outdir"] = wf_config["demo"]["outdir"] + "/inner"
    with pytest.raises(ValueError, match="overlap"):
        demos(wf_config)


def test_report_moves_the_calibrated_world_onto_the_truth(made, tmp_path: Path) -> None:
    out, _, three, _ = made
    true, _ = read_calibration_toml(demo3d.true_calibration_path(out))
    # the same rig in camera-1's frame, as a calibration gives it: X_c1 = R1 X + t1
    r1, t1 = true["camera-1"].rotation, true["camera-1"].tvec
    cams = []
    for cam in true:
        rot = cam.rotation @ r1.T
        cams.append(
            Camera(
                cam.name, cam.size, cam.matrix, cam.dist, cv2.Rodrigues(rot)[0], cam.tvec - rot @ t1
            )
        )
    calibrated = CameraGroup(tuple(cams))
    assert np.allclose(calibrated["camera-1"].rvec, 0) and np.allclose(
        calibrated["camera-1"].tvec, 0
    )
    # the rigid motion fit on the truth's points seen from camera 1 is camera 1's pose
    p3d = Project3D(three)
    truth = to_dataset(read_poses_3d(Project3D.groundtruth_3d(out / "data", "rec1")))
    world = truth["position"].values.transpose(0, 3, 2, 1)  # time, individuals, parts, xyz
    in_c1 = world @ r1.T + t1
    motion = rigid_fit(in_c1.reshape(-1, 3), world.reshape(-1, 3))
    assert np.allclose(motion[0], r1.T) and np.allclose(align_to_truth(in_c1, motion), world)
    errs = calibration_errors(calibrated, true, motion)
    assert all(e["focal_err_pct"] < 1e-9 and e["position_err_mm"] < 1e-6 for e in errs.values())
    moved = truth.copy(deep=True)
    moved["position"].values[:] = (in_c1 + r1[:, 0] * 3.0).transpose(0, 3, 2, 1)  # 3 mm along x
    h5 = tmp_path / "rec1_DLC_3D.h5"
    save_poses_3d(moved, h5)
    stats = pose_errors_3d([h5], p3d, motion, out / "data")
    assert stats["mean_mm"] == pytest.approx(3.0) and stats["within_5mm_pct"] == 100.0
    assert stats["triangulated_pct"] == 100.0


def _snakemake(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "-s", str(REPO / "Snakefile")]
    return subprocess.run(
        [*cmd, *args], cwd=snakemake_workdir(), capture_output=True, text=True, check=False
    )


_ROW = re.compile(r"^(camera-\d)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)", re.M)


def test_demo_3d_end_to_end(tmp_path: Path) -> None:
    """Render, label, train (a few iterations), analyze every view, calibrate, triangulate
    with 3 and 2 cameras, report."""
    cfg = tmp_path / "demo3d.yaml"
    outdir = tmp_path / "demo3d"
    cfg.write_text(yaml.safe_dump({"demo_3d": {**SMALL_DEMO_3D, "outdir": str(outdir)}}))
    run = _snakemake("demo_3d", "--configfile", str(cfg))
    assert run.returncode == 0, run.stderr[-3000:]
    report = (outdir / "report.txt").read_text()
    rows = _ROW.findall(report)
    assert [r[0] for r in rows] == list(demo3d.CAMERA_NAMES)
    for _, f_true, f_cal, f_err, pp_err in rows:
        assert abs(float(f_cal) - float(f_true)) / float(f_true) < 0.01
        assert float(f_err) < 1.0 and float(pp_err) < 15.0
    positions = re.findall(r"^camera-\d(?:\s+[-\d.]+){6}\s+([\d.]+)\s+([\d.]+|nan)$", report, re.M)
    assert len(positions) == 3
    assert all(float(mm) < 10.0 and float(px) < 1.0 for mm, px in positions)  # mm, board px
    three_d = re.findall(r"^([23])\s+1\s+(\d+)\s+([\d.]+)\s+([\d.]+|nan)", report, re.M)
    assert [r[0] for r in three_d] == ["3", "2"]
    assert all(int(r[1]) == SMALL_DEMO_3D["nframes"] * len(BODYPARTS) for r in three_d)
    oracle = re.findall(r"^([23]) \(2D truth\)\s+1\s+\d+\s+([\d.]+)\s+([\d.]+)", report, re.M)
    assert [r[0] for r in oracle] == ["3", "2"]
    # the calibration alone: the 2D ground truth triangulates onto the 3D truth within 1 mm
    assert all(float(r[1]) == 100.0 and float(r[2]) < 1.0 for r in oracle), report
    p3d = Project3D(outdir.glob("*-3d/config.yaml").__next__())
    assert (p3d.triangulation_dir / "rec1_DLC_3D.h5").is_file()
    again = _snakemake("demo_3d", "-n", "--configfile", str(cfg))
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_user_3d_targets(made) -> None:
    _, _, three, _ = made
    run = _snakemake("-n", "calibrate", "--config", f"project3d={three}")
    assert run.returncode == 0, run.stderr[-2000:]
    assert re.search(r"^calibrate_cameras\s+1$", run.stdout, re.M), run.stdout[-2000:]
    missing = _snakemake("-n", "triangulate")
    assert missing.returncode != 0
    assert "no 3D project set" in missing.stdout + missing.stderr
    assert "Traceback" not in missing.stderr
