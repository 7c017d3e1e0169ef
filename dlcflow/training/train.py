"""Training: input pipeline, DLC's learning-rate schedules, snapshots, resume, statistics.

``train_network`` carries DeepLabCut's name and arguments. What it writes, in the model
folder's ``train/`` (paths from :class:`dlcflow.project.paths.Project`):

* ``snapshot-<iteration>.index`` / ``.data-*``: TensorFlow checkpoints of the model, the
  optimizer and the iteration, every ``save_iters`` and at the end; the newest
  ``max_snapshots_to_keep`` are kept (``None`` keeps all).
* ``learning_stats.csv``: no header, ``iteration, loss, lr`` every ``display_iters``
  and at the last iteration
  (the loss is the mean over those iterations), flushed at once.
* ``log.txt``: settings, progress (``iteration: N loss: L lr: R (x it/s)``), snapshots.

On stderr (and so in a rule's log) training also says what it is doing before the first
iteration (building the network, caching the images, where it starts) and, every
``PROGRESS_SECONDS``, ``iteration K/N  loss L  lr R  x it/s  elapsed T  left T``
(:class:`dlcflow.core.progress.Progress`); those lines stay out of ``log.txt``.

**Resume.** A run that stops (killed, out of time) and is started again continues from
its newest complete snapshot: model, optimizer state and iteration are restored and
``learning_stats.csv`` rows after that iteration are dropped. The log says
``resuming from snapshot-N``. A model already at ``maxiters`` is left as it is.

Differences from DLC 2.3: the images of a batch may differ in size (``padded_batch``;
the padding has weight 0 in the targets); the scale jitter is drawn once per batch as in
DLC, the other augmentations per image; the images are visited in shuffled epochs
instead of sampled with replacement; ``maxiters`` beyond the end of ``multi_step`` keeps
the last rate (DLC stops at the end of the schedule). ``optimizer: adam`` follows
``multi_step`` too unless ``adam_lr`` gives a constant rate; EfficientNets use Adam with
DLC's cosine decay (``lr_init``, ``decay_steps``, ``alpha_r``), as in DLC.

TensorFlow is imported when a function here runs, not when the module is imported.
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
from dlcflow.core.log import CONSOLE, file_and_stderr
from dlcflow.core.progress import Progress, format_duration
from dlcflow.core.threads import configure_threads, thread_budget
from dlcflow.project.models import training_fraction
from dlcflow.project.paths import Project, snapshot_iteration
from dlcflow.project.posecfg import load_pose_cfg
from dlcflow.training.augment import Augmenter, build_augmenter
from dlcflow.training.dataset import read_documentation
from dlcflow.training.targets import make_targets, pose_loss

__all__ = [
    "TrainingSet",
    "learning_rate",
    "load_training_set",
    "make_dataset",
    "make_optimizer",
    "make_train_step",
    "train_network",
]

LOG = logging.getLogger("dlcflow.training.train")
#: Decoded training images are kept in memory up to this many bytes (the rest are read
#: from disk when needed).
CACHE_BYTES = 4 << 30
#: Seconds between the progress lines on stderr.
PROGRESS_SECONDS = 30.0
_TARGET_KEYS = ("part", "part_weight", "locref", "locref_weight")


def _channels(cfg: Mapping[str, Any]) -> dict[str, int]:
    """Channels of each target map."""
    j = int(cfg["num_joints"])
    return {"part": j, "part_weight": j, "locref": 2 * j, "locref_weight": 2 * j}


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


def load_training_set(
    project: Project,
    cfg: Mapping[str, Any],
    fraction: float,
    shuffle: int,
    cache_bytes: int = CACHE_BYTES,
) -> TrainingSet:
    """Read the Documentation pickle's training entries and decode their images."""
    doc = project.documentation_file(fraction, shuffle)
    if not doc.is_file():
        raise TrainError(
            f"{doc}: training dataset missing; run create_training_dataset (the `dataset` "
            "target) first"
        )
    data, _, _, _ = read_documentation(doc)
    if not data:
        raise TrainError(f"{doc}: no training entries")
    num_joints = int(cfg["num_joints"])
    paths, keypoints = [], np.full((len(data), num_joints, 2), np.nan, dtype=np.float32)
    for n, entry in enumerate(data):
        paths.append(project.root.joinpath(*entry["image"]))
        joints = np.asarray(entry["joints"], dtype=np.float64).reshape(-1, 3)
        for idx, x, y in joints:
            if not 0 <= int(idx) < num_joints:
                raise TrainError(f"{doc}: body part index {int(idx)} >= num_joints {num_joints}")
            keypoints[n, int(idx)] = x, y
    trainset = TrainingSet(paths, keypoints)
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
    return trainset


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


