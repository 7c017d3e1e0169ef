"""Multi-animal detection from network outputs, as DLC 2.3 detects (NumPy and SciPy only).

DLC 2.3 (``nnets/base.py`` ``add_inference_layers`` and ``core/predict_multianimal.py``):

* **peaks**: the part probabilities (sigmoid of ``part_pred``) are smoothed by a separable
  Gaussian of size ``2·nmsradius + 1`` and σ = ``sigma`` (its taps normalised to sum 1,
  zero padding at the borders, as TensorFlow's "SAME" convolution); a cell is a peak when
  it equals the maximum of the ``nmsradius × nmsradius`` window around it (TensorFlow's
  "SAME" max pool: an even window reaches one cell further right/down) and its smoothed
  value is ≥ ``minconfidence``. Equal neighbours (plateaus) all count. Peaks of one part
  are in row-major order.
* **position** ``stride·(col, row) + stride//2 + locref·locref_stdev`` (x, y), rounded to
  3 decimals; **confidence** the unsmoothed probability at the peak (3 decimals);
  **identity** the identity probabilities at the peak (3 decimals).
* **PAF costs** of limb ``k = (s, t)`` of the graph, for every source × target peak pair:
  ``n_points`` (10) grid points from source to target (``np.linspace``, truncated to
  integers), the PAF ``(x, y)`` field of limb k sampled there and each component integrated
  by the trapezoid rule over its own coordinate; ``m1 = ‖integral‖ / length`` and
  ``distance = length``, the segment length in output-grid cells (not pixels); both
  float32, rounded to 3 decimals.

The whole batch is decoded at once; only the final split into DLC's per-frame dicts loops
in Python. Differences from DLC: a frame without peaks still gets a dict (empty arrays;
DLC leaves such frames out of its ``_full.pickle``), and a limb of which one side has no
peak gets cost arrays ``(n_s, 0)`` or ``(0, n_t)`` where DLC gives ``(0, 0)``.
``sigma <= 0`` switches the smoothing off (the plain max-pool NMS of DLC's own tests and of
DLC before 2.2.0.4, which made the reference detections of its unit-test data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage, special

from dlcflow.inference.decode import LOCREF_STDEV
from dlcflow.project.posecfg import MULTI_TEST_EXTRA

__all__ = [
    "DetectionParams",
    "PairCosts",
    "detect_batch",
    "detect_frame",
    "edge_costs",
    "find_peaks",
    "gaussian_kernel",
    "peak_positions",
    "sigmoid",
    "smooth_maps",
]

#: DLC's defaults: points sampled per PAF segment, decimals of the rounded outputs.
N_POINTS = 10
DECIMALS = 3


@dataclass(frozen=True)
class DetectionParams:
    """What detection needs of a test pose_cfg (:meth:`from_pose_cfg`).

    ``graph`` is ``partaffinityfield_graph`` (pairs of body-part indices; the PAF map holds
    two channels per pair, in this order); ``paf_inds`` (DLC's ``paf_best``) the limbs whose
    costs are computed, ``None`` for all; ``decimals=None`` keeps values unrounded.
    """

    graph: tuple[tuple[int, int], ...] = ()
    paf_inds: tuple[int, ...] | None = None
    stride: float = 8
    locref_stdev: float = LOCREF_STDEV
    nmsradius: float = float(MULTI_TEST_EXTRA["nmsradius"])
    minconfidence: float = float(MULTI_TEST_EXTRA["minconfidence"])
    sigma: float = float(MULTI_TEST_EXTRA["sigma"])
    location_refinement: bool = True
    locref_smooth: bool = bool(MULTI_TEST_EXTRA["locref_smooth"])
    n_points: int = N_POINTS
    decimals: int | None = DECIMALS

    def __post_init__(self) -> None:
        graph = tuple((int(s), int(t)) for s, t in self.graph)
        object.__setattr__(self, "graph", graph)
        if any(s < 0 or t < 0 for s, t in graph):
            raise ValueError(f"partaffinityfield_graph has a negative body-part index: {graph}")
        if self.paf_inds is not None:
            inds = tuple(int(k) for k in self.paf_inds)
            bad = [k for k in inds if not 0 <= k < len(graph)]
            if bad:
                raise ValueError(f"paf_best names limbs {bad} outside the graph of {len(graph)}")
            object.__setattr__(self, "paf_inds", inds)
        if int(self.nmsradius) < 1:
            raise ValueError(f"nmsradius must be >= 1, got {self.nmsradius}")
        if self.stride <= 0:
            raise ValueError(f"stride must be > 0, got {self.stride}")
        if self.n_points < 2:
            raise ValueError(f"n_points must be >= 2, got {self.n_points}")

    @property
    def limbs(self) -> tuple[int, ...]:
        """The indices (into ``graph``) of the limbs whose costs are computed."""
        return tuple(range(len(self.graph))) if self.paf_inds is None else self.paf_inds

    @classmethod
    def from_pose_cfg(cls, cfg: Mapping[str, Any], **overrides: Any) -> DetectionParams:
        """The parameters of a (test) pose_cfg, DLC's defaults for absent keys."""
        values: dict[str, Any] = {
            "graph": tuple(tuple(e) for e in cfg.get("partaffinityfield_graph") or ()),
            "paf_inds": cfg.get("paf_best"),
            "stride": cfg.get("stride", cls.stride),
            "locref_stdev": cfg.get("locref_stdev", cls.locref_stdev),
            "nmsradius": cfg.get("nmsradius", cls.nmsradius),
            "minconfidence": cfg.get("minconfidence", cls.minconfidence),
            "sigma": cfg.get("sigma", cls.sigma),
            "location_refinement": cfg.get("location_refinement", True),
            "locref_smooth": cfg.get("locref_smooth", cls.locref_smooth),
        }
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class PairCosts:
    """PAF costs of every source × target peak pair of a batch, flat (see :func:`edge_costs`).

    ``m1`` and ``distance`` are float32 ``(P,)``; pair group ``g = frame · n_limbs + i``
    (``i`` the position of the limb in ``limbs``) occupies ``offsets[g] : offsets[g + 1]``,
    row-major as a ``(n_sources[g], n_targets[g])`` matrix.
    """

    m1: np.ndarray
    distance: np.ndarray
    offsets: np.ndarray
    n_sources: np.ndarray
    n_targets: np.ndarray


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Probabilities from logits (float32), for outputs taken before the sigmoid."""
    return special.expit(np.asarray(logits, dtype=np.float32))


def gaussian_kernel(sigma: float, radius: int) -> np.ndarray:
    """DLC's 1-D smoothing kernel: ``exp(-k² / 2σ²)`` for ``k = -radius..radius``, normalised
    to sum 1 (float32; σ ≤ 0 gives the identity kernel)."""
    k = np.arange(-radius, radius + 1, dtype=np.float64)
    if sigma <= 0:
        return (k == 0).astype(np.float32)
    w = np.exp(-(k**2) / (2.0 * float(sigma) ** 2))
    return (w / w.sum()).astype(np.float32)


def smooth_maps(maps: np.ndarray, radius: int, sigma: float) -> np.ndarray:
    """Smooth ``(B, h, w, C)`` maps per channel by the separable Gaussian of
    :func:`gaussian_kernel` (size ``2·radius + 1``), zero padding at the borders."""
    maps = np.asarray(maps, dtype=np.float32)
    if sigma <= 0:
        return maps
    kernel = gaussian_kernel(sigma, radius)
    out = ndimage.correlate1d(maps, kernel, axis=1, mode="constant", cval=0.0)
    return ndimage.correlate1d(out, kernel, axis=2, mode="constant", cval=0.0)


def _batched(maps: np.ndarray) -> np.ndarray:
    """``(B, h, w, C)`` maps; a single frame ``(h, w, C)`` becomes a batch of one."""
    maps = np.asarray(maps)
    if maps.ndim == 3:
        maps = maps[None]
    if maps.ndim != 4:
        raise ValueError(f"expected maps (B, h, w, C) or (h, w, C), got shape {maps.shape}")
    return maps


def _fitting(
    name: str, maps: np.ndarray | None, scores: np.ndarray, channels: int | None = None
) -> np.ndarray | None:
    """Optional maps, batched and checked against the score maps' batch and grid."""
    if maps is None:
        return None
    maps = _batched(maps)
    if maps.shape[:3] != scores.shape[:3] or channels not in (None, maps.shape[3]):
        need = f" ({channels} channels)" if channels else ""
        raise ValueError(f"{name} maps {maps.shape} do not fit the score maps {scores.shape}{need}")
    return maps


def _max_pool_same(maps: np.ndarray, window: int) -> np.ndarray:
    """TensorFlow's stride-1 "SAME" max pool of ``(B, h, w, C)`` over ``window × window``
    cells: ``(window - 1) // 2`` cells before, the rest after; edge padding (the same maxima
    as TensorFlow's -inf padding)."""
    before = (window - 1) // 2
    after = window - 1 - before
    out = maps
    for axis in (1, 2):
        n = out.shape[axis]
        pad = [(0, 0)] * out.ndim
        pad[axis] = (before, after)
        padded = np.pad(out, pad, mode="edge")
        out = padded.take(range(0, n), axis=axis)
        for shift in range(1, window):
            np.maximum(out, padded.take(range(shift, shift + n), axis=axis), out=out)
    return out


def find_peaks(
    prob: np.ndarray,
    nmsradius: float = DetectionParams.nmsradius,
    minconfidence: float = DetectionParams.minconfidence,
    sigma: float = DetectionParams.sigma,
) -> np.ndarray:
    """Peaks of probability maps ``(B, h, w, J)`` (or ``(h, w, J)``): int ``(P, 4)`` rows
    ``(frame, row, col, part)``, ordered by frame, then part, then row-major."""
    maps = _batched(prob)
    radius = int(nmsradius)
    smoothed = smooth_maps(maps, radius, sigma)
    pooled = _max_pool_same(smoothed, radius)
    maxima = np.where(smoothed == pooled, smoothed, np.float32(0))
    peaks = np.argwhere(maxima >= minconfidence)
    n_parts = maps.shape[3]
    order = np.argsort(peaks[:, 0] * n_parts + peaks[:, 3], kind="stable")
    return peaks[order]


def peak_positions(
    peaks: np.ndarray,
    locref: np.ndarray | None,
    stride: float = DetectionParams.stride,
    locref_stdev: float = DetectionParams.locref_stdev,
) -> np.ndarray:
    """Positions ``(P, 2)`` (x, y, px, float64) of :func:`find_peaks`' peaks: the cell centre
    ``stride·(col, row) + stride//2`` plus the locref ``(B, h, w, 2J)`` offset there (in
    DLC's units, × ``locref_stdev``); ``locref=None``: the cell centres."""
    pos = stride * peaks[:, [2, 1]].astype(np.float64) + stride // 2
    if locref is not None:
        lr = _batched(locref)
        lr = lr.reshape(*lr.shape[:3], -1, 2)
        b, r, c, j = peaks.T
        pos = pos + lr[b, r, c, j].astype(np.float32) * np.float32(locref_stdev)
    return pos


def _pairs(counts: np.ndarray, graph: np.ndarray, limbs: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every source × target peak pair of every frame and limb: source peak, target peak,
    frame and limb position per pair; group offsets, sources and targets per group."""
    n_frames, n_parts = counts.shape
    starts = (np.cumsum(counts.ravel()) - counts.ravel()).reshape(n_frames, n_parts)
    src, dst = graph[limbs, 0], graph[limbs, 1]
    n_s, n_t = counts[:, src].ravel(), counts[:, dst].ravel()
    sizes = n_s * n_t
    offsets = np.zeros(sizes.size + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    group = np.repeat(np.arange(sizes.size), sizes)
    q = np.arange(offsets[-1]) - offsets[group]
    i, j = np.divmod(q, np.maximum(n_t[group], 1))
    frame, limb = np.divmod(group, limbs.size)
    source = starts[frame, src[limb]] + i
    target = starts[frame, dst[limb]] + j
    return source, target, frame, limb, offsets, n_s, n_t


def edge_costs(
    pafs: np.ndarray,
    peaks: np.ndarray,
    n_parts: int,
    graph: Sequence[Sequence[int]],
    limbs: Sequence[int] | None = None,
    n_points: int = N_POINTS,
    decimals: int | None = DECIMALS,
) -> PairCosts:
    """DLC's PAF costs (``m1`` affinity, ``distance`` in grid cells) of every source ×
    target pair of :func:`find_peaks`' peaks, for the ``limbs`` (indices into ``graph``;
    all by default) of PAF maps ``(B, h, w, 2·len(graph))``."""
    paf = _batched(pafs)
    graph_arr = np.asarray(graph, dtype=np.int64).reshape(-1, 2)
    if paf.shape[3] != 2 * len(graph_arr):
        raise ValueError(
            f"PAF maps have {paf.shape[3]} channels, the graph of {len(graph_arr)} limbs "
            f"needs {2 * len(graph_arr)}"
        )
    if graph_arr.size and graph_arr.max() >= n_parts:
        raise ValueError(f"the PAF graph names body part {graph_arr.max()} of {n_parts}")
    limb_arr = np.arange(len(graph_arr)) if limbs is None else np.asarray(limbs, np.int64)
    paf = paf.reshape(*paf.shape[:3], -1, 2)
    counts = np.bincount(
        peaks[:, 0] * n_parts + peaks[:, 3], minlength=paf.shape[0] * n_parts
    ).reshape(paf.shape[0], n_parts)
    source, target, frame, limb, offsets, n_s, n_t = _pairs(counts, graph_arr, limb_arr)
    start = peaks[source, 1:3]
    stop = peaks[target, 1:3]
    lengths = np.linalg.norm(stop - start, axis=1).astype(np.float32)
    lengths += np.spacing(np.float32(1))
    # DLC: integer points on the segment, truncated (np.linspace with an integer dtype)
    xy = np.linspace(start, stop, n_points, axis=1, dtype=np.int32)
    y = paf[frame[:, None], xy[..., 0], xy[..., 1], limb_arr[limb][:, None]]
    integral = np.trapezoid(y, xy[..., ::-1], axis=1)
    m1 = np.linalg.norm(integral, axis=1).astype(np.float32) / lengths
    if decimals is not None:
        m1 = np.round(m1, decimals)
        lengths = np.round(lengths, decimals)
    return PairCosts(m1, lengths, offsets, n_s, n_t)


def detect_batch(
    prob: np.ndarray,
    locref: np.ndarray | None,
    pafs: np.ndarray | None = None,
    identity: np.ndarray | None = None,
    params: DetectionParams | None = None,
    logits: bool = False,
) -> list[dict[str, Any]]:
    """One DLC ``_full.pickle`` frame dict per frame of a batch.

    ``prob`` ``(B, h, w, J)`` part probabilities (``logits=True``: logits, the sigmoid is
    applied here, to ``identity`` too), ``locref`` ``(B, h, w, 2J)`` in DLC's units (or
    ``None``), ``pafs`` ``(B, h, w, 2L)`` (or ``None``: no costs), ``identity``
    ``(B, h, w, n_id)`` (DLC's id channels, the last ones of ``part_pred``). A single frame
    ``(h, w, C)`` counts as ``B = 1``. Each dict: ``"coordinates": ([(n_j, 2)] per part,)``,
    ``"confidence": [(n_j, 1)]``, ``"costs": {limb: {"m1", "distance"}}`` when there are PAFs
    and limbs, ``"identity": [(n_j, n_id)]`` when there are identity maps.
    """
    params = params or DetectionParams()
    maps = _batched(prob)
    maps = sigmoid(maps) if logits else maps
    n_frames, n_parts = maps.shape[0], maps.shape[3]
    lr = _fitting("locref", locref, maps, 2 * n_parts) if params.location_refinement else None
    paf = _fitting("PAF", pafs, maps)
    ids = _fitting("identity", identity, maps)
    if ids is not None and logits:
        ids = sigmoid(ids)
    if lr is not None and params.locref_smooth:
        lr = smooth_maps(lr, int(params.nmsradius), params.sigma)
    peaks = find_peaks(maps, params.nmsradius, params.minconfidence, params.sigma)
    pos = peak_positions(peaks, lr, params.stride, params.locref_stdev)
    b, r, c, j = peaks.T
    conf = np.asarray(maps[b, r, c, j], dtype=np.float32).reshape(-1, 1)
    idv = None if ids is None else np.asarray(ids[b, r, c], dtype=np.float32)
    if params.decimals is not None:
        pos = np.round(pos, params.decimals)
        conf = np.round(conf, params.decimals)
        idv = None if idv is None else np.round(idv, params.decimals)
    costs = None
    if paf is not None and params.limbs:
        costs = edge_costs(
            paf, peaks, n_parts, params.graph, params.limbs, params.n_points, params.decimals
        )
    counts = np.bincount(b * n_parts + j, minlength=n_frames * n_parts)
    bounds = np.cumsum(counts)[:-1]
    pos_parts = np.split(pos, bounds)
    conf_parts = np.split(conf, bounds)
    id_parts = None if idv is None else np.split(idv, bounds)
    frames = []
    for f in range(n_frames):
        part = slice(f * n_parts, (f + 1) * n_parts)
        frame: dict[str, Any] = {"coordinates": (pos_parts[part],), "confidence": conf_parts[part]}
        if costs is not None:
            frame["costs"] = _frame_costs(costs, f, params.limbs)
        if id_parts is not None:
            frame["identity"] = id_parts[part]
        frames.append(frame)
    return frames


def _frame_costs(costs: PairCosts, frame: int, limbs: Sequence[int]) -> dict[int, dict]:
    out: dict[int, dict] = {}
    g0 = frame * len(limbs)
    for i, k in enumerate(limbs):
        g = g0 + i
        lo, hi = costs.offsets[g], costs.offsets[g + 1]
        shape = (int(costs.n_sources[g]), int(costs.n_targets[g]))
        out[k] = {
            "m1": costs.m1[lo:hi].reshape(shape),
            "distance": costs.distance[lo:hi].reshape(shape),
        }
    return out


def detect_frame(
    prob: np.ndarray,
    locref: np.ndarray | None,
    pafs: np.ndarray | None = None,
    identity: np.ndarray | None = None,
    params: DetectionParams | None = None,
    logits: bool = False,
) -> dict[str, Any]:
    """:func:`detect_batch` of one frame's outputs ``(h, w, C)`` (or a batch of one)."""
    frames = detect_batch(prob, locref, pafs, identity, params, logits)
    if len(frames) != 1:
        raise ValueError(f"detect_frame takes one frame, got a batch of {len(frames)}")
    return frames[0]
