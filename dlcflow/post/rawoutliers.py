"""Outlier frames from a multi-animal video's raw data (DLC's ``find_outliers_in_raw_data``).

DLC 2.3 (``refine_training_dataset/outlier_frames.py``) takes the video's
``_full.pickle`` or ``_assemblies.pickle``, which it tells apart by the file name:

- ``_full.pickle`` (detections before assembly): a frame is an outlier when any
  detection of any body part has a confidence under ``pcutoff``
  (:func:`uncertain_frames`);
- ``_assemblies.pickle`` (the animals assembled in each frame; ``single`` left out): the
  statistic is each animal's bounding-box area (``(max x - min x) * (max y - min y)`` of
  its visible body parts); a frame is an outlier when one of its animals has an area
  below the lower or above the upper ``percentiles`` of all animals' areas in the video
  (``np.percentile`` with ``nearest``; strictly below / above) (:func:`odd_assembly_frames`).

Among those frames, ``numframes2pick`` of the config are chosen within ``[start, stop]``
(k-means on small grey frames, one per cluster, or evenly spaced) and written as
:mod:`dlcflow.post.outliers` writes outlier frames (its helpers do it):
``labeled-data/<video>/img<index>.png``, ``machinelabels-iter<N>.h5`` +
``machinelabels.csv`` (``scorer × individuals × bodyparts × (x, y, likelihood)``, every
individual of the config then ``single``; rows appended, duplicates keep the first), the
video added to ``video_sets`` under the config lock. Machine labels
(``with_annotations``): for assemblies, the k-th animal of a frame is the k-th individual
of the config (x, y and the detection confidence); for detections, the k-th most confident
detection of each body part is put on the k-th individual, a unique body part's most
confident one on ``single``.

Where dlcflow differs from DLC (its files are the same):

- DLC never writes machine labels for a ``_full.pickle`` (it sets ``with_annotations``
  to False); dlcflow writes the detections as above, so the refinement tool shows them.
- DLC writes the assemblies' labels without likelihood and leaves ``single`` empty;
  dlcflow writes the likelihood and the unique body parts of the assemblies' ``single``.
- DLC fails on an ``_assemblies.pickle`` without animals (nothing to take percentiles
  of), and a frame with more animals than individuals overflows its label columns (or
  fails); dlcflow finds no outlier in the first case and keeps the first animals in the
  second (with a warning).
- DLC names the PNGs with a width from the pickle's entry count and leaves frame 0 out of
  the k-means choice; dlcflow zero-fills to the video's frame count as
  ``extract_outlier_frames`` does and keeps ``[start, stop)`` whole.
- NaN areas (an animal without visible parts) are left out of the percentiles instead of
  making every comparison false.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dlcflow.core.log import log
from dlcflow.core.video import VideoReader, video_info
from dlcflow.data.pose import SINGLE, make_poses
from dlcflow.io.assemblies import ASSEMBLIES_SUFFIX, read_assemblies
from dlcflow.io.fullpickle import FULL_SUFFIX, FullPickle, read_full_pickle
from dlcflow.io.labels import LABELED_DATA
from dlcflow.io.poses import read_meta
from dlcflow.io.tables import IMAGE_ROWS, to_frame
from dlcflow.labeling.frames import frame_range
from dlcflow.post.outlierdetect import EXTRACTION_ALGORITHMS
from dlcflow.post.outliers import (
    ensure_in_video_sets,
    label_shift,
    new_frames,
    pick_frames,
    with_project_columns,
    write_outlier_frames,
    write_record,
)
from dlcflow.project.paths import Project, frame_name

__all__ = [
    "RAW_OUTLIER_DEFAULTS",
    "RAW_SOURCES",
    "LabelRows",
    "RawOutlierError",
    "assembly_areas",
    "assembly_labels",
    "detection_labels",
    "find_outliers_in_raw_data",
    "odd_assembly_frames",
    "uncertain_frames",
]

#: the workflow's ``outliers_raw.source``: which pickle of a video is searched
RAW_SOURCES = {"assemblies": ASSEMBLIES_SUFFIX, "detections": FULL_SUFFIX}
#: the workflow's ``outliers_raw`` section: ``source`` and the function's defaults. The
#: assemblies by default: odd skeletons are the assembly errors a refined model learns
#: from, and with DLC's ``pcutoff`` of 0.1 nearly every frame of the detections has a
#: weak peak (99 of montblanc's 180 frames)
RAW_OUTLIER_DEFAULTS: dict[str, object] = {
    "source": "assemblies",
    "pcutoff": 0.1,
    "percentiles": [5, 95],
    "with_annotations": True,
    "extraction_algo": "kmeans",
}


class RawOutlierError(ValueError):
    """Bad input to :func:`find_outliers_in_raw_data`: one line naming the file."""


# -- which frames ---------------------------------------------------------------------------
def uncertain_frames(full: FullPickle, pcutoff: float) -> list[int]:
    """Frames of a ``_full.pickle`` with a detection whose confidence is under ``pcutoff``
    (DLC's ``find_outliers_in_raw_detections``, ``algo="uncertain"``), sorted."""
    found = []
    for index, frame in full.frames.items():
        conf = [np.asarray(c, dtype=float).ravel() for c in frame["confidence"]]
        values = np.concatenate(conf) if conf else np.empty(0)
        if np.any(values < pcutoff):
            found.append(index)
    return sorted(found)


def assembly_areas(assemblies: Mapping[Any, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(frame index, bounding-box area) of every animal of an assemblies dict (DLC's
    ``Assembly.area``: the box of the visible body parts; NaN without any)."""
    frames, areas = [], []
    for key, animals in assemblies.items():
        if key == SINGLE:
            continue
        for animal in animals:
            xy = np.asarray(animal, dtype=float)[:, :2]
            visible = xy[~np.isnan(xy).any(axis=1)]
            area = np.nan
            if len(visible):
                (x1, y1), (x2, y2) = visible.min(axis=0), visible.max(axis=0)
                area = (x2 - x1) * (y2 - y1)
            frames.append(int(key))
            areas.append(area)
    return np.asarray(frames, dtype=int), np.asarray(areas, dtype=float)


def _bounds(percentiles: Sequence[float]) -> tuple[float, float]:
    """The lower and upper percentile (ValueError unless 0 <= lower <= upper <= 100)."""
    try:
        lo_q, up_q = (float(q) for q in percentiles)
    except (TypeError, ValueError):
        raise ValueError(
            f"percentiles {percentiles!r} must be a lower and an upper bound"
        ) from None
    if not 0 <= lo_q <= up_q <= 100:
        raise ValueError(f"percentiles {tuple(percentiles)} need 0 <= lower <= upper <= 100")
    return lo_q, up_q


def odd_assembly_frames(
    assemblies: Mapping[Any, Any], percentiles: Sequence[float] = (5, 95)
) -> list[int]:
    """Frames with an animal whose bounding-box area is under the lower or over the upper
    percentile of all animals' areas (DLC's ``find_outlier_assemblies``, criterion
    ``area``, ``np.percentile(..., "nearest")``), sorted; none without animals."""
    lo_q, up_q = _bounds(percentiles)
    frames, areas = assembly_areas(assemblies)
    known = ~np.isnan(areas)
    if not known.any():
        return []
    lo, up = np.percentile(areas[known], [lo_q, up_q], method="nearest")
    odd = known & ((areas < lo) | (areas > up))
    return sorted({int(f) for f in frames[odd]})


# -- machine labels ---------------------------------------------------------------------------
def _layout(project: Project) -> tuple[list[str], list[str], list[str], list[str]]:
    multi, unique = list(project.multianimal_bodyparts), list(project.unique_bodyparts)
    individuals = [*project.individuals, *([SINGLE] if unique else [])]
    return multi, unique, [*multi, *unique], individuals


@dataclass(frozen=True)
class LabelRows:
    """Where machine labels go: the project, the video's stem and frame count (PNG
    names), the analysis scorer, and the shift from the analysis's crop to the frames'."""

    project: Project
    stem: str
    nframes: int
    scorer: str
    shift: tuple[float, float] = (0.0, 0.0)

    def table(
        self, position: np.ndarray, confidence: np.ndarray, frames: list[int]
    ) -> pd.DataFrame:
        """Rows ``(labeled-data, video, imgNNN.png)`` of arrays (frame, space, part, ind)."""
        _, unique, keypoints, individuals = _layout(self.project)
        position = position + np.asarray(self.shift, dtype=float)[None, :, None, None]
        images = [f"{LABELED_DATA}/{self.stem}/{frame_name(i, self.nframes)}" for i in frames]
        ds = make_poses(
            position,
            confidence,
            keypoints=keypoints,
            individuals=individuals,
            time=images,
            scorer=self.scorer,
            unique_keypoints=unique,
        )
        ds.attrs["rows"] = IMAGE_ROWS
        return to_frame(ds)


def _empty_arrays(project: Project, n: int) -> tuple[np.ndarray, np.ndarray]:
    _, _, keypoints, individuals = _layout(project)
    shape = (n, len(keypoints), len(individuals))
    return np.full((n, 2, *shape[1:]), np.nan), np.full(shape, np.nan)


def assembly_labels(
    rows: LabelRows, assemblies: Mapping[Any, Any], frames: list[int], where: Path
) -> pd.DataFrame:
    """Machine labels of ``frames``: the k-th animal on the k-th individual, the unique
    body parts of ``single`` on ``single``."""
    multi, unique, _, _ = _layout(rows.project)
    n_ind = len(rows.project.individuals)
    pos, conf = _empty_arrays(rows.project, len(frames))
    singles = assemblies.get(SINGLE, {})
    for r, index in enumerate(frames):
        animals = list(assemblies.get(index, []))
        if len(animals) > n_ind:
            warnings.warn(
                f"{where}: frame {index} holds {len(animals)} animals, the config "
                f"{n_ind} individuals; the first {n_ind} are kept",
                stacklevel=3,
            )
        for k, animal in enumerate(animals[:n_ind]):
            pos[r, :, : len(multi), k] = animal[:, :2].T
            conf[r, : len(multi), k] = animal[:, 2]
        if unique and index in singles:
            pos[r, :, len(multi) :, -1] = singles[index][:, :2].T
            conf[r, len(multi) :, -1] = singles[index][:, 2]
    return rows.table(pos, conf, frames)


def detection_labels(rows: LabelRows, full: FullPickle, frames: list[int]) -> pd.DataFrame:
    """Machine labels of ``frames``: per body part, the k-th most confident detection on
    the k-th individual; a unique body part's most confident one on ``single``."""
    multi, _, _, _ = _layout(rows.project)
    n_ind = len(rows.project.individuals)
    pos, conf = _empty_arrays(rows.project, len(frames))
    for r, index in enumerate(frames):
        frame = full.frames.get(index)
        if frame is None:
            continue
        for j, (xy, c) in enumerate(zip(frame["coordinates"][0], frame["confidence"], strict=True)):
            xy = np.asarray(xy, dtype=float).reshape(-1, 2)
            c = np.asarray(c, dtype=float).ravel()
            order = np.argsort(-c, kind="stable")
            if j < len(multi):
                take = order[:n_ind]
                pos[r, :, j, : len(take)] = xy[take].T
                conf[r, j, : len(take)] = c[take]
            elif len(order):
                pos[r, :, j, -1] = xy[order[0]]
                conf[r, j, -1] = c[order[0]]
    return rows.table(pos, conf, frames)


# -- checks -------------------------------------------------------------------------------------
def _kind(pickle_file: Path) -> str:
    for kind, suffix in RAW_SOURCES.items():
        if pickle_file.name.endswith(suffix):
            return kind
    raise RawOutlierError(
        f"{pickle_file}: neither a _full.pickle nor an _assemblies.pickle (DLC tells them "
        "apart by the file name)"
    )


def _check_parts(project: Project, names: Sequence[str], where: Path) -> None:
    _, _, keypoints, _ = _layout(project)
    if list(names) != keypoints:
        raise RawOutlierError(
            f"{where}: body parts {', '.join(map(str, names))} are not those of "
            f"{project.config_path} ({', '.join(keypoints)})"
        )


def _check_assemblies(project: Project, data: Mapping[Any, Any], where: Path, nframes: int) -> None:
    multi, unique, _, _ = _layout(project)
    for key, animals in data.items():
        if key == SINGLE:
            if any(a.shape[0] != len(unique) for a in animals.values()):
                raise RawOutlierError(
                    f"{where}: 'single' does not hold the {len(unique)} unique body parts "
                    f"of {project.config_path}"
                )
            continue
        if animals and animals[0].shape[0] != len(multi):
            raise RawOutlierError(
                f"{where}: animals of {animals[0].shape[0]} body parts; "
                f"{project.config_path} has {len(multi)} multi-animal body parts"
            )
    last = max((int(k) for k in data if k != SINGLE), default=-1)
    last = max([last, *(int(k) for k in data.get(SINGLE, {}))])
    if last >= nframes:
        raise RawOutlierError(
            f"{where}: frame {last} is beyond the video's {nframes} frames (another video?)"
        )


def _scorer(pickle_file: Path, stem: str, suffix: str, fallback: str) -> str:
    """The analysis scorer of ``<stem><scorer><suffix>`` (the labeler's scorer if none)."""
    middle = pickle_file.name[len(stem) : -len(suffix)]
    return middle if middle.startswith("DLC") else fallback


# -- the function ---------------------------------------------------------------------------------
def find_outliers_in_raw_data(
    config: str | os.PathLike[str],
    pickle_file: str | os.PathLike[str],
    video_file: str | os.PathLike[str],
    pcutoff: float = 0.1,
    percentiles: Sequence[float] = (5, 95),
    with_annotations: bool = True,
    extraction_algo: str = "kmeans",
    copy_videos: bool = False,
    *,
    record: str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> list[int]:
    """Extract outlier frames of a multi-animal video from its ``_full.pickle`` (a
    detection under ``pcutoff``) or ``_assemblies.pickle`` (an animal's box area beyond
    ``percentiles``), with machine labels when ``with_annotations`` (DLC's
    ``find_outliers_in_raw_data``; see the module docstring for DLC's rule and where
    dlcflow differs). ``extraction_algo`` (``kmeans`` or ``uniform``) picks the config's
    ``numframes2pick`` among them within ``[start, stop]``, frames already in
    ``labeled-data/<video>/`` left out; ``copy_videos`` copies a video new to
    ``video_sets`` into ``videos/`` (else a symlink). ``record`` receives a JSON summary
    (also when nothing was extracted); ``seed`` makes the k-means choice reproducible.
    Returns the frame indices written. Bad input raises :class:`RawOutlierError` (one
    line naming the file) before anything is written."""
    if extraction_algo not in EXTRACTION_ALGORITHMS:
        raise ValueError(
            f"extraction_algo {extraction_algo!r} is not one of {', '.join(EXTRACTION_ALGORITHMS)}"
        )
    _bounds(percentiles)
    project = Project(config)
    if not project.multianimal:
        raise RawOutlierError(
            f"{project.config_path}: find_outliers_in_raw_data is for multi-animal projects "
            "(use extract_outlier_frames)"
        )
    pickle_file, video = Path(pickle_file), Path(video_file)
    kind = _kind(pickle_file)
    stem = video.stem
    if not pickle_file.name.startswith(stem):
        raise RawOutlierError(f"{pickle_file}: not a file of the video {video} (names differ)")
    if not video.is_file():
        raise RawOutlierError(f"{video}: no such video")
    nframes = video_info(video).nframes
    if kind == "detections":
        full = read_full_pickle(pickle_file)
        _check_parts(project, full.metadata["all_joints_names"], pickle_file)
        if nframes and full.nframes != nframes:
            raise RawOutlierError(
                f"{pickle_file}: detections of {full.nframes} frames, {video} has {nframes}"
            )
        nframes = nframes or full.nframes
        qualified = uncertain_frames(full, pcutoff)
        statistic = f"a detection's confidence < pcutoff {pcutoff}"
    else:
        data = read_assemblies(pickle_file)
        if not nframes:
            raise RawOutlierError(f"{video}: its frame count cannot be read")
        _check_assemblies(project, data, pickle_file, nframes)
        qualified = odd_assembly_frames(data, percentiles)
        statistic = f"an animal's box area beyond percentiles {list(percentiles)}"
    cfg = project.cfg
    first, last = frame_range(nframes, float(cfg.get("start", 0)), float(cfg.get("stop", 1)))
    numframes = int(cfg.get("numframes2pick", 20))
    inside = [i for i in qualified if first <= i < last]
    log(f"{stem}: {len(inside)} frame(s) with {statistic} among frames {first}-{last - 1}")
    candidates = new_frames(project, stem, inside, nframes)
    summary: dict[str, object] = {
        "video": str(video),
        "pickle_file": str(pickle_file),
        "source": kind,
        "iteration": project.iteration,
        "frames_range": [first, last],
        "qualified": len(inside),
        "extracted": [],
    }
    if not candidates:
        write_record(record, summary)
        return []
    scorer = _scorer(pickle_file, stem, RAW_SOURCES[kind], project.scorer)
    # the analysis's _meta.pickle (<stem><scorer>_meta.pickle) says how it was cropped
    pose_file = pickle_file.with_name(pickle_file.name[: -len(RAW_SOURCES[kind])] + ".h5")
    box, shift, meta_crop = label_shift(project, stem, read_meta(pose_file))
    target = LabelRows(project, stem, nframes, scorer, shift)

    def rows(frames: list[int]) -> pd.DataFrame:
        table = (
            detection_labels(target, full, frames)
            if kind == "detections"
            else assembly_labels(target, data, frames, pickle_file)
        )
        return with_project_columns(project, table, pickle_file)

    with VideoReader(video, crop=box) as reader:
        picks = pick_frames(reader, candidates, numframes, extraction_algo, 30, False, seed)
        written, _, _ = write_outlier_frames(
            project, reader, picks, nframes, rows if with_annotations else None
        )
    ensure_in_video_sets(project, video, meta_crop, copy_videos)
    h5_out = project.machine_labels(stem)
    labels = f" and {h5_out.name}" if with_annotations else ""
    log(f"{stem}: wrote {len(written)} outlier frames{labels} to {project.labeled_folder(stem)}")
    done = {**summary, "extracted": written}
    if with_annotations:
        done["machine_labels"] = str(h5_out)
    write_record(record, done)
    return written
