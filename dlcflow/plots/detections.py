"""Multi-animal diagnostic videos: every detection before assembly, tracklets before
stitching (DLC 2.3's ``create_video_with_all_detections`` and
``create_video_from_pickled_tracks``).

* :func:`create_video_with_all_detections` / :func:`detections_video_file`: the
  ``_full.pickle``'s detections (every candidate of every body part) drawn on the video,
  ``<destfolder or video folder>/<video stem><scorer>_full.mp4``. As DLC: discs of radius
  ``dotsize`` px, one colour per displayed body part from the config's ``colormap``,
  detections with confidence under the config's ``pcutoff`` left out, opaque (or, with
  ``confidence_to_alpha``, opacity = the confidence or the function of it); coordinates of
  a cropped analysis (``cropping``, else the ``_meta.pickle``) shifted into the frame.
* :func:`create_video_from_pickled_tracks` / :func:`tracklets_video_file`: the tracklets
  of a tracker (``_el.pickle``, ``_bx.pickle``, ``_sk.pickle``) drawn one colour per
  tracklet (DLC: random colours; dlcflow: the ``rainbow`` colormap over the tracklet ids,
  the unique body parts' ``single`` tracklet included, which DLC skips), points with
  likelihood over ``pcutoff``. DLC's name: ``<destfolder>/<video stem>DLClabeled<video
  extension>``, ``destfolder`` by default the video's path without its extension. DLC
  renders PNG frames with matplotlib into that folder and joins them with ffmpeg at 30 fps;
  dlcflow streams the frames through OpenCV (no PNGs) at the video's frame rate.

Both write the video atomically (temp file, then rename: never half written), as many
frames as the source and its size. A pickle of another kind, or a video whose frame count
or size does not fit the pickle, is refused with one line naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlcflow.core.draw import Color, colors_bgr, draw_points
from dlcflow.core.log import log
from dlcflow.core.video import VideoInfo, VideoReader, VideoWriter, video_info
from dlcflow.core.videofiles import find_videos
from dlcflow.inference.batches import count_frames
from dlcflow.io.fullpickle import FULL_SUFFIX, FullPickle, frame_index, read_full_pickle
from dlcflow.io.poses import analysis_crop, read_meta
from dlcflow.io.tracklets import read_tracklets
from dlcflow.plots.poses import confidence_alpha
from dlcflow.project.models import model_snapshots
from dlcflow.project.paths import Project

__all__ = [
    "DOT_MARGIN",
    "TRACKLET_DOT_RADIUS",
    "create_video_from_pickled_tracks",
    "create_video_with_all_detections",
    "detections_video_file",
    "full_video_output",
    "tracklets_video_file",
    "tracklets_video_output",
]

#: How far (px) points may lie outside the frame before the video is taken not to be the
#: pickle's (location refinement can push a detection a little past the border).
DOT_MARGIN = 16.0
#: Radius (px) of a tracklet's points (DLC: matplotlib's ``"."`` marker).
TRACKLET_DOT_RADIUS = 4.0
_Videos = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
_Alpha = bool | Callable[[float], float]


def full_video_output(full_pickle: str | os.PathLike[str]) -> Path:
    """DLC's video of a ``<stem><scorer>_full.pickle``: ``<stem><scorer>_full.mp4`` beside it."""
    p = Path(full_pickle)
    if not p.name.endswith(FULL_SUFFIX):
        raise ValueError(f"{p}: not a <video><scorer>_full.pickle")
    return p.with_name(p.name[: -len(FULL_SUFFIX)] + "_full.mp4")


def tracklets_video_output(
    video: str | os.PathLike[str],
    destfolder: str | os.PathLike[str] = "",
    output_name: str = "",
) -> Path:
    """DLC's tracklet video: ``<destfolder>/<output_name>``; ``destfolder`` by default the
    video's path without extension, ``output_name`` ``<video stem>DLClabeled<extension>``."""
    v = Path(video)
    folder = Path(destfolder) if destfolder else v.with_suffix("")
    return folder / (output_name or f"{v.stem}DLClabeled{v.suffix}")


