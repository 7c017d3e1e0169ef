"""DLC 2.3's ``triangulate``: the 2D poses of every camera of a recording → 3D poses.

:func:`triangulate` finds the videos of each recording by the camera names in their file
names (:meth:`Project3D.recordings`), takes each video's pose file of its camera's 2D
project (analyzing the video first when it has none, filtering when asked) and calls
:func:`triangulate_files`, which a user with 2D pose files of their own calls directly.

The rig is the project's ``camera_matrix/calibration.toml`` (Anipose's, any number of
cameras) when it exists, else DLC's ``stereo_params.pickle`` (two cameras). Points whose
likelihood is under the 3D config's ``pcutoff`` are not used (the coordinates of a cropped
analysis are moved back to the whole frame first); a point seen by fewer than
two cameras is NaN. Points are triangulated by DLT over all cameras that see them
(:func:`dlcflow.geometry.triangulate.triangulate_points`), with ``ransac`` over camera
subsets and ``optimize`` (temporal smoothness and the skeleton's limb lengths, see
:mod:`dlcflow.geometry.optimize`). Coordinates are in the calibration's units (mm when the
board's squares were given in mm) and in its world frame; with DLC's stereo pickle they
are in DLC's frame (camera 1 rectified), as DLC's own ``triangulate`` gives them.

Outputs, written only when every input is good (the h5 last):
``<destfolder>/<recording>_<scorername_3d>.h5`` (DLC's layout, :mod:`dlcflow.io.poses3d`;
multi-animal: the individuals of the first view, the others matched to them by epipolar
cost), the csv when asked, DLC's ``_meta.pickle`` (``stereo_matrix``, ``stereo_matrix_file``,
``scorer_name``) and the quality sidecar ``<output>_quality.h5`` (same rows, columns
``[individuals,] bodyparts × (error, ncams)``: mean reprojection error in px over the
cameras used and their number). Bad input raises :class:`TriangulationError`.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from dlcflow.core.fileio import atomic_path
from dlcflow.core.log import log
from dlcflow.core.video import VideoError, video_info
from dlcflow.core.videofiles import list_videos
from dlcflow.data.cameras import CameraGroup
from dlcflow.data.pose import SINGLE, make_poses, point_keys
from dlcflow.geometry.matching import match_individuals
from dlcflow.geometry.optimize import optimize_trajectory
from dlcflow.geometry.stereo import stereo_entry, world_to_rectified
from dlcflow.geometry.triangulate import (
    reprojection_errors,
    triangulate_points,
    triangulate_ransac,
)
from dlcflow.inference.analyze import analyze_videos
from dlcflow.io.calibration import (
    CalibrationFileError,
    cameras_from_stereo,
    load_calibration,
    read_stereo_pickle,
)
from dlcflow.io.hdf import write_frame
from dlcflow.io.poses import PoseFileError, analysis_crop, load_poses, read_meta
from dlcflow.io.poses3d import save_poses_3d
from dlcflow.post.filters import FilterOptions, filter_file
from dlcflow.project.paths import TRACKER_SUFFIXES, Project
from dlcflow.project.posefiles import find_pose_file, up_to_date
from dlcflow.project.project3d import Project3D, recording_name

__all__ = [
    "QUALITY_FIELDS",
    "Rig",
    "TriangulationError",
    "load_rig",
    "read_quality",
    "triangulate",
    "triangulate_files",
]

#: The quality sidecar's last column level.
QUALITY_FIELDS = ("error", "ncams")
#: RANSAC's inlier threshold (px) when not given.
RANSAC_THRESHOLD_PX = 10.0


class TriangulationError(ValueError):
    """Input that cannot be triangulated; the one-line message names the file and cause."""


@dataclass(frozen=True)
class Rig:
    """The cameras of a 3D project in ``camera_names`` order, the file they come from,
    DLC's stereo entry of the first two (the metadata's ``stereo_matrix``) and whether
    points go to DLC's frame (rectified camera 1; a stereo pickle)."""

    group: CameraGroup
    source: Path
    stereo: dict[str, Any]
    dlc_frame: bool


