"""DLC 2.3's ``create_labeled_video_3d`` on a 3D project's files, and the 3D trajectory
plot of each 3D output.

For each 3D output ``<recording>_<scorername_3d>.h5`` named by ``path`` (the files, or
the folders that hold them), the videos of its views are those of the recording's
cameras (:meth:`Project3D.recordings`) in ``videofolder`` or the 3D file's folder. Each
view's 2D poses are ``<video stem><scorer>.h5``, the scorer the one the 3D file's
``_meta.pickle`` names for that camera (``scorer_name``), beside the video or the 3D
file, the ``_filtered`` file first as DLC does; multi-animal 3D files take the tracks
(``<video stem><scorer>_el.h5``, or ``_bx``/``_sk``) first. Without a scorer the one
analysis ``<video stem>DLC*.h5`` found there is used. The video goes to
:meth:`Project3D.labeled_video_3d` (``<3D file stem>_labeled3d.mp4``), the plot to
:meth:`Project3D.trajectories_3d` (``<3D file stem>_trajectories3d.png``).
"""

from __future__ import annotations

import glob
import os
import pickle
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlcflow.core.log import log
from dlcflow.core.videofiles import list_videos
from dlcflow.io.poses3d import read_poses_3d
from dlcflow.plots import trajectories3d
from dlcflow.plots.labeled3d import DEFAULT_VIEW, Limits, render_labeled_video_3d
from dlcflow.project.paths import TRACKER_SUFFIXES
from dlcflow.project.posefiles import up_to_date
from dlcflow.project.project3d import Project3D, recording_name

__all__ = [
    "Labeled3DError",
    "create_labeled_video_3d",
    "plot_trajectories_3d",
    "pose_files_2d",
    "triangulated_files",
    "view_videos",
]

Paths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
#: File name endings of ``<video stem>DLC*.h5`` files that are not a view's poses.
_NOT_POSES = ("_skeleton.h5", "_quality.h5", "_groundtruth.h5")


class Labeled3DError(ValueError):
    """A 3D output whose views cannot be found; the one-line message names the file."""


def _items(path: Paths) -> list[Path]:
    return [Path(path)] if isinstance(path, str | os.PathLike) else [Path(p) for p in path]


def triangulated_files(project: Project3D, path: Paths) -> list[Path]:
    """The 3D outputs ``path`` names: files as given, and each folder's
    ``*_<scorername_3d>.h5`` (sorted); Labeled3DError for a path that does not exist or a
    folder without any."""
    ending = f"_{project.scorer_3d}.h5"
    found: list[Path] = []
    for item in _items(path):
        p = item.expanduser()
        if p.is_dir():
            inside = sorted(f for f in p.iterdir() if f.is_file() and f.name.endswith(ending))
            if not inside:
                raise Labeled3DError(f"{p}: no 3D pose files (*{ending}) in the folder")
            found += inside
        elif p.is_file():
            found.append(p)
        else:
            raise Labeled3DError(f"{p}: 3D pose file not found")
    return list(dict.fromkeys(found))


def _recording(project: Project3D, h5: Path) -> str:
    """The recording of a 3D output (its name less ``_<scorername_3d>[_filtered].h5``)."""
    for tail in (f"_{project.scorer_3d}.h5", f"_{project.scorer_3d}_filtered.h5"):
        if h5.name.endswith(tail) and len(h5.name) > len(tail):
            return h5.name[: -len(tail)]
    raise Labeled3DError(
        f"{h5}: not a 3D output of this project (its name should end with _{project.scorer_3d}.h5)"
    )


