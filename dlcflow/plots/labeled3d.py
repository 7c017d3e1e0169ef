"""The labeled 3D video: each camera's frames with its 2D points and skeleton, beside a 3D
view of the triangulated points (DLC 2.3's ``create_labeled_video_3d``).

:func:`render_labeled_video_3d` streams: it reads one frame of every view at a time,
draws the 2D points with :mod:`dlcflow.core.draw` (alpha-blended discs, skeleton lines
under them), renders the 3D panel with one matplotlib figure (Agg, no display) whose
axes are drawn once and whose point and line artists alone are redrawn each frame
(blitting), and writes the row of panels with :class:`dlcflow.core.video.VideoWriter`
(a temp file renamed into place when complete). No frame is kept after it is written.

The panels share one height, the tallest view's (shorter views are scaled up); the 3D
panel is square by default. 2D points are drawn where their likelihood is at least
``pcutoff`` (DLC's rule), 3D points where the 3D file has them (triangulation already
dropped the points under ``pcutoff``); missing points are simply not drawn. Colours come
from ``colormap`` as DLC picks them, one per body part, or per individual for
multi-animal 3D files (``color_by``). ``dotsize`` is DLC's: the marker area in points²
of matplotlib's ``scatter`` (the 3D panel's figure is 4 inches tall), and the 2D discs
are drawn the same size in pixels.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Line3DCollection

from dlcflow.core.draw import PlotError, draw_points, draw_segments, get_cmap, to_bgr
from dlcflow.core.log import log
from dlcflow.core.video import VideoReader, VideoWriter, video_info
from dlcflow.data.pose import ONE_INDIVIDUAL, point_keys, points_array
from dlcflow.io.poses import analysis_crop, read_meta, read_poses
from dlcflow.io.poses3d import load_poses_3d
from dlcflow.io.tables import to_dataset
from dlcflow.plots.individuals import COLOR_BY
from dlcflow.plots.labels import KeypointLayout

__all__ = ["DEFAULT_VIEW", "axis_limits", "render_labeled_video_3d"]

#: DLC's default ``view`` (elevation, azimuth) of the 3D panel, in degrees.
DEFAULT_VIEW = (-113.0, -270.0)
#: The 3D panel's figure height in inches (its dpi follows the panel's pixel height).
_FIGURE_INCHES = 4.0
#: Auto limits: the points between these percentiles, plus this margin, in a cube.
_PERCENTILES = (1.0, 99.0)
_MARGIN = 1.1
#: Seconds between progress lines.
_PROGRESS_EVERY = 10.0

Limits = tuple[float, float]
PathLike = str | os.PathLike[str]


# -- data ---------------------------------------------------------------------------------
def axis_limits(
    xyz: np.ndarray,
    xlim: Limits | None = None,
    ylim: Limits | None = None,
    zlim: Limits | None = None,
) -> tuple[Limits, Limits, Limits]:
    """The 3D axes' limits: the given ones, the others from ``xyz`` ``(..., 3)``: the
    points between the 1st and 99th percentile of each axis, widened by 10 %, with the
    same span on every axis (equal scale: a cube, as DLC makes it); NaN points are left
    out, and no points at all give (-1, 1)."""
    pts = np.asarray(xyz, float).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    mid, half = np.zeros(3), 1.0
    if len(pts):
        lo, hi = np.percentile(pts, _PERCENTILES, axis=0)
        mid = (lo + hi) / 2
        half = float((hi - lo).max()) / 2 * _MARGIN or 1.0  # one point: a unit cube
    given = (xlim, ylim, zlim)
    out = []
    for axis in range(3):
        if given[axis] is not None:
            a, b = (float(v) for v in given[axis])  # type: ignore[union-attr]
            if not (np.isfinite([a, b]).all() and a < b):
                raise PlotError(f"{'xyz'[axis]}lim {given[axis]} must be two increasing numbers")
            out.append((a, b))
        else:
            out.append((float(mid[axis] - half), float(mid[axis] + half)))
    return out[0], out[1], out[2]


def _view_points(
    h5: Path, keys: Sequence[tuple[str, str]], pcutoff: float
) -> tuple[np.ndarray, int]:
    """One view's 2D points of the 3D file's ``keys`` ``(rows, keys, 2)``, NaN where the
    likelihood is under ``pcutoff`` or the point is absent; moved into the whole frame
    when the analysis was cropped. Also the number of rows."""
    ds = to_dataset(read_poses(h5))
    multi = bool(ds.attrs["multianimal"])
    single_3d = all(ind == ONE_INDIVIDUAL for ind, _ in keys)
    wanted = [(ind if multi or not single_3d else ONE_INDIVIDUAL, bp) for ind, bp in keys]
    xy = points_array(ds, wanted)
    likelihood = points_array(ds, wanted, "confidence")
    with np.errstate(invalid="ignore"):
        xy[~(likelihood >= pcutoff)] = np.nan
    crop = analysis_crop(read_meta(h5))
    if crop is not None:
        xy[..., 0] += crop[0]
        xy[..., 1] += crop[2]
    return xy, len(ds["time"])


def _colors(keys: Sequence[tuple[str, str]], colormap: str, color_by: str) -> np.ndarray:
    """One RGBA colour (floats) per key, by body part or by individual."""
    level = COLOR_BY.index(color_by)  # 0: bodypart, 1: individual
    names = list(dict.fromkeys(k[1 - level] for k in keys))
    palette = get_cmap(len(names), colormap)
    return np.array([palette[names.index(k[1 - level])] for k in keys]).reshape(-1, 4)


def _bgr(rgba: np.ndarray) -> list[tuple[int, int, int]]:
    return [(int(round(255 * b)), int(round(255 * g)), int(round(255 * r))) for r, g, b, _ in rgba]


# -- the 3D panel -------------------------------------------------------------------------
class Panel3D:
    """One matplotlib figure for every frame: the axes drawn once and kept as a bitmap,
    the points (trail and current) and skeleton drawn over it each frame."""

    def __init__(
        self,
        size: tuple[int, int],
        limits: tuple[Limits, Limits, Limits],
        view: tuple[float, float],
        dotsize: float,
        skeleton_color: str,
        linewidth: float,
    ) -> None:
        width, height = size
        self.size = size
        dpi = height / _FIGURE_INCHES
        self.fig = Figure(figsize=(width / dpi, _FIGURE_INCHES), dpi=dpi, facecolor="white")
        self.canvas = FigureCanvasAgg(self.fig)
        ax = self.fig.add_subplot(projection="3d")
        ax.set_position((0.0, 0.0, 1.0, 1.0))
        ax.set_xlim3d(limits[0])
        ax.set_ylim3d(limits[1])
        ax.set_zlim3d(limits[2])
        ax.set_box_aspect((1, 1, 1), zoom=0.85)
        ax.view_init(float(view[0]), float(view[1]))
        for axis, name in zip((ax.xaxis, ax.yaxis, ax.zaxis), "XYZ", strict=True):
            axis.set_ticklabels([])
            axis.set_label_text(name, fontsize=8)
        self.ax = ax
        self.points = ax.scatter([], [], [], s=float(dotsize), depthshade=False, animated=True)
        self.points.set_linewidths(0)
        self.bones = Line3DCollection(
            np.zeros((0, 2, 3)), colors=skeleton_color, linewidths=linewidth, animated=True
        )
        ax.add_collection(self.bones)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)

    def render(self, points: np.ndarray, colors: np.ndarray, segments: np.ndarray) -> np.ndarray:
        """The panel with ``points`` ``(n, 3)`` in ``colors`` ``(n, 4)`` and ``segments``
        ``(m, 2, 3)`` (NaN ones left out), as a BGR image of the panel's size."""
        shown = np.isfinite(points).all(axis=1)
        pts, cols = points[shown], colors[shown]
        self.canvas.restore_region(self.background)
        segs = segments[np.isfinite(segments).all(axis=(1, 2))] if len(segments) else segments
        self.bones.set_segments(list(segs))
        self.points.set_offsets(pts[:, :2] if len(pts) else np.zeros((0, 2)))
        self.points.set_3d_properties(pts[:, 2] if len(pts) else np.zeros(0), "z")
        self.points.set_facecolors(cols if len(cols) else np.zeros((0, 4)))
        if len(segs):
            self.bones.do_3d_projection()
            self.ax.draw_artist(self.bones)
        if len(pts):
            self.points.do_3d_projection()
            self.ax.draw_artist(self.points)
        rgba = np.asarray(self.canvas.buffer_rgba())
        img = cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)
        width, height = self.size
        if img.shape[:2] != (height, width):  # rounding of inches x dpi
            img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
        return img


