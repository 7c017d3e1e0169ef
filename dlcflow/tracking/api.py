"""DeepLabCut's multi-animal functions after detection, with DLC's names and arguments:
:func:`convert_detections2tracklets` (assembly + tracking) and :func:`stitch_tracklets`.

They find each video's files by the model's scorer (``shuffle``, ``trainingsetindex``,
``modelprefix``) and run the stages of :mod:`dlcflow.tracking.pipeline` on them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dlcflow.core.log import log
from dlcflow.core.videofiles import find_videos
from dlcflow.project.models import model_snapshots
from dlcflow.project.paths import Project
from dlcflow.tracking.pipeline import assemble_file, stitch_file, track_file

__all__ = ["convert_detections2tracklets", "stitch_tracklets"]

_Videos = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def _model(
    config: str | os.PathLike[str], shuffle: int, trainingsetindex: int, modelprefix: str
) -> tuple[Project, str, Path]:
    """The project, the scorer of its model and the model's test/inference_cfg.yaml."""
    project = Project(config)
    if not project.multianimal:
        raise ValueError(f"{project.config_path}: not a multi-animal project (multianimalproject)")
    setup, (model,) = model_snapshots(
        project, shuffle, trainingsetindex, None, modelprefix, allow_all=False
    )
    return project, model.scorer, setup.test_cfg_path.with_name("inference_cfg.yaml")


def convert_detections2tracklets(
    config: str | os.PathLike[str],
    videos: _Videos,
    videotype: str = "",
    shuffle: int = 1,
    trainingsetindex: int = 0,
    overwrite: bool = False,
    destfolder: str | os.PathLike[str] | None = None,
    ignore_bodyparts: Sequence[str] | None = None,
    inferencecfg: dict[str, Any] | str | os.PathLike[str] | None = None,
    modelprefix: str = "",
    greedy: bool = False,
    calibrate: bool = False,
    window_size: int = 0,
    identity_only: bool = False,
    track_method: str = "",
) -> list[Path]:
    """Assemble each video's detections (``<stem><scorer>_full.pickle``) and track them
    (``_el.pickle``, ``_bx.pickle`` or ``_sk.pickle`` for ``track_method`` ellipse, box or
    skeleton; default the config's ``default_track_method``), as DLC's function of this
    name. ``inferencecfg``: settings instead of the model's ``inference_cfg.yaml``.
    Videos whose tracklets exist are skipped unless ``overwrite``. Returns the tracklet
    files. ``ignore_bodyparts`` is not supported (a ValueError names it)."""
    if ignore_bodyparts:
        raise ValueError(
            "convert_detections2tracklets: ignore_bodyparts is not supported; "
            "leave the body parts out of the project's config instead"
        )
    project, scorer, model_cfg = _model(config, shuffle, trainingsetindex, modelprefix)
    settings = (
        inferencecfg if inferencecfg is not None else (model_cfg if model_cfg.is_file() else None)
    )
    method = track_method or str(project.cfg.get("default_track_method") or "ellipse")
    written = []
    for video in find_videos(videos, videotype):
        full = Project.detections_output(video, scorer, destfolder)
        out = Project.tracklets_output(video, scorer, method, destfolder)
        if out.exists() and not overwrite:
            log(f"{video}: tracklets exist ({out.name}); skipped (overwrite=True to redo)")
            written.append(out)
            continue
        if not full.is_file():
            raise FileNotFoundError(f"{full}: no detections; analyze the video first")
        assemblies = assemble_file(
            project,
            full,
            Project.assemblies_output(video, scorer, destfolder),
            inference_cfg=settings,
            calibrate=calibrate,
            identity_only=identity_only,
            greedy=greedy,
            window_size=window_size,
        )
        written.append(track_file(project, assemblies, method, out, inference_cfg=settings))
    return written


def stitch_tracklets(
    config_path: str | os.PathLike[str],
    videos: _Videos,
    videotype: str = "",
    shuffle: int = 1,
    trainingsetindex: int = 0,
    n_tracks: int | None = None,
    animal_names: list[str] | None = None,
    min_length: int = 10,
    split_tracklets: bool = True,
    prestitch_residuals: bool = True,
    max_gap: int | None = None,
    weight_func: Callable[..., float] | None = None,
    destfolder: str | os.PathLike[str] | None = None,
    modelprefix: str = "",
    track_method: str = "",
    output_name: str = "",
    transformer_checkpoint: str = "",
    save_as_csv: bool = False,
) -> list[Path]:
    """Stitch each video's tracklets into ``n_tracks`` tracks (default: one per
    individual), DLC's function of this name: ``<stem><scorer>_el.h5`` (``_bx``, ``_sk``),
    or ``output_name`` in the same folder. Returns the tracks files.
    ``transformer_checkpoint`` (re-identification) is not supported yet (a ValueError)."""
    if transformer_checkpoint:
        raise ValueError("stitch_tracklets: transformer_checkpoint is not supported yet")
    project, scorer, _ = _model(config_path, shuffle, trainingsetindex, modelprefix)
    method = track_method or str(project.cfg.get("default_track_method") or "ellipse")
    written = []
    for video in find_videos(videos, videotype):
        tracklets = Project.tracklets_output(video, scorer, method, destfolder)
        if not tracklets.is_file():
            raise FileNotFoundError(f"{tracklets}: no tracklets; run convert_detections2tracklets")
        out = tracklets.with_name(output_name) if output_name else None
        written.append(
            stitch_file(
                project,
                tracklets,
                n_tracks,
                out,
                animal_names=animal_names,
                save_as_csv=save_as_csv,
                min_length=min_length,
                split_tracklets=split_tracklets,
                prestitch_residuals=prestitch_residuals,
                max_gap=max_gap,
                weight_func=weight_func,
            )
        )
    return written
