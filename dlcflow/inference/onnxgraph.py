"""Exact rewrites of exported ONNX graphs that ONNX Runtime runs faster on the CPU, and
the graph helpers all rewrites share.

tf2onnx translates the Keras network op by op; some of its translations cost ONNX Runtime
more than the arithmetic needs (measured on MobileNetV2-0.35 at 640x480, 1 thread):

- :func:`fold_input_scaling`: MobileNet's ``(x - 127.5) / 127.5`` is two passes over every
  full-resolution image; folded into the first convolution's weights and bias (~15%).
- :func:`deconv_heads_as_convs`: the prediction heads' stride-2 transposed convolutions
  (``ConvTranspose``, DLC's ``prediction_layer``) run outside ONNX Runtime's blocked
  (NCHWc) convolution kernels, each re-reading the backbone's 1280-channel features after
  reordering them. Rewritten as one 1x1 convolution for all heads that share an input
  (the 9 kernel taps of every output channel), a grouped 2x2 convolution that adds the taps
  of each of the 4 output phases, and ``DepthToSpace`` (the sub-pixel form of a strided
  transposed convolution); ~10%.
- :func:`merge_narrow_pointwise`: a linear 1x1 convolution to fewer channels than a
  blocked kernel holds (MobileNetV2-0.35's first bottleneck projects 16 to 8 channels
  at half resolution) followed by the next 1x1 expansion (8 to 48) becomes one
  convolution (16 to 48). ONNX Runtime runs 8-channel inputs outside its blocked kernels,
  at a fifth of their speed; ~9%.
- :func:`shapes_without_reorder`: tf2onnx reads the shape of the 1280-channel features
  for the heads' crop arithmetic, which makes ONNX Runtime reorder all of them out of the
  blocked layout; the shape is taken from the much smaller tap convolution instead; ~3%.

The location refinement at each part's maximum only is
:func:`dlcflow.inference.onnxlocref.locref_at_maxima`; the channel padding an engine applies
for its CPU is :func:`dlcflow.inference.onnxpad.pad_channels`.

All compute the same poses (up to float rounding); :func:`dlcflow.inference.export.export_snapshot`
still compares the result with TensorFlow before the file gets its name. Each returns
whether (or how often) it applied and leaves any other graph as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper

__all__ = [
    "BLOCK",
    "attributes",
    "constant_bias",
    "consumers_of",
    "deconv_heads_as_convs",
    "fold_input_scaling",
    "is_plain_deconv",
    "merge_narrow_pointwise",
    "pointwise_weights",
    "prune",
    "shapes_without_reorder",
    "toposort",
]

#: Channels of float32 in one block of ONNX Runtime's NCHWc kernels with AVX-512.
BLOCK = 16


def consumers_of(graph: Any) -> dict[str, list[Any]]:
    """The nodes that read each tensor, by tensor name."""
    found: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            found.setdefault(name, []).append(node)
    return found


def attributes(node: Any) -> dict[str, Any]:
    """A node's attributes as Python values."""
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def toposort(graph: Any) -> None:
    """Order the nodes so that each comes after the producers of its inputs (stable)."""
    made = {t.name for t in graph.initializer} | {v.name for v in graph.input} | {""}
    todo, ordered = list(graph.node), []
    while todo:
        ready = [n for n in todo if all(name in made for name in n.input)]
        if not ready:
            raise ValueError("the ONNX graph has a cycle or an undefined input")
        for node in ready:
            made.update(node.output)
        ordered += ready
        done = {id(n) for n in ready}
        todo = [n for n in todo if id(n) not in done]
    del graph.node[:]
    graph.node.extend(ordered)


