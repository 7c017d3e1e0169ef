"""Pose networks, initial weights and snapshots (training.nets, training.backbones)."""

from __future__ import annotations

import urllib.error
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from dlcflow.inference.decode import decode
from dlcflow.project.paths import list_snapshots
from dlcflow.training import backbones, nets
from dlcflow.training.targets import make_targets, pose_loss

MOBILE = "mobilenet_v2_0.35"
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def cfg_for(net_type: str = MOBILE, num_joints: int = 3, **extra: Any) -> dict[str, Any]:
    cfg = {
        "net_type": net_type,
        "num_joints": num_joints,
        "init_weights": "none",
        "stride": 8.0,
        "pos_dist_thresh": 17,
        "locref_stdev": 7.2801,
        "location_refinement": True,
        "locref_huber_loss": True,
        "locref_loss_weight": 0.05,
        "intermediate_supervision": False,
        "intermediate_supervision_layer": 12,
        "mean_pixel": [123.68, 116.779, 103.939],
    }
    cfg.update(extra)
    return cfg


def images(batch: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (batch, height, width, 3)).astype("float32")


@pytest.fixture(scope="module")
def mobile_interm() -> keras.Model:
    """mobilenet_v2_0.35, 3 joints, intermediate supervision (DLC layer_12)."""
    keras.utils.set_random_seed(1)
    return nets.build_model(cfg_for(intermediate_supervision=True))


def test_output_size() -> None:
    assert nets.output_size(64, 64) == (8, 8)
    assert nets.output_size(75, 61) == (10, 8)
    assert nets.output_size(240, 320) == (30, 40)
    assert nets.output_size(33, 47) == (6, 6)


def test_mobilenet_shapes_odd_size_and_interm(mobile_interm: keras.Model) -> None:
    out = mobile_interm(images(2, 75, 61))
    assert set(out) == {"part", "locref", "part_interm"}
    assert tuple(out["part"].shape) == (2, 10, 8, 3)
    assert tuple(out["locref"].shape) == (2, 10, 8, 6)
    assert tuple(out["part_interm"].shape) == (2, 10, 8, 3)
    # block_13 keeps stride 16 (DLC): out_relu of a 64x64 input is 4x4
    features = keras.Model(mobile_interm.inputs[0], mobile_interm.get_layer("out_relu").output)
    assert tuple(features(images(1, 64, 64)).shape) == (1, 4, 4, 1280)
    assert mobile_interm.get_layer("block_13_depthwise").strides == (1, 1)
    # batch norm trains from scratch
    assert mobile_interm.get_layer("bn_Conv1").trainable


def test_inference_model_probabilities(mobile_interm: keras.Model) -> None:
    x = images(2, 48, 80)
    inference = nets.inference_model(mobile_interm)
    out = inference(x)
    assert set(out) == {"prob", "locref"}
    prob = out["prob"].numpy()
    assert prob.shape == (2, 6, 10, 3) and prob.min() >= 0.0 and prob.max() <= 1.0
    logits = mobile_interm(x)
    np.testing.assert_allclose(prob, tf.sigmoid(logits["part"]).numpy(), atol=1e-6)
    np.testing.assert_allclose(out["locref"].numpy(), logits["locref"].numpy(), atol=1e-6)


def test_resnet50_dilated_stride16() -> None:
    model = nets.build_model(
        cfg_for("resnet_50", 2, intermediate_supervision=True, intermediate_supervision_layer=5)
    )
    out = model(images(1, 64, 64))
    assert tuple(out["part"].shape) == (1, 8, 8, 2)
    assert tuple(out["locref"].shape) == (1, 8, 8, 4)
    assert tuple(out["part_interm"].shape) == (1, 8, 8, 2)
    assert model.get_layer("conv5_block1_1_conv").strides == (1, 1)
    assert model.get_layer("conv5_block1_0_conv").strides == (1, 1)
    for i in (1, 2, 3):
        assert model.get_layer(f"conv5_block{i}_2_conv").dilation_rate == (2, 2)
    assert model.get_layer("conv4_block1_2_conv").dilation_rate == (1, 1)
    features = keras.Model(model.inputs[0], model.get_layer("conv5_block3_out").output)
    assert tuple(features(images(1, 64, 64)).shape) == (1, 4, 4, 2048)
    with pytest.raises(ValueError, match="intermediate_supervision_layer 12"):
        nets.build_model(cfg_for("resnet_50", 2, intermediate_supervision=True))


def test_efficientnet_b0_shapes() -> None:
    model = nets.build_model(cfg_for("efficientnet-b0", 4))
    out = model(images(1, 75, 61))
    assert tuple(out["part"].shape) == (1, 10, 8, 4)
    assert tuple(out["locref"].shape) == (1, 10, 8, 8)
    assert model.get_layer("block6a_dwconv").strides == (1, 1)


