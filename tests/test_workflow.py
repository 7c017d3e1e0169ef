"""The workflow run through Snakemake: the demo, and a project made by DeepLabCut."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io
import yaml

from dlcflow.labels import read_annotations
from dlcflow.project import Project
from dlcflow.workflow import MissingLabelsError, annotated_stems

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow


def snakemake(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "-s", str(REPO / "Snakefile")]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        cmd + list(args), cwd=cwd, capture_output=True, text=True, env=env, timeout=900
    )


def test_unknown_workflow_key_is_rejected() -> None:
    run = snakemake("-n", "--config", "shufles=[1]")
    assert run.returncode != 0
    assert "unknown key 'shufles' (did you mean 'shuffles'?)" in run.stderr + run.stdout


def test_demo_end_to_end(tmp_path: Path) -> None:
    cfg = tmp_path / "demo.yaml"
    outdir = tmp_path / "demo"
    cfg.write_text(
        yaml.safe_dump(
            {
                "demo": {
                    "outdir": str(outdir),
                    "n_videos": 2,
                    "nframes": 60,
                    "numframes2pick": 8,
                    "seed": 1,
                    "net_type": "mobilenet_v2_0.35",
                    "init_weights": "none",
                }
            }
        )
    )
    run = snakemake("demo", "--configfile", str(cfg))
    assert run.returncode == 0, run.stderr[-3000:]
    config = Path((outdir / "project.txt").read_text().strip())
    project = Project(config)
    stems = project.video_stems()
    assert len(stems) == 2
    for stem in stems:
        pngs = sorted(project.labeled_folder(stem).glob("img*.png"))
        assert len(pngs) == 8
        labels = read_annotations(project.collected_data(stem))
        assert len(labels) == 8
        assert list(labels.columns.names) == ["scorer", "bodyparts", "coords"]
        assert set(labels.index.get_level_values(2)) == {p.name for p in pngs}
        assert project.collected_data(stem, "csv").is_file()
        drawn = sorted(project.check_labels_folder(stem).glob("*.png"))
        assert len(drawn) == 8
    mat = scipy.io.loadmat(project.dataset_file(0.95, 1))["dataset"]
    with project.documentation_file(0.95, 1).open("rb") as fh:
        _, train, test, fraction = pickle.load(fh)
    assert fraction == 0.95
    assert len(train) == int(16 * 0.95) and len(train) + len(test) == 16
    assert mat.shape[1] <= len(train)
    pose = yaml.safe_load(project.pose_cfg(0.95, 1).read_text())
    assert pose["net_type"] == "mobilenet_v2_0.35"
    assert pose["init_weights"] == "none"
    assert pose["all_joints_names"] == ["snout", "leftear", "rightear", "tailbase"]
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
    merged = labels.sort_index()
    for entry, row in zip(mat, train, strict=True):
        image = "/".join(str(part).strip() for part in entry["image"][0])  # DLC strips
        assert image.endswith(merged.index[row][2])
        joints = np.asarray(entry["joints"][0][0])
        values = merged.iloc[row].to_numpy().reshape(-1, 2)
        visible = np.flatnonzero(~np.isnan(values[:, 0]))
        assert list(joints[:, 0]) == list(visible)
        assert np.allclose(joints[:, 1:], values[visible], atol=1.0)


def test_unlabeled_frames_stop_with_the_label_command(reaching_project: Path) -> None:
    folder = reaching_project.parent / "labeled-data" / "newvideo"
    folder.mkdir()
    (folder / "img01.png").write_bytes(
        (reaching_project.parent / "labeled-data/reachingvideo1/img005.png").read_bytes()
    )
    with pytest.raises(MissingLabelsError, match="labeled-data/newvideo has frames") as err:
        annotated_stems(Project(reaching_project))
    assert f"dlcflow label {reaching_project}" in str(err.value)
    run = snakemake("dataset", "--config", f"project={reaching_project}")
    assert run.returncode != 0
    assert "labeled-data/newvideo has frames but no CollectedData_Mackenzie.h5" in run.stderr
    assert not Project(reaching_project).training_set_folder().exists()


def test_frames_keeps_dlc_frames_and_lists_them(reaching_project: Path) -> None:
    run = snakemake("frames", "--config", f"project={reaching_project}")
    assert run.returncode == 0, run.stderr[-3000:]
    project = Project(reaching_project)
    pngs = sorted(project.labeled_folder("reachingvideo1").glob("*.png"))
    assert len(pngs) == 55
    assert project.frames_manifest("reachingvideo1").is_file()
    df = pd.read_hdf(project.collected_data("reachingvideo1"))
    assert len(df) == 55
