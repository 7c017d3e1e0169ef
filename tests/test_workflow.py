"""The workflow run through Snakemake: the demo, and a project made by DeepLabCut."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import scipy.io
import yaml
from conftest import SMALL_DEMO, snakemake_workdir

from dlcflow.io.labels import read_annotations
from dlcflow.io.nwb import read_nwb
from dlcflow.io.poses import load_poses
from dlcflow.project.paths import Project
from dlcflow.workflow.settings import MissingLabelsError, annotated_stems, labels_inputs

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow


def snakemake(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "-s", str(REPO / "Snakefile")]
    return subprocess.run(
        cmd + list(args),
        cwd=cwd or snakemake_workdir(),
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_unknown_workflow_key_is_rejected() -> None:
    run = snakemake("-n", "--config", "shufles=[1]")
    assert run.returncode != 0
    assert "unknown key 'shufles' (did you mean 'shuffles'?)" in run.stderr + run.stdout


def test_refined_demo_model_must_be_told_apart(tmp_path: Path) -> None:
    """The demo analyzes every video with both iterations' models; DLC's file names tell
    models apart by training iterations only, so a refined maxiters that is also a
    snapshot of the first iteration is refused, naming the key."""
    import copy

    from dlcflow.workflow.settings import check_refined, settings, snapshot_iterations

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    first, refined = settings(config, demo="demo"), settings(config, demo="demo", refined=True)
    assert snapshot_iterations(first) == {500, 1000, 1500}
    check_refined(first, refined)  # the shipped config is fine
    # the refined model fine-tunes: its learning rates end by its maxiters; its pose_cfg
    # keys win over the demo's, the others are the demo's
    assert refined.pose_cfg["multi_step"][-1][1] == refined.maxiters
    assert {**refined.pose_cfg, "multi_step": None} == {**first.pose_cfg, "multi_step": None}
    clash = copy.deepcopy(config)
    clash["demo"]["refined"]["maxiters"] = 1000
    with pytest.raises(ValueError, match="demo.refined.maxiters 1000 is also a snapshot"):
        check_refined(first, settings(clash, demo="demo", refined=True))
    cfg = tmp_path / "clash.yaml"
    cfg.write_text(yaml.safe_dump({"demo": clash["demo"]}))
    run = snakemake("-n", "demo", "--configfile", str(cfg))
    assert run.returncode != 0
    assert "demo.refined.maxiters 1000 is also a snapshot" in run.stderr + run.stdout


def test_demo_end_to_end(tmp_path: Path) -> None:
    """Two iterations: frames, oracle labels, dataset, training, evaluation, analysis,
    post-processing, outliers of the held-out video, oracle refinement, merge, iteration 1."""
    cfg = tmp_path / "demo.yaml"
    outdir = tmp_path / "demo"
    demo = {**SMALL_DEMO, "outdir": str(outdir)}
    cfg.write_text(yaml.safe_dump({"demo": demo}))
    run = snakemake("demo", "--configfile", str(cfg))
    assert run.returncode == 0, run.stderr[-3000:]
    # what the terminal shows: dlcflow's lines, not the libraries' start-up chatter
    said = run.stdout + run.stderr
    for noise in (
        "absl::InitializeLog",
        "oneDNN custom operations",
        "Sharding callback",
        "moov atom",
        "generated new fontManager",
        "Traceback",
    ):
        assert noise not in said, noise
    warned = [line for line in said.splitlines() if line.startswith("warning: ")]
    assert len(warned) == len(set(warned))  # each warning once
    config = Path((outdir / "project.txt").read_text().strip())
    project = Project(config)
    assert project.iteration == 1  # merged after the refinement
    assert project.video_stems() == ["mouse1", "mouse2", "mouse3"]
    for stem in ("mouse1", "mouse2"):
        pngs = sorted(project.labeled_folder(stem).glob("img*.png"))
        assert len(pngs) == 8
        labels = read_annotations(project.collected_data(stem))
        assert len(labels) == 8
        assert list(labels.columns.names) == ["scorer", "bodyparts", "coords"]
        assert set(labels.index.get_level_values(2)) == {p.name for p in pngs}
        assert project.collected_data(stem, "csv").is_file()
        drawn = sorted(project.check_labels_folder(stem).glob("*.png"))
        assert len(drawn) == 8
    mat = scipy.io.loadmat(project.dataset_file(0.95, 1, iteration=0))["dataset"]
    with project.documentation_file(0.95, 1, iteration=0).open("rb") as fh:
        _, train, test, fraction = pickle.load(fh)
    assert fraction == 0.95
    assert len(train) == int(16 * 0.95) and len(train) + len(test) == 16
    assert mat.shape[1] <= len(train)
    pose = yaml.safe_load(project.pose_cfg(0.95, 1, iteration=0).read_text())
    assert pose["net_type"] == "mobilenet_v2_0.35"
    assert pose["init_weights"] == "none"
    assert pose["all_joints_names"] == ["snout", "leftear", "rightear", "tailbase"]
    assert pose["global_scale"] == 1.0 and pose["optimizer"] == "adam"  # demo pose_cfg
    # iteration 0: train, evaluate, analyze
    assert [p.name for p in project.snapshots(0.95, 1, 0)] == ["snapshot-3", "snapshot-6"]
    stats = pd.read_csv(project.learning_stats(0.95, 1, 0), header=None)
    assert stats.shape[1] == 3 and stats[0].iloc[-1] == 6
    scorer = "DLC_mobnet_35_demo" + project.date + "shuffle1_6"
    results = pd.read_csv(project.evaluation_results(0.95, 1, scorer, 0), index_col=0)
    assert list(results.columns) == [
        "Training iterations:",
        "%Training dataset",
        "Shuffle number",
        " Train error(px)",
        " Test error(px)",
        "p-cutoff used",
        "Train error with p-cutoff",
        "Test error with p-cutoff",
    ]
    assert results["Training iterations:"].tolist() == [6]
    assert project.combined_evaluation(0).is_file()
    videos = sorted((project.root / "videos").glob("mouse?.mp4"))
    assert [v.name for v in videos] == ["mouse1.mp4", "mouse2.mp4", "mouse3.mp4"]
    for video in videos:
        h5 = project.analysis_output(video, scorer)
        with pd.HDFStore(h5, "r") as store:
            assert store.keys() == ["/df_with_missing"]
            assert store.get_storer("df_with_missing").is_table
        poses = pd.read_hdf(h5)
        assert len(poses) == 60
        assert list(poses.columns.get_level_values("coords")[:3]) == ["x", "y", "likelihood"]
        assert project.analysis_output(video, scorer, suffix=".csv").is_file()
        meta = pd.read_pickle(project.analysis_output(video, scorer, suffix="_meta.pickle"))
        assert meta["data"]["nframes"] == 60
        # post-processing
        assert pd.read_hdf(project.derived_output(h5, "_filtered.h5")).shape == poses.shape
        bones = pd.read_hdf(project.derived_output(h5, "_skeleton.h5"))
        assert len(bones) == 60 and "orientation" in set(bones.columns.get_level_values(-1))
        kinematics = pd.read_hdf(project.kinematics_output(h5), "df_with_missing")
        assert len(kinematics) == 60 and "speed" in set(kinematics.columns.get_level_values(-1))
        assert project.kinematics_plot(h5, "speed").is_file()
        labeled = cv2.VideoCapture(str(project.derived_output(h5, "_labeled.mp4")))
        assert int(labeled.get(cv2.CAP_PROP_FRAME_COUNT)) == 60
        assert (
            int(labeled.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(labeled.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        ) == (320, 240)
        labeled.release()
        plots = project.plot_poses_folder(video)
        assert {p.name for p in plots.glob("*.png")} >= {
            "trajectory.png",
            "plot.png",
            "plot-likelihood.png",
            "hist.png",
        }
        # NWB: the pose file's numbers, frame / fps timestamps (30 fps)
        nwb = read_nwb(project.nwb_output(h5))
        np.testing.assert_array_equal(nwb["position"].values, load_poses(h5)["position"].values)
        assert nwb.attrs["fps"] == 30.0 and nwb.attrs["scorer"] == scorer
    # refinement: outlier frames of the held-out video, labeled, merged into iteration 1
    machine = pd.read_hdf(project.machine_labels("mouse3", iteration=0))
    outlier_pngs = sorted(project.labeled_folder("mouse3").glob("img*.png"))
    assert 0 < len(machine) == len(outlier_pngs) <= 8
    assert set(machine.columns.get_level_values("coords")) == {"x", "y", "likelihood"}
    assert len(read_annotations(project.collected_data("mouse3"))) == len(outlier_pngs)
    merged = read_annotations(project.training_collected_data(iteration=1))
    assert len(merged) == 16 + len(outlier_pngs)
    assert [p.name for p in project.snapshots(0.95, 1, 1)][-1] == "snapshot-4"
    refined_pose = yaml.safe_load(project.pose_cfg(0.95, 1, iteration=1).read_text())
    assert refined_pose["init_weights"].endswith(
        "iteration-0/demo" + project.date + "-trainset95shuffle1/train/snapshot-6"
    )
    scorer1 = "DLC_mobnet_35_demo" + project.date + "shuffle1_4"
    assert project.evaluation_results(0.95, 1, scorer1, 1).is_file()
    report = (outdir / "report.txt").read_text()
    # it leads with the whole-video errors of both models; then each evaluation row
    # carries the sizes of its train and test sets, as the Documentation pickle has them
    assert report.index("mean error on every frame") < report.index("evaluation on the")
    rows = {line.split()[0]: line.split() for line in report.splitlines() if line[:1] == " "}
    for iteration, trained in ((0, 6), (1, 4)):
        with project.documentation_file(0.95, 1, iteration).open("rb") as fh:
            _, train, test, _ = pickle.load(fh)
        assert rows[str(iteration)] == [
            str(iteration),
            str(trained),
            *rows[str(iteration)][2:4],
            str(len(train)),
            *rows[str(iteration)][5:7],
            str(len(test)),
        ]
    summary = pd.read_csv(project.kinematics_summary(project.root))
    assert sorted(summary["video"]) == [v.stem + scorer for v in videos]
    assert "speed against the ground truth's" in report
    speeds = report.split("speed against the ground truth's")[1]
    assert all(f"\n{video.name}" in speeds for video in videos)  # an error, or why none
    videos_table = report.split("evaluation on the")[0]
    assert "mouse3.mp4    held-out      60" in videos_table
    # every video analyzed by both iterations' models, scored against the ground truth
    by_model = report.split("analysis by the iteration 1 model:")
    assert len(by_model) == 2 and "analysis by the iteration 0 model:" in by_model[0]
    for part in by_model:
        assert "mouse3.mp4 (held-out video, 60 frames): mean error" in part
        assert "mouse1.mp4 (labeled video, 60 frames): mean error" in part
    for video in videos:
        refined_h5 = project.analysis_output(video, scorer1)
        assert len(pd.read_hdf(refined_h5)) == 60
    # a second run has nothing to do
    again = snakemake("demo", "-n", "--configfile", str(cfg))
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr


def test_dlc_project_dataset(reaching_project: Path) -> None:
    """A project made by DLC 2.3 goes through `dataset`: the .mat matches its labels."""
    run = snakemake("dataset", "--config", f"project={reaching_project}")
    assert run.returncode == 0, run.stderr[-3000:]
    project = Project(reaching_project)
    labels = read_annotations(project.collected_data("reachingvideo1"))
    mat = scipy.io.loadmat(project.dataset_file(0.95, 1))["dataset"][0]
    with project.documentation_file(0.95, 1).open("rb") as fh:
        _, train, test, _ = pickle.load(fh)
    assert len(train) == int(55 * 0.95) and sorted([*train, *test]) == list(range(55))
    assert len(mat) == len(train)
    # the rule's log says what the split is and where it went
    log = project.root / "logs" / "dataset" / f"iteration-0-{project.model_name(0.95, 1)}.log"
    target = project.dataset_file(0.95, 1).relative_to(project.root).as_posix()
    said = f"shuffle 1, trainFraction 0.95: {len(train)} train / {len(test)} test frames"
    assert f"{said} -> {target}" in log.read_text()
    merged = labels.sort_index()
    for entry, row in zip(mat, train, strict=True):
        image = "/".join(str(part).strip() for part in entry["image"][0])  # DLC strips
        assert image.endswith(merged.index[row][2])
        joints = np.asarray(entry["joints"][0][0])
        values = merged.iloc[row].to_numpy().reshape(-1, 2)
        visible = np.flatnonzero(~np.isnan(values[:, 0]))
        assert list(joints[:, 0]) == list(visible)
        assert np.allclose(joints[:, 1:], values[visible], atol=1.0)


def test_csv_only_labels_count_as_labeled(reaching_project: Path) -> None:
    """A folder whose CollectedData is only the csv is labeled, as the library reads it."""
    project = Project(reaching_project)
    project.collected_data("reachingvideo1").unlink()
    csv = project.collected_data("reachingvideo1", "csv")
    assert annotated_stems(project) == ["reachingvideo1"]
    assert labels_inputs(project) == [str(csv)]
    run = snakemake("-n", "dataset", "--config", f"project={reaching_project}")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "MissingInputException" not in run.stdout + run.stderr


def test_eval_prefix_is_where_the_workflow_evaluates(reaching_project: Path) -> None:
    """The config's eval_prefix moves evaluation results, in the library and the rules."""
    text = reaching_project.read_text()
    reaching_project.write_text(text + "eval_prefix: my-evaluations\n")
    project = Project(reaching_project)
    wanted = project.evaluation_results(0.95, 1, "DLC_resnet50_ReachingAug30shuffle1_100")
    assert wanted.parts[-4] == "my-evaluations"
    run = snakemake("-n", "evaluate", "--config", f"project={reaching_project}")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "rule evaluate_network:" in run.stdout
    assert f"{project.root}/my-evaluations/iteration-0/" in run.stdout


