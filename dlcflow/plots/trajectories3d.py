"""The trajectories of a 3D pose file in one PNG: the paths in a 3D plot and x, y, z over
time, one colour per body part (per individual and body part for multi-animal files);
missing points are gaps. Drawn with matplotlib's Agg canvas (no display), written
atomically."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dlcflow.core.draw import PlotError, get_cmap
from dlcflow.core.fileio import atomic_path
from dlcflow.core.log import log
from dlcflow.data.pose import point_keys, points_array
from dlcflow.io.poses3d import load_poses_3d
from dlcflow.plots.labeled3d import DEFAULT_VIEW, axis_limits

__all__ = ["plot_trajectories_3d"]

#: Legend entries shown at most (the rest are drawn, not named).
_LEGEND_MAX = 24


def plot_trajectories_3d(
    poses_3d: str | os.PathLike[str],
    out: str | os.PathLike[str],
    bodyparts: Sequence[str] | None = None,
    individuals: Sequence[str] | None = None,
    colormap: str = "jet",
    view: Sequence[float] = DEFAULT_VIEW,
    title: str | None = None,
    dpi: float = 100,
    linewidth: float = 1.0,
) -> Path:
    """Plot the 3D trajectories of ``poses_3d`` (a ``_DLC_3D.h5``) into ``out`` (PNG).

    Left: each point's path in 3D (equal scale on the three axes, limits as the labeled
    3D video's, seen from ``view`` = (elevation, azimuth)); right: x, y and z over the
    frame index. ``bodyparts`` / ``individuals`` choose what is drawn (None: all);
    colours come from ``colormap`` as DLC picks them. Frames without a point leave a
    gap. Returns ``out``.
    """
    h5 = Path(poses_3d)
    ds = load_poses_3d(h5)
    keys = point_keys(ds)
    multi = bool(ds.attrs["multianimal"])
    for what, wanted, level in (("body part", bodyparts, 1), ("individual", individuals, 0)):
        if wanted is None:
            continue
        present = list(dict.fromkeys(k[level] for k in keys))
        unknown = [w for w in wanted if w not in present]
        if unknown:
            raise PlotError(
                f"{h5}: {what}(s) {', '.join(unknown)} not in the 3D poses "
                f"({what}s: {', '.join(present)})"
            )
        keys = [k for k in keys if k[level] in set(wanted)]
    if len(view) != 2:
        raise PlotError(f"view must be (elevation, azimuth), not {view!r}")
    xyz = points_array(ds, keys)  # (T, K, 3)
    frames = np.asarray(ds["time"].values)
    if not np.issubdtype(frames.dtype, np.number):
        frames = np.arange(len(frames))
    colors = get_cmap(len(keys), colormap)
    names = [f"{ind} {bp}" if multi else bp for ind, bp in keys]

    fig = Figure(figsize=(14, 7), dpi=dpi)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(3, 2, width_ratios=(1.1, 1.0), wspace=0.15, hspace=0.12)
    ax3 = fig.add_subplot(grid[:, 0], projection="3d")
    axes = [fig.add_subplot(grid[i, 1]) for i in range(3)]
    for j, name in enumerate(names):
        path = xyz[:, j]
        shown = int(np.isfinite(path).all(axis=1).sum())
        label = name if shown else f"{name} (no 3D points)"
        ax3.plot(path[:, 0], path[:, 1], path[:, 2], "-", color=colors[j], lw=linewidth)
        for i, ax in enumerate(axes):
            ax.plot(
                frames,
                path[:, i],
                "-",
                color=colors[j],
                lw=linewidth,
                label=label if j < _LEGEND_MAX else None,
            )
    lim = axis_limits(xyz)
    ax3.set_xlim3d(lim[0])
    ax3.set_ylim3d(lim[1])
    ax3.set_zlim3d(lim[2])
    ax3.set_box_aspect((1, 1, 1))
    ax3.view_init(float(view[0]), float(view[1]))
    ax3.set(xlabel="X", ylabel="Y", zlabel="Z")
    ax3.set_title("3D trajectories")
    for i, ax in enumerate(axes):
        ax.set_ylabel("xyz"[i])
        ax.grid(True, alpha=0.3)
        if i < 2:
            ax.tick_params(labelbottom=False)
    axes[2].set_xlabel("frame index")
    if keys:
        axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.suptitle(title if title is not None else h5.stem)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    log(f"3D trajectories of {h5.name}: {target}")
    return target
