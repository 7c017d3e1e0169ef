"""Plots of a camera calibration (matplotlib's Agg canvas): the reprojection error of
every camera and image, and the board corners triangulated from the calibrated rig."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dlcflow.core.fileio import atomic_path

__all__ = ["plot_reprojection_errors", "plot_triangulated_boards"]


def _save(fig: Figure, path: str | os.PathLike[str]) -> None:
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)


def plot_reprojection_errors(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Bars of ``error_px`` per image, one group per camera (``table``: camera, image,
    error_px)."""
    cameras = list(dict.fromkeys(table["camera"]))
    images = list(dict.fromkeys(table["image"]))
    fig = Figure(figsize=(max(6.0, 0.35 * len(images) * max(1, len(cameras)) ** 0.5), 4.0))
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(cameras))
    x = np.arange(len(images))
    for k, cam in enumerate(cameras):
        rows = table[table["camera"] == cam].set_index("image")["error_px"]
        values = [float(rows.get(img, np.nan)) for img in images]
        ax.bar(
            x + (k - (len(cameras) - 1) / 2) * width,
            values,
            width,
            label=f"{cam} (mean {np.nanmean(values):.2f})",
        )
    ax.set_xticks(x, images, rotation=90, fontsize=7)
    ax.set_ylabel("reprojection error (px)")
    ax.set_xlabel("image")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def plot_triangulated_boards(
    points: Mapping[str, np.ndarray], path: str | os.PathLike[str], unit: str = "mm"
) -> None:
    """The board corners ``(n, 3)`` of each image set, triangulated, in 3D."""
    fig = Figure(figsize=(6.0, 6.0))
    ax = fig.add_subplot(1, 1, 1, projection="3d")
    for name, pts in points.items():
        ok = np.isfinite(pts).all(axis=1)
        ax.scatter(pts[ok, 0], pts[ok, 1], pts[ok, 2], s=4, label=name)
    ax.set_xlabel(f"x ({unit})")
    ax.set_ylabel(f"y ({unit})")
    ax.set_zlabel(f"z ({unit})")
    ax.set_title("board corners triangulated")
    if 0 < len(points) <= 12:
        ax.legend(fontsize=6)
    _save(fig, path)
