"""NWB export (ndx-pose): pose files of each kind to NWB files that validate, hold the
source's numbers, and read back; the CLI, the workflow target and bad metadata."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from conftest import write_video
from ndx_pose import PoseEstimation
from pynwb import NWBHDF5IO, validate
from test_workflow import REPO, snakemake

from dlcflow.cli.main import main
from dlcflow.data.pose import make_poses, point_keys, points_array
from dlcflow.devtools.demo import make_demo_data, read_groundtruth
from dlcflow.devtools.mademo import make_multi_animal_demo_data
from dlcflow.io.nwb import NWBFileError, read_metadata, read_nwb, write_nwb
from dlcflow.io.poses import load_poses, save_poses
from dlcflow.io.poses3d import save_poses_3d
from dlcflow.io.tables import to_dataset
from dlcflow.io.tracks import load_tracks, save_tracks
from dlcflow.post.nwbexport import export_nwb, export_pose_file
from dlcflow.project.paths import Project
from dlcflow.workflow.settings import settings, stage_targets

SCORER = "DLC_resnet50_demoDec3shuffle1_500"
FPS = 30.0
METADATA = """\
session_description: open field, day 1
experimenter: [Ada Lovelace]
lab: Pose Lab
institution: Example University
session_start_time: 2024-05-01T10:30:00+02:00
subject:
  subject_id: m7
  species: Mus musculus
  sex: F
  age: P90D
  strain: C57BL/6J
"""


def _with_likelihood(ds: xr.Dataset, seed: int) -> xr.Dataset:
    """Ground truth with a likelihood in (0, 1) and a few missing points (NaN, NaN, NaN)."""
    rng = np.random.default_rng(seed)
    out = ds.copy(deep=True)
    out["confidence"] = (out["confidence"].dims, rng.uniform(0.01, 1, out["confidence"].shape))
    out["position"][3:5, :, 0, -1] = np.nan
    out["confidence"][3:5, 0, -1] = np.nan
    out.attrs["has_confidence"] = True
    out.attrs["scorer"] = SCORER
    return out


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, xr.Dataset]:
    """A demo video and its analysis-like pose file (ground truth + likelihood)."""
    folder = tmp_path_factory.mktemp("single")
    video = make_demo_data(folder, n_videos=1, nframes=20, size=(160, 120))[0]
    ds = _with_likelihood(to_dataset(read_groundtruth(video)), 0)
    h5 = Project.analysis_output(video, SCORER)
    save_poses(ds, h5, metadata={"fps": FPS, "Scorer": SCORER})
    return video, h5, load_poses(h5)


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, xr.Dataset]:
    """A multi-animal demo video and its tracks file (``_el.h5``)."""
    folder = tmp_path_factory.mktemp("multi")
    video = make_multi_animal_demo_data(folder, n_videos=1, nframes=20, size=(160, 120))[0]
    ds = _with_likelihood(to_dataset(read_groundtruth(video)), 1)
    h5 = Project.tracks_output(video, SCORER, "ellipse")
    save_tracks(ds, h5)
    return video, h5, load_tracks(h5)


def _estimations(path: Path) -> dict[str, PoseEstimation]:
    io = NWBHDF5IO(str(path), mode="r", load_namespaces=True)
    nwb = io.read()
    behavior = nwb.processing["behavior"]
    found = {k: v for k, v in behavior.data_interfaces.items() if isinstance(v, PoseEstimation)}
    found["_io"] = io  # type: ignore[assignment]  # closed by the caller
    found["_nwb"] = nwb  # type: ignore[assignment]
    return found


def _check_numbers(path: Path, ds: xr.Dataset, name_of: dict[str, str]) -> None:
    """Every series holds the source's x, y[, z], likelihood (0 where missing) and frame / fps."""
    found = _estimations(path)
    try:
        for individual, keypoint in point_keys(ds):
            series = found[name_of[individual]].pose_estimation_series[keypoint]
            want = ds["position"].sel(individuals=individual, keypoints=keypoint).values
            np.testing.assert_array_equal(series.data[:], want)
            if ds.attrs["has_confidence"]:
                p = ds["confidence"].sel(individuals=individual, keypoints=keypoint).values
                np.testing.assert_array_equal(series.confidence[:], np.nan_to_num(p, nan=0.0))
            else:
                assert series.confidence is None
            np.testing.assert_allclose(series.get_timestamps()[:], np.arange(len(want)) / FPS)
    finally:
        found["_io"].close()  # type: ignore[attr-defined]