def load_rig(project: Project3D, alpha: float = 0.4) -> Rig:
    """The calibration of ``project``: ``calibration.toml`` if it exists, else DLC's
    ``stereo_params.pickle`` (two cameras)."""
    names = project.camera_names
    toml, stereo = project.calibration_file, project.stereo_file
    try:
        if toml.is_file():
            group = load_calibration(toml, names)
            return Rig(group, toml, stereo_entry(group.cameras[0], group.cameras[1], alpha), False)
        if stereo.is_file():
            pairs = read_stereo_pickle(stereo)
            pair = f"{names[0]}-{names[1]}"
            if len(names) != 2:
                raise TriangulationError(
                    f"{stereo}: DLC's stereo parameters hold two cameras but the project has "
                    f"{len(names)} ({', '.join(names)}); calibrate into calibration.toml"
                )
            if pair not in pairs:
                raise TriangulationError(
                    f"{stereo}: no camera pair {pair} (it has {', '.join(pairs)})"
                )
            entry = dict(pairs[pair])
            return Rig(cameras_from_stereo(entry, (names[0], names[1])), stereo, entry, True)
    except CalibrationFileError as err:
        raise TriangulationError(str(err)) from None
    raise TriangulationError(
        f"{project.camera_matrix_dir}: neither calibration.toml nor stereo_params.pickle; "
        "calibrate the cameras first"
    )


# -- 2D inputs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _View:
    path: Path
    ds: xr.Dataset
    size: tuple[int, int] | None  # (w, h) of the analyzed video, from the metadata


def _read_view(path: Path) -> _View:
    try:
        ds = load_poses(path)
    except PoseFileError as err:
        raise TriangulationError(str(err)) from None
    if not ds.attrs.get("has_confidence", False):
        raise TriangulationError(f"{path}: the 2D poses have no likelihood")
    meta = read_meta(path)
    dims = meta.get("frame_dimensions")
    size = None
    if dims is not None and len(dims) == 2:
        size = (int(dims[1]), int(dims[0]))  # DLC keeps (height, width)
    crop = analysis_crop(meta)
    if crop is not None:  # coordinates relative to the crop: back to the whole frame
        x1, _, y1, _ = crop
        ds = ds.copy()
        ds["position"] = ds["position"] + xr.DataArray([float(x1), float(y1)], dims="space")
    return _View(path, ds, size)


def _check_video_sizes(videos: Mapping[str, Path], rig: Rig) -> None:
    """Each camera's video has the size its camera was calibrated at."""
    for name, video in videos.items():
        try:
            info = video_info(video)
        except VideoError:
            continue  # the pose file may be all there is; its metadata is checked later
        cam = rig.group[name]
        if (info.width, info.height) != tuple(cam.size):
            raise TriangulationError(
                f"{video}: frames are {info.width}×{info.height} px but camera {name} of "
                f"{rig.source} was calibrated at {cam.size[0]}×{cam.size[1]}"
            )


def _check_views(views: Sequence[_View], rig: Rig) -> None:
    first = views[0]
    for view in views[1:]:
        a, b = list(first.ds["keypoints"].values), list(view.ds["keypoints"].values)
        if a != b:
            raise TriangulationError(
                f"{view.path}: body parts {b} differ from those of {first.path.name} ({a})"
            )
        ma, mb = first.ds.attrs.get("multianimal"), view.ds.attrs.get("multianimal")
        ia, ib = sorted(first.ds["individuals"].values), sorted(view.ds["individuals"].values)
        if ma != mb or ia != ib:
            raise TriangulationError(
                f"{view.path}: individuals {ib} differ from those of {first.path.name} ({ia})"
            )
    for view, cam in zip(views, rig.group, strict=True):
        if view.size is not None and tuple(view.size) != tuple(cam.size):
            raise TriangulationError(
                f"{view.path}: frames are {view.size[0]}×{view.size[1]} px but camera "
                f"{cam.name} of {rig.source} was calibrated at {cam.size[0]}×{cam.size[1]}"
            )


def _pixels(views: Sequence[_View], n_frames: int, pcutoff: float) -> np.ndarray:
    """``(C, T, I, K, 2)`` in the first view's individual order, NaN under ``pcutoff``."""
    order = [str(i) for i in views[0].ds["individuals"].values]
    out = []
    for view in views:
        ds = view.ds.isel(time=slice(0, n_frames)).sel(individuals=order)
        pos = ds["position"].transpose("time", "individuals", "keypoints", "space").values
        conf = ds["confidence"].transpose("time", "individuals", "keypoints").values
        pos = pos.copy()
        with np.errstate(invalid="ignore"):
            pos[~(conf >= pcutoff)] = np.nan
        if not np.isfinite(pos).all(axis=-1).any():
            raise TriangulationError(
                f"{view.path}: no point with likelihood >= pcutoff {pcutoff} in this view"
            )
        out.append(pos)
    return np.stack(out)


