"""``export_nwb``: the pose files of a project's videos as NWB files (:mod:`dlcflow.io.nwb`).

Each pose file ``<stem><scorer>[_el][_filtered].h5`` gets ``<same stem>.nwb`` beside it
(:meth:`Project.nwb_output`), with the config's skeleton, the model of its
``_meta.pickle`` and the session and subject fields of a metadata YAML. A pose file of any
kind (2D, multi-animal tracks, 3D ``_DLC_3D.h5``) converts on its own with
:func:`export_pose_file`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import xarray as xr

from dlcflow.core.log import log
from dlcflow.core.videofiles import Videos
from dlcflow.io.nwb import check_metadata, read_metadata, write_nwb
from dlcflow.io.poses import load_poses, read_meta
from dlcflow.io.poses3d import load_poses_3d
from dlcflow.project.paths import Project
from dlcflow.project.posefiles import pose_files, up_to_date

__all__ = ["export_nwb", "export_pose_file", "session_metadata"]

Metadata = str | os.PathLike[str] | Mapping[str, Any] | None


def session_metadata(metadata: Metadata = None, subject: str | None = None) -> dict[str, Any]:
    """Session and subject fields from a metadata YAML (a path) or a mapping, with
    ``subject`` as the subject's ``subject_id`` when given."""
    if metadata is None:
        meta: dict[str, Any] = {}
    elif isinstance(metadata, Mapping):
        meta = check_metadata(metadata)
    else:
        meta = read_metadata(metadata)
    if subject:
        meta["subject"] = {**meta.get("subject", {}), "subject_id": str(subject)}
    return meta


def _load(path: Path) -> xr.Dataset:
    """A 2D pose file (single animal or tracks) or a 3D one, by its name."""
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    if stem.removesuffix("_filtered").endswith("_DLC_3D"):
        return load_poses_3d(path)
    return load_poses(path)


def _model_line(meta: Mapping[str, Any]) -> str:
    cfg = meta.get("DLC-model-config file") or {}
    parts = []
    if cfg.get("net_type"):
        parts.append(f"net {cfg['net_type']}")
    if cfg.get("init_weights"):
        parts.append(f"snapshot {cfg['init_weights']}")
    if meta.get("iteration (active-learning)") is not None:
        parts.append(f"iteration {meta['iteration (active-learning)']}")
    if meta.get("training set fraction") is not None:
        parts.append(f"training fraction {meta['training set fraction']}")
    return ", ".join(parts)


def export_pose_file(
    poses_file: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    video: str | os.PathLike[str] | None = None,
    config: str | os.PathLike[str] | None = None,
    metadata: Metadata = None,
    subject: str | None = None,
    fps: float | None = None,
) -> Path:
    """One pose file as an NWB file (default :meth:`Project.nwb_output`); the skeleton
    from ``config`` when given, the model and fps from the ``_meta.pickle``. Returns the
    path. This is what the workflow's ``nwb`` rule calls."""
    src = Path(poses_file)
    out = Path(output) if output is not None else Project.nwb_output(src)
    meta = session_metadata(metadata, subject)
    poses = _load(src)
    skeleton = None
    if config is not None:
        skeleton = [[str(a), str(b)] for a, b in Project(config).cfg.get("skeleton") or []]
    analysis = read_meta(src)
    write_nwb(
        poses,
        out,
        video=video,
        fps=fps or analysis.get("fps"),
        metadata=meta,
        skeleton=skeleton,
        model=_model_line(analysis),
    )
    log(f"NWB of {src.name} in {out}")
    return out


def export_nwb(
    config: str | os.PathLike[str],
    videos: Videos,
    videotype: str = "",
    shuffle: int = 1,
    trainingsetindex: int = 0,
    filtered: bool = False,
    destfolder: str | os.PathLike[str] | None = None,
    track_method: str = "",
    metadata: Metadata = None,
    subject: str | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """The pose file (``_filtered`` with ``filtered``; multi-animal: the tracks of
    ``track_method``) of each video as an NWB file beside it (:func:`export_pose_file`).

    ``metadata``: a metadata YAML (or mapping) of session and subject fields
    (:func:`dlcflow.io.nwb.read_metadata`); ``subject``: the subject id (wins over the
    YAML's). An NWB file newer than its pose file is kept unless ``overwrite``. Videos not
    analyzed are skipped with a warning. Returns the NWB files."""
    project = Project(config)
    meta = session_metadata(metadata, subject)  # a bad YAML fails before any file is written
    written = []
    found = pose_files(
        project, videos, videotype, shuffle, trainingsetindex, filtered, destfolder, track_method
    )
    for video, src in found:
        out = Project.nwb_output(src)
        if not overwrite and up_to_date(out, src):
            log(f"{video.name}: already exported ({out.name}); overwrite=True exports again")
        else:
            export_pose_file(src, out, video=video, config=config, metadata=meta)
        written.append(out)
    return written
