"""Kinematics of pose files: one video's file (:func:`kinematics_file`), a project's videos
(:func:`compute_kinematics`, the ``dlcflow kinematics`` command) and the project's
``kinematics-summary.csv`` (:func:`summary_rows`, :func:`kinematics_summary`).

Inputs are the pose file of each video (``_filtered`` with ``options.filtered``), the
stitched tracks (``_el.h5``) in a multi-animal project, or a 3D ``_DLC_3D.h5`` (by
:func:`kinematics_file`, whose frame rate then comes from ``options.fps``). Outputs
(:mod:`dlcflow.io.kinematics`) sit beside the pose file: ``<pose stem>_kinematics.h5`` (+ csv).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from dlcflow.core.log import log
from dlcflow.core.video import VideoError, video_info
from dlcflow.io.kinematics import load_kinematics, save_kinematics, write_summary
from dlcflow.io.poses import load_poses
from dlcflow.io.poses3d import load_poses_3d
from dlcflow.post.bouts import runs
from dlcflow.post.kinematics import KinematicsError, KinematicsOptions, kinematics
from dlcflow.project.config import config_file, load_yaml_mapping
from dlcflow.project.paths import Project
from dlcflow.project.posefiles import pose_files, up_to_date

__all__ = [
    "compute_kinematics",
    "is_3d_file",
    "kinematics_file",
    "kinematics_files",
    "kinematics_summary",
    "load_pose_file",
    "project_pcutoff",
    "summary_rows",
]


def is_3d_file(path: str | os.PathLike[str]) -> bool:
    """Whether a pose file is DLC's triangulated ``..._DLC_3D.h5`` (or its ``_filtered``)."""
    name = Path(path).name
    return name.endswith(("_DLC_3D.h5", "_DLC_3D_filtered.h5"))


def load_pose_file(path: str | os.PathLike[str], fps: float | None = None) -> xr.Dataset:
    """A 2D pose file, tracks file or 3D pose file as the pose data model."""
    if is_3d_file(path):
        ds = load_poses_3d(path)
        if fps:
            ds.attrs["fps"] = float(fps)
        return ds
    return load_poses(path, fps)


def kinematics_file(
    pose_path: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    options: KinematicsOptions | None = None,
    pcutoff: float = 0.0,
    video: str | os.PathLike[str] | None = None,
    where: str | None = None,
) -> Path:
    """Kinematics of one pose file into ``output`` (default ``<pose stem>_kinematics.h5``)
    and its csv (``options.save_as_csv``). The frame rate is ``options.fps``, else the pose
    file's ``_meta.pickle``, else ``video``'s. ``pcutoff`` applies when the options have
    none; ``where`` names the config in error messages. Returns the h5 path."""
    opts = options if options is not None else KinematicsOptions()
    src = Path(pose_path)
    out = Path(output) if output is not None else Project.kinematics_output(src)
    ds = load_pose_file(src, opts.fps)
    if not ds.attrs.get("fps") and video is not None:
        with contextlib.suppress(VideoError):  # no readable video: no fps from it
            ds.attrs["fps"] = video_info(video).fps
    if not ds.attrs.get("fps"):
        raise KinematicsError(
            f"{src}: no frame rate (no _meta.pickle with fps, no video); set kinematics fps"
        )
    kin = kinematics(ds, opts, pcutoff=pcutoff, where=where or str(src))
    save_kinematics(kin, out, opts.save_as_csv)
    log(f"Kinematics of {src.name} in {out} ({kin.attrs['unit']}, {kin.attrs['fps']:g} fps)")
    return out


