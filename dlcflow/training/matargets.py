"""Training targets and loss of DLC 2.3's multi-animal networks.

Definitions (DLC: ``datasets/pose_multianimal_imgaug.py``
``compute_target_part_scoremap_numpy``, ``nnets/base.py`` ``train``). Cell ``(x, y)``
has its centre at pixel ``(x*stride + stride//2, y*stride + stride//2)``; ``scale`` is
the batch's scale (``global_scale`` x the scale jitter, as DLC passes it):

* ``part`` channel j = 1 where some individual's body part j is within
  ``pos_dist_thresh * scale`` px of the centre (union of the disks), else 0;
* ``locref`` channels 2j, 2j+1 = (keypoint - centre) / ``locref_stdev`` inside the
  disks; where the disks of several individuals overlap, the **last** individual (config
  order, ``single`` last) wins, as DLC's loop overwrites;
* identity channel J + k (k < ``num_idchannel``) = union of all of individual k's disks;
* ``pairwise`` channels 2l, 2l+1 of limb l = (a, b) of ``partaffinityfield_graph``, for
  each individual with both parts: the unit vector a -> b times ``1 - |d_perp| * scale /
  pafwidth`` at the centres whose projection on the segment's axis lies between a and b
  and where that factor is >= 0 (triangular fall-off across the limb). DLC multiplies the
  perpendicular distance by ``scale`` (``d / pafwidth * scale``); so does dlcflow. Overlaps:
  the last individual wins (DLC overwrites);
* weights: ``locref_weight`` and ``pairwise_weight`` are 1 everywhere (DLC's masks of
  ones), or, with ``weigh_only_present_joints``, 1 only inside the disks / limb regions;
  ``part_weight`` is 1 everywhere -- with ``weigh_part_predictions`` and
  ``weigh_only_present_joints`` both true (DLC uses part weights only then) it is 1 for
  the channels of the body parts present and 0 for the others (the identity channels
  included, as DLC).

DLC's identity code looks individuals up by their position among the image's labeled
individuals; dlcflow uses the individual's index (the same when all are labeled).

Loss (``tf.compat.v1.losses``, each a weighted sum over the number of non-zero weights):
sigmoid cross-entropy on ``part_pred`` (+ ``part_pred_interm``) + ``locref_loss_weight``
(0.05) x Huber (delta 1; squared error without ``locref_huber_loss``) on locref +
``pairwise_loss_weight`` (0.1) x squared error (Huber with ``pairwise_huber_loss``) on the
PAFs. ``make_multi_targets`` is NumPy only; ``multi_pose_loss`` imports TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from dlcflow.training.targets import LOCREF_STDEV, STRIDE, pose_loss

TARGET_KEYS = (
    "part",
    "part_weight",
    "locref",
    "locref_weight",
    "pairwise",
    "pairwise_weight",
)


def target_channels(cfg: Mapping[str, Any]) -> dict[str, int]:
    """Channels of each target map."""
    j = int(cfg["num_joints"])
    n_id = int(cfg.get("num_idchannel", 0) or 0)
    n_limbs = len(cfg.get("partaffinityfield_graph") or [])
    return {
        "part": j + n_id,
        "part_weight": j + n_id,
        "locref": 2 * j,
        "locref_weight": 2 * j,
        "pairwise": 2 * n_limbs,
        "pairwise_weight": 2 * n_limbs,
    }


def _window(lo: float, hi: float, n: int, stride: float, half: float) -> tuple[int, int]:
    """``(first, stop)``: the cells (of ``n``) whose centres may lie in ``[lo, hi]`` px,
    one cell to spare on each side (the exact tests then decide)."""
    if not stride > 0:
        return 0, n
    a = (lo - half) / stride - 1.0
    b = (hi - half) / stride + 2.0
    first = 0 if not a > 0 else (n if a >= n else math.floor(a))
    stop = n if not b < n else (0 if b <= 0 else math.ceil(b))
    return first, stop


def make_multi_targets(
    keypoints: np.ndarray,
    out_size: tuple[int, int],
    cfg: Mapping[str, Any],
    scale: float = 1.0,
) -> dict[str, np.ndarray]:
    """Targets of one image: ``keypoints`` ``(n_individuals, J, 2)`` x, y in
    network-input pixels (NaN = missing; row k = individual k, ``single`` last),
    ``out_size`` ``(h, w)``. Returns float32 maps named by :data:`TARGET_KEYS`, shaped
    ``(h, w, channels)`` as :func:`target_channels`.

    Each disk and limb region is computed on the cells of its bounding box only, in
    config order, a later individual overwriting an earlier one ("the last one wins")."""
    kp = np.asarray(keypoints, dtype=np.float64)
    num_joints = int(cfg["num_joints"])
    if kp.ndim != 3 or kp.shape[1:] != (num_joints, 2):
        raise ValueError(f"keypoints must be (n_individuals, {num_joints}, 2), got {kp.shape}")
    h, w = int(out_size[0]), int(out_size[1])
    stride = float(cfg.get("stride", STRIDE))
    half = stride // 2
    thresh = float(cfg.get("pos_dist_thresh", 17)) * float(scale)
    reach = abs(thresh)
    locref_scale = 1.0 / float(cfg.get("locref_stdev", LOCREF_STDEV))
    n_id = int(cfg.get("num_idchannel", 0) or 0)
    present_only = bool(cfg.get("weigh_only_present_joints", False))
    cx = np.arange(w, dtype=np.float64) * stride + half
    cy = np.arange(h, dtype=np.float64) * stride + half

    part = np.zeros((h, w, num_joints + n_id), np.float32)
    locref = np.zeros((h, w, num_joints, 2), np.float32)
    any_in = np.zeros((h, w, num_joints), bool)
    points = kp.tolist()
    for k, j in np.argwhere(np.isfinite(kp).all(axis=2)).tolist():
        x, y = points[k][j]
        r0, r1 = _window(y - reach, y + reach, h, stride, half)
        c0, c1 = _window(x - reach, x + reach, w, stride, half)
        if r0 >= r1 or c0 >= c1:
            continue
        dx = x - cx[None, c0:c1]
        dy = y - cy[r0:r1, None]
        inside = dx * dx + dy * dy <= thresh * thresh
        if not inside.any():
            continue
        any_in[r0:r1, c0:c1, j] |= inside
        win = locref[r0:r1, c0:c1, j]
        np.copyto(win[..., 0], dx, where=inside)
        np.copyto(win[..., 1], dy, where=inside)
        if k < n_id:
            part[r0:r1, c0:c1, num_joints + k][inside] = 1.0
    part[..., :num_joints] = any_in
    locref *= locref_scale
    if present_only:
        locref_weight = np.repeat(any_in[..., None], 2, axis=-1).astype(np.float32)
    else:
        locref_weight = np.ones((h, w, num_joints, 2), np.float32)

    part_weight = np.ones(part.shape, np.float32)
    if present_only and cfg.get("weigh_part_predictions", False):
        part_weight[:] = 0.0
        part_weight[..., np.flatnonzero(np.isfinite(kp).all(axis=2).any(axis=0))] = 1.0

    pairwise, pairwise_weight = _paf_targets(kp, cx, cy, cfg, scale, present_only)
    return {
        "part": part,
        "part_weight": part_weight,
        "locref": locref.reshape(h, w, 2 * num_joints),
        "locref_weight": locref_weight.reshape(h, w, 2 * num_joints),
        "pairwise": pairwise,
        "pairwise_weight": pairwise_weight,
    }


def _paf_targets(
    kp: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    cfg: Mapping[str, Any],
    scale: float,
    present_only: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """PAF maps and weights ``(h, w, 2L)`` (see the module docstring)."""
    graph = np.asarray(cfg.get("partaffinityfield_graph") or [], dtype=np.int64).reshape(-1, 2)
    h, w, n_limbs = len(cy), len(cx), len(graph)
    paf = np.zeros((h, w, n_limbs, 2), np.float32)
    weight = np.zeros_like(paf) if present_only else np.ones_like(paf)
    if n_limbs == 0:
        return paf.reshape(h, w, 0), weight.reshape(h, w, 0)
    stride = float(cfg.get("stride", STRIDE))
    half = stride // 2
    pafwidth, scale = float(cfg.get("pafwidth", 20)), float(scale)
    # farthest from the segment a cell of the limb region can be (|d_perp| * scale <= pafwidth)
    reach = pafwidth / scale if pafwidth >= 0 and scale > 0 else np.inf
    a, b = kp[:, graph[:, 0]], kp[:, graph[:, 1]]  # (n, L, 2)
    vec = b - a
    length = np.hypot(vec[..., 0], vec[..., 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        valid = np.isfinite(length) & (length > 0)
        ux = np.where(valid, vec[..., 0] / length, 0.0)
        uy = np.where(valid, vec[..., 1] / length, 0.0)
    any_in = np.zeros((h, w, n_limbs), bool)
    starts, ends, dirs = a.tolist(), b.tolist(), np.stack([ux, uy], axis=-1).tolist()
    with np.errstate(invalid="ignore", divide="ignore"):  # pafwidth 0: no region
        for k, limb in np.argwhere(valid).tolist():
            (ax, ay), (bx, by), (u, v) = starts[k][limb], ends[k][limb], dirs[k][limb]
            r0, r1 = _window(min(ay, by) - reach, max(ay, by) + reach, h, stride, half)
            c0, c1 = _window(min(ax, bx) - reach, max(ax, bx) + reach, w, stride, half)
            if r0 >= r1 or c0 >= c1:
                continue
            pa, pb = u * ax + v * ay, u * bx + v * by
            lo, hi = min(pa, pb), max(pa, pb)
            mid = ay * u - ax * v
            x, y = cx[None, c0:c1], cy[r0:r1, None]
            along = u * x + v * y
            across = np.abs((y * u - x * v) - mid) / pafwidth * scale
            mask = (along >= lo) & (along <= hi) & (across <= 1)
            if not mask.any():
                continue
            any_in[r0:r1, c0:c1, limb] |= mask
            win = paf[r0:r1, c0:c1, limb]
            fall = 1.0 - across
            np.copyto(win[..., 0], u * fall, where=mask)
            np.copyto(win[..., 1], v * fall, where=mask)
    if present_only:
        weight[any_in] = 1.0
    return paf.reshape(h, w, 2 * n_limbs), weight.reshape(h, w, 2 * n_limbs)


def multi_pose_loss(
    targets: Mapping[str, Any], outputs: Mapping[str, Any], cfg: Mapping[str, Any]
) -> dict[str, Any]:
    """DLC's multi-animal training loss for a batch: ``targets`` = batched
    :func:`make_multi_targets` maps, ``outputs`` = the model's dict. Scalar tensors
    ``total``, ``part``, ``locref``, ``pairwise`` (and ``part_interm``)."""
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow only for the loss)

    single_targets = {k: targets[k] for k in ("part", "part_weight", "locref", "locref_weight")}
    single_outputs = {"part": outputs["part_pred"], "locref": outputs["locref"]}
    if "part_pred_interm" in outputs:
        single_outputs["part_interm"] = outputs["part_pred_interm"]
    losses = pose_loss(single_targets, single_outputs, cfg)
    if cfg.get("partaffinityfield_predict", True) and "pairwise_pred" in outputs:
        diff = tf.cast(outputs["pairwise_pred"], tf.float32) - tf.cast(
            targets["pairwise"], tf.float32
        )
        if cfg.get("pairwise_huber_loss", False):
            err = tf.abs(diff)
            quad = tf.minimum(err, 1.0)
            elementwise = 0.5 * quad * quad + (err - quad)
        else:
            elementwise = diff * diff
        weights = tf.broadcast_to(tf.cast(targets["pairwise_weight"], tf.float32), tf.shape(diff))
        count = tf.math.count_nonzero(weights, dtype=tf.float32)
        pairwise = float(cfg.get("pairwise_loss_weight", 0.1)) * tf.math.divide_no_nan(
            tf.reduce_sum(elementwise * weights), count
        )
    else:
        pairwise = tf.constant(0.0)
    losses["pairwise"] = pairwise
    losses["total"] = losses["total"] + pairwise
    return losses