def test_dlc_project_all_stages(reaching_project: Path, tmp_path: Path) -> None:
    """A DLC 2.3 project: dataset, a short training, evaluation, and analysis of a video
    made from its own frames; outputs open with pandas in DLC's structure."""
    frames = sorted((reaching_project.parent / "labeled-data/reachingvideo1").glob("*.png"))
    first = cv2.imread(str(frames[0]))
    video = tmp_path / "reach.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, first.shape[1::-1])
    same_size = [f for f in frames if cv2.imread(str(f)).shape == first.shape]
    for f in same_size[:12]:
        writer.write(cv2.imread(str(f)))
    writer.release()
    settings = {
        "project": str(reaching_project),
        "net_type": "mobilenet_v2_0.35",
        "init_weights": "none",
        "train": {"maxiters": 4, "saveiters": 2, "displayiters": 2, "max_snapshots_to_keep": 5},
        "videos": [str(video)],
    }
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump(settings))
    run = snakemake("all", "--configfile", str(tmp_path / "settings.yaml"))
    assert run.returncode == 0, run.stderr[-3000:]
    project = Project(reaching_project)
    scorer = "DLC_mobnet_35_ReachingAug30shuffle1_4"
    combined = pd.read_csv(project.combined_evaluation(), index_col=0)
    assert combined[" Test error(px)"].notna().all()
    poses = pd.read_hdf(project.analysis_output(video, scorer))
    assert poses.shape == (12, 15)
    assert list(poses.columns.names) == ["scorer", "bodyparts", "coords"]
    assert set(poses.columns.get_level_values("bodyparts")) == set(project.bodyparts)