# -- frames -------------------------------------------------------------------------------
def _frames(reader: VideoReader, start: int, stop: int) -> Iterator[np.ndarray]:
    """Every frame of ``[start, stop)`` in order; black for frames that cannot be read
    (the reader warns), so that the views stay in step."""
    width, height = reader.frame_size
    expected = start
    for index, frame in reader.frames(start, stop):
        while expected < index:
            yield np.zeros((height, width, 3), np.uint8)
            expected += 1
        yield frame
        expected = index + 1
    while expected < stop:
        yield np.zeros((height, width, 3), np.uint8)
        expected += 1


def _check_range(start: int, end: int | None, available: int, what: Path) -> tuple[int, int]:
    start = int(start)
    stop = available if end is None else min(int(end), available)
    if start < 0 or start >= stop:
        raise PlotError(
            f"{what}: no frames to draw from start {start} to end {end} "
            f"({available} frames with 3D poses and video)"
        )
    return start, stop


def render_labeled_video_3d(
    videos: Sequence[PathLike],
    poses_2d: Sequence[PathLike],
    poses_3d: PathLike,
    out: PathLike,
    skeleton: Sequence[Sequence[str]] = (),
    pcutoff: float = 0.4,
    start: int = 0,
    end: int | None = None,
    trailpoints: int = 0,
    view: Sequence[float] = DEFAULT_VIEW,
    xlim: Limits | None = None,
    ylim: Limits | None = None,
    zlim: Limits | None = None,
    draw_skeleton: bool = True,
    colormap: str = "jet",
    dotsize: float = 15.0,
    skeleton_color: str = "black",
    alphavalue: float = 0.8,
    color_by: str | None = None,
    bodyparts: Sequence[str] | None = None,
    fps: float | None = None,
    panel_width: int | None = None,
) -> Path:
    """Write ``out`` (mp4): for frames ``start`` to ``end`` (exclusive; None: the last),
    each camera's frame (``videos``, one per camera, with the 2D poses ``poses_2d`` of the
    same order) and a 3D view of ``poses_3d`` (a ``_DLC_3D.h5``), side by side.

    ``skeleton``: pairs of body parts joined by lines (within each individual) when
    ``draw_skeleton``. ``trailpoints``: the points of that many previous frames too
    (fainter; before ``start`` too, as DLC draws them).
    ``view``: (elevation, azimuth) of the 3D view, DLC's (-113, -270) by default;
    ``xlim``/``ylim``/``zlim``: the 3D axes' limits (None: :func:`axis_limits` of the
    frames drawn). ``color_by``: ``"bodypart"`` or ``"individual"`` (None: individuals
    for multi-animal 3D files, body parts otherwise). ``bodyparts``: those drawn (None:
    all of the 3D file). ``fps``: the first video's by default. ``panel_width``: the 3D
    panel's width in pixels (default: square). Frames are drawn only where the 3D file,
    every 2D file and every video have them: shorter ones cut the video with a warning.
    Returns ``out``.
    """
    out = Path(out)
    h5_3d = Path(poses_3d)
    if len(videos) != len(poses_2d) or not videos:
        raise PlotError(
            f"{h5_3d}: {len(videos)} videos and {len(poses_2d)} 2D pose files "
            "(one of each per camera)"
        )
    color_by = color_by or None
    if color_by is not None and color_by not in COLOR_BY:
        raise PlotError(f"color_by must be 'bodypart' or 'individual', not {color_by!r}")
    if len(view) != 2:
        raise PlotError(f"view must be (elevation, azimuth), not {view!r}")
    if int(trailpoints) < 0:
        raise PlotError(f"trailpoints must be 0 or more, not {trailpoints}")
    if not 0 <= float(alphavalue) <= 1:
        raise PlotError(f"alphavalue must be between 0 and 1, not {alphavalue}")
    ds3 = load_poses_3d(h5_3d)
    multi = bool(ds3.attrs["multianimal"])
    keys = point_keys(ds3)
    if bodyparts is not None:
        present = list(dict.fromkeys(bp for _, bp in keys))
        unknown = [b for b in bodyparts if b not in present]
        if unknown:
            raise PlotError(
                f"{h5_3d}: body part(s) {', '.join(unknown)} not in the 3D poses "
                f"(body parts: {', '.join(present)})"
            )
        keys = [k for k in keys if k[1] in set(bodyparts)]
    color_by = color_by or ("individual" if multi else "bodypart")
    if color_by == "individual" and not multi:
        raise PlotError(f"{h5_3d}: color_by='individual' needs multi-animal 3D poses")
    xyz = points_array(ds3, keys)  # (T, K, 3)
    available = len(xyz)
    views_xy: list[np.ndarray] = []
    for h5 in poses_2d:
        xy, rows = _view_points(Path(h5), keys, pcutoff)
        if rows < len(xyz):
            warnings.warn(
                f"{h5}: {rows} frames of 2D poses but {len(xyz)} of 3D poses in "
                f"{h5_3d.name}; drawing the first {rows}",
                stacklevel=2,
            )
        available = min(available, rows)
        views_xy.append(xy)
    infos = [video_info(v) for v in videos]
    for info in infos:
        if info.nframes < available:
            warnings.warn(
                f"{info.path}: {info.nframes} video frames but {available} frames of poses; "
                f"drawing the first {info.nframes}",
                stacklevel=2,
            )
            available = info.nframes
    start, stop = _check_range(start, end, available, h5_3d)

    height = max(info.height for info in infos)
    scales = [height / info.height for info in infos]
    widths = [max(1, round(info.width * s)) for info, s in zip(infos, scales, strict=True)]
    side = int(panel_width) if panel_width else height
    if side <= 0:
        raise PlotError(f"panel_width {panel_width} must be positive")
    side += (sum(widths) + side) % 2  # mp4 frames of even width and height (FFmpeg's
    full = height + height % 2  # mpeg4 would cut the odd column or row off)
    total = sum(widths) + side
    dpi = height / _FIGURE_INCHES
    diameter = max(3.0, float(np.sqrt(max(float(dotsize), 0.0))) * dpi / 72.0)
    thickness = max(1, round(height / 240))
    rgba = _colors(keys, colormap, color_by)
    rgba[:, 3] = alphavalue
    bgr = _bgr(rgba)
    bones = KeypointLayout(list(keys), xyz).bones(skeleton) if draw_skeleton else []
    ends = np.array(bones, int).reshape(-1, 2)
    bone_bgr = to_bgr(skeleton_color)
    trail_rgba = rgba.copy()
    trail_rgba[:, 3] = 0.75 * alphavalue
    limits = axis_limits(xyz[start:stop], xlim, ylim, zlim)
    panel = Panel3D((side, full), limits, (view[0], view[1]), dotsize, skeleton_color, thickness)
    for i, s in enumerate(scales):  # into the scaled panel's pixels (centres stay put)
        if s != 1:
            views_xy[i] = (views_xy[i] + 0.5) * s - 0.5
    rate = float(fps) if fps else infos[0].fps
    n = stop - start
    log(
        f"Labeled 3D video {out.name}: frames {start}-{stop - 1} of {h5_3d.name} and "
        f"{len(videos)} views, {total}x{full}"
    )
    readers = [VideoReader(v) for v in videos]
    try:
        with VideoWriter(out, rate, (total, full)) as writer:
            canvas = np.zeros((full, total, 3), np.uint8)
            t_last = time.monotonic()
            streams = [_frames(r, start, stop) for r in readers]
            for k, frames in zip(range(start, stop), zip(*streams, strict=True), strict=True):
                first = max(0, k - int(trailpoints))  # DLC's: trails reach before start
                x0 = 0
                for i, frame in enumerate(frames):
                    img = frame
                    if img.shape[:2] != (height, widths[i]):
                        img = cv2.resize(img, (widths[i], height), interpolation=cv2.INTER_LINEAR)
                    xy = views_xy[i]
                    if k > first:
                        trail = xy[first:k].reshape(-1, 2)
                        draw_points(
                            img, trail, bgr * (k - first), "o", diameter, 0.75 * alphavalue, 1
                        )
                    if len(ends):
                        segments = [(tuple(xy[k, a]), tuple(xy[k, b])) for a, b in ends]
                        draw_segments(img, segments, bone_bgr, alphavalue, thickness)
                    draw_points(img, xy[k], bgr, "o", diameter, alphavalue, 1)
                    canvas[:height, x0 : x0 + widths[i]] = img
                    x0 += widths[i]
                pts = np.concatenate([xyz[first:k].reshape(-1, 3), xyz[k]])
                cols = np.concatenate([np.tile(trail_rgba, (k - first, 1)), rgba])
                segs = np.stack([xyz[k][ends[:, 0]], xyz[k][ends[:, 1]]], axis=1)
                canvas[:, x0:] = panel.render(pts, cols, segs)
                writer.write(canvas)
                now = time.monotonic()
                if now - t_last >= _PROGRESS_EVERY:
                    log(f"{out.name}: frame {k - start + 1}/{n}")
                    t_last = now
            count = writer.frames_written
    finally:
        for reader in readers:
            reader.close()
    log(f"Labeled 3D video {out} ({count} frames)")
    return out
