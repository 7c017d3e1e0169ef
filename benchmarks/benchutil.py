"""Shared set-up of the benchmarks: throwaway projects with an untrained snapshot."""

from __future__ import annotations

import warnings
from pathlib import Path

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
