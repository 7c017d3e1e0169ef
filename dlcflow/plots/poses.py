"""Plots of analyzed videos: trajectory plots and labeled videos (DLC's names and files).

* :func:`plot_trajectories` / :func:`plot_poses_file`: ``plot-poses/<video stem>/`` with
  ``trajectory``, ``plot`` (x and y over time), ``plot-likelihood`` and ``hist``
  (frame-to-frame displacement) PNGs (:func:`dlcflow.plots.trajectories.plot_poses`),
  ``_filtered`` added for filtered data; multi-animal tracks get one set per individual,
  its name appended (``trajectorymouse1.png``). Points with likelihood under the config's
  ``pcutoff`` are masked.
* :func:`create_labeled_video` / :func:`labeled_video_file`: ``<data stem>_labeled.mp4``
  (multi-animal: ``_id_labeled.mp4`` or ``_bp_labeled.mp4``, see
  :meth:`Project.labeled_video_output`), streamed through OpenCV frame by frame (no folder
  of temporary frames), as many frames and the same size as the source (the crop's size
  with ``displaycropped``). Dots are discs of radius ``dotsize`` px in the config's
  ``colormap`` (one colour per body part, or per individual with ``color_by``), drawn
  only where likelihood > ``pcutoff``, with opacity ``alphavalue`` (or, with
  ``confidence_to_alpha``, ``max(0, (p - pcutoff) / (1 - pcutoff))``); skeleton lines
  (config ``skeleton``, ``skeleton_color``, within each individual) where both ends are
  above ``pcutoff``; with ``track_ids`` each animal's name above it.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from dlcflow.core.draw import draw_points, draw_segments, to_bgr
from dlcflow.core.fileio import replace_folder, temp_folder
from dlcflow.core.log import log
from dlcflow.core.options import Options, check_bool, check_choice, check_int, check_real
from dlcflow.core.video import VideoReader, VideoWriter, video_info
from dlcflow.data.pose import point_keys, points_array
from dlcflow.io.poses import analysis_crop, read_meta, read_poses
from dlcflow.io.tables import to_dataset
from dlcflow.plots.individuals import (
    COLOR_BY,
    check_color_by,
    draw_track_names,
    individual_table,
    individuals_to_show,
)
from dlcflow.plots.labels import KeypointLayout
from dlcflow.plots.trajectories import plot_poses
from dlcflow.project.paths import Project, nframes_digits
from dlcflow.project.posefiles import pose_files, resolve_track_method, up_to_date

__all__ = [
    "PLOT_NAMES",
    "LabeledVideoOptions",
    "confidence_alpha",
    "create_labeled_video",
    "labeled_video_file",
    "plot_poses",
    "plot_poses_file",
    "plot_trajectories",
]

PLOT_NAMES = ("trajectory", "plot", "plot-likelihood", "hist")
Crop = tuple[int, int, int, int]


def _bodyparts(project: Project, df: pd.DataFrame, displayed: str | Sequence[str]) -> list[str]:
    """Body parts to show, in the pose file's order; ValueError for unknown names."""
    present = list(dict.fromkeys(str(b) for b in df.columns.get_level_values("bodyparts")))
    if isinstance(displayed, str) and displayed == "all":
        return present
    wanted = [displayed] if isinstance(displayed, str) else [str(b) for b in displayed]
    unknown = [b for b in wanted if b not in present]
    if unknown:
        raise ValueError(
            f"{project.config_path}: body part(s) {', '.join(unknown)} not in the pose data "
            f"(body parts: {', '.join(present)})"
        )
    return [b for b in present if b in wanted]


def _is_filtered(h5: Path) -> bool:
    return h5.name.endswith("_filtered.h5")


