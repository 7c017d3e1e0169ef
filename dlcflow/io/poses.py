"""Pose files of video analysis, DLC 2.3's layout: ``<video stem><scorer>.h5`` (+ ``.csv``,
``_meta.pickle``), the ``_filtered`` files of the same layout, and the ``_skeleton`` table.

* h5: pandas **table** format under the key ``df_with_missing``; columns ``scorer ×
  bodyparts × (x, y, likelihood)`` (multi-animal tracks add ``individuals``); rows
  ``range(nframes)``. Read whatever the key (:func:`dlcflow.io.hdf.read_frame`).
* csv: DLC's header rows (``scorer, (individuals,) bodyparts, coords``), one index column.
* ``_meta.pickle``: ``{"data": {...}}`` (start, stop, fps, nframes, cropping, ...).

Every file is written atomically, the csv and metadata before the h5, whose presence means
"analyzed". :func:`load_poses` / :func:`save_poses` give and take the pose data model;
:func:`read_poses` / :func:`write_table` the pandas frame DLC users know.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from dlcflow.core.fileio import atomic_path
from dlcflow.data.pose import make_poses
from dlcflow.io.hdf import first_line, read_frame, write_frame
from dlcflow.io.tables import LIKELIHOOD_COORDS, read_table_csv, to_dataset, to_frame
from dlcflow.project.paths import TRACKER_SUFFIXES

__all__ = [
    "PoseFileError",
    "analysis_crop",
    "analysis_metadata",
    "load_poses",
    "meta_path",
    "read_meta",
    "read_poses",
    "save_poses",
    "skeleton_table",
    "write_analysis",
    "write_meta",
    "write_table",
]

Crop = tuple[int, int, int, int]
#: The features of a bone in DLC's ``_skeleton`` table, in column order.
SKELETON_FEATURES = ("length", "orientation", "likelihood")


class PoseFileError(ValueError):
    """A pose file that cannot be used; the one-line message names the file and the cause."""


def read_poses(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a pose file (h5 of any key, or DLC csv) and check its columns.

    Columns must have ``bodyparts`` and ``coords`` levels with ``x, y, likelihood`` for
    every body part. Values come back as float64. Raises PoseFileError.
    """
    p = Path(path)
    if not p.is_file():
        raise PoseFileError(f"{p}: pose file not found")
    try:
        df = (
            read_table_csv(p, PoseFileError)
            if p.suffix.lower() == ".csv"
            else read_frame(p, error=PoseFileError)
        )
    except PoseFileError:
        raise
    except Exception as err:  # pandas raises many error types
        raise PoseFileError(f"{p}: not a readable pose file ({first_line(err)})") from None
    names = list(getattr(df.columns, "names", []))
    if "bodyparts" not in names or "coords" not in names:
        raise PoseFileError(f"{p}: columns lack the levels 'bodyparts' and 'coords'")
    coords = set(df.columns.get_level_values("coords"))
    if not set(LIKELIHOOD_COORDS) <= coords:
        raise PoseFileError(f"{p}: coords {sorted(coords)} lack x, y and likelihood")
    try:
        return df.astype("float64")
    except (TypeError, ValueError):
        raise PoseFileError(f"{p}: non-numeric values in the pose table") from None


def load_poses(path: str | os.PathLike[str], fps: float | None = None) -> xr.Dataset:
    """A pose file as the pose data model (``fps`` from the ``_meta.pickle`` if not given)."""
    df = read_poses(path)
    if fps is None:
        fps = read_meta(path).get("fps")
    return to_dataset(df, source_file=str(path), fps=float(fps) if fps else None)


def write_table(df: pd.DataFrame, h5_path: str | os.PathLike[str], save_as_csv: bool) -> None:
    """Write ``df`` as DLC writes analysis outputs: h5 in table format (key
    ``df_with_missing``) and optionally the csv beside it, each atomically (csv first)."""
    h5 = Path(h5_path)
    h5.parent.mkdir(parents=True, exist_ok=True)
    if save_as_csv:
        with atomic_path(h5.with_suffix(".csv")) as tmp:
            df.to_csv(tmp)
    write_frame(df, h5, table=True)