def make_dataset(
    trainset: TrainingSet,
    cfg: Mapping[str, Any],
    augmenter: Augmenter,
    batch_size: int,
    seed: int = 0,
    deterministic: bool = False,
    parallel_calls: int | None = None,
) -> Any:
    """The ``tf.data`` pipeline of training batches ``(images uint8, targets dict)``.

    Indices, per-sample seeds and per-batch scale jitter come from a seeded generator;
    images (from the in-memory cache) are augmented and turned into targets by
    ``dlcflow.training.targets.make_targets`` in a parallel ``map``; batches of differently sized
    images are padded (bottom/right, zeros: weight 0). Each sample depends only on its
    seed, so ``deterministic=True`` (ordered map) repeats exactly.
    """
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow only when a function here runs)

    from dlcflow.training.nets import output_size  # noqa: PLC0415 (imports TensorFlow / Keras)

    channels = _channels(cfg)
    target_cfg = dict(cfg)

    def load(index: np.ndarray, sample_seed: np.ndarray, jitter: np.ndarray) -> tuple:
        image = trainset.image(int(index))
        img, kp, scale = augmenter(
            image, trainset.keypoints[int(index)], seed=int(sample_seed), jitter=float(jitter)
        )
        targets = make_targets(kp, output_size(*img.shape[:2]), target_cfg, scale=scale)
        return (
            np.ascontiguousarray(img),
            *(np.asarray(targets[k], dtype=np.float32) for k in _TARGET_KEYS),
        )

    def load_tf(index: Any, sample_seed: Any, jitter: Any) -> tuple:
        image, *maps = tf.numpy_function(
            load, [index, sample_seed, jitter], [tf.uint8] + [tf.float32] * 4, stateful=False
        )
        image.set_shape((None, None, 3))
        for key, value in zip(_TARGET_KEYS, maps, strict=True):
            value.set_shape((None, None, channels[key]))
        return image, dict(zip(_TARGET_KEYS, maps, strict=True))

    stream = tf.data.Dataset.from_generator(
        lambda: _sample_stream(len(trainset), batch_size, augmenter.sample_jitter, seed),
        output_signature=(
            tf.TensorSpec((), tf.int64),
            tf.TensorSpec((), tf.int64),
            tf.TensorSpec((), tf.float32),
        ),
    )
    calls = tf.data.AUTOTUNE if parallel_calls is None else max(1, int(parallel_calls))
    ds = stream.map(load_tf, num_parallel_calls=calls, deterministic=deterministic)
    ds = ds.padded_batch(batch_size, drop_remainder=True) if batch_size > 1 else ds.batch(1)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = bool(deterministic)
    ds = ds.with_options(options)
    return ds


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


def make_train_step(model: Any, optimizer: Any, cfg: Mapping[str, Any]) -> Callable[..., Any]:
    """A ``tf.function`` ``(images uint8 (B, H, W, 3), targets) -> loss`` that applies one
    update; traced once for any image size."""
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow only when a function here runs)

    loss_cfg = dict(cfg)
    spec = {k: tf.TensorSpec((None, None, None, c), tf.float32) for k, c in _channels(cfg).items()}

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3), tf.uint8), spec])
    def step(images: Any, targets: Any) -> Any:
        with tf.GradientTape() as tape:
            outputs = model(tf.cast(images, tf.float32), training=True)
            loss = pose_loss(targets, outputs, loss_cfg)["total"]
            loss_total = loss + tf.add_n(model.losses) if model.losses else loss
        variables = model.trainable_variables
        grads = tape.gradient(loss_total, variables)
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return loss

    return step


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


