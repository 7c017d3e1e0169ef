"""Labeled frames: DLC's ``check_labels`` images of a labeled-data folder, drawn with
:mod:`dlcflow.core.draw`, and the keypoint layout of a pose table that the plots share."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from dlcflow.core.draw import (
    MARKERS,
    Color,
    PlotError,
    colors_bgr,
    draw_points,
    draw_segments,
    to_bgr,
)
from dlcflow.core.fileio import atomic_folder
from dlcflow.data.pose import point_keys, points_array
from dlcflow.io.labels import read_annotations
from dlcflow.io.tables import to_dataset
from dlcflow.project.paths import Project


# -- annotation tables ----------------------------------------------------------------------
@dataclass(frozen=True)
class KeypointLayout:
    """The points of an annotation table: one (individual, body part) per column pair."""

    keys: list[tuple[str, str]]  # (individual or "", body part)
    xy: np.ndarray  # (rows, len(keys), 2)

    def colors(self, colormap: str, color_by: str) -> list[Color]:
        """One colour per key, by body part or by individual (DLC's ``color_by``)."""
        level = {"bodypart": 1, "individual": 0}.get(color_by)
        if level is None:
            raise PlotError(f"color_by must be 'bodypart' or 'individual', not {color_by!r}")
        if level == 0 and not any(ind for ind, _ in self.keys):
            raise PlotError("colouring by individual needs multi-animal labels")
        names = list(dict.fromkeys(k[level] for k in self.keys))
        palette = colors_bgr(len(names), colormap)
        return [palette[names.index(k[level])] for k in self.keys]

    def bones(self, skeleton: Iterable[Sequence[str]]) -> list[tuple[int, int]]:
        """Key index pairs of skeleton bones, within each individual."""
        where = {k: i for i, k in enumerate(self.keys)}
        found = []
        for ind in dict.fromkeys(k[0] for k in self.keys):
            for bone in skeleton:
                a, b = where.get((ind, bone[0])), where.get((ind, bone[1]))
                if a is not None and b is not None:
                    found.append((a, b))
        return found


def keypoint_layout(df: pd.DataFrame) -> KeypointLayout:
    """Split an annotation (or prediction) table into keys and an (rows, keys, 2) array."""
    try:
        ds = to_dataset(df)
    except ValueError as err:
        raise PlotError(str(err)) from None
    model_keys = point_keys(ds)
    multi = ds.attrs["multianimal"]
    keys = [(ind if multi else "", kp) for ind, kp in model_keys]
    return KeypointLayout(keys, points_array(ds, model_keys)[..., :2])


# -- output folders -------------------------------------------------------------------------
def _marker_px(dotsize: float, dpi: float) -> float:
    """matplotlib marker size (points) in pixels."""
    return float(dotsize) * float(dpi) / 72.0


def _line_px(points: float, dpi: float) -> int:
    return max(1, int(round(points * float(dpi) / 72.0)))


def plot_labeled_folder(
    project: Project | str | os.PathLike[str],
    stem: str,
    keypoint: str = "+",
    scale: float = 1.0,
    dpi: float = 100,
    draw_skeleton: bool = True,
    color_by: str | None = None,
) -> Path:
    """Draw the labels of ``labeled-data/<stem>/`` onto its frames.

    Writes ``labeled-data/<stem>_labeled/<image stem>_<color_by>.png`` (DLC's names), one
    per labeled image, ``scale`` times the frame size, the whole folder at once (a temp
    folder renamed into place, replacing an older one). Markers use the config's
    ``colormap``, ``dotsize`` and ``alphavalue``; skeleton lines (config ``skeleton`` and
    ``skeleton_color``) are drawn under them. ``color_by`` is ``"individual"`` or
    ``"bodypart"``; by default individuals in a multi-animal project, body parts otherwise
    (DLC's ``check_labels`` defaults). Returns the folder.
    """
    proj = project if isinstance(project, Project) else Project(project)
    color_by = color_by or ("individual" if proj.multianimal else "bodypart")
    cfg = proj.cfg
    path = proj.existing_collected_data(stem)
    if path is None:
        raise FileNotFoundError(
            f"{proj.collected_data(stem)}: no labels for video {stem!r} (label its frames first)"
        )
    if scale <= 0:
        raise PlotError(f"scale must be positive, got {scale}")
    df = read_annotations(path)
    layout = keypoint_layout(df)
    colors = layout.colors(str(cfg["colormap"]), color_by)
    bones = layout.bones(cfg.get("skeleton") or []) if draw_skeleton else []
    bone_color = to_bgr(str(cfg.get("skeleton_color") or "black"))
    alpha = float(cfg["alphavalue"])
    size = _marker_px(float(cfg["dotsize"]), dpi)
    marker_thick, bone_thick = _line_px(1.0, dpi), _line_px(1.5, dpi)
    if keypoint not in MARKERS:
        raise PlotError(f"marker {keypoint!r} is not supported (use one of {' '.join(MARKERS)})")

    dest = proj.check_labels_folder(stem)
    with atomic_folder(dest) as tmp:
        for row, xy in zip(df.index, layout.xy, strict=True):
            image_path = proj.labeled_folder(str(row[1])) / str(row[2])
            img = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
            if img is None:
                raise PlotError(f"{image_path}: labeled image missing or unreadable ({path.name})")
            pts = xy
            if scale != 1:
                h, w = img.shape[:2]
                size_out = (max(1, round(w * scale)), max(1, round(h * scale)))
                interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
                img = cv2.resize(img, size_out, interpolation=interp)
                pts = (xy + 0.5) * scale - 0.5  # pixel centres stay at integers
            if bones:
                segments = [(tuple(pts[a]), tuple(pts[b])) for a, b in bones]
                draw_segments(img, segments, bone_color, alpha, bone_thick)
            draw_points(img, pts, colors, keypoint, size, alpha, marker_thick)
            out = tmp / f"{Path(str(row[2])).stem}_{color_by}.png"
            if not cv2.imwrite(str(out), img):
                raise PlotError(f"{out}: cannot write image")
    return dest


def check_labels(
    config: str | os.PathLike[str],
    Labels: Sequence[str] = ("+", ".", "x"),  # DLC's argument name
    scale: float = 1,
    dpi: float = 100,
    draw_skeleton: bool = True,
    visualizeindividuals: bool = True,
) -> list[Path]:
    """DLC's ``check_labels``: draw every video's labels onto its frames for a visual check.

    For each video in ``video_sets`` whose ``labeled-data/<video>/`` holds
    ``CollectedData_<scorer>``, writes ``labeled-data/<video>_labeled/``. ``Labels[0]`` is
    the marker; multi-animal projects colour individuals (``visualizeindividuals``) or body
    parts. Videos without labels are skipped with a warning. Returns the folders written.
    """
    project = Project(config)
    color_by = "individual" if project.multianimal and visualizeindividuals else "bodypart"
    written = []
    for stem in project.video_stems():
        if project.existing_collected_data(stem) is None:
            warnings.warn(
                f"{project.collected_data(stem)}: no labels for video {stem!r}; skipped",
                stacklevel=2,
            )
            continue
        written.append(
            plot_labeled_folder(
                project,
                stem,
                keypoint=Labels[0],
                scale=scale,
                dpi=dpi,
                draw_skeleton=draw_skeleton,
                color_by=color_by,
            )
        )
    return written
