"""The pose data model: one xarray Dataset for labels, predictions, tracks and 3D poses.

Dimensions and variables are those of the ``movement`` package, so a dataset can be
handed to movement's filters, kinematics and napari plugin as it is:

* ``position``: ``(time, space, keypoints, individuals)``, float64, NaN where a point is
  missing (not labeled, below nothing: missing is missing);
* ``confidence``: ``(time, keypoints, individuals)``, float64 (DLC's likelihood); NaN when
  the source has none (labels, 3D);
* coordinates: ``time`` (frame indices; for labels, the image ``labeled-data/<video>/<png>``),
  ``space`` (``x, y`` or ``x, y, z``), ``keypoints`` (body-part names), ``individuals``.

A single-animal project has one individual. Multi-animal projects have their animals and,
when the project has unique body parts, the individual ``single`` that carries them; the
attribute ``unique_keypoints`` says which keypoints belong to ``single`` (every other
keypoint belongs to every other individual). Attributes also carry the ``scorer``, the
``skeleton`` (pairs of keypoint names), whether the source is ``multianimal`` and whether it
has a likelihood (``has_confidence``), plus movement's ``source_software``,
``source_file``, ``fps``, ``time_unit`` and ``ds_type``.

This module knows nothing of files: :mod:`dlcflow.io.tables` converts DLC's tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "DIMS",
    "SINGLE",
    "make_poses",
    "point_keys",
    "point_name",
    "points_array",
    "select_keys",
    "with_points",
]

#: movement's dimension order of ``position``.
DIMS = ("time", "space", "keypoints", "individuals")
#: The individual that holds a multi-animal project's unique body parts (DLC's name).
SINGLE = "single"
#: The individual name of a single-animal dataset (movement's name).
ONE_INDIVIDUAL = "individual_0"


def make_poses(
    position: np.ndarray,
    confidence: np.ndarray | None = None,
    *,
    keypoints: Sequence[str],
    individuals: Sequence[str] | None = None,
    space: Sequence[str] = ("x", "y"),
    time: Sequence[Any] | None = None,
    scorer: str = "",
    unique_keypoints: Sequence[str] = (),
    skeleton: Sequence[Sequence[str]] = (),
    source_file: str | None = None,
    fps: float | None = None,
) -> xr.Dataset:
    """A pose dataset from arrays.

    ``position`` is ``(time, space, keypoints, individuals)`` (or ``(time, space,
    keypoints)`` for one individual); ``confidence`` ``(time, keypoints, individuals)``
    (or without the last axis), None for "no likelihood". ``individuals=None`` makes a
    single-animal dataset.
    """
    pos = np.asarray(position, dtype=np.float64)
    multianimal = individuals is not None
    names = [str(i) for i in individuals] if multianimal else [ONE_INDIVIDUAL]
    if pos.ndim == 3:
        pos = pos[..., None]
    n_time = pos.shape[0]
    expected = (n_time, len(space), len(keypoints), len(names))
    if pos.shape != expected:
        raise ValueError(f"position has shape {pos.shape}, expected {expected} {DIMS}")
    has_confidence = confidence is not None
    if confidence is None:
        conf = np.full((n_time, len(keypoints), len(names)), np.nan)
    else:
        conf = np.asarray(confidence, dtype=np.float64)
        if conf.ndim == 2:
            conf = conf[..., None]
        if conf.shape != expected[:1] + expected[2:]:
            shape = expected[:1] + expected[2:]
            raise ValueError(f"confidence has shape {conf.shape}, expected {shape}")
    unknown = [k for k in unique_keypoints if k not in keypoints]
    if unknown:
        raise ValueError(f"unique keypoints {unknown} are not keypoints")
    if unique_keypoints and SINGLE not in names:
        raise ValueError(f"unique keypoints need the individual {SINGLE!r}")
    coords = {
        "time": np.arange(n_time) if time is None else np.asarray(list(time), dtype=object),
        "space": [str(s) for s in space],
        "keypoints": [str(k) for k in keypoints],
        "individuals": names,
    }
    attrs: dict[str, Any] = {
        "scorer": str(scorer),
        "multianimal": multianimal,
        "has_confidence": has_confidence,
        "unique_keypoints": [str(k) for k in unique_keypoints],
        "skeleton": [[str(a), str(b)] for a, b in skeleton],
        "source_software": "DeepLabCut",
        "source_file": source_file,
        "fps": fps,
        "time_unit": "frames",
        "ds_type": "poses",
    }
    return xr.Dataset(
        {
            "position": (DIMS, pos),
            "confidence": (("time", "keypoints", "individuals"), conf),
        },
        coords=coords,
        attrs=attrs,
    )


def point_keys(ds: xr.Dataset) -> list[tuple[str, str]]:
    """The points a dataset holds, as ``(individual, keypoint)`` in DLC's column order.

    Every keypoint of every individual; in a multi-animal dataset, unique keypoints only
    under ``single`` and the others only under the animals.
    """
    unique = set(ds.attrs.get("unique_keypoints", ()))
    keys = []
    for ind in ds["individuals"].values:
        for kp in ds["keypoints"].values:
            if not unique or (kp in unique) == (ind == SINGLE):
                keys.append((str(ind), str(kp)))
    return keys


def points_array(
    ds: xr.Dataset, keys: Sequence[tuple[str, str]] | None = None, variable: str = "position"
) -> np.ndarray:
    """``position`` as ``(time, points, space)``, or ``confidence`` as ``(time, points)``,
    for the points :func:`point_keys` lists (or ``keys``; absent ones are NaN)."""
    keys = point_keys(ds) if keys is None else keys
    order = ("time", "keypoints", "individuals", "space")
    values = ds[variable].transpose(*[d for d in order if d in ds[variable].dims]).values
    kp = {str(k): i for i, k in enumerate(ds["keypoints"].values)}
    ind = {str(k): i for i, k in enumerate(ds["individuals"].values)}
    out = np.full((values.shape[0], len(keys), *values.shape[3:]), np.nan)
    for j, (individual, keypoint) in enumerate(keys):
        if individual in ind and keypoint in kp:
            out[:, j] = values[:, kp[keypoint], ind[individual]]
    return out


def with_points(
    ds: xr.Dataset,
    values: np.ndarray,
    keys: Sequence[tuple[str, str]] | None = None,
    variable: str = "position",
) -> xr.Dataset:
    """A copy of ``ds`` with ``variable`` set from ``(time, points, space)`` positions (or
    ``(time, points)`` confidences) of :func:`point_keys` (or ``keys``): the inverse of
    :func:`points_array`."""
    keys = point_keys(ds) if keys is None else keys
    out = ds.copy(deep=True)
    data = out[variable]
    order = [d for d in ("time", "keypoints", "individuals", "space") if d in data.dims]
    target = data.transpose(*order).values.copy()
    kp = {str(k): i for i, k in enumerate(ds["keypoints"].values)}
    ind = {str(k): i for i, k in enumerate(ds["individuals"].values)}
    array = np.asarray(values, dtype=np.float64)
    for j, (individual, keypoint) in enumerate(keys):
        target[:, kp[keypoint], ind[individual]] = array[:, j]
    out[variable] = (tuple(order), target)
    out[variable] = out[variable].transpose(*data.dims)
    if variable == "confidence":
        out.attrs["has_confidence"] = True
    return out


def point_name(ds: xr.Dataset, key: tuple[str, str]) -> str:
    """A point's name for messages: the body part, with its individual when there are several."""
    return f"{key[0]}/{key[1]}" if ds.attrs.get("multianimal", False) else key[1]


def select_keys(ds: xr.Dataset, bodyparts: Sequence[str] | str = "all") -> list[tuple[str, str]]:
    """The :func:`point_keys` of the body parts ``bodyparts`` (``"all"``, one name or a
    list; DLC's ``comparisonbodyparts``). Unknown names raise ValueError naming them."""
    keys = point_keys(ds)
    if isinstance(bodyparts, str) and bodyparts == "all":
        return keys
    wanted = [bodyparts] if isinstance(bodyparts, str) else [str(b) for b in bodyparts]
    present = list(dict.fromkeys(kp for _, kp in keys))
    unknown = [b for b in wanted if b not in present]
    if unknown:
        raise ValueError(
            f"comparisonbodyparts {', '.join(unknown)} not in the pose data "
            f"(body parts: {', '.join(present)})"
        )
    chosen = [k for k in keys if k[1] in wanted]
    if not chosen:
        raise ValueError("no valid body parts selected (comparisonbodyparts)")
    return chosen