def _check_fits(where: Path, info: VideoInfo, xy: np.ndarray, nframes: int) -> None:
    """ValueError (one line) when the video is not the one the pickle ``where`` was made
    of: another frame count (the header's, else the frames counted as ``robust_nframes``
    analyses count them), or points beyond its frame."""
    if nframes != info.nframes and nframes != count_frames(info.path):
        raise ValueError(
            f"{where}: holds {nframes} frames, but the video {info.path} has {info.nframes}"
        )
    xy = xy[np.isfinite(xy).all(axis=1)]
    if len(xy) == 0:
        return
    x, y = xy.max(axis=0)
    if x > info.width + DOT_MARGIN or y > info.height + DOT_MARGIN:
        raise ValueError(
            f"{where}: points reach x={x:.0f}, y={y:.0f}, outside the "
            f"{info.width}x{info.height} frames of the video {info.path}"
        )


def _dots(
    frame: np.ndarray, xy: np.ndarray, colors: Sequence[Color], radius: float, alpha: float
) -> None:
    """Discs of ``radius`` px at ``xy`` ((k, 2)), each drawn on the small patch of the frame
    around it (:func:`dlcflow.core.draw.draw_points` scans the mask it is given; a
    whole-frame mask per disc would cost a frame's worth of work per detection)."""
    height, width = frame.shape[:2]
    pad = int(np.ceil(radius)) + 2
    for (x, y), color in zip(np.asarray(xy, float), colors, strict=True):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        x0, y0 = max(0, int(x) - pad), max(0, int(y) - pad)
        x1, y1 = min(width, int(x) + pad + 1), min(height, int(y) + pad + 1)
        if x1 <= x0 or y1 <= y0:
            continue
        patch = frame[y0:y1, x0:x1]
        draw_points(patch, np.array([[x - x0, y - y0]]), [color], "o", 2 * radius, alpha, 1)


def _stream(
    video: Path,
    out: Path,
    info: VideoInfo,
    draw: Callable[[np.ndarray, int], None],
    label: str,
) -> int:
    """Copy ``video`` to ``out`` (atomically) with ``draw(frame, index)`` applied to every
    frame; undecodable frames become black to keep the frame count. Returns the count."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with VideoReader(video) as reader, VideoWriter(out, info.fps, reader.frame_size) as writer:
        width, height = reader.frame_size
        expected = 0
        for index, frame in reader.frames(progress=f"{video.name} {label}"):
            while expected < index:
                writer.write(np.zeros((height, width, 3), np.uint8))
                expected += 1
            draw(frame, index)
            writer.write(frame)
            expected = index + 1
        return writer.frames_written


# -- every detection -----------------------------------------------------------------------
def _detections(
    full: FullPickle, where: Path, parts: list[int], pcutoff: float
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per frame: (xy (k, 2), body-part index (k,), confidence (k,)) of the detections of
    the body parts ``parts`` with confidence >= ``pcutoff`` (DLC keeps ``>=``)."""
    out = {}
    for index, frame in full.frames.items():
        xys, labels, confs = [], [], []
        coords, conf = frame["coordinates"][0], frame["confidence"]
        if len(coords) != len(conf):
            raise ValueError(f"{where}: frame {index}: coordinates and confidence differ in length")
        for part, (c, p) in enumerate(zip(coords, conf, strict=True)):
            if part not in parts:
                continue
            c = np.asarray(c, float).reshape(-1, 2)
            p = np.asarray(p, float).reshape(-1)
            keep = p >= pcutoff
            xys.append(c[keep])
            labels.append(np.full(int(keep.sum()), part))
            confs.append(p[keep])
        if xys:
            out[index] = (np.concatenate(xys), np.concatenate(labels), np.concatenate(confs))
    return out


def _displayed(names: list[str], displayed: str | Sequence[str], where: Path) -> list[int]:
    """Indices of the displayed body parts among the pickle's ``all_joints_names``."""
    if isinstance(displayed, str) and displayed == "all":
        return list(range(len(names)))
    wanted = [displayed] if isinstance(displayed, str) else [str(b) for b in displayed]
    unknown = [b for b in wanted if b not in names]
    if unknown:
        raise ValueError(
            f"{where}: body part(s) {', '.join(unknown)} not detected "
            f"(body parts: {', '.join(names)})"
        )
    return [i for i, name in enumerate(names) if name in wanted]


