"""Shared set-up of the benchmarks: throwaway projects with an untrained snapshot."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np

from dlcflow.devtools.demo import BODYPARTS
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import Project
from dlcflow.project.posecfg import write_yaml


def untrained_project(root: Path, videos: list[Path], net_type: str, task: str = "bench") -> Path:
    """A project over ``videos`` with a test pose_cfg and a snapshot (iteration 0) of the
    untrained ``net_type`` network (random weights): enough to analyze videos."""
    from dlcflow.training import nets  # noqa: PLC0415 (TensorFlow only when needed)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = Path(
            create_new_project(task, "me", videos, working_directory=root, bodyparts=BODYPARTS)
        )
    project = Project(config)
    fraction = project.training_fractions[0]
    cfg = {
        "all_joints": [[i] for i in range(len(BODYPARTS))],
        "all_joints_names": list(BODYPARTS),
        "dataset": "none.mat",
        "global_scale": 0.8,
        "init_weights": "none",
        "location_refinement": True,
        "locref_stdev": 7.2801,
        "net_type": net_type,
        "num_joints": len(BODYPARTS),
    }
    write_yaml(project.pose_cfg(fraction, 1, "test"), cfg)
    nets.save_snapshot(project.snapshot_prefix(fraction, 1, 0), nets.build_model(cfg))
    return config


def multi_animal_project(root: Path, bodyparts: list[str], n_animals: int) -> Path:
    """A multi-animal project (``n_animals`` individuals of ``bodyparts``) over a tiny
    video: the config the tracking stages read."""
    video = root / "bench.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    for _ in range(2):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Path(
            create_new_project(
                "bench",
                "me",
                [video],
                working_directory=root,
                multianimal=True,
                individuals=[f"animal{i + 1}" for i in range(n_animals)],
                bodyparts=bodyparts,
            )
        )