def plot_poses_file(
    config: str | os.PathLike[str],
    h5_path: str | os.PathLike[str],
    dest_folder: str | os.PathLike[str] | None = None,
    video: str | os.PathLike[str] | None = None,
    displayedbodyparts: str | Sequence[str] = "all",
    showfigures: bool = False,
    displayedindividuals: str | Sequence[str] = "all",
) -> list[Path]:
    """The trajectory plots of one pose file (what the ``plots`` rule calls).

    ``dest_folder`` defaults to ``<pose file folder>/plot-poses/<video stem>/`` (the video
    stem from ``video``, else the file name before ``DLC``); ``_filtered`` pose files get
    ``_filtered`` plot names. Multi-animal tracks get the four plots of each individual
    (:func:`dlcflow.plots.individuals.individuals_to_show` of ``displayedindividuals``),
    DLC's names with the individual's name appended (``trajectory_filteredmouse1.png``).
    Returns the PNG paths (four per individual).
    """
    project = Project(config)
    h5 = Path(h5_path)
    df = read_poses(h5)
    if dest_folder is None:
        named = Path(video) if video is not None else h5.with_name(h5.name.split("DLC")[0] + ".h5")
        dest_folder = Project.plot_poses_folder(named, h5.parent)
    size = None
    if video is not None and Path(video).is_file():
        info = video_info(video)
        size = (info.width, info.height)
    crop = analysis_crop(read_meta(h5))
    if crop is not None:  # coordinates are relative to the analysis crop
        size = (crop[1] - crop[0], crop[3] - crop[2])
    cfg = project.cfg
    bodyparts = _bodyparts(project, df, displayedbodyparts)
    suffix = "_filtered" if _is_filtered(h5) else ""
    title = Path(video).stem if video is not None else h5.name.split("DLC")[0]
    parts = [("", df)]
    if "individuals" in df.columns.names:
        shown = individuals_to_show(project, df, displayedindividuals)
        parts = [(ind, individual_table(df, ind)) for ind in shown]
    written = []
    for individual, table in parts:
        written += plot_poses(
            table,
            dest_folder,
            bodyparts,
            colormap=str(cfg.get("colormap") or "rainbow"),
            alphavalue=float(cfg.get("alphavalue", 0.7)),
            pcutoff=float(cfg.get("pcutoff", 0.6)),
            suffix=suffix + individual,
            title=f"{title} {individual}".strip(),
            frame_size=size,
            show=showfigures,
        )
    return written


def plot_trajectories(
    config: str | os.PathLike[str],
    videos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    videotype: str = "",
    shuffle: int = 1,
    trainingsetindex: int = 0,
    filtered: bool = False,
    displayedbodyparts: str | Sequence[str] = "all",
    showfigures: bool = False,
    destfolder: str | os.PathLike[str] | None = None,
    displayedindividuals: str | Sequence[str] = "all",
    track_method: str = "",
) -> list[Path]:
    """Plot the trajectories of analyzed videos (DLC's ``plot_trajectories``).

    For each video writes ``<destfolder or video folder>/plot-poses/<video stem>/``
    ``trajectory.png``, ``plot.png``, ``plot-likelihood.png`` and ``hist.png``
    (``..._filtered.png`` with ``filtered``); see :func:`plot_poses`. Multi-animal
    projects plot the video's stitched tracks of ``track_method`` (``ellipse``, ``box``,
    ``skeleton``; empty: the config's ``default_track_method``), one set of plots per
    individual of ``displayedindividuals`` (``trajectorymouse1.png``, ...). Videos not
    analyzed are skipped with a warning. Returns the folders written.
    """

    project = Project(config)
    folders = []
    found = pose_files(
        project, videos, videotype, shuffle, trainingsetindex, filtered, destfolder, track_method
    )
    for video, h5 in found:
        folder = Project.plot_poses_folder(video, destfolder)
        plot_poses_file(
            config, h5, folder, video, displayedbodyparts, showfigures, displayedindividuals
        )
        log(f"{video.name}: plots in {folder}")
        folders.append(folder)
    return folders


