"""Training targets and loss of DLC 2.3's single-animal pose networks.

Definitions (DLC: ``datasets/pose_imgaug.py`` ``compute_target_part_scoremap_numpy``,
``nnets/base.py`` ``train``):

* score-map cell ``(x, y)`` has its centre at pixel ``(x*stride + stride/2,
  y*stride + stride/2)`` of the network input;
* part target = 1 where the squared distance from the centre to the keypoint is
  ``<= (pos_dist_thresh * scale)**2``, else 0; part weight 1 everywhere (with
  ``weigh_only_present_joints``: 0 for the channels of missing keypoints);
* locref target = ``(keypoint - centre) / locref_stdev`` (dx in channel ``2j``, dy in
  ``2j+1``) inside that disk, weight 1 there and 0 elsewhere;
* loss = sigmoid cross-entropy on the part logits + ``locref_loss_weight`` x Huber
  (delta 1) on locref (squared error if ``locref_huber_loss`` is false), each a weighted
  sum divided by the number of non-zero weights (``tf.compat.v1.losses``
  ``SUM_BY_NONZERO_WEIGHTS``), plus the same part loss on ``part_interm``.

Decoding, the inverse of the locref target, is :mod:`dlcflow.inference.decode`.
``make_targets`` is NumPy only (TensorFlow is imported by ``pose_loss``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from dlcflow.project.posecfg import CODE_DEFAULTS, TEMPLATE

#: pose_cfg defaults (DLC's template and code defaults).
LOCREF_STDEV = float(TEMPLATE["locref_stdev"])
STRIDE = float(CODE_DEFAULTS["stride"])


def make_targets(
    keypoints: np.ndarray,
    out_size: tuple[int, int],
    cfg: Mapping[str, Any],
    scale: float = 1.0,
) -> dict[str, np.ndarray]:
    """Targets of one image: ``keypoints`` ``(J, 2)`` x, y in network-input pixels (NaN =
    missing), ``out_size`` ``(h, w)``; returns float32 ``part``/``part_weight``
    ``(h, w, J)`` and ``locref``/``locref_weight`` ``(h, w, 2J)``."""
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    num_joints = kp.shape[0]
    h, w = int(out_size[0]), int(out_size[1])
    stride = float(cfg.get("stride", STRIDE))
    thresh = float(cfg.get("pos_dist_thresh", 17)) * float(scale)
    locref_scale = 1.0 / float(cfg.get("locref_stdev", LOCREF_STDEV))

    centres_x = np.arange(w, dtype=np.float64) * stride + stride / 2
    centres_y = np.arange(h, dtype=np.float64) * stride + stride / 2
    dx = kp[None, None, :, 0] - centres_x[None, :, None]  # (1, w, J)
    dy = kp[None, None, :, 1] - centres_y[:, None, None]  # (h, 1, J)
    with np.errstate(invalid="ignore"):
        inside = dx * dx + dy * dy <= thresh * thresh  # (h, w, J); NaN -> False
    part = inside.astype(np.float32)

    locref = np.zeros((h, w, num_joints, 2), np.float32)
    locref[..., 0] = np.where(inside, dx * locref_scale, 0.0)
    locref[..., 1] = np.where(inside, dy * locref_scale, 0.0)
    locref_weight = np.repeat(part[..., None], 2, axis=-1)

    part_weight = np.ones((h, w, num_joints), np.float32)
    if cfg.get("weigh_only_present_joints", False):
        part_weight[..., np.isnan(kp).any(axis=1)] = 0.0
    return {
        "part": part,
        "part_weight": part_weight,
        "locref": locref.reshape(h, w, 2 * num_joints),
        "locref_weight": locref_weight.reshape(h, w, 2 * num_joints),
    }


def pose_loss(
    targets: Mapping[str, Any], outputs: Mapping[str, Any], cfg: Mapping[str, Any]
) -> dict[str, Any]:
    """DLC's training loss for a batch: ``targets`` = batched :func:`make_targets` maps,
    ``outputs`` = the model's dict. Returns scalar tensors ``total``, ``part``,
    ``locref`` (0 without ``location_refinement``) and ``part_interm`` when the model
    has that output and ``intermediate_supervision`` is on."""
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow only for the loss)

    def as_float(value: Any) -> Any:
        return tf.cast(tf.convert_to_tensor(value), tf.float32)

    def weighted_mean(values: Any, weights: Any) -> Any:
        weights = tf.broadcast_to(weights, tf.shape(values))
        count = tf.math.count_nonzero(weights, dtype=tf.float32)
        return tf.math.divide_no_nan(tf.reduce_sum(values * weights), count)

    part_target = as_float(targets["part"])
    part_weight = as_float(targets.get("part_weight", 1.0))

    def part_loss(logits: Any) -> Any:
        ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=part_target, logits=as_float(logits))
        return weighted_mean(ce, part_weight)

    losses = {"part": part_loss(outputs["part"])}
    total = losses["part"]
    if cfg.get("intermediate_supervision", False) and "part_interm" in outputs:
        losses["part_interm"] = part_loss(outputs["part_interm"])
        total = total + losses["part_interm"]
    if cfg.get("location_refinement", True):
        diff = as_float(outputs["locref"]) - as_float(targets["locref"])
        if cfg.get("locref_huber_loss", True):
            err = tf.abs(diff)
            quad = tf.minimum(err, 1.0)
            elementwise = 0.5 * quad * quad + (err - quad)  # Huber, delta = 1
        else:
            elementwise = diff * diff
        locref = float(cfg.get("locref_loss_weight", 0.05)) * weighted_mean(
            elementwise, as_float(targets["locref_weight"])
        )
        losses["locref"] = locref
        total = total + locref
    else:
        losses["locref"] = tf.constant(0.0)
    losses["total"] = total
    return losses
