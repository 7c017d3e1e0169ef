"""The workflow config from the command line: nested values typed by the schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_workflow import REPO, snakemake

from dlcflow.project.paths import Project
from dlcflow.workflow.config import coerce, load_schema

SCHEMA = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")


def test_strings_get_the_schema_types() -> None:
    typed = coerce(
        {
            "train": {"maxiters": "300"},
            "shuffles": ["1", "2"],
            "frames": {"force": "true", "algo": "uniform"},
            "filter": {"p_bound": "0.02"},
            "videos": "a.mp4",
            "net_type": "",
            "pose_cfg": {"multi_step": [["1e-3", "100"]], "optimizer": "adam"},
            "demo": {"refined": {"pose_cfg": "null"}},
        },
        SCHEMA,
    )
    assert typed == {
        "train": {"maxiters": 300},
        "shuffles": [1, 2],
        "frames": {"force": True, "algo": "uniform"},
        "filter": {"p_bound": 0.02},
        "videos": "a.mp4",
        "net_type": "",
        "pose_cfg": {"multi_step": [[0.001, 100]], "optimizer": "adam"},
        "demo": {"refined": {"pose_cfg": None}},
    }
    # a value that does not convert stays, for the check to name
    assert coerce({"train": {"maxiters": "many"}}, SCHEMA) == {"train": {"maxiters": "many"}}


@pytest.mark.workflow
def test_nested_settings_from_the_command_line(reaching_project: Path) -> None:
    """An integer, a boolean, a float and a nested list set inside nested sections with
    --config reach the stages with their types (Snakemake passes them as strings)."""
    run = snakemake(
        "dataset",
        "--config",
        f"project={reaching_project}",
        "train={maxiters: 300, saveiters: 100}",
        "frames={force: true}",
        "filter={p_bound: 0.02}",
        "pose_cfg={multi_step: [[0.002, 50], [0.001, 300]], global_scale: 0.9}",
        "test_pose_cfg={locref_stdev: 7.0}",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    project = Project(reaching_project)
    pose_cfg = yaml.safe_load(project.pose_cfg(0.95, 1, "train").read_text())
    assert pose_cfg["multi_step"] == [[0.002, 50], [0.001, 300]]
    assert pose_cfg["global_scale"] == 0.9
    test_cfg = yaml.safe_load(project.pose_cfg(0.95, 1, "test").read_text())
    assert test_cfg["locref_stdev"] == 7.0 and pose_cfg["locref_stdev"] != 7.0
    run = snakemake(
        "-n", "train", "--config", f"project={reaching_project}", "train={maxiters: 300}"
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "train/snapshot-300.index" in run.stdout
    bad = snakemake(
        "-n", "dataset", "--config", f"project={reaching_project}", "train={maxiters: x}"
    )
    assert bad.returncode != 0
    assert "key 'train.maxiters': 'x' is not of type 'integer'" in bad.stdout + bad.stderr
