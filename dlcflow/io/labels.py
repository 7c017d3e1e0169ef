"""Annotation files: ``CollectedData_<scorer>.h5/.csv`` and machine labels, DLC 2.3's layout.

Columns are a MultiIndex named ``scorer, bodyparts, coords`` (multi animal:
``scorer, individuals, bodyparts, coords``; unique body parts sit under the individual
``single``, placed last), values float64 with NaN for "not labeled". Rows are an unnamed
3-level MultiIndex ``("labeled-data", <video>, "imgNNN.png")``. Older DLC versions wrote
one string ``labeled-data/<video>/imgNNN.png`` (either slash) as the row index; it is
split on read. Files are written as DLC writes them: h5 in pandas "fixed" format under the
key ``df_with_missing`` and a csv beside it, both atomically.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dlcflow.core.fileio import temp_path
from dlcflow.io.hdf import first_line, read_frame, write_frame_to
from dlcflow.io.tables import COORDS, MULTI_LEVELS, SINGLE_LEVELS, pose_columns, read_table_csv

if TYPE_CHECKING:
    from dlcflow.project.paths import Project

LABELED_DATA = "labeled-data"

RowKey = tuple[str, str, str]


class LabelError(ValueError):
    """An annotation file that cannot be used; the one-line message names the file and cause."""


# -- columns and empty frames ----------------------------------------------------------------
def project_columns(
    project: Project, scorer: str | None = None, coords: Sequence[str] = COORDS
) -> pd.MultiIndex:
    """The annotation columns of a project's config (project scorer unless ``scorer``)."""
    scorer = scorer or project.scorer
    if project.multianimal:
        return pose_columns(
            scorer,
            project.multianimal_bodyparts,
            project.individuals,
            project.unique_bodyparts,
            coords,
        )
    return pose_columns(scorer, project.bodyparts, coords=coords)


def row_index(rows: Iterable[Sequence[str]]) -> pd.MultiIndex:
    """An unnamed 3-level row MultiIndex of plain strings."""
    tuples = [tuple(str(part) for part in row) for row in rows]
    if not tuples:
        return pd.MultiIndex.from_arrays([[], [], []])
    return pd.MultiIndex.from_tuples(tuples)


def image_row(image: str | os.PathLike[str], video: str | None = None) -> RowKey:
    """The row key ``("labeled-data", video, name)`` of an image path or name."""
    parts = _split_path(str(image))
    name = parts[-1]
    if video is None:
        if len(parts) < 2:
            raise ValueError(f"{image}: give the video (folder) name for a bare image name")
        video = parts[-2]
    return (LABELED_DATA, str(video), name)


def empty_annotations(
    project: Project,
    images: Iterable[str | os.PathLike[str]],
    scorer: str | None = None,
    video: str | None = None,
) -> pd.DataFrame:
    """An all-NaN annotation frame for images of one labeled-data folder.

    ``images`` are paths (``labeled-data/<video>/imgNNN.png``, the folder name gives the
    video) or bare names with ``video`` given.
    """
    index = row_index(image_row(img, video) for img in images)
    columns = project_columns(project, scorer)
    return pd.DataFrame(np.nan, index=index, columns=columns, dtype="float64")


# -- reading --------------------------------------------------------------------------------
def _split_path(text: str) -> list[str]:
    return [p for p in text.replace("\\", "/").split("/") if p]


def _read_h5(path: Path) -> pd.DataFrame:
    return read_frame(path, error=LabelError)


