"""The data-driven skeleton of DLC 2.3's multi-animal evaluation (``paf_best``).

1. Separability of each limb: on the training images, every ground-truth keypoint is
   matched to its nearest distinct detection (``nearest_distinct``); a limb's affinities
   between two detections of the same animal are *within*, all others *between*. The
   separability is the ROC AUC of the two distributions (histograms on 100 bins of [0, 1]).
2. Candidate graphs: the maximum spanning tree of the limbs weighted by separability, then
   that tree plus the next-best limbs, in up to ``n_graphs`` graphs of growing size.
3. Each graph assembles every image; per image with two or more animals, *miss* is the
   share of ground-truth keypoints not assembled and *purity* the share of matched
   keypoints that sit in the assembly holding most of their animal; mAP / mAR on the train
   and the test images (``oks.evaluate_assemblies``). The best graph maximises
   ``(1 − mean miss) · mean purity``.

Ground truth is ``(n_images, n_individuals, n_multi, 2)`` (NaN: unlabeled), predictions
one ``_full.pickle`` frame per image, ``graph`` the list of limbs (body-part index pairs).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.integrate import trapezoid

from dlcflow.post.oks import evaluate_assemblies, nearest_distinct
from dlcflow.tracking.assembly import assemble_scored
from dlcflow.tracking.calibration import Calibration

__all__ = [
    "GraphBenchmark",
    "benchmark_graphs",
    "best_graph",
    "candidate_graphs",
    "maximum_spanning_tree",
    "miss_purity",
    "separability",
    "truth_assemblies",
    "within_between_affinities",
]

Frame = Mapping[str, Any]
#: An assembler: ``assembly.assemble``'s arguments, animals (and optionally their scores).
Assembler = Callable[..., "np.ndarray | tuple[np.ndarray, np.ndarray]"]
#: The rows of the per-graph table (DLC's ``_map.pickle``), (metric, statistic).
TABLE_ROWS = [
    ("miss", "mean"),
    ("miss", "std"),
    ("purity", "mean"),
    ("purity", "std"),
    ("mAP_train", "mean"),
    ("mAR_train", "mean"),
    ("mAP_test", "mean"),
    ("mAR_test", "mean"),
]


def truth_assemblies(truth: np.ndarray) -> dict[int, list[np.ndarray]]:
    """Ground truth per image as assemblies: the animals with any labeled keypoint
    (images without one are left out)."""
    out = {}
    for i, animals in enumerate(np.asarray(truth, dtype=float)):
        present = [a for a in animals if not np.isnan(a[:, :2]).all()]
        if present:
            out[i] = present
    return out


def within_between_affinities(
    frames: Sequence[Frame], truth: np.ndarray, graph: Sequence[Sequence[int]], use: Sequence[int]
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Affinities per limb between detections of one animal (within) and all the others
    (between), over the images ``use`` (positions in ``frames``)."""
    within: dict[int, list[float]] = {}
    between: dict[int, list[float]] = {}
    n_multi = np.asarray(truth).shape[2]
    for n in use:
        gt = np.asarray(truth[n], dtype=float)  # (individuals, parts, 2)
        if np.isnan(gt).all():
            continue
        coords = frames[n]["coordinates"][0]
        lookup: dict[int, dict[int, int]] = {}
        for j in range(min(n_multi, len(coords))):
            det = np.asarray(coords[j], dtype=float).reshape(-1, 2)
            inds = np.flatnonzero(~np.isnan(det).any(axis=1))
            inds_gt = np.flatnonzero(~np.isnan(gt[:, j]).any(axis=1))
            if inds.size and inds_gt.size:
                nb = nearest_distinct(gt[inds_gt, j], det[inds])
                ok = nb != -1
                lookup[j] = dict(zip(inds_gt[ok].tolist(), inds[nb[ok]].tolist(), strict=True))
        for k, cost in frames[n].get("costs", {}).items():
            s, t = (int(v) for v in graph[int(k)])
            if s not in lookup or t not in lookup:
                continue
            paf = np.asarray(cost["m1"], dtype=float)
            mask = np.zeros(paf.shape, bool)
            for animal in set(lookup[s]) & set(lookup[t]):
                mask[lookup[s][animal], lookup[t][animal]] = True
            within.setdefault(int(k), []).extend(paf[mask])
            between.setdefault(int(k), []).extend(paf[~mask])
    return (
        {k: np.asarray(v) for k, v in within.items()},
        {k: np.asarray(v) for k, v in between.items()},
    )


