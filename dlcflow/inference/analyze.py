"""Video analysis (DLC's ``analyze_videos``): every frame of a video through the network.

The video is streamed, never loaded: a background thread decodes frames
(:class:`dlcflow.core.video.VideoReader`) into a few reusable float32 batch buffers and hands
them over a bounded queue; the calling thread only feeds the engine, submitting the next
batch before it waits for the current one where the engine can take it
(:func:`dlcflow.inference.engines.submit`); a third thread decodes the network outputs (argmax
+ location refinement) into one preallocated ``(nframes, 3J)`` array while the engine
works on the next batch. Memory does not grow with the video's length beyond that
array. The engine is TensorFlow or ONNX Runtime (``engine="auto"``:
:func:`dlcflow.inference.engines.choose_engine`); with ONNX Runtime TensorFlow is not imported
at all. Both share the decoding (:func:`dlcflow.inference.engines.decode_outputs`). The
model is chosen by :func:`dlcflow.project.models.model_snapshots`.

Outputs (DLC 2.3's, see ``shared/DLC_FORMATS.md``), all written atomically:

- ``<destfolder or video folder>/<video stem><scorer>.h5``: pandas **table** format, key
  ``df_with_missing``; columns ``scorer × bodyparts × (x, y, likelihood)``; rows
  ``range(nframes)`` (frames that cannot be decoded are NaN rows, with a warning);
- ``<stem><scorer>.csv`` with ``save_as_csv``;
- ``<stem><scorer>_meta.pickle``: ``{"data": {...}}`` with DLC's keys.

With cropping (the config's ``cropping`` and ``x1, x2, y1, y2``, or the ``cropping``
argument) coordinates are relative to the crop, as in DLC. Dynamic cropping
(``dynamic=(True, pcutoff, margin)``) analyzes each frame inside a box around the last
confident detection (``margin`` px around all body parts), falls back to the whole frame
when nothing is detected, and stores coordinates in whole-frame pixels.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from dlcflow.core.log import log
from dlcflow.core.options import Options, check_bool, check_int
from dlcflow.core.video import VIDEO_EXTENSIONS, VideoReader, video_info
from dlcflow.core.videofiles import list_videos
from dlcflow.inference.batches import FrameBatches, count_frames
from dlcflow.inference.engines import (
    ENGINE_NAMES,
    Engine,
    EngineFactory,
    decode_outputs,
    make_engine,
    predict_batch,
    runs_on_cpu,
    submit,
)
from dlcflow.inference.maanalyze import check_individuals, detect_video
from dlcflow.inference.maengines import MultiAnimalEngine, make_multi_engine
from dlcflow.io.poses import analysis_metadata, write_analysis
from dlcflow.project.models import ModelRef, ModelSetup, model_snapshots
from dlcflow.project.paths import Project
from dlcflow.tracking.pipeline import track_video

__all__ = ["AnalysisOptions", "analyze_videos"]

COORDS = ("x", "y", "likelihood")
#: Smallest side of a dynamic crop (the network needs inputs of at least 32 px).
MIN_CROP = 32
Crop = tuple[int, int, int, int]


@dataclass(frozen=True)
class TrackingRequest:
    """What a multi-animal analysis does after detection (``analyze_videos``' arguments)."""

    auto_track: bool = True
    n_tracks: int | None = None
    calibrate: bool = False
    identity_only: bool = False


@dataclass(frozen=True)
class AnalysisOptions(Options):
    """How videos are analyzed: DLC's ``analyze_videos`` arguments that are neither the
    videos, the model (shuffle, trainingsetindex, snapshot_index, modelprefix) nor where
    results go (destfolder, force), with their defaults; the workflow's ``analyze``
    section sets ``save_as_csv`` and ``engine``. See :func:`analyze_videos`."""

    batchsize: int | None = None
    save_as_csv: bool = False
    cropping: Sequence[int] | None = None
    dynamic: tuple[bool, float, int] = (False, 0.5, 10)
    gputouse: int | None = None
    robust_nframes: bool = False
    threads: int | None = None
    engine: str | EngineFactory = "auto"

    CONFIG_KEYS = ("save_as_csv", "engine")
    WORKFLOW_KEYS = ("shuffle", "trainingsetindex", "destfolder")
    CONFIG_DEFAULTS = {"save_as_csv": True}  # noqa: RUF012 (read only)

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name, low in (("batchsize", 1), ("gputouse", 0), ("threads", 1)):
            if getattr(self, name) is not None:
                check_int(owner, name, getattr(self, name), minimum=low)
        check_bool(owner, "save_as_csv", self.save_as_csv)
        check_bool(owner, "robust_nframes", self.robust_nframes)
        if self.cropping is not None:
            if isinstance(self.cropping, str) or len(self.cropping) != 4:
                raise ValueError(f"{owner}: cropping {self.cropping!r} must be [x1, x2, y1, y2]")
            self._set("cropping", tuple(int(v) for v in self.cropping))
        if isinstance(self.dynamic, str) or len(self.dynamic) != 3:
            raise ValueError(f"{owner}: dynamic {self.dynamic!r} must be (state, pcutoff, margin)")
        state, pcutoff, margin = self.dynamic
        self._set("dynamic", (bool(state), float(pcutoff), int(margin)))
        if not callable(self.engine) and self.engine not in ENGINE_NAMES:
            raise ValueError(
                f"{owner}: engine {self.engine!r} is not one of {', '.join(ENGINE_NAMES)} "
                "or a factory (pose_cfg, snapshot_prefix) -> Engine"
            )


def _crop_setting(project: Project, cropping: Sequence[int] | None) -> Crop | None:
    """The crop box: the ``cropping`` argument, else the config's when ``cropping: true``."""
    if cropping is not None:
        box = tuple(int(v) for v in cropping)
    elif project.cfg.get("cropping"):
        try:
            box = tuple(int(project.cfg[k]) for k in ("x1", "x2", "y1", "y2"))
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"{project.config_path}: cropping is on but x1, x2, y1, y2 are not all integers"
            ) from None
    else:
        return None
    x1, x2, y1, y2 = box
    if x2 <= x1 or y2 <= y1 or x1 < 0 or y1 < 0:
        raise ValueError(f"cropping [x1, x2, y1, y2] = {list(box)} is empty or negative")
    return x1, x2, y1, y2


