"""Multi-animal pose networks (DLC 2.3's maDLC TensorFlow models) in Keras 3.

A model maps an RGB 0..255 batch ``(B, H, W, 3)`` to a dict of stride-8 maps, ``(h, w) =
dlcflow.training.nets.output_size(H, W)``:

* ``part_pred`` ``(B, h, w, J + num_idchannel)`` logits: the body parts, then one
  identity channel per individual (``num_idchannel > 0``);
* ``locref`` ``(B, h, w, 2J)``: dx, dy per body part (x ``locref_stdev`` px);
* ``pairwise_pred`` ``(B, h, w, 2L)``: the part affinity field of each limb of
  ``partaffinityfield_graph`` (x then y);
* ``part_pred_interm`` as ``part_pred`` with ``intermediate_supervision`` (not
  EfficientNet, as DLC).

Backbones are :mod:`dlcflow.training.backbones` (Keras layer names, so ImageNet weights
and snapshots load as for single animal). Heads (DLC: ``nnets/multi.py``):

* **mid-level fusion** (every backbone; DLC's "dual fusion" decoder): a stride-8 feature
  -- ResNet ``block2/unit_3`` (Keras ``conv3_block3_out``), MobileNetV2 ``layer_7``
  (Keras ``block_5``), EfficientNet DLC's ``block_<k>`` (k = 4, 7, 7, 7, 9, 12, 14 for
  b0..b6: the last stride-8 block) -- through a 1x1 conv to ``bank3`` (128) channels,
  concatenated with the stride-16 features upsampled x2 (3x3 transposed conv, ``bank5``
  = 128 channels; both ReLU as TF-slim's default). DLC builds this decoder only for
  ``stride < 8`` and ends it with its stride-2 prediction layers (stride 4); at stride 8
  dlcflow ends it with 3x3 stride-1 convolutions instead. Note: at ``stride: 8`` DLC
  2.3's ``PoseNetFactory`` actually picks the single-animal classes (plain transposed-conv
  heads on the stride-16 features, ``multi_stage`` ignored); ``multi_fusion: false`` in
  pose_cfg builds exactly that network.
* **DLCRNet_ms5** (``net_type: dlcrnet_ms5``, or ``resnet_*`` with ``multi_stage:
  true``): ResNet with ``block1/unit_3`` (Keras ``conv2_block3_out``, stride 4) through
  3x3/2 conv 256 -> 3x3/2 conv 256 -> 1x1 conv 128, and ``block2/unit_3`` through 3x3/2
  conv 512 -> 1x1 conv 128 (each conv + batch norm (no scale, TF-slim's default) +
  ReLU), concatenated with the stride-16 features; stage 1 = transposed-conv heatmaps and
  PAFs, a shared 128-channel transposed-conv feature; stages 2..4 and the final stage =
  3x3 convolutions on ``[heatmaps, PAFs, feature]``, heatmaps of stages >= 3 added to the
  previous stage's. Only the final stage is output and supervised (as DLC).
  Keras' ResNet puts the stride on the first unit of a block, TF-slim on the last, so
  slim's ``block1/unit_3`` (stride 8), which DLC bilinearly resizes to stride 4, is
  Keras' ``conv2_block3_out`` (stride 4) here, and no resize is needed.

Batch norm follows :func:`dlcflow.training.nets.set_batchnorm_frozen` for the backbone;
the DLCRNet decoder's new batch-norm layers always train.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import keras
from keras import layers

from dlcflow.project.posecfg import load_pose_cfg
from dlcflow.training import backbones, nets

#: DLC's EfficientNet mid-level block (0-based ``block_<k>`` endpoint) per variant.
EFFICIENTNET_MID_BLOCK = {"b0": 4, "b1": 7, "b2": 7, "b3": 7, "b4": 9, "b5": 12, "b6": 14}
DLCRNET = "dlcrnet_ms5"
DECODER_PREFIX = "decoder_"


def backbone_type(cfg: Mapping[str, Any]) -> str:
    """The backbone's net_type (``dlcrnet_ms5`` runs on ``resnet_50``)."""
    net_type = str(cfg["net_type"])
    return "resnet_50" if net_type == DLCRNET else net_type


def is_multi_stage(cfg: Mapping[str, Any]) -> bool:
    """DLCRNet's multi-fusion, multi-stage decoder (ResNets only, as DLC)."""
    if str(cfg["net_type"]) == DLCRNET:
        return True
    return bool(cfg.get("multi_stage", False)) and "resnet" in str(cfg["net_type"])


