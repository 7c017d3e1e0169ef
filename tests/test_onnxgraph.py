"""dlcflow.onnxgraph: the rewrites of exported graphs compute what Keras computes.

Small Keras models with the layers the rewrites look for (DLC's prediction heads:
3x3, stride-2 transposed convolutions with SAME padding) are exported with Keras' own
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


def heads_model(padding: str = "same", kernel: int = 3) -> Any:
    """features -> two transposed-convolution heads (3 and 6 channels, with biases)."""
    import keras

    image = keras.Input((None, None, 3), name="image")
    features = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(image)
    prob = keras.layers.Conv2DTranspose(3, kernel, strides=2, padding=padding)(features)
    locref = keras.layers.Conv2DTranspose(6, kernel, strides=2, padding=padding)(features)
    model = keras.Model(image, {"prob": keras.activations.sigmoid(prob), "locref": locref})
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    return model


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_transposed_conv_heads_become_one_tap_convolution(padding: str, tmp_path: Path) -> None:
    """DLC's heads (SAME) and the whole output (VALID, 2H + 1) alike."""
    from dlcflow.onnxgraph import deconv_heads_as_convs

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
    from dlcflow.onnxgraph import deconv_heads_as_convs

    proto = export(heads_model(kernel=4), tmp_path / "heads.onnx")
    before = proto.SerializeToString()
    assert deconv_heads_as_convs(proto) == 0
    assert proto.SerializeToString() == before


def test_prune_removes_dead_nodes_and_weights(tmp_path: Path) -> None:
    from onnx import helper, numpy_helper

    from dlcflow.onnxgraph import prune

    proto = export(heads_model(), tmp_path / "heads.onnx")
    graph = proto.graph
    dead = helper.make_node("Relu", [graph.node[0].output[0]], ["unused"], name="dead")
    graph.node.append(dead)
    graph.initializer.append(numpy_helper.from_array(np.zeros(3, np.float32), "orphan"))
    prune(proto)
    assert "dead" not in {n.name for n in graph.node}
    assert "orphan" not in {t.name for t in graph.initializer}
    assert [o.name for o in graph.output] == [o.name for o in proto.graph.output]
