"""Plots of a kinematics file (:mod:`dlcflow.io.kinematics`), matplotlib's Agg canvas:

* ``<pose stem>_kinematics_speed.png``: the centre's speed over time, one panel per
  individual, movement bouts shaded green and freezing bouts blue, the thresholds dashed;
* ``<pose stem>_kinematics_occupancy.png``: occupancy heat map, a 2D histogram of the
  centre's x–y positions (seconds per bin), one panel per individual.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from dlcflow.core.fileio import atomic_path
from dlcflow.core.log import log
from dlcflow.io.kinematics import load_kinematics
from dlcflow.post.bouts import runs

__all__ = ["plot_kinematics"]

#: Bins of the occupancy heat map along its longer side.
OCCUPANCY_BINS = 40


def plot_kinematics(
    kinematics_h5: str | os.PathLike[str],
    speed_png: str | os.PathLike[str],
    occupancy_png: str | os.PathLike[str],
    freeze_speed: float | None = None,
    move_speed: float | None = None,
    dpi: int = 100,
) -> list[Path]:
    """Draw the speed and occupancy plots of a kinematics file; returns their paths."""
    tables = {k: v for k, v in load_kinematics(kinematics_h5).items() if "centre" in v.columns}
    n = max(len(tables), 1)
    speed_fig = Figure(figsize=(10, 2.5 * n))
    speed_axes = np.atleast_1d(speed_fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0])
    occ_fig = Figure(figsize=(4.5 * n, 4))
    occ_axes = np.atleast_1d(occ_fig.subplots(1, n, squeeze=False)[0])
    for ax, ax_o, (ind, df) in zip(speed_axes, occ_axes, tables.items(), strict=False):
        fps, unit = float(df.attrs["fps"]), str(df.attrs["unit"])
        t = np.arange(len(df)) / fps
        speed = df["centre"]["speed"].to_numpy()
        for kind, color in (("moving", "tab:green"), ("freezing", "tab:blue")):
            for start, length in runs(df["bouts"][kind].to_numpy() > 0.5):
                ax.axvspan(start / fps, (start + length) / fps, color=color, alpha=0.2, lw=0)
            ax.plot([], [], color=color, alpha=0.4, lw=6, label=f"{kind} bouts")
        ax.plot(t, speed, color="k", lw=1, label="centre speed")
        for value, name in ((freeze_speed, "freeze"), (move_speed, "move")):
            if value is not None:
                ax.axhline(value, color="0.4", ls="--", lw=0.8)
                ax.text(t[-1] if t.size else 0, value, f" {name}", va="center", fontsize=8)
        title = ind if len(tables) > 1 else "centre"
        ax.set(ylabel=f"speed ({unit}/s)", title=title)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
        x, y = df["centre"]["x"].to_numpy(), df["centre"]["y"].to_numpy()
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.any():
            span = max(np.ptp(x[ok]), np.ptp(y[ok]), 1e-9)
            bins = (
                max(int(OCCUPANCY_BINS * np.ptp(x[ok]) / span), 1),
                max(int(OCCUPANCY_BINS * np.ptp(y[ok]) / span), 1),
            )
            hist, xe, ye = np.histogram2d(x[ok], y[ok], bins=bins)
            image = ax_o.imshow(
                hist.T / fps,
                origin="upper",
                extent=(xe[0], xe[-1], ye[-1], ye[0]),
                cmap="magma",
                aspect="equal",
            )
            occ_fig.colorbar(image, ax=ax_o, label="time (s)")
        ax_o.set(xlabel=f"x ({unit})", ylabel=f"y ({unit})", title=f"occupancy {ind}")
    speed_axes[-1].set_xlabel("time (s)")
    written = []
    for fig, out in ((speed_fig, Path(speed_png)), (occ_fig, Path(occupancy_png))):
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
        written.append(out)
    log(f"Kinematics plots of {Path(kinematics_h5).name}: {written[0].name}, {written[1].name}")
    return written
