"""Pose networks (DLC 2.3's single-animal TensorFlow models) in Keras 3, and snapshots.

See ``docs/network-contract.md``. A model maps an RGB 0..255 image batch ``(B, H, W, 3)``
to part logits ``(B, h, w, J)`` and location refinement ``(B, h, w, 2J)`` (plus
``part_interm`` with intermediate supervision), ``(h, w) = output_size(H, W)``: a
stride-16 backbone (:mod:`dlcflow.training.backbones`) followed, per head, by one 3x3
``Conv2DTranspose`` of stride 2 (DLC's ``prediction_layer``), so stride 8 in total.

Batch normalisation: DLC runs its pretrained backbones with ``is_training=False``
(moving statistics frozen). With pretrained weights (``init_weights`` "imagenet" or a
file) dlcflow freezes the batch-norm layers (Keras ``trainable=False``: inference mode,
statistics and affine parameters fixed, Keras' fine-tuning convention; DLC still trains
the affine parameters, a negligible difference). Training from scratch (``none``, what
the tests and the demo use) needs batch statistics, so batch norm trains there, with
momentum 0.9 so that the moving statistics used at inference keep up with a short
training. The optional pose_cfg key ``freeze_bn`` (bool) overrides this choice.

Snapshots are ``tf.train.Checkpoint(model=..., optimizer=..., iteration=...)`` files,
``<prefix>.index`` + ``<prefix>.data-00000-of-00001`` (DLC's names); they are written
under a temporary name in the same folder and renamed data first, ``.index`` last, so an
``.index`` file always means a complete snapshot (:func:`dlcflow.project.paths.list_snapshots`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import urllib.request
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from dlcflow.project.posecfg import load_pose_cfg
from dlcflow.training import backbones

log = logging.getLogger(__name__)

OUTPUT_STRIDE = 8
BACKBONE_STRIDE = 16
DOWNLOAD_TIMEOUT_S = 30.0
BN_MOMENTUM_SCRATCH = 0.9


class InitWeightsError(RuntimeError):
    """Initial weights that cannot be fetched or loaded (one-line message)."""


def output_size(height: int, width: int) -> tuple[int, int]:
    """Score-map size for an input image of ``height`` x ``width`` pixels (stride 8)."""
    return 2 * (-(-int(height) // BACKBONE_STRIDE)), 2 * (-(-int(width) // BACKBONE_STRIDE))


def _head(filters: int, name: str) -> layers.Layer:
    """DLC's prediction layer: 3x3 transposed convolution, stride 2, SAME, linear."""
    return layers.Conv2DTranspose(filters, 3, strides=2, padding="same", name=name)


def _interm_features(cfg: Mapping[str, Any], feats: backbones.Features) -> Any:
    """The stride-16 tensor chosen by ``intermediate_supervision_layer``."""
    n = int(cfg.get("intermediate_supervision_layer", 12))
    valid = sorted(k for k, (_, s) in feats.intermediate.items() if s == BACKBONE_STRIDE)
    if n not in valid:
        raise ValueError(
            f"intermediate_supervision_layer {n} is not a stride-16 layer of "
            f"{cfg['net_type']} (valid: {valid[0]}..{valid[-1]}; {feats.layer_desc})"
        )
    return feats.intermediate[n][0]


def build_model(cfg: Mapping[str, Any]) -> keras.Model:
    """The pose network for a pose_cfg (``net_type``, ``num_joints``, ``init_weights``,
    ``intermediate_supervision[_layer]``, ``mean_pixel``, optional ``freeze_bn``).

    Input ``image`` float32 ``(B, H, W, 3)`` RGB 0..255, any ``H, W >= 32``; outputs
    ``{"part", "locref"[, "part_interm"]}``. The locref head is always built (a fixed
    output signature); ``location_refinement: false`` only switches its loss and use off.
    Initial weights are loaded as :func:`load_init_weights` says.
    """
    net_type = str(cfg["net_type"])
    backbones.family(net_type)
    num_joints = int(cfg["num_joints"])
    if num_joints < 1:
        raise ValueError(f"num_joints must be >= 1, got {num_joints}")
    image = keras.Input(shape=(None, None, 3), dtype="float32", name="image")
    x = backbones.preprocess_layer(net_type, cfg.get("mean_pixel"))(image)
    x = backbones.PadToMultiple(BACKBONE_STRIDE, name="pad_to_16")(x)
    feats = backbones.build_backbone(net_type, x)
    outputs = {
        "part": _head(num_joints, "part_pred")(feats.features),
        "locref": _head(2 * num_joints, "locref_pred")(feats.features),
    }
    if cfg.get("intermediate_supervision", False):
        interm = _interm_features(cfg, feats)
        outputs["part_interm"] = _head(num_joints, "part_pred_interm")(interm)
    name = "dlcflow_" + net_type.replace(".", "").replace("-", "_")
    model = keras.Model(image, outputs, name=name)
    init = _init_weights_value(cfg.get("init_weights", "none"))
    if init != "none":
        load_init_weights(model, init, net_type)
    freeze = cfg.get("freeze_bn")
    set_batchnorm_frozen(model, init != "none" if freeze is None else bool(freeze))
    return model