def detections_video_file(
    config: str | os.PathLike[str],
    video: str | os.PathLike[str],
    full_pickle: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    displayedbodyparts: str | Sequence[str] = "all",
    cropping: Sequence[int] | None = None,
    confidence_to_alpha: _Alpha = False,
) -> Path:
    """Draw every detection of one ``_full.pickle`` on its video (the ``detection_videos``
    rule); ``output`` defaults to :func:`full_video_output`. See the module docstring for
    what is drawn. Returns the video path."""
    project = Project(config)
    cfg = project.cfg
    where, video = Path(full_pickle), Path(video)
    out = Path(output) if output is not None else full_video_output(where)
    full = read_full_pickle(where)
    names = [str(n) for n in full.metadata["all_joints_names"]]
    parts = _displayed(names, displayedbodyparts, where)
    pcutoff = project.pcutoff
    dets = _detections(full, where, parts, pcutoff)
    x1 = y1 = 0
    if cropping is not None:
        x1, _, y1, _ = (int(v) for v in cropping)
    else:
        crop = analysis_crop(read_meta(where.with_name(where.name[: -len(FULL_SUFFIX)] + ".h5")))
        if crop is not None:
            x1, y1 = crop[0], crop[2]
    for xy, _, _ in dets.values():
        xy += (x1, y1)
    info = video_info(video)
    every = [xy for xy, _, _ in dets.values()]
    _check_fits(where, info, np.concatenate(every) if every else np.zeros((0, 2)), full.nframes)
    palette = colors_bgr(len(parts), str(cfg.get("colormap") or "rainbow"))
    color_of = {part: palette[k] for k, part in enumerate(parts)}
    radius = max(1.0, float(cfg.get("dotsize", 12)))
    to_alpha = confidence_alpha(0.0) if confidence_to_alpha is True else confidence_to_alpha

    def draw(frame: np.ndarray, index: int) -> None:
        if index not in dets:
            return
        xy, labels, conf = dets[index]
        colors = [color_of[int(part)] for part in labels]
        if not callable(to_alpha):
            _dots(frame, xy, colors, radius, 1.0)
            return
        for k in range(len(xy)):
            alpha = float(to_alpha(float(conf[k])))
            if alpha > 0:
                _dots(frame, xy[k : k + 1], [colors[k]], radius, alpha)

    count = _stream(video, out, info, draw, "detections")
    missing = full.nframes - len(full.frames)
    note = f"; {missing} frames without detections" if missing else ""
    log(f"Detections video {out} ({count} frames{note})")
    return out


def _scorer(project: Project, shuffle: int, trainingsetindex: int, modelprefix: str) -> str | None:
    """The scorer of the config's snapshot of the model (None when there is no model)."""
    try:
        _, models = model_snapshots(
            project, shuffle, trainingsetindex, None, modelprefix, allow_all=False
        )
    except (FileNotFoundError, IndexError, ValueError):
        return None
    return models[-1].scorer


def _full_pickle(video: Path, scorer: str | None, folder: Path) -> Path:
    """The video's ``_full.pickle`` of ``scorer``; without a model the one there is."""
    if scorer is not None:
        return folder / f"{video.stem}{scorer}{FULL_SUFFIX}"
    found = sorted(folder.glob(f"{video.stem}DLC*{FULL_SUFFIX}")) if folder.is_dir() else []
    if len(found) != 1:
        what = "no" if not found else f"{len(found)} (choose the model)"
        raise FileNotFoundError(f"{folder}: {what} {video.stem}DLC*{FULL_SUFFIX} of {video}")
    return found[0]


