"""``create_multianimaltraining_dataset``: DeepLabCut's multi-animal training datasets.

The same files as :func:`dlcflow.training.dataset.create_training_dataset` (which builds
a multi-animal project's datasets with these defaults too): the ``.pickle`` data file,
the Documentation pickle, train/test pose_cfg.yaml and test/inference_cfg.yaml; here with
DLC's multi-animal arguments: the crop the augmentation samples and the PAF graph
(:mod:`dlcflow.training.pafgraph`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

from dlcflow.project.paths import Project
from dlcflow.training.dataset import DatasetError, Split, build_datasets, model_settings

CROP_SAMPLING = ("uniform", "keypoints", "density", "hybrid")


def create_multianimaltraining_dataset(
    config: str | os.PathLike[str],
    num_shuffles: int = 1,
    Shuffles: Sequence[int] | None = None,  # noqa: N803 (DLC's argument name)
    windows2linux: bool = False,
    net_type: str | None = None,
    numdigits: int = 2,
    crop_size: Sequence[int] = (400, 400),
    crop_sampling: str = "hybrid",
    paf_graph: str | Sequence[Sequence[int]] | None = None,
    trainIndices: Sequence[Sequence[int]] | None = None,  # noqa: N803
    testIndices: Sequence[Sequence[int]] | None = None,  # noqa: N803
    n_edges_threshold: int = 105,
    paf_graph_degree: int = 6,
    init_weights: str | os.PathLike[str] | None = "imagenet",
    trainingsetindex: int | None = None,
    pose_cfg_updates: Mapping[str, Any] | None = None,
    test_pose_cfg_updates: Mapping[str, Any] | None = None,
) -> list[Split]:
    """Build a multi-animal project's training datasets as DeepLabCut 2.3 does.

    ``crop_size`` (width, height) and ``crop_sampling`` (uniform | keypoints | density |
    hybrid) go to the train pose_cfg for the augmentation; ``paf_graph`` is None (the
    complete graph, pruned to average degree ``paf_graph_degree`` at ``n_edges_threshold``
    edges or more), ``"config"`` (the skeleton) or index pairs of multi-animal body parts.
    ``numdigits`` and ``windows2linux`` are accepted as DLC's and have no effect. dlcflow
    extras as in ``create_training_dataset``: ``init_weights``, ``trainingsetindex``,
    ``pose_cfg_updates``, ``test_pose_cfg_updates``. Returns
    ``[(trainFraction, shuffle, trainIndices, testIndices)]``.
    """
    del windows2linux, numdigits  # DLC's, without effect
    project = Project(config)
    if not project.multianimal:
        raise DatasetError(
            f"{project.config_path}: not a multi-animal project (multianimalproject is not "
            "true); use create_training_dataset"
        )
    size = tuple(crop_size)
    if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
        raise DatasetError(f"crop_size {crop_size!r}: give two positive integers (width, height)")
    if crop_sampling not in CROP_SAMPLING:
        raise DatasetError(
            f"crop_sampling {crop_sampling!r}: use one of {', '.join(CROP_SAMPLING)}"
        )
    settings = dataclasses.replace(
        model_settings(
            project, net_type, None, None, init_weights, pose_cfg_updates, test_pose_cfg_updates
        ),
        paf_graph=paf_graph,
        crop_size=(int(size[0]), int(size[1])),
        crop_sampling=crop_sampling,
        n_edges_threshold=int(n_edges_threshold),
        paf_graph_degree=int(paf_graph_degree),
    )
    return build_datasets(
        project, settings, num_shuffles, Shuffles, trainIndices, testIndices, trainingsetindex
    )
