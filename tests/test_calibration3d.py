"""3D camera calibration on rendered boards: a 3-camera rig of known intrinsics,
distortion and poses; DLC's files and Anipose's calibration.toml checked against truth."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from dlcflow.cli.main import main
from dlcflow.data.cameras import Camera, CameraGroup
from dlcflow.devtools.render3d import board_poses, camera_looking_at, render_board_image
from dlcflow.geometry.boards import Board, Checkerboard, Detection, make_board
from dlcflow.geometry.bundle import bundle_adjust, observations
from dlcflow.geometry.extrinsics import (
    align_symmetric,
    initial_board_poses,
    initial_extrinsics,
    solve_board_poses,
)
from dlcflow.geometry.triangulate import triangulate_points
from dlcflow.io.calibration import STEREO_KEYS, load_calibration, read_calibration_toml
from dlcflow.project.project3d import create_new_project_3d
from dlcflow.threed.calibrate import (
    CalibrationError,
    calibrate_cameras,
    check_undistortion,
    triangulate_boards,
)

NAMES = ["cam-a", "cam-b", "cam-c"]
SQUARE = 25.0  # mm


def _rig() -> CameraGroup:
    specs = [
        ((640, 480), (700.0, 702.0, 322.0, 238.0), (-0.10, 0.02, 0.0005, -0.0005, 0.0), (0, 0, 0)),
        ((640, 480), (760.0, 758.0, 316.0, 244.0), (-0.12, 0.05, 0.0, 0.0, 0.0), (320, 20, 90)),
        ((640, 480), (650.0, 651.0, 325.0, 236.0), (-0.08, 0.0, 0.0, 0.0, 0.0), (-280, -30, 70)),
    ]
    cams = []
    for name, (size, (fx, fy, cx, cy), dist, pos) in zip(NAMES, specs, strict=True):
        k = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
        target = (0, 0, 1000) if pos == (0, 0, 0) else (0, 0, 1000)
        cams.append(camera_looking_at(name, size, k, dist, pos, target))
    return CameraGroup(tuple(cams))


def _render_project(tmp: Path, board: Board, n: int, seed: int, rig: CameraGroup) -> Path:
    config = Path(create_new_project_3d("calib", "me", working_directory=tmp, camera_names=NAMES))
    folder = config.parent / "calibration_images"
    poses = board_poses(n, np.random.default_rng(seed), rig, board)
    for k, (rvec, tvec) in enumerate(poses):
        for cam in rig:
            img = render_board_image(cam, board, rvec, tvec, noise_seed=seed * 1000 + k)
            cv2.imwrite(str(folder / f"{cam.name}-{k + 1:02d}.jpg"), img)
    return config


@pytest.fixture(scope="module")
def rig() -> CameraGroup:
    return _rig()


@pytest.fixture(scope="module")
def checker_project(tmp_path_factory: pytest.TempPathFactory, rig: CameraGroup) -> Path:
    board = Checkerboard(8, 6, SQUARE)
    config = _render_project(tmp_path_factory.mktemp("checker"), board, 10, 1, rig)
    # one more set whose board camera cam-c misses: DLC moves all its views away
    folder = config.parent / "calibration_images"
    for cam in NAMES:
        shutil.copy(folder / f"{cam}-01.jpg", folder / f"{cam}-11.jpg")
    cv2.imwrite(str(folder / "cam-c-11.jpg"), np.full((480, 640), 128, np.uint8))
    return config


def test_detect_only_draws_corners_and_moves_incomplete_sets(checker_project: Path) -> None:
    root = checker_project.parent
    assert calibrate_cameras(checker_project, cbrow=8, cbcol=6, calibrate=False) is None
    assert sorted(p.name for p in (root / "removed_calibration_images").iterdir()) == [
        f"{c}-11.jpg" for c in NAMES
    ]
    assert len(list((root / "corners").glob("*_corner.jpg"))) == 32  # as DLC: every view found
    assert (root / "corners" / "cam-b-03_corner.jpg").is_file()
    assert not list((root / "camera_matrix").iterdir())


@pytest.fixture(scope="module")
def calibrated(checker_project: Path) -> Path:
    calibrate_cameras(checker_project, calibrate=True, square_size=SQUARE)
    return checker_project


def test_checkerboard_rig_matches_truth(calibrated: Path, rig: CameraGroup) -> None:
    group = load_calibration(calibrated.parent / "camera_matrix" / "calibration.toml", NAMES)
    _, meta = read_calibration_toml(calibrated.parent / "camera_matrix" / "calibration.toml")
    assert meta["adjusted"] is True and meta["units"] == "mm"
    assert meta["error"] < 0.5
    for cam, true in zip(group, rig, strict=True):
        assert np.allclose(cam.focal, true.focal, rtol=0.01)
        assert np.allclose(cam.principal_point, true.principal_point, atol=4.0)
        assert cam.size == true.size
        # world = cam-a's frame, which is the truth's world (cam-a at the origin, axes aligned)
        baseline = np.linalg.norm(true.position - rig.cameras[0].position)
        assert np.linalg.norm(cam.position - true.position) <= 0.02 * max(baseline, 1.0) + 1e-6
        assert np.degrees(np.linalg.norm(cv2.Rodrigues(cam.rotation @ true.rotation.T)[0])) < 0.5
    errors = pd.read_csv(calibrated.parent / "camera_matrix" / "reprojection_errors.csv")
    assert list(errors.columns) == ["camera", "image", "error_px"]
    assert len(errors) == 30 and errors["error_px"].max() < 0.5
    assert (calibrated.parent / "camera_matrix" / "reprojection_errors.png").is_file()


def test_dlc_pickles(calibrated: Path, rig: CameraGroup) -> None:
    folder = calibrated.parent / "camera_matrix"
    for cam in NAMES:
        with open(folder / f"{cam}_intrinsic_params.pickle", "rb") as fh:
            data = pickle.load(fh)
        entry = data[cam]
        assert set(entry) == {"mtx", "dist", "objpoints", "imgpoints"}
        assert entry["mtx"].shape == (3, 3) and entry["dist"].shape == (1, 5)
        assert len(entry["objpoints"]) == len(entry["imgpoints"]) == 10
        assert entry["objpoints"][0].shape == (48, 3) and entry["imgpoints"][0].shape == (48, 1, 2)
        assert np.isclose(entry["objpoints"][0][1, 0], SQUARE)  # x runs along cbcol first
    with open(folder / "stereo_params.pickle", "rb") as fh:
        stereo = pickle.load(fh)
    pair = stereo["cam-a-cam-b"]
    assert set(pair) == set(STEREO_KEYS)
    assert pair["R"].shape == (3, 3) and pair["T"].shape == (3, 1) and pair["P1"].shape == (3, 4)
    assert pair["Q"].shape == (4, 4) and pair["image_shape"] == [(640, 480), (640, 480)]
    true_t = (
        rig.cameras[1].tvec
        - rig.cameras[1].rotation @ rig.cameras[0].rotation.T @ rig.cameras[0].tvec
    )
    assert np.linalg.norm(pair["T"].ravel() - true_t) < 0.02 * np.linalg.norm(true_t)


def test_check_undistortion(calibrated: Path, rig: CameraGroup) -> None:
    plot = check_undistortion(calibrated)
    assert plot.is_file()
    assert len(list((calibrated.parent / "undistortion").glob("*_undistort.jpg"))) == 30
    # the corners triangulated with the calibration land on the rendered board
    group = load_calibration(calibrated.parent / "camera_matrix" / "calibration.toml", NAMES)
    board = Checkerboard(8, 6, SQUARE)
    rvec, tvec = board_poses(10, np.random.default_rng(1), rig, board)[3]
    truth = board.object_points @ cv2.Rodrigues(rvec)[0].T + tvec
    px = np.stack(
        [
            board.detect(
                cv2.imread(str(calibrated.parent / "calibration_images" / f"{c}-04.jpg"))
            ).corners
            for c in NAMES
        ]
    )
    err = np.linalg.norm(triangulate_points(group, px).points - truth, axis=1)
    distance = float(np.linalg.norm(truth.mean(axis=0)))
    assert err.max() < 0.005 * distance


def test_boards_numbered_from_either_end_triangulate(rig: CameraGroup) -> None:
    board = Checkerboard(8, 6, SQUARE)  # looks the same turned by 180°
    rvec, tvec = board_poses(2, np.random.default_rng(5), rig, board)[1]
    truth = board.object_points @ cv2.Rodrigues(rvec)[0].T + tvec
    px = rig.project(truth)
    n = len(truth)
    ids = np.arange(n)
    dets = {
        "cam-a": Detection(ids, px[0]),
        "cam-b": Detection(ids, px[1][::-1].copy()),  # numbered from the other end
        "cam-c": Detection(ids, px[2]),
    }
    points = triangulate_boards(rig, board, {"01": dets, "02": {"cam-a": dets["cam-a"]}})
    assert list(points) == ["01"]  # a set that one camera saw is not triangulated
    assert np.abs(points["01"] - truth).max() < 1e-6


def test_charuco_rig(tmp_path: Path, rig: CameraGroup) -> None:
    opts = {"squares_x": 8, "squares_y": 6, "marker_ratio": 0.7}
    board = make_board("charuco", square_size=30.0, charuco=opts)
    config = _render_project(tmp_path, board, 12, 2, rig)
    out = calibrate_cameras(
        config,
        calibrate=True,
        square_size=30.0,
        board="charuco",
        charuco=opts,
        bundle_intrinsics=True,
    )
    group, meta = read_calibration_toml(out)
    assert meta["error"] < 0.5
    for cam, true in zip(group, rig, strict=True):
        assert np.allclose(cam.focal, true.focal, rtol=0.01)
        baseline = np.linalg.norm(true.position - rig.cameras[0].position)
        assert np.linalg.norm(cam.position - true.position) <= 0.02 * max(baseline, 1.0) + 1e-6


def test_bundle_adjustment_ignores_outlier_corners(rig: CameraGroup) -> None:
    board = Checkerboard(8, 6, SQUARE)
    rng = np.random.default_rng(5)
    poses = board_poses(8, rng, rig, board)
    dets: dict[str, dict[str, Detection]] = {c.name: {} for c in rig}
    truth_boards = {}
    for k, (rvec, tvec) in enumerate(poses):
        r = cv2.Rodrigues(rvec)[0]
        truth_boards[f"{k}"] = (r, tvec)
        for cam in rig:
            px = cam.project(board.object_points @ r.T + tvec) + rng.normal(0, 0.1, (48, 2))
            bad = rng.random(48) < 0.05
            px[bad] += rng.choice([-1, 1], (bad.sum(), 2)) * rng.uniform(10, 40, (bad.sum(), 2))
            dets[cam.name][f"{k}"] = Detection(np.arange(48), px)
    # start away from the truth: cameras moved 10 mm and turned 1°, boards shifted 5 mm
    start = CameraGroup(
        (rig.cameras[0],)
        + tuple(
            c.with_pose(
                c.rvec + np.radians(1.0) * rng.normal(size=3) / 1.7, c.tvec + rng.normal(0, 6, 3)
            )
            for c in rig.cameras[1:]
        )
    )
    init = {k: (r, t + rng.normal(0, 3, 3)) for k, (r, t) in truth_boards.items()}
    obs = observations(board, dets, NAMES)
    res = bundle_adjust(start, obs, init)
    for cam, true in zip(res.group, rig, strict=True):
        assert np.linalg.norm(cam.position - true.position) < 1.0  # mm, of a 300 mm baseline
    true_bad = (
        np.linalg.norm(
            obs.xy
            - np.concatenate(
                [
                    rig[n].project(board.object_points @ truth_boards[i][0].T + truth_boards[i][1])
                    for n in NAMES
                    for i in dets[n]
                ]
            ),
            axis=1,
        )
        > 5
    )
    assert true_bad.sum() > 20
    assert not res.inliers[true_bad].any()
    assert res.inliers[~true_bad].mean() > 0.99
    assert res.mean_error < 0.2


def _project_with(tmp: Path, images: dict[str, list[np.ndarray]]) -> Path:
    config = Path(create_new_project_3d("bad", "me", working_directory=tmp, camera_names=NAMES))
    for cam, imgs in images.items():
        for k, img in enumerate(imgs):
            cv2.imwrite(str(config.parent / "calibration_images" / f"{cam}-{k + 1:02d}.jpg"), img)
    return config


@pytest.fixture(scope="module")
def views(rig: CameraGroup) -> dict[str, list[np.ndarray]]:
    board = Checkerboard(8, 6, SQUARE)
    poses = board_poses(3, np.random.default_rng(9), rig, board)
    return {c.name: [render_board_image(c, board, r, t) for r, t in poses] for c in rig}


def _nothing_written(config: Path) -> None:
    root = config.parent
    assert not list((root / "camera_matrix").iterdir())
    assert not list((root / "corners").iterdir())
    assert not list((root / "removed_calibration_images").iterdir())


def test_no_images_of_a_camera(tmp_path: Path, views: dict) -> None:
    config = _project_with(tmp_path, {c: views[c] for c in NAMES[:2]})
    with pytest.raises(CalibrationError, match=r"calibration_images/: no images of cam-c$"):
        calibrate_cameras(config, calibrate=True)
    _nothing_written(config)


def test_board_never_found(tmp_path: Path, views: dict) -> None:
    blank = [np.full((480, 640), 128, np.uint8)] * 3
    config = _project_with(tmp_path, {**views, "cam-b": blank})
    with pytest.raises(CalibrationError, match=r"not found in any image of cam-b"):
        calibrate_cameras(config, calibrate=True)
    _nothing_written(config)


def test_image_sizes_differ(tmp_path: Path, views: dict) -> None:
    other = views["cam-a"][:2] + [cv2.resize(views["cam-a"][2], (320, 240))]
    config = _project_with(tmp_path, {**views, "cam-a": other})
    with pytest.raises(CalibrationError, match=r"cam-a-03.jpg: image is 320×240 but cam-a-01.jpg"):
        calibrate_cameras(config, calibrate=True)
    _nothing_written(config)


def test_too_few_image_sets(tmp_path: Path, views: dict) -> None:
    config = _project_with(tmp_path, {c: v[:2] for c, v in views.items()})
    with pytest.raises(CalibrationError, match=r"2 image set\(s\); 3 or more are needed"):
        calibrate_cameras(config, calibrate=True)
    _nothing_written(config)


def test_cli(tmp_path: Path, views: dict, capsys: pytest.CaptureFixture) -> None:
    argv = ["create-project-3d", "cli", "me", "--camera-names", *NAMES]
    assert main([*argv, "--working-directory", str(tmp_path)]) == 0
    config = Path(capsys.readouterr().out.strip())
    assert config.is_file()
    for cam, imgs in views.items():
        for k, img in enumerate(imgs):
            cv2.imwrite(str(config.parent / "calibration_images" / f"{cam}-{k + 1:02d}.jpg"), img)
    assert main(["calibrate", str(config), "--detect-only"]) == 0
    assert len(list((config.parent / "corners").iterdir())) == 9
    assert main(["calibrate", str(config), "--square-size", "25", "--no-bundle"]) == 0
    assert Path(capsys.readouterr().out.strip().splitlines()[-1]).is_file()
    _, meta = read_calibration_toml(config.parent / "camera_matrix" / "calibration.toml")
    assert meta["adjusted"] is False
    assert main(["check-undistortion", str(config), "--square-size", "25"]) == 0
    assert Path(capsys.readouterr().out.strip().splitlines()[-1]).is_file()
    assert len(list((config.parent / "undistortion").glob("*.jpg"))) == 9
    shutil.rmtree(config.parent / "calibration_images")
    (config.parent / "calibration_images").mkdir()
    assert main(["calibrate", str(config)]) == 1
    assert "no images of cam-a" in capsys.readouterr().err


def test_views_numbered_from_the_other_end_are_turned(rig: CameraGroup) -> None:
    board = Checkerboard(8, 6, SQUARE)  # 7 × 9 squares: the same turned by 180°
    assert board.symmetric and not Checkerboard(9, 6).symmetric
    rng = np.random.default_rng(3)
    dets: dict[str, dict[str, Detection]] = {c.name: {} for c in rig}
    for k, (rvec, tvec) in enumerate(board_poses(6, rng, rig, board)):
        r = cv2.Rodrigues(rvec)[0]
        for cam in rig:
            px = cam.project(board.object_points @ r.T + tvec) + rng.normal(0, 0.1, (48, 2))
            dets[cam.name][f"{k}"] = Detection(np.arange(48), px)
    for cam, img in (("cam-b", "2"), ("cam-c", "4"), ("cam-a", "5")):  # as OpenCV may
        dets[cam][img] = Detection(np.arange(48), dets[cam][img].corners[::-1].copy())
    plain = [Camera(c.name, c.size, c.matrix, c.dist) for c in rig]
    poses = {c.name: solve_board_poses(board, dets[c.name], c) for c in plain}
    group = initial_extrinsics(plain, poses)
    fixed, poses, turned = align_symmetric(
        board, group, poses, initial_board_poses(group, poses), dets
    )
    # image 5 is numbered from cam-a, the first to see it: cam-b's and cam-c's views turn
    assert sorted(turned) in (
        [("cam-a", "5"), ("cam-b", "2"), ("cam-c", "4")],
        [("cam-b", "2"), ("cam-b", "5"), ("cam-c", "4"), ("cam-c", "5")],
    )
    group = initial_extrinsics(plain, poses)
    res = bundle_adjust(group, observations(board, fixed, NAMES), initial_board_poses(group, poses))
    for cam, true in zip(res.group, rig, strict=True):
        assert np.linalg.norm(cam.position - true.position) < 1.0
    assert res.mean_error < 0.2


def test_rendered_corners_are_where_the_camera_model_puts_them(rig: CameraGroup) -> None:
    board = Checkerboard(8, 6, SQUARE)
    rvec, tvec = board_poses(1, np.random.default_rng(4), rig, board)[0]
    truth_world = board.object_points @ cv2.Rodrigues(rvec)[0].T + tvec
    for cam in rig:
        img = render_board_image(cam, board, rvec, tvec, noise_seed=0)
        assert img.shape == (480, 640) and img.dtype == np.uint8
        err = np.linalg.norm(board.detect(img).corners - cam.project(truth_world), axis=1)
        assert err.mean() < 0.1 and err.max() < 0.25