def _normalize(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Canonical columns (named levels, str), rows (3-level str MultiIndex), float64 values."""
    cols = df.columns
    if not isinstance(cols, pd.MultiIndex) or cols.nlevels not in (3, 4):
        raise LabelError(
            f"{path}: columns must have the levels scorer, (individuals,) bodyparts, coords"
        )
    names = SINGLE_LEVELS if cols.nlevels == 3 else MULTI_LEVELS
    given = [n for n in cols.names if n is not None]
    if given and list(cols.names) != list(names):
        raise LabelError(f"{path}: column levels are {list(cols.names)}, expected {list(names)}")
    columns = pd.MultiIndex.from_tuples([tuple(str(v) for v in t) for t in cols], names=list(names))
    index = df.index
    if isinstance(index, pd.MultiIndex):
        if index.nlevels != 3:
            raise LabelError(f"{path}: row index has {index.nlevels} levels, expected 3")
        rows = [tuple(str(v) for v in t) for t in index]
    else:
        rows = []
        for value in index:
            if not isinstance(value, str):
                raise LabelError(f"{path}: row {value!r} is not an image path")
            parts = _split_path(value)
            if len(parts) >= 3:
                rows.append(tuple(parts[-3:]))
            else:  # a bare image name: the file's folder is the video
                rows.append((LABELED_DATA, path.parent.name, parts[-1]))
    try:
        values = df.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError) as err:
        raise LabelError(f"{path}: non-numeric coordinates ({first_line(err)})") from None
    return pd.DataFrame(values, index=row_index(rows), columns=columns)


def read_annotations(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CollectedData (or machine-label) file, h5 or csv, in any DLC-era style.

    h5: any key (``df_with_missing``, the napari plugin's ``keypoints``, ...). csv: 3 header
    rows (4 multi animal), 3 index columns or one legacy path column. Returns float64 values
    with named column levels and a 3-level row MultiIndex of str. Raises LabelError.
    """
    p = Path(path)
    if not p.is_file():
        raise LabelError(f"{p}: annotation file not found")
    suffix = p.suffix.lower()
    if suffix in (".h5", ".hdf5", ".hdf"):
        df = _read_h5(p)
    elif suffix == ".csv":
        df = read_table_csv(p, error=LabelError)
    else:
        raise LabelError(f"{p}: unknown annotation file type (expected .h5 or .csv)")
    return _normalize(df, p)


# -- writing --------------------------------------------------------------------------------
def _check_writable(df: pd.DataFrame, where: Path) -> None:
    if not isinstance(df.columns, pd.MultiIndex) or df.columns.nlevels not in (3, 4):
        raise LabelError(f"{where}: columns must be scorer, (individuals,) bodyparts, coords")
    if not isinstance(df.index, pd.MultiIndex) or df.index.nlevels != 3:
        raise LabelError(f"{where}: rows must be a 3-level index (labeled-data, video, image)")


def write_frame_files(df: pd.DataFrame, h5_path: Path, csv_path: Path | None) -> None:
    """Write ``df`` to h5 (fixed format, key df_with_missing) and csv, atomically.

    Both go to temp files in the target folder first; only when both are complete are they
    renamed into place, so a crash never leaves a half-written file.
    """
    h5_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_h5 = temp_path(h5_path)
    tmp_csv = temp_path(csv_path) if csv_path is not None else None
    try:
        write_frame_to(df, tmp_h5, table=False)
        if tmp_csv is not None:
            df.to_csv(tmp_csv)
        os.replace(tmp_h5, h5_path)
        if tmp_csv is not None and csv_path is not None:
            os.replace(tmp_csv, csv_path)
    finally:
        tmp_h5.unlink(missing_ok=True)
        if tmp_csv is not None:
            tmp_csv.unlink(missing_ok=True)


def _canonical(df: pd.DataFrame, where: Path) -> pd.DataFrame:
    _check_writable(df, where)
    names = SINGLE_LEVELS if df.columns.nlevels == 3 else MULTI_LEVELS
    out = df.astype("float64")
    out.columns = out.columns.set_names(list(names))
    out.index = row_index(out.index)
    return out


def write_annotations(df: pd.DataFrame, h5_path: str | os.PathLike[str]) -> None:
    """Write annotations as DLC does: ``<h5_path>`` and the csv beside it, atomically."""
    path = Path(h5_path)
    write_frame_files(_canonical(df, path), path, path.with_suffix(".csv"))


def read_machine_labels(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a ``machinelabels-iter<N>.h5`` (columns x, y, likelihood)."""
    return read_annotations(path)


def write_machine_labels(
    df: pd.DataFrame, h5_path: str | os.PathLike[str], csv_path: str | os.PathLike[str] | None
) -> None:
    """Write machine labels (x, y, likelihood) to h5 and, if given, ``machinelabels.csv``."""
    path = Path(h5_path)
    write_frame_files(_canonical(df, path), path, Path(csv_path) if csv_path else None)


# -- validation -----------------------------------------------------------------------------
