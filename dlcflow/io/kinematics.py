"""Kinematics files: ``<pose file stem>_kinematics.h5`` (+ ``.csv``) and the project's
``kinematics-summary.csv``.

The table is DLC-like: one row per frame (the pose file's index), columns
``scorer × individuals × bodyparts × coords`` (single-animal files too: their individual is
``individual_0``). ``bodyparts`` holds the body parts and the features:

========================  ==========================================================
bodyparts                 coords
========================  ==========================================================
each body part, centre    ``x, y[, z]`` (cleaned position), ``vx, vy[, vz]``, ``speed``,
                          ``ax, ay[, az]``, ``acc`` (norm of the acceleration)
``distance(a,b)``         ``distance``
``angle(a,vertex,b)``     ``angle`` (degrees, 0–180)
``heading``               ``heading`` (degrees, -180–180; when configured)
``bouts``                 ``moving``, ``freezing`` (1 inside a bout, else 0)
========================  ==========================================================

Units: positions in ``unit`` (px or mm), speeds per second, accelerations per second
squared. The h5 holds the table alone (pandas table format, key ``df_with_missing``), so
``pd.read_hdf(path)`` without a key reads it as it reads DLC's files; ``fps``, ``unit``
and the source pose file are an attribute (``kinematics_meta``) of that table. Every file
is written atomically, the csv before the h5.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from dlcflow.core.fileio import atomic_path
from dlcflow.data.pose import SINGLE
from dlcflow.io.hdf import HDF_KEY, read_frame, write_frame_to

__all__ = [
    "KinematicsFileError",
    "SUMMARY_COLUMNS",
    "load_kinematics",
    "read_kinematics",
    "save_kinematics",
    "to_kinematics_frame",
    "write_summary",
]

LEVELS = ("scorer", "individuals", "bodyparts", "coords")
META_ATTR = "kinematics_meta"
CENTRE = "centre"
#: The columns of ``kinematics-summary.csv``, in order.
SUMMARY_COLUMNS = (
    "video",
    "individual",
    "frames",
    "duration_s",
    "distance",
    "mean_speed",
    "max_speed",
    "time_moving_s",
    "time_freezing_s",
    "moving_bouts",
    "freezing_bouts",
    "unit",
)


class KinematicsFileError(ValueError):
    """A kinematics file that cannot be used; the message names the file and the cause."""


def _owned(kin: xr.Dataset, individual: str, keypoint: str) -> bool:
    unique = set(kin.attrs.get("unique_keypoints", ()))
    return not unique or (keypoint in unique) == (individual == SINGLE)


def _motion_coords(space: Sequence[str]) -> list[str]:
    return [*space, *(f"v{s}" for s in space), "speed", *(f"a{s}" for s in space), "acc"]


def to_kinematics_frame(kin: xr.Dataset) -> pd.DataFrame:
    """A :func:`dlcflow.post.kinematics.kinematics` result as the table (module docstring)."""
    scorer = str(kin.attrs.get("scorer", "")) or "dlcflow"
    space = [str(s) for s in kin["space"].values]
    columns: dict[tuple[str, str, str, str], np.ndarray] = {}

    def motion(ind: str, name: str, pos: xr.DataArray, vel: xr.DataArray, acc: xr.DataArray):
        for s in space:
            columns[(scorer, ind, name, s)] = pos.sel(space=s).values
        for s in space:
            columns[(scorer, ind, name, f"v{s}")] = vel.sel(space=s).values
        columns[(scorer, ind, name, "speed")] = np.linalg.norm(vel.values, axis=-1)
        for s in space:
            columns[(scorer, ind, name, f"a{s}")] = acc.sel(space=s).values
        columns[(scorer, ind, name, "acc")] = np.linalg.norm(acc.values, axis=-1)

    order = ("time", "space")
    for ind in (str(i) for i in kin["individuals"].values):
        at = {"individuals": ind}
        for kp in (str(k) for k in kin["keypoints"].values):
            if _owned(kin, ind, kp):
                sel = {**at, "keypoints": kp}
                motion(
                    ind,
                    kp,
                    *(
                        kin[v].sel(sel).transpose(*order)
                        for v in ("position", "velocity", "acceleration")
                    ),
                )
        if np.isfinite(kin["centre"].sel(at).values).any() or ind != SINGLE:
            motion(
                ind,
                CENTRE,
                *(
                    kin[v].sel(at).transpose(*order)
                    for v in ("centre", "centre_velocity", "centre_acceleration")
                ),
            )
        for name in (str(p) for p in kin["pairs"].values):
            columns[(scorer, ind, name, "distance")] = (
                kin["distance"].sel({**at, "pairs": name}).values
            )
        for name in (str(a) for a in kin["angles"].values):
            columns[(scorer, ind, name, "angle")] = kin["angle"].sel({**at, "angles": name}).values
        if kin.attrs.get("has_heading"):
            columns[(scorer, ind, "heading", "heading")] = kin["heading"].sel(at).values
        for kind in ("moving", "freezing"):
            columns[(scorer, ind, "bouts", kind)] = kin[kind].sel(at).values.astype(float)
    df = pd.DataFrame(columns, index=pd.Index(kin["time"].values))
    df.columns = pd.MultiIndex.from_tuples(list(columns), names=list(LEVELS))
    return df


def save_kinematics(
    kin: xr.Dataset, h5_path: str | os.PathLike[str], save_as_csv: bool = True
) -> Path:
    """Write the kinematics table (+ csv) and its ``meta``; returns the h5 path."""
    h5 = Path(h5_path)
    h5.parent.mkdir(parents=True, exist_ok=True)
    df = to_kinematics_frame(kin)
    meta = {
        "fps": float(kin.attrs["fps"]),
        "unit": str(kin.attrs["unit"]),
        "source_file": str(kin.attrs.get("source_file") or ""),
        "multianimal": bool(kin.attrs.get("multianimal", False)),
    }
    if save_as_csv:
        with atomic_path(h5.with_suffix(".csv")) as tmp:
            df.to_csv(tmp)
    with atomic_path(h5) as tmp:
        write_frame_to(df, tmp, table=True)
        with pd.HDFStore(tmp, mode="a") as store:
            setattr(store.get_storer(HDF_KEY).attrs, META_ATTR, meta)
    return h5


def read_kinematics(h5_path: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The table of a kinematics h5 and its meta (``fps`` float, ``unit``, ``source_file``)."""
    p = Path(h5_path)
    if not p.is_file():
        raise KinematicsFileError(f"{p}: kinematics file not found")
    df = read_frame(p, preferred=(HDF_KEY,), error=KinematicsFileError)
    if list(df.columns.names) != list(LEVELS):
        raise KinematicsFileError(f"{p}: columns are not {', '.join(LEVELS)}")
    with pd.HDFStore(p, mode="r") as store:
        storer = store.get_storer(HDF_KEY) if HDF_KEY in store else None
        raw = getattr(storer.attrs, META_ATTR, None) if storer is not None else None
    if not isinstance(raw, dict):
        raise KinematicsFileError(f"{p}: no {META_ATTR} (not a dlcflow kinematics file)")
    meta: dict[str, Any] = dict(raw)
    meta["fps"] = float(meta["fps"])
    meta["multianimal"] = bool(meta.get("multianimal", False))
    return df, meta


def load_kinematics(h5_path: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """The table of a kinematics file split per individual: ``{individual: frame}`` whose
    columns are ``bodyparts × coords``; ``meta`` in each frame's ``attrs``."""
    df, meta = read_kinematics(h5_path)
    out = {}
    for ind in dict.fromkeys(df.columns.get_level_values("individuals")):
        part = df.xs(ind, axis=1, level="individuals").droplevel("scorer", axis=1)
        part.attrs.update(meta)
        out[str(ind)] = part
    return out


def write_summary(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """``kinematics-summary.csv``: one row per video and individual (``SUMMARY_COLUMNS``)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(list(rows), columns=list(SUMMARY_COLUMNS))
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    return out