def separability(between: np.ndarray, within: np.ndarray, n_bins: int = 101) -> float:
    """ROC AUC of within- against between-animal affinities (1: fully separable; NaN when
    one side is empty)."""
    bins = np.linspace(0, 1, n_bins)
    h_between = np.histogram(np.asarray(between, dtype=float), bins=bins)[0].astype(float)
    h_within = np.histogram(np.asarray(within, dtype=float), bins=bins)[0].astype(float)
    if not h_between.sum() or not h_within.sum():
        return float("nan")
    tpr = np.cumsum(h_within / h_within.sum())
    return float(trapezoid(np.cumsum(h_between / h_between.sum()), tpr))


def maximum_spanning_tree(edges: Sequence[Sequence[int]], weights: Sequence[float]) -> list[int]:
    """Kruskal's maximum spanning forest: indices into ``edges``, in the order taken
    (heaviest first; ties keep the given order)."""
    parent: dict[int, int] = {}

    def find(i: int) -> int:
        while parent.setdefault(i, i) != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    taken = []
    for k in sorted(range(len(edges)), key=lambda k: -weights[k]):
        a, b = find(int(edges[k][0])), find(int(edges[k][1]))
        if a != b:
            parent[a] = b
            taken.append(k)
    return taken


def candidate_graphs(
    frames: Sequence[Frame],
    truth: np.ndarray,
    graph: Sequence[Sequence[int]],
    train: Sequence[int],
    n_graphs: int = 10,
    ignore: Sequence[int] = (),
) -> tuple[list[list[int]], dict[int, float]]:
    """Graphs to try (lists of limb indices, smallest first: the maximum spanning tree of
    separability, then the best remaining limbs added) and each limb's separability."""
    within, between = within_between_affinities(frames, truth, graph, train)
    limbs = sorted(k for k, v in within.items() if len(v) and k not in set(ignore))
    if not any(len(v) for v in between.values()):  # one animal: the whole graph
        return [limbs], dict.fromkeys(limbs, 0.0)
    scores = {k: separability(between.get(k, []), within[k]) for k in limbs}
    finite = [k for k in limbs if np.isfinite(scores[k])]
    root = [
        finite[i]
        for i in maximum_spanning_tree([graph[k] for k in finite], [scores[k] for k in finite])
    ]
    rest = [k for k in sorted(finite, key=lambda k: -scores[k]) if k not in root]
    lengths = np.linspace(0, len(rest), min(n_graphs, len(rest) + 1), dtype=int)[1:]
    return [root] + [root + rest[:n] for n in lengths], scores


def miss_purity(animals: np.ndarray | None, truth: np.ndarray) -> tuple[float, float]:
    """Miss and purity of one image's assemblies ``(n, n_multi, ≥2)`` against its ground
    truth ``(n_individuals, n_multi, 2)``; NaN for images with fewer than two animals."""
    truth = np.asarray(truth, dtype=float)
    ids = np.repeat(np.arange(truth.shape[0]), truth.shape[1])
    gt = truth.reshape(-1, 2)
    keep = ~np.isnan(gt).any(axis=1)
    gt, ids = gt[keep], ids[keep]
    nan = float("nan")
    if len(np.unique(ids)) < 2:
        return nan, nan
    if animals is None or not len(animals):
        return (1.0 if len(gt) else nan), nan
    animals = np.asarray(animals, dtype=float)
    hyp_ids = np.repeat(np.arange(animals.shape[0]), animals.shape[1])
    hyp = animals[..., :2].reshape(-1, 2)
    ok = ~np.isnan(hyp).any(axis=1)
    hyp, hyp_ids = hyp[ok], hyp_ids[ok]
    miss = max(0.0, (len(gt) - len(hyp)) / len(gt))
    nb = nearest_distinct(gt, hyp)
    valid = nb != -1
    if not valid.any():
        return miss, nan
    # contingency of ground-truth animal × assembly; each assembly counts its majority
    table = np.zeros((truth.shape[0], animals.shape[0]), dtype=int)
    np.add.at(table, (ids[valid], hyp_ids[nb[valid]]), 1)
    return miss, float(table.max(axis=0).sum() / valid.sum())


