"""Triangulated 3D poses, DLC 2.3's ``<prefix>_<suffix>_DLC_3D.h5`` (+ csv).

Columns ``scorer, bodyparts, coords`` (multi animal: ``scorer, individuals, bodyparts,
coords``) with ``x, y, z`` and no likelihood; rows are frame numbers; pandas table format
under ``df_with_missing``, as DLC's ``triangulate`` writes it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import xarray as xr

from dlcflow.core.fileio import atomic_path
from dlcflow.io.hdf import read_frame, write_frame
from dlcflow.io.tables import COORDS_3D, read_table_csv, to_dataset, to_frame

__all__ = ["Pose3DFileError", "load_poses_3d", "read_poses_3d", "save_poses_3d"]


class Pose3DFileError(ValueError):
    """A 3D pose file that cannot be used; the one-line message names the file and cause."""


def read_poses_3d(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A ``_DLC_3D.h5`` (any key) or its csv as DLC's table; coords must be x, y, z."""
    p = Path(path)
    if not p.is_file():
        raise Pose3DFileError(f"{p}: 3D pose file not found")
    if p.suffix.lower() == ".csv":
        df = read_table_csv(p, Pose3DFileError)
    else:
        df = read_frame(p, error=Pose3DFileError)
    names = list(df.columns.names)
    if "coords" not in names or set(df.columns.get_level_values("coords")) != set(COORDS_3D):
        raise Pose3DFileError(f"{p}: not a 3D pose table (coords x, y, z)")
    return df.astype("float64")


def load_poses_3d(path: str | os.PathLike[str]) -> xr.Dataset:
    """A 3D pose file as the pose data model (``space`` x, y, z)."""
    return to_dataset(read_poses_3d(path), source_file=str(path))


def save_poses_3d(
    ds: xr.Dataset, h5_path: str | os.PathLike[str], save_as_csv: bool = False
) -> None:
    """Write 3D poses as DLC does (table format, ``df_with_missing``), the csv first."""
    h5 = Path(h5_path)
    if [str(s) for s in ds["space"].values] != list(COORDS_3D):
        raise Pose3DFileError(f"{h5}: 3D poses need space x, y, z")
    df = to_frame(ds)
    if save_as_csv:
        h5.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(h5.with_suffix(".csv")) as tmp:
            df.to_csv(tmp)
    write_frame(df, h5, table=True)