def create_video_with_all_detections(
    config: str | os.PathLike[str],
    videos: _Videos,
    videotype: str = "",
    shuffle: int = 1,
    trainingsetindex: int = 0,
    displayedbodyparts: str | Sequence[str] = "all",
    cropping: Sequence[int] | None = None,
    destfolder: str | os.PathLike[str] | None = None,
    modelprefix: str = "",
    confidence_to_alpha: _Alpha = False,
) -> list[Path]:
    """Every detection of each video's ``<stem><scorer>_full.pickle`` drawn on the video,
    ``<destfolder or video folder>/<stem><scorer>_full.mp4`` (DLC's function of this name;
    see the module docstring). The scorer is the model's (``shuffle``,
    ``trainingsetindex``, ``modelprefix``, the config's ``snapshotindex``); without that
    model, the video's one ``_full.pickle``. ``cropping`` ``[x1, x2, y1, y2]`` shifts the
    detections (default: the analysis's crop). A video whose ``_full.mp4`` exists is
    skipped, as DLC does. Returns the videos (written or found)."""
    project = Project(config)
    if not project.multianimal:
        raise ValueError(f"{project.config_path}: not a multi-animal project (multianimalproject)")
    scorer = _scorer(project, shuffle, trainingsetindex, modelprefix)
    found = find_videos(videos, videotype)
    written = []
    for video in found:
        folder = Path(destfolder) if destfolder is not None else video.parent
        full = _full_pickle(video, scorer, folder)
        out = full_video_output(full)
        if out.is_file():
            log(f"Detections already plotted, {out}")
        else:
            detections_video_file(
                config, video, full, out, displayedbodyparts, cropping, confidence_to_alpha
            )
        written.append(out)
    return written


# -- tracklets -----------------------------------------------------------------------------
def _tracklet_points(tracklets: dict[Any, Any], where: Path) -> list[dict[int, np.ndarray]]:
    """Each tracklet (ids in order, then ``single``) as {frame index: (k, 3) x, y, p}."""
    ids = sorted(k for k in tracklets if isinstance(k, int))
    keys: list[Any] = [*ids, "single"] if "single" in tracklets else ids
    out = []
    for key in keys:
        frames: dict[int, np.ndarray] = {}
        for frame, data in tracklets[key].items():
            index = int(frame) if not isinstance(frame, str) else frame_index(frame)
            arr = np.asarray(data, float)
            if arr.ndim != 2 or arr.shape[1] < 3:
                raise ValueError(f"{where}: tracklet {key}, frame {frame}: not (parts, x y p)")
            frames[index] = arr[:, :3]
        out.append(frames)
    return out


def tracklets_video_file(
    video: str | os.PathLike[str],
    pickle_file: str | os.PathLike[str],
    output: str | os.PathLike[str],
    pcutoff: float = 0.6,
) -> Path:
    """Draw the tracklets of one tracklet pickle on its video, one colour per tracklet,
    points with likelihood > ``pcutoff`` (the ``tracklet_videos`` rule). Returns ``output``."""
    where, video, out = Path(pickle_file), Path(video), Path(output)
    tracks = _tracklet_points(read_tracklets(where), where)
    info = video_info(video)
    shown: list[dict[int, np.ndarray]] = []
    for frames in tracks:
        with np.errstate(invalid="ignore"):
            kept = {i: a[a[:, 2] > pcutoff, :2] for i, a in frames.items()}
        shown.append({i: xy for i, xy in kept.items() if len(xy)})
    last = max((max(t) for t in shown if t), default=-1)
    if last >= info.nframes:
        raise ValueError(
            f"{where}: has points in frame {last}, but the video {video} has {info.nframes} frames"
        )
    every = [xy for t in shown for xy in t.values()]
    _check_fits(where, info, np.concatenate(every) if every else np.zeros((0, 2)), info.nframes)
    palette = colors_bgr(len(shown), "rainbow")[: len(shown)]

    def draw(frame: np.ndarray, index: int) -> None:
        for color, frames in zip(palette, shown, strict=True):
            xy = frames.get(index)
            if xy is not None:
                _dots(frame, xy, [color] * len(xy), TRACKLET_DOT_RADIUS, 1.0)

    count = _stream(video, out, info, draw, "tracklets")
    log(f"Tracklets video {out} ({count} frames, {len(shown)} tracklets)")
    return out


def create_video_from_pickled_tracks(
    video: str | os.PathLike[str],
    pickle_file: str | os.PathLike[str],
    destfolder: str | os.PathLike[str] = "",
    output_name: str = "",
    pcutoff: float = 0.6,
) -> Path:
    """The tracklets of ``pickle_file`` (``_el.pickle``, ``_bx.pickle``, ``_sk.pickle``)
    drawn on ``video`` (DLC's function of this name): ``<destfolder>/<output_name>``, by
    default ``<video path without extension>/<video stem>DLClabeled<extension>``
    (:func:`tracklets_video_output`). Returns the video path."""
    out = tracklets_video_output(video, destfolder, output_name)
    return tracklets_video_file(video, pickle_file, out, pcutoff)
