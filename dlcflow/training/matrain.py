"""Multi-animal training (DLC 2.3's ``train_multianimal``): the ``.pickle`` training set,
fixed-size samples, targets, the network and its loss, run by the shared loop of
:mod:`dlcflow.training.trainloop` (snapshots, resume, ``learning_stats.csv``,
``log.txt``, progress, ``max_snapshots_to_keep``, deterministic mode).

``dlcflow.training.train.train_network`` trains multi-animal projects through
:data:`PIPELINE`. Samples: each image with its keypoints ``(n_individuals, J, 2)``
(individuals in config order, ``single`` last holding the unique body parts; NaN = not
labeled) goes through the multi-animal augmenter to ``crop_size`` (``[width, height]``);
keypoints outside the crop are dropped (DLC: ``0 < x < width``, ``0 < y < height``);
targets are :func:`dlcflow.training.matargets.make_multi_targets`.

The augmenter is :func:`dlcflow.training.maaugment.build_multi_augmenter` (crop sampling,
zoom by the scale jitter, flips, rotation, pixel transforms; ``crop_only: true`` keeps
the crop alone, for deterministic runs). Since it applies the scale jitter to the image
content, the targets' radii and PAF widths take ``global_scale`` alone (DLC, which
does not zoom the content, scales them by the jittered scale).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from dlcflow.project.paths import Project
from dlcflow.training.dataset import read_documentation
from dlcflow.training.maaugment import build_multi_augmenter
from dlcflow.training.matargets import TARGET_KEYS, make_multi_targets, multi_pose_loss
from dlcflow.training.matargets import target_channels as _channels
from dlcflow.training.trainloop import (
    Pipeline,
    TrainError,
    TrainingSet,
    _Run,
    _sample_stream,
    cache_images,
    training_step,
)

MultiAugmenter = Callable[
    [np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]
]


def crop_size(cfg: Mapping[str, Any]) -> tuple[int, int]:
    """pose_cfg ``crop_size`` as ``(width, height)`` (DLC's order; default 400 x 400)."""
    size = cfg.get("crop_size") or (400, 400)
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise TrainError(f"crop_size must be [width, height], not {size!r}") from None
    if width < 32 or height < 32:
        raise TrainError(f"crop_size {[width, height]} is too small (at least 32 x 32)")
    return width, height


def _inside(kp: np.ndarray, width: int, height: int) -> np.ndarray:
    """Keypoints outside ``0 < x < width, 0 < y < height`` (DLC's test) set to NaN."""
    kp = np.array(kp, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        ok = (kp[..., 0] > 0) & (kp[..., 0] < width) & (kp[..., 1] > 0) & (kp[..., 1] < height)
    kp[~ok] = np.nan
    return kp


def _augmenter(cfg: Mapping[str, Any], seed: int | None) -> MultiAugmenter:
    """The multi-animal augmenter of ``cfg`` (``crop_only: true``: only the crop)."""
    return build_multi_augmenter(cfg, seed)


# -- data ------------------------------------------------------------------------------------
def n_individuals(project: Project) -> int:
    """Rows of a sample's keypoints: the individuals, plus ``single`` for unique parts."""
    return len(project.individuals) + (1 if project.unique_bodyparts else 0)


def load_multi_training_set(
    project: Project, cfg: Mapping[str, Any], fraction: float, shuffle: int
) -> TrainingSet:
    """The Documentation pickle's multi-animal records: keypoints ``(N, n_individuals, J,
    2)`` (NaN = not labeled), images cached as for single animal."""
    doc = project.documentation_file(fraction, shuffle)
    if not doc.is_file():
        raise TrainError(
            f"{doc}: training dataset missing; run create_training_dataset (the `dataset` "
            "target) first"
        )
    data, _, _, _ = read_documentation(doc)
    if not data:
        raise TrainError(f"{doc}: no training entries")
    num_joints, n_ind = int(cfg["num_joints"]), n_individuals(project)
    keypoints = np.full((len(data), n_ind, num_joints, 2), np.nan, dtype=np.float32)
    paths = []
    for n, entry in enumerate(data):
        image = entry["image"]
        paths.append(
            project.root.joinpath(*(image.split("/") if isinstance(image, str) else image))
        )
        joints = entry.get("joints")
        if not isinstance(joints, Mapping):
            raise TrainError(f"{doc}: entry {n} is not a multi-animal record (joints per animal)")
        for ind, arr in joints.items():
            if not 0 <= int(ind) < n_ind:
                raise TrainError(f"{doc}: individual index {int(ind)} >= {n_ind} individuals")
            for idx, x, y in np.asarray(arr, dtype=np.float64).reshape(-1, 3):
                if not 0 <= int(idx) < num_joints:
                    raise TrainError(
                        f"{doc}: body part index {int(idx)} >= num_joints {num_joints}"
                    )
                keypoints[n, int(ind), int(idx)] = x, y
    trainset = TrainingSet(paths, keypoints)
    cache_images(trainset)
    return trainset


def batch_scale(cfg: Mapping[str, Any], rng: np.random.Generator) -> float:
    """The targets' scale of a batch: ``global_scale`` (the augmenter zooms the content by
    the jitter, so the radii in the crop stay those of the labels)."""
    del rng  # one scale for every batch
    return float(cfg.get("global_scale", 1.0))


def make_sample(
    image: np.ndarray,
    keypoints: np.ndarray,
    cfg: Mapping[str, Any],
    augmenter: MultiAugmenter,
    rng: np.random.Generator,
    scale: float,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One training sample: the augmented ``crop_size`` image (uint8) and its targets."""
    from dlcflow.training.nets import output_size  # noqa: PLC0415 (imports TensorFlow / Keras)

    img, kp = augmenter(image, np.asarray(keypoints, dtype=np.float64), rng)
    img = np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8))
    kp = _inside(kp, img.shape[1], img.shape[0])
    targets = make_multi_targets(kp, output_size(*img.shape[:2]), cfg, scale=scale)
    return img, targets


def make_multi_dataset(
    trainset: TrainingSet,
    cfg: Mapping[str, Any],
    augmenter: MultiAugmenter,
    batch_size: int,
    seed: int = 0,
    deterministic: bool = False,
    parallel_calls: int | None = None,
) -> Any:
    """The ``tf.data`` pipeline of batches ``(images uint8 (B, crop_h, crop_w, 3),
    targets dict)``; each sample depends only on its seed (``deterministic=True`` repeats
    exactly)."""
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow only when a function here runs)

    from dlcflow.training.nets import output_size  # noqa: PLC0415 (imports TensorFlow / Keras)

    width, height = crop_size(cfg)
    h, w = output_size(height, width)
    channels = _channels(cfg)
    target_cfg = dict(cfg)

    def load(index: np.ndarray, sample_seed: np.ndarray, scale: np.ndarray) -> tuple:
        rng = np.random.default_rng(int(sample_seed))
        i = int(index)
        img, targets = make_sample(
            trainset.image(i), trainset.keypoints[i], target_cfg, augmenter, rng, float(scale)
        )
        if img.shape[:2] != (height, width):
            raise TrainError(f"augmenter returned a {img.shape[:2]} image, not crop_size")
        return (img, *(targets[k] for k in TARGET_KEYS))

    def load_tf(index: Any, sample_seed: Any, scale: Any) -> tuple:
        image, *maps = tf.numpy_function(
            load, [index, sample_seed, scale], [tf.uint8] + [tf.float32] * 6, stateful=False
        )
        image.set_shape((height, width, 3))
        for key, value in zip(TARGET_KEYS, maps, strict=True):
            value.set_shape((h, w, channels[key]))
        return image, dict(zip(TARGET_KEYS, maps, strict=True))

    stream = tf.data.Dataset.from_generator(
        lambda: _sample_stream(len(trainset), batch_size, lambda r: batch_scale(cfg, r), seed),
        output_signature=(
            tf.TensorSpec((), tf.int64),
            tf.TensorSpec((), tf.int64),
            tf.TensorSpec((), tf.float32),
        ),
    )
    calls = tf.data.AUTOTUNE if parallel_calls is None else max(1, int(parallel_calls))
    dataset = stream.map(load_tf, num_parallel_calls=calls, deterministic=deterministic)
    return dataset.batch(batch_size).prefetch(2)


def make_multi_train_step(model: Any, optimizer: Any, cfg: Mapping[str, Any]) -> Callable[..., Any]:
    """A ``tf.function`` ``(images uint8 (B, H, W, 3), targets) -> loss`` that applies one
    update (:func:`dlcflow.training.trainloop.training_step`)."""
    return training_step(model, optimizer, _channels(cfg), multi_pose_loss, cfg)


def _start(
    run: _Run, model: Any, optimizer: Any, data_seed: int, start: int
) -> tuple[Callable[..., Any], Iterator, int, int]:
    cfg = run.cfg
    trainset = load_multi_training_set(run.project, cfg, run.fraction, run.shuffle)
    augmenter = _augmenter(cfg, data_seed)
    dataset = make_multi_dataset(
        trainset, cfg, augmenter, run.batch, data_seed + start, run.deterministic, run.threads
    )
    step = make_multi_train_step(model, optimizer, cfg)
    return step, iter(dataset), len(trainset), len(trainset.cache)


def _build(cfg: Mapping[str, Any]) -> Any:
    from dlcflow.training.manets import build_multi_model  # noqa: PLC0415 (TensorFlow / Keras)

    return build_multi_model(cfg)


#: What ``train_network`` runs for a multi-animal project.
PIPELINE = Pipeline(_build, _start)
