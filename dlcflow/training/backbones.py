"""Backbones of the pose networks (Keras 3, TensorFlow backend), at output stride 16.

Each builder re-creates a ``keras.applications`` network with **the same layer names**, so
that Keras' ImageNet weights (or any Keras weights file of that network) are copied layer
by layer by name (:func:`dlcflow.training.nets.load_init_weights`). What differs from Keras, and
why (DLC 2.3 = ``deeplabcut/pose_estimation_tensorflow/nnets/`` + ``backbones/``):

* **ResNet-50/101/152** (v1, Keras' stride-on-the-1x1 variant, Caffe-converted weights):
  DLC runs TF-slim's ResNet v1 with ``output_stride=16``: the last stage keeps the
  resolution and its 3x3 convolutions are dilated (rate 2). Here ``conv5_block1`` has
  stride 1 and every ``conv5_block*_2_conv`` has ``dilation_rate=2``. Features: the
  2048-channel ``conv5_block3_out``. Intermediate supervision layer ``n`` is DLC's
  ``block3/unit_n`` = Keras' ``conv4_block<n>_out`` (stride 16).
* **MobileNetV2** (alpha 1.0/0.75/0.5/0.35): DLC sets the stride of the first 160-channel
  inverted-residual block to 1 (no dilation; ``backbones/mobilenet_v2.py``); so does
  this builder (``block_13`` has stride 1 and no ``block_13_pad``). Features: the
  1280-channel ``out_relu`` (DLC's ``layer_19``). Intermediate layer ``n`` is DLC's
  ``layer_n``: 1 = ``Conv1_relu``, 2 = ``expanded_conv``, ``n`` >= 3 = ``block_<n-2>``.
* **EfficientNet-B0..B6**: DLC sets the stride of stage 6 (112 -> 192 channels) to 1 (no
  dilation) and takes the output of the last MBConv block, without the 1x1 "top" conv,
  and without drop-connect; so does this builder (``block6a`` has stride 1). The
  intermediate layer ``n`` is the ``n``-th MBConv block (DLC itself ignores
  intermediate supervision for EfficientNet; dlcflow honours it).

Keeping stride 1 without dilation (MobileNet, EfficientNet) is DLC's choice and keeps
all convolutions dense (dilated depthwise convolutions are slow on CPU in TensorFlow).
Strides 2 use Keras' explicit bottom/right ``ZeroPadding2D`` + "valid" convolution; the
model pads its input to a multiple of 16, so every strided layer sees an even size and
the geometry is the one Keras' weights were trained with.

Preprocessing (:class:`Preprocess`, inside the model; input RGB 0..255):
ResNet ``(x - mean_pixel)`` (DLC's ``center_inputs``, RGB mean ``[123.68, 116.779,
103.939]``) then RGB -> BGR, because Keras' ResNet weights are Caffe's (BGR) -- this is
exactly ``keras.applications.resnet.preprocess_input``; MobileNetV2 ``x / 127.5 - 1``
(Keras' "tf" mode); EfficientNet ``(x - 255 * mean) / (255 * std)`` with ImageNet
mean/std, which is what both DLC and Keras' EfficientNet (after its built-in
rescaling/normalisation) compute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf
from keras import layers

KERAS_BASE = "https://storage.googleapis.com/"

RESNET_DEPTHS: dict[str, tuple[int, int, int, int]] = {
    "resnet_50": (3, 4, 6, 3),
    "resnet_101": (3, 4, 23, 3),
    "resnet_152": (3, 8, 36, 3),
}
MOBILENET_ALPHAS: dict[str, float] = {
    f"mobilenet_v2_{a}": float(a) for a in ("1.0", "0.75", "0.5", "0.35")
}
# (width, depth) coefficients, as keras.applications.efficientnet.
EFFICIENTNET_COEFS: dict[str, tuple[float, float]] = {
    "efficientnet-b0": (1.0, 1.0),
    "efficientnet-b1": (1.0, 1.1),
    "efficientnet-b2": (1.1, 1.2),
    "efficientnet-b3": (1.2, 1.4),
    "efficientnet-b4": (1.4, 1.8),
    "efficientnet-b5": (1.6, 2.2),
    "efficientnet-b6": (1.8, 2.6),
}
# (kernel, repeats, filters_in, filters_out, expand_ratio, stride): Keras' blocks with
# stage 6's stride set to 1, as DLC.
EFFICIENTNET_BLOCKS: tuple[tuple[int, int, int, int, int, int], ...] = (
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 1),
    (3, 1, 192, 320, 6, 1),
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DLC_MEAN_PIXEL = (123.68, 116.779, 103.939)


def family(net_type: str) -> str:
    """``resnet``, ``mobilenet`` or ``efficientnet``; ValueError for an unknown net_type."""
    if net_type in RESNET_DEPTHS:
        return "resnet"
    if net_type in MOBILENET_ALPHAS:
        return "mobilenet"
    if net_type in EFFICIENTNET_COEFS:
        return "efficientnet"
    known = [*RESNET_DEPTHS, *MOBILENET_ALPHAS, *EFFICIENTNET_COEFS]
    raise ValueError(f"unknown net_type {net_type!r}; choose one of {', '.join(known)}")


@keras.saving.register_keras_serializable(package="dlcflow")
class Preprocess(layers.Layer):
    """``(x - mean) * scale`` per channel, then optionally RGB -> BGR (no weights)."""

    def __init__(
        self,
        mean: tuple[float, ...] = (0.0, 0.0, 0.0),
        scale: tuple[float, ...] = (1.0, 1.0, 1.0),
        bgr: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mean = tuple(float(v) for v in mean)
        self.scale = tuple(float(v) for v in scale)
        self.bgr = bool(bgr)

    def call(self, inputs: Any) -> Any:
        """Normalise an RGB 0..255 batch."""
        x = (tf.cast(inputs, tf.float32) - tf.constant(self.mean)) * tf.constant(self.scale)
        return tf.reverse(x, axis=[-1]) if self.bgr else x

    def compute_output_shape(self, input_shape: tuple[Any, ...]) -> tuple[Any, ...]:
        """Same shape as the input."""
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        """Serializable settings."""
        return {**super().get_config(), "mean": self.mean, "scale": self.scale, "bgr": self.bgr}


@keras.saving.register_keras_serializable(package="dlcflow")
class PadToMultiple(layers.Layer):
    """Zero-pad H and W at the bottom/right up to a multiple of ``multiple`` (dynamic
    sizes; pixel coordinates are unchanged)."""

    def __init__(self, multiple: int = 16, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.multiple = int(multiple)

    def call(self, inputs: Any) -> Any:
        """Pad the spatial dimensions."""
        shape = tf.shape(inputs)
        m = self.multiple
        # non-negative operands only: ONNX's Mod differs from TF's FloorMod for negatives
        pad_h = (m - shape[1] % m) % m
        pad_w = (m - shape[2] % m) % m
        return tf.pad(inputs, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])

    def compute_output_shape(self, input_shape: tuple[Any, ...]) -> tuple[Any, ...]:
        """Static sizes rounded up when known."""
        m = self.multiple
        h, w = input_shape[1], input_shape[2]
        h = None if h is None else -(-h // m) * m
        w = None if w is None else -(-w // m) * m
        return (input_shape[0], h, w, input_shape[3])

    def get_config(self) -> dict[str, Any]:
        """Serializable settings."""
        return {**super().get_config(), "multiple": self.multiple}


def preprocess_layer(net_type: str, cfg_mean_pixel: Any = None) -> Preprocess:
    """The input normalisation of a backbone (see the module docstring)."""
    fam = family(net_type)
    if fam == "resnet":
        mean = tuple(cfg_mean_pixel) if cfg_mean_pixel is not None else DLC_MEAN_PIXEL
        return Preprocess(mean, (1.0, 1.0, 1.0), bgr=True, name="preprocess")
    if fam == "mobilenet":
        return Preprocess((127.5,) * 3, (1 / 127.5,) * 3, name="preprocess")
    mean = tuple(255.0 * m for m in IMAGENET_MEAN)
    scale = tuple(1.0 / (255.0 * s) for s in IMAGENET_STD)
    return Preprocess(mean, scale, name="preprocess")


@dataclass
class Features:
    """A backbone's output: stride-16 features and the intermediate-supervision
    candidates (DLC's numbering, 1-based) with their strides."""

    features: Any
    intermediate: dict[int, tuple[Any, int]]
    layer_desc: str  # how intermediate layer numbers map to layer names


def build_backbone(net_type: str, x: Any) -> Features:
    """Apply the backbone of ``net_type`` to a preprocessed, 16-padded tensor."""
    fam = family(net_type)
    if fam == "resnet":
        return _resnet(x, RESNET_DEPTHS[net_type])
    if fam == "mobilenet":
        return _mobilenet_v2(x, MOBILENET_ALPHAS[net_type])
    width, depth = EFFICIENTNET_COEFS[net_type]
    return _efficientnet(x, width, depth)


# --------------------------------------------------------------------------- ResNet v1
def _bn(name: str, epsilon: float = 1.001e-5, momentum: float = 0.99) -> layers.Layer:
    return layers.BatchNormalization(axis=-1, epsilon=epsilon, momentum=momentum, name=name)


def _resnet_block(
    x: Any, filters: int, stride: int, rate: int, conv_shortcut: bool, name: str
) -> Any:
    """Keras' ``residual_block_v1`` with a dilation rate for the 3x3 convolution."""
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = _bn(f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = _bn(f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", dilation_rate=rate, name=f"{name}_2_conv")(x)
    x = _bn(f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = _bn(f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _resnet(x: Any, depths: tuple[int, int, int, int]) -> Features:
    x = layers.ZeroPadding2D(((3, 3), (3, 3)), name="conv1_pad")(x)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = _bn("conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    interm: dict[int, tuple[Any, int]] = {}
    # (stage, filters, first stride, dilation): conv5 at stride 1, rate 2 (output stride 16)
    stages = (("conv2", 64, 1, 1), ("conv3", 128, 2, 1), ("conv4", 256, 2, 1), ("conv5", 512, 1, 2))
    for (stage, filters, stride, rate), blocks in zip(stages, depths, strict=True):
        for i in range(1, blocks + 1):
            x = _resnet_block(
                x, filters, stride if i == 1 else 1, rate, i == 1, f"{stage}_block{i}"
            )
            if stage == "conv4":
                interm[i] = (x, 16)
    return Features(x, interm, "DLC block3/unit_<n> = conv4_block<n>_out")


# ------------------------------------------------------------------------- MobileNetV2
def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _mbv2_bn(name: str) -> layers.Layer:
    return _bn(name, epsilon=1e-3, momentum=0.999)


def _inverted_res_block(
    x: Any, expansion: int, stride: int, alpha: float, filters: int, block_id: int
) -> Any:
    """Keras' MobileNetV2 block (same layer names)."""
    inputs = x
    in_channels = x.shape[-1]
    out_channels = _make_divisible(int(filters * alpha), 8)
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    if block_id:
        x = layers.Conv2D(expansion * in_channels, 1, use_bias=False, name=f"{prefix}expand")(x)
        x = _mbv2_bn(f"{prefix}expand_BN")(x)
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    if stride == 2:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(
        3,
        strides=stride,
        use_bias=False,
        padding="same" if stride == 1 else "valid",
        name=f"{prefix}depthwise",
    )(x)
    x = _mbv2_bn(f"{prefix}depthwise_BN")(x)
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = layers.Conv2D(out_channels, 1, use_bias=False, name=f"{prefix}project")(x)
    x = _mbv2_bn(f"{prefix}project_BN")(x)
    if in_channels == out_channels and stride == 1:
        x = layers.Add(name=f"{prefix}add")([inputs, x])
    return x


# (filters, stride, expansion) of Keras' blocks 0..16; block 13's stride 2 -> 1 (DLC).
MOBILENET_BLOCKS: tuple[tuple[int, int, int], ...] = (
    (16, 1, 1),
    (24, 2, 6),
    (24, 1, 6),
    (32, 2, 6),
    (32, 1, 6),
    (32, 1, 6),
    (64, 2, 6),
    (64, 1, 6),
    (64, 1, 6),
    (64, 1, 6),
    (96, 1, 6),
    (96, 1, 6),
    (96, 1, 6),
    (160, 1, 6),
    (160, 1, 6),
    (160, 1, 6),
    (320, 1, 6),
)


def _mobilenet_v2(x: Any, alpha: float) -> Features:
    x = layers.Conv2D(
        _make_divisible(32 * alpha, 8), 3, strides=2, padding="same", use_bias=False, name="Conv1"
    )(x)
    x = _mbv2_bn("bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    stride = 2
    interm: dict[int, tuple[Any, int]] = {1: (x, stride)}
    for block_id, (filters, s, expansion) in enumerate(MOBILENET_BLOCKS):
        x = _inverted_res_block(x, expansion, s, alpha, filters, block_id)
        stride *= s
        interm[block_id + 2] = (x, stride)
    last = _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last, 1, use_bias=False, name="Conv_1")(x)
    x = _mbv2_bn("Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)
    interm[19] = (x, stride)
    return Features(x, interm, "DLC layer_<n>: 1 = Conv1, 2 = expanded_conv, n = block_<n-2>")


# ------------------------------------------------------------------------ EfficientNet
def _round_filters(filters: float, width: float, divisor: int = 8) -> int:
    filters *= width
    new = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    if new < 0.9 * filters:
        new += divisor
    return int(new)


def _eff_conv(filters: int, kernel: int, name: str, **kw: Any) -> layers.Layer:
    init = keras.initializers.VarianceScaling(2.0, "fan_out", "truncated_normal")
    return layers.Conv2D(filters, kernel, kernel_initializer=init, name=name, **kw)


def _mbconv(
    x: Any,
    kernel: int,
    filters_in: int,
    filters_out: int,
    expand_ratio: int,
    stride: int,
    name: str,
) -> Any:
    """Keras' EfficientNet block (same names), SE ratio 0.25, no drop-connect."""
    inputs = x
    filters = filters_in * expand_ratio
    if expand_ratio != 1:
        x = _eff_conv(filters, 1, f"{name}expand_conv", padding="same", use_bias=False)(x)
        x = _bn(f"{name}expand_bn", epsilon=1e-3)(x)
        x = layers.Activation("swish", name=f"{name}expand_activation")(x)
    if stride == 2:
        lo = kernel // 2 - 1
        x = layers.ZeroPadding2D(((lo, lo + 1), (lo, lo + 1)), name=f"{name}dwconv_pad")(x)
    init = keras.initializers.VarianceScaling(2.0, "fan_out", "truncated_normal")
    x = layers.DepthwiseConv2D(
        kernel,
        strides=stride,
        padding="same" if stride == 1 else "valid",
        use_bias=False,
        depthwise_initializer=init,
        name=f"{name}dwconv",
    )(x)
    x = _bn(f"{name}bn", epsilon=1e-3)(x)
    x = layers.Activation("swish", name=f"{name}activation")(x)
    filters_se = max(1, int(filters_in * 0.25))
    se = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}se_squeeze")(x)
    se = _eff_conv(filters_se, 1, f"{name}se_reduce", padding="same", activation="swish")(se)
    se = _eff_conv(filters, 1, f"{name}se_expand", padding="same", activation="sigmoid")(se)
    x = layers.Multiply(name=f"{name}se_excite")([x, se])
    x = _eff_conv(filters_out, 1, f"{name}project_conv", padding="same", use_bias=False)(x)
    x = _bn(f"{name}project_bn", epsilon=1e-3)(x)
    if stride == 1 and filters_in == filters_out:
        x = layers.Add(name=f"{name}add")([x, inputs])
    return x


def _efficientnet(x: Any, width: float, depth: float) -> Features:
    x = layers.ZeroPadding2D(((0, 1), (0, 1)), name="stem_conv_pad")(x)
    x = _eff_conv(_round_filters(32, width), 3, "stem_conv", strides=2, use_bias=False)(x)
    x = _bn("stem_bn", epsilon=1e-3)(x)
    x = layers.Activation("swish", name="stem_activation")(x)
    stride = 2
    interm: dict[int, tuple[Any, int]] = {}
    n = 0
    for i, (kernel, repeats, f_in, f_out, expand, s) in enumerate(EFFICIENTNET_BLOCKS):
        f_in, f_out = _round_filters(f_in, width), _round_filters(f_out, width)
        for j in range(int(math.ceil(depth * repeats))):
            x = _mbconv(
                x,
                kernel,
                f_in if j == 0 else f_out,
                f_out,
                expand,
                s if j == 0 else 1,
                f"block{i + 1}{chr(j + 97)}_",
            )
            stride *= s if j == 0 else 1
            n += 1
            interm[n] = (x, stride)
    return Features(x, interm, "the n-th MBConv block (block1a = 1)")


# ------------------------------------------------------------------ Keras applications
def keras_application(net_type: str) -> tuple[Any, dict[str, Any], str, str]:
    """(constructor, kwargs, weights file name, URL) of Keras' ImageNet no-top weights
    for ``net_type`` (what ``keras.applications`` downloads into ``~/.keras/models``)."""
    apps = keras.applications
    fam = family(net_type)
    kwargs: dict[str, Any] = {"include_top": False, "input_shape": (None, None, 3)}
    if fam == "resnet":
        depth = net_type.split("_")[1]
        fname = f"resnet{depth}_weights_tf_dim_ordering_tf_kernels_notop.h5"
        url = f"{KERAS_BASE}tensorflow/keras-applications/resnet/{fname}"
        return getattr(apps, f"ResNet{depth}"), kwargs, fname, url
    if fam == "mobilenet":
        alpha = MOBILENET_ALPHAS[net_type]
        kwargs["alpha"] = alpha
        fname = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_224_no_top.h5"
        url = f"{KERAS_BASE}tensorflow/keras-applications/mobilenet_v2/{fname}"
        return apps.MobileNetV2, kwargs, fname, url
    b = net_type.rsplit("-", 1)[1]
    fname = f"efficientnet{b}_notop.h5"
    return (
        getattr(apps, f"EfficientNet{b.upper()}"),
        kwargs,
        fname,
        f"{KERAS_BASE}keras-applications/{fname}",
    )
