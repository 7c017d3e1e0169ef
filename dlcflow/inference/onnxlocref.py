"""The rewrite of an export's location refinement: computed at each part's maximum only.

Decoding reads the location refinement only at each part's maximum
(:func:`dlcflow.inference.decode.decode`), so :func:`locref_at_maxima` makes the export
compute it only there (from the features at 2x2 positions) instead of as a dense map; the
dense head was two thirds of the heads' arithmetic. Where the features are a 1x1
convolution of a narrower tensor (MobileNetV2's last layer, 112 to 1280 channels), that
tensor is gathered and the layer recomputed at those positions, so that ONNX Runtime need
not reorder the wide features out of its blocked layout (~2%).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from dlcflow.inference.onnxgraph import (
    attributes,
    constant_bias,
    is_plain_deconv,
    pointwise_weights,
    prune,
    toposort,
)

__all__ = ["locref_at_maxima"]


def _locref_head(graph: Any, inits: dict[str, Any], output: str) -> Any:
    """The 3x3, stride-2 ``ConvTranspose`` that the graph output ``output`` is cropped and
    transposed from (through ``Identity``/``Transpose``/``Slice``/``Pad`` only), or None."""
    producers = {name: node for node in graph.node for name in node.output}
    node = producers.get(output)
    while node is not None and node.op_type in ("Identity", "Transpose", "Slice", "Pad"):
        node = producers.get(node.input[0])
    if node is None or node.op_type != "ConvTranspose" or not is_plain_deconv(node, inits):
        return None
    return node


#: Element-wise activations that may sit between a 1x1 convolution and the heads.
_ACTIVATIONS = ("Clip", "Relu")


def _pointwise_source(
    graph: Any, inits: dict[str, Any], features: str
) -> tuple[Any, Any, np.ndarray, np.ndarray] | None:
    """``(activation, conv, W, b)`` when ``features`` is ``activation(conv(X))``, ``conv``
    a plain 1x1, stride-1 convolution ``W X + b`` with constant weights and fewer input
    than output channels (so that ``X`` is the cheaper tensor to gather from), followed by
    an element-wise activation with constant parameters, else None."""
    producers = {name: node for node in graph.node for name in node.output}
    act = producers.get(features)
    conv = producers.get(act.input[0]) if act is not None else None
    if act is None or conv is None or act.op_type not in _ACTIVATIONS:
        return None
    if any(name and name not in inits for name in act.input[1:]):
        return None
    weight = pointwise_weights(conv, inits, stride_one=True)
    if weight is None or weight.shape[1] >= weight.shape[0]:
        return None
    bias = constant_bias(conv, inits, weight.shape[0])
    if bias is None:
        return None
    return act, conv, weight, bias.astype(np.float32)


def locref_at_maxima(model: Any, prob: str = "prob", locref: str = "locref") -> bool:
    """Compute the location refinement only where decoding reads it: at each body part's
    maximum. The graph output ``locref`` (B, h, w, 2J), DLC's 3x3, stride-2 transposed
    convolution of the features with SAME padding (``out[y] = full[y]`` for ``y < 2H``),
    becomes ``(B, J, 2)``: for each part, the first maximum of ``prob`` (B, h, w, J) in
    row-major order (NumPy's ``argmax``, as :func:`dlcflow.inference.decode.decode`) is at output
    ``(2i + a, 2j + b)``; it gathers the features at the 2x2 inputs ``(i + di, j + dj)``,
    ``di, dj`` in ``{-1, 0}``, applies every tap to them (a matrix product, 18J x C by
    C x 4J) and adds taps ``(a - 2di, b - 2dj)`` of the inputs inside the image, plus the
    bias. The dense head was two thirds of the heads' arithmetic. Where the features are
    ``activation(1x1 convolution(X))`` with ``X`` narrower (MobileNetV2's last layer,
    112 to 1280 channels), ``X`` is gathered and that layer recomputed at the 4J
    positions, so the wide features never leave ONNX Runtime's blocked layout. Returns
    whether it applied (opset 13 or later, both outputs present, the head as described)."""
    graph = model.graph
    opset = {o.domain or "ai.onnx": o.version for o in model.opset_import}.get("ai.onnx", 0)
    outputs = {v.name: v for v in graph.output}
    inits = {t.name: t for t in graph.initializer}
    head = _locref_head(graph, inits, locref) if {prob, locref} <= outputs.keys() else None
    if head is None or opset < 13:
        return False
    kernel = numpy_helper.to_array(inits[head.input[1]]).astype(np.float32)  # C, 2J, 3, 3
    channels, parts = kernel.shape[0], kernel.shape[1] // 2
    if kernel.shape[1] != 2 * parts or parts == 0:
        return False
    bias = np.zeros(2 * parts, np.float32)
    if len(head.input) > 2 and head.input[2]:
        bias = numpy_helper.to_array(inits[head.input[2]]).astype(np.float32)
    s = "dlcflow_locref_"
    source = _pointwise_source(graph, inits, head.input[0])
    gather_from, gather_channels = head.input[0], channels
    if source is not None:
        gather_from, gather_channels = source[1].input[0], source[2].shape[1]
    taps = kernel.transpose(1, 2, 3, 0).reshape(18 * parts, channels)  # row (c*9 + p*3 + q)
    di, dj = np.array([-1, -1, 0, 0]), np.array([-1, 0, -1, 0])
    k, c = np.arange(parts)[:, None], np.arange(2)[None, :]
    consts: dict[str, np.ndarray] = {
        "taps": taps,
        "bias": bias.reshape(1, parts, 2),
        "perm_shape": np.array([0, 0, -1], np.int64),
        "flat2": np.array([0, -1], np.int64),
        "by_part": np.array([0, parts, 2, 4], np.int64),
        "cols": np.array([0, 1, -1], np.int64),
        "expand": np.array([1, gather_channels, 1], np.int64),
        "one": np.array([1], np.int64),
        "two": np.array([2], np.int64),
        "three": np.array([3], np.int64),
        "zero": np.array([0], np.int64),
        "di": di.reshape(1, 1, 4).astype(np.int64),
        "dj": dj.reshape(1, 1, 4).astype(np.int64),
        "pa": (-2 * di).reshape(1, 1, 4).astype(np.int64),
        "pb": (-2 * dj).reshape(1, 1, 4).astype(np.int64),
        # index into the (18J x 4J) tap products of row (2k + c)*9 + tap, column 4k + m
        "base": ((2 * k + c) * 9 * 4 * parts + 4 * k)[None, :, :, None].astype(np.int64),
        "m": np.arange(4, dtype=np.int64).reshape(1, 1, 1, 4),
        "row": np.array([4 * parts], np.int64),
        "axis3": np.array([3], np.int64),
    }
    outside = {prob, gather_from}  # names of the graph's own tensors
    if source is not None:  # the convolution's weights are reshaped, not copied
        consts["pw_shape"] = np.array(source[2].shape, np.int64)
        consts["pw_bias"] = source[3][:, None]
        outside |= set(source[0].input[1:]) - {""} | {source[1].input[1]}
    graph.initializer.extend(numpy_helper.from_array(v, s + n) for n, v in consts.items())

    def op(kind: str, inputs: list[str], name: str, **attrs: Any) -> str:
        names = [i if i in outside or not i else s + i for i in inputs]
        graph.node.append(helper.make_node(kind, names, [s + name], name=s + name, **attrs))
        return name

    op("Shape", [prob], "shape")
    op("Slice", ["shape", "one", "two"], "height2")
    op("Slice", ["shape", "two", "three"], "width2")
    op("Div", ["height2", "two"], "height")
    op("Div", ["width2", "two"], "width")
    op("Sub", ["height", "one"], "last_row")
    op("Sub", ["width", "one"], "last_col")
    op("Transpose", [prob], "prob_nchw", perm=[0, 3, 1, 2])
    op("Reshape", ["prob_nchw", "perm_shape"], "prob_flat")
    op("ArgMax", ["prob_flat"], "argmax", axis=2, keepdims=1)  # (B, J, 1), first maximum
    op("Div", ["argmax", "width2"], "y")
    op("Mod", ["argmax", "width2"], "x")
    op("Div", ["y", "two"], "i")
    op("Mod", ["y", "two"], "a")
    op("Div", ["x", "two"], "j")
    op("Mod", ["x", "two"], "b")
    op("Add", ["i", "di"], "ii")  # (B, J, 4): the 2x2 inputs
    op("Add", ["j", "dj"], "jj")
    op("Add", ["a", "pa"], "p")  # their taps (p, q); p or q = 3 is no tap
    op("Add", ["b", "pb"], "q")
    checks = [("Less", "p", "three"), ("Less", "q", "three"), ("Less", "ii", "height")]
    checks += [("Less", "jj", "width"), ("GreaterOrEqual", "ii", "zero")]
    checks += [("GreaterOrEqual", "jj", "zero")]
    flags = [op(kind, [x, y], f"ok_{n}") for n, (kind, x, y) in enumerate(checks)]
    valid = flags[0]
    for n, flag in enumerate(flags[1:]):
        valid = op("And", [valid, flag], f"valid_{n}")
    op("Cast", [valid], "weight", to=TensorProto.FLOAT)
    op("Unsqueeze", ["weight", "two"], "weight4")  # (B, J, 1, 4)
    op("Min", ["p", "two"], "p_c")  # clamped to valid indices (masked out above)
    op("Min", ["q", "two"], "q_c")
    op("Mul", ["p_c", "three"], "p3")
    op("Add", ["p3", "q_c"], "tap")
    op("Max", ["ii", "zero"], "ii_lo")
    op("Min", ["ii_lo", "last_row"], "ii_c")
    op("Max", ["jj", "zero"], "jj_lo")
    op("Min", ["jj_lo", "last_col"], "jj_c")
    op("Mul", ["ii_c", "width"], "row_start")
    op("Add", ["row_start", "jj_c"], "pos")  # (B, J, 4) flat input positions
    op("Reshape", ["pos", "cols"], "pos_row")  # (B, 1, 4J)
    op("Expand", ["pos_row", "expand"], "pos_all")  # (B, C, 4J)
    op("Reshape", [gather_from, "perm_shape"], "features_flat")  # (B, C, H*W)
    op("GatherElements", ["features_flat", "pos_all"], "gathered", axis=2)
    if source is not None:  # the 1x1 convolution and its activation at the 4J positions
        act, conv = source[0], source[1]
        op("Reshape", [conv.input[1], "pw_shape"], "pw_weight")  # (Cout, Cin)
        op("MatMul", ["pw_weight", "gathered"], "pw_product")
        op("Add", ["pw_product", "pw_bias"], "pw_linear")
        op(act.op_type, ["pw_linear", *act.input[1:]], "gathered_features", **attributes(act))
    op("MatMul", ["taps", "gathered_features" if source else "gathered"], "products")
    op("Reshape", ["products", "flat2"], "products_flat")
    op("Unsqueeze", ["tap", "two"], "tap4")  # (B, J, 1, 4)
    op("Mul", ["tap4", "row"], "tap_rows")
    op("Add", ["tap_rows", "base"], "sel_base")
    op("Add", ["sel_base", "m"], "sel")  # (B, J, 2, 4)
    op("Reshape", ["sel", "flat2"], "sel_flat")
    op("GatherElements", ["products_flat", "sel_flat"], "picked_flat", axis=1)
    op("Reshape", ["picked_flat", "by_part"], "picked")
    op("Mul", ["picked", "weight4"], "masked")
    op("ReduceSum", ["masked", "axis3"], "summed", keepdims=0)
    op("Add", ["summed", "bias"], "at_maxima")
    producers = {name: node for node in graph.node for name in node.output}
    old = producers[locref]
    old.output[0] = s + "dense_unused"
    graph.node[-1].output[0] = locref
    value = outputs[locref]
    del value.type.tensor_type.shape.dim[:]
    for dim in ("batch", parts, 2):
        entry = value.type.tensor_type.shape.dim.add()
        if isinstance(dim, str):
            entry.dim_param = dim
        else:
            entry.dim_value = dim
    prune(model)
    toposort(graph)
    return True
