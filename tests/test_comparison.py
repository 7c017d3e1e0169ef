"""create_training_model_comparison: shuffles sharing a split, DLC's log, and the
workflow training and evaluating each shuffle, then the comparison table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import snakemake_workdir
from test_predict import BODYPARTS, draw_frame, make_video, set_config, square_centres

from dlcflow.cli import main
from dlcflow.io.labels import row_index, write_annotations
from dlcflow.io.tables import pose_columns
from dlcflow.post.comparison import ComparisonError, compare_models
from dlcflow.post.results import RESULT_COLUMNS
from dlcflow.project import posecfg
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import Project
from dlcflow.training.comparison import (
    create_training_model_comparison,
    read_comparison_log,
)
from dlcflow.training.dataset import create_training_dataset, read_documentation, split_indices
from dlcflow.training.records import DatasetError
from dlcflow.workflow.settings import model_nets, settings, stage_targets

REPO = Path(__file__).resolve().parents[1]
NIMG = 10
# DLC's logging line: "%(asctime)s %(levelname)s %(message)s"
LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO Shuffle index:(\d+), net_type:([^,]+), "
    r"augmenter_type:([^,]+), trainsetindex:0, frozen shuffle ID:(\d+)$"
)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """10 labeled 160x120 frames (two squares, body parts a and b), TrainingFraction 0.8."""
    (tmp_path / "data").mkdir()
    video = make_video(tmp_path / "data" / "vid.avi", 4)
    config = create_new_project("T", "me", [video], working_directory=tmp_path, bodyparts=BODYPARTS)
    set_config(Project(config), TrainingFraction=[0.8])
    proj = Project(config)
    names = [f"img{i:02d}.png" for i in range(NIMG)]
    for i, name in enumerate(names):
        img = cv2.cvtColor(draw_frame(i), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(proj.labeled_folder("vid") / name), img)
    values = np.stack([square_centres(i).reshape(-1) for i in range(NIMG)])
    df = pd.DataFrame(
        values,
        index=row_index(("labeled-data", "vid", n) for n in names),
        columns=pose_columns(proj.scorer, BODYPARTS),
    )
    write_annotations(df, proj.collected_data("vid"))
    return proj


def split_of(project: Project, shuffle: int) -> tuple[list[int], list[int]]:
    _, train, test, _ = read_documentation(project.documentation_file(0.8, shuffle))
    return sorted(train.tolist()), sorted(test.tolist())


def test_shuffles_share_each_split_and_are_logged(project: Project) -> None:
    create_training_dataset(project.config_path, init_weights="none")  # shuffle 1 exists
    shuffles = create_training_model_comparison(
        project.config_path,
        num_shuffles=2,
        net_types=["mobilenet_v2_0.35", "resnet_50"],
        augmenter_types=["imgaug", "scalecrop"],
        init_weights="none",
    )
    # DLC's numbering: after the largest shuffle, augmenter fastest, then net, then split
    assert shuffles == list(range(2, 10))
    pairs = [(n, a) for n in ("mobilenet_v2_0.35", "resnet_50") for a in ("imgaug", "scalecrop")]
    lines = project.model_comparison_log().read_text().splitlines()
    parsed = [LOG_LINE.match(line).groups() for line in lines]  # type: ignore[union-attr]
    assert parsed == [(str(s), *pairs[k % 4], str(k // 4)) for k, s in enumerate(shuffles)]
    for frozen in (0, 1):
        group = shuffles[4 * frozen : 4 * frozen + 4]
        splits = [split_of(project, s) for s in group]
        assert all(sp == splits[0] for sp in splits)  # one split per frozen shuffle ID
        train, test = splits[0]
        assert (len(train), len(test)) == (8, 2) and sorted(train + test) == list(range(NIMG))
        for s, (net, aug) in zip(group, pairs, strict=True):
            cfg = posecfg.read_yaml(project.pose_cfg(0.8, s, "train"))
            assert (cfg["net_type"], cfg["dataset_type"]) == (net, aug)
            assert ("rotation" in cfg) == (aug == "imgaug")  # scalecrop drops rotation
    # two splits, seeded by their first shuffle (that shuffle's create_training_dataset split)
    assert split_of(project, 2) != split_of(project, 6)
    train, test = split_indices(NIMG, 0.8, 6)
    assert split_of(project, 6) == (sorted(train.tolist()), sorted(test.tolist()))
    entries = read_comparison_log(project)
    assert [(e.shuffle, e.net_type, e.augmenter_type) for e in entries.values()] == [
        (s, *pairs[k % 4]) for k, s in enumerate(shuffles)
    ]
    # the workflow trains each with its own network, shuffle 1 with the settings' one
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    nets = model_nets(project, settings({**config, "net_type": "efficientnet-b0"}))
    assert nets[0.8, 1] == "efficientnet-b0" and nets[0.8, 8] == "resnet_50"
    assert len(nets) == 9


def test_unsupported_names_are_one_line_and_write_nothing(project: Project) -> None:
    for kwargs, cause in (
        ({"augmenter_types": ["imgaug", "tensorpack"]}, "augmenter_type 'tensorpack'"),
        ({"net_types": ["resnet_18"]}, "unknown net_type 'resnet_18'"),
    ):
        with pytest.raises(DatasetError, match=cause) as err:
            create_training_model_comparison(project.config_path, init_weights="none", **kwargs)
        assert "\n" not in str(err.value)
    assert not project.model_comparison_log().exists()
    assert not project.model_folder(0.8, 1).parent.exists()
    with pytest.raises(ComparisonError, match="no model comparison in iteration 0"):
        compare_models(project.config_path)


def test_workflow_trains_evaluates_and_compares_each_shuffle(
    project: Project, tmp_path: Path
) -> None:
    """Two shuffles (two augmenters) through Snakemake: trained and evaluated as jobs of
    their own, then the table read back equals each shuffle's results file."""
    assert (
        main(
            [
                "create-training-model-comparison",
                str(project.config_path),
                "--net-types",
                "mobilenet_v2_0.35",
                "--augmenter-types",
                "imgaug",
                "scalecrop",
                "--init-weights",
                "none",
            ]
        )
        == 0
    )
    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text(
        yaml.safe_dump(
            {
                "project": str(project.config_path),
                "init_weights": "none",
                "train": {
                    "maxiters": 2,
                    "saveiters": 2,
                    "displayiters": 1,
                    "max_snapshots_to_keep": 5,
                },
                "evaluate": {"plotting": False},
            }
        )
    )
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "-s", str(REPO / "Snakefile")]
    run = subprocess.run(
        [*cmd, "evaluate", "--configfile", str(settings_file)],
        cwd=snakemake_workdir(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout + run.stderr
    for rule in ("train_network", "evaluate_network"):
        assert len(re.findall(rf"rule {rule}:", out)) == 2, rule  # one job per shuffle
    assert "rule training_dataset:" not in out  # the comparison's datasets are kept
    table = pd.read_csv(project.model_comparison_table())
    assert table["Shuffle number"].tolist() == [1, 2]
    assert table["augmenter_type"].tolist() == ["imgaug", "scalecrop"]
    assert (table["net_type"] == "mobilenet_v2_0.35").all()
    assert (table["Training iterations:"] == 2).all()
    for _, row in table.iterrows():
        scorer = project.scorer_name(int(row["Shuffle number"]), "mobilenet_v2_0.35", 2)
        results = pd.read_csv(
            project.evaluation_results(0.8, int(row["Shuffle number"]), scorer), index_col=0
        )
        np.testing.assert_array_equal(  # NaN where no prediction passes p-cutoff
            results.iloc[-1][RESULT_COLUMNS].to_numpy(float), row[RESULT_COLUMNS].to_numpy(float)
        )
        assert np.isfinite(row[" Test error(px)"])
    assert "model comparison" in out and "scalecrop" in out  # evaluate prints the table
    st = settings({**yaml.safe_load((REPO / "config" / "config.yaml").read_text())})
    assert str(project.model_comparison_table()) in stage_targets(project, "evaluate", st)