def channel_counts(cfg: Mapping[str, Any]) -> dict[str, int]:
    """Channels of each output: ``part_pred`` J + num_idchannel, ``locref`` 2J,
    ``pairwise_pred`` 2 x num_limbs (ValueError for inconsistent counts)."""
    num_joints = int(cfg["num_joints"])
    num_id = int(cfg.get("num_idchannel", 0) or 0)
    graph = cfg.get("partaffinityfield_graph") or []
    num_limbs = int(cfg.get("num_limbs", len(graph)))
    if num_joints < 1:
        raise ValueError(f"num_joints must be >= 1, got {num_joints}")
    if num_id < 0 or num_limbs < 0:
        raise ValueError(f"num_idchannel {num_id} and num_limbs {num_limbs} must be >= 0")
    if graph and len(graph) != num_limbs:
        raise ValueError(
            f"num_limbs {num_limbs} differs from the {len(graph)} edges of partaffinityfield_graph"
        )
    return {
        "part_pred": num_joints + num_id,
        "locref": 2 * num_joints,
        "pairwise_pred": 2 * num_limbs,
    }


def _deconv(filters: int, name: str, activation: str | None = None) -> layers.Layer:
    """DLC's prediction layer: 3x3 transposed convolution, stride 2, SAME."""
    return layers.Conv2DTranspose(
        filters, 3, strides=2, padding="same", activation=activation, name=name
    )


def _conv3(filters: int, name: str) -> layers.Layer:
    """DLC's stage prediction layer: 3x3 convolution, stride 1, SAME, linear."""
    return layers.Conv2D(filters, 3, padding="same", name=name)