def _run_batched(
    engine: Engine,
    cfg: Mapping[str, Any],
    reader: VideoReader,
    data: np.ndarray,
    batch_size: int,
    bar: tqdm,
) -> None:
    """Fill ``data`` (nframes, 3J) batch by batch. The next batch is submitted to the
    engine before the outputs of the current one are waited for, and output decoding
    runs beside the engine."""
    pending: deque[Future[None]] = deque()
    running: deque[tuple[list[int], np.ndarray, Callable[[], Any]]] = deque()

    def store(indices: list[int], prob: np.ndarray, locref: np.ndarray) -> None:
        poses = decode_outputs(prob, locref, cfg)
        data[indices] = poses.reshape(len(indices), -1)

    def finish(pool: ThreadPoolExecutor) -> None:
        indices, batch, wait = running.popleft()
        prob, locref = wait()
        batches.release(batch)
        while len(pending) >= 2:
            pending.popleft().result()
        pending.append(pool.submit(store, indices, prob, locref))
        bar.update(len(indices))

    batches = FrameBatches(reader, batch_size)
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="dlcflow-decode") as pool:
            for indices, batch in batches:
                running.append((indices, batch, submit(engine, batch)))
                if len(running) > 1:
                    finish(pool)
            while running:
                finish(pool)
            while pending:
                pending.popleft().result()
    finally:
        batches.close()