def set_batchnorm_frozen(model: keras.Model, frozen: bool) -> None:
    """Freeze (inference mode, no updates) or unfreeze every batch-norm layer. Trainable
    batch norm gets momentum :data:`BN_MOMENTUM_SCRATCH` so that its moving statistics
    (used at inference) follow the weights within tens of steps; Keras' 0.99 / 0.999
    would lag a short from-scratch training by thousands of steps."""
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = not frozen
            if not frozen:
                layer.momentum = BN_MOMENTUM_SCRATCH


def inference_model(model: keras.Model) -> keras.Model:
    """Same input, outputs ``{"prob": sigmoid(part), "locref": locref}`` (shares weights)."""
    outputs = model.output
    prob = layers.Activation("sigmoid", name="prob")(outputs["part"])
    locref = outputs["locref"]
    return keras.Model(
        model.inputs[0], {"prob": prob, "locref": locref}, name=model.name + "_inference"
    )


# ---------------------------------------------------------------------- initial weights
def _init_weights_value(value: Any) -> str:
    """``imagenet``, ``none`` (also for None / empty) or a path, as given."""
    text = "" if value is None else str(value).strip()
    if text.lower() in ("", "none"):
        return "none"
    return "imagenet" if text.lower() == "imagenet" else text


def keras_cache_dir() -> Path:
    """Where Keras caches downloaded weights: ``$KERAS_HOME/models`` or ``~/.keras/models``."""
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return Path(home) / "models"


