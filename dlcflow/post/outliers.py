"""Outlier frames for the refinement loop (DLC's ``extract_outlier_frames``).

:func:`extract_outlier_frames` finds frames where the network is probably wrong, within
the config's ``[start, stop]`` part of each analyzed video, with the algorithms of
:mod:`dlcflow.post.outlierdetect` (``jump``, ``uncertain``, ``fitting``, ``list``; in a
multi-animal project on the video's stitched tracks of ``track_method``, any individual's
outlier making the frame one).

``numframes2pick`` of the qualifying frames are chosen (k-means on small grey frames, one
per cluster, or evenly spaced), frames already in ``labeled-data/<video>/`` left out.
They are written as ``img<index>.png`` (zero-filled to the video's frame count) next to
``machinelabels-iter<N>.h5`` + ``machinelabels.csv`` (columns ``scorer × bodyparts × (x,
y, likelihood)`` under the analysis scorer; multi-animal: ``scorer × individuals ×
bodyparts × (x, y, likelihood)`` with every individual of the config, then ``single``
for the unique body parts, as CollectedData orders them; rows ``(labeled-data, video,
imgNNN.png)``; new rows are appended, duplicates keep the first). The video joins
``video_sets`` if it is not there. PNGs go to a temp folder first; the folder never holds
a half extraction.

The options are an :class:`OutlierOptions`. :func:`dlcflow.post.merge.merge_datasets`
starts the next iteration once the frames are refined.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import xarray as xr

from dlcflow.core.draw import colors_bgr, draw_points
from dlcflow.core.fileio import atomic_write_text
from dlcflow.core.log import log
from dlcflow.core.video import VideoError, VideoReader, video_info
from dlcflow.data.pose import SINGLE, point_keys, points_array
from dlcflow.io.labels import LABELED_DATA, read_machine_labels, write_machine_labels
from dlcflow.io.poses import analysis_crop, read_meta, read_poses
from dlcflow.io.tables import IMAGE_ROWS, LIKELIHOOD_COORDS, pose_columns, to_dataset, to_frame
from dlcflow.labeling.frames import (
    _move_into_place,
    cluster_representatives,
    downsample,
    frame_range,
    png_frames,
    read_manifest,
    select_uniform,
)
from dlcflow.post.outlierdetect import (
    EXTRACTION_ALGORITHMS,
    MANUAL,
    OUTLIER_ALGORITHMS,
    OutlierOptions,
    find_outliers,
)
from dlcflow.project.create import add_videos
from dlcflow.project.paths import Project, frame_name
from dlcflow.project.posefiles import pose_files, resolve_track_method

__all__ = [
    "EXTRACTION_ALGORITHMS",
    "MANUAL",
    "OUTLIER_ALGORITHMS",
    "OutlierOptions",
    "config_lock",
    "extract_outlier_frames",
    "extract_outliers_file",
    "find_outliers",
]


@contextlib.contextmanager
def config_lock(project: Project) -> Iterator[None]:
    """Hold an exclusive lock on the project's config while it is read and rewritten
    (outlier rules of several videos may add videos at the same time)."""
    project.config_lock.parent.mkdir(parents=True, exist_ok=True)
    with open(project.config_lock, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- selection and writing ----------------------------------------------------------------------
def pick_frames(
    reader: VideoReader,
    candidates: list[int],
    numframes: int,
    algorithm: str,
    resizewidth: int,
    color: bool,
    seed: int = 0,
) -> list[int]:
    """``numframes`` of the candidate frames: all when few enough, else evenly spaced
    (``uniform``) or one per MiniBatchKMeans cluster of small frames (``kmeans``)."""
    if len(candidates) <= numframes:
        return list(candidates)
    if algorithm == "uniform":
        return [candidates[i] for i in select_uniform(0, len(candidates), numframes)]
    width, _ = reader.frame_size
    if not 1 <= resizewidth <= width:
        raise ValueError(
            f"{reader.path}: cluster_resizewidth {resizewidth} must be between 1 and the "
            f"frame width {width}"
        )
    indices, rows = [], []
    for index, frame in reader.frames(indices=candidates, progress=f"{reader.path.name} kmeans"):
        indices.append(index)
        rows.append(downsample(frame, resizewidth, color))
    if not rows:
        raise VideoError(f"{reader.path}: none of the {len(candidates)} outlier frames is readable")
    chosen = cluster_representatives(np.stack(rows), numframes, seed)
    return [indices[r] for r in chosen]


def _machine_rows(
    df: pd.DataFrame, picks: Sequence[int], stem: str, nframes: int, shift: tuple[float, float]
) -> pd.DataFrame:
    """The machine-label rows of the picked frames (coordinates moved by ``shift``)."""
    ds = to_dataset(df).isel(time=list(picks))
    ds["position"] = ds["position"] + xr.DataArray(list(shift), coords={"space": ["x", "y"]})
    images = [f"{LABELED_DATA}/{stem}/{frame_name(i, nframes)}" for i in picks]
    ds = ds.assign_coords(time=np.array(images, dtype=object))
    ds.attrs["rows"] = IMAGE_ROWS
    return to_frame(ds)


def with_project_columns(project: Project, rows: pd.DataFrame, where: Path) -> pd.DataFrame:
    """Multi-animal machine labels in CollectedData's column order: every individual of
    the config with its body parts (NaN where the tracks have none), then ``single`` with
    the unique body parts, then whatever else the tracks hold (with a warning)."""
    if not project.multianimal or rows.columns.nlevels != 4:
        return rows
    scorer = str(rows.columns.get_level_values("scorer")[0])
    columns = pose_columns(
        scorer,
        project.multianimal_bodyparts,
        project.individuals,
        project.unique_bodyparts,
        coords=LIKELIHOOD_COORDS,
    )
    known = set(columns)
    extra = [c for c in rows.columns if c not in known]
    if extra:
        names = ", ".join(dict.fromkeys(f"{c[1]}/{c[2]}" for c in extra))
        warnings.warn(
            f"{where}: {names} are not individuals/body parts of the config "
            f"(individuals {', '.join([*project.individuals, SINGLE])}); kept in the "
            "machine labels as they are",
            stacklevel=3,
        )
    if extra:
        columns = columns.append(pd.MultiIndex.from_tuples(extra, names=columns.names))
    return rows.reindex(columns=columns)


def _append(existing_path: Path, new: pd.DataFrame) -> pd.DataFrame:
    """Existing machine labels + new rows; duplicates keep the first (existing) row."""
    if not existing_path.is_file():
        return new
    old = read_machine_labels(existing_path)
    old_scorer = str(old.columns.get_level_values("scorer")[0]) if old.shape[1] else ""
    new_scorer = str(new.columns.get_level_values("scorer")[0])
    if old_scorer and old_scorer != new_scorer:
        warnings.warn(
            f"{existing_path}: machine labels by {old_scorer}, new rows by {new_scorer}; "
            f"the new rows are stored under {old_scorer}",
            stacklevel=3,
        )
        new = new.rename(columns={new_scorer: old_scorer}, level="scorer")
    combined = pd.concat([old, new])
    return combined[~combined.index.duplicated(keep="first")]


def _draw_labeled(
    project: Project, folder: Path, frames: dict[int, np.ndarray], rows: pd.DataFrame
) -> None:
    """``savelabeled``: copies of the frames with their machine labels (likelihood >
    pcutoff) drawn on them, ``img<index>labeled.png`` as DLC names them."""
    cfg = project.cfg
    ds = to_dataset(rows)
    keys = point_keys(ds)
    xy_all = points_array(ds, keys)
    likelihood = points_array(ds, keys, "confidence")
    colors = colors_bgr(len(keys), str(cfg.get("colormap") or "rainbow"))
    pcutoff = float(cfg.get("pcutoff", 0.6))
    size, alpha = 2 * float(cfg.get("dotsize", 8)), float(cfg.get("alphavalue", 0.7))
    folder.mkdir(parents=True, exist_ok=True)
    for i, ((_, frame), key) in enumerate(zip(frames.items(), rows.index, strict=True)):
        with np.errstate(invalid="ignore"):
            xy = np.where((likelihood[i] > pcutoff)[:, None], xy_all[i], np.nan)
        img = draw_points(frame.copy(), xy, colors, "o", size, alpha)
        out = folder / f"{Path(str(key[2])).stem}labeled.png"
        if not cv2.imwrite(str(out), img):
            raise OSError(f"{out}: cannot write PNG")


def ensure_in_video_sets(
    project: Project, video: Path, crop: tuple[int, ...] | None, copy_videos: bool = False
) -> None:
    """Add the video to video_sets (with the analysis crop; ``copy_videos``: copied into
    ``videos/``, else symlinked) unless it is there already."""
    with config_lock(project):
        fresh = Project(project.config_path)
        for key in fresh.video_sets:
            same_stem = Path(key.replace("\\", "/")).stem == video.stem
            if same_stem or fresh.resolve_video(key).resolve() == video.resolve():
                return
        coords = [list(crop)] if crop is not None else None
        try:
            add_videos(fresh.config_path, [video], copy_videos=copy_videos, coords=coords)
        except (OSError, ValueError) as err:
            warnings.warn(f"{video}: could not be added to video_sets ({err})", stacklevel=3)
            return
    log(f"{video.name}: added to video_sets of {project.config_path}")


def label_shift(
    project: Project, stem: str, meta: dict
) -> tuple[tuple[int, ...] | None, tuple[float, float], tuple[int, int, int, int] | None]:
    """The crop the frames of ``stem`` are saved with (its frames manifest's), the shift
    that takes an analysis's coordinates (cropped as its ``_meta.pickle`` says) onto those
    frames, and the analysis crop."""
    frame_crop = (read_manifest(project, stem) or {}).get("crop")
    box = tuple(int(v) for v in frame_crop) if frame_crop else None
    meta_crop = analysis_crop(meta)
    shift = (
        float((meta_crop[0] if meta_crop else 0) - (box[0] if box else 0)),
        float((meta_crop[2] if meta_crop else 0) - (box[2] if box else 0)),
    )
    return box, shift, meta_crop


def write_outlier_frames(
    project: Project,
    reader: VideoReader,
    picks: Sequence[int],
    nframes: int,
    machine_rows: Callable[[list[int]], pd.DataFrame] | None,
    keep_images: bool = False,
) -> tuple[list[int], pd.DataFrame | None, dict[int, np.ndarray]]:
    """Write the picked frames of ``reader``'s video as ``labeled-data/<video>/img*.png``
    and (unless ``machine_rows`` is None) the machine labels ``machine_rows(written
    frames)`` appended to ``machinelabels-iter<N>.h5`` + ``machinelabels.csv``. PNGs go
    to a temp folder first and move in with the labels: the folder never holds a half
    extraction. Returns the frames written (sorted), their label rows, and the images
    when ``keep_images``."""
    stem = reader.path.stem
    folder = project.labeled_folder(stem)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".dlcflow-outliers-", dir=folder))
    try:
        images: dict[int, np.ndarray] = {}
        for index, frame in reader.frames(indices=list(picks), progress=f"{stem} outliers"):
            name = frame_name(index, nframes)
            if not cv2.imwrite(str(tmp / name), frame):
                raise OSError(f"{folder / name}: cannot write PNG")
            if keep_images:
                images[index] = frame
        written = [i for i in sorted(picks) if (tmp / frame_name(i, nframes)).is_file()]
        if not written:
            raise VideoError(f"{reader.path}: none of the {len(picks)} chosen frames is readable")
        names = [frame_name(i, nframes) for i in written]
        rows = machine_rows(written) if machine_rows is not None else None
        h5_out = project.machine_labels(stem)
        combined = _append(h5_out, rows) if rows is not None else None
        _move_into_place(tmp, folder, names)
        if combined is not None:
            try:
                write_machine_labels(combined, h5_out, project.machine_labels(stem, ext="csv"))
            except BaseException:
                for name in names:
                    (folder / name).unlink(missing_ok=True)
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written, rows, images


def new_frames(project: Project, stem: str, qualified: Sequence[int], nframes: int) -> list[int]:
    """The qualified frames whose PNG is not in ``labeled-data/<stem>/`` yet (says how
    many are, and when none is left)."""
    folder = project.labeled_folder(stem)
    existing = {p.name for p in png_frames(folder)}
    candidates = [i for i in qualified if frame_name(i, nframes) not in existing]
    if len(candidates) < len(qualified):
        log(f"{stem}: {len(qualified) - len(candidates)} of them are in {folder} already")
    if not candidates:
        log(f"{stem}: no new frames to extract")
    return candidates


def extract_outliers_file(
    config: str | os.PathLike[str],
    h5_path: str | os.PathLike[str],
    video: str | os.PathLike[str],
    options: OutlierOptions | None = None,
    *,
    record: str | os.PathLike[str] | None = None,
    numframes2pick: int | None = None,
    start: float | None = None,
    stop: float | None = None,
) -> list[int]:
    """Outlier frames of one analyzed video (the pose file ``h5_path`` of ``video``):
    what the workflow's ``outliers`` rule calls. Returns the frame indices written (an
    empty list when none qualified). ``options.seed`` makes the k-means choice
    reproducible. ``record`` (e.g. :meth:`Project.outliers_record`) receives a JSON
    summary, also when nothing was extracted, so that a rule always has an output.
    ``numframes2pick``, ``start`` and ``stop`` replace the config's values when given
    (the tracklet view extracts every frame a person marked: ``list`` with
    ``numframes2pick=len(frames2use)``, ``start=0``, ``stop=1``). See the module
    docstring."""
    opts = options if options is not None else OutlierOptions()
    project = Project(config)
    h5, video = Path(h5_path), Path(video)
    outlieralgorithm = opts.outlieralgorithm
    cfg = project.cfg
    start = float(cfg.get("start", 0) if start is None else start)
    stop = float(cfg.get("stop", 1) if stop is None else stop)
    if not 0 <= start < stop <= 1:
        raise ValueError(
            f"{project.config_path}: start {start} and stop {stop} need 0<=start<stop<=1"
        )
    numframes = cfg.get("numframes2pick", 20) if numframes2pick is None else numframes2pick
    if isinstance(numframes, bool) or not isinstance(numframes, int) or numframes < 1:
        raise ValueError(f"{project.config_path}: numframes2pick must be a positive integer")
    df = read_poses(h5)
    if len(df) < 10:
        warnings.warn(f"{h5}: only {len(df)} frames of predictions", stacklevel=2)
    first, last = frame_range(len(df), start, stop)
    qualified = find_outliers(
        df, opts, numframes2pick=numframes, first=first, last=last, where=str(h5)
    )
    log(
        f"{video.name}: method {outlieralgorithm} found {len(qualified)} putative outlier "
        f"frame(s) among frames {first}-{max(first, last - 1)}"
    )
    stem = video.stem
    folder = project.labeled_folder(stem)
    nframes = video_info(video).nframes or len(df)
    candidates = new_frames(project, stem, qualified, nframes)
    summary = {
        "video": str(video),
        "pose_file": str(h5),
        "iteration": project.iteration,
        "outlieralgorithm": outlieralgorithm,
        "frames_range": [first, last],
        "qualified": len(qualified),
        "extracted": [],
    }
    if not candidates:
        write_record(record, summary)
        return []
    algorithm = "uniform" if outlieralgorithm == "list" else opts.extractionalgorithm
    box, shift, meta_crop = label_shift(project, stem, read_meta(h5))
    with VideoReader(video, crop=box) as reader:
        picks = pick_frames(
            reader,
            candidates,
            numframes,
            algorithm,
            opts.cluster_resizewidth,
            opts.cluster_color,
            opts.seed,
        )
        written, rows, images = write_outlier_frames(
            project,
            reader,
            picks,
            nframes,
            lambda frames: with_project_columns(
                project, _machine_rows(df, frames, stem, nframes, shift), h5
            ),
            keep_images=opts.savelabeled,
        )
    h5_out = project.machine_labels(stem)
    if opts.savelabeled and rows is not None:
        _draw_labeled(project, project.outlier_labeled_folder(stem), images, rows)
    ensure_in_video_sets(project, video, meta_crop)
    log(f"{stem}: wrote {len(written)} outlier frames and {h5_out.name} to {folder}")
    write_record(record, {**summary, "extracted": written, "machine_labels": str(h5_out)})
    return written


def write_record(path: str | os.PathLike[str] | None, summary: dict[str, object]) -> None:
    if path is not None:
        atomic_write_text(path, json.dumps(summary, indent=2) + "\n")


def extract_outlier_frames(
    config: str | os.PathLike[str],
    videos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    videotype: str = "",
    shuffle: int = 1,
    trainingsetindex: int = 0,
    outlieralgorithm: str = "jump",
    frames2use: Sequence[int] | None = None,
    comparisonbodyparts: Sequence[str] | str = "all",
    epsilon: float = 20,
    p_bound: float = 0.01,
    ARdegree: int = 3,
    MAdegree: int = 1,
    alpha: float = 0.01,
    extractionalgorithm: str = "kmeans",
    automatic: bool = True,
    cluster_resizewidth: int = 30,
    cluster_color: bool = False,
    savelabeled: bool = False,
    destfolder: str | os.PathLike[str] | None = None,
    track_method: str = "",
    *,
    options: OutlierOptions | None = None,
) -> list[int]:
    """Extract frames where the network probably failed (DLC's ``extract_outlier_frames``).

    Arguments keep DLC's names and defaults (see the module docstring for the
    algorithms); the config's ``start``, ``stop`` and ``numframes2pick`` apply. Never
    asks questions (``automatic`` is accepted for compatibility); ``outlieralgorithm=
    "manual"`` is the labeling tool's job. ``list`` extracts ``frames2use`` (evenly
    thinned to ``numframes2pick``). ``savelabeled`` also draws the machine labels onto
    copies in ``labeled-data/<video>_outliers_labeled/``. ``options``: an
    :class:`OutlierOptions` instead of those arguments, which must then keep their
    defaults. Videos not analyzed are skipped with a warning. Multi-animal projects read
    the video's stitched tracks of ``track_method`` (``ellipse``, ``box`` or ``skeleton``;
    empty: the config's ``default_track_method``) and write machine labels of every
    individual. Returns the frame indices extracted (of all videos, in order).
    """
    del automatic  # never interactive
    opts = OutlierOptions.gather(options, locals(), "extract_outlier_frames")

    project = Project(config)
    method = resolve_track_method(project, track_method)
    extracted: list[int] = []
    found = pose_files(
        project, videos, videotype, shuffle, trainingsetindex, False, destfolder, method
    )
    for video, h5 in found:
        extracted += extract_outliers_file(config, h5, video, opts)
    return extracted
