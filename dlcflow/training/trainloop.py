"""The training loop shared by single- and multi-animal training: DLC's learning-rate
schedules and optimizers, the image cache, the sample stream, snapshots (save, prune,
resume), ``learning_stats.csv``, ``log.txt`` and progress lines.

:func:`run_training` runs one model folder's training given a :class:`Pipeline` (how to
build the network and where its batches come from): ``dlcflow.training.train`` gives the
single-animal one, ``dlcflow.training.matrain`` the multi-animal one. What it writes is
described in :mod:`dlcflow.training.train`. TensorFlow is imported when a function here
runs, not when the module is imported.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dlcflow.core.fileio import atomic_write_text
from dlcflow.core.log import CONSOLE
from dlcflow.core.progress import Progress, format_duration
from dlcflow.core.threads import configure_threads, thread_budget
from dlcflow.project.paths import Project, snapshot_iteration

LOG = logging.getLogger("dlcflow.training.train")
#: Decoded training images are kept in memory up to this many bytes (the rest are read
#: from disk when needed).
CACHE_BYTES = 4 << 30
#: Seconds between the progress lines on stderr.
PROGRESS_SECONDS = 30.0


class TrainError(RuntimeError):
    """Training cannot start or go on; a one-line message."""


def _say(message: str) -> None:
    """A line for stderr only (not ``log.txt``): what training is doing, its progress."""
    LOG.info(message, extra=CONSOLE)


# -- data ------------------------------------------------------------------------------------
def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise TrainError(f"{path}: cannot read this training image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@dataclass
class TrainingSet:
    """The training entries: image files, their keypoints (N, J, 2; NaN = not labeled),
    and the decoded images that fit the cache."""

    paths: list[Path]
    keypoints: np.ndarray
    cache: dict[int, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, i: int) -> np.ndarray:
        """RGB uint8 image of entry ``i`` (from the cache when it is there)."""
        cached = self.cache.get(i)
        return cached if cached is not None else read_rgb(self.paths[i])


def cache_images(trainset: TrainingSet, cache_bytes: int = CACHE_BYTES) -> None:
    """Decode the training images into ``trainset.cache`` up to ``cache_bytes``."""
    paths = trainset.paths
    _say(f"caching {len(paths)} training images in memory (up to {cache_bytes / 2**30:g} GiB) ...")
    used, t0 = 0, time.monotonic()
    for n, path in enumerate(paths):
        image = read_rgb(path)
        used += image.nbytes
        if used > cache_bytes:
            LOG.info(
                "image cache full after %d of %d images; reading the rest from disk", n, len(paths)
            )
            break
        trainset.cache[n] = image
    mb = sum(im.nbytes for im in trainset.cache.values()) / 2**20
    took = format_duration(time.monotonic() - t0)
    _say(f"cached {len(trainset.cache)} of {len(paths)} images ({mb:.1f} MB) in {took}")


def _sample_stream(
    n: int, batch_size: int, jitter: Callable[[np.random.Generator], float], seed: int
) -> Iterator[tuple[int, int, float]]:
    """Endless ``(entry index, sample seed, scale jitter)``: shuffled epochs, one jitter
    per batch (as DLC draws one scale per batch)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x747261696E]))
    order: np.ndarray = np.empty(0, dtype=np.int64)
    pos = 0
    while True:
        j = jitter(rng)
        for _ in range(batch_size):
            if pos >= len(order):
                order, pos = rng.permutation(n), 0
            yield int(order[pos]), int(rng.integers(0, 2**62)), float(j)
            pos += 1