def test_unknown_net_type() -> None:
    with pytest.raises(ValueError, match="unknown net_type"):
        nets.build_model(cfg_for("resnet_18"))


def train_steps(model: keras.Model, optimizer: Any, cfg: dict, steps: int = 2) -> None:
    x = images(2, 64, 64)
    kp = np.array([[10.0, 20.0], [30.0, 40.0], [50.0, 12.0]])
    t = make_targets(kp, nets.output_size(64, 64), cfg)
    targets = {k: np.stack([v, v]) for k, v in t.items()}
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = pose_loss(targets, model(x, training=True), cfg)["total"]
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))


def test_snapshot_roundtrip_restores_weights_and_optimizer(tmp_path: Path) -> None:
    cfg = cfg_for(intermediate_supervision=True)
    model = nets.build_model(cfg)
    optimizer = keras.optimizers.Adam(1e-3)
    train_steps(model, optimizer, cfg)
    prefix = tmp_path / "train" / "snapshot-120"
    nets.save_snapshot(prefix, model, optimizer, iteration=120)
    names = sorted(p.name for p in prefix.parent.iterdir())
    assert names == ["snapshot-120.data-00000-of-00001", "snapshot-120.index"]

    restored = nets.build_model(cfg)
    optimizer2 = keras.optimizers.Adam(1e-3)
    assert nets.restore_snapshot(prefix, restored, optimizer2) == 120
    assert int(optimizer2.iterations.numpy()) == 2
    for a, b in zip(optimizer.variables, optimizer2.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    x = images(2, 75, 61, seed=3)
    expected, got = model(x), restored(x)
    for key in expected:
        np.testing.assert_array_equal(expected[key].numpy(), got[key].numpy())

    # a model from the test pose_cfg (no intermediate head) loads the same snapshot
    test_cfg = {
        k: cfg[k] for k in ("net_type", "num_joints", "init_weights", "location_refinement")
    }
    trained = nets.load_trained_model(test_cfg, prefix)
    np.testing.assert_array_equal(trained(x)["part"].numpy(), expected["part"].numpy())
    assert "part_interm" not in trained.output

    # resuming continues identically
    train_steps(model, optimizer, cfg, 1)
    train_steps(restored, optimizer2, cfg, 1)
    np.testing.assert_allclose(model(x)["part"].numpy(), restored(x)["part"].numpy(), atol=1e-5)


def test_snapshot_overwrite_and_half_written(tmp_path: Path) -> None:
    model = nets.build_model(cfg_for())
    nets.save_snapshot(tmp_path / "snapshot-5", model, iteration=5)
    nets.save_snapshot(tmp_path / "snapshot-5", model, iteration=6)  # same name again
    assert nets.restore_snapshot(tmp_path / "snapshot-5", nets.build_model(cfg_for())) == 6
    fresh = keras.optimizers.Adam(1e-3)  # saved without optimizer: weights only
    assert nets.restore_snapshot(tmp_path / "snapshot-5", nets.build_model(cfg_for()), fresh) == 6
    # a crash between data and index leaves no .index: not a snapshot
    for suffix in (".data-00000-of-00001", ".index"):
        src = tmp_path / f"snapshot-5{suffix}"
        (tmp_path / f"snapshot-9{suffix}").write_bytes(src.read_bytes())
    (tmp_path / "snapshot-9.index").unlink()
    assert [p.name for p in list_snapshots(tmp_path)] == ["snapshot-5"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]
    with pytest.raises(FileNotFoundError, match="snapshot-9.index"):
        nets.restore_snapshot(tmp_path / "snapshot-9", model)
    with pytest.raises(ValueError, match="does not match"):
        nets.restore_snapshot(tmp_path / "snapshot-5", nets.build_model(cfg_for(num_joints=5)))


def assert_layers_equal(a: keras.Model, b: keras.Model, names: list[str]) -> None:
    for name in names:
        for wa, wb in zip(
            a.get_layer(name).get_weights(), b.get_layer(name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(wa, wb)


def test_init_weights_from_backbone_and_model_files(tmp_path: Path) -> None:
    app = keras.applications.MobileNetV2(
        input_shape=(None, None, 3), alpha=0.35, include_top=False, weights=None
    )
    path = tmp_path / "backbone.weights.h5"
    app.save_weights(path)
    model = nets.build_model(cfg_for(init_weights=str(path)))
    backbone_layers = [layer.name for layer in app.layers if layer.weights]
    assert_layers_equal(app, model, backbone_layers)
    assert not model.get_layer("bn_Conv1").trainable  # pretrained: batch norm frozen
    assert model.get_layer("Conv1").trainable

    full = tmp_path / "model.weights.h5"
    model.save_weights(full)
    other = nets.build_model(cfg_for(num_joints=5, init_weights=str(full), freeze_bn=False))
    assert_layers_equal(model, other, backbone_layers)
    assert other.get_layer("bn_Conv1").trainable

    matched = nets.load_init_weights(nets.build_model(cfg_for()), str(full), MOBILE)
    assert "part_pred" in matched and "Conv1" in matched

    with pytest.raises(nets.InitWeightsError, match="no weights file of mobilenet_v2_0.5"):
        nets.build_model(cfg_for("mobilenet_v2_0.5", init_weights=str(path)))
    with pytest.raises(nets.InitWeightsError, match="does not exist"):
        nets.build_model(cfg_for(init_weights=str(tmp_path / "missing.h5")))
    with pytest.raises(nets.InitWeightsError, match="checkpoints"):
        nets.build_model(cfg_for(init_weights=str(tmp_path / "resnet_v1_50.ckpt")))


def test_imagenet_from_keras_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``imagenet`` reads Keras' cached download (legacy .h5 keyed by layer name)."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    ctor, kwargs, fname, _ = backbones.keras_application(MOBILE)
    app = ctor(weights=None, **kwargs)
    (tmp_path / "models").mkdir()
    with h5py.File(tmp_path / "models" / fname, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, app)
    model = nets.build_model(cfg_for(init_weights="imagenet"))
    assert_layers_equal(app, model, [layer.name for layer in app.layers if layer.weights])


def test_imagenet_download_failure_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))

    def offline(url: str, timeout: float) -> None:
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(nets.urllib.request, "urlopen", offline)
    with pytest.raises(nets.InitWeightsError) as info:
        nets.build_model(cfg_for("resnet_50", init_weights="imagenet"))
    message = str(info.value)
    fname = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert "https://storage.googleapis.com/tensorflow/keras-applications/resnet/" + fname in message
    assert str(tmp_path / "keras" / "models" / fname) in message
    assert "init_weights" in message and "\n" not in message
    assert not list((tmp_path / "keras" / "models").iterdir())  # no partial file left


def test_overfit_one_image() -> None:
    """mobilenet_v2_0.35 from scratch learns 4 keypoints of one 96x96 image."""
    import cv2

    keras.utils.set_random_seed(0)
    cfg = cfg_for(num_joints=4)
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 60, (96, 96, 3)).astype("float32")
    kp = np.array([[20.5, 30.2], [70.3, 25.7], [48.1, 60.9], [30.6, 80.4]])
    for (x, y), colour in zip(
        kp, [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)], strict=True
    ):
        cv2.circle(img, (round(x), round(y)), 4, colour, -1)
    model = nets.build_model(cfg)
    t = make_targets(kp, nets.output_size(96, 96), cfg)
    targets = {k: tf.constant(v[None]) for k, v in t.items()}
    image = tf.constant(img[None])
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)  # no second trace inside tf.function

    @tf.function
    def step() -> Any:
        with tf.GradientTape() as tape:
            loss = pose_loss(targets, model(image, training=True), cfg)["total"]
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    first = float(step())
    for _ in range(120):
        last = float(step())
    assert last < first / 20
    out = nets.inference_model(model)(image)
    pose = decode(out["prob"].numpy(), out["locref"].numpy())
    errors = np.linalg.norm(pose[0, :, :2] - kp, axis=1)
    assert errors.max() < 2.0, errors
    assert pose[0, :, 2].min() > 0.5


