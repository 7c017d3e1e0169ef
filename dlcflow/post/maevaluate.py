"""Multi-animal evaluation metrics (DLC 2.3's ``evaluate_multianimal_full``), from
predictions and ground truth.

- Keypoint error before assembly: in every image, each ground-truth keypoint is matched to
  its nearest distinct detection of the same body part (``oks.nearest_distinct``); the
  distances per image and (individual, body part) give DLC's ``<scorer>-results.csv`` row
  (train / test means, and with p-cutoff: detections with confidence ≥ ``pcutoff``),
  per-body-part errors (``-keypoint-results.csv``) and ``dist_<iterations>.csv``.
- After assembly (``tracking.assembly.assemble_scored``, replaceable, and calibrated on
  the training images' ground truth with ``calibrate``): mAP / mAR over OKS
  0.50:0.05:0.95 and the RMSE of matched keypoints (``oks.evaluate_assemblies``) on the
  train and test images.
- The data-driven skeleton (``skeleton_select``): separability per limb, graphs of growing
  size, the best one as ``paf_best``, and the per-graph table (DLC's ``_map.pickle``).
  As DLC, graphs are selected only when the network was trained on the complete graph.

``EvalData`` holds what is evaluated; ``from_dlc_evaluation`` reads DLC's own structure
(the ``_full.pickle`` of an evaluation: per image ``index``, ``prediction``, ``groundtruth``).
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dlcflow.core.fileio import atomic_path
from dlcflow.post.oks import AssemblyMetrics, evaluate_assemblies, nearest_distinct
from dlcflow.post.results import RESULT_COLUMNS, keypoint_errors, upsert_results
from dlcflow.post.skeleton_select import (
    Assembler,
    benchmark_graphs,
    best_graph,
    candidate_graphs,
    truth_assemblies,
)
from dlcflow.project.paths import pct
from dlcflow.tracking.calibration import calibrate as calibrate_on

__all__ = [
    "EvalData",
    "MAEvaluation",
    "error_row",
    "evaluate_multianimal_predictions",
    "from_dlc_evaluation",
    "keypoint_distances",
    "write_multianimal_evaluation",
]

SINGLE = "single"


@dataclass(frozen=True)
class EvalData:
    """Predictions and ground truth of the evaluated images.

    ``frames``: one ``_full.pickle`` frame per image; ``truth`` ``(n_images, n_individuals,
    n_multi, 2)`` and ``truth_unique`` ``(n_images, n_unique, 2)``, NaN = unlabeled;
    ``rows``: each image's row in the annotation table (what train/test indices refer to);
    ``graph``: the limbs the network predicts (body-part index pairs).
    """

    frames: list[dict[str, Any]]
    truth: np.ndarray
    truth_unique: np.ndarray
    rows: np.ndarray
    names: list[str]
    individuals: list[str]
    multi_parts: list[str]
    unique_parts: list[str]
    graph: list[tuple[int, int]]
    scorer: str = "scorer"

    def positions(self, rows: Sequence[int]) -> list[int]:
        """Positions (in ``frames``) of the images at annotation ``rows``."""
        wanted = {int(r) for r in rows}
        return [n for n, r in enumerate(self.rows) if int(r) in wanted]


def _image_name(key: Any) -> str:
    return "/".join(key) if isinstance(key, tuple) else str(key)


def from_dlc_evaluation(data: Mapping[Any, Any], source: str = "evaluation data") -> EvalData:
    """``EvalData`` from DLC's evaluation dict (``{image: {"index", "prediction",
    "groundtruth": [identities, coordinates, Series]}, "metadata": {...}}``)."""
    meta = data.get("metadata")
    if not isinstance(meta, Mapping) or "all_joints_names" not in meta or "PAFgraph" not in meta:
        raise ValueError(f"{source}: not DLC evaluation data (no metadata with joints and graph)")
    joints = list(meta["all_joints_names"])
    keys = [k for k in data if k != "metadata"]
    if not keys:
        raise ValueError(f"{source}: no evaluated image")
    for key in keys:
        entry = data[key]
        if not isinstance(entry, Mapping) or not {"prediction", "groundtruth"} <= set(entry):
            raise ValueError(f"{source}: image {key!r} has no prediction and ground truth")
    first = data[keys[0]]["groundtruth"][2]
    if not isinstance(first, pd.Series) or "individuals" not in (first.index.names or []):
        raise ValueError(f"{source}: ground truth is not a multi-animal annotation row")
    scorer = str(first.index.get_level_values(0)[0])
    inds = list(dict.fromkeys(first.index.get_level_values("individuals")))
    individuals = [i for i in inds if i != SINGLE]
    labeled = set(
        zip(
            first.index.get_level_values("individuals"),
            first.index.get_level_values("bodyparts"),
            strict=True,
        )
    )
    unique = [j for j in joints if (SINGLE, j) in labeled]
    multi = [j for j in joints if j not in unique]
    cols_m = pd.MultiIndex.from_product([individuals, multi, ["x", "y"]])
    cols_u = pd.MultiIndex.from_product([[SINGLE], unique, ["x", "y"]])
    truth, truth_u, frames, rows = [], [], [], []
    for key in keys:
        entry = data[key]
        gt = entry["groundtruth"][2].droplevel(0).astype(float)
        truth.append(gt.reindex(cols_m).to_numpy().reshape(len(individuals), len(multi), 2))
        truth_u.append(gt.reindex(cols_u).to_numpy().reshape(len(unique), 2))
        frames.append(entry["prediction"])
        rows.append(int(entry.get("index", len(rows))))
    return EvalData(
        frames=frames,
        truth=np.asarray(truth),
        truth_unique=np.asarray(truth_u).reshape(len(keys), len(unique), 2),
        rows=np.asarray(rows),
        names=[_image_name(k) for k in keys],
        individuals=individuals,
        multi_parts=multi,
        unique_parts=unique,
        graph=[(int(a), int(b)) for a, b in meta["PAFgraph"]],
        scorer=scorer,
    )


def _columns(data: EvalData) -> list[tuple[str, str]]:
    cols = [(ind, bp) for ind in data.individuals for bp in data.multi_parts]
    return cols + [(SINGLE, bp) for bp in data.unique_parts]


def keypoint_distances(data: EvalData, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Distance and detection confidence per image and (individual, body part) before
    assembly, ``(n_images, n_individuals·n_multi + n_unique)`` (columns: every individual's
    multi-animal parts, then the unique parts); NaN where unlabeled or unmatched."""
    n_ind, n_multi = len(data.individuals), len(data.multi_parts)
    n_cols = n_ind * n_multi + len(data.unique_parts)
    dist = np.full((len(data.frames), n_cols), np.nan)
    conf = np.full_like(dist, np.nan)
    for n, frame in enumerate(data.frames):
        coords, probs = frame["coordinates"][0], frame["confidence"]
        for j in range(n_multi + len(data.unique_parts)):
            if j < n_multi:
                gt, cols = data.truth[n, :, j], np.arange(n_ind) * n_multi + j
            else:
                gt, cols = data.truth_unique[n, j - n_multi][None], [n_ind * n_multi + j - n_multi]
            labeled = np.flatnonzero(~np.isnan(gt).any(axis=1))
            det = np.asarray(coords[j], dtype=float).reshape(-1, 2) if j < len(coords) else None
            if det is None or not labeled.size or not len(det):
                continue
            nb = nearest_distinct(gt[labeled], det, k)
            found = nb != -1
            at = np.asarray(cols)[labeled[found]]
            dist[n, at] = np.linalg.norm(gt[labeled[found]] - det[nb[found]], axis=1)
            conf[n, at] = np.asarray(probs[j], dtype=float).reshape(-1)[nb[found]]
    return dist, conf


