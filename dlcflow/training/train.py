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

Multi-animal projects train through :mod:`dlcflow.training.matrain` (same loop, its own
network, samples and loss); the loop itself is :mod:`dlcflow.training.trainloop`.
TensorFlow is imported when a function here runs, not when the module is imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from dlcflow.core.log import file_and_stderr
from dlcflow.project.models import training_fraction
from dlcflow.project.paths import Project
from dlcflow.project.posecfg import load_pose_cfg
from dlcflow.training import matrain
from dlcflow.training.augment import Augmenter, build_augmenter
from dlcflow.training.dataset import read_documentation
from dlcflow.training.targets import make_targets, pose_loss
from dlcflow.training.trainloop import (
    CACHE_BYTES,
    LOG,
    PROGRESS_SECONDS,
    Pipeline,
    TrainError,
    TrainingSet,
    _determinism,
    _interval,
    _Run,
    _sample_stream,
    _truncate_stats,
    cache_images,
    learning_rate,
    make_optimizer,
    read_rgb,
    run_training,
    training_step,
)

__all__ = [
    "PROGRESS_SECONDS",
    "TrainError",
    "TrainingSet",
    "_truncate_stats",
    "learning_rate",
    "load_training_set",
    "make_dataset",
    "make_optimizer",
    "make_train_step",
    "read_rgb",
    "train_network",
]

_TARGET_KEYS = ("part", "part_weight", "locref", "locref_weight")


def _channels(cfg: Mapping[str, Any]) -> dict[str, int]:
    """Channels of each target map."""
    j = int(cfg["num_joints"])
    return {"part": j, "part_weight": j, "locref": 2 * j, "locref_weight": 2 * j}


# -- data ------------------------------------------------------------------------------------
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
    cache_images(trainset, cache_bytes)
    return trainset


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
def make_train_step(model: Any, optimizer: Any, cfg: Mapping[str, Any]) -> Callable[..., Any]:
    """A ``tf.function`` ``(images uint8 (B, H, W, 3), targets) -> loss`` that applies one
    update (:func:`dlcflow.training.trainloop.training_step`)."""
    return training_step(model, optimizer, _channels(cfg), pose_loss, cfg)


# -- the training run ------------------------------------------------------------------------
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
        return run_training(run, resume, matrain.PIPELINE if project.multianimal else PIPELINE)


def _start_single(
    run: _Run, model: Any, optimizer: Any, data_seed: int, start: int
) -> tuple[Callable[..., Any], Iterator, int, int]:
    """The single-animal training set, augmenter, batches and step."""
    cfg = run.cfg
    trainset = load_training_set(run.project, cfg, run.fraction, run.shuffle)
    augmenter = build_augmenter(cfg, train=True, seed=data_seed)
    dataset = make_dataset(
        trainset, cfg, augmenter, run.batch, data_seed + start, run.deterministic, run.threads
    )
    step = make_train_step(model, optimizer, cfg)
    return step, iter(dataset), len(trainset), len(trainset.cache)


def _build_single(cfg: Mapping[str, Any]) -> Any:
    from dlcflow.training import nets  # noqa: PLC0415 (imports TensorFlow / Keras)

    return nets.build_model(cfg)


PIPELINE = Pipeline(_build_single, _start_single)
