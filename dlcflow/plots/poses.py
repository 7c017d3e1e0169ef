"""Plots of analyzed videos: trajectory plots and labeled videos (DLC's names and files).

* :func:`plot_trajectories` / :func:`plot_poses_file`: ``plot-poses/<video stem>/`` with
  ``trajectory``, ``plot`` (x and y over time), ``plot-likelihood`` and ``hist``
  (frame-to-frame displacement) PNGs, ``_filtered`` added for filtered data. Points with
  likelihood under the config's ``pcutoff`` are masked. Figures are drawn with
  matplotlib's Agg canvas (no display needed) and each PNG is written atomically.
* :func:`create_labeled_video` / :func:`labeled_video_file`: ``<data stem>_labeled.mp4``,
  streamed through OpenCV frame by frame (no folder of temporary frames), as many frames
  and the same size as the source (the crop's size with ``displaycropped``). Dots are
  discs of radius ``dotsize`` px in the config's ``colormap`` (one colour per body part),
  drawn only where likelihood > ``pcutoff``, with opacity ``alphavalue`` (or, with
  ``confidence_to_alpha``, ``max(0, (p - pcutoff) / (1 - pcutoff))``); skeleton lines
  (config ``skeleton``, ``skeleton_color``) where both ends are above ``pcutoff``.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from dlcflow.core.draw import colors_bgr, draw_points, draw_segments, get_cmap, to_bgr
from dlcflow.core.fileio import atomic_path, replace_folder, temp_folder
from dlcflow.core.log import log
from dlcflow.core.options import Options, check_bool, check_int, check_real
from dlcflow.core.video import VideoReader, VideoWriter, video_info
from dlcflow.data.pose import point_keys, points_array
from dlcflow.io.poses import analysis_crop, read_meta, read_poses
from dlcflow.io.tables import to_dataset
from dlcflow.plots.labels import KeypointLayout
from dlcflow.project.paths import Project, nframes_digits
from dlcflow.project.posefiles import pose_files, up_to_date

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


# -- trajectory plots ---------------------------------------------------------------------------
def _xyp(poses: xr.Dataset, bp: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y and likelihood of a body part of the first individual that has it."""
    key = next(k for k in point_keys(poses) if k[1] == bp)
    xy = points_array(poses, [key])[:, 0]
    return xy[:, 0], xy[:, 1], points_array(poses, [key], "confidence")[:, 0]