# -- labeled videos -----------------------------------------------------------------------------
def confidence_alpha(pcutoff: float) -> Callable[[float], float]:
    """DLC's default ``confidence_to_alpha``: ``max(0, (p - pcutoff) / (1 - pcutoff))``."""
    span = max(1.0 - pcutoff, 1e-9)
    return lambda p: float(min(1.0, max(0.0, (p - pcutoff) / span)))


@dataclass(frozen=True)
class LabeledVideoOptions(Options):
    """How :func:`labeled_video_file` draws: DLC's ``create_labeled_video`` drawing
    arguments with their defaults; the workflow's ``labeled_videos`` section (whose
    ``filtered`` chooses the pose file, not the drawing).

    ``keypoints_only`` draws on black frames. ``trailpoints`` adds the dots of that many
    previous frames (fainter). ``confidence_to_alpha``: True for DLC's default mapping
    (:func:`confidence_alpha`), or a function of the likelihood. ``outputframerate``
    changes the frame rate, never the frame count. ``displaycropped`` shows only the
    analysis crop. ``save_frames`` also keeps every labeled frame as a PNG. Multi-animal
    tracks: ``color_by`` ``"bodypart"`` (DLC's default) or ``"individual"`` (one colour
    per animal), ``displayedindividuals`` the animals drawn, and ``track_ids`` writes each
    animal's name above it (DLC 2.3 has no such option).
    """

    save_frames: bool = False
    draw_skeleton: bool = False
    trailpoints: int = 0
    keypoints_only: bool = False
    displayedbodyparts: str | Sequence[str] = "all"
    displaycropped: bool = False
    confidence_to_alpha: bool | Callable[[float], float] = False
    outputframerate: float | None = None
    color_by: str = "bodypart"
    displayedindividuals: str | Sequence[str] = "all"
    track_ids: bool = False

    CONFIG_KEYS = (
        "draw_skeleton",
        "trailpoints",
        "keypoints_only",
        "confidence_to_alpha",
        "color_by",
        "track_ids",
    )
    WORKFLOW_KEYS = ("filtered",)
    CONFIG_DEFAULTS = {"draw_skeleton": True}  # noqa: RUF012 (read only)

    def __post_init__(self) -> None:
        owner = type(self).__name__
        flags = ("save_frames", "draw_skeleton", "keypoints_only", "displaycropped", "track_ids")
        for name in flags:
            check_bool(owner, name, getattr(self, name))
        check_int(owner, "trailpoints", self.trailpoints)
        check_choice(owner, "color_by", self.color_by, COLOR_BY)
        for name in ("displayedbodyparts", "displayedindividuals"):
            if not isinstance(getattr(self, name), str):
                self._set(name, tuple(str(b) for b in getattr(self, name)))
        if not callable(self.confidence_to_alpha):
            check_bool(owner, "confidence_to_alpha", self.confidence_to_alpha)
        if self.outputframerate is not None:
            check_real(owner, "outputframerate", self.outputframerate, 0, None)


