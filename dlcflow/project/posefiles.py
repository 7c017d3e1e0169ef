"""Finding the pose file of a video: ``<stem><scorer>.h5`` (or ``_filtered.h5``) of the
config's model, else the one pose file the video has; and the loop every per-video step
(filter, skeleton, plots, labeled videos, outliers) runs over its videos."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from dlcflow.core.videofiles import Videos, list_videos
from dlcflow.project.models import model_snapshots, training_fraction
from dlcflow.project.paths import Project

__all__ = ["analysis_scorer", "find_pose_file", "pose_files", "up_to_date"]


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
) -> Path:
    """The pose file of ``video``: ``<stem><scorer>.h5`` (``_filtered.h5`` if ``filtered``)
    in ``destfolder`` or the video's folder.

    The scorer is the one of the config's snapshot of ``shuffle``; when that model is not
    there (analyses copied from elsewhere, or the config already moved to the next
    iteration), the one pose file of the video in that folder is used. Raises
    FileNotFoundError (one line) when there is none, or several to choose from.
    """
    suffix = "_filtered.h5" if filtered else ".h5"
    scorer = analysis_scorer(project, shuffle, trainingsetindex)
    if scorer is not None:
        path = Project.analysis_output(video, scorer, destfolder, suffix)
        if path.is_file():
            return path
    found = Project.analysis_files(video, destfolder)
    if filtered:
        found = [Project.derived_output(p, "_filtered.h5") for p in found]
        found = [p for p in found if p.is_file()]
    if len(found) == 1:
        return found[0]
    folder = Path(destfolder) if destfolder else Path(video).parent
    if not found:
        name, stem = Path(video).name, Path(video).stem
        what = (
            f"{name} has no filtered predictions (run filterpredictions first)"
            if filtered
            else f"{name} has not been analyzed (run analyze first)"
        )
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
) -> Iterator[tuple[Path, Path]]:
    """``(video, pose file)`` of each video that ``videos`` names (:func:`list_videos`);
    a video without one is skipped with a warning naming the file it lacks."""
    for video in list_videos(videos, videotype):
        try:
            h5 = find_pose_file(project, video, shuffle, trainingsetindex, filtered, destfolder)
        except FileNotFoundError as err:
            warnings.warn(f"{err}; skipped", stacklevel=3)
            continue
        yield video, h5


def up_to_date(output: Path, source: Path) -> bool:
    """Whether ``output`` exists and is not older than ``source`` (nothing to redo)."""
    return output.is_file() and output.stat().st_mtime >= source.stat().st_mtime