def test_single_animal_file_validates_and_holds_the_numbers(
    single: tuple[Path, Path, xr.Dataset], tmp_path: Path
) -> None:
    video, h5, ds = single
    (tmp_path / "meta.yaml").write_text(METADATA)
    skeleton = [["snout", "leftear"], ["snout", "rightear"], ["snout", "tailbase"]]
    out = write_nwb(
        ds,
        tmp_path / "mouse1.nwb",
        video=video,
        metadata=read_metadata(tmp_path / "meta.yaml"),
        skeleton=skeleton,
        model="net resnet_50",
    )
    assert validate(path=str(out)) == []
    _check_numbers(out, ds, {"individual_0": "PoseEstimation"})
    found = _estimations(out)
    try:
        nwb, pe = found["_nwb"], found["PoseEstimation"]
        assert list(pe.skeleton.nodes[:]) == ["snout", "leftear", "rightear", "tailbase"]
        assert pe.skeleton.edges[:].tolist() == [[0, 1], [0, 2], [0, 3]]
        assert pe.skeleton.subject is nwb.subject
        assert pe.scorer == SCORER and pe.source_software == "DeepLabCut"
        assert "resnet_50" in pe.description
        external = pe.source_video.external_file[0]
        assert not Path(external).is_absolute()  # relative to the NWB file (DANDI's advice)
        assert (out.parent / external).resolve() == video.resolve()
        assert list(pe.source_video.dimension[:]) == [160, 120]
        assert nwb.subject.subject_id == "m7" and nwb.subject.sex == "F"
        assert nwb.subject.age == "P90D" and nwb.subject.species == "Mus musculus"
        assert nwb.lab == "Pose Lab" and list(nwb.experimenter) == ["Ada Lovelace"]
        want = dt.datetime(2024, 5, 1, 8, 30, tzinfo=dt.UTC)
        assert nwb.session_start_time == want
    finally:
        found["_io"].close()
    back = read_nwb(out)
    np.testing.assert_array_equal(back["position"].values, ds["position"].values)
    np.testing.assert_array_equal(back["confidence"].values, ds["confidence"].values)
    assert back.attrs["fps"] == FPS and back.attrs["scorer"] == SCORER
    assert back.attrs["skeleton"] == skeleton
    assert list(back["time"].values) == list(range(20))


def test_default_session_start_is_the_videos_mtime(
    single: tuple[Path, Path, xr.Dataset], tmp_path: Path
) -> None:
    video, _, ds = single
    out = write_nwb(ds, tmp_path / "a.nwb", video=video)
    with NWBHDF5IO(str(out), mode="r", load_namespaces=True) as io:
        nwb = io.read()
        start = nwb.session_start_time
        assert len(nwb.identifier) == 36  # a UUID
    assert start.timestamp() == pytest.approx(video.stat().st_mtime, abs=1e-3)


def test_multi_animal_tracks_one_pose_estimation_per_individual(
    tracks: tuple[Path, Path, xr.Dataset], tmp_path: Path
) -> None:
    video, h5, ds = tracks
    out = export_pose_file(h5, tmp_path / "mice.nwb", video=video, fps=FPS, subject="cage3")
    assert validate(path=str(out)) == []
    individuals = [str(i) for i in ds["individuals"].values]
    assert individuals == ["mouse1", "mouse2", "mouse3", "single"]
    _check_numbers(out, ds, {i: f"PoseEstimation_{i}" for i in individuals})
    found = _estimations(out)
    try:
        assert sorted(k for k in found if not k.startswith("_")) == [
            f"PoseEstimation_{i}" for i in individuals
        ]
        assert list(found["PoseEstimation_single"].pose_estimation_series) == ["feeder"]
        assert found["_nwb"].subject.subject_id == "cage3"
    finally:
        found["_io"].close()
    back = read_nwb(out)
    assert [str(i) for i in back["individuals"].values] == individuals
    assert back.attrs["unique_keypoints"] == ["feeder"]
    np.testing.assert_array_equal(points_array(back), points_array(ds))
    conf = points_array(ds, variable="confidence")
    np.testing.assert_array_equal(points_array(back, variable="confidence"), conf)


