"""Decoding of the network outputs into poses, as DLC 2.3 decodes them.

DLC's ``core/predict.py`` ``argmax_pose_predict``: per body part the argmax cell of the
probability map (the first maximum in row-major order), at position
``index*stride + stride/2 + locref*locref_stdev``, likelihood = the probability there. The
location refinement comes as the dense map ``(B, h, w, 2J)`` (TensorFlow) or already read
at each part's maximum, ``(B, J, 2)`` (an ONNX export; :func:`locref_at` is that
reading). NumPy only.
"""

from __future__ import annotations

import numpy as np

from dlcflow.project.posecfg import CODE_DEFAULTS, TEMPLATE

__all__ = ["LOCREF_STDEV", "STRIDE", "decode", "locref_at"]

#: pose_cfg defaults (DLC's template and code defaults).
LOCREF_STDEV = float(TEMPLATE["locref_stdev"])
STRIDE = float(CODE_DEFAULTS["stride"])


def locref_at(prob: np.ndarray, locref: np.ndarray) -> np.ndarray:
    """The locref ``(B, J, 2)`` of each part at its first maximum (row-major) in ``prob``
    ``(B, h, w, J)``, from the map ``(B, h, w, 2J)``."""
    b, h, w, j = prob.shape
    return _pick(np.argmax(prob.reshape(b, h * w, j), axis=1), locref)


def _pick(idx: np.ndarray, locref: np.ndarray) -> np.ndarray:
    """The locref ``(B, J, 2)`` at the flat cells ``idx`` ``(B, J)`` of the map."""
    b, j = idx.shape
    offsets = np.asarray(locref).reshape(b, -1, j, 2)
    return offsets[np.arange(b)[:, None], idx, np.arange(j)[None, :]]


def decode(
    prob: np.ndarray,
    locref: np.ndarray,
    stride: float = STRIDE,
    locref_stdev: float = LOCREF_STDEV,
    location_refinement: bool = True,
) -> np.ndarray:
    """Poses ``(B, J, 3)`` (x, y, likelihood) from probability maps ``(B, h, w, J)`` and
    locref ``(B, h, w, 2J)`` (a single ``(h, w, J)`` map counts as ``B = 1``): per body
    part the argmax cell (the first maximum in row-major order), refined by its locref
    offset. ``locref`` may also be ``(B, J, 2)``: the offsets at those maxima already
    (:func:`dlcflow.inference.onnxlocref.locref_at_maxima`)."""
    prob = np.asarray(prob)
    locref = np.asarray(locref)
    if prob.ndim == 3:
        prob, locref = prob[None], locref[None]
    b, h, w, j = prob.shape
    flat = prob.reshape(b, h * w, j)
    idx = np.argmax(flat, axis=1)  # (B, J)
    likelihood = np.take_along_axis(flat, idx[:, None, :], axis=1)[:, 0, :]
    row, col = np.divmod(idx, w)
    x = col * float(stride) + 0.5 * float(stride)
    y = row * float(stride) + 0.5 * float(stride)
    if location_refinement:
        # (B, J, 2) is already at the maxima (an ONNX export's output)
        picked = locref if locref.ndim == 3 else _pick(idx, locref)
        x = x + picked[..., 0] * float(locref_stdev)
        y = y + picked[..., 1] * float(locref_stdev)
    return np.stack([x, y, likelihood], axis=-1).astype(np.float64)
