"""Channel padding of an export, applied when an engine loads it, for its CPU.

ONNX Runtime's blocked (NCHWc) convolution kernels take whole blocks of channels (16
floats with AVX-512, 8 with AVX2; :func:`dlcflow.inference.onnxengine.nchwc_block`) and run
a narrower input at a third of their speed. :func:`pad_channels` pads such tensors with
zero channels where only plain convolutions make and read them, exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import TensorProto, numpy_helper

from dlcflow.inference.onnxgraph import attributes, constant_bias, consumers_of, prune

__all__ = ["pad_channels"]

#: Element-wise operations a padded tensor may pass through: whatever finite values they
#: leave in the added channels, every reader multiplies them by zero weights.
_PASS_THROUGH = ("Add", "Clip", "Relu")


def _plain_conv(node: Any, inits: dict[str, Any]) -> bool:
    """A convolution without groups whose weights are float32 constants."""
    return (
        node.op_type == "Conv"
        and attributes(node).get("group", 1) == 1
        and node.input[1] in inits
        and inits[node.input[1]].data_type == TensorProto.FLOAT
    )


def _channel_group(
    graph: Any, start: Any, inits: dict[str, Any], consumers: dict[str, list[Any]]
) -> tuple[set[str], list[Any], list[Any]] | None:
    """The tensors joined to ``start``'s output by element-wise Add/Clip/Relu (a residual
    stream), the convolutions (with constant biases) that make them and those that read
    them; None when any other operation (or a graph output) touches them, so that a graph
    is either padded whole or left as it is."""
    producers = {name: node for node in graph.node for name in node.output}
    outputs = {v.name for v in graph.output}
    tensors: set[str] = set()
    makers: dict[int, Any] = {}
    readers: dict[int, Any] = {}
    todo = [start.output[0]]
    while todo:
        name = todo.pop()
        if name in tensors:
            continue
        tensors.add(name)
        node = producers.get(name)
        if name in outputs or node is None:
            return None
        if _plain_conv(node, inits) and constant_bias(node, inits, 1) is not None:
            makers[id(node)] = node
        elif node.op_type == "Add":
            todo += list(node.input)
        elif node.op_type in _PASS_THROUGH:
            todo.append(node.input[0])
        else:
            return None
        for user in consumers.get(name, []):
            if _plain_conv(user, inits) and user.input[0] == name:
                readers[id(user)] = user
            elif user.op_type in _PASS_THROUGH and (user.op_type == "Add" or user.input[0] == name):
                todo.append(user.output[0])
            else:
                return None
    return tensors, list(makers.values()), list(readers.values())


def _replace_weight(graph: Any, inits: dict[str, Any], node: Any, slot: int, value: Any) -> None:
    """Point input ``slot`` of ``node`` at a new initializer (the old one may be shared)."""
    name = f"{node.input[slot]}_padded{len(graph.initializer)}"
    graph.initializer.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
    inits[name] = graph.initializer[-1]
    node.input[slot] = name


def pad_channels(model: Any, block: int) -> int:
    """Pad every tensor with fewer than ``block`` channels to ``block`` channels, where
    only plain convolutions make and read it (through element-wise Add/Clip/Relu, e.g.
    MobileNetV2-0.35's 8-channel residual stream): zero weights and biases make the new
    channels and zero weights read them, so every output is unchanged. ONNX Runtime's
    blocked (NCHWc) kernels take whole blocks of channels (16 floats with AVX-512, 8 with
    AVX2) and run a narrower input at a third of their speed (wider tensors that are not
    a multiple of the block run well enough). Returns how many tensor groups were
    padded."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consumers = consumers_of(graph)
    seen: set[str] = set()
    padded = 0
    for node in list(graph.node):
        if not _plain_conv(node, inits) or node.output[0] in seen:
            continue
        group = _channel_group(graph, node, inits, consumers)
        if group is None:
            continue
        tensors, makers, readers = group
        seen |= tensors
        sizes = {numpy_helper.to_array(inits[m.input[1]]).shape[0] for m in makers}
        sizes |= {numpy_helper.to_array(inits[r.input[1]]).shape[1] for r in readers}
        channels = sizes.pop()
        if sizes or channels >= block:
            continue
        extra = block - channels
        for maker in makers:
            weight = numpy_helper.to_array(inits[maker.input[1]])
            pad = [(0, extra)] + [(0, 0)] * (weight.ndim - 1)
            _replace_weight(graph, inits, maker, 1, np.pad(weight, pad))
            bias = constant_bias(maker, inits, channels)
            assert bias is not None  # _channel_group takes constant biases only
            while len(maker.input) < 3:
                maker.input.append("")
            _replace_weight(graph, inits, maker, 2, np.pad(bias, (0, extra)))
        for reader in readers:
            weight = numpy_helper.to_array(inits[reader.input[1]])
            pad = [(0, 0), (0, extra)] + [(0, 0)] * (weight.ndim - 2)
            _replace_weight(graph, inits, reader, 1, np.pad(weight, pad))
        kept = [v for v in graph.value_info if v.name not in tensors]  # stale channel counts
        del graph.value_info[:]
        graph.value_info.extend(kept)
        padded += 1
    prune(model)
    return padded
