"""Calibrated cameras (data.cameras), their files (io.calibration) and 3D projects
(project.project3d)."""

from __future__ import annotations

import pickle
import tomllib
import warnings

import cv2
import numpy as np
import pytest

from dlcflow.data.cameras import Camera, CameraGroup
from dlcflow.io.calibration import (
    CalibrationFileError,
    cameras_from_stereo,
    load_calibration,
    read_calibration_toml,
    read_intrinsics_pickle,
    read_stereo_pickle,
    write_calibration_toml,
    write_intrinsics_pickle,
    write_stereo_pickle,
)
from dlcflow.project.config import ConfigError
from dlcflow.project.project3d import Project3D, create_new_project_3d, recording_name

K = np.array([[700.0, 0, 330.0], [0, 690.0, 235.0], [0, 0, 1]])
DIST = np.array([-0.12, 0.03, 0.001, -0.002, 0.0])


def rig() -> CameraGroup:
    a = Camera("camera-1", (640, 480), K, DIST)
    b = Camera(
        "camera-2", (640, 480), K * [[1.1], [1.1], [1]], DIST / 2, [0, -0.5, 0.05], [300.0, 10, 60]
    )
    return CameraGroup((a, b))


def test_camera_projects_as_opencv_and_undistorts_back() -> None:
    cam = rig()["camera-2"]
    pts = np.array([[10.0, -20, 900], [-50, 40, 1100], [np.nan, 0, 1]])
    px = cam.project(pts)
    ref, _ = cv2.projectPoints(pts[:2], cam.rvec, cam.tvec, cam.matrix, cam.dist)
    np.testing.assert_allclose(px[:2], ref.reshape(-1, 2))
    assert np.isnan(px[2]).all()
    # undistorted normalized coordinates are the camera-frame ray
    cp = cam.camera_points(pts[:2])
    np.testing.assert_allclose(cam.undistort(px[:2]), cp[:, :2] / cp[:, 2:], atol=1e-6)
    # the centre projects behind nothing: P @ [centre, 1] = 0
    np.testing.assert_allclose(cam.projection @ np.append(cam.position, 1), 0, atol=1e-9)
    np.testing.assert_allclose(cam.focal, (770.0, 759.0))


def test_group_order_names_and_errors() -> None:
    group = rig()
    assert group.names == ["camera-1", "camera-2"]
    assert group.subset(["camera-2", "camera-1"]).names == ["camera-2", "camera-1"]
    assert group.project(np.zeros((4, 3)) + [0, 0, 1000]).shape == (2, 4, 2)
    with pytest.raises(KeyError, match="camera-3"):
        group["camera-3"]
    with pytest.raises(ValueError, match="unique"):
        CameraGroup((group.cameras[0], group.cameras[0]))
    with pytest.raises(ValueError, match="3 × 3"):
        Camera("x", (10, 10), np.eye(2))


def test_calibration_toml_round_trip_in_anipose_layout(tmp_path) -> None:
    path = tmp_path / "calibration.toml"
    write_calibration_toml(rig(), path, {"adjusted": True, "error": 0.31})
    raw = tomllib.loads(path.read_text())
    assert list(raw) == ["cam_0", "cam_1", "metadata"]
    assert raw["cam_1"]["name"] == "camera-2" and raw["cam_1"]["size"] == [640, 480]
    assert np.asarray(raw["cam_1"]["matrix"]).shape == (3, 3)
    assert len(raw["cam_0"]["distortions"]) == 5
    group, meta = read_calibration_toml(path)
    assert meta == {"adjusted": True, "error": 0.31}
    for a, b in zip(group, rig(), strict=True):
        np.testing.assert_array_equal(a.matrix, b.matrix)
        np.testing.assert_array_equal(a.tvec, b.tvec)
        np.testing.assert_array_equal(a.dist, b.dist)
    assert load_calibration(path, ["camera-2", "camera-1"]).names == ["camera-2", "camera-1"]
    with pytest.raises(
        CalibrationFileError, match=r"calibration.toml: no calibration for camera\(s\) cam-9"
    ):
        load_calibration(path, ["camera-1", "cam-9"])


