"""Object keypoint similarity (OKS), assembly-to-animal matching and COCO-style mAP / mAR.

The metrics of DLC 2.3's multi-animal evaluation (``evaluate_assembly``):

- OKS of a predicted animal against a ground-truth animal is the mean over the visible
  ground-truth keypoints of ``exp(-d² / (2 s² (2σ)²))``, with ``s²`` the area of the
  ground truth's bounding box (plus ``2·margin`` on each side) and ``σ`` one constant
  (DLC: 0.1). A missing predicted keypoint counts 0; ground truth with fewer than two
  visible keypoints (no box) has no OKS.
- In every image, assemblies and ground-truth animals with at least two keypoints are
  paired by Hungarian maximisation of OKS; animals left without an assembly are misses.
- Pairs are ranked by the assembly's score (DLC: its mean link affinity), and for each
  OKS threshold (0.50:0.05:0.95) a pair is a true positive when its OKS reaches it.
  Precision is made monotone and read at 101 recall points (COCO); mAP is their mean
  over recall points and thresholds, mAR the mean final recall.

Assemblies are arrays ``(n_keypoints, ≥ 2)`` (x, y, ...), NaN where a keypoint is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    "OKS_THRESHOLDS",
    "RECALL_POINTS",
    "AssemblyMetrics",
    "evaluate_assemblies",
    "match_assemblies",
    "nearest_distinct",
    "object_keypoint_similarity",
]

#: COCO's OKS thresholds 0.50:0.05:0.95.
OKS_THRESHOLDS = np.linspace(0.5, 0.95, 10)
#: COCO's 101 recall points 0:0.01:1.
RECALL_POINTS = np.linspace(0, 1, 101)


def _visible(points: np.ndarray) -> np.ndarray:
    """Rows whose x and y are both known."""
    return ~np.isnan(points[:, :2]).any(axis=1)


def nearest_distinct(query: np.ndarray, ref: np.ndarray, k: int = 3) -> np.ndarray:
    """For each query point, the index of its nearest reference point not already taken
    (−1: none), DLC's keypoint matching.

    Queries are served closest first (by the distance to their nearest reference point);
    each looks among its ``k`` nearest reference points only, so a query whose ``k``
    nearest are all taken stays unmatched (as in DLC).
    """
    query = np.asarray(query, dtype=float).reshape(-1, 2)
    ref = np.asarray(ref, dtype=float).reshape(-1, 2)
    out = np.full(len(query), -1, dtype=int)
    if not len(query) or not len(ref):
        return out
    d = np.linalg.norm(query[:, None, :] - ref[None, :, :], axis=2)
    near = np.argsort(d, axis=1, kind="stable")[:, :k]
    taken: set[int] = set()
    for q in np.argsort(d[np.arange(len(query)), near[:, 0]], kind="stable"):
        for j in near[q]:
            if int(j) not in taken:
                taken.add(int(j))
                out[q] = j
                break
        if len(taken) == len(ref):
            break
    return out


def object_keypoint_similarity(
    pred: np.ndarray, true: np.ndarray, sigma: float = 0.1, margin: float = 0.0
) -> float:
    """OKS of one predicted animal ``(k, ≥2)`` against one ground-truth animal ``(k, ≥2)``.

    NaN when the ground truth has fewer than two visible keypoints or a zero-area box.
    """
    pred = np.asarray(pred, dtype=float)[:, :2]
    true = np.asarray(true, dtype=float)[:, :2]
    if pred.shape != true.shape:
        raise ValueError(f"OKS: prediction {pred.shape} and ground truth {true.shape} differ")
    visible = ~np.isnan(true).all(axis=1)
    if visible.sum() < 2:
        return float("nan")
    gt = true[visible]
    area = float(np.prod(np.ptp(gt, axis=0) + np.spacing(1) + 2 * margin))
    if np.isclose(area, 0):
        return float("nan")
    pr = pred[visible]
    d2 = np.sum((pr - gt) ** 2, axis=1)
    d2[np.isnan(d2)] = np.inf  # a missing prediction scores 0
    return float(np.mean(np.exp(-d2 / (2 * area * (2 * sigma) ** 2))))


def match_assemblies(
    pred: Sequence[np.ndarray], true: Sequence[np.ndarray], sigma: float = 0.1, margin: float = 0.0
) -> tuple[list[tuple[int, int, float]], list[int]]:
    """Pair the assemblies of one image with its ground-truth animals (Hungarian on OKS).

    Only assemblies and animals with at least two keypoints take part. Returns the pairs
    ``(index in pred, index in true, OKS)`` (OKS 0 where undefined) and the indices of
    the ground-truth animals left unmatched.
    """
    ip = [i for i, a in enumerate(pred) if _visible(np.asarray(a)).sum() > 1]
    it = [j for j, a in enumerate(true) if _visible(np.asarray(a)).sum() > 1]
    mat = np.zeros((len(ip), len(it)))
    for r, i in enumerate(ip):
        for c, j in enumerate(it):
            value = object_keypoint_similarity(pred[i], true[j], sigma, margin)
            if not np.isnan(value):
                mat[r, c] = value
    rows, cols = linear_sum_assignment(mat, maximize=True)
    matched = [(ip[r], it[c], float(mat[r, c])) for r, c in zip(rows, cols, strict=True)]
    taken = {it[c] for c in cols}
    return matched, [j for j in it if j not in taken]


@dataclass(frozen=True)
class AssemblyMetrics:
    """Detection metrics of assemblies against ground-truth animals.

    ``precisions`` ``(n_thresholds, 101)``, ``recalls`` ``(n_thresholds,)``; ``rmse`` is the
    mean Euclidean distance of the keypoints present in both members of a matched pair,
    ``rmse_pcutoff`` the same for predicted keypoints with confidence ≥ ``pcutoff``.
    """

    mAP: float
    mAR: float
    rmse: float
    rmse_pcutoff: float
    n_matched: int
    n_truth: int
    precisions: np.ndarray = field(repr=False)
    recalls: np.ndarray = field(repr=False)


def _precision_at_recalls(oks: np.ndarray, threshold: float, ntot: int) -> tuple[np.ndarray, float]:
    hit = oks >= threshold
    tp = np.cumsum(hit)
    fp = np.cumsum(~hit)
    recall = tp / ntot
    precision = tp / (tp + fp + np.spacing(1))
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # monotone non-increasing
    at = np.searchsorted(recall, RECALL_POINTS)
    out = np.zeros(RECALL_POINTS.shape)
    ok = at < len(precision)
    out[ok] = precision[at[ok]]
    return out, float(recall[-1])


def evaluate_assemblies(
    pred: Mapping[int, Sequence[np.ndarray]],
    truth: Mapping[int, Sequence[np.ndarray]],
    scores: Mapping[int, Sequence[float]] | None = None,
    sigma: float = 0.1,
    thresholds: Sequence[float] = tuple(OKS_THRESHOLDS),
    margin: float = 0.0,
    pcutoff: float = 0.0,
) -> AssemblyMetrics:
    """mAP, mAR and RMSE of assemblies per image ``pred`` against ground truth ``truth``.

    Both map an image key to its animals (arrays ``(k, ≥2)``; a prediction's third column,
    if any, is the keypoint confidence). ``scores`` ranks the assemblies (DLC: mean link
    affinity); without it, an assembly's mean keypoint confidence (1 without one). Images
    are taken in ``truth``'s order; images with no ground truth do not count (as DLC).
    """
    oks, conf, dists, dists_cut = [], [], [], []
    n_unmatched = 0
    for key, animals in truth.items():
        assemblies = list(pred.get(key, []))
        matched, unmatched = match_assemblies(assemblies, list(animals), sigma, margin)
        n_unmatched += len(unmatched)
        for i, j, value in matched:
            a = np.asarray(assemblies[i], dtype=float)
            oks.append(value)
            if scores is not None:
                conf.append(float(scores[key][i]))
            else:
                conf.append(float(np.nanmean(a[:, 2])) if a.shape[1] > 2 else 1.0)
            t = np.asarray(animals[j], dtype=float)[:, :2]
            d = np.linalg.norm(a[:, :2] - t, axis=1)
            both = ~np.isnan(d)
            dists.extend(d[both])
            if a.shape[1] > 2:
                dists_cut.extend(d[both & (a[:, 2] >= pcutoff)])
            else:
                dists_cut.extend(d[both])
    nan = float("nan")
    if not oks:
        empty = np.zeros((0,))
        return AssemblyMetrics(0.0, 0.0, nan, nan, 0, n_unmatched, empty, empty)
    order = np.argsort(-np.asarray(conf), kind="mergesort")
    ranked = np.asarray(oks)[order]
    ntot = len(oks) + n_unmatched
    precisions, recalls = zip(
        *(_precision_at_recalls(ranked, th, ntot) for th in thresholds), strict=True
    )
    precisions = np.asarray(precisions)
    recalls = np.asarray(recalls)
    return AssemblyMetrics(
        mAP=float(precisions.mean()),
        mAR=float(recalls.mean()),
        rmse=float(np.mean(dists)) if dists else nan,
        rmse_pcutoff=float(np.mean(dists_cut)) if dists_cut else nan,
        n_matched=len(oks),
        n_truth=ntot,
        precisions=precisions,
        recalls=recalls,
    )