# -- optimisation ----------------------------------------------------------------------------
def learning_rate(cfg: Mapping[str, Any], iteration: int) -> float:
    """The learning rate of (1-based) ``iteration``.

    ``multi_step`` ``[[lr, until], ...]``: ``lr`` up to and including iteration ``until``
    (DLC's ``LearningRate``), the last rate after the schedule. EfficientNets: DLC's
    cosine decay of ``lr_init`` over ``decay_steps`` down to ``alpha_r`` x lr_init.
    ``optimizer: adam`` with ``adam_lr``: that constant rate.
    """
    if "efficientnet" in str(cfg.get("net_type", "")):
        lr0 = float(cfg.get("lr_init", 5e-4))
        steps = max(1, int(cfg.get("decay_steps", 30000)))
        alpha = float(cfg.get("alpha_r", 0.02))
        t = min(max(iteration - 1, 0), steps) / steps
        return lr0 * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * t)) + alpha)
    if str(cfg.get("optimizer", "sgd")).lower() == "adam" and cfg.get("adam_lr") is not None:
        return float(cfg["adam_lr"])
    steps = cfg.get("multi_step") or [[0.005, 10000]]
    for lr, until in steps:
        if iteration <= int(until):
            return float(lr)
    return float(steps[-1][0])


def make_optimizer(cfg: Mapping[str, Any]) -> Any:
    """SGD with momentum 0.9 (DLC's default) or Adam, per pose_cfg ``optimizer``."""
    import keras  # noqa: PLC0415 (Keras only when a function here runs)

    name = str(cfg.get("optimizer", "sgd")).lower()
    if "efficientnet" in str(cfg.get("net_type", "")):
        name = "adam"  # DLC switches EfficientNets to Adam with cosine decay
    lr = learning_rate(cfg, 1)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=0.9)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    raise TrainError(f"unknown optimizer {cfg.get('optimizer')!r} in pose_cfg; use sgd or adam")


# -- run-time settings -----------------------------------------------------------------------
@contextlib.contextmanager
def _determinism(enabled: bool) -> Iterator[None]:
    """TensorFlow op determinism for the duration of a deterministic run."""
    if not enabled:
        yield
        return
    from tensorflow.python.framework import config as tf_config  # noqa: PLC0415 (TensorFlow)

    before = tf_config.is_op_determinism_enabled()
    tf_config.enable_op_determinism()
    try:
        yield
    finally:
        if not before:
            tf_config.disable_op_determinism()


# -- snapshots and statistics ----------------------------------------------------------------
def training_step(
    model: Any,
    optimizer: Any,
    channels: Mapping[str, int],
    loss: Callable[[Any, Any, Mapping[str, Any]], Mapping[str, Any]],
    cfg: Mapping[str, Any],
) -> Callable[..., Any]:
    """A ``tf.function`` ``(images uint8 (B, H, W, 3), targets) -> loss`` applying one
    update: ``loss(targets, outputs, cfg)["total"]`` plus the model's own losses;
    ``channels`` are the target maps' channel counts. Traced once for any image size."""
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow only when a function here runs)

    loss_cfg = dict(cfg)
    spec = {k: tf.TensorSpec((None, None, None, c), tf.float32) for k, c in channels.items()}

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3), tf.uint8), spec])
    def step(images: Any, targets: Any) -> Any:
        with tf.GradientTape() as tape:
            outputs = model(tf.cast(images, tf.float32), training=True)
            value = loss(targets, outputs, loss_cfg)["total"]
            total = value + tf.add_n(model.losses) if model.losses else value
        variables = model.trainable_variables
        grads = tape.gradient(total, variables)
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return value

    return step