def _download(url: str, dest: Path) -> None:
    """Fetch ``url`` to ``dest`` (temp file + rename) or raise InitWeightsError."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with (
            urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp,
            os.fdopen(fd, "wb") as out,
        ):
            shutil.copyfileobj(resp, out)
        os.replace(tmp, dest)
    except Exception as err:  # noqa: BLE001 - any failure means "not available"
        Path(tmp).unlink(missing_ok=True)
        raise InitWeightsError(
            f"cannot download ImageNet weights {url} ({type(err).__name__}: {err}); "
            f"download it elsewhere and put it at {dest}, or set init_weights in pose_cfg.yaml "
            "to the path of a weights file (or 'none' to train from scratch)"
        ) from None


def imagenet_weights_file(net_type: str) -> Path:
    """Keras' ImageNet weights of ``net_type``'s backbone, downloaded into Keras' cache
    if absent (InitWeightsError naming the URL and the cache path when that fails)."""
    _, _, fname, url = backbones.keras_application(net_type)
    path = keras_cache_dir() / fname
    if not path.is_file():
        _download(url, path)
    return path


def _legacy_h5_weights(path: Path) -> dict[str, list[np.ndarray]] | None:
    """Weights per layer name from a legacy Keras ``.h5`` (keras.applications'
    downloads, ``save_weights(..., .h5)`` of Keras 2); None for another layout."""
    import h5py

    with h5py.File(path, "r") as f:
        root = f.get("model_weights", f)
        if "layer_names" not in root.attrs:
            return None
        found: dict[str, list[np.ndarray]] = {}
        for raw in root.attrs["layer_names"]:
            lname = raw.decode() if isinstance(raw, bytes) else str(raw)
            group = root[lname]
            names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
            if names:
                found[lname] = [np.asarray(group[n]) for n in names]
        return found


def _backbone_twin(model: keras.Model) -> keras.Model:
    """A fresh copy of ``model`` without its heads (input -> stride-16 features)."""
    twin = keras.models.clone_model(model)
    return keras.Model(twin.inputs[0], twin.get_layer("part_pred").input)


def _keras3_weights(path: Path, model: keras.Model, net_type: str) -> dict[str, list[np.ndarray]]:
    """Weights per layer name from a Keras 3 ``.weights.h5``. That format addresses
    layers by class and order, not by name, so Keras loads the file into the network it
    was saved from -- a twin of ``model``, ``model``'s backbone (a dlcflow model with
    other heads, or a keras.applications backbone), keras.applications' network with
    its top -- and the weights are read back by name."""
    ctor, kwargs, _, _ = backbones.keras_application(net_type)
    candidates = (
        ("dlcflow model", lambda: keras.models.clone_model(model)),
        ("backbone", lambda: _backbone_twin(model)),
        ("keras.applications model", lambda: ctor(weights=None, **kwargs)),
        (
            "keras.applications model with top",
            lambda: ctor(weights=None, **{**kwargs, "include_top": True, "input_shape": None}),
        ),
    )
    errors = []
    for what, make in candidates:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = make()
                ref.load_weights(str(path))
        except Exception as err:  # noqa: BLE001 - try the next layout
            errors.append(f"as {what}: {str(err).splitlines()[0][:120]}")
            continue
        log.info("init_weights %s: read as a %s weights file", path, what)
        return {layer.name: layer.get_weights() for layer in ref.layers if layer.weights}
    raise InitWeightsError(
        f"init_weights {path} is no weights file of {net_type} ({'; '.join(errors)})"
    )


def copy_weights_by_name(
    model: keras.Model, weights: Mapping[str, list[np.ndarray]]
) -> tuple[list[str], list[str]]:
    """Set every layer of ``model`` whose name and weight shapes match; return
    (matched layer names, model layers with weights that found no match)."""
    matched, missing = [], []
    for layer in model.layers:
        if not layer.weights:
            continue
        src = weights.get(layer.name)
        shapes = [tuple(w.shape) for w in layer.weights]
        if src is not None and [tuple(a.shape) for a in src] == shapes:
            layer.set_weights(src)
            matched.append(layer.name)
        else:
            missing.append(layer.name)
    return matched, missing


def load_init_weights(model: keras.Model, init_weights: str, net_type: str) -> list[str]:
    """Initialise ``model`` from ``imagenet`` (Keras' ImageNet weights of the backbone,
    downloaded into Keras' cache), a dlcflow snapshot prefix (``.../train/snapshot-<n>``,
    e.g. to start an iteration from the previous one's model) or a weights file: a Keras 3
    ``.weights.h5`` or legacy ``.h5`` of the keras.applications backbone (with or without
    top) or of a dlcflow model of this ``net_type`` (any number of joints). Layers are
    matched by name and shape; the matched names are returned and a summary is logged
    (heads that do not fit stay random). InitWeightsError if the file is missing,
    unreadable or not a weights file of this network."""
    if init_weights == "imagenet":
        path = imagenet_weights_file(net_type)
    else:
        path = Path(init_weights).expanduser()
        if path.with_name(path.name + ".index").is_file():
            try:  # a dlcflow snapshot, e.g. the last model of the previous iteration
                restore_snapshot(path, model)
            except ValueError:
                pass  # not one of ours (e.g. DLC's TF-slim ResNet checkpoint): error below
            else:
                log.info("init_weights %s: all layers loaded from the snapshot", path)
                return [layer.name for layer in model.layers if layer.weights]
        if (
            path.suffix in (".ckpt", ".index", ".meta")
            or path.with_name(path.name + ".index").exists()
        ):
            raise InitWeightsError(
                f"init_weights {path}: TensorFlow(-slim) checkpoints such as DLC's pretrained "
                "resnet_v1_*.ckpt cannot initialise a Keras network; use 'imagenet', 'none' "
                "or a Keras .weights.h5 / .h5 file"
            )
        if not path.is_file():
            raise InitWeightsError(
                f"init_weights file {path} does not exist; set init_weights in pose_cfg.yaml to "
                "'imagenet', 'none' or the path of a Keras .weights.h5 / .h5 file"
            )
    try:
        weights = _legacy_h5_weights(path)
    except OSError as err:
        raise InitWeightsError(f"init_weights {path}: cannot read weights ({err})") from None
    if weights is None:
        weights = _keras3_weights(path, model, net_type)
    matched, missing = copy_weights_by_name(model, weights)
    if not matched:
        raise InitWeightsError(
            f"init_weights {path}: no layer of {net_type} matches the file's "
            f"{len(weights)} layers (is it a weights file of this network?)"
        )
    log.info(
        "init_weights %s: %d of %d layers with weights loaded; not in file: %s",
        path,
        len(matched),
        len(matched) + len(missing),
        ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else ""),
    )
    return matched


# ---------------------------------------------------------------------------- snapshots
def _checkpoint(model: keras.Model, optimizer: Any, iteration: tf.Variable) -> tf.train.Checkpoint:
    """Model weights keyed by layer name (``model/<layer>/<variable>``), so a snapshot
    also loads into a model built from the test pose_cfg (no intermediate head), plus
    the optimizer (Keras 3: ``iterations``, learning rate and slot variables, in the
    order of ``model.trainable_variables``) and the training iteration."""
    named = tf.train.Checkpoint(**{layer.name: layer for layer in model.layers if layer.weights})
    if optimizer is None:
        return tf.train.Checkpoint(model=named, iteration=iteration)
    return tf.train.Checkpoint(model=named, optimizer=optimizer, iteration=iteration)


def _fsync(path: str) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def save_snapshot(
    prefix: str | os.PathLike[str],
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer | None = None,
    iteration: int = 0,
) -> Path:
    """Write ``<prefix>.index`` + ``<prefix>.data-*`` (model, optimizer slots, iteration).

    Written under a temporary prefix in the same folder, then renamed: data file(s)
    first, the ``.index`` last (an existing ``.index`` of the same prefix is removed
    first), so an ``.index`` always belongs to complete data. Returns the prefix.
    """
    final = Path(prefix)
    folder = final.parent
    folder.mkdir(parents=True, exist_ok=True)
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    tmp = folder / f".tmp-{os.getpid()}-{final.name}"
    ckpt = _checkpoint(model, optimizer, tf.Variable(int(iteration), dtype=tf.int64))
    try:
        written = ckpt.write(str(tmp))
        index = Path(written + ".index")
        data = sorted(folder.glob(f"{tmp.name}.data-*"))
        for path in [*data, index]:
            _fsync(str(path))
        Path(str(final) + ".index").unlink(missing_ok=True)
        for path in data:
            os.replace(path, folder / (final.name + path.name[len(tmp.name) :]))
        os.replace(index, str(final) + ".index")
    finally:
        for leftover in folder.glob(f"{tmp.name}.*"):
            leftover.unlink(missing_ok=True)
    return final


def restore_snapshot(
    prefix: str | os.PathLike[str],
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer | None = None,
) -> int:
    """Load a snapshot into ``model`` (and ``optimizer``: its slots and iteration count,
    for resuming); return the stored training iteration. A snapshot saved without an
    optimizer leaves ``optimizer`` as it is (logged). FileNotFoundError if
    ``<prefix>.index`` is missing; ValueError if the snapshot does not fit the model."""
    path = Path(prefix)
    if not Path(str(path) + ".index").is_file():
        raise FileNotFoundError(f"snapshot {path}: {path.name}.index not found")
    if optimizer is not None:
        stored = tf.train.load_checkpoint(str(path)).get_variable_to_shape_map()
        if not any(key.startswith("optimizer/") for key in stored):
            log.warning("snapshot %s has no optimizer state; the optimizer starts fresh", path)
            optimizer = None
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    iteration = tf.Variable(0, dtype=tf.int64)
    try:
        status = _checkpoint(model, optimizer, iteration).read(str(path)).expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as err:
        first = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
        raise ValueError(f"snapshot {path} does not match the network ({first})") from None
    return int(iteration.numpy())


def load_trained_model(
    pose_cfg: Mapping[str, Any] | str | os.PathLike[str], snapshot_prefix: str | os.PathLike[str]
) -> keras.Model:
    """The network of a (test or train) pose_cfg (mapping or path) with a snapshot's
    weights: the training model (``part``/``locref`` logits); wrap it with
    :func:`inference_model` for probabilities. No initial weights are fetched."""
    if not isinstance(pose_cfg, Mapping):
        pose_cfg = load_pose_cfg(pose_cfg)
    cfg = {**pose_cfg, "init_weights": "none"}
    model = build_model(cfg)
    restore_snapshot(snapshot_prefix, model)
    return model
