"""The multi-animal stages on files: detections → assemblies → tracklets → tracks.

Each stage reads the file of the one before and writes DLC's file beside it (or where
asked), atomically, so that the workflow runs each as its own rule and users can bring
DLC's own intermediate files:

- :func:`assemble_file`: ``<stem><scorer>_full.pickle`` → ``_assemblies.pickle``;
- :func:`track_file`: ``_assemblies.pickle`` → ``_el.pickle`` (``_bx``, ``_sk``);
- :func:`stitch_file`: ``_el.pickle`` → ``<stem><scorer>_el.h5`` (+ csv), a pose file with
  DLC's four column levels, one individual per track plus ``single``.

The settings are the model's ``test/inference_cfg.yaml`` when there is one (found from the
scorer in the file name), DLC's defaults for the project otherwise; any can be overridden.
:func:`track_video` runs all three (``analyze_videos(..., auto_track=True)``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dlcflow.core.log import log
from dlcflow.data.pose import points_array
from dlcflow.io.assemblies import read_assemblies, write_assemblies
from dlcflow.io.fullpickle import read_full_pickle
from dlcflow.io.labels import read_annotations
from dlcflow.io.poses import read_meta
from dlcflow.io.tables import to_dataset
from dlcflow.io.tracklets import read_tracklets, write_tracklets
from dlcflow.io.tracks import save_tracks
from dlcflow.project import posecfg
from dlcflow.project.paths import TRACKER_SUFFIXES, Project, tracker_suffix
from dlcflow.tracking.assembly import AssemblyParams, assemble_video, check_joints
from dlcflow.tracking.stitch import StitchParams, stitch, tracks_dataset
from dlcflow.tracking.trackers import TrackingParams, build_tracklets

__all__ = [
    "assemble_file",
    "calibration_poses",
    "inference_settings",
    "stitch_file",
    "track_file",
    "track_video",
]

_SCORER = re.compile(r"(DLC_.*?shuffle(\d+)_\d+)(?:_full|_assemblies|_el|_bx|_sk)?\.(?:pickle|h5)$")


def _project(config: str | os.PathLike[str] | Project) -> Project:
    project = config if isinstance(config, Project) else Project(config)
    if not project.multianimal:
        raise ValueError(f"{project.config_path}: not a multi-animal project (multianimalproject)")
    return project


def scorer_of(path: str | os.PathLike[str]) -> str:
    """The DLC scorer in a multi-animal file name (``""`` when it has none)."""
    match = _SCORER.search(Path(path).name)
    return match.group(1) if match else ""


def inference_settings(
    project: Project, path: str | os.PathLike[str], inference_cfg: Any = None
) -> dict[str, Any]:
    """The inference settings for a file of ``project``: ``inference_cfg`` (a mapping or a
    YAML path) when given, else the ``test/inference_cfg.yaml`` of the model named by the
    file's scorer (any training fraction of its shuffle), else DLC's defaults."""
    if isinstance(inference_cfg, Mapping):
        return dict(inference_cfg)
    if inference_cfg is not None:
        return posecfg.read_yaml(inference_cfg)
    match = _SCORER.search(Path(path).name)
    if match:
        shuffle = int(match.group(2))
        for fraction in project.training_fractions:
            candidate = project.inference_cfg(fraction, shuffle)
            if candidate.is_file():
                return posecfg.read_yaml(candidate)
    return posecfg.inference_cfg(
        project.multianimal_bodyparts,
        project.individuals,
        bool(project.cfg.get("identity")),
    )


def calibration_poses(project: Project) -> np.ndarray:
    """The labeled poses of the project's training data, ``(n, n_multibodyparts, 2)``, for
    assembly calibration (one pose per labeled image and individual)."""
    path = project.training_collected_data()
    if not path.is_file():
        found = [p for s in project.video_stems() if (p := project.existing_collected_data(s))]
        if not found:
            raise FileNotFoundError(
                f"{project.config_path}: calibration needs labeled data, and there is none"
            )
        frames = [read_annotations(p) for p in found]
    else:
        frames = [read_annotations(path)]
    multi = project.multianimal_bodyparts
    keys = [(ind, bp) for ind in project.individuals for bp in multi]
    poses = []
    for df in frames:
        xy = points_array(to_dataset(df), keys)  # (images, individuals x parts, 2)
        poses.append(xy.reshape(len(df) * len(project.individuals), len(multi), 2))
    return np.concatenate(poses) if poses else np.empty((0, len(multi), 2))


def assemble_file(
    config: str | os.PathLike[str] | Project,
    full_pickle: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    inference_cfg: Any = None,
    calibrate: bool = False,
    identity_only: bool = False,
    **overrides: Any,
) -> Path:
    """Assemble the detections of a ``_full.pickle`` into animals (DLC's ``Assembler``);
    write ``out`` (default: ``<stem><scorer>_assemblies.pickle`` beside it). ``overrides``:
    fields of :class:`~dlcflow.tracking.assembly.AssemblyParams`."""
    project = _project(config)
    src = Path(full_pickle)
    full = read_full_pickle(src)
    multi, unique = project.multianimal_bodyparts, project.unique_bodyparts
    check_joints(full, multi, unique, src)
    settings = inference_settings(project, src, inference_cfg)
    params = AssemblyParams.from_inference_cfg(settings, identity_only=identity_only, **overrides)
    poses = calibration_poses(project) if calibrate else None
    assemblies = assemble_video(full, len(multi), len(unique), params, calibration_poses=poses)
    dest = Path(out) if out is not None else _beside(src, "_full.pickle", "_assemblies.pickle")
    write_assemblies(assemblies, dest)
    found = sum(len(a) for k, a in assemblies.items() if k != "single")
    log(f"Saved {dest}: {found} assemblies in {full.nframes} frames")
    return dest


def track_file(
    config: str | os.PathLike[str] | Project,
    assemblies_pickle: str | os.PathLike[str],
    method: str = "",
    out: str | os.PathLike[str] | None = None,
    *,
    inference_cfg: Any = None,
    **overrides: Any,
) -> Path:
    """Track the assemblies of an ``_assemblies.pickle`` with the ``ellipse``, ``box`` or
    ``skeleton`` tracker (default: the config's ``default_track_method``); write ``out``
    (default: ``<stem><scorer>_el.pickle`` and the like beside it)."""
    project = _project(config)
    method = method or str(project.cfg.get("default_track_method") or "ellipse")
    suffix = tracker_suffix(method)
    src = Path(assemblies_pickle)
    assemblies = read_assemblies(src)
    settings = inference_settings(project, src, inference_cfg)
    params = TrackingParams.from_inference_cfg(settings, **overrides)
    # DLC's header names every body part, the unique ones last (its stitcher reads them)
    bodyparts = project.multianimal_bodyparts + project.unique_bodyparts
    header = _header(scorer_of(src) or "DLC", bodyparts)
    nframes = _video_nframes(src)
    tracklets = build_tracklets(assemblies, method, params, header=header, nframes=nframes)
    dest = Path(out) if out is not None else _beside(src, "_assemblies.pickle", suffix + ".pickle")
    write_tracklets(tracklets, dest)
    n = sum(1 for k in tracklets if isinstance(k, int))
    log(f"Saved {dest}: {n} tracklets ({method} tracker)")
    return dest


def stitch_file(
    config: str | os.PathLike[str] | Project,
    tracklets_pickle: str | os.PathLike[str],
    n_tracks: int | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    animal_names: list[str] | None = None,
    save_as_csv: bool = False,
    nframes: int | None = None,
    **overrides: Any,
) -> Path:
    """Stitch the tracklets of an ``_el.pickle`` (``_bx``, ``_sk``) into ``n_tracks``
    tracks (default: the config's individuals) by min-cost flow; write ``out`` (default:
    ``<stem><scorer>_el.h5`` beside it, + csv with ``save_as_csv``). ``overrides``: fields
    of :class:`~dlcflow.tracking.stitch.StitchParams` (``min_length``, ``max_gap``, ...)."""
    project = _project(config)
    src = Path(tracklets_pickle)
    tracklets = read_tracklets(src)
    names = list(animal_names or project.individuals)
    n = int(n_tracks) if n_tracks is not None else len(names)
    if n < 1:
        raise ValueError(f"{src}: n_tracks must be at least 1, not {n}")
    if n != len(names):
        names = [f"ind{i + 1}" for i in range(n)]
    if nframes is None:
        nframes = _video_nframes(src)
    result = stitch(
        tracklets,
        n,
        StitchParams(**overrides),
        nframes=nframes,
        source=str(src),
        n_bodyparts=len(project.multianimal_bodyparts),
    )
    for line in result.warnings:
        log(f"{src.name}: {line}")
    ds = tracks_dataset(
        result,
        scorer_of(src) or "DLC",
        names,
        project.multianimal_bodyparts,
        project.unique_bodyparts,
    )
    dest = Path(out) if out is not None else src.with_suffix(".h5")
    save_tracks(ds, dest, save_as_csv=save_as_csv)
    log(f"Saved {dest}: {n} tracks")
    return dest


def track_video(
    config: str | os.PathLike[str] | Project,
    full_pickle: str | os.PathLike[str],
    *,
    inference_cfg: Any = None,
    track_method: str = "",
    n_tracks: int | None = None,
    calibrate: bool = False,
    identity_only: bool = False,
    save_as_csv: bool = False,
) -> Path:
    """All three stages of one video's ``_full.pickle``; returns its tracks file."""
    project = _project(config)
    cfg = inference_cfg if inference_cfg is None or Path(str(inference_cfg)).is_file() else None
    assemblies = assemble_file(
        project, full_pickle, inference_cfg=cfg, calibrate=calibrate, identity_only=identity_only
    )
    tracklets = track_file(project, assemblies, track_method, inference_cfg=cfg)
    return stitch_file(project, tracklets, n_tracks, save_as_csv=save_as_csv)


def _video_nframes(stage_file: Path) -> int | None:
    """The video's frame count from the ``_meta.pickle`` of a stage file's analysis
    (``<stem><scorer>_meta.pickle`` beside ``_assemblies.pickle``, ``_el.pickle`` ...),
    None when there is none."""
    suffixes = ["_assemblies.pickle", *(s + ".pickle" for s in TRACKER_SUFFIXES.values())]
    for suffix in suffixes:
        if stage_file.name.endswith(suffix):
            nframes = read_meta(_beside(stage_file, suffix, ".h5")).get("nframes")
            return int(nframes) if nframes else None
    return None


def _beside(src: Path, suffix: str, new: str) -> Path:
    """``src`` with its DLC suffix replaced (or ``new`` appended to its stem)."""
    name = src.name
    if name.endswith(suffix):
        return src.with_name(name[: -len(suffix)] + new)
    return src.with_name(src.stem + new)


def _header(scorer: str, multi: list[str]) -> pd.MultiIndex:
    """DLC's tracklet header: scorer × body parts × (x, y, likelihood)."""
    return pd.MultiIndex.from_product(
        [[scorer], multi, ["x", "y", "likelihood"]], names=["scorer", "bodyparts", "coords"]
    )


#: The trackers and their file suffixes (for the CLI and the rules).
TRACKERS = tuple(TRACKER_SUFFIXES)