def _legend(ax: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def plot_poses(
    df: pd.DataFrame,
    dest_folder: str | os.PathLike[str],
    bodyparts: Sequence[str],
    colormap: str = "rainbow",
    alphavalue: float = 0.7,
    pcutoff: float = 0.6,
    suffix: str = "",
    title: str = "",
    frame_size: tuple[int, int] | None = None,
    resolution: int = 100,
    linewidth: float = 1.0,
    show: bool = False,
) -> list[Path]:
    """Draw the four DLC trajectory plots of a pose table into ``dest_folder``.

    ``trajectory<suffix>.png`` (y against x, image orientation), ``plot<suffix>.png``
    (x and y against the frame index), ``plot-likelihood<suffix>.png`` (likelihood with
    the ``pcutoff`` line) and ``hist<suffix>.png`` (histogram of frame-to-frame
    displacements). Points under ``pcutoff`` are left out of all but the likelihood
    plot; colours come from ``colormap`` (one per body part, as DLC picks them).
    ``frame_size`` ``(width, height)`` sets the trajectory plot's limits. Returns the
    PNG paths.
    """
    folder = Path(dest_folder)
    folder.mkdir(parents=True, exist_ok=True)
    colors = get_cmap(len(bodyparts), colormap)
    frames = np.arange(len(df))
    head = f"{title} " if title else ""
    traj, (axx, axy), lik, hist = (
        Figure(figsize=(8, 6)),
        Figure(figsize=(10, 5)).subplots(2, 1, sharex=True),
        Figure(figsize=(10, 3)),
        Figure(figsize=(8, 5)),
    )
    ax_t, ax_l, ax_h = traj.subplots(), lik.subplots(), hist.subplots()
    jumps = []
    poses = to_dataset(df)
    for i, bp in enumerate(bodyparts):
        x, y, p = _xyp(poses, bp)
        with np.errstate(invalid="ignore"):
            low = ~(p > pcutoff)
        x, y = np.where(low, np.nan, x), np.where(low, np.nan, y)
        shown = int((~np.isnan(x) & ~np.isnan(y)).sum())
        name = bp if shown else f"{bp} (none above pcutoff)"
        color = colors[i]
        ax_t.plot(x, y, ".", color=color, alpha=alphavalue, markersize=3, label=name)
        axx.plot(frames, x, "-", color=color, alpha=alphavalue, linewidth=linewidth, label=name)
        axy.plot(frames, y, "-", color=color, alpha=alphavalue, linewidth=linewidth)
        ax_l.plot(frames, p, "-", color=color, alpha=alphavalue, linewidth=linewidth, label=bp)
        step = np.hypot(np.diff(x), np.diff(y))
        jumps.append((name, color, step[np.isfinite(step)]))
    ax_t.set(xlabel="x (pixels)", ylabel="y (pixels)", title=f"{head}trajectories".strip())
    if frame_size is not None:
        ax_t.set_xlim(0, frame_size[0])
        ax_t.set_ylim(frame_size[1], 0)
    else:
        ax_t.invert_yaxis()
    ax_t.set_aspect("equal", adjustable="box")
    axx.set(ylabel="x (pixels)", title=f"{head}position over time".strip())
    axy.set(xlabel="frame index", ylabel="y (pixels)")
    axy.invert_yaxis()
    ax_l.axhline(pcutoff, color="0.3", linestyle="--", linewidth=1, label=f"pcutoff {pcutoff}")
    ax_l.set(xlabel="frame index", ylabel="likelihood", ylim=(-0.02, 1.05))
    ax_l.set_title(f"{head}likelihood (use it to set pcutoff)".strip())
    top = max((float(s.max()) for _, _, s in jumps if s.size), default=1.0)
    bins = np.linspace(0.0, max(top, 1.0), 50)
    for name, color, step in jumps:
        if step.size:
            ax_h.hist(
                step, bins=bins, histtype="step", color=color, linewidth=linewidth, label=name
            )
    ax_h.set(xlabel="frame-to-frame displacement (pixels)", ylabel="count (frames)")
    ax_h.set_title(f"{head}displacements between consecutive frames".strip())
    if not any(s.size for _, _, s in jumps):
        ax_h.text(
            0.5,
            0.5,
            f"no consecutive points above pcutoff {pcutoff}",
            ha="center",
            transform=ax_h.transAxes,
        )
    for ax in (ax_t, axx, ax_l, ax_h):
        _legend(ax)
        ax.grid(True, alpha=0.3)
    axy.grid(True, alpha=0.3)
    figures = {"trajectory": traj, "plot": axx.figure, "plot-likelihood": lik, "hist": hist}
    written = []
    for name, fig in figures.items():
        out = folder / f"{name}{suffix}.png"
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=resolution, bbox_inches="tight", format="png")
        written.append(out)
    if show:
        _show(written)
    return written


def _show(paths: Sequence[Path]) -> None:
    """Display saved plots when an interactive matplotlib backend is available."""
    import matplotlib  # noqa: PLC0415
    import matplotlib.pyplot as plt  # noqa: PLC0415

    if matplotlib.get_backend().lower() in ("agg", "pdf", "svg", "ps", "cairo", "template"):
        log(f"showfigures: no interactive display ({matplotlib.get_backend()}); see {paths[0]}")
        return
    for path in paths:
        fig = plt.figure()
        fig.figimage(plt.imread(path))
    plt.show()


