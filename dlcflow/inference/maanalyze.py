"""Multi-animal video analysis: every frame's detections into DLC's ``_full.pickle``.

The video is streamed as for single animal (:class:`dlcflow.inference.batches.FrameBatches`
decodes frames in a background thread into reusable batch buffers); the engine
(:func:`dlcflow.inference.maengines.make_multi_engine`, TensorFlow or ONNX Runtime) takes
the next batch while a decoding thread turns the last one's outputs into detections
(peaks, locref, PAF costs, identity: :func:`dlcflow.inference.madetect.detect_batch`).

Outputs, written atomically: ``<stem><scorer>_full.pickle`` (``metadata`` + one frame dict
per decoded frame; a frame that cannot be decoded is absent, with a warning) and
``<stem><scorer>_meta.pickle`` (DLC's ``{"data": ...}``). Assembly, tracking and stitching
(:mod:`dlcflow.tracking`) read the ``_full.pickle``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dlcflow.core.log import log
from dlcflow.core.video import VideoReader, video_info
from dlcflow.data.pose import SINGLE
from dlcflow.inference.batches import FrameBatches, count_frames
from dlcflow.inference.engines import runs_on_cpu
from dlcflow.inference.madetect import DetectionParams, detect_batch
from dlcflow.inference.maengines import MultiAnimalEngine, MultiOutputs
from dlcflow.io.fullpickle import full_metadata, write_full_pickle
from dlcflow.io.labels import read_annotations
from dlcflow.io.poses import analysis_metadata, write_meta
from dlcflow.project.paths import Project

__all__ = ["check_individuals", "detect_video"]

Crop = tuple[int, int, int, int]


def check_individuals(project: Project, cfg: dict[str, Any]) -> None:
    """ValueError (one line naming the config) when the config's individuals are not those
    the model was trained on: the training data's individuals, and the identity channels
    of an identity network (one per individual)."""
    names = list(project.individuals)
    ids = int(cfg.get("num_idchannel", 0) or 0)
    if ids and ids != len(names):
        raise ValueError(
            f"{project.config_path}: the config names {len(names)} individuals, but the model "
            f"was trained with identity for {ids}; train a model for these individuals"
        )
    labels = project.training_collected_data()
    if labels.is_file():
        columns = read_annotations(labels).columns
        trained = [i for i in columns.unique("individuals") if i != SINGLE]
        if trained and trained != names:
            raise ValueError(
                f"{project.config_path}: individuals {names} differ from those the model was "
                f"trained on {trained} ({labels}); restore them, or create a new training "
                "dataset and train"
            )


def _detect_frames(
    engine: MultiAnimalEngine,
    batches: FrameBatches,
    params: DetectionParams,
    frames: dict[int, dict[str, Any]],
    bar: tqdm,
) -> None:
    """Fill ``frames`` (frame index -> frame dict): the engine runs the next batch while
    the last one's outputs are decoded on a second thread."""
    pending: deque[Future[None]] = deque()
    running: deque[tuple[list[int], Any, Callable[[], MultiOutputs]]] = deque()

    def store(indices: list[int], outputs: MultiOutputs) -> None:
        prob, locref, pafs, identity = outputs
        for index, frame in zip(
            indices, detect_batch(prob, locref, pafs, identity, params), strict=True
        ):
            frames[index] = frame

    def finish(pool: ThreadPoolExecutor) -> None:
        indices, batch, wait = running.popleft()
        outputs = wait()
        batches.release(batch)
        while len(pending) >= 2:
            pending.popleft().result()
        pending.append(pool.submit(store, indices, outputs))
        bar.update(len(indices))

    with ThreadPoolExecutor(1, thread_name_prefix="dlcflow-detect") as pool:
        for indices, batch in batches:
            running.append((indices, batch, engine.submit(batch)))
            if len(running) > 1:
                finish(pool)
        while running:
            finish(pool)
        while pending:
            pending.popleft().result()


def detect_video(
    video: Path,
    engine: MultiAnimalEngine,
    cfg: dict[str, Any],
    *,
    full_path: Path,
    meta_for: Path,
    scorer: str,
    iteration: int,
    fraction: float,
    batch_size: int = 1,
    crop: Crop | None = None,
    robust_nframes: bool = False,
) -> Path:
    """Detect every frame of ``video`` with ``engine`` and the test pose_cfg ``cfg``; write
    ``full_path`` (``_full.pickle``) and the ``_meta.pickle`` of ``meta_for`` (the video's
    pose-file name, ``<stem><scorer>.h5``). Returns ``full_path``."""
    info = video_info(video)
    nframes = info.nframes
    if robust_nframes or nframes <= 0:
        nframes = count_frames(video)
    if nframes < 1:
        raise ValueError(f"{video}: the video has no frames to analyze")
    params = DetectionParams.from_pose_cfg(cfg)
    log(
        f"Analyzing {video} ({nframes} frames, {info.width}x{info.height}, "
        f"{info.fps:.2f} fps) with {scorer}: detections of {len(cfg['all_joints_names'])} "
        f"body parts, {len(params.limbs)} PAF limbs"
    )
    frames: dict[int, dict[str, Any]] = {}
    start = time.time()
    decode_threads = 1 if runs_on_cpu(engine.runner) else None
    with VideoReader(video, crop=crop, rgb=True, decode_threads=decode_threads) as reader:
        bar = tqdm(total=nframes, desc=video.name, unit="frame", mininterval=1.0, leave=False)
        batches = FrameBatches(reader, batch_size)
        try:
            _detect_frames(engine, batches, params, frames, bar)
        finally:
            batches.close()
            bar.close()
        used_crop = reader.crop
    stop = time.time()
    frames = {i: f for i, f in frames.items() if i < nframes}
    missing = nframes - len(frames)
    if missing:
        log(f"{video.name}: {missing} of {nframes} frame(s) could not be read: no detections")
    model_cfg = dict(cfg)
    model_cfg["batch_size"] = batch_size
    meta = analysis_metadata(
        start=start,
        stop=stop,
        scorer=scorer,
        model_cfg=model_cfg,
        fps=info.fps,
        batch_size=batch_size,
        frame_size=(info.width, info.height),
        nframes=nframes,
        iteration=iteration,
        fraction=fraction,
        crop=used_crop,
    )
    write_meta(meta_for, meta)
    write_full_pickle(full_path, full_metadata(cfg, nframes), frames)
    rate = nframes / max(stop - start, 1e-9)
    log(f"Saved {full_path} ({rate:.1f} frames/s)")
    return full_path
