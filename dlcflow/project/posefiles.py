"""Finding the pose file of a video: ``<stem><scorer>.h5`` (or ``_filtered.h5``) of the
config's model, else the one pose file the video has; and the loop every per-video step
(filter, skeleton, plots, labeled videos, outliers) runs over its videos.

A multi-animal project's pose file is the video's stitched tracks of a tracker
(``<stem><scorer>_el.h5``, ``_bx``, ``_sk``; DLC's ``track_method``, by default the
config's ``default_track_method``); single-animal projects have no tracker."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from dlcflow.core.videofiles import Videos, list_videos
from dlcflow.project.models import model_snapshots, training_fraction
from dlcflow.project.paths import TRACKER_SUFFIXES, Project, tracker_suffix

__all__ = [
    "analysis_scorer",
    "find_pose_file",
    "pose_files",
    "resolve_track_method",
    "up_to_date",
]


def resolve_track_method(project: Project, track_method: str = "") -> str:
    """The tracker whose tracks a step reads (DLC's ``get_track_method``): ``""`` in a
    single-animal project (whatever is asked), else ``track_method`` (``ellipse``, ``box``
    or ``skeleton``) or, when empty, the config's ``default_track_method`` (``ellipse``
    when unset). An unknown name raises ValueError naming the known ones."""
    if not project.multianimal:
        return ""
    method = str(track_method or project.cfg.get("default_track_method") or "ellipse")
    tracker_suffix(method)  # validates
    return method


def analysis_scorer(project: Project, shuffle: int, trainingsetindex: int) -> str | None:
    """The scorer name of the config's snapshot of ``shuffle`` (None without a model)."""
    training_fraction(project, trainingsetindex)  # a bad index is an error, not "no model"
    index = project.cfg.get("snapshotindex", -1)
    index = -1 if str(index).strip().lower() == "all" else index
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, models = model_snapshots(project, shuffle, trainingsetindex, index, allow_all=False)
    except (FileNotFoundError, IndexError, ValueError):
        return None
    return models[-1].scorer


def find_pose_file(
    project: Project,
    video: str | os.PathLike[str],
    shuffle: int = 1,
    trainingsetindex: int = 0,
    filtered: bool = False,
    destfolder: str | os.PathLike[str] | None = None,
    track_method: str = "",
) -> Path:
    """The pose file of ``video``: ``<stem><scorer>.h5`` (``_filtered.h5`` if ``filtered``)
    in ``destfolder`` or the video's folder; in a multi-animal project the tracks of
    ``track_method`` (:func:`resolve_track_method`): ``<stem><scorer>_el.h5`` (or
    ``_el_filtered.h5``).

    The scorer is the one of the config's snapshot of ``shuffle``; when that model is not
    there (analyses copied from elsewhere, or the config already moved to the next
    iteration), the one pose file of the video in that folder is used. Raises
    FileNotFoundError (one line) when there is none, or several to choose from.
    """
    method = resolve_track_method(project, track_method)
    tracker = tracker_suffix(method) if method else ""
    suffix = tracker + ("_filtered.h5" if filtered else ".h5")
    scorer = analysis_scorer(project, shuffle, trainingsetindex)
    if scorer is not None:
        path = Project.analysis_output(video, scorer, destfolder, suffix)
        if path.is_file():
            return path
    found = Project.analysis_files(video, destfolder)
    if tracker:  # the tracks of that tracker
        found = [p for p in found if p.name.endswith(tracker + ".h5")]
    else:  # DLC's rule: a single-animal step never reads tracks
        trackers = tuple(s + ".h5" for s in TRACKER_SUFFIXES.values())
        found = [p for p in found if not p.name.endswith(trackers)]
    if filtered:
        found = [Project.derived_output(p, "_filtered.h5") for p in found]
        found = [p for p in found if p.is_file()]
    if len(found) == 1:
        return found[0]
    folder = Path(destfolder) if destfolder else Path(video).parent
    if not found:
        name, stem = Path(video).name, Path(video).stem
        if filtered:
            what = f"{name} has no filtered {method + ' tracks' if method else 'predictions'}"
            what += " (run filterpredictions first)"
        elif method:
            what = f"{name} has no {method} tracks (analyze it, then track and stitch)"
        else:
            what = f"{name} has not been analyzed (run analyze first)"
        want = f"{stem}{scorer}{suffix}" if scorer else f"{stem}DLC*{suffix}"
        raise FileNotFoundError(f"{folder / want}: not found; {what}")
    names = ", ".join(p.name for p in found)
    raise FileNotFoundError(
        f"{folder}: several pose files of {Path(video).name} ({names}); pick one with "
        "shuffle/trainingsetindex of a trained model"
    )


def pose_files(
    project: Project,
    videos: Videos,
    videotype: str = "",
    shuffle: int = 1,
    trainingsetindex: int = 0,
    filtered: bool = False,
    destfolder: str | os.PathLike[str] | None = None,
    track_method: str = "",
) -> Iterator[tuple[Path, Path]]:
    """``(video, pose file)`` of each video that ``videos`` names (:func:`list_videos`);
    a video without one is skipped with a warning naming the file it lacks. In a
    multi-animal project the pose file is the tracks file of ``track_method``."""
    method = resolve_track_method(project, track_method)
    for video in list_videos(videos, videotype):
        try:
            h5 = find_pose_file(
                project, video, shuffle, trainingsetindex, filtered, destfolder, method
            )
        except FileNotFoundError as err:
            warnings.warn(f"{err}; skipped", stacklevel=3)
            continue
        yield video, h5


def up_to_date(output: Path, source: Path) -> bool:
    """Whether ``output`` exists and is not older than ``source`` (nothing to redo)."""
    return output.is_file() and output.stat().st_mtime >= source.stat().st_mtime