def plot_poses_file(
    config: str | os.PathLike[str],
    h5_path: str | os.PathLike[str],
    dest_folder: str | os.PathLike[str] | None = None,
    video: str | os.PathLike[str] | None = None,
    displayedbodyparts: str | Sequence[str] = "all",
    showfigures: bool = False,
) -> list[Path]:
    """The trajectory plots of one pose file (what the ``plots`` rule calls).

    ``dest_folder`` defaults to ``<pose file folder>/plot-poses/<video stem>/`` (the video
    stem from ``video``, else the file name before ``DLC``); ``_filtered`` pose files get
    ``_filtered`` plot names. Returns the four PNG paths.
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
    return plot_poses(
        df,
        dest_folder,
        _bodyparts(project, df, displayedbodyparts),
        colormap=str(cfg.get("colormap") or "rainbow"),
        alphavalue=float(cfg.get("alphavalue", 0.7)),
        pcutoff=float(cfg.get("pcutoff", 0.6)),
        suffix="_filtered" if _is_filtered(h5) else "",
        title=Path(video).stem if video is not None else h5.name.split("DLC")[0],
        frame_size=size,
        show=showfigures,
    )


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
) -> list[Path]:
    """Plot the trajectories of analyzed videos (DLC's ``plot_trajectories``).

    For each video writes ``<destfolder or video folder>/plot-poses/<video stem>/``
    ``trajectory.png``, ``plot.png``, ``plot-likelihood.png`` and ``hist.png``
    (``..._filtered.png`` with ``filtered``); see :func:`plot_poses`. Videos not
    analyzed are skipped with a warning. Returns the folders written.
    """

    project = Project(config)
    folders = []
    found = pose_files(project, videos, videotype, shuffle, trainingsetindex, filtered, destfolder)
    for video, h5 in found:
        folder = Project.plot_poses_folder(video, destfolder)
        plot_poses_file(config, h5, folder, video, displayedbodyparts, showfigures)
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
    analysis crop. ``save_frames`` also keeps every labeled frame as a PNG.
    """

    save_frames: bool = False
    draw_skeleton: bool = False
    trailpoints: int = 0
    keypoints_only: bool = False
    displayedbodyparts: str | Sequence[str] = "all"
    displaycropped: bool = False
    confidence_to_alpha: bool | Callable[[float], float] = False
    outputframerate: float | None = None

    CONFIG_KEYS = ("draw_skeleton", "trailpoints", "keypoints_only", "confidence_to_alpha")
    WORKFLOW_KEYS = ("filtered",)
    CONFIG_DEFAULTS = {"draw_skeleton": True}  # noqa: RUF012 (read only)

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in ("save_frames", "draw_skeleton", "keypoints_only", "displaycropped"):
            check_bool(owner, name, getattr(self, name))
        check_int(owner, "trailpoints", self.trailpoints)
        if not isinstance(self.displayedbodyparts, str):
            self._set("displayedbodyparts", tuple(str(b) for b in self.displayedbodyparts))
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

    ``output`` defaults to ``<data stem>_labeled.mp4`` beside the pose file. Coordinates
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
    out = Path(output) if output is not None else Project.derived_output(h5, "_labeled.mp4")
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
    keep = np.array([bp in shown for _, bp in keys])
    names = list(dict.fromkeys(bp for _, bp in keys))
    palette = colors_bgr(len(names), str(cfg.get("colormap") or "rainbow"))
    colors = [palette[names.index(bp)] for _, bp in keys]
    skeleton = (cfg.get("skeleton") or []) if opts.draw_skeleton else []
    bones = [(a, b) for a, b in KeypointLayout(keys, xy).bones(skeleton) if keep[a] and keep[b]]
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
    """
    opts = LabeledVideoOptions.gather(options, locals(), "create_labeled_video")
    project = Project(config)
    written = []
    found = pose_files(project, videos, videotype, shuffle, trainingsetindex, filtered, destfolder)
    for video, h5 in found:
        out = Project.derived_output(h5, "_labeled.mp4")
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