def _bounding_box(xy: np.ndarray, nx: int, ny: int, margin: int) -> Crop:
    """DLC's box around all body parts plus ``margin``, at least MIN_CROP px a side."""
    x1 = max(0, int(np.nanmin(xy[:, 0])) - margin)
    x2 = min(nx, int(np.nanmax(xy[:, 0])) + margin)
    y1 = max(0, int(np.nanmin(xy[:, 1])) - margin)
    y2 = min(ny, int(np.nanmax(xy[:, 1])) + margin)

    def widen(lo: int, hi: int, size: int) -> tuple[int, int]:
        want = min(MIN_CROP, size)
        if hi - lo >= want:
            return lo, hi
        lo = max(0, min(lo - (want - (hi - lo)) // 2, size - want))
        return lo, lo + want

    x1, x2 = widen(x1, x2, nx)
    y1, y2 = widen(y1, y2, ny)
    return x1, x2, y1, y2


def _run_dynamic(
    engine: Engine,
    cfg: Mapping[str, Any],
    reader: VideoReader,
    data: np.ndarray,
    threshold: float,
    margin: int,
    bar: tqdm,
) -> None:
    """DLC's dynamic cropping, frame by frame (see the module docstring)."""
    nx, ny = reader.frame_size
    full: Crop = (0, nx, 0, ny)
    box, detected = full, False
    batches = FrameBatches(reader, 1)
    try:
        for indices, batch in batches:
            frame = batch[0]
            x1, x2, y1, y2 = box
            pose = predict_batch(engine, frame[None, y1:y2, x1:x2], cfg)[0]
            if np.any(pose[:, 2] > threshold):
                pose[:, 0] += x1
                pose[:, 1] += y1
                box, detected = _bounding_box(pose[:, :2], nx, ny, int(margin)), True
            else:
                if detected and box != full:  # lost inside the box: look at the whole frame
                    pose = predict_batch(engine, frame[None], cfg)[0]
                box, detected = full, False
            batches.release(batch)
            data[indices[0]] = pose.reshape(-1)
            bar.update(1)
    finally:
        batches.close()


# -- analysis --------------------------------------------------------------------------------
def _analyze_video(
    video: Path,
    engine: Engine,
    setup: ModelSetup,
    snapshot: Path,
    scorer: str,
    project: Project,
    h5_path: Path,
    options: AnalysisOptions,
) -> None:
    """One video; ``options`` as resolved by :func:`analyze_videos` (its ``batchsize``
    and ``cropping`` set)."""
    batch_size, crop, dynamic = int(options.batchsize or 1), options.cropping, options.dynamic
    info = video_info(video)
    nframes = info.nframes
    if options.robust_nframes or nframes <= 0:
        nframes = count_frames(video)
    num_joints = len(setup.bodyparts)
    data = np.full((nframes, 3 * num_joints), np.nan)
    log(
        f"Analyzing {video} ({nframes} frames, {info.width}x{info.height}, "
        f"{info.fps:.2f} fps) with {scorer}"
    )
    start = time.time()
    # An engine on the CPU takes every core it may: FFmpeg's decoding threads (one per
    # core) would only add synchronisation there, twice the CPU time per frame of one
    # thread at 640x480 (benchmarks/analyze_onnx.py). A GPU engine leaves the cores free.
    decode_threads = 1 if runs_on_cpu(engine) else None
    with VideoReader(video, crop=crop, rgb=True, decode_threads=decode_threads) as reader:
        bar = tqdm(total=nframes, desc=video.name, unit="frame", mininterval=1.0, leave=False)
        try:
            if dynamic[0]:
                _run_dynamic(
                    engine, setup.cfg, reader, data, float(dynamic[1]), int(dynamic[2]), bar
                )
            else:
                _run_batched(engine, setup.cfg, reader, data, batch_size, bar)
        finally:
            bar.close()
        used_crop = reader.crop
    stop = time.time()
    missing = int(np.isnan(data[:, 2::3]).all(axis=1).sum()) if nframes else 0
    if missing:
        log(f"{video.name}: {missing} of {nframes} frame(s) could not be read; their rows are NaN")
    model_cfg = dict(setup.cfg)
    model_cfg.update(init_weights=str(snapshot), batch_size=batch_size)
    metadata = analysis_metadata(
        start=start,
        stop=stop,
        scorer=scorer,
        model_cfg=model_cfg,
        fps=info.fps,
        batch_size=batch_size,
        frame_size=(info.width, info.height),
        nframes=nframes,
        iteration=project.iteration,
        fraction=setup.fraction,
        crop=used_crop,
    )
    write_analysis(data, scorer, setup.bodyparts, h5_path, metadata, options.save_as_csv)
    rate = nframes / max(stop - start, 1e-9)
    log(f"Saved {h5_path} ({rate:.1f} frames/s)")


def analyze_videos(
    config: str | os.PathLike[str],
    videos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    videotype: str = "",
    shuffle: int = 1,
    trainingsetindex: int = 0,
    batchsize: int | None = None,
    save_as_csv: bool = False,
    destfolder: str | os.PathLike[str] | None = None,
    cropping: Sequence[int] | None = None,
    dynamic: tuple[bool, float, int] = (False, 0.5, 10),
    gputouse: int | None = None,
    robust_nframes: bool = False,
    snapshot_index: int | str | None = None,
    force: bool = False,
    threads: int | None = None,
    *,
    modelprefix: str = "",
    engine: str | EngineFactory = "auto",
    options: AnalysisOptions | None = None,
    iteration: int | None = None,
    auto_track: bool = True,
    n_tracks: int | None = None,
    calibrate: bool = False,
    identity_only: bool = False,
) -> str:
    """Predict body-part positions in every frame of ``videos`` (DLC's ``analyze_videos``).

    ``videos``: files and/or folders (``videotype`` filters, e.g. ``".mp4"``). The model
    is the config's ``snapshotindex`` snapshot (``snapshot_index`` overrides it; ``"all"``
    means the last) of ``TrainingFraction[trainingsetindex]`` and ``shuffle``. Frames go
    through in batches of ``batchsize`` (default: the config's ``batch_size``).
    ``cropping=[x1, x2, y1, y2]`` overrides the config's crop; ``dynamic=(True, pcutoff,
    margin)`` turns on dynamic cropping (batch size 1). Videos whose ``.h5`` exists are
    skipped unless ``force``. ``gputouse`` sets ``CUDA_VISIBLE_DEVICES``; ``threads``
    limits the engine's CPU threads (so does ``OMP_NUM_THREADS``; see
    :func:`dlcflow.core.threads.thread_budget`). ``engine``: ``"auto"`` (ONNX Runtime when
    the snapshot's ONNX export ``snapshot-<n>.onnx`` exists and is current, TensorFlow when
    not or when TensorFlow has a GPU; :func:`dlcflow.inference.engines.choose_engine`),
    ``"tensorflow"``, ``"onnx"`` (the export must exist: ``dlcflow export``), or a factory
    ``(pose_cfg, snapshot_prefix) -> Engine``. Both runtimes share the decoding.
    ``options``: an :class:`AnalysisOptions` instead of those arguments (batchsize to
    engine), which must then keep their defaults. ``iteration``: the model of that
    refinement iteration instead of the config's (the workflow analyzes with the model its
    rule names, which after ``dlcflow merge`` is not always the config's).

    A multi-animal project's videos get their detections (``<stem><scorer>_full.pickle``
    and ``_meta.pickle``); with ``auto_track`` (DLC's default) they are then assembled,
    tracked with the config's ``default_track_method`` and stitched into ``n_tracks``
    tracks (default: the config's individuals), ``<stem><scorer>_el.h5``
    (:func:`dlcflow.tracking.pipeline.track_video`; ``calibrate`` and ``identity_only`` as
    DLC's assembly). A video whose output exists is skipped unless ``force``.

    Returns the scorer name ``DLC_<net>_<Task><date>shuffle<n>_<iterations>``.
    """
    opts = AnalysisOptions.gather(options, locals(), "analyze_videos")
    project = Project(config, iteration=iteration)
    if project.multianimal and opts.dynamic[0]:
        raise ValueError(
            f"{project.config_path}: dynamic cropping is for single-animal projects; "
            "a multi-animal video is analyzed whole"
        )
    if opts.gputouse is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(opts.gputouse)
    setup, (model,) = model_snapshots(
        project, shuffle, trainingsetindex, snapshot_index, modelprefix, allow_all=False
    )
    snapshot, scorer = model.snapshot, model.scorer
    batchsize = opts.batchsize
    batch_size = int(batchsize if batchsize is not None else project.cfg.get("batch_size") or 1)
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, not {batch_size}")
    dyn = opts.dynamic
    if dyn[0]:
        batch_size = 1
        log(f"Dynamic cropping (pcutoff {dyn[1]}, margin {dyn[2]} px): batch size 1")
    run = replace(opts, batchsize=batch_size, cropping=_crop_setting(project, opts.cropping))
    found = list_videos(videos, videotype)
    if not found:
        exts = videotype or ", ".join(VIDEO_EXTENSIONS)
        log(f"No videos found in {videos} (looked for {exts})")
        return scorer
    log(f"Using {snapshot.name} of {setup.test_cfg_path.parent.parent.name}: scorer {scorer}")
    if project.multianimal:
        tracking = TrackingRequest(auto_track, n_tracks, calibrate, identity_only)
        _analyze_multianimal(project, found, setup, model, run, destfolder, force, tracking)
        return scorer
    loaded: Engine | None = None
    for video in found:
        h5_path = Project.analysis_output(video, scorer, destfolder)
        if h5_path.exists() and not force:
            log(f"{video}: already analyzed ({h5_path.name}); skipped (force=True to redo)")
            continue
        if loaded is None:
            loaded = make_engine(opts.engine, setup.cfg, snapshot, threads=opts.threads)
        _analyze_video(video, loaded, setup, snapshot, scorer, project, h5_path, run)
    log("The videos are analyzed.")
    return scorer


def _analyze_multianimal(
    project: Project,
    videos: Sequence[Path],
    setup: ModelSetup,
    model: ModelRef,
    options: AnalysisOptions,
    destfolder: str | os.PathLike[str] | None,
    force: bool,
    tracking: TrackingRequest,
) -> None:
    """Detections of every video (``_full.pickle``), then, with ``tracking.auto_track``,
    its tracks (``_el.h5``)."""
    check_individuals(project, setup.cfg)
    method = str(project.cfg.get("default_track_method") or "ellipse")
    loaded: MultiAnimalEngine | None = None
    for video in videos:
        full = Project.detections_output(video, model.scorer, destfolder)
        tracks = Project.tracks_output(video, model.scorer, method, destfolder)
        final = tracks if tracking.auto_track else full
        if final.exists() and not force:
            log(f"{video}: already analyzed ({final.name}); skipped (force=True to redo)")
            continue
        if force or not full.exists():
            if loaded is None:
                loaded = make_multi_engine(
                    model.snapshot, setup.cfg, options.engine, threads=options.threads
                )
            detect_video(
                video,
                loaded,
                setup.cfg,
                full_path=full,
                meta_for=Project.analysis_output(video, model.scorer, destfolder),
                scorer=model.scorer,
                iteration=project.iteration,
                fraction=setup.fraction,
                batch_size=int(options.batchsize or 1),
                crop=options.cropping,
                robust_nframes=options.robust_nframes,
            )
        if tracking.auto_track:
            track_video(
                project,
                full,
                inference_cfg=setup.test_cfg_path.with_name("inference_cfg.yaml"),
                track_method=method,
                n_tracks=tracking.n_tracks,
                calibrate=tracking.calibrate,
                identity_only=tracking.identity_only,
                save_as_csv=options.save_as_csv,
            )
    log("The videos are analyzed.")