def _stem_of(path: Path, scorer: str) -> str:
    """The video stem of a pose file ``<stem><scorer>[_el][_filtered].h5``."""
    name = path.name[: -len(path.suffix)] if path.suffix else path.name
    name = name.removesuffix("_filtered")
    for suffix in TRACKER_SUFFIXES.values():
        name = name.removesuffix(suffix)
    if scorer and name.endswith(scorer):
        return name[: -len(scorer)]
    return name.split("DLC_")[0] if "DLC_" in name else name


# -- triangulation -----------------------------------------------------------------------------
def _limbs(project: Project3D, keypoints: list[str]) -> list[tuple[int, int]]:
    index = {k: i for i, k in enumerate(keypoints)}
    limbs = []
    for a, b in project.skeleton:
        if a in index and b in index:
            limbs.append((index[a], index[b]))
    return limbs


def _kept_error(
    group: CameraGroup, points: np.ndarray, pixels: np.ndarray, ncams: np.ndarray
) -> np.ndarray:
    """Mean reprojection error of refined ``points`` over the ``ncams`` views that fit
    them best (all views that see a point, or those RANSAC kept)."""
    flat = points.reshape(-1, 3)
    errs = reprojection_errors(group, flat, pixels.reshape(len(group), -1, 2))
    errs = np.sort(np.where(np.isfinite(errs), errs, np.inf), axis=0)
    n = ncams.reshape(-1)
    keep = np.arange(len(group))[:, None] < n[None, :]
    with np.errstate(invalid="ignore"):
        error = np.where(keep, errs, 0.0).sum(axis=0) / np.maximum(n, 1)
    error[~np.isfinite(flat).all(axis=1)] = np.nan
    return error.reshape(ncams.shape)


