"""Training records: one entry per labeled training image, as DeepLabCut stores them.

Single animal: ``image`` (path parts), ``size`` (channels, height, width) and ``joints``
(k, 3) ``[bodypart index, x, y]``, written to the ``.mat`` file (joints truncated to int
there, as DLC does). Multi animal: ``joints`` maps the individual index (config order,
the unique body parts last) to such an array, coordinates rounded to 2 decimals, pickled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from dlcflow.core.images import ImageError, image_shape
from dlcflow.project.paths import Project

MULTI_DECIMALS = 2  # DLC rounds multi-animal coordinates to two decimals


class DatasetError(ValueError):
    """A training dataset that cannot be built; the one-line message says why."""


def _shape(project: Project, row: tuple[str, ...], cache: dict) -> tuple[int, int, int]:
    if row not in cache:
        path = project.root.joinpath(*row)
        if not path.is_file():
            raise DatasetError(
                f"{path}: image labeled in CollectedData_{project.scorer} is missing; "
                "restore the frame or delete its row with the labeling tool"
            )
        try:
            cache[row] = image_shape(path)
        except ImageError as err:
            raise DatasetError(str(err)) from None
    return cache[row]


def single_animal_records(
    project: Project, data: pd.DataFrame, train: np.ndarray, cache: dict | None = None
) -> list[dict[str, Any]]:
    """DLC's training records of the train rows, float coordinates.

    Each: ``image`` (path parts), ``size`` (channels, height, width), ``joints`` float64
    (k, 3) ``[bodypart index, x, y]``. A point is kept when finite and, truncated to int
    as DLC does, strictly inside the image; rows without points are left out.
    """
    cache = {} if cache is None else cache
    values = data.to_numpy(dtype="float64")
    nbp = values.shape[1] // 2
    ids = np.arange(nbp, dtype="float64")
    records = []
    for i in train:
        row = tuple(data.index[int(i)])
        channels, height, width = _shape(project, row, cache)
        xy = values[int(i)].reshape(nbp, 2)
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(xy).all(axis=1)
            xi = np.where(finite, np.trunc(xy[:, 0]), -1)
            yi = np.where(finite, np.trunc(xy[:, 1]), -1)
        keep = finite & (xi > 0) & (xi < width) & (yi > 0) & (yi < height)
        if keep.any():
            joints = np.column_stack([ids, xy])[keep]
            records.append({"image": row, "size": (channels, height, width), "joints": joints})
    return records


def matlab_dataset(records: Sequence[dict[str, Any]]) -> np.ndarray:
    """DLC's ``.mat`` struct array of training records (joints truncated to int64)."""
    entries = []
    for rec in records:
        cell = np.empty((1, 1), dtype=object)
        cell[0, 0] = rec["joints"].astype("int64")
        entries.append((np.array([rec["image"]], dtype="U"), np.array([rec["size"]]), cell))
    return np.asarray(entries, dtype=[("image", "O"), ("size", "O"), ("joints", "O")])


def multi_animal_records(
    project: Project, data: pd.DataFrame, train: np.ndarray, cache: dict | None = None
) -> list[dict[str, Any]]:
    """DLC's multi-animal training records: ``joints`` maps individual index to float32
    (k, 3) ``[bodypart index, x, y]``; unique body parts use the last index, with body-part
    indices after the animal ones."""
    cache = {} if cache is None else cache
    n_ind, n_ma = len(project.individuals), len(project.multianimal_bodyparts)
    n_unique = len(project.unique_bodyparts)
    values = np.round(data.to_numpy(dtype="float64"), MULTI_DECIMALS)
    records = []
    for i in train:
        row = tuple(data.index[int(i)])
        channels, height, width = _shape(project, row, cache)
        per_ind = [
            (np.arange(n_ma), values[int(i), : n_ind * n_ma * 2].reshape(n_ind, n_ma, 2)[j])
            for j in range(n_ind)
        ]
        if n_unique:
            unique = values[int(i), n_ind * n_ma * 2 :].reshape(n_unique, 2)
            per_ind.append((np.arange(n_ma, n_ma + n_unique), unique))
        joints = {}
        for j, (ids, xy) in enumerate(per_ind):
            arr = np.column_stack([ids, xy]).astype("float32")
            with np.errstate(invalid="ignore"):
                keep = np.isfinite(arr).all(axis=1)
                keep &= (arr[:, 1] > 0) & (arr[:, 1] < width) & (arr[:, 2] > 0)
                keep &= arr[:, 2] < height
            if keep.any():
                joints[j] = arr[keep]
        if joints:
            size = np.asarray((channels, height, width))
            records.append({"image": row, "size": size, "joints": joints})
    return records