def test_onnx_export_dynamic_shapes(tmp_path: Path) -> None:
    """The inference model exports to ONNX (Keras + tf2onnx) with dynamic B, H, W."""
    import onnxruntime as ort  # noqa: PLC0415

    model = nets.inference_model(nets.build_model(cfg_for()))
    path = tmp_path / "model.onnx"
    spec = tf.TensorSpec([None, None, None, 3], tf.float32, name="image")
    model.export(str(path), format="onnx", input_signature=[spec], verbose=False)
    session = ort.InferenceSession(str(path))
    x = images(2, 75, 61)
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, {"image": x}), strict=True))
    expected = model(x)
    for key in ("prob", "locref"):
        np.testing.assert_allclose(got[key], expected[key].numpy(), atol=1e-4)


def test_init_weights_from_a_previous_snapshot(tmp_path: Path) -> None:
    """A new iteration can start from the last snapshot of the previous one."""
    trained = nets.build_model(cfg_for())
    prefix = nets.save_snapshot(tmp_path / "snapshot-10", trained, iteration=10)
    started = nets.build_model(cfg_for(init_weights=str(prefix)))
    x = images(1, 64, 64)
    for key in ("part", "locref"):
        np.testing.assert_allclose(started(x)[key], trained(x)[key], atol=1e-6)