def view_videos(
    project: Project3D,
    h5: str | os.PathLike[str],
    videofolder: str | os.PathLike[str] | None = None,
    videotype: str = "",
) -> dict[str, Path]:
    """``{camera: video}`` of a 3D output's recording (``camera_names`` order), found in
    ``videofolder`` (default: the 3D file's folder) among the videos of type
    ``videotype`` (default: any); Labeled3DError naming the camera whose video is
    missing."""
    h5 = Path(h5)
    recording = _recording(project, h5)
    folder = Path(videofolder).expanduser() if videofolder is not None else h5.parent
    if not folder.is_dir():
        raise Labeled3DError(f"{h5}: video folder {folder} not found")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an empty folder is reported below, per camera
        videos = list_videos(folder, videotype)
    found = project.recordings(videos).get(recording)
    if found is not None:
        return found
    kind = f"{videotype.lstrip('.')} " if videotype else ""
    for camera in project.camera_names:
        if not any(recording_name(v.stem, camera) == recording for v in videos):
            raise Labeled3DError(
                f"{h5}: no {kind}video of camera '{camera}' for recording '{recording}' in {folder}"
            )
    raise Labeled3DError(f"{h5}: the videos of recording '{recording}' in {folder} are ambiguous")


def _meta_scorers(h5: Path) -> dict[str, str]:
    """``scorer_name`` of a 3D output's ``_meta.pickle`` ({} when there is none); DLC
    pickles the dict itself, ``{"data": ...}`` is read too."""
    path = Project3D.meta_3d(h5)
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            meta: Any = pickle.load(fh)
    except Exception as err:  # pickle raises many error types
        warnings.warn(
            f"{path}: unreadable metadata ({err}); looking for any 2D poses", stacklevel=3
        )
        return {}
    if isinstance(meta, dict) and "scorer_name" not in meta and isinstance(meta.get("data"), dict):
        meta = meta["data"]
    names = meta.get("scorer_name") if isinstance(meta, dict) else None
    return {str(k): str(v) for k, v in names.items()} if isinstance(names, dict) else {}


def _scorer_of(name: str, stem: str) -> str:
    """The scorer in a 2D pose file's name ``<stem><scorer>[_el][_filtered].h5``."""
    scorer = name[len(stem) : -len(".h5")].removesuffix("_filtered")
    for sfx in TRACKER_SUFFIXES.values():
        scorer = scorer.removesuffix(sfx)
    return scorer


def _candidates(stem: str, scorer: str, multianimal: bool) -> list[str]:
    """File names of a view's 2D poses, best first: filtered before raw (DLC's order),
    tracks before the plain analysis for multi-animal 3D files (after it otherwise)."""
    plain = [f"{stem}{scorer}"]
    tracks = [f"{stem}{scorer}{sfx}" for sfx in TRACKER_SUFFIXES.values()]
    names = tracks + plain if multianimal else plain + tracks
    return [f"{n}_filtered.h5" for n in names] + [f"{n}.h5" for n in names]


def pose_files_2d(
    h5: str | os.PathLike[str], videos: dict[str, Path], multianimal: bool = False
) -> list[Path]:
    """Each view's 2D pose file (in the order of ``videos``, ``{camera: video}``), see the
    module docstring; Labeled3DError naming the video whose poses are missing, or whose
    analyses are several with no scorer in the ``_meta.pickle`` to choose."""
    h5 = Path(h5)
    scorers = _meta_scorers(h5)
    found = []
    for camera, video in videos.items():
        folders = list(dict.fromkeys([video.parent, h5.parent]))
        where = " or ".join(str(f) for f in folders)
        scorer = scorers.get(camera)
        if not scorer:
            hits = [
                p
                for f in folders
                for p in sorted(f.glob(glob.escape(video.stem) + "DLC*.h5"))
                if not p.name.endswith(_NOT_POSES) and "_DLC_3D" not in p.name
            ]
            if not hits:
                raise Labeled3DError(
                    f"{h5}: no 2D poses of {video.name} ({video.stem}DLC*.h5) in {where}"
                )
            seen = sorted({_scorer_of(p.name, video.stem) for p in hits})
            if len(seen) > 1:
                raise Labeled3DError(
                    f"{h5}: several 2D analyses of {video.name} ({', '.join(seen)}) and no "
                    f"scorer_name in {Project3D.meta_3d(h5).name} to choose"
                )
            scorer = seen[0]
        names = _candidates(video.stem, scorer, multianimal)
        hit = next((f / n for n in names for f in folders if (f / n).is_file()), None)
        if hit is None:
            raise Labeled3DError(
                f"{h5}: no 2D poses of {video.name} ({video.stem}{scorer}.h5, the scorer of "
                f"camera '{camera}' in {Project3D.meta_3d(h5).name}) in {where}"
            )
        found.append(hit)
    return found


