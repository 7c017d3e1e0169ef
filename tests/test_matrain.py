"""training.matrain: the fallback crop, a tiny multi-animal project trained end to end
(snapshots, learning_stats.csv, resume), the loss going down on a fixed batch."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import write_video

from dlcflow.io import labels
from dlcflow.project.config import read_config, write_config
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import Project
from dlcflow.project.posecfg import load_pose_cfg, read_yaml, write_yaml

BODYPARTS = ["nose", "back", "tail"]


@pytest.fixture(scope="module")
def ma_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 mice (3 body parts each) as bright discs on 4 images of 96 x 80."""
    from dlcflow.training.dataset import create_training_dataset

    tmp = tmp_path_factory.mktemp("matrain")
    video = write_video(tmp / "arena.avi", nframes=5, size=(96, 80))
    config = Path(
        create_new_project(
            "ma",
            "me",
            [video],
            working_directory=tmp,
            multianimal=True,
            individuals=["m1", "m2", "m3"],
            bodyparts=BODYPARTS,
        )
    )
    cfg = read_config(config)
    cfg["TrainingFraction"] = [0.75]
    write_config(config, cfg)
    project = Project(config)
    folder = project.labeled_folder("arena")
    rng = np.random.default_rng(0)
    names = [f"img{i}.png" for i in range(4)]
    df = labels.empty_annotations(project, names, video="arena")
    for r, name in enumerate(names):
        image = np.full((80, 96, 3), 30, np.uint8)
        values = []
        for _ in range(3):
            start = rng.uniform(15, 60, 2)
            for j in range(3):
                x, y = start + np.array([10.0 * j, 4.0 * j])
                cv2.circle(image, (int(x), int(y)), 3, (60 + 80 * j, 200, 255 - 80 * j), -1)
                values += [x, y]
        cv2.imwrite(str(folder / name), image)
        df.iloc[r] = values
    labels.write_annotations(df, project.collected_data("arena"))
    create_training_dataset(
        config,
        trainIndices=[[0, 1, 2]],
        testIndices=[[3]],
        init_weights="none",
        net_type="mobilenet_v2_0.35",
        pose_cfg_updates={"crop_size": [64, 64], "batch_size": 2, "global_scale": 1.0},
    )
    return config


def test_loss_goes_down_on_a_fixed_batch(ma_project: Path) -> None:
    from dlcflow.training.manets import build_multi_model
    from dlcflow.training.matrain import (
        _augmenter,
        load_multi_training_set,
        make_multi_dataset,
        make_multi_train_step,
    )
    from dlcflow.training.trainloop import make_optimizer

    project = Project(ma_project)
    fraction = project.training_fractions[0]
    cfg = load_pose_cfg(project.pose_cfg(fraction, 1))
    trainset = load_multi_training_set(project, cfg, fraction, 1)
    assert trainset.keypoints.shape == (3, 3, 3, 2)
    images, targets = next(
        iter(
            make_multi_dataset(trainset, cfg, _augmenter({**cfg, "crop_only": True}, 0), 2, seed=1)
        )
    )
    assert tuple(images.shape) == (2, 64, 64, 3)
    assert tuple(targets["part"].shape) == (2, 8, 8, 3)
    assert tuple(targets["pairwise"].shape) == (2, 8, 8, 6)  # 3 limbs
    assert float(targets["part"].numpy().sum()) > 0
    model = build_multi_model(cfg)
    optimizer = make_optimizer({**cfg, "adam_lr": 1e-3})
    step = make_multi_train_step(model, optimizer, cfg)
    losses = [float(step(images, targets)) for _ in range(30)]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3]), losses


def test_train_network_snapshots_stats_and_resume(ma_project: Path) -> None:
    from dlcflow.training.manets import load_trained_multi_model
    from dlcflow.training.train import train_network

    project = Project(ma_project)
    fraction = project.training_fractions[0]
    final = train_network(
        ma_project, maxiters=6, saveiters=3, displayiters=2, deterministic=True, seed=0
    )
    assert Path(final).name == "snapshot-6"
    assert [p.name for p in project.snapshots(fraction, 1)] == ["snapshot-3", "snapshot-6"]
    rows = [
        line.split(", ") for line in project.learning_stats(fraction, 1).read_text().splitlines()
    ]
    assert [r[0] for r in rows] == ["2", "4", "6"]
    assert all(np.isfinite(float(r[1])) for r in rows)
    # resume with a zero learning rate: the weights stay the restored ones
    pose_cfg = project.pose_cfg(fraction, 1)
    cfg = read_yaml(pose_cfg)
    write_yaml(pose_cfg, {**cfg, "multi_step": [[0.0, 100]]})
    final = train_network(ma_project, maxiters=8, saveiters=4, displayiters=2, seed=0)
    assert Path(final).name == "snapshot-8"
    log = project.train_log(fraction, 1).read_text()
    assert re.search(r"resuming from snapshot-6 \(iteration 6\)", log)
    rows = [
        line.split(", ") for line in project.learning_stats(fraction, 1).read_text().splitlines()
    ]
    assert [r[0] for r in rows] == ["2", "4", "6", "8"]
    test_cfg = load_pose_cfg(pose_cfg)
    m6 = load_trained_multi_model(test_cfg, project.snapshot_prefix(fraction, 1, 6))
    m8 = load_trained_multi_model(test_cfg, project.snapshot_prefix(fraction, 1, 8))
    for a, b in zip(m6.trainable_variables, m8.trainable_variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
