"""What the plots of a multi-animal project add: which individuals to show, each
individual's part of a tracks table, and the track names written next to the animals of a
labeled video.

DLC 2.3 plots a multi-animal project's stitched tracks (``<stem><scorer>_el.h5``) as it
plots single-animal poses, once per individual: trajectory plots get the individual's
name after the plot name (``trajectorymouse1.png``, ``plot_filteredmouse2.png``), and
labeled videos colour by individual or by body part (``color_by``), which their name says
(``..._el_id_labeled.mp4``, ``..._el_bp_labeled.mp4``).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pandas as pd

from dlcflow.core.draw import Color, PlotError
from dlcflow.data.pose import SINGLE
from dlcflow.project.paths import Project

__all__ = [
    "COLOR_BY",
    "check_color_by",
    "config_individuals",
    "draw_track_names",
    "individual_table",
    "individuals_to_show",
    "table_individuals",
]

#: DLC's ``color_by`` choices: one colour per body part, or per individual (multi-animal).
COLOR_BY = ("bodypart", "individual")


def check_color_by(color_by: str, multianimal: bool) -> str:
    """``color_by`` itself when valid: PlotError for an unknown choice, or for
    ``individual`` on single-animal data."""
    if color_by not in COLOR_BY:
        raise PlotError(f"color_by must be 'bodypart' or 'individual', not {color_by!r}")
    if color_by == "individual" and not multianimal:
        raise PlotError("color_by='individual' needs multi-animal data (tracks)")
    return color_by


def table_individuals(df: pd.DataFrame) -> list[str]:
    """The individuals of a pose table in column order ([] for single-animal tables)."""
    if "individuals" not in df.columns.names:
        return []
    return list(dict.fromkeys(str(i) for i in df.columns.get_level_values("individuals")))


def config_individuals(project: Project) -> list[str]:
    """The individuals a multi-animal config names: its ``individuals``, then ``single``
    when it has unique body parts."""
    return [*project.individuals, *([SINGLE] if project.unique_bodyparts else [])]


def individuals_to_show(
    project: Project, df: pd.DataFrame, displayed: str | Sequence[str] = "all"
) -> list[str]:
    """The individuals to plot, as DLC picks them: those of the config (its
    ``individuals``, then ``single`` when it has unique body parts) that ``displayed``
    names (``"all"``, a name or a list) and the table holds, in the table's order; when
    none of them is in the table, every individual of the table (tracks named otherwise,
    as DLC does). ``[]`` for single-animal tables. Unknown names in ``displayed`` raise
    PlotError."""
    present = table_individuals(df)
    if not present:
        return []
    config = config_individuals(project)
    if isinstance(displayed, str) and displayed == "all":
        wanted = config
    else:
        wanted = [displayed] if isinstance(displayed, str) else [str(i) for i in displayed]
        unknown = [i for i in wanted if i not in config and i not in present]
        if unknown:
            raise PlotError(
                f"{project.config_path}: individual(s) {', '.join(unknown)} not in the "
                f"project or the tracks (individuals: {', '.join(present)})"
            )
    chosen = [i for i in present if i in wanted]
    return chosen or present


def individual_table(df: pd.DataFrame, individual: str) -> pd.DataFrame:
    """The columns of one individual of a multi-animal pose table (all four levels kept)."""
    return df.loc[:, df.columns.get_level_values("individuals") == individual]


def draw_track_names(
    img: np.ndarray,
    points: np.ndarray,
    owners: Sequence[str],
    colors: Sequence[Color],
    gap: float,
) -> np.ndarray:
    """Write each individual's name above its drawn points, in place.

    ``points`` ``(k, 2)`` are the frame's shown points (NaN where not drawn), ``owners``
    the individual of each (``single`` and ``""`` get no name), ``colors`` one colour per
    individual name's text in the same order as ``owners`` (the colour of its first
    point is used). The name is centred on the mean x of the individual's points, ``gap``
    px above the highest of them, with a dark outline so it reads on any background.
    Returns ``img``.
    """
    height = img.shape[0]
    scale = max(0.35, min(1.0, height / 600.0))
    thick = max(1, int(round(scale * 2)))
    pts = np.asarray(points, dtype=float)
    for name in dict.fromkeys(owners):
        if name in ("", SINGLE):
            continue
        mine = [j for j, owner in enumerate(owners) if owner == name]
        shown = pts[mine][np.isfinite(pts[mine]).all(axis=1)]
        if not len(shown):
            continue
        (w, h), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        x = int(round(float(shown[:, 0].mean()) - w / 2))
        y = int(round(float(shown[:, 1].min()) - gap))
        y = max(h + 2, y)  # keep the name inside the frame
        color = tuple(int(c) for c in colors[mine[0]])
        font = cv2.FONT_HERSHEY_SIMPLEX
        cv2.putText(img, name, (x, y), font, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(img, name, (x, y), font, scale, color, thick, cv2.LINE_AA)
    return img
