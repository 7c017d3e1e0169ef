"""DLC's pose tables as pandas frames: their column layout, and the conversion to and from
the pose data model (:mod:`dlcflow.data.pose`) in one call each.

Columns are a MultiIndex named ``scorer, bodyparts, coords`` (single animal) or ``scorer,
individuals, bodyparts, coords`` (multi animal; unique body parts under the individual
``single``, placed last). ``coords`` are ``x, y`` (labels), ``x, y, likelihood``
(predictions, machine labels, tracks) or ``x, y, z`` (3D). Rows are frame numbers, or for
labels the 3-level index ``("labeled-data", <video>, <image>)``.

:func:`to_dataset` and :func:`to_frame` are inverse: a DLC table converted to a dataset
and back is the same table (columns, order, rows, values).
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from dlcflow.data.pose import SINGLE, make_poses, point_keys, points_array
from dlcflow.io.hdf import first_line

__all__ = [
    "COORDS",
    "COORDS_3D",
    "LIKELIHOOD_COORDS",
    "MULTI_LEVELS",
    "SINGLE_LEVELS",
    "csv_layout",
    "pose_columns",
    "read_table_csv",
    "to_dataset",
    "to_frame",
]

COORDS = ("x", "y")
LIKELIHOOD_COORDS = ("x", "y", "likelihood")
COORDS_3D = ("x", "y", "z")
SINGLE_LEVELS = ("scorer", "bodyparts", "coords")
MULTI_LEVELS = ("scorer", "individuals", "bodyparts", "coords")
#: ``attrs["rows"]`` of a dataset whose ``time`` are labeled images, not frame numbers.
IMAGE_ROWS = "images"
_SPACE = ("x", "y", "z")


def pose_columns(
    scorer: str,
    bodyparts: Sequence[str],
    individuals: Sequence[str] | None = None,
    unique_bodyparts: Sequence[str] | None = None,
    coords: Sequence[str] = COORDS,
) -> pd.MultiIndex:
    """DLC's columns: ``scorer × bodyparts × coords`` (``individuals`` None), or every
    individual × ``bodyparts`` × coords followed by ``unique_bodyparts`` under ``single``."""
    if individuals is None:
        if unique_bodyparts:
            raise ValueError("unique_bodyparts need a multi-animal layout (give individuals)")
        return pd.MultiIndex.from_product(
            [[scorer], list(bodyparts), list(coords)], names=list(SINGLE_LEVELS)
        )
    tuples = [(scorer, ind, bp, c) for ind in individuals for bp in bodyparts for c in coords]
    tuples += [(scorer, SINGLE, bp, c) for bp in unique_bodyparts or () for c in coords]
    return pd.MultiIndex.from_tuples(tuples, names=list(MULTI_LEVELS))


def csv_layout(path: Path, error: type[Exception] = ValueError) -> tuple[int, int]:
    """(header rows, index columns) of a DLC table csv: 3 header rows (4 with
    ``individuals``), 1 index column (3 for labels, whose rows are images)."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            head = list(itertools.islice(csv.reader(fh), 6))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise error(f"{path}: not a readable csv file ({first_line(err)})") from None
    n_header = 0
    for row in head:
        if row and row[0] in MULTI_LEVELS:
            n_header += 1
        else:
            break
    if n_header not in (3, 4) or head[0][0] != "scorer" or head[n_header - 1][0] != "coords":
        raise error(f"{path}: expected DLC header rows scorer, (individuals,) bodyparts, coords")
    first = head[0]
    n_index = 1
    while n_index < len(first) and first[n_index] == "":
        n_index += 1
    if n_index not in (1, 3) or n_index >= len(first):
        raise error(f"{path}: expected 1 or 3 index columns, found {n_index}")
    return n_header, n_index


def read_table_csv(path: Path, error: type[Exception] = ValueError) -> pd.DataFrame:
    """A DLC table csv as its pandas frame (header rows and index columns as found)."""
    n_header, n_index = csv_layout(path, error)
    index_col: int | list[int] = 0 if n_index == 1 else list(range(n_index))
    try:
        return pd.read_csv(path, header=list(range(n_header)), index_col=index_col)
    except Exception as err:  # pandas parser errors
        raise error(f"{path}: not a readable DLC table csv ({first_line(err)})") from None


def _levels(df: pd.DataFrame) -> tuple[int | None, int, int]:
    names = list(df.columns.names)
    if "bodyparts" not in names or "coords" not in names:
        raise ValueError("the table's columns lack the levels 'bodyparts' and 'coords'")
    ind = names.index("individuals") if "individuals" in names else None
    return ind, names.index("bodyparts"), names.index("coords")