def summary_rows(h5_path: str | os.PathLike[str], video: str = "") -> list[dict[str, Any]]:
    """One summary row per individual of a kinematics file: frames, duration, distance
    travelled by the centre (sum of its steps between consecutive frames where it is
    known), mean and maximum centre speed, time moving / freezing (s), bout counts, unit."""
    rows = []
    name = video or Project.derived_output(h5_path, "").name.replace("_kinematics", "")
    for individual, df in load_kinematics(h5_path).items():
        fps, unit = float(df.attrs["fps"]), str(df.attrs["unit"])
        if "centre" not in df.columns.get_level_values("bodyparts"):
            continue
        centre = df["centre"]
        space = [c for c in ("x", "y", "z") if c in centre.columns]
        xyz = centre[space].to_numpy()
        steps = np.linalg.norm(np.diff(xyz, axis=0), axis=1)
        speed = centre["speed"].to_numpy()
        moving = df["bouts"]["moving"].to_numpy() > 0.5
        freezing = df["bouts"]["freezing"].to_numpy() > 0.5
        finite = speed[np.isfinite(speed)]
        rows.append(
            {
                "video": name,
                "individual": individual,
                "frames": len(df),
                "duration_s": len(df) / fps,
                "distance": float(np.nansum(steps)),
                "mean_speed": float(finite.mean()) if finite.size else math.nan,
                "max_speed": float(finite.max()) if finite.size else math.nan,
                "time_moving_s": float(moving.sum() / fps),
                "time_freezing_s": float(freezing.sum() / fps),
                "moving_bouts": len(runs(moving)),
                "freezing_bouts": len(runs(freezing)),
                "unit": unit,
            }
        )
    return rows


def kinematics_summary(
    kinematics_files: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str]
) -> Path:
    """``kinematics-summary.csv`` of the given kinematics files (one row per video and
    individual; see :func:`summary_rows`)."""
    rows = [row for h5 in kinematics_files for row in summary_rows(h5)]
    out = write_summary(rows, output)
    log(f"Kinematics summary of {len(kinematics_files)} file(s) in {out}")
    return out


def project_pcutoff(config: str | os.PathLike[str], options: KinematicsOptions) -> float:
    """``options.pcutoff``, else the ``pcutoff`` of the project config (2D or 3D)."""
    if options.pcutoff is not None:
        return float(options.pcutoff)
    cfg = load_yaml_mapping(config_file(config), "project config")
    return float(cfg.get("pcutoff") or 0.0)


def compute_kinematics(
    config: str | os.PathLike[str],
    videos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    videotype: str = "",
    shuffle: int = 1,
    trainingsetindex: int = 0,
    destfolder: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    track_method: str = "",
    *,
    options: KinematicsOptions | None = None,
) -> list[Path]:
    """Kinematics of analyzed videos: ``<pose stem>_kinematics.h5`` (+ csv) beside each
    pose file (the ``_filtered`` one with ``options.filtered``; the tracks of
    ``track_method`` in a multi-animal project) and ``kinematics-summary.csv`` in the
    project folder (rows of these videos). Points under the config's ``pcutoff`` (or
    ``options.pcutoff``) are missing. Outputs newer than their pose file are kept unless
    ``overwrite``; videos not analyzed are skipped with a warning. Returns the h5 files."""
    opts = options if options is not None else KinematicsOptions()
    project = Project(config)
    pcutoff = project_pcutoff(project.config_path, opts)
    written = []
    found = pose_files(
        project,
        videos,
        videotype,
        shuffle,
        trainingsetindex,
        opts.filtered,
        destfolder,
        track_method,
    )
    for video, src in found:
        out = Project.kinematics_output(src)
        if not overwrite and up_to_date(out, src):
            log(f"{video.name}: kinematics already computed ({out.name}); overwrite=True redoes")
        else:
            kinematics_file(src, out, opts, pcutoff, video, where=str(project.config_path))
        written.append(out)
    if written:
        summary = Project.kinematics_summary(project.root)
        rows = [row for h5 in written for row in summary_rows(h5)]
        write_summary(rows, summary)
        log(f"Kinematics summary in {summary}")
    return written


def kinematics_files(
    config: str | os.PathLike[str],
    files: Sequence[str | os.PathLike[str]],
    *,
    options: KinematicsOptions | None = None,
) -> list[Path]:
    """Kinematics of pose files named directly (2D, tracks or 3D ``_DLC_3D.h5``) of the
    project of ``config`` (a 2D or 3D project's config.yaml: its ``pcutoff`` and folder,
    where ``kinematics-summary.csv`` goes). Always computed. Returns the h5 files."""
    opts = options if options is not None else KinematicsOptions()
    path = config_file(config)
    pcutoff = project_pcutoff(path, opts)
    written = [kinematics_file(f, None, opts, pcutoff, where=str(path)) for f in files]
    kinematics_summary(written, Project.kinematics_summary(path.parent))
    return written