def test_anipose_written_file_reads(tmp_path) -> None:
    # as aniposelib's toml.dump writes it: trailing commas, fisheye flag, names as strings
    path = tmp_path / "calibration.toml"
    path.write_text(
        '[cam_0]\nname = "A"\nsize = [ 1280, 1024,]\n'
        "matrix = [ [ 1000.0, 0.0, 640.0,], [ 0.0, 1000.0, 512.0,], [ 0.0, 0.0, 1.0,],]\n"
        "distortions = [ -0.1, 0.0, 0.0, 0.0, 0.0,]\nrotation = [ 0.0, 0.0, 0.0,]\n"
        "translation = [ 0.0, 0.0, 0.0,]\nfisheye = false\n\n"
        '[cam_1]\nname = "B"\nsize = [ 1280, 1024,]\n'
        "matrix = [ [ 1000.0, 0.0, 640.0,], [ 0.0, 1000.0, 512.0,], [ 0.0, 0.0, 1.0,],]\n"
        "distortions = [ -0.1, 0.0, 0.0, 0.0, 0.0,]\nrotation = [ 0.0, 0.5, 0.0,]\n"
        "translation = [ -200.0, 0.0, 50.0,]\n\n[metadata]\nadjusted = true\nerror = 0.4\n"
    )
    group = load_calibration(path)
    assert group.names == ["A", "B"] and group["B"].size == (1280, 1024)
    np.testing.assert_allclose(group["B"].tvec, [-200, 0, 50])


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("not toml [", "not a TOML file"),
        ("[metadata]\n", "no \\[cam_<i>\\]"),
        ("[cam_0]\nname='a'\n", r"\[cam_0\] lacks size"),
    ],
)
def test_bad_calibration_toml_is_one_line(tmp_path, text, cause) -> None:
    path = tmp_path / "calibration.toml"
    path.write_text(text)
    with pytest.raises(CalibrationFileError, match=f"calibration.toml: {cause}") as err:
        read_calibration_toml(path)
    assert "\n" not in str(err.value)


def test_dlc_pickles_round_trip_and_stereo_rig(tmp_path) -> None:
    group = rig()
    a, b = group.cameras
    obj = [np.zeros((48, 3), np.float32)]
    img = [np.zeros((48, 1, 2), np.float32)]
    write_intrinsics_pickle(
        tmp_path / "camera-1_intrinsic_params.pickle", "camera-1", a.matrix, a.dist, obj, img
    )
    with open(tmp_path / "camera-1_intrinsic_params.pickle", "rb") as fh:
        raw = pickle.load(fh)
    assert set(raw["camera-1"]) == {"mtx", "dist", "objpoints", "imgpoints"}
    assert raw["camera-1"]["dist"].shape == (1, 5)
    assert (
        read_intrinsics_pickle(tmp_path / "camera-1_intrinsic_params.pickle")["camera-1"]["mtx"][
            0, 0
        ]
        == 700
    )
    R = b.rotation
    r1, r2, p1, p2, q, roi1, roi2 = cv2.stereoRectify(
        a.matrix, a.dist, b.matrix, b.dist, a.size, R, b.tvec.reshape(3, 1), alpha=0.4
    )
    entry = dict(
        cameraMatrix1=a.matrix, cameraMatrix2=b.matrix, distCoeffs1=a.dist, distCoeffs2=b.dist,
        R=R, T=b.tvec.reshape(3, 1), E=np.eye(3), F=np.eye(3), R1=r1, R2=r2, P1=p1, P2=p2,
        roi1=roi1, roi2=roi2, Q=q, image_shape=[a.size, b.size],
    )  # fmt: skip
    write_stereo_pickle(tmp_path / "stereo_params.pickle", {"camera-1-camera-2": entry})
    pairs = read_stereo_pickle(tmp_path / "stereo_params.pickle")
    back = cameras_from_stereo(pairs["camera-1-camera-2"], ("camera-1", "camera-2"))
    assert back["camera-2"].size == (640, 480)
    np.testing.assert_allclose(back["camera-2"].rvec, b.rvec, atol=1e-9)
    pts = np.array([[20.0, 30, 900]])
    np.testing.assert_allclose(back.project(pts), group.project(pts), atol=1e-9)
    with pytest.raises(ValueError, match="missing"):
        write_stereo_pickle(tmp_path / "s.pickle", {"a-b": {"R": R}})
    assert not (tmp_path / "s.pickle").exists()
    (tmp_path / "junk.pickle").write_bytes(b"nope")
    with pytest.raises(CalibrationFileError, match="junk.pickle: not a readable pickle"):
        read_stereo_pickle(tmp_path / "junk.pickle")