def _nanmean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def error_row(
    dist: np.ndarray,
    conf: np.ndarray,
    train: Sequence[int],
    test: Sequence[int],
    iterations: int,
    fraction: float,
    shuffle: int,
    pcutoff: float,
) -> list[Any]:
    """DLC's ``-results.csv`` row (``RESULT_COLUMNS``): mean errors of the train and test
    images (positions), all and with confidence ≥ ``pcutoff``, rounded to 2 decimals."""
    cut = np.where(conf >= pcutoff, dist, np.nan)
    train, test = list(train), list(test)
    e = [round(_nanmean(v[idx]), 2) for v in (dist, cut) for idx in (train, test)]
    return [int(iterations), pct(fraction), int(shuffle), e[0], e[1], pcutoff, e[2], e[3]]


def _bodypart_table(
    data: EvalData,
    dist: np.ndarray,
    conf: np.ndarray,
    train: list[int],
    test: list[int],
    pcutoff: float,
) -> pd.DataFrame:
    """Errors per body part (individuals pooled), DLC's per-keypoint table."""
    parts = data.multi_parts + data.unique_parts
    n_ind, n_multi = len(data.individuals), len(data.multi_parts)
    slots = n_ind + 1
    per = np.full((len(data.frames), slots, len(parts)), np.nan)
    per[:, :n_ind, :n_multi] = dist[:, : n_ind * n_multi].reshape(-1, n_ind, n_multi)
    per[:, n_ind, n_multi:] = dist[:, n_ind * n_multi :]
    pc = np.full_like(per, np.nan)
    pc[:, :n_ind, :n_multi] = conf[:, : n_ind * n_multi].reshape(-1, n_ind, n_multi)
    pc[:, n_ind, n_multi:] = conf[:, n_ind * n_multi :]
    flat, flat_c = per.reshape(-1, len(parts)), pc.reshape(-1, len(parts))
    cut = np.where(flat_c >= pcutoff, flat, np.nan)

    def expand(idx: list[int]) -> np.ndarray:
        return (np.asarray(idx, dtype=int)[:, None] * slots + np.arange(slots)).ravel()

    return keypoint_errors(flat, cut, parts, expand(train), expand(test))


