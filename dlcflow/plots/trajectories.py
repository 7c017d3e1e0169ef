"""DLC's four trajectory plots of a pose table (``trajectory``, ``plot``,
``plot-likelihood``, ``hist``), drawn with matplotlib's Agg canvas (no display needed),
each PNG written atomically; :mod:`dlcflow.plots.poses` finds the tables and names."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from dlcflow.core.draw import get_cmap
from dlcflow.core.fileio import atomic_path
from dlcflow.core.log import log
from dlcflow.data.pose import point_keys, points_array
from dlcflow.io.tables import to_dataset

__all__ = ["plot_poses"]


def _xyp(poses: xr.Dataset, bp: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """x, y and likelihood of a body part of the first individual that has it (None when
    no individual has it)."""
    key = next((k for k in point_keys(poses) if k[1] == bp), None)
    if key is None:
        return None
    xy = points_array(poses, [key])[:, 0]
    return xy[:, 0], xy[:, 1], points_array(poses, [key], "confidence")[:, 0]


def _legend(ax: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def plot_poses(
    df: pd.DataFrame,
    dest_folder: str | os.PathLike[str],
    bodyparts: Sequence[str],
    colormap: str = "rainbow",
    alphavalue: float = 0.7,
    pcutoff: float = 0.6,
    suffix: str = "",
    title: str = "",
    frame_size: tuple[int, int] | None = None,
    resolution: int = 100,
    linewidth: float = 1.0,
    show: bool = False,
) -> list[Path]:
    """Draw the four DLC trajectory plots of a pose table into ``dest_folder``.

    ``trajectory<suffix>.png`` (y against x, image orientation), ``plot<suffix>.png``
    (x and y against the frame index), ``plot-likelihood<suffix>.png`` (likelihood with
    the ``pcutoff`` line) and ``hist<suffix>.png`` (histogram of frame-to-frame
    displacements). Points under ``pcutoff`` are left out of all but the likelihood
    plot; colours come from ``colormap`` (one per body part, as DLC picks them; body
    parts the table lacks keep their colour and are left out).
    ``frame_size`` ``(width, height)`` sets the trajectory plot's limits. Returns the
    PNG paths.
    """
    folder = Path(dest_folder)
    folder.mkdir(parents=True, exist_ok=True)
    colors = get_cmap(len(bodyparts), colormap)
    frames = np.arange(len(df))
    head = f"{title} " if title else ""
    traj, (axx, axy), lik, hist = (
        Figure(figsize=(8, 6)),
        Figure(figsize=(10, 5)).subplots(2, 1, sharex=True),
        Figure(figsize=(10, 3)),
        Figure(figsize=(8, 5)),
    )
    ax_t, ax_l, ax_h = traj.subplots(), lik.subplots(), hist.subplots()
    jumps = []
    poses = to_dataset(df)
    for i, bp in enumerate(bodyparts):
        found = _xyp(poses, bp)
        if found is None:  # an individual without that part (``single`` holds only some)
            continue
        x, y, p = found
        with np.errstate(invalid="ignore"):
            low = ~(p > pcutoff)
        x, y = np.where(low, np.nan, x), np.where(low, np.nan, y)
        shown = int((~np.isnan(x) & ~np.isnan(y)).sum())
        name = bp if shown else f"{bp} (none above pcutoff)"
        color = colors[i]
        ax_t.plot(x, y, ".", color=color, alpha=alphavalue, markersize=3, label=name)
        axx.plot(frames, x, "-", color=color, alpha=alphavalue, linewidth=linewidth, label=name)
        axy.plot(frames, y, "-", color=color, alpha=alphavalue, linewidth=linewidth)
        ax_l.plot(frames, p, "-", color=color, alpha=alphavalue, linewidth=linewidth, label=bp)
        step = np.hypot(np.diff(x), np.diff(y))
        jumps.append((name, color, step[np.isfinite(step)]))
    ax_t.set(xlabel="x (pixels)", ylabel="y (pixels)", title=f"{head}trajectories".strip())
    if frame_size is not None:
        ax_t.set_xlim(0, frame_size[0])
        ax_t.set_ylim(frame_size[1], 0)
    else:
        ax_t.invert_yaxis()
    ax_t.set_aspect("equal", adjustable="box")
    axx.set(ylabel="x (pixels)", title=f"{head}position over time".strip())
    axy.set(xlabel="frame index", ylabel="y (pixels)")
    axy.invert_yaxis()
    ax_l.axhline(pcutoff, color="0.3", linestyle="--", linewidth=1, label=f"pcutoff {pcutoff}")
    ax_l.set(xlabel="frame index", ylabel="likelihood", ylim=(-0.02, 1.05))
    ax_l.set_title(f"{head}likelihood (use it to set pcutoff)".strip())
    top = max((float(s.max()) for _, _, s in jumps if s.size), default=1.0)
    bins = np.linspace(0.0, max(top, 1.0), 50)
    for name, color, step in jumps:
        if step.size:
            ax_h.hist(
                step, bins=bins, histtype="step", color=color, linewidth=linewidth, label=name
            )
    ax_h.set(xlabel="frame-to-frame displacement (pixels)", ylabel="count (frames)")
    ax_h.set_title(f"{head}displacements between consecutive frames".strip())
    if not any(s.size for _, _, s in jumps):
        ax_h.text(
            0.5,
            0.5,
            f"no consecutive points above pcutoff {pcutoff}",
            ha="center",
            transform=ax_h.transAxes,
        )
    for ax in (ax_t, axx, ax_l, ax_h):
        _legend(ax)
        ax.grid(True, alpha=0.3)
    axy.grid(True, alpha=0.3)
    figures = {"trajectory": traj, "plot": axx.figure, "plot-likelihood": lik, "hist": hist}
    written = []
    for name, fig in figures.items():
        out = folder / f"{name}{suffix}.png"
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=resolution, bbox_inches="tight", format="png")
        written.append(out)
    if show:
        _show(written)
    return written


def _show(paths: Sequence[Path]) -> None:
    """Display saved plots when an interactive matplotlib backend is available."""
    import matplotlib  # noqa: PLC0415
    import matplotlib.pyplot as plt  # noqa: PLC0415

    if matplotlib.get_backend().lower() in ("agg", "pdf", "svg", "ps", "cairo", "template"):
        log(f"showfigures: no interactive display ({matplotlib.get_backend()}); see {paths[0]}")
        return
    for path in paths:
        fig = plt.figure()
        fig.figimage(plt.imread(path))
    plt.show()
