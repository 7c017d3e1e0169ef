"""Evaluation of a trained multi-animal network on the labeled frames (DLC 2.3's
``evaluate_multianimal_full``, which ``evaluate_network`` runs for multi-animal projects).

For every selected snapshot, the network detects body parts in every image of the merged
annotations (:mod:`dlcflow.inference.madetect`); the detections and the ground truth go
to the evaluation folder as DLC writes them, and :mod:`dlcflow.post.maevaluate` scores
them. Files in ``evaluation-results/iteration-<N>/<model>/`` (all atomic):

- ``<scorer>-snapshot-<it>_full.pickle`` (per image: ``index``, ``prediction`` in the
  ``_full.pickle`` frame structure, ``groundtruth``; plus ``metadata``) and
  ``_meta.pickle`` (scorer, test pose_cfg, train/test indices): DLC's evaluation data,
  reused when newer than the snapshot;
- ``<scorer>-results.csv`` and ``CombinedEvaluation-results.csv``: DLC's row (keypoint
  errors before assembly, each ground-truth point to its nearest detection);
  ``<scorer>-keypoint-results.csv``; ``dist_<iterations>.csv``;
- ``<scorer>-snapshot-<it>_map.pickle``: the per-graph table of the data-driven skeleton
  (miss, purity, mAP / mAR per graph), and the limbs' separability;
- ``<scorer>-assembly-results.csv`` (dlcflow's): RMSE, mAP and mAR after assembly, train
  and test, and whether assembly was calibrated, one row per snapshot;
- ``paf_best`` (the chosen graph's limb indices) written into the test pose_cfg.yaml;
- with ``plotting``: ``LabeledImages_<scorer>_snapshot-<it>/``: ground truth ``+`` and the
  assembled animals (``.``, ``x`` under ``pcutoff``), one colour per individual.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from dlcflow.core.draw import colors_bgr, draw_points
from dlcflow.core.fileio import atomic_folder, atomic_path
from dlcflow.core.log import log
from dlcflow.inference.images import read_image_rgb
from dlcflow.inference.madetect import DetectionParams
from dlcflow.inference.maengines import detect_images, make_multi_engine
from dlcflow.io.labels import read_annotations
from dlcflow.post.maevaluate import (
    MAEvaluation,
    evaluate_multianimal_predictions,
    from_dlc_evaluation,
    write_multianimal_evaluation,
)
from dlcflow.post.results import PLOT_DPI, RESULT_COLUMNS, upsert_results
from dlcflow.project import posecfg
from dlcflow.project.models import model_snapshots, rebase
from dlcflow.project.paths import Project, pct
from dlcflow.training.dataset import read_documentation

SINGLE = "single"
ASSEMBLY_COLUMNS = [
    "Training iterations:",
    "%Training dataset",
    "Shuffle number",
    "rmse_train",
    "rmse_test",
    "mAP_train",
    "mAP_test",
    "mAR_train",
    "mAR_test",
    "calibrated",
]

#: images (RGB arrays) + test pose_cfg + snapshot -> one ``_full.pickle`` frame per image
Detector = Callable[[Sequence[np.ndarray], Mapping[str, Any], Path], list[dict[str, Any]]]


def engine_detector(engine: str = "tensorflow", threads: int | None = None) -> Detector:
    """A :data:`Detector` running the snapshot with ``engine`` (``tensorflow``, the
    reference; ``onnx`` or ``auto`` as for video analysis)."""

    def detect(
        images: Sequence[np.ndarray], cfg: Mapping[str, Any], snapshot: Path
    ) -> list[dict[str, Any]]:
        model = make_multi_engine(snapshot, cfg, engine, threads=threads)
        try:
            return detect_images(model, images, DetectionParams.from_pose_cfg(cfg), progress=True)
        finally:
            getattr(model, "close", lambda: None)()

    return detect


def ground_truth_entry(row: pd.Series, joints: Sequence[str]) -> list[Any]:
    """DLC's ``groundtruth`` of one image: per joint the labeled individuals and their
    coordinates, and the annotation row itself."""
    values = {key[1:]: float(v) for key, v in row.items()}  # (individual, part, coord)
    individuals = list(dict.fromkeys(key[0] for key in values))
    identities, coordinates = [], []
    for joint in joints:
        who, xy = [], []
        for individual in individuals:
            point = (values.get((individual, joint, "x")), values.get((individual, joint, "y")))
            if None not in point and np.isfinite(point).all():
                who.append(individual)
                xy.append(point)
        identities.append(np.array(who, dtype=object))
        coordinates.append(np.asarray(xy, dtype=float).reshape(-1, 2))
    return [identities, coordinates, row]


def evaluation_data(
    project: Project,
    data: pd.DataFrame,
    cfg: Mapping[str, Any],
    frames: Sequence[dict[str, Any]],
) -> dict[Any, Any]:
    """DLC's evaluation dict of the detections ``frames`` (one per annotation row)."""
    joints = [str(j) for j in cfg["all_joints_names"]]
    out: dict[Any, Any] = {
        "metadata": {
            "nms radius": cfg.get("nmsradius"),
            "minimal confidence": cfg.get("minconfidence"),
            "sigma": cfg.get("sigma", 1),
            "PAFgraph": [list(map(int, e)) for e in cfg["partaffinityfield_graph"]],
            "PAFinds": list(range(len(cfg["partaffinityfield_graph"]))),
            "all_joints": [[i] for i in range(len(joints))],
            "all_joints_names": joints,
            "stride": cfg.get("stride", 8),
        }
    }
    for index, (row, frame) in enumerate(zip(data.index, frames, strict=True)):
        out["/".join(map(str, row))] = {
            "index": index,
            "prediction": frame,
            "groundtruth": ground_truth_entry(data.iloc[index], joints),
        }
    return out


