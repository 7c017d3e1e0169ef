"""Filtering triangulated 3D poses: ``<output>_filtered.h5`` beside a ``_DLC_3D.h5``.

Points whose mean reprojection error (the quality sidecar of
:func:`dlcflow.threed.triangulate.triangulate_files`) exceeds ``max_error`` px, or that
fewer than ``min_ncams`` cameras saw, are set missing; then each coordinate gets a
running median over ``windowlength`` frames (NaN-aware, ends not zero-padded) and gaps of
at most ``max_gap`` frames inside the recording are filled by a cubic spline. The output
has the 3D file's layout (DLC's ``df_with_missing`` table, + csv when asked).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from dlcflow.core.fileio import atomic_path
from dlcflow.core.log import log
from dlcflow.io.hdf import write_frame
from dlcflow.io.poses3d import Pose3DFileError, read_poses_3d
from dlcflow.post.filters import median_filter, spline_fill
from dlcflow.project.project3d import Project3D
from dlcflow.threed.triangulate import TriangulationError, read_quality

__all__ = ["filter_3d", "filter_poses_3d"]


def filter_poses_3d(
    df: pd.DataFrame,
    windowlength: int = 5,
    max_gap: int = 10,
    drop: np.ndarray | None = None,
) -> pd.DataFrame:
    """A 3D table filtered as the module docstring says; ``drop`` ``(frames, points)``
    (True: set missing first) in the table's point order (every 3 columns)."""
    values = df.to_numpy(dtype=np.float64).copy()
    n_frames, n_cols = values.shape
    pts = values.reshape(n_frames, n_cols // 3, 3)
    if drop is not None:
        pts[np.asarray(drop, dtype=bool)] = np.nan
    window = int(windowlength) | 1  # odd
    for j in range(pts.shape[1]):
        for d in range(3):
            x = median_filter(pts[:, j, d], window) if window > 1 else pts[:, j, d]
            pts[:, j, d] = spline_fill(x, max_gap)[0] if max_gap > 0 else x
    return pd.DataFrame(pts.reshape(n_frames, n_cols), index=df.index, columns=df.columns)


def filter_3d(
    h5: str | os.PathLike[str],
    windowlength: int = 5,
    max_error: float | None = 20.0,
    min_ncams: int = 2,
    max_gap: int = 10,
    out: str | os.PathLike[str] | None = None,
    save_as_csv: bool = False,
) -> Path:
    """Filter a 3D pose file into ``out`` (default :meth:`Project3D.filtered_3d`).
    ``max_error=None`` keeps points whatever their error (no quality file needed).
    Returns the output path."""
    src = Path(h5)
    try:
        df = read_poses_3d(src)
    except Pose3DFileError as err:
        raise TriangulationError(str(err)) from None
    if windowlength < 1:
        raise TriangulationError(f"{src}: windowlength must be at least 1, not {windowlength}")
    drop = None
    if max_error is not None or min_ncams > 2:
        quality = read_quality(src)
        if len(quality) != len(df) or quality.shape[1] != 2 * (df.shape[1] // 3):
            raise TriangulationError(
                f"{Project3D.quality_3d(src)}: does not match {src.name} "
                f"({quality.shape} vs {df.shape})"
            )
        q = quality.to_numpy(dtype=np.float64).reshape(len(df), -1, 2)
        with np.errstate(invalid="ignore"):
            drop = q[..., 1] < min_ncams
            if max_error is not None:
                drop |= q[..., 0] > float(max_error)
        log(f"{src.name}: {int(drop.sum())} points over {max_error} px or under {min_ncams} views")
    filtered = filter_poses_3d(df, windowlength, max_gap, drop)
    target = Path(out) if out is not None else Project3D.filtered_3d(src)
    if save_as_csv:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target.with_suffix(".csv")) as tmp:
            filtered.to_csv(tmp)
    write_frame(filtered, target, table=True)
    log(f"Filtered {src.name} into {target}")
    return target