def test_create_project_3d_has_dlc_layout_and_keys(tmp_path) -> None:
    config = create_new_project_3d("reach", "ana", 3, working_directory=tmp_path)
    proj = Project3D(config)
    assert proj.root.name.startswith("reach-ana-") and proj.root.name.endswith("-3d")
    for sub in (
        "camera_matrix",
        "calibration_images",
        "undistortion",
        "corners",
        "removed_calibration_images",
    ):
        assert (proj.root / sub).is_dir()
    text = (proj.root / "config.yaml").read_text()
    keys = ("Task: reach", "scorername_3d: DLC_3D", "num_cameras: 3", "pcutoff: 0.4")
    keys += ("shuffle_camera-3: 1", "trainingsetindex_camera-2: 0", "config_file_camera-1:")
    for key in keys + ("skeleton_color: black", "markerType: '*'"):
        assert key in text
    assert proj.camera_names == ["camera-1", "camera-2", "camera-3"]
    assert proj.intrinsics_file("camera-2").name == "camera-2_intrinsic_params.pickle"
    assert proj.stereo_file == proj.root / "camera_matrix" / "stereo_params.pickle"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert create_new_project_3d("reach", "ana", 3, working_directory=tmp_path) == config
    assert "exists already" in str(caught[0].message)
    named = Project3D(
        create_new_project_3d(
            "rig", "ana", working_directory=tmp_path, camera_names=["top", "side"]
        )
    )
    assert named.camera_names == ["top", "side"] and named.cfg["num_cameras"] == 2
    with pytest.raises(ValueError, match="two or more"):
        create_new_project_3d("one", "ana", 1, working_directory=tmp_path)
    assert not list(tmp_path.glob("one-*"))


def test_videos_and_images_are_grouped_by_camera_name(tmp_path) -> None:
    proj = Project3D(create_new_project_3d("p", "e", working_directory=tmp_path))
    assert recording_name("mouse1-camera-1", "camera-1") == "mouse1"
    assert recording_name("trial_camera-2_day3", "camera-2") == "trial_day3"
    assert recording_name("camera-1", "camera-1") == "camera-1"
    assert recording_name("x-camera-10", "camera-1") is None
    videos = [tmp_path / n for n in ("a-camera-1.mp4", "a-camera-2.mp4", "b-camera-1.mp4", "c.mp4")]
    assert proj.recordings(videos) == {"a": {"camera-1": videos[0], "camera-2": videos[1]}}
    assert proj.output_3d("a", tmp_path) == tmp_path / "a_DLC_3D.h5"
    assert proj.meta_3d(tmp_path / "a_DLC_3D.h5").name == "a_DLC_3D_meta.pickle"
    for name in (
        "camera-1-01.jpg",
        "camera-1-02.png",
        "camera-2-01.jpg",
        "camera-10-01.jpg",
        "notes.txt",
    ):
        (proj.calibration_images_dir / name).write_bytes(b"")
    assert [p.name for p in proj.calibration_images("camera-1")] == [
        "camera-1-01.jpg",
        "camera-1-02.png",
    ]
    assert (
        proj.corner_image(proj.calibration_images_dir / "camera-1-01.jpg").name
        == "camera-1-01_corner.jpg"
    )


def test_bad_3d_config_is_one_line(tmp_path) -> None:
    proj = Project3D(create_new_project_3d("p", "e", working_directory=tmp_path))
    text = proj.config_path.read_text()
    proj.config_path.write_text(text.replace("num_cameras: 2", "num_cameras: 3"))
    with pytest.raises(ConfigError, match="num_cameras is 3 but camera_names lists 2"):
        Project3D(proj.config_path)
    proj.config_path.write_text(text.replace("- camera-2", "- camera-1"))
    with pytest.raises(ConfigError, match="duplicates"):
        Project3D(proj.config_path)
    (tmp_path / "2d.yaml").write_text("Task: x\nscorer: y\ndate: z\nproject_path: .\n")
    with pytest.raises(ConfigError, match="2d.yaml: required key 'camera_names' is missing"):
        Project3D(tmp_path / "2d.yaml")
    with pytest.raises(ConfigError, match="nope: 3D config file not found"):
        Project3D(tmp_path / "nope")
    proj.config_path.write_text(text)
    with pytest.raises(ConfigError, match="config_file_camera-9 is not set"):
        Project3D(proj.config_path).camera_config("camera-9")
