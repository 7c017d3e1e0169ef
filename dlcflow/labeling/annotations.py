"""Checks and merging of a project's annotations: points inside their images, body parts
the config knows, and all labeled-data folders as one table (what the dataset is built on)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from dlcflow.core.images import image_size
from dlcflow.data.pose import SINGLE
from dlcflow.io.labels import LabelError, RowKey, project_columns, read_annotations, row_index
from dlcflow.io.tables import COORDS, MULTI_LEVELS, SINGLE_LEVELS
from dlcflow.project.paths import Project

__all__ = ["image_sizes", "load_project_annotations", "outside_points", "validate_annotations"]


def image_sizes(project: Project, rows: Iterable[RowKey]) -> dict[RowKey, tuple[int, int]]:
    """(width, height) of each row's image inside the project (missing images omitted)."""
    sizes = {}
    for row in rows:
        img = project.root.joinpath(*row)
        if img.is_file():
            sizes[tuple(row)] = image_size(img)
    return sizes


def outside_points(
    df: pd.DataFrame, sizes: Mapping[RowKey, tuple[int, int]]
) -> list[tuple[RowKey, tuple[str, ...], float, float]]:
    """Labeled points not strictly inside their image (DLC keeps 0 < x < w, 0 < y < h).

    Returns ``(row, column key without scorer/coord, x, y)`` for each; rows without a size
    are not checked.
    """
    found = []
    xcols = [c for c in df.columns if c[-1] == "x"]
    for row, values in zip(df.index, df.itertuples(index=False, name=None), strict=True):
        size = sizes.get(tuple(row))
        if size is None:
            continue
        width, height = size
        record = dict(zip(df.columns, values, strict=True))
        for xc in xcols:
            x, y = record[xc], record.get((*xc[:-1], "y"), np.nan)
            if np.isnan(x) or np.isnan(y):
                continue
            if not (0 < x < width and 0 < y < height):
                found.append((tuple(row), tuple(xc[1:-1]), float(x), float(y)))
    return found


def validate_annotations(
    df: pd.DataFrame,
    project: Project,
    path: str | os.PathLike[str],
    image_sizes: Mapping[RowKey, tuple[int, int]] | None = None,
    outside: Literal["error", "warn", "ignore"] = "error",
    coords: Sequence[str] = COORDS,
) -> None:
    """Check annotations read from ``path`` against the project; raise LabelError.

    Checks the column levels (single vs multi animal), one scorer, coords, body parts and
    individuals known to the config, unique rows, and (given ``image_sizes``, keyed by row)
    points inside their image: ``outside`` says whether those raise, warn or pass.
    """
    where = str(path)
    cols = df.columns
    expected = MULTI_LEVELS if project.multianimal else SINGLE_LEVELS
    if not isinstance(cols, pd.MultiIndex) or tuple(cols.names) != expected:
        got = list(cols.names) if isinstance(cols, pd.MultiIndex) else [cols.name]
        kind = "multi-animal" if project.multianimal else "single-animal"
        raise LabelError(
            f"{where}: column levels {got} do not fit the {kind} project {project.config_path} "
            f"(expected {list(expected)})"
        )
    scorers = list(dict.fromkeys(cols.get_level_values("scorer")))
    if len(scorers) != 1:
        raise LabelError(f"{where}: several scorers {scorers} in one file")
    bad_coords = sorted(set(cols.get_level_values("coords")) - set(coords))
    if bad_coords:
        raise LabelError(f"{where}: unknown coords {bad_coords} (expected {list(coords)})")
    known = project.bodyparts
    for bp in dict.fromkeys(cols.get_level_values("bodyparts")):
        if bp not in known:
            raise LabelError(
                f"{where}: body part '{bp}' is not in {project.config_path} (bodyparts: "
                f"{', '.join(known)}); add it to the config or relabel"
            )
    if project.multianimal:
        allowed = set(project.individuals) | ({SINGLE} if project.unique_bodyparts else set())
        for ind, bp in dict.fromkeys(
            zip(cols.get_level_values(1), cols.get_level_values(2), strict=True)
        ):
            if ind not in allowed:
                raise LabelError(
                    f"{where}: individual '{ind}' is not in {project.config_path} "
                    f"(individuals: {', '.join(project.individuals)})"
                )
            if (ind == SINGLE) != (bp in project.unique_bodyparts):
                raise LabelError(
                    f"{where}: body part '{bp}' under individual '{ind}': unique body parts "
                    f"belong under '{SINGLE}', animal body parts under an individual"
                )
    if cols.duplicated().any():
        raise LabelError(f"{where}: column {cols[cols.duplicated()][0]} appears twice")
    dup = df.index.duplicated()
    if dup.any():
        raise LabelError(f"{where}: image {'/'.join(df.index[dup][0])} appears in two rows")
    if image_sizes is None or outside == "ignore":
        return
    points = outside_points(df, image_sizes)
    if not points:
        return
    row, part, x, y = points[0]
    width, height = image_sizes[row]
    msg = (
        f"{where}: {'/'.join(part)} at ({x:.1f}, {y:.1f}) in {'/'.join(row)} lies outside "
        f"the {width}x{height} image ({len(points)} such point(s))"
    )
    if outside == "error":
        raise LabelError(msg)
    warnings.warn(msg + "; those points are left out of the training set", stacklevel=2)


# -- the project's annotations --------------------------------------------------------------
def load_project_annotations(project: Project) -> pd.DataFrame:
    """All labeled-data folders' ``CollectedData_<scorer>`` of the project, concatenated.

    Rows are ``sort_index()``ed (train/test indices refer to this order); columns are the
    config's body parts in config order (body parts added to the config later are NaN).
    Folders without an annotation file are skipped; files whose scorer differs from the
    project scorer are skipped with a warning, as DLC does. Body parts unknown to the
    config raise LabelError. The h5 file is read; the csv only where no h5 exists.
    """
    columns = project_columns(project)
    frames = []
    for folder in project.labeled_folders():
        path = project.existing_collected_data(folder.name)
        if path is None:
            continue
        df = read_annotations(path)
        scorer = str(df.columns.get_level_values("scorer")[0]) if df.shape[1] else ""
        if scorer != project.scorer:
            warnings.warn(
                f"{path}: labeled by scorer '{scorer}', not the project scorer "
                f"'{project.scorer}'; left out of the training dataset",
                stacklevel=2,
            )
            continue
        validate_annotations(df, project, path)
        frames.append(df.reindex(columns=columns))
    if not frames:
        return pd.DataFrame(index=row_index([]), columns=columns, dtype="float64")
    merged = pd.concat(frames).sort_index()
    dup = merged.index.duplicated()
    if dup.any():
        raise LabelError(
            f"{project.labeled_data_dir}: image {'/'.join(merged.index[dup][0])} is labeled "
            "in two annotation files"
        )
    return merged
