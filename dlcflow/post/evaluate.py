"""Evaluation of trained snapshots on the labeled frames (DLC's ``evaluate_network``).

For every selected snapshot (config ``snapshotindex``; ``"all"`` = every snapshot) the
network predicts every image of the merged annotations
(``training-datasets/.../CollectedData_<scorer>.h5``, rows sorted as DLC sorts them); the
Documentation pickle says which rows trained. Outputs, in
``evaluation-results/iteration-<N>/<Task><date>-trainset<pct>shuffle<n>/`` (all atomic):

- ``<scorer>-snapshot-<it>.h5``: the predictions (DLC's structure: rows = the annotation
  rows, columns ``scorer × bodyparts × (x, y, likelihood)``, key ``df_with_missing``);
  an existing file is reused (as DLC does) and only the errors are recomputed;
- ``<scorer>-results.csv`` (scorer of the last evaluated snapshot) and
  ``iteration-<N>/CombinedEvaluation-results.csv``: one row per snapshot with DLC's
  columns; a snapshot evaluated again replaces its row instead of adding one;
- ``<scorer>-keypoint-results.csv``: errors per body part (rows ``Train error (px)``,
  ``Test error (px)`` and both ``with p-cutoff``, as DLC's ``per_keypoint_evaluation``);
- with ``plotting``: ``LabeledImages_<scorer>_snapshot-<it>/Training-<video>-<img>`` and
  ``Test-...``: human labels ``+``, confident predictions ``.``, predictions below
  ``pcutoff`` ``x``, one colour per body part (config ``colormap``).

Errors are Euclidean distances per image and body part (``comparisonbodyparts`` only),
``nanmean``-ed over the train and the test rows and rounded to 2 decimals; the p-cutoff
versions leave out predictions with likelihood < ``pcutoff``.

Images go in at their native size, as in DLC. With ``rescale=True`` they are resized by
the test pose_cfg's ``global_scale`` first (DLC's ``rescale``) and the predictions are
scaled back, so errors and plots are in original pixels (DLC's docstring promises
that; its code reports errors in rescaled pixels).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import xarray as xr

from dlcflow.core.draw import colors_bgr, draw_points
from dlcflow.core.fileio import atomic_folder, atomic_path
from dlcflow.core.log import log
from dlcflow.data.pose import points_array
from dlcflow.inference.engines import EngineFactory, make_engine
from dlcflow.inference.images import predict_images
from dlcflow.io.hdf import write_frame
from dlcflow.io.labels import read_annotations
from dlcflow.io.tables import LIKELIHOOD_COORDS, pose_columns, to_dataset
from dlcflow.post.evaluate_multianimal import evaluate_multianimal_full
from dlcflow.post.results import (
    PLOT_DPI,
    RESULT_COLUMNS,
    keypoint_errors,
    nanmean,
    upsert_results,
)
from dlcflow.project.models import model_snapshots, rebase, training_set_indices
from dlcflow.project.paths import Project, pct
from dlcflow.training.dataset import read_documentation

__all__ = [
    "RESULT_COLUMNS",
    "evaluate_network",
    "keypoint_errors",
    "pairwise_distances",
    "upsert_results",
]


# -- errors ----------------------------------------------------------------------------------
def comparison_parts(project: Project, comparisonbodyparts: str | Sequence[str]) -> list[str]:
    """Body parts to compare, in config order (DLC: the config's parts that were asked for)."""
    allparts = project.bodyparts
    if isinstance(comparisonbodyparts, str):
        if comparisonbodyparts == "all":
            return list(allparts)
        comparisonbodyparts = [comparisonbodyparts]
    unknown = [bp for bp in comparisonbodyparts if bp not in allparts]
    if unknown:
        warnings.warn(
            f"comparisonbodyparts {unknown} are not body parts of {project.config_path} "
            f"({', '.join(allparts)}); ignored",
            stacklevel=3,
        )
    chosen = [bp for bp in allparts if bp in comparisonbodyparts]
    if not chosen:
        raise ValueError(f"comparisonbodyparts {list(comparisonbodyparts)}: no known body part")
    return chosen


def pairwise_distances(
    truth: xr.Dataset, predictions: xr.Dataset, bodyparts: Sequence[str], pcutoff: float
) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance per row and body part (rows, len(bodyparts)) between labels and
    predictions (pose datasets of one individual), and the same with NaN where the
    likelihood is below ``pcutoff``."""
    keys = [(str(truth["individuals"].values[0]), bp) for bp in bodyparts]
    gt = points_array(truth, keys)  # (n, k, 2)
    pr = points_array(predictions, keys)
    likelihood = points_array(predictions, keys, "confidence")  # (n, k)
    dist = np.sqrt(((gt - pr) ** 2).sum(axis=-1))
    cut = np.where(likelihood >= pcutoff, dist, np.nan)
    return dist, cut


# -- files -----------------------------------------------------------------------------------
def _write_predictions(path: Path, df: pd.DataFrame) -> None:
    write_frame(df, path, table=False)


def plot_evaluation(
    project: Project,
    truth: xr.Dataset,
    predictions: xr.Dataset,
    bodyparts: Sequence[str],
    train_idx: np.ndarray,
    folder: Path,
) -> Path:
    """Write DLC's evaluation images into ``folder`` (replaced as a whole, atomically);
    ``truth`` and ``predictions`` are pose datasets of the labeled images."""
    cfg = project.cfg
    pcutoff = float(cfg["pcutoff"])
    colors = colors_bgr(len(bodyparts), str(cfg.get("colormap") or "rainbow"))
    size = float(cfg.get("dotsize") or 12) * PLOT_DPI / 72.0
    alpha = float(cfg.get("alphavalue") or 0.7)
    keys = [(str(truth["individuals"].values[0]), bp) for bp in bodyparts]
    gt = points_array(truth, keys)
    xy_all, likelihood = (
        points_array(predictions, keys),
        points_array(predictions, keys, "confidence"),
    )
    train = {int(i) for i in train_idx}
    with atomic_folder(folder) as tmp:
        for i, name in enumerate(truth["time"].values):
            row = str(name).split("/")
            image = project.root.joinpath(*row)
            img = cv2.imread(str(image), cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(f"{image}: labeled image missing or unreadable")
            draw_points(img, gt[i], colors, "+", size, alpha)
            confident = likelihood[i] > pcutoff
            xy = xy_all[i]
            draw_points(img, np.where(confident[:, None], xy, np.nan), colors, ".", size, alpha)
            draw_points(img, np.where(confident[:, None], np.nan, xy), colors, "x", size, alpha)
            kind = "Training" if i in train else "Test"
            out = tmp / f"{kind}-{row[1]}-{row[2]}"
            if not cv2.imwrite(str(out), img):
                raise OSError(f"{out}: cannot write image")
    return folder


# -- evaluation ------------------------------------------------------------------------------
def _predict_snapshot(
    project: Project,
    data: pd.DataFrame,
    cfg: Mapping[str, Any],
    snapshot: Path,
    scorer: str,
    engine: str | EngineFactory,
    threads: int | None,
    scale: float,
) -> pd.DataFrame:
    images = [project.root.joinpath(*row) for row in data.index]
    for image in images:
        if not image.is_file():
            raise FileNotFoundError(f"{image}: labeled image missing (needed for evaluation)")
    model = make_engine(engine, cfg, snapshot, threads=threads)
    batch = int(project.cfg.get("batch_size") or 1)
    poses = predict_images(model, images, cfg, batch_size=batch, scale=scale, progress=True)
    columns = pose_columns(
        scorer, [str(b) for b in cfg["all_joints_names"]], coords=LIKELIHOOD_COORDS
    )
    return pd.DataFrame(poses.reshape(len(images), -1), index=data.index, columns=columns)


def evaluate_network(
    config: str | os.PathLike[str],
    Shuffles: Sequence[int] = (1,),  # noqa: N803 (DLC's argument name)
    trainingsetindex: int | str = 0,
    plotting: bool = False,
    show_errors: bool = True,
    comparisonbodyparts: str | Sequence[str] = "all",
    gputouse: int | None = None,
    rescale: bool = False,
    modelprefix: str = "",
    per_keypoint_evaluation: bool = False,
    *,
    engine: str | EngineFactory = "tensorflow",
    threads: int | None = None,
    iteration: int | None = None,
    detector: Any = None,
    calibrate: bool = False,
) -> pd.DataFrame:
    """Evaluate the selected snapshots of each shuffle on the labeled frames (DLC's
    ``evaluate_network``; see the module docstring for the files written), of the
    config's ``iteration`` (DLC) or of ``iteration`` (an earlier model, evaluated again).

    ``trainingsetindex`` is an index into ``TrainingFraction`` or ``"all"``;
    ``comparisonbodyparts`` (``"all"`` or a list) restricts the errors and plots;
    ``per_keypoint_evaluation`` also prints the per-body-part table (the csv is always
    written). ``engine``/``threads`` as in :func:`dlcflow.inference.analyze.analyze_videos`, but the
    default engine is TensorFlow, the reference (``"auto"`` and ``"onnx"`` work too).
    Returns the results of the evaluated snapshots (DLC's result columns).
    A multi-animal project is evaluated by
    :func:`dlcflow.post.evaluate_multianimal.evaluate_multianimal_full` (``detector``:
    what runs its network; TensorFlow by default; ``calibrate``: assemble calibrated on
    the training images' labels, as analysis does with ``calibrate=True``).
    """
    plotting = bool(plotting)
    project = Project(config, iteration=iteration)
    if project.multianimal:
        return evaluate_multianimal_full(
            config,
            Shuffles,
            trainingsetindex,
            plotting,
            comparisonbodyparts,
            gputouse,
            modelprefix,
            per_keypoint_evaluation,
            iteration=iteration,
            detector=detector,
            engine=engine if isinstance(engine, str) else "tensorflow",
            threads=threads,
            calibrate=calibrate,
        )
    if gputouse is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gputouse)
    indices = training_set_indices(project, trainingsetindex)
    shuffles = [Shuffles] if isinstance(Shuffles, int) else list(Shuffles)
    collected = project.training_collected_data()
    if not collected.is_file():
        raise FileNotFoundError(f"{collected}: no merged annotations (create_training_dataset)")
    data = read_annotations(collected)
    truth = to_dataset(data)
    parts = comparison_parts(project, comparisonbodyparts)
    pcutoff = float(project.cfg["pcutoff"])
    all_rows: list[list[Any]] = []
    for shuffle in shuffles:
        for index in indices:
            setup, models = model_snapshots(project, shuffle, index, modelprefix=modelprefix)
            fraction = setup.fraction
            missing = [bp for bp in parts if bp not in setup.bodyparts]
            if missing:
                raise ValueError(
                    f"{setup.test_cfg_path}: the model has no body part {missing[0]!r}"
                )
            doc = project.documentation_file(fraction, shuffle)
            _, train_idx, test_idx, _ = read_documentation(doc)
            if len(data) and max([*train_idx, *test_idx], default=-1) >= len(data):
                raise ValueError(
                    f"{doc}: split indices exceed the {len(data)} rows of {collected.name} "
                    "(recreate the training dataset)"
                )
            scale = float(setup.cfg.get("global_scale", 1.0)) if rescale else 1.0
            rows: list[list[Any]] = []
            scorer = ""
            for model in models:
                snapshot, scorer = model.snapshot, model.scorer
                iterations = model.training_iterations
                pred_path = rebase(
                    project,
                    project.evaluation_predictions(fraction, shuffle, scorer, iterations),
                    modelprefix,
                )
                index = snapshot.with_name(snapshot.name + ".index")
                if pred_path.is_file() and pred_path.stat().st_mtime < index.stat().st_mtime:
                    # a snapshot trained again since (DLC would reuse the old predictions)
                    log(f"{pred_path.name}: older than {index.name}; evaluating again")
                    pred_path.unlink()
                if pred_path.is_file():
                    log(f"{pred_path.name}: already evaluated; errors recomputed from it")
                    machine = pd.read_hdf(pred_path)
                    if len(machine) != len(data) or not machine.index.equals(data.index):
                        raise ValueError(
                            f"{pred_path}: rows differ from {collected.name}; delete it to "
                            "evaluate again"
                        )
                else:
                    log(f"Evaluating {snapshot.name} ({scorer}) on {len(data)} images")
                    machine = _predict_snapshot(
                        project, data, setup.cfg, snapshot, scorer, engine, threads, scale
                    )
                    _write_predictions(pred_path, machine)
                predictions = to_dataset(machine)
                dist, cut = pairwise_distances(truth, predictions, parts, pcutoff)
                errors = [
                    round(nanmean(values[idx]), 2)
                    for values in (dist, cut)
                    for idx in (train_idx, test_idx)
                ]
                row = [iterations, pct(fraction), shuffle, errors[0], errors[1], pcutoff]
                row += [errors[2], errors[3]]
                rows.append(row)
                table = keypoint_errors(dist, cut, parts, train_idx, test_idx)
                kpt_path = rebase(
                    project,
                    project.evaluation_keypoint_results(fraction, shuffle, scorer),
                    modelprefix,
                )
                with atomic_path(kpt_path) as tmp:
                    table.to_csv(tmp)
                if show_errors:
                    log(
                        f"Results for {iterations} training iterations, training fraction "
                        f"{pct(fraction)}, shuffle {shuffle}: train error {errors[0]} px, "
                        f"test error {errors[1]} px; with p-cutoff {pcutoff}: train "
                        f"{errors[2]} px, test {errors[3]} px"
                    )
                if per_keypoint_evaluation:
                    log(table.to_string())
                if plotting:
                    folder = rebase(
                        project,
                        project.evaluation_images(fraction, shuffle, scorer, iterations),
                        modelprefix,
                    )
                    plot_evaluation(project, truth, predictions, parts, train_idx, folder)
                    log(f"Plots in {folder}")
            new = pd.DataFrame(rows, columns=RESULT_COLUMNS)
            results = rebase(
                project, project.evaluation_results(fraction, shuffle, scorer), modelprefix
            )
            upsert_results(results, new)
            upsert_results(rebase(project, project.combined_evaluation(), modelprefix), new)
            all_rows.extend(rows)
    return pd.DataFrame(all_rows, columns=RESULT_COLUMNS)