def save_poses(
    ds: xr.Dataset,
    h5_path: str | os.PathLike[str],
    save_as_csv: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Write a pose dataset as an analysis file (+ csv, + ``_meta.pickle`` when
    ``metadata`` is given), the h5 last."""
    h5 = Path(h5_path)
    if metadata is not None:
        write_meta(h5, metadata)
    write_table(to_frame(ds), h5, save_as_csv)


def write_analysis(
    data: np.ndarray,
    scorer: str,
    bodyparts: Sequence[str],
    h5_path: str | os.PathLike[str],
    metadata: Mapping[str, Any],
    save_as_csv: bool,
) -> None:
    """The analysis of one video: ``data`` ``(frames, 3 * bodyparts)`` as DLC orders it (x,
    y, likelihood per body part) to the h5 (table format), optional csv and
    ``_meta.pickle``, atomically (the h5, whose presence means "analyzed", goes last)."""
    values = np.asarray(data, dtype=np.float64).reshape(len(data), len(bodyparts), 3)
    ds = make_poses(
        values[..., :2].transpose(0, 2, 1),
        values[..., 2],
        keypoints=bodyparts,
        scorer=scorer,
        fps=metadata.get("fps"),
    )
    save_poses(ds, h5_path, save_as_csv, metadata)


def skeleton_table(features: Mapping[str, np.ndarray], index: pd.Index) -> pd.DataFrame:
    """DLC's ``_skeleton`` table: columns ``bone × (length, orientation, likelihood)`` from
    one ``(frames, 3)`` array per bone name, rows ``index``."""
    columns = pd.MultiIndex.from_tuples([(name, f) for name in features for f in SKELETON_FEATURES])
    data = (
        np.concatenate(list(features.values()), axis=1) if features else np.empty((len(index), 0))
    )
    return pd.DataFrame(data, index=index, columns=columns)


# -- metadata --------------------------------------------------------------------------------
def meta_path(h5_path: str | os.PathLike[str]) -> Path:
    """The ``_meta.pickle`` of a pose file (a ``_filtered.h5`` shares its raw file's, and
    multi-animal tracks ``<stem><scorer>_el.h5`` (``_bx``, ``_sk``) the video analysis's
    ``<stem><scorer>_meta.pickle``)."""
    h5 = Path(h5_path)
    stem = h5.name.replace("_filtered.h5", ".h5")[: -len(".h5")]
    trackers = tuple(TRACKER_SUFFIXES.values())
    if stem.endswith(trackers):
        stem = stem[: -len(trackers[0])]
    return h5.with_name(stem + "_meta.pickle")


def analysis_metadata(
    *,
    start: float,
    stop: float,
    scorer: str,
    model_cfg: Mapping[str, Any],
    fps: float,
    batch_size: int,
    frame_size: tuple[int, int],
    nframes: int,
    iteration: int,
    fraction: float,
    crop: Crop | None,
) -> dict[str, Any]:
    """The ``data`` of DLC's ``_meta.pickle`` for a video analysis (``frame_size`` is
    (width, height); ``crop`` the analysis crop, ``None`` for the whole frame)."""
    width, height = frame_size
    return {
        "start": start,
        "stop": stop,
        "run_duration": stop - start,
        "Scorer": scorer,
        "DLC-model-config file": dict(model_cfg),
        "fps": fps,
        "batch_size": batch_size,
        "frame_dimensions": (height, width),
        "nframes": nframes,
        "iteration (active-learning)": iteration,
        "training set fraction": fraction,
        "cropping": crop is not None,
        "cropping_parameters": list(crop) if crop else [0, width, 0, height],
    }


def write_meta(h5_path: str | os.PathLike[str], metadata: Mapping[str, Any]) -> None:
    """DLC's ``<stem>_meta.pickle``: ``{"data": metadata}``, atomically."""
    path = meta_path(h5_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump({"data": dict(metadata)}, fh, pickle.HIGHEST_PROTOCOL)


def read_meta(h5_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``data`` dict of the ``_meta.pickle`` beside a pose file ({} if none)."""
    path = meta_path(h5_path)
    if not path.is_file():
        return {}
    try:
        with open(path, "rb") as fh:
            meta = pickle.load(fh)
    except Exception as err:  # pickle raises many error types
        warnings.warn(f"{path}: unreadable metadata ({err}); assuming no cropping", stacklevel=2)
        return {}
    return dict(meta.get("data", {})) if isinstance(meta, dict) else {}


def analysis_crop(meta: Mapping[str, Any]) -> Crop | None:
    """The ``[x1, x2, y1, y2]`` crop of an analysis (None when it was not cropped)."""
    if not meta.get("cropping"):
        return None
    x1, x2, y1, y2 = (int(v) for v in meta["cropping_parameters"])
    return x1, x2, y1, y2
