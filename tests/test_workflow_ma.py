"""A multi-animal project through the workflow's frames, check_labels and dataset."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import write_video
from test_workflow import snakemake

import dlcflow
from dlcflow.io import labels
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import Project
from dlcflow.tracking.pipeline import calibration_poses

pytestmark = pytest.mark.workflow

SMALL = (
    "net_type=mobilenet_v2_0.35",
    "init_weights=none",
    "train={maxiters: 2, saveiters: 2, displayiters: 1}",
    "pose_cfg={crop_size: [64, 64], batch_size: 2}",
    "test_pose_cfg={nmsradius: 3, minconfidence: 0.1}",
)


def test_multi_animal_frames_check_labels_and_dataset(tmp_path: Path) -> None:
    video = write_video(tmp_path / "arena.mp4", nframes=40, size=(96, 64))
    config = Path(
        create_new_project(
            "group",
            "me",
            [video],
            working_directory=tmp_path,
            multianimal=True,
            individuals=["m1", "m2"],
            bodyparts=["nose", "tail"],
        )
    )
    text = config.read_text().replace("numframes2pick: 20", "numframes2pick: 6")
    config.write_text(text.replace("uniquebodyparts: []", "uniquebodyparts:\n- led"))
    project = Project(config)
    run = snakemake("frames", "--config", f"project={config}")
    assert run.returncode == 0, run.stderr[-3000:]
    frames = sorted(p.name for p in project.labeled_folder("arena").glob("img*.png"))
    assert len(frames) == 6
    df = labels.empty_annotations(project, frames, video="arena")
    rng = np.random.default_rng(0)
    df.loc[:, :] = rng.uniform(5, 60, df.shape)
    df.iloc[0, 4:8] = np.nan  # m2 not in the first frame
    labels.write_annotations(df, project.collected_data("arena"))
    run = snakemake("check_labels", "dataset", "--config", f"project={config}", *SMALL)
    assert run.returncode == 0, run.stderr[-3000:]
    checked = sorted(project.check_labels_folder("arena").glob("*.png"))
    assert [p.name for p in checked] == [f.replace(".png", "_individual.png") for f in frames]
    with project.documentation_file(0.95, 1).open("rb") as fh:
        _, train, test, fraction = pickle.load(fh)
    assert fraction == 0.95 and len(train) + len(test) == 6
    with project.dataset_file(0.95, 1).open("rb") as fh:
        records = pickle.load(fh)
    assert len(records) == len(train)
    assert all(set(r["joints"]) <= {0, 1, 2} for r in records)  # m1, m2, then led
    pose = yaml.safe_load(project.pose_cfg(0.95, 1).read_text())
    assert pose["net_type"] == "mobilenet_v2_0.35" and pose["crop_size"] == [64, 64]
    assert pose["all_joints_names"] == ["nose", "tail", "led"]
    assert pose["partaffinityfield_graph"] == [[0, 1]]
    test_cfg = yaml.safe_load(project.pose_cfg(0.95, 1, "test").read_text())
    assert test_cfg["nmsradius"] == 3 and test_cfg["minconfidence"] == 0.1  # DLC: 5, 0.01
    assert test_cfg["sigma"] == 1  # DLC's, not set
    inference = yaml.safe_load(project.inference_cfg(0.95, 1).read_text())
    assert inference["topktoretain"] == 2
    # the network trains, is evaluated, and analyzes the video into tracks, a rule a stage
    # assembled calibrated, in analysis and in evaluation (tracking.calibrate)
    tracking = "tracking={calibrate: true}"
    run = snakemake("all", "--config", f"project={config}", tracking, *SMALL)
    assert run.returncode == 0, run.stderr[-3000:]
    scorer = "DLC_mobnet_35_group" + project.date + "shuffle1_2"
    for rule in ("detect_video", "assemble_detections", "track_assemblies", "stitch_tracklets"):
        assert f"rule {rule}:" in run.stdout + run.stderr
    videos = config.parent / "videos"
    for suffix in ("_full.pickle", "_meta.pickle", "_assemblies.pickle", "_el.pickle"):
        assert (videos / f"arena{scorer}{suffix}").is_file()
    tracks = pd.read_hdf(videos / f"arena{scorer}_el.h5")
    assert tracks.columns.names == ["scorer", "individuals", "bodyparts", "coords"]
    assert tracks.columns.get_level_values("individuals").unique().tolist() == [
        "m1",
        "m2",
        "single",
    ]
    assert len(tracks) == 40
    filtered = pd.read_hdf(videos / f"arena{scorer}_el_filtered.h5")
    assert filtered.columns.equals(tracks.columns) and len(filtered) == 40
    assert (videos / f"arena{scorer}_el_skeleton.h5").is_file()
    # plots per individual (DLC's names) and the labeled video of the tracks
    assert (videos / f"arena{scorer}_el_bp_labeled.mp4").is_file()
    for individual in ("m1", "m2", "single"):
        assert (videos / "plot-poses" / "arena" / f"trajectory{individual}.png").is_file()
    # outlier frames of the tracks (none to find in an untrained network's empty tracks)
    run = snakemake("outliers", "--config", f"project={config}", *SMALL)
    assert run.returncode == 0, run.stderr[-3000:]
    assert project.outliers_record("arena", 0).is_file()
    # DLC's functions of the stages after detection, on the same files, another tracker
    tracklets = dlcflow.convert_detections2tracklets(
        config, [videos / "arena.mp4"], track_method="box"
    )
    assert tracklets == [videos / f"arena{scorer}_bx.pickle"]
    stitched = dlcflow.stitch_tracklets(
        config, [videos / "arena.mp4"], track_method="box", n_tracks=3
    )
    assert stitched == [videos / f"arena{scorer}_bx.h5"]
    names = pd.read_hdf(stitched[0]).columns.get_level_values("individuals").unique()
    assert names.tolist() == ["ind1", "ind2", "ind3", "single"]
    results = pd.read_csv(project.evaluation_results(0.95, 1, scorer), index_col=0)
    assert results["Training iterations:"].tolist() == [2]
    assembly = pd.read_csv(
        project.evaluation_folder(0.95, 1) / f"{scorer}-assembly-results.csv", index_col=0
    )
    assert set(assembly.columns) >= {"rmse_test", "mAP_test", "mAR_test"}
    # evaluation calibrates on the training images only: 9 poses are too few; analysis
    # calibrates on every labeled pose (DLC's), read through the pose data model
    assert assembly["calibrated"].tolist() == [False]
    (log,) = (project.root / "logs" / "evaluation-results").glob(f"*{scorer}.log")
    assert "calibration skipped: 9 complete labeled poses, at least 10" in log.read_text()
    poses = calibration_poses(project)
    assert poses.shape == (12, 2, 2)  # 6 images x 2 individuals, (nose, tail), (x, y)
    written = df.to_numpy().reshape(6, 5, 2)[:, :4]  # m1 nose, tail, m2 nose, tail; led
    np.testing.assert_array_equal(poses, written.reshape(12, 2, 2))
    test_cfg = yaml.safe_load(project.pose_cfg(0.95, 1, "test").read_text())
    assert test_cfg["paf_best"] == [0]
