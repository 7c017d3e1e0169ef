"""What a user sees when something is wrong: one line naming the file and the cause,
no Python traceback, through Snakemake (the rule log keeps the traceback)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import write_video
from test_workflow import snakemake

from dlcflow.project.paths import Project

pytestmark = pytest.mark.workflow


def said(run) -> str:  # noqa: ANN001
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-2000:]
    assert "Traceback" not in out and "InputFunctionException" not in out, out[-4000:]
    return out


def test_bad_config_stops_before_the_dag(reaching_project: Path) -> None:
    out = said(snakemake("dataset", "--config", f"project={reaching_project}", "shuffles=[one]"))
    assert "error: workflow config: key 'shuffles.0': 'one' is not of type 'integer'" in out
    assert "Building DAG" not in out


def test_missing_project_config(tmp_path: Path) -> None:
    missing = tmp_path / "Reach" / "config.yaml"
    out = said(snakemake("dataset", "--config", f"project={missing}"))
    assert f"error: {missing}: config file not found" in out
    assert "Building DAG" not in out
    out = said(snakemake("dataset"))
    assert "error: no project set" in out


def test_unreadable_video(reaching_project: Path) -> None:
    project = Project(reaching_project)
    broken = project.root / "videos" / "broken.mp4"
    broken.parent.mkdir(exist_ok=True)
    good = write_video(project.root / "videos" / "good.mp4", nframes=40)
    broken.write_bytes(good.read_bytes()[:3000])  # cut short: no moov atom
    text = reaching_project.read_text()
    key = next(line for line in text.splitlines() if line.endswith("reachingvideo1.avi:"))
    reaching_project.write_text(text.replace(key, f"  {broken}:\n    crop: 0, 64, 0, 48\n{key}", 1))
    out = said(snakemake("frames", "--config", f"project={reaching_project}"))
    line = f"{broken}: cannot open video (unknown format or corrupt file)"
    assert f"error: {line}" in out
    last_words = out.splitlines()[-6:]  # after it only Snakemake's log path and timing
    assert any(w.startswith(f"dlcflow: extract_frames failed: {line}") for w in last_words)
    assert "moov atom" not in out  # FFmpeg's own notice is silenced
    log = (project.root / "logs" / "frames" / "broken.log").read_text()
    assert "Traceback" in log and log.rstrip().endswith(f"error: {line}")


def test_no_labels(reaching_project: Path) -> None:
    project = Project(reaching_project)
    for kind in ("h5", "csv"):
        project.collected_data("reachingvideo1", kind).unlink()
    out = said(snakemake("dataset", "--config", f"project={reaching_project}"))
    assert f"error: {reaching_project}: no labeled frames yet" in out


def test_unknown_body_part(reaching_project: Path) -> None:
    reaching_project.write_text(reaching_project.read_text().replace("- Tongue\n", "- Nose\n"))
    out = said(snakemake("dataset", "--config", f"project={reaching_project}"))
    assert "body part 'Tongue' is not in" in out
    assert "dlcflow: training_dataset failed:" in out


def test_partly_labeled_project_builds_from_the_labeled_folders(reaching_project: Path) -> None:
    """DLC builds the dataset from the folders that hold labels; dlcflow says which it
    left out and how to label them; dataset.strict: true stops instead."""
    project = Project(reaching_project)
    for name in ("newvideo", "other"):
        folder = project.labeled_folder(name)
        folder.mkdir()
        shutil.copy(project.labeled_folder("reachingvideo1") / "img005.png", folder / "img01.png")
    strict = snakemake(
        "dataset", "--config", f"project={reaching_project}", "dataset={strict: true}"
    )
    out = said(strict)
    assert "labeled-data/newvideo has frames but no CollectedData_Mackenzie.h5 (and 1 more" in out
    assert not project.training_set_folder().exists()
    run = snakemake("dataset", "--config", f"project={reaching_project}")
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    for name in ("newvideo", "other"):
        warning = (
            f"warning: labeled-data/{name} has frames but no CollectedData_Mackenzie.h5: "
            f"left out of the training dataset; label it with `dlcflow label {reaching_project}`"
        )
        assert out.count(warning) == 1, out[-3000:]
    assert project.dataset_file(0.95, 1).is_file()