def create_labeled_video_3d(
    config: str | os.PathLike[str],
    path: Paths,
    videofolder: str | os.PathLike[str] | None = None,
    start: int = 0,
    end: int | None = None,
    trailpoints: int = 0,
    videotype: str = "",
    view: Sequence[float] = DEFAULT_VIEW,
    xlim: Limits | None = None,
    ylim: Limits | None = None,
    zlim: Limits | None = None,
    draw_skeleton: bool = True,
    color_by: str | None = None,
    fps: float | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """DLC's ``create_labeled_video_3d``: every view with its 2D points beside the 3D
    points, frames ``start`` to ``end`` (None: all), one mp4 per 3D output.

    ``path``: 3D outputs or folders of them; ``videofolder``: where the views' videos are
    (default: beside each 3D file), of type ``videotype`` (default: any). ``trailpoints``,
    ``view`` (elevation, azimuth in degrees; DLC's (-113, -270)), ``xlim``/``ylim``/
    ``zlim`` (None: from the data) and ``draw_skeleton`` are DLC's; the config gives
    ``pcutoff``, ``skeleton``, ``skeleton_color``, ``colormap``, ``dotsize`` and
    ``alphaValue``. ``color_by``: ``"bodypart"`` or ``"individual"`` (None: individuals
    for multi-animal 3D files, body parts otherwise); ``fps``: the first video's by
    default. A video newer than its 3D file is kept unless ``overwrite`` (DLC keeps any
    that exists). Returns the videos, ``<3D file stem>_labeled3d.mp4`` beside each 3D file.
    """
    project = Project3D(config)
    cfg = project.cfg
    written = []
    for h5 in triangulated_files(project, path):
        out = project.labeled_video_3d(h5)
        if not overwrite and up_to_date(out, h5):
            log(f"{h5.name}: labeled 3D video exists ({out.name}); overwrite=True redraws it")
            written.append(out)
            continue
        multi = "individuals" in read_poses_3d(h5).columns.names
        videos = view_videos(project, h5, videofolder, videotype)
        poses = pose_files_2d(h5, videos, multi)
        log(
            f"{h5.name}: views "
            + ", ".join(f"{v.name} ({p.name})" for v, p in zip(videos.values(), poses, strict=True))
        )
        render_labeled_video_3d(
            list(videos.values()),
            poses,
            h5,
            out,
            skeleton=project.skeleton,
            pcutoff=project.pcutoff,
            start=start,
            end=end,
            trailpoints=trailpoints,
            view=view,
            xlim=xlim,
            ylim=ylim,
            zlim=zlim,
            draw_skeleton=draw_skeleton,
            colormap=str(cfg["colormap"]),
            dotsize=float(cfg["dotsize"]),
            skeleton_color=str(cfg["skeleton_color"]),
            alphavalue=float(cfg["alphaValue"]),
            color_by=color_by,
            fps=fps,
        )
        written.append(out)
    return written


def plot_trajectories_3d(
    config: str | os.PathLike[str],
    path: Paths,
    bodyparts: Sequence[str] | None = None,
    view: Sequence[float] = DEFAULT_VIEW,
) -> list[Path]:
    """The 3D trajectory plot of each 3D output ``path`` names (files or folders):
    ``<3D file stem>_trajectories3d.png`` beside it, in the config's ``colormap``
    (:func:`dlcflow.plots.trajectories3d.plot_trajectories_3d`). Returns the PNGs."""
    project = Project3D(config)
    colormap = str(project.cfg["colormap"])
    return [
        trajectories3d.plot_trajectories_3d(
            h5, project.trajectories_3d(h5), bodyparts, colormap=colormap, view=view
        )
        for h5 in triangulated_files(project, path)
    ]