def labeled_video_file(
    config: str | os.PathLike[str],
    video: str | os.PathLike[str],
    h5_path: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    options: LabeledVideoOptions | None = None,
    *,
    frames_folder: str | os.PathLike[str] | None = None,
) -> Path:
    """Draw the predictions of one pose file onto its video (the ``labeled_videos`` rule).

    ``output`` defaults to ``<data stem>_labeled.mp4`` beside the pose file
    (:meth:`Project.labeled_video_output`: ``_id_labeled``/``_bp_labeled`` for
    multi-animal tracks, after ``options.color_by``). Coordinates
    of a cropped analysis (its ``_meta.pickle``) are moved back into the whole frame;
    with ``options.displaycropped`` the video shows only the crop. See
    :class:`LabeledVideoOptions` for the drawing options. ``options.save_frames`` keeps
    every labeled frame as ``file<index>.png`` in ``frames_folder`` (default
    ``temp-<video stem>/`` beside the output). Returns the video path.
    """
    opts = options if options is not None else LabeledVideoOptions()
    project = Project(config)
    cfg = project.cfg
    h5 = Path(h5_path)
    out = Path(output) if output is not None else project.labeled_video_output(h5, opts.color_by)
    df = read_poses(h5)
    pcutoff = float(cfg.get("pcutoff", 0.6))
    alphavalue = float(cfg.get("alphavalue", 0.7))
    radius = max(1.0, float(cfg.get("dotsize", 8)))
    ds = to_dataset(df)
    model_keys = point_keys(ds)
    multi = ds.attrs["multianimal"]
    keys = [(ind if multi else "", bp) for ind, bp in model_keys]
    xy = points_array(ds, model_keys)
    likelihood = points_array(ds, model_keys, "confidence")
    shown = set(_bodyparts(project, df, opts.displayedbodyparts))
    animals = set(individuals_to_show(project, df, opts.displayedindividuals)) if multi else {""}
    keep = np.array([bp in shown and ind in animals for ind, bp in keys])
    layout = KeypointLayout(keys, xy)
    colormap = str(cfg.get("colormap") or "rainbow")
    colors = layout.colors(colormap, check_color_by(opts.color_by, multi))
    skeleton = (cfg.get("skeleton") or []) if opts.draw_skeleton else []
    bones = [(a, b) for a, b in layout.bones(skeleton) if keep[a] and keep[b]]
    owners = [ind for ind, _ in keys] if opts.track_ids and multi else []
    bone_color = to_bgr(str(cfg.get("skeleton_color") or "black"))
    if opts.confidence_to_alpha is True:
        to_alpha: Callable[[float], float] | None = confidence_alpha(pcutoff)
    elif callable(opts.confidence_to_alpha):
        to_alpha = opts.confidence_to_alpha
    else:
        to_alpha = None

    info = video_info(video)
    crop = analysis_crop(read_meta(h5))
    view: Crop | None = None
    if opts.displaycropped and crop is not None:
        view = crop  # frames cut to the crop; coordinates already relative to it
    elif opts.displaycropped:
        log(f"{h5.name}: the analysis was not cropped; showing whole frames")
    elif crop is not None:
        xy[..., 0] += crop[0]
        xy[..., 1] += crop[2]
    with np.errstate(invalid="ignore"):
        confident = (likelihood > pcutoff) & keep[None, :]
    xy[~confident] = np.nan
    fps = float(opts.outputframerate) if opts.outputframerate else info.fps
    thickness = max(1, int(round(radius / 4)))

    def draw(img: np.ndarray, index: int) -> np.ndarray:
        if index >= len(xy):
            return img
        back = min(int(opts.trailpoints), index)
        if back > 0:  # one blend per colour for all trail points (same-colour overlaps
            trail = xy[index - back : index].reshape(-1, 2)  # do not darken each other)
            draw_points(img, trail, colors * back, "o", 2 * radius, 0.75 * alphavalue, 1)
        if bones:
            pts = xy[index]
            segments = [(tuple(pts[a]), tuple(pts[b])) for a, b in bones]
            draw_segments(img, segments, bone_color, alphavalue, thickness)
        if to_alpha is None:
            draw_points(img, xy[index], colors, "o", 2 * radius, alphavalue, 1)
        else:
            for j in np.flatnonzero(confident[index]):
                a = to_alpha(float(likelihood[index, j]))
                if a > 0:
                    draw_points(img, xy[index, j : j + 1], [colors[j]], "o", 2 * radius, a, 1)
        if owners:
            draw_track_names(img, xy[index], owners, colors, 1.5 * radius)
        return img

    frames_dir = Path(frames_folder or Project.labeled_video_frames_folder(video, out.parent))
    tmp_frames = temp_folder(frames_dir) if opts.save_frames else None
    digits = nframes_digits(max(info.nframes, 1))
    try:
        with (
            VideoReader(video, crop=view) as reader,
            VideoWriter(out, fps, reader.frame_size) as writer,
        ):
            width, height = reader.frame_size
            blank = np.zeros((height, width, 3), np.uint8)

            def emit(img: np.ndarray, index: int) -> None:
                labeled = draw(img, index)
                writer.write(labeled)
                if tmp_frames is not None:
                    name = tmp_frames / f"file{str(index).zfill(digits)}.png"
                    if not cv2.imwrite(str(name), labeled):
                        raise OSError(f"{name}: cannot write PNG")

            expected = 0
            for index, frame in reader.frames(progress=f"{Path(video).name} labeled"):
                while expected < index:  # undecodable frames: black, to keep the count
                    emit(blank.copy(), expected)
                    expected += 1
                emit(blank.copy() if opts.keypoints_only else frame, index)
                expected = index + 1
            count = writer.frames_written
        if tmp_frames is not None:
            replace_folder(tmp_frames, frames_dir)
    except BaseException:
        if tmp_frames is not None:
            shutil.rmtree(tmp_frames, ignore_errors=True)
        raise
    if len(df) != count:
        warnings.warn(f"{h5}: {len(df)} rows of predictions for {count} video frames", stacklevel=2)
    log(f"Labeled video {out} ({count} frames)")
    return out


