"""The re-identification network of Lauer et al. 2022 in Keras: a small transformer
encoder over the feature tokens of one detection's keypoints, trained with a triplet loss;
and the backbone of a trained pose network that gives those features
(:func:`backbone_feature_model`).

:func:`build_reid_encoder`: tokens ``(n_keypoints, feature_dim)`` → a dense projection to
``dim`` → ``depth`` blocks of Keras ``MultiHeadAttention`` + feed-forward (pre-norm,
residual) → the mean over the keypoints → a dense embedding, L2-normalised.
:func:`train_reid` fits it on anchor, positive and negative tokens with the triplet loss
``max(0, |a - p|² - |a - n|² + margin)``, with a progress line per ``PROGRESS_SECONDS``
(``epoch K/N  loss L ...``); :func:`embed` applies it. Seeded by
``keras.utils.set_random_seed``, so a training is repeatable on one machine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from dlcflow.core.progress import Progress
from dlcflow.training import backbones, manets, nets
from dlcflow.training.trainloop import PROGRESS_SECONDS

__all__ = [
    "backbone_feature_model",
    "build_reid_encoder",
    "embed",
    "train_reid",
    "triplet_loss",
]


def backbone_feature_model(
    pose_cfg: Mapping[str, Any], snapshot_prefix: str | os.PathLike[str]
) -> tuple[keras.Model, int]:
    """The backbone of a trained multi-animal snapshot: image ``(B, H, W, 3)`` RGB 0..255
    → its stride-16 feature map, and that stride (the features re-identification samples
    at the keypoints)."""
    model = manets.load_trained_multi_model(pose_cfg, snapshot_prefix)
    net_type = manets.backbone_type(pose_cfg)
    probe = backbones.build_backbone(net_type, keras.Input((None, None, 3)))
    name = probe.features._keras_history.operation.name
    return keras.Model(model.inputs[0], model.get_layer(name).output), nets.BACKBONE_STRIDE


def build_reid_encoder(
    n_keypoints: int,
    feature_dim: int,
    dim: int = 32,
    heads: int = 2,
    depth: int = 1,
    embedding_dim: int = 16,
) -> keras.Model:
    """The encoder (see the module docstring): ``(batch, n_keypoints, feature_dim)`` →
    ``(batch, embedding_dim)`` unit vectors."""
    tokens = keras.Input((n_keypoints, feature_dim), name="keypoint_features")
    x = layers.Dense(dim, name="project")(tokens)
    for block in range(depth):
        h = layers.LayerNormalization(name=f"norm{block}a")(x)
        h = layers.MultiHeadAttention(heads, max(1, dim // heads), name=f"attention{block}")(h, h)
        x = layers.Add()([x, h])
        h = layers.LayerNormalization(name=f"norm{block}b")(x)
        h = layers.Dense(2 * dim, activation="gelu", name=f"mlp{block}a")(h)
        x = layers.Add()([x, layers.Dense(dim, name=f"mlp{block}b")(h)])
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    x = layers.Dense(embedding_dim, name="embedding")(x)
    x = layers.UnitNormalization(name="unit")(x)
    return keras.Model(tokens, x, name="reid_encoder")


def triplet_loss(margin: float = 0.2):  # noqa: ANN201 (a Keras loss function)
    """The triplet loss on ``y_pred`` ``(batch, 3, dim)`` (anchor, positive, negative)."""

    def loss(y_true, y_pred):  # noqa: ANN001, ANN202, ARG001 (Keras' loss signature)
        a, p, n = y_pred[:, 0], y_pred[:, 1], y_pred[:, 2]
        pos = ops.sum(ops.square(a - p), axis=-1)
        neg = ops.sum(ops.square(a - n), axis=-1)
        return ops.maximum(pos - neg + margin, 0.0)

    return loss


def train_reid(
    anchors: np.ndarray,
    positives: np.ndarray,
    negatives: np.ndarray,
    epochs: int = 100,
    batch_size: int = 64,
    seed: int = 0,
    learning_rate: float = 1e-3,
    margin: float = 0.2,
    **encoder_args: int,
) -> keras.Model:
    """An encoder trained on triplets of tokens, each ``(n_triplets, n_keypoints,
    feature_dim)``; ``encoder_args`` go to :func:`build_reid_encoder`."""
    arrays = [np.asarray(x, dtype=np.float32) for x in (anchors, positives, negatives)]
    shape = arrays[0].shape
    if len(shape) != 3 or any(x.shape != shape for x in arrays) or not shape[0]:
        raise ValueError(
            "anchors, positives and negatives must be non-empty arrays of one shape "
            f"(n_triplets, n_keypoints, feature_dim), not {[x.shape for x in arrays]}"
        )
    keras.utils.set_random_seed(seed)
    encoder = build_reid_encoder(shape[1], shape[2], **encoder_args)
    inputs = [keras.Input(shape[1:], name=n) for n in ("anchor", "positive", "negative")]
    stacked = layers.Lambda(lambda v: ops.stack(v, axis=1), name="triplet")(
        [encoder(x) for x in inputs]
    )
    model = keras.Model(inputs, stacked)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=triplet_loss(margin))
    dummy = np.zeros((shape[0], 1), dtype=np.float32)
    progress = Progress(0, int(epochs), PROGRESS_SECONDS, unit="epoch")

    class _Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            progress.update(epoch + 1, (logs or {}).get("loss"))

    model.fit(
        arrays,
        dummy,
        epochs=int(epochs),
        batch_size=int(batch_size),
        verbose=0,
        callbacks=[_Report()],
    )
    return encoder


def embed(encoder: keras.Model, tokens: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Embeddings ``(n, embedding_dim)`` of tokens ``(n, n_keypoints, feature_dim)``."""
    array = np.asarray(tokens, dtype=np.float32)
    return np.asarray(encoder.predict(array, batch_size=batch_size, verbose=0))