def train_network(
    config: str | os.PathLike[str],
    shuffle: int = 1,
    trainingsetindex: int = 0,
    max_snapshots_to_keep: int | None = 5,
    displayiters: int | None = None,
    saveiters: int | None = None,
    maxiters: int | None = None,
    deterministic: bool | None = None,
    seed: int | None = None,
    batch_size: int | None = None,
    threads: int | None = None,
    resume: bool = True,
    *,
    iteration: int | None = None,
) -> str:
    """Train the network of (``shuffle``, ``TrainingFraction[trainingsetindex]``) of the
    config's ``iteration`` (or of ``iteration``: the workflow trains the iteration its rule
    names, which after ``dlcflow merge`` is not always the config's).

    DLC's arguments: ``displayiters`` / ``saveiters`` (pose_cfg ``display_iters`` /
    ``save_iters`` when None), ``maxiters`` (None: the end of ``multi_step``),
    ``max_snapshots_to_keep``. dlcflow's: ``batch_size`` (None: pose_cfg ``batch_size``),
    ``deterministic`` with ``seed`` (two runs give the same losses; seeds Python, NumPy,
    TensorFlow and the augmentation; TensorFlow op determinism on while it runs; None:
    pose_cfg ``deterministic``, as in DLC),
    ``threads`` (the input pipeline's parallel calls, and TensorFlow's thread pools up to
    :func:`dlcflow.core.threads.thread_budget`), and
    ``resume`` (False: delete this model's snapshots and start over).

    Returns the prefix of the final snapshot (``.../train/snapshot-<maxiters>``).
    """
    project = Project(config, iteration=iteration)
    try:
        fraction = training_fraction(project, trainingsetindex)
    except ValueError as err:
        raise TrainError(str(err)) from None
    if project.multianimal:
        raise TrainError(f"{project.config_path}: multi-animal training is not supported yet")
    pose_cfg_path = project.pose_cfg(fraction, shuffle, "train")
    if not pose_cfg_path.is_file():
        raise TrainError(f"{pose_cfg_path}: missing; create the training dataset first")
    cfg = load_pose_cfg(pose_cfg_path)
    if deterministic is None:
        deterministic = bool(cfg.get("deterministic", False))
    run = _Run(
        project=project,
        fraction=fraction,
        shuffle=shuffle,
        cfg=cfg,
        display_iters=_interval(displayiters, cfg.get("display_iters", 1000), "displayiters"),
        save_iters=_interval(saveiters, cfg.get("save_iters", 50000), "saveiters"),
        max_iter=_interval(maxiters, (cfg.get("multi_step") or [[0, 1]])[-1][1], "maxiters"),
        batch=_interval(batch_size, cfg.get("batch_size", 1), "batch_size"),
        keep=max_snapshots_to_keep,
        seed=0 if deterministic and seed is None else seed,
        deterministic=deterministic,
        threads=threads,
    )
    project.train_folder(fraction, shuffle).mkdir(parents=True, exist_ok=True)
    with file_and_stderr(LOG, project.train_log(fraction, shuffle)), _determinism(deterministic):
        return _run(run, resume)


def _run(run: _Run, resume: bool) -> str:
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
    model = nets.build_model(build_cfg)
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

    trainset = load_training_set(run.project, cfg, run.fraction, run.shuffle)
    augmenter = build_augmenter(cfg, train=True, seed=data_seed)
    dataset = make_dataset(
        trainset, cfg, augmenter, run.batch, data_seed + start, run.deterministic, run.threads
    )
    step = make_train_step(model, optimizer, cfg)
    n, cached, params = len(trainset), len(trainset.cache), model.count_params()
    LOG.info(f"{n} training images ({cached} cached); {params} parameters")
    resumed_from = f" (resumed from {resumed.name})" if resumed is not None else ""
    _say(
        f"starting at iteration {start} of {run.max_iter}{resumed_from}; the first iteration "
        f"also builds the training graph; progress every {PROGRESS_SECONDS:g} s"
    )
    cv2_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # the pipeline runs images in parallel already
    try:
        _loop(run, model, optimizer, step, iter(dataset), start)
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