def to_dataset(
    df: pd.DataFrame,
    *,
    source_file: str | None = None,
    skeleton: Sequence[Sequence[str]] = (),
    fps: float | None = None,
) -> xr.Dataset:
    """A DLC pose table as a pose dataset (see the module docstring for the layouts)."""
    ind_level, bp_level, coord_level = _levels(df)
    columns = list(df.columns)
    points = list(
        dict.fromkeys(
            (str(c[ind_level]) if ind_level is not None else "", str(c[bp_level])) for c in columns
        )
    )
    coords = {str(c[coord_level]) for c in columns}
    space = [s for s in _SPACE if s in coords]
    if space[:2] != ["x", "y"]:
        raise ValueError(f"coords {sorted(coords)} lack x and y")
    keypoints = list(dict.fromkeys(bp for _, bp in points))
    multianimal = ind_level is not None
    individuals = list(dict.fromkeys(ind for ind, _ in points)) if multianimal else [""]
    unique = []
    if multianimal and SINGLE in individuals:
        single = {bp for ind, bp in points if ind == SINGLE}
        others = {bp for ind, bp in points if ind != SINGLE}
        unique = [bp for bp in keypoints if bp in single and bp not in others]
    pos = np.full((len(df), len(space), len(keypoints), len(individuals)), np.nan)
    has_confidence = "likelihood" in coords
    conf = np.full((len(df), len(keypoints), len(individuals)), np.nan)
    values = df.to_numpy(dtype=np.float64)
    kp_index = {k: i for i, k in enumerate(keypoints)}
    ind_index = {k: i for i, k in enumerate(individuals)}
    for j, col in enumerate(columns):
        ind = str(col[ind_level]) if ind_level is not None else ""
        k, i = kp_index[str(col[bp_level])], ind_index[ind]
        coord = str(col[coord_level])
        if coord == "likelihood":
            conf[:, k, i] = values[:, j]
        elif coord in space:
            pos[:, space.index(coord), k, i] = values[:, j]
    image_rows = isinstance(df.index, pd.MultiIndex)
    time = ["/".join(str(p) for p in row) for row in df.index] if image_rows else df.index
    scorer_level = list(df.columns.names).index("scorer") if "scorer" in df.columns.names else 0
    ds = make_poses(
        pos,
        conf if has_confidence else None,
        keypoints=keypoints,
        individuals=individuals if multianimal else None,
        space=space,
        time=list(time),
        scorer=str(columns[0][scorer_level]) if columns else "",
        unique_keypoints=unique,
        skeleton=skeleton,
        source_file=source_file,
        fps=fps,
    )
    if not image_rows:
        ds = ds.assign_coords(time=np.asarray(df.index))
    ds.attrs["rows"] = IMAGE_ROWS if image_rows else "frames"
    return ds


def to_frame(ds: xr.Dataset, scorer: str | None = None) -> pd.DataFrame:
    """A pose dataset as DLC's table (``scorer`` overrides the dataset's)."""
    keys = point_keys(ds)
    space = [str(s) for s in ds["space"].values]
    coords = space + (["likelihood"] if ds.attrs.get("has_confidence", False) else [])
    who = scorer if scorer is not None else str(ds.attrs.get("scorer", ""))
    if ds.attrs.get("multianimal", False):
        tuples = [(who, ind, kp, c) for ind, kp in keys for c in coords]
        columns = pd.MultiIndex.from_tuples(tuples, names=list(MULTI_LEVELS))
    else:
        tuples = [(who, kp, c) for _, kp in keys for c in coords]
        columns = pd.MultiIndex.from_tuples(tuples, names=list(SINGLE_LEVELS))
    pos = points_array(ds, keys)  # time, points, space
    parts = [pos]
    if len(coords) > len(space):
        parts.append(points_array(ds, keys, "confidence")[..., None])
    values = np.concatenate(parts, axis=2).reshape(pos.shape[0], len(tuples))
    time = ds["time"].values
    if ds.attrs.get("rows") == IMAGE_ROWS:
        rows = [tuple(str(t).split("/")) for t in time]
        index: pd.Index = (
            pd.MultiIndex.from_tuples(rows) if rows else pd.MultiIndex.from_arrays([[], [], []])
        )
    elif np.issubdtype(time.dtype, np.integer) and np.array_equal(time, np.arange(len(time))):
        index = pd.RangeIndex(len(time))
    else:
        index = pd.Index(time)
    return pd.DataFrame(values, index=index, columns=columns)