def _delete_snapshot(prefix: Path) -> None:
    """Remove a snapshot's files, ``.index`` first (so it never looks complete)."""
    with contextlib.suppress(FileNotFoundError):
        prefix.with_name(prefix.name + ".index").unlink()
    for path in prefix.parent.glob(prefix.name + ".*"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _prune(snapshots: Sequence[Path], keep: int | None) -> None:
    if keep is None or keep <= 0:
        return
    for prefix in list(snapshots)[:-keep]:
        _delete_snapshot(prefix)
        LOG.info("removed %s (keeping the newest %d)", prefix.name, keep)


def _truncate_stats(path: Path, iteration: int) -> None:
    """Keep the learning_stats.csv rows up to ``iteration``."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        head = line.split(",", 1)[0].strip()
        if head.isdigit() and int(head) <= iteration:
            kept.append(line + "\n")
    atomic_write_text(path, "".join(kept))


def _is_snapshot(value: Any) -> bool:
    text = str(value or "")
    return Path(text).name.startswith("snapshot-") and Path(text + ".index").is_file()


def _resume(prefixes: Sequence[Path], model: Any, optimizer: Any) -> tuple[int, Path]:
    """Restore the newest snapshot that loads; ``(iteration, prefix)``."""
    from dlcflow.training.nets import restore_snapshot  # noqa: PLC0415 (TensorFlow / Keras)

    for prefix in reversed(list(prefixes)):
        try:
            iteration = int(restore_snapshot(str(prefix), model, optimizer))
        except Exception as err:  # noqa: BLE001 (a broken snapshot: try the one before)
            LOG.warning(f"{prefix.name} cannot be restored ({err}); trying an older snapshot")
            continue
        named = snapshot_iteration(prefix)
        if iteration != named:
            LOG.warning(f"{prefix.name} stores iteration {iteration}; using {named}")
        return named, prefix
    raise TrainError(
        f"{prefixes[-1].parent}: no snapshot there fits this network (pose_cfg changed?); "
        "pass resume=False to delete them and start over"
    )


# -- the training run ------------------------------------------------------------------------
def _interval(value: int | None, cfg_value: Any, name: str) -> int:
    chosen = value if value is not None else cfg_value
    try:
        return max(1, int(chosen))
    except (TypeError, ValueError):
        raise TrainError(f"{name} must be an integer, not {chosen!r}") from None


@dataclass
class _Run:
    """One training run's model folder and settings."""

    project: Project
    fraction: float
    shuffle: int
    cfg: dict[str, Any]
    display_iters: int
    save_iters: int
    max_iter: int
    batch: int
    keep: int | None
    seed: int | None
    deterministic: bool
    threads: int | None

    def snapshots(self) -> list[Path]:
        return self.project.snapshots(self.fraction, self.shuffle)

    def prefix(self, iteration: int) -> Path:
        return self.project.snapshot_prefix(self.fraction, self.shuffle, iteration)

    @property
    def stats_path(self) -> Path:
        return self.project.learning_stats(self.fraction, self.shuffle)


@dataclass
class Pipeline:
    """What differs between single- and multi-animal training: ``build_model(cfg)`` and
    ``start(run, model, optimizer, data_seed, start_iteration)`` -> ``(train step,
    batch iterator, number of images, number cached)``."""

    build_model: Callable[[Mapping[str, Any]], Any]
    start: Callable[[_Run, Any, Any, int, int], tuple[Callable[..., Any], Iterator, int, int]]


def run_training(run: _Run, resume: bool, pipeline: Pipeline) -> str:
    """Train ``run`` (resuming from its newest snapshot unless ``resume`` is False);
    return the final snapshot prefix."""
    cfg = run.cfg
    name = run.project.model_name(run.fraction, run.shuffle)
    LOG.info(
        f"training {name} ({cfg['net_type']}, batch {run.batch}, {cfg.get('optimizer', 'sgd')}) "
        f"up to iteration {run.max_iter}; display every {run.display_iters}, save every "
        f"{run.save_iters}"
    )
    if "tensorflow" not in sys.modules:
        _say("loading TensorFlow ...")
    configure_threads(thread_budget(run.threads or None))
    import keras  # noqa: PLC0415 (Keras only when training runs)

    from dlcflow.training import nets  # noqa: PLC0415 (imports TensorFlow / Keras)

    if run.seed is not None:
        keras.utils.set_random_seed(int(run.seed))
    data_seed = int(run.seed) if run.seed is not None else int.from_bytes(os.urandom(4), "little")
    init = cfg.get("init_weights")
    build_cfg = dict(cfg, init_weights="none") if _is_snapshot(init) else cfg
    _say(f"building {cfg['net_type']} (initial weights: {init}) ...")
    t0 = time.monotonic()
    model = pipeline.build_model(build_cfg)
    took = format_duration(time.monotonic() - t0)
    _say(f"built {cfg['net_type']} ({model.count_params():,} parameters) in {took}")
    if build_cfg is not cfg:
        nets.restore_snapshot(str(init), model)
        LOG.info("initial weights from %s", init)
    optimizer = make_optimizer(cfg)
    optimizer.build(model.trainable_variables)

    start, resumed = 0, None
    for leftover in run.prefix(0).parent.glob(".tmp-*-snapshot-*"):  # a killed save's files
        leftover.unlink(missing_ok=True)
    snapshots = run.snapshots()
    if resume and snapshots:
        start, resumed = _resume(snapshots, model, optimizer)
    elif snapshots:
        for prefix in snapshots:
            _delete_snapshot(prefix)
        LOG.info("starting over: removed %d old snapshots", len(snapshots))
    if resumed is not None:
        LOG.info("resuming from %s (iteration %d)", resumed.name, start)
        if start >= run.max_iter:
            LOG.info("already trained to iteration %d (maxiters %d)", start, run.max_iter)
            return str(resumed)
    _truncate_stats(run.stats_path, start)

    step, batches, n, cached = pipeline.start(run, model, optimizer, data_seed, start)
    params = model.count_params()
    LOG.info(f"{n} training images ({cached} cached); {params} parameters")
    resumed_from = f" (resumed from {resumed.name})" if resumed is not None else ""
    _say(
        f"starting at iteration {start} of {run.max_iter}{resumed_from}; the first iteration "
        f"also builds the training graph; progress every {PROGRESS_SECONDS:g} s"
    )
    cv2_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # the pipeline runs images in parallel already
    try:
        _loop(run, model, optimizer, step, batches, start)
    finally:
        cv2.setNumThreads(cv2_threads)
    final = run.prefix(run.max_iter)
    LOG.info("training done: %s", final.name)
    return str(final)


def _loop(
    run: _Run, model: Any, optimizer: Any, step: Callable[..., Any], batches: Iterator, start: int
) -> None:
    """Iterations ``start + 1 .. max_iter``: update, log, save, prune."""
    from dlcflow.training.nets import save_snapshot  # noqa: PLC0415 (TensorFlow / Keras)

    current_lr: float | None = None
    loss_sum, n_loss = 0.0, 0
    t_mark, it_mark = time.perf_counter(), start
    progress = Progress(start, run.max_iter, PROGRESS_SECONDS, emit=_say)
    with open(run.stats_path, "a", encoding="utf-8") as stats:
        for it in range(start + 1, run.max_iter + 1):
            lr = learning_rate(run.cfg, it)
            if lr != current_lr:
                optimizer.learning_rate = lr
                current_lr = lr
            images, targets = next(batches)
            loss = float(step(images, targets))
            loss_sum += loss
            n_loss += 1
            progress.update(it, loss, lr)
            if it % run.display_iters == 0 or it == run.max_iter:
                mean = loss_sum / n_loss
                if not math.isfinite(mean):
                    raise TrainError(
                        f"loss is {mean} at iteration {it}; lower the learning rate "
                        "(multi_step) or check the labels"
                    )
                now = time.perf_counter()
                rate = (it - it_mark) / max(now - t_mark, 1e-9)
                LOG.info("iteration: %d loss: %.4f lr: %s (%.2f it/s)", it, mean, lr, rate)
                stats.write(f"{it}, {mean:.5f}, {lr}\n")  # and the last iteration
                stats.flush()
                loss_sum, n_loss = 0.0, 0
                t_mark, it_mark = time.perf_counter(), it
            if it % run.save_iters == 0 or it == run.max_iter:
                prefix = run.prefix(it)
                save_snapshot(str(prefix), model, optimizer, iteration=it)
                LOG.info("saved %s", prefix.name)
                _prune(run.snapshots(), run.keep)
                t_mark, it_mark = time.perf_counter(), it