def _triangulate(
    project: Project3D,
    rig: Rig,
    pixels: np.ndarray,
    keypoints: list[str],
    individuals: list[str],
    ransac: bool,
    optimize: bool,
    threshold_px: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points ``(T, I, K, 3)``, error and ncams ``(T, I, K)``."""
    if ransac:
        result = triangulate_ransac(rig.group, pixels, threshold_px=threshold_px)
    else:
        result = triangulate_points(rig.group, pixels)
    points = result.points
    if optimize:
        limbs = _limbs(project, keypoints)
        refined = points.copy()
        for i, name in enumerate(individuals):
            log(f"Optimizing the trajectory of {name or 'the animal'}")
            refined[:, i] = optimize_trajectory(rig.group, pixels[:, :, i], points[:, i], limbs)
        points = np.where(np.isfinite(points), refined, np.nan)
        result_error = _kept_error(rig.group, points, pixels, result.ncams)
    else:
        result_error = result.error
    ncams = result.ncams
    if rig.dlc_frame:
        points = world_to_rectified(points, rig.group.cameras[0], rig.stereo["R1"])
    return points, result_error, ncams


def _quality_frame(
    error: np.ndarray, ncams: np.ndarray, ds: xr.Dataset, keys: list[tuple[str, str]]
) -> pd.DataFrame:
    ind = {str(k): i for i, k in enumerate(ds["individuals"].values)}
    kp = {str(k): i for i, k in enumerate(ds["keypoints"].values)}
    multi = bool(ds.attrs.get("multianimal"))
    columns, data = [], []
    for individual, keypoint in keys:
        i, k = ind[individual], kp[keypoint]
        for field, values in zip(QUALITY_FIELDS, (error, ncams), strict=True):
            columns.append((individual, keypoint, field) if multi else (keypoint, field))
            data.append(values[:, i, k].astype(np.float64))
    names = ["individuals", "bodyparts", "quality"] if multi else ["bodyparts", "quality"]
    return pd.DataFrame(
        np.stack(data, axis=1) if data else np.empty((error.shape[0], 0)),
        index=pd.RangeIndex(error.shape[0]),
        columns=pd.MultiIndex.from_tuples(columns, names=names),
    )


def read_quality(h5: str | os.PathLike[str]) -> pd.DataFrame:
    """The quality sidecar of a 3D output (:meth:`Project3D.quality_3d`)."""
    path = Project3D.quality_3d(h5)
    if not path.is_file():
        raise TriangulationError(f"{path}: no quality file beside {Path(h5).name}")
    return pd.read_hdf(path)


def triangulate_files(
    config: str | os.PathLike[str],
    poses: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str] | None = None,
    save_as_csv: bool = False,
    ransac: bool = False,
    optimize: bool = False,
    threshold_px: float = RANSAC_THRESHOLD_PX,
) -> Path:
    """Triangulate the 2D pose files ``poses`` (one per camera, in the 3D config's
    ``camera_names`` order) into ``out`` (default: ``<recording>_<scorername_3d>.h5``
    beside the first, the recording named from the first file's video stem as DLC does).
    Returns the h5 path. See the module docstring for outputs and options."""
    project = Project3D(config)
    names = project.camera_names
    paths = [Path(p) for p in poses]
    if len(paths) != len(names):
        raise TriangulationError(
            f"{project.config_path}: {len(paths)} pose files given for {len(names)} cameras "
            f"({', '.join(names)}); give one per camera, in that order"
        )
    rig = load_rig(project)
    views = [_read_view(p) for p in paths]
    _check_views(views, rig)
    lengths = [v.ds.sizes["time"] for v in views]
    n_frames = min(lengths)
    if len(set(lengths)) > 1:
        counts = ", ".join(f"{v.path.name}: {n}" for v, n in zip(views, lengths, strict=True))
        warnings.warn(
            f"the views have different numbers of frames ({counts}); "
            f"triangulating the first {n_frames}",
            stacklevel=2,
        )
    first = views[0].ds
    keypoints = [str(k) for k in first["keypoints"].values]
    individuals = [str(i) for i in first["individuals"].values]
    pixels = _pixels(views, n_frames, project.pcutoff)
    multi = bool(first.attrs.get("multianimal"))
    if multi:
        animals = [i for i, name in enumerate(individuals) if name != SINGLE]
        if len(animals) > 1:
            perms = match_individuals(rig.group, pixels[:, :, animals])
            for c, perm in enumerate(perms):
                pixels[c][:, animals] = pixels[c][:, [animals[j] for j in perm]]
                if c and not np.array_equal(perm, np.arange(len(animals))):
                    pairs = ", ".join(
                        f"{individuals[animals[perm[j]]]}→{individuals[animals[j]]}"
                        for j in range(len(animals))
                        if perm[j] != j
                    )
                    log(f"{paths[c].name}: individuals matched to the first view ({pairs})")
    if out is None:
        scorer = str(first.attrs.get("scorer", ""))
        stem = _stem_of(paths[0], scorer)
        recording = recording_name(stem, names[0]) or stem
        out = project.output_3d(recording, paths[0].parent)
    out = Path(out)
    log(f"Triangulating {n_frames} frames of {len(names)} cameras ({rig.source.name})")
    points, error, ncams = _triangulate(
        project, rig, pixels, keypoints, individuals, ransac, optimize, threshold_px
    )
    ds = make_poses(
        points.transpose(0, 3, 2, 1),
        keypoints=keypoints,
        individuals=individuals if multi else None,
        space=("x", "y", "z"),
        scorer=project.scorer_3d,
        unique_keypoints=first.attrs.get("unique_keypoints", ()),
        skeleton=project.skeleton,
    )
    quality = _quality_frame(error, ncams, ds, point_keys(ds))
    metadata = {
        "stereo_matrix": rig.stereo,
        "stereo_matrix_file": str(rig.source),
        "scorer_name": {
            cam: str(v.ds.attrs.get("scorer", "")) for cam, v in zip(names, views, strict=True)
        },
        "pose_files": {cam: str(v.path) for cam, v in zip(names, views, strict=True)},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    write_frame(quality, Project3D.quality_3d(out), table=True)
    with atomic_path(Project3D.meta_3d(out)) as tmp, open(tmp, "wb") as fh:
        pickle.dump(metadata, fh, pickle.HIGHEST_PROTOCOL)
    save_poses_3d(ds, out, save_as_csv)
    seen = np.isfinite(points).all(axis=-1)
    log(
        f"Saved {out} ({seen.mean():.0%} of points triangulated, median reprojection error "
        f"{np.nanmedian(error) if seen.any() else float('nan'):.2f} px)"
    )
    return out


# -- videos ------------------------------------------------------------------------------------
def _pose_file(
    project: Project3D,
    camera: str,
    video: Path,
    destfolder: str | os.PathLike[str] | None,
    filterpredictions: bool,
    filtertype: str,
) -> Path:
    """The 2D pose file of ``video`` in ``camera``'s project, analyzed (and filtered) when
    missing."""
    config_2d = project.camera_config(camera)
    if not config_2d.is_file():
        raise TriangulationError(
            f"{project.config_path}: config_file_{camera} {config_2d} does not exist"
        )
    project_2d = Project(config_2d)
    shuffle = project.camera_shuffle(camera)
    index = project.camera_trainingsetindex(camera)
    try:
        h5 = find_pose_file(project_2d, video, shuffle, index, False, destfolder)
    except FileNotFoundError:
        log(f"Analyzing {video.name} with the model of {config_2d}")
        analyze_videos(
            config_2d, [video], shuffle=shuffle, trainingsetindex=index, destfolder=destfolder
        )
        try:
            h5 = find_pose_file(project_2d, video, shuffle, index, False, destfolder)
        except FileNotFoundError as err:
            raise TriangulationError(str(err)) from None
    if not filterpredictions:
        return h5
    filtered = Project.derived_output(h5, "_filtered.h5")
    if not up_to_date(filtered, h5):
        filter_file(h5, filtered, FilterOptions(filtertype=filtertype, save_as_csv=False))
    return filtered


def triangulate(
    config: str | os.PathLike[str],
    video_path: str | os.PathLike[str] | Sequence[Any],
    videotype: str = "",
    filterpredictions: bool = True,
    filtertype: str = "median",
    destfolder: str | os.PathLike[str] | None = None,
    save_as_csv: bool = False,
    ransac: bool = False,
    optimize: bool = False,
) -> list[Path]:
    """Triangulate every recording of ``video_path`` (DLC's ``triangulate``).

    ``video_path``: a folder, a video, or a list of them (DLC's list of lists works
    too). Videos are grouped into recordings by the camera names in their file names;
    each camera's video is analyzed with the 2D project of ``config_file_<cam>``
    (``shuffle_<cam>``, ``trainingsetindex_<cam>``) unless its pose file exists, then
    filtered (``filtertype``) when ``filterpredictions``. Outputs go to ``destfolder``
    (default: the first camera's video folder). An output newer than its inputs and the
    calibration is kept. Returns the 3D files.
    """
    project = Project3D(config)
    names = project.camera_names
    items = list(video_path) if isinstance(video_path, list | tuple) else [video_path]
    flat = [v for item in items for v in (item if isinstance(item, list | tuple) else [item])]
    videos = list_videos(flat, videotype)
    videos = [v for v in videos if "labeled" not in v.stem]
    for video in videos:
        if not any(recording_name(video.stem, cam) for cam in names):
            given = [Path(v) for v in flat]
            if video in given:  # a folder may hold other videos; a named one must fit
                raise TriangulationError(
                    f"{video}: none of the camera names ({', '.join(names)}) is in the name"
                )
    recordings = project.recordings(videos)
    if not recordings:
        raise TriangulationError(
            f"{video_path}: no recording with a video of every camera ({', '.join(names)}) "
            "found (the camera name must be in each video's file name)"
        )
    grouped = {v for views in recordings.values() for v in views.values()}
    for video in videos:
        if video not in grouped and any(recording_name(video.stem, c) for c in names):
            warnings.warn(
                f"{video}: the other cameras of its recording have no video; skipped",
                stacklevel=2,
            )
    rig = load_rig(project)
    rig_source = rig.source
    outputs = []
    for views in recordings.values():
        _check_video_sizes(views, rig)
    for recording, views in recordings.items():
        folder = Path(destfolder) if destfolder else views[names[0]].parent
        out = project.output_3d(recording, folder)
        poses = [
            _pose_file(project, cam, views[cam], destfolder, filterpredictions, filtertype)
            for cam in names
        ]
        if (
            all(up_to_date(out, p) for p in poses)
            and up_to_date(out, rig_source)
            and Project3D.quality_3d(out).is_file()
            and (not save_as_csv or out.with_suffix(".csv").is_file())
        ):
            log(f"{recording}: already triangulated ({out.name})")
        else:
            triangulate_files(config, poses, out, save_as_csv, ransac, optimize)
        outputs.append(out)
    return outputs
