"""dlcflow.inference.onnxgraph, onnxlocref, onnxpad: the rewrites of exported graphs compute what
Keras computes.

Small Keras models with the layers the rewrites look for (DLC's prediction heads:
3x3, stride-2 transposed convolutions with SAME padding; MobileNetV2's narrow linear
projections) are exported with Keras' own
``model.export(..., format="onnx")`` as dlcflow does, rewritten, and run by ONNX Runtime
on images whose sizes are odd and even; the outputs are compared with Keras'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest


def export(model: Any, path: Path) -> Any:
    import contextlib
    import io
    import warnings

    import onnx
    import tensorflow as tf

    spec = tf.TensorSpec([None, None, None, 3], tf.float32, name="image")
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.export(str(path), format="onnx", input_signature=[spec], verbose=False)
    return onnx.load(str(path))


def run(proto: Any, path: Path, images: np.ndarray) -> dict[str, np.ndarray]:
    import onnx
    import onnxruntime as ort

    onnx.save(proto, str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"image": images}), strict=True))


def heads_model(
    padding: str = "same", kernel: int = 3, features: int = 16, widen: bool = False
) -> Any:
    """features -> two transposed-convolution heads (3 and 6 channels, with biases). With
    ``widen`` the features come from 8 channels through a 1x1 convolution and ReLU6, as
    MobileNetV2's last layer."""
    import keras

    layers = keras.layers
    image = keras.Input((None, None, 3), name="image")
    if widen:
        narrow = layers.Conv2D(8, 3, padding="same", activation="relu")(image)
        hidden = layers.Conv2D(features, 1, activation="relu6")(narrow)
    else:
        hidden = layers.Conv2D(features, 3, padding="same", activation="relu")(image)
    prob = keras.layers.Conv2DTranspose(3, kernel, strides=2, padding=padding)(hidden)
    locref = keras.layers.Conv2DTranspose(6, kernel, strides=2, padding=padding)(hidden)
    model = keras.Model(image, {"prob": keras.activations.sigmoid(prob), "locref": locref})
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    return model


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_transposed_conv_heads_become_one_tap_convolution(padding: str, tmp_path: Path) -> None:
    """DLC's heads (SAME) and the whole output (VALID, 2H + 1) alike."""
    from dlcflow.inference.onnxgraph import deconv_heads_as_convs

    model = heads_model(padding)
    proto = export(model, tmp_path / "heads.onnx")
    assert [n.op_type for n in proto.graph.node].count("ConvTranspose") == 2
    assert deconv_heads_as_convs(proto) == 2
    ops = [n.op_type for n in proto.graph.node]
    assert "ConvTranspose" not in ops and ops.count("DepthToSpace") == 2
    taps = [n for n in proto.graph.node if n.op_type == "Conv" and n.name.endswith("_taps")]
    assert len(taps) == 1  # both heads' taps come from one 1x1 convolution
    rng = np.random.default_rng(1)
    for shape in [(2, 6, 10, 3), (1, 7, 9, 3), (1, 1, 1, 3)]:
        images = rng.uniform(0, 255, shape).astype(np.float32)
        expected = {k: v.numpy() for k, v in model(images).items()}
        got = run(proto, tmp_path / "rewritten.onnx", images)
        extra = int(padding == "valid")  # VALID keeps the whole 2H + 1 rows
        size = (shape[0], 2 * shape[1] + extra, 2 * shape[2] + extra)
        for key in ("prob", "locref"):
            assert got[key].shape == expected[key].shape and got[key].shape[:3] == size
            np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, atol=1e-3)
        assert np.abs(expected["locref"]).max() > 10  # the heads do compute something


def test_other_transposed_convolutions_are_left_alone(tmp_path: Path) -> None:
    from dlcflow.inference.onnxgraph import deconv_heads_as_convs

    proto = export(heads_model(kernel=4), tmp_path / "heads.onnx")
    before = proto.SerializeToString()
    assert deconv_heads_as_convs(proto) == 0
    assert proto.SerializeToString() == before