def test_3d_poses(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    ds = make_poses(
        rng.uniform(-50, 50, (15, 3, 2)), None, keypoints=["snout", "tail"], space="xyz"
    )
    h5 = tmp_path / "rec_DLC_3D.h5"
    save_poses_3d(ds, h5)
    out = export_pose_file(h5, fps=FPS)
    assert out == tmp_path / "rec_DLC_3D.nwb"
    assert validate(path=str(out)) == []
    with NWBHDF5IO(str(out), mode="r", load_namespaces=True) as io:
        series = io.read().processing["behavior"]["PoseEstimation"].pose_estimation_series
        assert series["tail"].unit == "mm" and series["tail"].data.shape == (15, 3)
    _check_numbers(out, ds.assign_attrs(has_confidence=False), {"individual_0": "PoseEstimation"})
    back = read_nwb(out)
    np.testing.assert_array_equal(back["position"].values, ds["position"].values)
    assert not back.attrs["has_confidence"]


def test_series_named_individual_part_are_split(tmp_path: Path) -> None:
    """One PoseEstimation whose series are ``<individual>_<part>`` (some tools' layout)."""
    rng = np.random.default_rng(3)
    flat = make_poses(
        rng.uniform(0, 100, (10, 2, 4)),
        rng.uniform(0, 1, (10, 4)),
        keypoints=["m1_nose", "m1_left_ear", "m2_nose", "m2_left_ear"],
        fps=FPS,
    )
    back = read_nwb(write_nwb(flat, tmp_path / "flat.nwb"))
    assert [str(i) for i in back["individuals"].values] == ["m1", "m2"]
    assert [str(k) for k in back["keypoints"].values] == ["nose", "left_ear"]
    np.testing.assert_array_equal(
        back["position"].sel(individuals="m2", keypoints="left_ear").values,
        flat["position"].sel(keypoints="m2_left_ear").values[..., 0],
    )
    one = flat.assign_coords(keypoints=["left_ear", "right_ear", "left_paw", "right_paw"])
    back = read_nwb(write_nwb(one, tmp_path / "one.nwb"))  # parts with "_": still one animal
    assert not back.attrs["multianimal"] and back.sizes["keypoints"] == 4


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("lab: x\nsubjet: {subject_id: a}\n", "unknown key 'subjet'"),
        ("session_start_time: May 1st\n", "session_start_time 'May 1st' is not an ISO 8601"),
        ("subject: {subject_id: a, sex: female}\n", "subject.sex 'female' is not one of"),
        ("subject: {subject_id: a, age: 90 days}\n", "subject.age '90 days' is not an ISO"),
        ("lab: [unclosed\n", "not a YAML file"),
    ],
)
def test_bad_metadata_one_line_and_no_output(
    single: tuple[Path, Path, xr.Dataset], tmp_path: Path, text: str, cause: str
) -> None:
    _, h5, _ = single
    meta = tmp_path / "meta.yaml"
    meta.write_text(text)
    out = tmp_path / "x.nwb"
    with pytest.raises(NWBFileError) as err:
        export_pose_file(h5, out, metadata=meta)
    message = str(err.value)
    assert message.startswith(str(meta)) and cause in message and "\n" not in message
    assert list(tmp_path.iterdir()) == [meta]


def test_not_an_nwb_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.nwb"
    bad.write_text("hello")
    with pytest.raises(NWBFileError, match="bad.nwb: not a readable NWB file"):
        read_nwb(bad)


def test_export_of_a_projects_videos_and_cli(
    reaching_project: Path, single: tuple[Path, Path, xr.Dataset], tmp_path: Path
) -> None:
    """``export_nwb`` finds each video's pose file (the one of the video, no model needed)
    and writes ``<pose stem>.nwb`` beside it; the CLI does the same and ``--poses``."""
    (reaching_project.parent / "videos").mkdir(exist_ok=True)
    video = write_video(reaching_project.parent / "videos" / "reachingvideo1.avi", 5)
    h5 = Project.analysis_output(video, SCORER)
    parts = Project(reaching_project).bodyparts
    n = len(parts)
    poses = make_poses(np.zeros((5, 2, n)), np.ones((5, n)), keypoints=parts, scorer=SCORER)
    save_poses(poses, h5, metadata={"fps": FPS})
    meta = tmp_path / "meta.yaml"
    meta.write_text(METADATA)
    [out] = export_nwb(reaching_project, [video], metadata=meta, subject="r1")
    assert out == h5.with_suffix(".nwb") == Project.nwb_output(h5)
    assert validate(path=str(out)) == []
    with NWBHDF5IO(str(out), mode="r", load_namespaces=True) as io:
        nwb = io.read()
        assert nwb.subject.subject_id == "r1" and nwb.institution == "Example University"
        skel = nwb.processing["behavior"]["Skeletons"]["skeleton"]
        assert list(skel.nodes[:]) == parts
        assert len(skel.edges) == len(Project(reaching_project).cfg["skeleton"])
    out.unlink()
    assert main(["export-nwb", str(reaching_project), str(video), "--subject", "r2"]) == 0
    assert read_nwb(out).attrs["scorer"] == SCORER
    copy = tmp_path / "copy.h5"
    shutil.copy(h5, copy)
    assert main(["export-nwb", str(reaching_project), "--poses", str(copy), "--fps", "25"]) == 0
    assert read_nwb(tmp_path / "copy.nwb").attrs["fps"] == 25.0
    meta.write_text("subject: {sex: X}\n")
    assert main(["export-nwb", str(reaching_project), str(video), "--metadata", str(meta)]) == 1


@pytest.mark.workflow
def test_nwb_target(reaching_project: Path) -> None:
    """``snakemake nwb`` writes ``<pose stem>.nwb`` beside each video's pose file (the
    analysis given here, so only the export runs)."""
    (reaching_project.parent / "videos").mkdir(exist_ok=True)
    write_video(reaching_project.parent / "videos" / "reachingvideo1.avi", 5)
    project = Project(reaching_project)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    [target] = [Path(t) for t in stage_targets(project, "nwb", settings(config))]
    parts = project.bodyparts
    scorer = target.name.removeprefix("reachingvideo1").removesuffix(".nwb")
    poses = make_poses(
        np.full((5, 2, len(parts)), 7.0), np.ones((5, len(parts))), keypoints=parts, scorer=scorer
    )
    save_poses(poses, target.with_suffix(".h5"), metadata={"fps": FPS})
    run = snakemake(
        "nwb", "--allowed-rules", "nwb", "export_nwb", "--config", f"project={reaching_project}"
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert validate(path=str(target)) == []
    back = read_nwb(target)
    np.testing.assert_array_equal(back["position"].values, poses["position"].values)