def create_labeled_video(
    config: str | os.PathLike[str],
    videos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    videotype: str = "",
    shuffle: int = 1,
    trainingsetindex: int = 0,
    filtered: bool = False,
    save_frames: bool = False,
    draw_skeleton: bool = False,
    trailpoints: int = 0,
    keypoints_only: bool = False,
    displayedbodyparts: str | Sequence[str] = "all",
    displaycropped: bool = False,
    confidence_to_alpha: bool | Callable[[float], float] = False,
    outputframerate: float | None = None,
    destfolder: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    displayedindividuals: str | Sequence[str] = "all",
    color_by: str = "bodypart",
    track_method: str = "",
    track_ids: bool = False,
    *,
    options: LabeledVideoOptions | None = None,
) -> list[Path]:
    """Label analyzed videos (DLC's ``create_labeled_video``, OpenCV "fast mode").

    Writes ``<stem><scorer>_labeled.mp4`` (``..._filtered_labeled.mp4`` with
    ``filtered``) beside the pose file; see :class:`LabeledVideoOptions` for the drawing
    options and the module docstring for what is drawn. ``save_frames`` also keeps the
    labeled frames as PNGs in ``temp-<video stem>/``. ``options``: a
    :class:`LabeledVideoOptions` instead of the drawing arguments, which must then keep
    their defaults. A labeled video newer than its pose file is kept unless
    ``overwrite``; videos not analyzed are skipped with a warning. Returns the labeled videos.

    Multi-animal projects draw the video's stitched tracks of ``track_method``
    (``ellipse``, ``box``, ``skeleton``; empty: the config's ``default_track_method``)
    into ``<stem><scorer>_el_bp_labeled.mp4`` (``_el_id_labeled.mp4`` with
    ``color_by="individual"``, one colour per animal), the individuals
    ``displayedindividuals``, the skeleton within each animal; ``track_ids`` writes each
    animal's name above it.
    """
    opts = LabeledVideoOptions.gather(options, locals(), "create_labeled_video")
    project = Project(config)
    written = []
    method = resolve_track_method(project, track_method)
    found = pose_files(
        project, videos, videotype, shuffle, trainingsetindex, filtered, destfolder, method
    )
    for video, h5 in found:
        out = project.labeled_video_output(h5, opts.color_by)
        if not overwrite and up_to_date(out, h5):
            log(f"{video.name}: labeled video exists ({out.name}); overwrite=True redraws it")
        else:
            labeled_video_file(
                config,
                video,
                h5,
                out,
                opts,
                frames_folder=Project.labeled_video_frames_folder(video, destfolder),
            )
        written.append(out)
    return written