def test_prune_removes_dead_nodes_and_weights(tmp_path: Path) -> None:
    from onnx import helper, numpy_helper

    from dlcflow.inference.onnxgraph import prune

    proto = export(heads_model(), tmp_path / "heads.onnx")
    graph = proto.graph
    dead = helper.make_node("Relu", [graph.node[0].output[0]], ["unused"], name="dead")
    graph.node.append(dead)
    graph.initializer.append(numpy_helper.from_array(np.zeros(3, np.float32), "orphan"))
    prune(proto)
    assert "dead" not in {n.name for n in graph.node}
    assert "orphan" not in {t.name for t in graph.initializer}
    assert [o.name for o in graph.output] == [o.name for o in proto.graph.output]


def test_shape_of_wide_features_comes_from_the_tap_convolution(tmp_path: Path) -> None:
    """tf2onnx's crop arithmetic reads the shape of the 128-channel features; after the
    rewrite it reads the 81-channel taps, and the outputs are unchanged."""
    import onnx

    from dlcflow.inference.onnxgraph import deconv_heads_as_convs, shapes_without_reorder

    model = heads_model(features=128)
    proto = export(model, tmp_path / "heads.onnx")
    features = next(n for n in proto.graph.node if n.op_type == "ConvTranspose").input[0]
    assert deconv_heads_as_convs(proto) == 2
    shapes_of_features = [
        n for n in proto.graph.node if n.op_type == "Shape" and n.input[0] == features
    ]
    assert shapes_of_features  # what the rewrite is for
    assert shapes_without_reorder(proto) == len(shapes_of_features)
    assert not [n for n in proto.graph.node if n.op_type == "Shape" and n.input[0] == features]
    onnx.checker.check_model(proto)  # nodes still in topological order
    images = np.random.default_rng(2).uniform(0, 255, (2, 7, 9, 3)).astype(np.float32)
    expected = {k: v.numpy() for k, v in model(images).items()}
    got = run(proto, tmp_path / "rewritten.onnx", images)
    for key in ("prob", "locref"):
        assert got[key].shape == expected[key].shape == (2, 14, 18, expected[key].shape[-1])
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, atol=1e-3)


def bottleneck_model() -> Any:
    """MobileNetV2's pattern: a linear 1x1 projection to 8 channels that only the next
    expansion reads (merged), then one whose output a residual connection also reads
    (kept), and a wide linear 1x1 one (kept)."""
    import keras

    layers = keras.layers
    image = keras.Input((None, None, 3), name="image")
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(image)
    x = layers.Conv2D(8, 1)(x)  # narrow, linear, read only by the next: merged
    x = layers.Conv2D(48, 1, activation="relu6")(x)
    narrow = layers.Conv2D(8, 1)(x)  # narrow, but the residual reads it too: kept
    x = layers.Add()([narrow, layers.Conv2D(8, 1, activation="relu")(narrow)])
    x = layers.Conv2D(32, 1)(x)  # 32 channels: not narrow, kept
    x = layers.Conv2D(4, 1)(x)
    model = keras.Model(image, {"out": x})
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    return model


def assert_same_output(
    model: Any, proto: Any, path: Path, seed: int, rtol: float, atol: float
) -> None:
    """The rewritten graph gives Keras' ``out`` on an even-sized batch and a 1x1 image."""
    rng = np.random.default_rng(seed)
    for shape in [(2, 6, 10, 3), (1, 1, 1, 3)]:
        images = rng.uniform(0, 255, shape).astype(np.float32)
        expected = model(images)["out"].numpy()
        got = run(proto, path, images)["out"]
        assert np.abs(expected).max() > 10  # the layers do compute something
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


def test_narrow_linear_pointwise_convolution_is_merged_into_the_next(tmp_path: Path) -> None:
    from dlcflow.inference.onnxgraph import merge_narrow_pointwise

    model = bottleneck_model()
    proto = export(model, tmp_path / "bottleneck.onnx")
    convs = [n.op_type for n in proto.graph.node].count("Conv")
    assert convs == 7
    assert merge_narrow_pointwise(proto) == 1
    assert [n.op_type for n in proto.graph.node].count("Conv") == convs - 1
    merged = [n for n in proto.graph.node if n.op_type == "Conv" and "_merged" in n.input[1]]
    assert len(merged) == 1
    weight = next(t for t in proto.graph.initializer if t.name == merged[0].input[1])
    assert list(weight.dims) == [48, 16, 1, 1]
    assert_same_output(model, proto, tmp_path / "rewritten.onnx", seed=3, rtol=1e-4, atol=1e-2)