def prune(model: Any) -> None:
    """Remove nodes whose outputs nothing uses, and initializers no node reads."""
    graph = model.graph
    while True:
        used = {name for node in graph.node for name in node.input}
        used |= {value.name for value in graph.output}
        dead = [node for node in graph.node if not any(out in used for out in node.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    used = {name for node in graph.node for name in node.input}
    for init in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(init)


def fold_input_scaling(model: Any) -> bool:
    """Fold a scalar input scaling (MobileNet's ``(x - 127.5) / 127.5``) into the first
    convolution, exactly: the chain ``image -> Sub/Mul/Add/Div by scalars -> pad_to_16
    Pad (zeros) -> Transpose -> Conv`` becomes ``image -> Pad (with the raw value that
    scales to 0, plus the convolution's own SAME padding) -> Transpose -> Conv`` with the
    scale in the weights and the offset in the bias. Saves two full-resolution passes
    over every batch (~15% of MobileNetV2-0.35 at 640x480). Returns whether it applied;
    any other graph is left as it is (per-channel preprocessing cannot be folded this way:
    ONNX pads with one value)."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consumers = consumers_of(graph)

    def scalar(name: str) -> float | None:
        """A constant that is one value (a scalar, or equal over the channels)."""
        value = numpy_helper.to_array(inits[name]) if name in inits else None
        if value is None or value.size == 0 or value.ndim > 4 or value.size > 3:
            return None
        flat = value.reshape(-1)
        return float(flat[0]) if np.all(flat == flat[0]) else None

    def only(name: str, op: str) -> Any:
        found = consumers.get(name, [])
        return found[0] if len(found) == 1 and found[0].op_type == op else None

    scale, offset, cur, chain = 1.0, 0.0, "image", []
    while len(consumers.get(cur, [])) == 1:
        node = consumers[cur][0]
        c = scalar(node.input[1]) if len(node.input) == 2 and node.input[0] == cur else None
        if c is None or node.op_type not in ("Sub", "Add", "Mul", "Div") or c == 0:
            break
        if node.op_type in ("Sub", "Add"):
            offset += -c if node.op_type == "Sub" else c
        else:
            factor = c if node.op_type == "Mul" else 1.0 / c
            scale, offset = scale * factor, offset * factor
        chain.append(node)
        cur = node.output[0]
    uses = consumers.get(cur, [])
    pads = [n for n in uses if n.op_type == "Pad" and "pad_to_16" in n.name]
    if not chain or len(pads) != 1 or any(n.op_type not in ("Pad", "Shape") for n in uses):
        return False
    pad = pads[0]
    if len(pad.input) > 2 and pad.input[2] and scalar(pad.input[2]) != 0.0:
        return False
    if any(a.name == "mode" and a.s not in (b"", b"constant") for a in pad.attribute):
        return False
    transpose = only(pad.output[0], "Transpose")
    conv = only(transpose.output[0], "Conv") if transpose is not None else None
    if conv is None or len(conv.input) < 2 or conv.input[1] not in inits:
        return False
    attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    perm = [helper.get_attribute_value(a) for a in transpose.attribute if a.name == "perm"]
    kernel, strides = attrs.get("kernel_shape", []), attrs.get("strides", [1, 1])
    if (
        perm != [[0, 3, 1, 2]]
        or attrs.get("group", 1) != 1
        or any(d != 1 for d in attrs.get("dilations", [1, 1]))
        or len(consumers.get(conv.input[1], [])) != 1
        or len(kernel) != 2
        or any(s not in (1, 2) for s in strides)  # s divides 16: SAME pads are fixed
    ):
        return False
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    if auto_pad == b"SAME_UPPER":
        total = [max(k - s, 0) for k, s in zip(kernel, strides, strict=True)]
        begin, end = [t // 2 for t in total], [t - t // 2 for t in total]
    elif auto_pad in (b"NOTSET", b"VALID") and not any(attrs.get("pads", [])):
        begin, end = [0, 0], [0, 0]
    else:
        return False
    weight = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float32)
    bias = np.zeros(weight.shape[0], np.float32)
    if len(conv.input) > 2 and conv.input[2]:
        if conv.input[2] not in inits or len(consumers.get(conv.input[2], [])) != 1:
            return False
        bias = numpy_helper.to_array(inits[conv.input[2]]).astype(np.float32)
    # rewrite: Shape/Pad read the image; the Pad pads with the raw value that scales to 0
    for node in uses:
        node.input[0] = "image"
    raw = np.array(-offset / scale, np.float32)
    graph.initializer.append(numpy_helper.from_array(raw, pad.name + "_raw_value"))
    if begin != [0, 0] or end != [0, 0]:
        extra = np.array([0, begin[0], begin[1], 0, 0, end[0], end[1], 0], np.int64)
        graph.initializer.append(numpy_helper.from_array(extra, pad.name + "_conv_pads"))
        add = helper.make_node(
            "Add",
            [pad.input[1], pad.name + "_conv_pads"],
            [pad.name + "_total_pads"],
            name=pad.name + "_add_conv_pads",
        )
        graph.node.insert(list(graph.node).index(pad), add)
        pad.input[1] = pad.name + "_total_pads"
    while len(pad.input) < 3:
        pad.input.append("")
    pad.input[2] = pad.name + "_raw_value"
    inits[conv.input[1]].CopyFrom(numpy_helper.from_array(weight * scale, conv.input[1]))
    new_bias = (bias + offset * weight.sum(axis=(1, 2, 3))).astype(np.float32)
    graph.initializer.append(numpy_helper.from_array(new_bias, conv.name + "_folded_bias"))
    while len(conv.input) < 3:
        conv.input.append("")
    conv.input[2] = conv.name + "_folded_bias"
    for attr in list(conv.attribute):
        if attr.name in ("auto_pad", "pads"):
            conv.attribute.remove(attr)
    conv.attribute.append(helper.make_attribute("pads", [0, 0, 0, 0]))
    for node in chain:
        graph.node.remove(node)
    prune(model)
    return True


def is_plain_deconv(ct: Any, inits: dict[str, Any]) -> bool:
    """A 3x3, stride-2 ``ConvTranspose`` with constant float32 weights that computes its whole
    output, ``(2H + 1, 2W + 1)`` (whatever crop follows is left to the graph)."""
    attrs = attributes(ct)
    return (
        attrs.get("kernel_shape") == [3, 3]
        and attrs.get("strides") == [2, 2]
        and attrs.get("group", 1) == 1
        and all(d == 1 for d in attrs.get("dilations", [1, 1]))
        and not any(attrs.get(key) for key in ("pads", "output_padding", "output_shape"))
        and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", b"VALID")
        and ct.input[1] in inits
        and inits[ct.input[1]].data_type == TensorProto.FLOAT
        and (len(ct.input) < 3 or not ct.input[2] or ct.input[2] in inits)
    )


def _phase_sum_weights(cout: int) -> np.ndarray:
    """Weights (4C, 9, 2, 2) of the grouped convolution that turns the taps
    ``z[c*9 + p*3 + q]`` into the 4 output phases ``y[c*4 + a*2 + b]``.

    A 3x3, stride-2 transposed convolution puts input pixel ``(m, n)`` times tap
    ``(p, q)`` at output ``(2m + p, 2n + q)``; so output ``(2i + a, 2j + b)`` gathers tap
    ``(a - 2di, b - 2dj)`` of input ``(i + di, j + dj)`` for ``di, dj`` in ``{-1, 0}``: a
    2x2 window, with the input padded by one on every side for the outputs on the edges."""
    weights = np.zeros((cout, 4, 9, 2, 2), np.float32)
    for a in (0, 1):
        for b in (0, 1):
            for di in (-1, 0):
                for dj in (-1, 0):
                    p, q = a - 2 * di, b - 2 * dj
                    if 0 <= p <= 2 and 0 <= q <= 2:
                        weights[:, a * 2 + b, p * 3 + q, di + 1, dj + 1] = 1.0
    return weights.reshape(cout * 4, 9, 2, 2)


def deconv_heads_as_convs(model: Any) -> int:
    """Rewrite every 3x3, stride-2 ``ConvTranspose`` (:func:`is_plain_deconv`) as
    ``Conv 1x1 (taps) -> Conv 2x2 grouped (phase sums, + bias) -> DepthToSpace (CRD) ->
    Slice`` (the last row and column of the ``(2H + 2, 2W + 2)`` phases are outside the
    output); the taps of all such layers that read the same tensor come from one
    convolution (then ``Split``). The output keeps its name, so the crop that follows
    (tf2onnx's SAME padding) is unchanged. Returns how many layers were rewritten
    (opset 13 or later)."""
    graph = model.graph
    opset = {o.domain or "ai.onnx": o.version for o in model.opset_import}.get("ai.onnx", 0)
    if opset < 13:
        return 0
    inits = {t.name: t for t in graph.initializer}
    heads: dict[str, list[Any]] = {}
    for node in graph.node:
        if node.op_type == "ConvTranspose" and is_plain_deconv(node, inits):
            heads.setdefault(node.input[0], []).append(node)
    slicing = {"starts": [0, 0], "ends": [-1, -1], "axes": [2, 3]}  # drops the last row/column
    if heads:
        graph.initializer.extend(
            numpy_helper.from_array(np.array(v, np.int64), f"dlcflow_phases_{k}")
            for k, v in slicing.items()
        )
    for source, group in heads.items():
        stem = group[0].name + ("_heads" if len(group) > 1 else "")
        kernels = [numpy_helper.to_array(inits[ct.input[1]]) for ct in group]  # Cin, C, 3, 3
        # taps[c*9 + p*3 + q, cin] = kernel[cin, c, p, q]
        taps = np.concatenate(
            [k.transpose(1, 2, 3, 0).reshape(-1, k.shape[0], 1, 1) for k in kernels]
        )
        graph.initializer.append(numpy_helper.from_array(taps.astype(np.float32), stem + "_taps_w"))
        new = [
            helper.make_node(
                "Conv",
                [source, stem + "_taps_w"],
                [stem + "_taps"],
                name=stem + "_taps",
                kernel_shape=[1, 1],
            )
        ]
        parts = [stem + "_taps"]
        if len(group) > 1:
            parts = [f"{ct.name}_taps" for ct in group]
            sizes = np.array([9 * k.shape[1] for k in kernels], np.int64)
            graph.initializer.append(numpy_helper.from_array(sizes, stem + "_taps_split"))
            new.append(
                helper.make_node(
                    "Split",
                    [stem + "_taps", stem + "_taps_split"],
                    parts,
                    name=stem + "_taps_split",
                    axis=1,
                )
            )
        for ct, kernel, part in zip(group, kernels, parts, strict=True):
            cout = kernel.shape[1]
            bias = np.zeros(cout, np.float32)
            if len(ct.input) > 2 and ct.input[2]:
                bias = numpy_helper.to_array(inits[ct.input[2]]).astype(np.float32)
            graph.initializer.extend(
                [
                    numpy_helper.from_array(_phase_sum_weights(cout), ct.name + "_phases_w"),
                    numpy_helper.from_array(np.repeat(bias, 4), ct.name + "_phases_b"),
                ]
            )
            new += [
                helper.make_node(
                    "Conv",
                    [part, ct.name + "_phases_w", ct.name + "_phases_b"],
                    [ct.name + "_phases"],
                    name=ct.name + "_phases",
                    kernel_shape=[2, 2],
                    pads=[1, 1, 1, 1],
                    group=cout,
                ),
                helper.make_node(
                    "DepthToSpace",
                    [ct.name + "_phases"],
                    [ct.name + "_full"],
                    name=ct.name + "_depth_to_space",
                    blocksize=2,
                    mode="CRD",
                ),
                helper.make_node(
                    "Slice",
                    [ct.name + "_full", *(f"dlcflow_phases_{k}" for k in slicing)],
                    [ct.output[0]],
                    name=ct.name + "_output",
                ),
            ]
        at = list(graph.node).index(group[0])  # after its input, before any use
        for ct in group:
            graph.node.remove(ct)
        for k, node in enumerate(new):
            graph.node.insert(at + k, node)
    prune(model)
    return sum(len(group) for group in heads.values())


def pointwise_weights(node: Any, inits: dict[str, Any], *, stride_one: bool) -> np.ndarray | None:
    """The (Cout, Cin) weights of a plain 1x1 convolution with constant float32 weights
    (no padding, no groups; stride 1 if ``stride_one``), else None."""
    if node.op_type != "Conv" or node.input[1] not in inits:
        return None
    attrs = attributes(node)
    if (
        attrs.get("group", 1) != 1
        or any(attrs.get("pads", []))
        or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID")
        or any(d != 1 for d in attrs.get("dilations", []))
        or (stride_one and any(s != 1 for s in attrs.get("strides", [])))
        or inits[node.input[1]].data_type != TensorProto.FLOAT
    ):
        return None
    weight = numpy_helper.to_array(inits[node.input[1]])
    return weight[:, :, 0, 0] if weight.ndim == 4 and weight.shape[2:] == (1, 1) else None


def constant_bias(node: Any, inits: dict[str, Any], channels: int) -> np.ndarray | None:
    """A convolution's bias (float64; zeros without one), None when it is not constant."""
    if len(node.input) < 3 or not node.input[2]:
        return np.zeros(channels, np.float64)
    if node.input[2] not in inits:
        return None
    return numpy_helper.to_array(inits[node.input[2]]).astype(np.float64)


def merge_narrow_pointwise(model: Any, narrow: int = BLOCK) -> int:
    """Merge each linear 1x1 convolution (stride 1) to fewer than ``narrow`` channels into
    the 1x1 convolution that alone reads its output: ``W2 (W1 x + b1) + b2`` is one
    convolution with weights ``W2 W1`` and bias ``W2 b1 + b2`` (computed in float64).
    The first one's output must be used by nothing else (no residual connection, not a
    graph output). Returns how many were merged."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consumers = consumers_of(graph)
    outputs = {v.name for v in graph.output}
    merged = 0
    for first in list(graph.node):
        w1 = pointwise_weights(first, inits, stride_one=True)
        uses = consumers.get(first.output[0], []) if w1 is not None else []
        if w1 is None or w1.shape[0] >= narrow or len(uses) != 1 or first.output[0] in outputs:
            continue
        second = uses[0]
        w2 = pointwise_weights(second, inits, stride_one=False)
        if w2 is None or second.input[0] != first.output[0] or w2.shape[1] != w1.shape[0]:
            continue
        b1, b2 = constant_bias(first, inits, w1.shape[0]), constant_bias(second, inits, w2.shape[0])
        if b1 is None or b2 is None:
            continue
        weight = w2.astype(np.float64) @ w1.astype(np.float64)
        bias = w2.astype(np.float64) @ b1 + b2
        stem = second.name + "_merged"
        graph.initializer.extend(
            [
                numpy_helper.from_array(weight.astype(np.float32)[:, :, None, None], stem + "_w"),
                numpy_helper.from_array(bias.astype(np.float32), stem + "_b"),
            ]
        )
        inits.update({t.name: t for t in graph.initializer[-2:]})
        del second.input[:]
        second.input.extend([first.input[0], stem + "_w", stem + "_b"])
        consumers.setdefault(first.input[0], []).append(second)
        graph.node.remove(first)
        merged += 1
    prune(model)
    return merged


def shapes_without_reorder(model: Any) -> int:
    """Take ``Shape(X)`` from a 1x1, stride-1 convolution ``Y`` that reads ``X`` and has
    fewer output channels than input channels: ``Y`` has the batch and spatial size of
    ``X``, and the channel count ``C`` of ``X`` is its weights' input channels.
    ``Shape(X)`` becomes ``Concat(Shape(Y)[:1], [C], Shape(Y)[2:])``. Returns how many
    ``Shape`` nodes were rewritten."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consumers = consumers_of(graph)
    done = 0
    for shape in [n for n in graph.node if n.op_type == "Shape"]:
        smaller = [
            (n, w.shape[1])
            for n in consumers.get(shape.input[0], [])
            if n.input[0] == shape.input[0]
            and (w := pointwise_weights(n, inits, stride_one=True)) is not None
            and w.shape[0] < w.shape[1]
        ]
        if not smaller or shape.attribute:
            continue
        conv, channels = smaller[0]
        stem = shape.name + "_from_" + conv.name
        consts = {
            "_c": [channels],
            "_0": [0],
            "_1": [1],
            "_2": [2],
            "_end": [np.iinfo(np.int64).max],
        }
        graph.initializer.extend(
            numpy_helper.from_array(np.array(v, np.int64), stem + k) for k, v in consts.items()
        )
        graph.node.extend(
            [
                helper.make_node("Shape", [conv.output[0]], [stem], name=stem),
                helper.make_node("Slice", [stem, stem + "_0", stem + "_1"], [stem + "_n"]),
                helper.make_node("Slice", [stem, stem + "_2", stem + "_end"], [stem + "_hw"]),
                helper.make_node(
                    "Concat", [stem + "_n", stem + "_c", stem + "_hw"], [shape.output[0]], axis=0
                ),
            ]
        )
        graph.node.remove(shape)
        done += 1
    if done:
        toposort(graph)
    return done