def _conv_bn_relu(x: Any, filters: int, kernel: int, stride: int, name: str) -> Any:
    """TF-slim conv2d with batch norm (no bias, no BN scale) and ReLU."""
    x = layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(epsilon=1e-3, scale=False, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _mid_feature(net_type: str, trunk: keras.Model, feats: backbones.Features) -> Any:
    """The stride-8 mid-level feature DLC fuses (see the module docstring)."""
    fam = backbones.family(net_type)
    if fam == "resnet":
        return trunk.get_layer("conv3_block3_out").output
    if fam == "mobilenet":
        return feats.intermediate[7][0]
    return feats.intermediate[EFFICIENTNET_MID_BLOCK[net_type.rsplit("-", 1)[1]] + 1][0]


def _fusion_heads(
    cfg: Mapping[str, Any], net_type: str, trunk: keras.Model, feats: backbones.Features
) -> dict[str, Any]:
    """Mid-level fusion at stride 8, then 3x3 convolution heads."""
    counts = channel_counts(cfg)
    mid = _mid_feature(net_type, trunk, feats)
    bank = layers.Conv2D(
        int(cfg.get("bank3", 128)), 1, activation="relu", name=f"{DECODER_PREFIX}parallel_1"
    )(mid)
    up = _deconv(int(cfg.get("bank5", 128)), "upsampled_block4", "relu")(feats.features)
    net = layers.Concatenate(name="fused_features")([bank, up])
    return {key: _conv3(n, name)(net) for key, n, name in _heads(counts)}


def _heads(counts: Mapping[str, int]) -> list[tuple[str, int, str]]:
    return [
        ("part_pred", counts["part_pred"], "part_pred"),
        ("locref", counts["locref"], "locref_pred"),
        ("pairwise_pred", counts["pairwise_pred"], "pairwise_pred"),
    ]


def _plain_heads(cfg: Mapping[str, Any], feats: backbones.Features) -> dict[str, Any]:
    """DLC 2.3's effective stride-8 network: transposed-conv heads on stride 16."""
    return {key: _deconv(n, name)(feats.features) for key, n, name in _heads(channel_counts(cfg))}


def _dlcrnet_heads(cfg: Mapping[str, Any], trunk: keras.Model, feats: backbones.Features) -> dict:
    """DLCRNet_ms5's multi-fusion and multi-stage decoder (see the module docstring)."""
    counts = channel_counts(cfg)
    n_hm, n_paf = counts["part_pred"], counts["pairwise_pred"]
    p = DECODER_PREFIX
    bank1 = trunk.get_layer("conv2_block3_out").output  # stride 4
    bank2 = trunk.get_layer("conv3_block3_out").output  # stride 8
    b2 = _conv_bn_relu(bank2, 512, 3, 2, f"{p}parallel_1")
    b2 = _conv_bn_relu(b2, 128, 1, 1, f"{p}parallel_2")
    b1 = _conv_bn_relu(bank1, 256, 3, 2, f"{p}parallel_3")
    b1 = _conv_bn_relu(b1, 256, 3, 2, f"{p}parallel_4")
    b1 = _conv_bn_relu(b1, 128, 1, 1, f"{p}parallel_5")
    net = layers.Concatenate(name="fused_features")([b1, b2, feats.features])
    hm = _deconv(n_hm, "part_pred_s1")(net)
    locref = _deconv(counts["locref"], "locref_pred")(net)
    feature = _deconv(int(cfg.get("bank3", 128)), "stage_feature", "relu")(net)
    paf = _deconv(n_paf, "pairwise_pred_s1")(net)
    stage_input = layers.Concatenate(name="stage2_input")([hm, paf, feature])
    for i in range(2, 5):
        previous = hm
        paf = _conv3(n_paf, f"pairwise_pred_s{i}")(stage_input)
        hm = _conv3(n_hm, f"part_pred_s{i}")(stage_input)
        if i > 2:
            hm = layers.Add(name=f"part_pred_s{i}_sum")([hm, previous])
        stage_input = layers.Concatenate(name=f"stage{i + 1}_input")([hm, paf, feature])
    return {
        "part_pred": _conv3(n_hm, "part_pred")(stage_input),
        "locref": locref,
        "pairwise_pred": _conv3(n_paf, "pairwise_pred")(stage_input),
    }


def build_multi_model(cfg: Mapping[str, Any]) -> keras.Model:
    """The multi-animal network of a pose_cfg (``net_type`` incl. ``dlcrnet_ms5``,
    ``multi_stage``, ``num_joints``, ``num_idchannel``, ``num_limbs`` /
    ``partaffinityfield_graph``, ``init_weights``, ``intermediate_supervision[_layer]``,
    optional ``multi_fusion`` (default true), ``bank3``/``bank5``, ``freeze_bn``).

    Input ``image`` float32 ``(B, H, W, 3)`` RGB 0..255, ``H, W >= 32``; outputs
    ``{"part_pred", "locref", "pairwise_pred"[, "part_pred_interm"]}`` at stride 8.
    """
    net_type = backbone_type(cfg)
    backbones.family(net_type)
    counts = channel_counts(cfg)
    image = keras.Input(shape=(None, None, 3), dtype="float32", name="image")
    x = backbones.preprocess_layer(net_type, cfg.get("mean_pixel"))(image)
    x = backbones.PadToMultiple(nets.BACKBONE_STRIDE, name="pad_to_16")(x)
    feats = backbones.build_backbone(net_type, x)
    trunk = keras.Model(image, feats.features)
    if is_multi_stage(cfg):
        outputs = _dlcrnet_heads(cfg, trunk, feats)
    elif cfg.get("multi_fusion", True):
        outputs = _fusion_heads(cfg, net_type, trunk, feats)
    else:
        outputs = _plain_heads(cfg, feats)
    interm = cfg.get("intermediate_supervision", False) and "efficientnet" not in net_type
    if interm:
        tensor = nets._interm_features({**cfg, "net_type": net_type}, feats)
        outputs["part_pred_interm"] = _deconv(counts["part_pred"], "part_pred_interm")(tensor)
    name = "dlcflow_ma_" + str(cfg["net_type"]).replace(".", "").replace("-", "_")
    model = keras.Model(image, outputs, name=name)
    init = nets._init_weights_value(cfg.get("init_weights", "none"))
    if init != "none":
        nets.load_init_weights(model, init, net_type)
    freeze = cfg.get("freeze_bn")
    nets.set_batchnorm_frozen(model, init != "none" if freeze is None else bool(freeze))
    for layer in model.layers:  # the decoder's batch norm is new: it always trains
        if layer.name.startswith(DECODER_PREFIX) and isinstance(layer, layers.BatchNormalization):
            layer.trainable = True
            layer.momentum = nets.BN_MOMENTUM_SCRATCH
    return model


def multi_inference_model(model: keras.Model) -> keras.Model:
    """Same input, outputs ``{"prob": sigmoid(part_pred), "locref", "pairwise_pred"}``."""
    out = model.output
    prob = layers.Activation("sigmoid", name="prob")(out["part_pred"])
    return keras.Model(
        model.inputs[0],
        {"prob": prob, "locref": out["locref"], "pairwise_pred": out["pairwise_pred"]},
        name=model.name + "_inference",
    )


def load_trained_multi_model(
    pose_cfg: Mapping[str, Any] | str | os.PathLike[str], snapshot_prefix: str | os.PathLike[str]
) -> keras.Model:
    """The multi-animal network of a pose_cfg (mapping or path) with a snapshot's
    weights (no initial weights fetched)."""
    if not isinstance(pose_cfg, Mapping):
        pose_cfg = load_pose_cfg(pose_cfg)
    model = build_multi_model({**pose_cfg, "init_weights": "none"})
    nets.restore_snapshot(snapshot_prefix, model)
    return model