@dataclass(frozen=True)
class MAEvaluation:
    """Everything one evaluation computes (see the module docstring)."""

    results: list[Any]
    dist: np.ndarray = field(repr=False)
    conf: np.ndarray = field(repr=False)
    distance_table: pd.DataFrame = field(repr=False)
    keypoint_table: pd.DataFrame = field(repr=False)
    graphs: list[list[int]]
    paf_scores: dict[int, float]
    table: pd.DataFrame = field(repr=False)
    paf_best: list[int]
    train: AssemblyMetrics
    test: AssemblyMetrics
    assemblies: dict[int, np.ndarray] = field(repr=False)
    #: whether assembly was calibrated (``calibrate`` and a calibration could be made)
    calibrated: bool = False


def evaluate_multianimal_predictions(
    data: EvalData,
    train_rows: Sequence[int],
    test_rows: Sequence[int],
    *,
    iterations: int = 0,
    fraction: float = 0.0,
    shuffle: int = 1,
    pcutoff: float = 0.6,
    topktoretain: int | None = None,
    pafthreshold: float = 0.1,
    assembly_pcutoff: float = 0.1,
    n_graphs: int = 10,
    oks_sigma: float = 0.1,
    margin: float = 0.0,
    assembler: Assembler | None = None,
    calibrate: bool = False,
) -> MAEvaluation:
    """Evaluate predictions against ground truth (``train_rows`` / ``test_rows``: the
    Documentation pickle's annotation rows). ``pcutoff`` is the project's (keypoint errors),
    ``topktoretain`` (default: the number of individuals), ``pafthreshold`` and
    ``assembly_pcutoff`` the assembly's (inference_cfg; DLC evaluates with pcutoff 0.1);
    ``assembler`` replaces the default one (see ``skeleton_select.benchmark_graphs``);
    ``calibrate``: the default one is calibrated on the training images' ground truth
    (``tracking.calibration``; DLC's ``cross_validate_paf_graphs(calibrate=True)``
    calibrates on every labeled image, the test images included)."""
    train, test = data.positions(train_rows), data.positions(test_rows)
    shape = None
    if calibrate and assembler is None:
        shape = calibrate_on(data.truth[train].reshape(-1, len(data.multi_parts), 2))
    dist, conf = keypoint_distances(data)
    results = error_row(dist, conf, train, test, iterations, fraction, shuffle, pcutoff)
    columns = pd.MultiIndex.from_tuples(
        [(data.scorer, ind, bp, m) for ind, bp in _columns(data) for m in ("rmse", "conf")],
        names=["scorer", "individuals", "bodyparts", "metrics"],
    )
    joint = np.stack([dist, conf], axis=2).reshape(len(dist), -1)
    distance_table = pd.DataFrame(joint, index=data.names, columns=columns).sort_index(axis=1)
    keypoint_table = _bodypart_table(data, dist, conf, train, test, pcutoff)

    n_multi = len(data.multi_parts)
    complete = len(data.graph) == n_multi * (n_multi - 1) // 2
    if complete and n_multi > 1:
        # limbs to unique parts take no part (DLC's filter_unwanted_paf_connections)
        ignore = [k for k, (a, b) in enumerate(data.graph) if max(a, b) >= n_multi]
        graphs, scores = candidate_graphs(
            data.frames, data.truth, data.graph, train, n_graphs, ignore
        )
    else:
        graphs, scores = [list(range(len(data.graph)))], {}
    bench = benchmark_graphs(
        data.frames,
        data.truth,
        data.graph,
        graphs,
        (train, test),
        n_unique=len(data.unique_parts),
        max_individuals=topktoretain or len(data.individuals),
        min_affinity=pafthreshold,
        pcutoff=assembly_pcutoff,
        sigma=oks_sigma,
        margin=margin,
        assembler=assembler,
        calibration=shape,
    )
    best = best_graph(bench.table)
    ass, sc = bench.assemblies[best], bench.scores[best]
    gt = truth_assemblies(data.truth)
    metrics = []
    for split in (train, test):
        use = set(split)
        metrics.append(
            evaluate_assemblies(
                {k: list(v) for k, v in ass.items() if k in use},
                {k: v for k, v in gt.items() if k in use},
                {k: v for k, v in sc.items() if k in use},
                sigma=oks_sigma,
                margin=margin,
                pcutoff=pcutoff,
            )
        )
    return MAEvaluation(
        results=results,
        dist=dist,
        conf=conf,
        distance_table=distance_table,
        keypoint_table=keypoint_table,
        graphs=bench.graphs,
        paf_scores=scores,
        table=bench.table,
        paf_best=[int(i) for i in bench.graphs[best]],
        train=metrics[0],
        test=metrics[1],
        assemblies=ass,
        calibrated=shape is not None,
    )


def write_multianimal_evaluation(
    ev: MAEvaluation, folder: Path, scorer: str, snapshot: str
) -> dict[str, Path]:
    """Write DLC's files into the evaluation ``folder`` (atomically): ``<scorer>-results.csv``
    (the row upserted), ``<scorer>-keypoint-results.csv``, ``dist_<iterations>.csv`` and
    ``<scorer>-<snapshot>_map.pickle`` (the per-graph table and the limb separabilities).
    Returns the paths by kind."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "results": folder / f"{scorer}-results.csv",
        "keypoints": folder / f"{scorer}-keypoint-results.csv",
        "dist": folder / f"dist_{ev.results[0]}.csv",
        "map": folder / f"{scorer}-{snapshot}_map.pickle",
    }
    upsert_results(paths["results"], pd.DataFrame([ev.results], columns=RESULT_COLUMNS))
    for kind, table in (("keypoints", ev.keypoint_table), ("dist", ev.distance_table)):
        with atomic_path(paths[kind]) as tmp:
            table.to_csv(tmp)
    with atomic_path(paths["map"]) as tmp, open(tmp, "wb") as fh:
        pickle.dump((ev.table, ev.paf_scores), fh)
    return paths