def test_unlabeled_frames_are_left_out_or_stop_when_strict(reaching_project: Path) -> None:
    folder = reaching_project.parent / "labeled-data" / "newvideo"
    folder.mkdir()
    (folder / "img01.png").write_bytes(
        (reaching_project.parent / "labeled-data/reachingvideo1/img005.png").read_bytes()
    )
    with pytest.warns(UserWarning, match="labeled-data/newvideo has frames .* left out"):
        assert annotated_stems(Project(reaching_project)) == ["reachingvideo1"]
    with pytest.raises(MissingLabelsError, match="labeled-data/newvideo has frames") as err:
        annotated_stems(Project(reaching_project), strict=True)
    assert f"dlcflow label {reaching_project}" in str(err.value)
    run = snakemake("dataset", "--config", f"project={reaching_project}", "dataset={strict: true}")
    assert run.returncode != 0
    assert "labeled-data/newvideo has frames but no CollectedData_Mackenzie.h5" in run.stderr
    assert not Project(reaching_project).training_set_folder().exists()


def test_outlier_frames_wait_for_the_next_iteration(reaching_project: Path) -> None:
    """Outlier frames of iteration 0 in a new folder (machine labels, no CollectedData
    yet) neither block nor change iteration 0's dataset; after the merge they are part of
    iteration 1's, and missing labels stop it."""
    project = Project(reaching_project)
    folder = project.labeled_folder("newvideo")
    folder.mkdir()
    (folder / "img01.png").write_bytes(
        (project.labeled_folder("reachingvideo1") / "img005.png").read_bytes()
    )
    project.machine_labels("newvideo", 0).write_bytes(b"")  # DLC's own outlier extraction
    assert annotated_stems(project) == ["reachingvideo1"]
    assert labels_inputs(project, iteration=0) == [str(project.collected_data("reachingvideo1"))]
    config = reaching_project.read_text()
    reaching_project.write_text(config.replace("iteration: 0", "iteration: 1"))
    merged = Project(reaching_project)
    with pytest.raises(MissingLabelsError, match="labeled-data/newvideo has frames"):
        annotated_stems(merged)


def test_frames_keeps_dlc_frames_and_lists_them(reaching_project: Path) -> None:
    run = snakemake("frames", "--config", f"project={reaching_project}")
    assert run.returncode == 0, run.stderr[-3000:]
    project = Project(reaching_project)
    pngs = sorted(project.labeled_folder("reachingvideo1").glob("*.png"))
    assert len(pngs) == 55
    assert project.frames_manifest("reachingvideo1").is_file()
    df = pd.read_hdf(project.collected_data("reachingvideo1"))
    assert len(df) == 55
