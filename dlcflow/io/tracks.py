"""Stitched multi-animal tracks, DLC 2.3's ``<video stem><scorer>_el.h5`` (``_bx``, ``_sk``
for the box and skeleton trackers) and its csv.

Columns ``scorer, individuals, bodyparts, coords`` with ``x, y, likelihood``; individuals
are the animal names, then ``single`` for unique body parts; rows ``0..nframes-1``. DLC
writes the h5 in table format under the key ``tracks`` (its refine-tracklets window
rewrites it under ``df_with_missing``; older files use ``df``): read whatever the key.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import xarray as xr

from dlcflow.core.fileio import atomic_path
from dlcflow.io.hdf import read_frame, write_frame
from dlcflow.io.tables import MULTI_LEVELS, read_table_csv, to_dataset, to_frame

__all__ = ["TRACKS_KEY", "TrackFileError", "load_tracks", "read_tracks", "save_tracks"]

#: The key DLC's stitching writes.
TRACKS_KEY = "tracks"


class TrackFileError(ValueError):
    """A tracks file that cannot be used; the one-line message names the file and cause."""


def read_tracks(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A tracks file (h5 of any key, or csv with four header rows) as DLC's table."""
    p = Path(path)
    if not p.is_file():
        raise TrackFileError(f"{p}: tracks file not found")
    if p.suffix.lower() == ".csv":
        df = read_table_csv(p, TrackFileError)
    else:
        df = read_frame(p, error=TrackFileError)
    if list(df.columns.names) != list(MULTI_LEVELS):
        raise TrackFileError(f"{p}: columns are {list(df.columns.names)}, not {list(MULTI_LEVELS)}")
    return df.astype("float64")


def load_tracks(path: str | os.PathLike[str]) -> xr.Dataset:
    """A tracks file as the pose data model (individuals as in the file)."""
    return to_dataset(read_tracks(path), source_file=str(path))


def save_tracks(ds: xr.Dataset, h5_path: str | os.PathLike[str], save_as_csv: bool = False) -> None:
    """Write tracks as DLC does (table format, key ``tracks``), the csv first, atomically."""
    h5 = Path(h5_path)
    df = to_frame(ds)
    if list(df.columns.names) != list(MULTI_LEVELS):
        raise TrackFileError(f"{h5}: tracks need a multi-animal dataset")
    if save_as_csv:
        h5.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(h5.with_suffix(".csv")) as tmp:
            df.to_csv(tmp)
    write_frame(df, h5, table=True, key=TRACKS_KEY)