@dataclass(frozen=True)
class GraphBenchmark:
    """The per-graph table (DLC's ``_map.pickle`` DataFrame: rows ``TABLE_ROWS``, one
    column per graph size), the graphs, each graph's assemblies and scores per image,
    and the per-image (miss, purity) arrays."""

    table: pd.DataFrame
    graphs: list[list[int]]
    assemblies: list[dict[int, np.ndarray]]
    scores: list[dict[int, np.ndarray]]
    per_image: list[np.ndarray]


def _nanstd(values: np.ndarray) -> float:
    v = values[np.isfinite(values)]
    return float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")


def benchmark_graphs(
    frames: Sequence[Frame],
    truth: np.ndarray,
    graph: Sequence[Sequence[int]],
    graphs: Sequence[Sequence[int]],
    splits: tuple[Sequence[int], Sequence[int]],
    *,
    n_unique: int = 0,
    max_individuals: int,
    min_affinity: float = 0.1,
    pcutoff: float = 0.1,
    sigma: float = 0.1,
    margin: float = 0.0,
    add_discarded: bool = True,
    assembler: Assembler | None = None,
    calibration: Calibration | None = None,
) -> GraphBenchmark:
    """Assemble every image with each graph (smallest first) and score it: miss, purity,
    and mAP / mAR on ``splits`` = (train, test) image positions (as DLC's
    ``cross_validate_paf_graphs``, which assembles with ``add_discarded``).

    ``assembler`` (default: ``assembly.assemble_scored`` with ``add_discarded``) is
    called as ``assemble`` is, ``(frame, graph, paf_inds, n_multi, n_unique,
    max_individuals, min_affinity, pcutoff)``, and returns the animals, or the animals
    and their scores (without scores, an animal's mean keypoint confidence ranks it);
    ``calibration`` calibrates the default one."""
    if assembler is None:
        assembler = functools.partial(
            assemble_scored, add_discarded=add_discarded, calibration=calibration
        )
    truth = np.asarray(truth, dtype=float)
    n_multi = truth.shape[2]
    gt = truth_assemblies(truth)
    ordered = sorted((list(g) for g in graphs), key=len)
    columns, all_ass, all_scores, per_image = {}, [], [], []
    for paf in ordered:
        ass, sc = {}, {}
        for n, frame in enumerate(frames):
            result = assembler(
                frame, graph, paf, n_multi, n_unique, max_individuals, min_affinity, pcutoff
            )
            if isinstance(result, np.ndarray):
                animals = result
                score = np.array([np.nanmean(a[:, 2]) for a in animals]) if len(animals) else []
            else:
                animals, score = result
            if len(animals):
                ass[n], sc[n] = animals, score
        mp = np.array([miss_purity(ass.get(n), truth[n]) for n in range(len(frames))])
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # no animal assembled: NaN
            col = [
                np.nanmean(mp[:, 0]),
                _nanstd(mp[:, 0]),
                np.nanmean(mp[:, 1]),
                _nanstd(mp[:, 1]),
            ]
        for split in splits:
            use = set(int(i) for i in split)
            m = evaluate_assemblies(
                {k: list(v) for k, v in ass.items() if k in use},
                {k: v for k, v in gt.items() if k in use},
                {k: v for k, v in sc.items() if k in use},
                sigma=sigma,
                margin=margin,
            )
            col += [m.mAP, m.mAR]
        columns[len(paf)] = col
        all_ass.append(ass)
        all_scores.append(sc)
        per_image.append(mp)
    table = pd.DataFrame(columns, index=pd.MultiIndex.from_tuples(TABLE_ROWS))
    return GraphBenchmark(table, ordered, all_ass, all_scores, per_image)


def best_graph(table: pd.DataFrame) -> int:
    """Position (column) of the graph with the best ``(1 − miss) · purity``; the first
    (the largest) when no graph assembled any animal (an untrained network)."""
    value = (1 - table.loc[("miss", "mean")].to_numpy()) * table.loc[("purity", "mean")].to_numpy()
    return int(np.nanargmax(value)) if np.isfinite(value).any() else 0