def test_narrow_tensors_are_padded_to_a_whole_block(tmp_path: Path) -> None:
    """The 8-channel tensors that only plain convolutions make and read (through a
    residual Add and ReLU) get 16 channels; the output does not change. The 4-channel
    output (a graph output) and the 48- and 32-channel tensors are left alone."""
    import onnx
    from onnx import numpy_helper

    from dlcflow.inference.onnxpad import pad_channels

    model = bottleneck_model()
    proto = export(model, tmp_path / "bottleneck.onnx")
    assert pad_channels(proto, 8) == 0  # nothing narrower than 8
    assert pad_channels(proto, 16) == 2  # the first projection; the residual stream
    onnx.checker.check_model(proto)
    inits = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    shapes = [inits[n.input[1]].shape[:2] for n in proto.graph.node if n.op_type == "Conv"]
    assert shapes == [(16, 3), (16, 16), (48, 16), (16, 48), (16, 16), (32, 16), (4, 32)]
    assert_same_output(model, proto, tmp_path / "padded.onnx", seed=5, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("widen", [False, True])
def test_locref_is_computed_at_each_parts_maximum(widen: bool, tmp_path: Path) -> None:
    """The locref output becomes (B, J, 2): TensorFlow's map read at each part's first
    maximum, on odd and even sizes and a 1x1 image (every neighbour but one outside), at
    maxima of both output phases; with the heads rewrite after it, as in the export.
    Features made by a 1x1 convolution from 8 channels (``widen``) are recomputed from
    those: the 32-channel features are then read by the heads' convolution alone."""
    import onnx

    from dlcflow.inference.decode import locref_at
    from dlcflow.inference.onnxgraph import deconv_heads_as_convs
    from dlcflow.inference.onnxlocref import locref_at_maxima

    model = heads_model(features=32, widen=widen)
    proto = export(model, tmp_path / "heads.onnx")
    features = next(n for n in proto.graph.node if n.op_type == "ConvTranspose").input[0]
    assert locref_at_maxima(proto)
    assert deconv_heads_as_convs(proto) == 1  # only the probability head is left dense
    onnx.checker.check_model(proto)
    readers = sorted(n.op_type for n in proto.graph.node if features in n.input)
    readers = [op for op in readers if op != "Shape"]  # (shapes_without_reorder's part)
    assert readers == (["Conv"] if widen else ["Conv", "Reshape"])
    dims = proto.graph.output[[o.name for o in proto.graph.output].index("locref")]
    assert [d.dim_param or d.dim_value for d in dims.type.tensor_type.shape.dim] == [
        "batch",
        3,
        2,
    ]
    rng = np.random.default_rng(4)
    rows: set[int] = set()
    cols: set[int] = set()
    for shape in [(2, 6, 10, 3), (1, 7, 9, 3), (1, 1, 1, 3), (4, 16, 16, 3), (8, 3, 5, 3)]:
        images = rng.uniform(0, 255, shape).astype(np.float32)
        expected = {k: v.numpy() for k, v in model(images).items()}
        got = run(proto, tmp_path / "rewritten.onnx", images)
        assert got["locref"].shape == (shape[0], 3, 2)
        np.testing.assert_allclose(got["prob"], expected["prob"], rtol=1e-4, atol=1e-4)
        want = locref_at(got["prob"], expected["locref"])
        np.testing.assert_allclose(got["locref"], want, rtol=1e-4, atol=1e-3)
        h, w = got["prob"].shape[1:3]
        idx = np.argmax(got["prob"].reshape(shape[0], h * w, 3), axis=1)
        rows |= set((idx // w).ravel() % 2)
        cols |= set((idx % w).ravel() % 2)
    assert {0, 1} <= rows and {0, 1} <= cols  # both output phases were checked


def test_locref_rewrite_needs_the_dlc_head(tmp_path: Path) -> None:
    from dlcflow.inference.onnxlocref import locref_at_maxima

    proto = export(heads_model(kernel=4), tmp_path / "heads.onnx")
    before = proto.SerializeToString()
    assert not locref_at_maxima(proto)
    assert proto.SerializeToString() == before
