"""The multi-animal quality run: a network trained on the synthetic mice and evaluated as
DLC does, from demo videos to the evaluation files.

``n_videos`` demo videos of three look-alike mice and a feeder (:mod:`.mademo`),
``frames`` frames a video picked by kmeans and labeled with the ground truth (the oracle),
a training dataset with ``train_fraction`` of them (MobileNetV2-0.35 from scratch,
``init_weights: none``, fixed square crops, batch 8, learning rate 1e-3 then 3e-4 for the
last 30 %; the small-animal pose_cfg settings below), ``iterations`` of training and
``evaluate_network``, assembling calibrated on the training labels (``calibrate``, as
analysis with the workflow's ``tracking.calibrate``: the link lengths and pose shape of
the labeled mice weigh the links). The scores are read back from the files evaluation wrote:
``<scorer>-results.csv`` (keypoint error before assembly) and
``<scorer>-assembly-results.csv`` (RMSE and mAP after assembly).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dlcflow.devtools.demo import oracle_label_project
from dlcflow.devtools.mademo import make_multi_animal_demo_project
from dlcflow.labeling.frames import extract_frames
from dlcflow.post.evaluate import evaluate_network
from dlcflow.post.results import RESULT_COLUMNS
from dlcflow.project.config import read_config, write_config
from dlcflow.project.models import model_snapshots
from dlcflow.project.paths import Project
from dlcflow.training.dataset import read_documentation
from dlcflow.training.madataset import create_multianimaltraining_dataset
from dlcflow.training.train import train_network

__all__ = ["SMALL_ANIMAL_TEST", "SMALL_ANIMAL_TRAIN", "QualityRun", "read_scores", "run_quality"]

#: Train pose_cfg settings for the demo's small mice (about 30 px long, parts of two
#: mice often 20-30 px apart): DLC's defaults (``pafwidth`` 20, ``pos_dist_thresh`` 17)
#: draw fields and disks wide enough to merge neighbours.
SMALL_ANIMAL_TRAIN: dict[str, Any] = {"pafwidth": 8, "pos_dist_thresh": 10}
#: Test pose_cfg settings for the same: a smaller NMS window and less smoothing of the
#: score maps before it (DLC: ``nmsradius`` 5, ``sigma`` 1) keep close peaks apart; a
#: higher ``minconfidence`` (DLC: 0.01) drops the weak peaks the assembly would pick up.
SMALL_ANIMAL_TEST: dict[str, Any] = {"nmsradius": 3.0, "sigma": 0.5, "minconfidence": 0.1}


@dataclass(frozen=True)
class QualityRun:
    """What one quality run made and scored."""

    config: Path
    #: keypoint error before assembly (px), ``<scorer>-results.csv``'s last row
    error_train: float
    error_test: float
    #: after assembly, ``<scorer>-assembly-results.csv``'s last row
    rmse_train: float
    rmse_test: float
    mAP_train: float
    mAP_test: float
    n_train: int
    n_test: int


def read_scores(config: str | os.PathLike[str], shuffle: int = 1) -> QualityRun:
    """The scores of the evaluation of ``shuffle`` (the config's last training fraction,
    its ``snapshotindex`` snapshot), read from its result files."""
    project = Project(config)
    fraction = project.training_fractions[-1]
    trainingsetindex = len(project.training_fractions) - 1
    _, (model,) = model_snapshots(project, shuffle, trainingsetindex, allow_all=False)
    results = project.evaluation_results(fraction, shuffle, model.scorer)
    if not results.is_file():
        raise FileNotFoundError(f"{results}: no evaluation results (evaluate first)")
    errors = pd.read_csv(results).iloc[-1]
    assembly = pd.read_csv(project.assembly_results_of(results)).iloc[-1]
    _, train, test, _ = read_documentation(project.documentation_file(fraction, shuffle))
    return QualityRun(
        config=Path(config),
        error_train=float(errors[RESULT_COLUMNS[3]]),
        error_test=float(errors[RESULT_COLUMNS[4]]),
        rmse_train=float(assembly["rmse_train"]),
        rmse_test=float(assembly["rmse_test"]),
        mAP_train=float(assembly["mAP_train"]),
        mAP_test=float(assembly["mAP_test"]),
        n_train=len(train),
        n_test=len(test),
    )


def run_quality(
    outdir: str | os.PathLike[str],
    *,
    n_videos: int = 3,
    frames: int = 40,
    train_fraction: float = 0.8,
    iterations: int = 2000,
    crop: int = 192,
    size: tuple[int, int] = (480, 360),
    seed: int = 0,
    train_cfg: Mapping[str, Any] | None = None,
    test_cfg: Mapping[str, Any] | None = None,
    deterministic: bool = False,
    calibrate: bool = True,
) -> QualityRun:
    """Make the data in ``outdir``, train, evaluate and return the scores.

    ``train_cfg`` and ``test_cfg`` are written over the train and test pose_cfg
    (defaults: :data:`SMALL_ANIMAL_TRAIN` and :data:`SMALL_ANIMAL_TEST`; ``{}`` keeps
    DLC's defaults). ``deterministic`` trains in deterministic mode with ``seed`` (two
    runs give the same scores); ``calibrate=False`` evaluates with DLC's default, plain
    assembly.
    """
    config = make_multi_animal_demo_project(
        outdir, n_videos=n_videos, nframes=300, numframes2pick=frames, seed=seed, size=size
    )
    cfg = read_config(config)
    cfg["TrainingFraction"] = [train_fraction]
    write_config(config, cfg)
    extract_frames(config, algo="kmeans")
    oracle_label_project(config)
    n = iterations
    create_multianimaltraining_dataset(
        config,
        net_type="mobilenet_v2_0.35",
        crop_size=(crop, crop),
        init_weights="none",
        pose_cfg_updates={
            "batch_size": 8,
            "multi_step": [[1e-3, int(n * 0.7)], [3e-4, n]],
            "save_iters": n,
            "display_iters": 100,
            **(SMALL_ANIMAL_TRAIN if train_cfg is None else train_cfg),
        },
        test_pose_cfg_updates=SMALL_ANIMAL_TEST if test_cfg is None else test_cfg,
    )
    train_network(
        config,
        maxiters=n,
        saveiters=n,
        displayiters=100,
        deterministic=deterministic,
        seed=seed if deterministic else None,
    )
    evaluate_network(config, engine="tensorflow", calibrate=calibrate)
    return read_scores(config)
