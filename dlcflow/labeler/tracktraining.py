"""Frames of the tracklet view added to the training data, as outlier frames.

DLC's refine-tracklets window (``TrackletVisualizer.export_to_training_data`` in DLC
2.3.11) takes the frames it finds edited, writes them as PNGs into
``labeled-data/<video>/`` with ``machinelabels-iter<N>.h5`` and merges them straight
into ``CollectedData_<scorer>.h5``. dlcflow takes the frames a person marked and writes
them exactly as an outlier extraction with an explicit frame list does
(:func:`dlcflow.post.outliers.extract_outliers_file` with ``outlieralgorithm="list"``):
PNGs, machine labels of every individual of the config from the saved (refined) tracks,
and the extraction's record (:meth:`Project.outliers_record`). The person then checks
them in the labeler (``dlcflow refine``) and ``dlcflow merge`` starts the next iteration,
as after any outlier extraction, so nothing enters the training data unseen.

Every marked frame is extracted: the config's ``numframes2pick`` (which thins a frame
list evenly) and ``start``/``stop`` (which bound it) are for frames a program chooses, so
they are set to take all of them. Frames already in ``labeled-data/<video>/`` are left as
they are (their labels may have been refined by hand already).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlcflow.io.hdf import first_line
from dlcflow.labeler.store import LabelerError
from dlcflow.labeling.frames import png_frames
from dlcflow.post.outliers import OutlierOptions, extract_outliers_file
from dlcflow.project.paths import TRACKER_SUFFIXES, Project

__all__ = ["TrainingError", "check_marked", "extract_marked", "next_steps", "video_stem"]

_FRAME_PNG = re.compile(r"img(\d+)\.png")


class TrainingError(LabelerError):
    """Marked frames that cannot be added to the training data; one line naming why."""


def next_steps(config: str | os.PathLike[str]) -> str:
    """What a person runs after the frames are extracted (as after outlier extraction)."""
    return f"check them with: dlcflow refine {config}, then: dlcflow merge {config}"


def video_stem(tracks: Path, scorer: str) -> str:
    """The video stem of ``<stem><scorer>_el.h5`` (the file's stem when it does not fit)."""
    name = tracks.stem
    name = name.removesuffix("_filtered")
    for suffix in TRACKER_SUFFIXES.values():
        name = name.removesuffix(suffix)
    return name.removesuffix(scorer) if name.endswith(scorer) and name != scorer else name


def _present(folder: Path) -> set[int]:
    """Frame indices of the ``img<index>.png`` files in a labeled-data folder."""
    found = (_FRAME_PNG.fullmatch(p.name) for p in png_frames(folder))
    return {int(m.group(1)) for m in found if m}


def check_marked(
    config: str | os.PathLike[str] | None,
    tracks: str | os.PathLike[str],
    video: str | os.PathLike[str] | None,
    frames: Sequence[int],
    scorer: str = "",
) -> tuple[Path, Path, list[int]]:
    """The config, the video and the sorted marked frames, once there are a config, a
    video file and frames (checked before the tracks are saved, so a refusal changes
    nothing); ``scorer`` (the tracks') names the missing video."""
    tracks = Path(tracks)
    if config is None:
        raise TrainingError(
            "adding frames to the training data needs the project's config.yaml "
            "(dlcflow refine-tracks CONFIG TRACKS)"
        )
    if video is None:
        raise TrainingError(
            f"video {video_stem(tracks, scorer)}.* of {tracks.name} not found (beside the "
            "tracks, in the project's videos/ or video_sets), so no frames can be extracted"
        )
    video = Path(video)
    if not video.is_file():
        raise TrainingError(f"{video}: video not found, so no frames can be extracted")
    wanted = sorted({int(i) for i in frames})
    if not wanted:
        raise TrainingError("no frames are marked for training (T marks the current frame)")
    return Path(config), video, wanted


def extract_marked(
    config: str | os.PathLike[str] | None,
    tracks: str | os.PathLike[str],
    video: str | os.PathLike[str] | None,
    frames: Sequence[int],
    scorer: str = "",
) -> dict[str, Any]:
    """Extract ``frames`` of ``video`` with the machine labels of the (saved) tracks file
    into the project of ``config`` (see the module docstring). Returns what was written:
    ``extracted`` and ``present`` (marked frames that were there already) frame lists, the
    labeled-data ``folder``, the ``machine_labels`` and ``record`` files, a ``message``
    (``scorer``: see :func:`check_marked`)."""
    config, video, wanted = check_marked(config, tracks, video, frames, scorer)
    try:
        project = Project(config)
        folder = project.labeled_folder(video.stem)
        before = _present(folder)
        record = project.outliers_record(video.stem)
        written = extract_outliers_file(
            config,
            tracks,
            video,
            OutlierOptions(outlieralgorithm="list", frames2use=wanted),
            record=record,
            numframes2pick=len(wanted),
            start=0.0,
            stop=1.0,
        )
    except (OSError, ValueError) as err:
        raise TrainingError(first_line(err)) from None
    present = [i for i in wanted if i in before]
    where = f"{project.labeled_data_dir.name}/{folder.name}"
    labels = project.machine_labels(video.stem)
    if written:
        message = f"added {len(written)} frame(s) to {where} ({labels.name}); {next_steps(config)}"
    else:
        message = f"no frames added: the marked frames are in {where} already"
    if written and present:
        message += f" ({len(present)} marked frame(s) were there already and are kept)"
    unread = len(wanted) - len(present) - len(written)
    if unread > 0:  # extract_outliers_file raises when none of them can be read
        message += f"; {unread} marked frame(s) could not be read from {video.name}"
    return {
        "extracted": written,
        "present": present,
        "folder": str(folder),
        "machine_labels": str(labels),
        "record": str(record),
        "message": message,
    }