def _dump(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(obj, fh, pickle.HIGHEST_PROTOCOL)


def _detections(
    project: Project,
    data: pd.DataFrame,
    cfg: Mapping[str, Any],
    snapshot: Path,
    full: Path,
    detector: Detector,
) -> dict[Any, Any]:
    index = snapshot.with_name(snapshot.name + ".index")
    if full.is_file() and full.stat().st_mtime >= index.stat().st_mtime:
        log(f"{full.name}: already evaluated; scores recomputed from it")
        with full.open("rb") as fh:
            return pickle.load(fh)
    paths = [project.root.joinpath(*map(str, row)) for row in data.index]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: labeled image missing (needed for evaluation)")
    log(f"Evaluating {snapshot.name} on {len(paths)} images")
    frames = detector([read_image_rgb(p) for p in paths], cfg, snapshot)
    if len(frames) != len(paths):
        raise ValueError(f"{snapshot}: {len(frames)} detections for {len(paths)} images")
    evaluation = evaluation_data(project, data, cfg, frames)
    _dump(full, evaluation)
    return evaluation


def _assembly_row(ev: MAEvaluation, iterations: int, fraction: float, shuffle: int) -> list:
    return [
        iterations,
        pct(fraction),
        shuffle,
        round(ev.train.rmse, 2),
        round(ev.test.rmse, 2),
        round(ev.train.mAP, 4),
        round(ev.test.mAP, 4),
        round(ev.train.mAR, 4),
        round(ev.test.mAR, 4),
        ev.calibrated,
    ]


def _upsert(path: Path, row: list[Any]) -> None:
    new = pd.DataFrame([row], columns=ASSEMBLY_COLUMNS)
    old = pd.read_csv(path, index_col=0) if path.is_file() else new.iloc[:0]
    old = old.reindex(columns=ASSEMBLY_COLUMNS)  # a file of an earlier version
    df = pd.concat([old, new], ignore_index=True)
    df = df.drop_duplicates(subset=ASSEMBLY_COLUMNS[:3], keep="last").reset_index(drop=True)
    with atomic_path(path) as tmp:
        df.to_csv(tmp)


def plot_multianimal_evaluation(
    project: Project,
    data: pd.DataFrame,
    ev: MAEvaluation,
    truth: np.ndarray,
    train_idx: Sequence[int],
    folder: Path,
) -> Path:
    """DLC's evaluation images coloured by individual: ground truth ``+`` (one colour per
    labeled individual), assembled animals ``.`` (``x`` under ``pcutoff``)."""
    cfg = project.cfg
    pcutoff = float(cfg["pcutoff"])
    n_colors = max(
        len(project.individuals), max((len(a) for a in ev.assemblies.values()), default=0)
    )
    colors = colors_bgr(max(n_colors, 1), str(cfg.get("colormap") or "rainbow"))
    size = float(cfg.get("dotsize") or 12) * PLOT_DPI / 72.0
    alpha = float(cfg.get("alphavalue") or 0.7)
    train = {int(i) for i in train_idx}
    with atomic_folder(folder) as tmp:
        for i, row in enumerate(data.index):
            parts = [str(p) for p in row]
            image = project.root.joinpath(*parts)
            img = cv2.imread(str(image), cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(f"{image}: labeled image missing or unreadable")
            for k, animal in enumerate(truth[i]):
                draw_points(img, animal, [colors[k % len(colors)]] * len(animal), "+", size, alpha)
            for k, animal in enumerate(ev.assemblies.get(i, [])):
                animal = np.asarray(animal, dtype=float)
                color = [colors[k % len(colors)]] * len(animal)
                sure = animal[:, 2:3] >= pcutoff
                draw_points(img, np.where(sure, animal[:, :2], np.nan), color, ".", size, alpha)
                draw_points(img, np.where(sure, np.nan, animal[:, :2]), color, "x", size, alpha)
            kind = "Training" if i in train else "Test"
            out = tmp / f"{kind}-{parts[1]}-{parts[2]}"
            if not cv2.imwrite(str(out), img):
                raise OSError(f"{out}: cannot write image")
    return folder


def evaluate_multianimal_full(
    config: str | os.PathLike[str],
    Shuffles: Sequence[int] = (1,),  # noqa: N803 (DLC's argument name)
    trainingsetindex: int | str = 0,
    plotting: bool = False,
    comparisonbodyparts: str | Sequence[str] = "all",
    gputouse: int | None = None,
    modelprefix: str = "",
    per_keypoint_evaluation: bool = False,
    *,
    iteration: int | None = None,
    detector: Detector | None = None,
    engine: str = "tensorflow",
    threads: int | None = None,
    calibrate: bool = False,
) -> pd.DataFrame:
    """Evaluate a multi-animal project's snapshots (see the module docstring for the
    files). ``comparisonbodyparts`` is accepted as DLC's (every body part is scored).
    ``engine``/``threads`` run the network as in ``evaluate_network`` (TensorFlow by
    default); ``detector`` replaces that (images, pose_cfg, snapshot -> detections);
    ``calibrate``: assembly is calibrated on the training images' labels
    (``tracking.calibration``; the ``tracking.calibrate`` setting of the workflow).
    Returns DLC's result rows with the assembly scores (``rmse_*``, ``mAP_*``, ``mAR_*``)
    as extra columns."""
    del comparisonbodyparts
    detector = detector or engine_detector(engine, threads)
    project = Project(config, iteration=iteration)
    if gputouse is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gputouse)
    indices = (
        list(range(len(project.training_fractions)))
        if trainingsetindex == "all"
        else [int(trainingsetindex)]
    )
    collected = project.training_collected_data()
    if not collected.is_file():
        raise FileNotFoundError(f"{collected}: no merged annotations (create_training_dataset)")
    data = read_annotations(collected)
    rows: list[list[Any]] = []
    for shuffle in [Shuffles] if isinstance(Shuffles, int) else list(Shuffles):
        for index in indices:
            setup, models = model_snapshots(project, shuffle, index, modelprefix=modelprefix)
            fraction, cfg = setup.fraction, setup.cfg
            doc = project.documentation_file(fraction, shuffle)
            _, train_idx, test_idx, _ = read_documentation(doc)
            inference = posecfg.read_yaml(project.inference_cfg(fraction, shuffle))
            results: list[list[Any]] = []
            for model in models:
                iterations = model.training_iterations
                pred = rebase(
                    project,
                    project.evaluation_predictions(fraction, shuffle, model.scorer, iterations),
                    modelprefix,
                )
                full = pred.with_name(pred.stem + "_full.pickle")
                evaluation = _detections(project, data, cfg, model.snapshot, full, detector)
                _dump(
                    pred.with_name(pred.stem + "_meta.pickle"),
                    {
                        "data": {
                            "Scorer": model.scorer,
                            "DLC-model-config file": dict(cfg),
                            "trainIndices": train_idx,
                            "testIndices": test_idx,
                            "trainFraction": fraction,
                        }
                    },
                )
                scored = from_dlc_evaluation(evaluation, str(full))
                ev = evaluate_multianimal_predictions(
                    scored,
                    train_idx,
                    test_idx,
                    iterations=iterations,
                    fraction=fraction,
                    shuffle=shuffle,
                    pcutoff=float(project.cfg["pcutoff"]),
                    topktoretain=inference.get("topktoretain"),
                    pafthreshold=float(inference.get("pafthreshold", 0.1)),
                    oks_sigma=float(cfg.get("oks_sigma", 0.1)),
                    margin=float(cfg.get("bbox_margin", 0)),
                    calibrate=calibrate,
                )
                test_cfg = posecfg.read_yaml(setup.test_cfg_path)
                test_cfg["paf_best"] = ev.paf_best
                posecfg.write_yaml(setup.test_cfg_path, test_cfg)
                write_multianimal_evaluation(
                    ev, pred.parent, model.scorer, f"snapshot-{iterations}"
                )
                assembly = _assembly_row(ev, iterations, fraction, shuffle)
                results_csv = pred.parent / f"{model.scorer}-results.csv"
                _upsert(Project.assembly_results_of(results_csv), assembly)
                results.append(ev.results)
                rows.append([*ev.results, *assembly[3:]])
                log(
                    f"Results for {iterations} training iterations, training fraction "
                    f"{pct(fraction)}, shuffle {shuffle}: keypoint error train "
                    f"{ev.results[3]} px, test {ev.results[4]} px; after "
                    f"{'calibrated ' if ev.calibrated else ''}assembly: RMSE "
                    f"train {assembly[3]} px, test {assembly[4]} px, mAP train "
                    f"{assembly[5]:.3f}, test {assembly[6]:.3f}"
                )
                if per_keypoint_evaluation:
                    log(ev.keypoint_table.to_string())
                if plotting:
                    folder = rebase(
                        project,
                        project.evaluation_images(fraction, shuffle, model.scorer, iterations),
                        modelprefix,
                    )
                    plot_multianimal_evaluation(project, data, ev, scored.truth, train_idx, folder)
                    log(f"Plots in {folder}")
            new = pd.DataFrame(results, columns=RESULT_COLUMNS)
            upsert_results(rebase(project, project.combined_evaluation(), modelprefix), new)
    return pd.DataFrame(rows, columns=RESULT_COLUMNS + ASSEMBLY_COLUMNS[3:])
