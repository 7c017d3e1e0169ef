"""inference.maengines and multi-animal ONNX export: the engines' outputs and detections.

* Detections from images through an engine, against DLC: an engine that returns DLC's
  unit-test outputs of its 640x480 three-mouse image (``outputs.pickle``) gives, from that
  image, DLC's detections (``dets.pickle``; smoothing off as DLC then: identical peaks and
  positions), whatever the batching and the order of images of two sizes.
* ONNX Runtime against TensorFlow, on tiny multi-animal networks (random weights, batch-norm
  statistics of the test images so that the maps are spread; 4 parts, 2 identity channels,
  4 limbs; two 80x96 images, a size that is not a multiple of 16 in height): MobileNetV2-0.35
  with mid-level fusion and DLCRNet_ms5 (ResNet-50, multi-fusion, multi-stage). The outputs
  agree within :data:`OUT_TOL` (MobileNet 1e-4 absolute; DLCRNet 2e-4 relative to the
  largest output value: float32 rounding through 60 layers of ResNet-50 and the
  2304-channel decoder, ~6e-4 on PAF/locref values up to 4.3; TensorFlow's two own CPU
  kernel libraries, oneDNN on and off, differ by ~1e-4 on the same network, and the
  exact graph rewrites change nothing: an export without them differs as much), and the
  detections are the same: identical peaks, positions within 0.05 px, confidences,
  identities and PAF costs within 1e-3 (compared unrounded: DLC's rounding to 3 decimals
  turns a 1e-5 difference at a rounding boundary into 1e-3).
* A tiny trained project (``test_matrain``'s three mice of three parts on 96x80 images,
  MobileNetV2-0.35, 40 deterministic iterations: probabilities 0.1..0.5, no saturated
  plateaus): ``export_model`` (the export rule's function) writes a multi-animal export that
  ``"auto"`` runs, and both engines detect the same from the labeled image files.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_matrain import ma_project  # noqa: F401 (the tiny multi-animal project, a fixture)

from dlcflow.inference.madetect import DetectionParams, detect_batch, find_peaks

MA_FIXTURE = (
    Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dlc-unittest-multianimal"
)
GRAPH = [[0, 1], [1, 2], [0, 2], [2, 3]]
PX_TOL, COST_TOL = 0.05, 1e-3
#: (absolute, relative to the largest |output|) tolerance of raw outputs per network
OUT_TOL = {"mobilenet_v2_0.35": (1e-4, 0.0), "dlcrnet_ms5": (0.0, 2e-4)}


def ma_cfg(net_type: str, **kw: object) -> dict:
    base = {
        "net_type": net_type,
        "num_joints": 4,
        "all_joints_names": ["nose", "ear", "back", "tail"],
        "num_idchannel": 2,
        "num_limbs": len(GRAPH),
        "partaffinityfield_graph": GRAPH,
        "init_weights": "none",
        "stride": 8,
        "locref_stdev": 7.2801,
        "location_refinement": True,
        "nmsradius": 5.0,
        "minconfidence": 0.01,
        "sigma": 1,
    }
    return {**base, **kw}


def sample_images() -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 255, (2, 80, 96, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    """``export(net_type) -> (pose_cfg, snapshot prefix, export path)`` of a tiny
    multi-animal network (made once per net_type)."""
    import keras

    from dlcflow.inference.export import export_snapshot
    from dlcflow.training import nets
    from dlcflow.training.manets import build_multi_model

    made: dict[str, tuple[dict, Path, Path]] = {}

    def export(net_type: str) -> tuple[dict, Path, Path]:
        if net_type not in made:
            cfg = ma_cfg(net_type)
            model = build_multi_model(cfg)
            for layer in model.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.momentum = 0.0
            model(sample_images(), training=True)
            folder = tmp_path_factory.mktemp(net_type.replace(".", ""))
            prefix = nets.save_snapshot(folder / "snapshot-5", model, iteration=5)
            made[net_type] = (cfg, prefix, export_snapshot(cfg, prefix))
        return made[net_type]

    return export


def assert_same_detections(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for fa, fb in zip(a, b, strict=True):
        assert set(fa) == set(fb) == {"coordinates", "confidence", "costs", "identity"}
        for j, (pa, pb) in enumerate(zip(fa["coordinates"][0], fb["coordinates"][0], strict=True)):
            assert pa.shape == pb.shape, f"part {j}: {len(pa)} peaks, {len(pb)} peaks"
            np.testing.assert_allclose(pa, pb, rtol=0, atol=PX_TOL)
            np.testing.assert_allclose(fa["confidence"][j], fb["confidence"][j], atol=COST_TOL)
            np.testing.assert_allclose(fa["identity"][j], fb["identity"][j], atol=COST_TOL)
        assert sorted(fa["costs"]) == sorted(fb["costs"]) == list(range(len(GRAPH)))
        for k, ca in fa["costs"].items():
            for key in ("m1", "distance"):
                assert ca[key].shape == fb["costs"][k][key].shape
                np.testing.assert_allclose(ca[key], fb["costs"][k][key], rtol=0, atol=COST_TOL)


# -- ONNX Runtime against TensorFlow -----------------------------------------------------------
@pytest.mark.parametrize("net_type", ["mobilenet_v2_0.35", "dlcrnet_ms5"])
def test_onnx_and_tensorflow_outputs_and_detections_agree(exported, net_type: str) -> None:
    from dlcflow.inference.maengines import MultiAnimalEngine, detect_images, make_multi_engine
    from dlcflow.inference.onnxengine import MULTI_OUTPUTS, read_export_metadata

    cfg, prefix, path = exported(net_type)
    meta = read_export_metadata(path)
    assert meta["outputs"] == MULTI_OUTPUTS
    assert meta["pose_cfg"]["num_idchannel"] == 2
    assert meta["pose_cfg"]["partaffinityfield_graph"] == GRAPH
    assert meta["verified"]["max_paf_diff"] <= 1e-3
    # detection reads every peak: the dense locref maps stay
    assert not any("maximum" in r for r in meta["graph_rewrites"])
    images = sample_images()
    tf_engine = make_multi_engine(prefix, cfg, "tensorflow")
    onnx_engine = make_multi_engine(prefix, cfg, "onnx")
    assert isinstance(onnx_engine, MultiAnimalEngine) and onnx_engine.name == "onnx"
    tf_out, onnx_out = tf_engine(images), onnx_engine(images)
    shapes = [(2, 10, 12, 4), (2, 10, 12, 8), (2, 10, 12, 8), (2, 10, 12, 2)]
    assert [o.shape for o in tf_out] == [o.shape for o in onnx_out] == shapes
    absolute, relative = OUT_TOL[cfg["net_type"]]
    for name, a, b in zip(("prob", "locref", "pafs", "identity"), tf_out, onnx_out, strict=True):
        tol = absolute + relative * float(np.abs(a).max())
        assert float(np.abs(a - b).max()) <= tol, name
    # the part and identity probabilities are the network's part_pred through a sigmoid
    logits = tf_engine.model.get_layer("prob").input
    assert logits.shape[-1] == 6
    assert tf_out[0].min() > 0 and tf_out[0].max() < 1 and tf_out[3].std() > 0.01
    params = DetectionParams.from_pose_cfg(cfg, decimals=None)  # unrounded: see above
    found = {
        name: detect_images(engine, list(images), params, batch_size=2)
        for name, engine in (("tf", tf_engine), ("onnx", onnx_engine))
    }
    assert sum(len(c) for c in found["tf"][0]["coordinates"][0]) >= 4  # peaks to compare
    assert_same_detections(found["onnx"], found["tf"])
    # the detections are those of the network's outputs
    direct = detect_batch(*tf_out, params=params)
    assert_same_detections(found["tf"], direct)


def test_staleness_auto_and_bad_input(exported, capsys: pytest.CaptureFixture) -> None:
    from dlcflow.inference.export import export_snapshot
    from dlcflow.inference.maengines import MultiTensorFlowEngine, make_multi_engine
    from dlcflow.inference.onnxengine import StaleExportError

    cfg, prefix, path = exported("mobilenet_v2_0.35")
    mtime = path.stat().st_mtime_ns
    assert export_snapshot(cfg, prefix) == path and path.stat().st_mtime_ns == mtime  # current
    auto = make_multi_engine(prefix, cfg)
    assert auto.name == "onnx"
    assert (
        "Engine auto (ONNX export, CPU): ONNX Runtime (snapshot-5.onnx" in capsys.readouterr().err
    )
    other = ma_cfg(cfg["net_type"], partaffinityfield_graph=[[0, 1], [1, 2], [0, 2], [1, 3]])
    with pytest.raises(StaleExportError, match="partaffinityfield_graph .* differs"):
        make_multi_engine(prefix, other, "onnx")
    assert isinstance(make_multi_engine(prefix, other).runner, MultiTensorFlowEngine)
    with pytest.raises(StaleExportError, match="num_idchannel 2 differs"):
        make_multi_engine(prefix, {**cfg, "num_idchannel": 0}, "onnx")
    single = {k: v for k, v in cfg.items() if k not in ("partaffinityfield_graph", "num_limbs")}
    with pytest.raises(ValueError, match="not a multi-animal pose_cfg"):
        make_multi_engine(prefix, single)
    path.rename(path.with_suffix(".moved"))
    try:
        with pytest.raises(FileNotFoundError, match="no ONNX export of snapshot-5"):
            make_multi_engine(prefix, cfg, "onnx")
    finally:
        path.with_suffix(".moved").rename(path)


# -- detections from images, against DLC ------------------------------------------------------
class DlcOutputs:
    """A raw engine returning DLC's outputs of the three-mouse image (plus 3 identity
    channels) for a 640x480 frame, and their top-left corner for a smaller one."""

    name = "dlc-outputs"

    def __init__(self) -> None:
        with (MA_FIXTURE / "outputs.pickle").open("rb") as f:
            scmaps, locref, pafs = pickle.load(f)
        ids = np.random.default_rng(0).uniform(0, 1, (*scmaps.shape[:3], 3)).astype(np.float32)
        self.maps = (np.concatenate([scmaps, ids], axis=3), locref, pafs)
        self.batches: list[tuple[int, ...]] = []

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        assert batch.dtype == np.float32 and batch.max() > 1  # RGB in 0..255
        self.batches.append(batch.shape)
        h, w = -(-batch.shape[1] // 16) * 2, -(-batch.shape[2] // 16) * 2
        return tuple(np.repeat(m[:, :h, :w], len(batch), axis=0) for m in self.maps)


def test_detect_images_gives_dlcs_detections() -> None:
    import yaml

    from dlcflow.inference.maengines import detect_images, make_multi_engine

    pose_cfg = yaml.safe_load((MA_FIXTURE / "trimouse_pose_cfg.yaml").read_text())
    with (MA_FIXTURE / "dets.pickle").open("rb") as f:
        reference = pickle.load(f)[0]
    runner = DlcOutputs()
    engine = make_multi_engine(
        "unused/snapshot-1", {**pose_cfg, "num_idchannel": 3}, lambda *_: runner
    )
    assert engine.name == "dlc-outputs"
    image = MA_FIXTURE / "image.png"
    small = cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB)[:100, :150]
    params = DetectionParams.from_pose_cfg(pose_cfg, sigma=0)  # DLC's NMS then
    frames = detect_images(engine, [image, small, image, image], params, batch_size=2)
    assert runner.batches == [(2, 480, 640, 3), (1, 480, 640, 3), (1, 100, 150, 3)]
    for frame in (frames[0], frames[2], frames[3]):
        assert len(frame["coordinates"][0]) == 12
        for j in range(12):
            ours, theirs = frame["coordinates"][0][j], reference["coordinates"][0][j]
            assert ours.shape == theirs.shape, f"part {j}: {len(ours)} peaks, DLC {len(theirs)}"
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)
            np.testing.assert_allclose(
                frame["confidence"][j], reference["confidence"][j], atol=5e-4
            )
            assert frame["identity"][j].shape == (len(theirs), 3)
        assert sorted(frame["costs"]) == list(range(66))
    # the identity channels are the last of prob, read at the peaks
    peaks = find_peaks(runner.maps[0][..., :12], 5, 0.01, sigma=0)
    for j in range(12):
        _, rows, cols, _ = peaks[peaks[:, 3] == j].T
        at_peaks = runner.maps[0][0, rows, cols, 12:]
        np.testing.assert_allclose(frames[0]["identity"][j], at_peaks, atol=5e-4)
    # the small image: the corner of the maps (7 x 10 cells), in that image's pixels
    corner = [m[:, :7, :10] for m in runner.maps]
    expected = detect_batch(corner[0][..., :12], corner[1], corner[2], corner[0][..., 12:], params)
    np.testing.assert_equal(frames[1], expected[0])


# -- a trained project: the export rule's library function, auto, images from files ----------
def test_trained_project_exports_and_both_engines_detect_alike(ma_project: Path) -> None:  # noqa: F811
    from dlcflow.inference.export import export_model
    from dlcflow.inference.maengines import detect_images, make_multi_engine
    from dlcflow.inference.onnxengine import read_export_metadata
    from dlcflow.project.paths import Project
    from dlcflow.project.posecfg import load_pose_cfg
    from dlcflow.training.train import train_network

    project = Project(ma_project)
    fraction = project.training_fractions[0]
    train_network(
        ma_project, maxiters=40, saveiters=40, displayiters=20, seed=0, deterministic=True
    )
    path = export_model(ma_project)
    assert path == project.onnx_export(fraction, 1, 40)
    meta = read_export_metadata(path)
    assert meta["pose_cfg"]["partaffinityfield_graph"] == [[0, 1], [0, 2], [1, 2]]
    assert meta["pose_cfg"]["num_idchannel"] == 0
    cfg = load_pose_cfg(project.pose_cfg(fraction, 1, "test"))
    prefix = project.snapshot_prefix(fraction, 1, 40)
    onnx_engine = make_multi_engine(prefix, cfg)  # auto: the current export
    tf_engine = make_multi_engine(prefix, cfg, "tensorflow")
    assert onnx_engine.name == "onnx" and tf_engine.name == "tensorflow"
    images = sorted(project.labeled_folder("arena").glob("*.png"))
    params = DetectionParams.from_pose_cfg(cfg, decimals=None)  # unrounded: see above
    found = [detect_images(e, images, params, batch_size=3) for e in (onnx_engine, tf_engine)]
    assert len(found[0]) == 4 and "identity" not in found[0][0]
    assert sum(len(c) for f in found[1] for c in f["coordinates"][0]) >= 3
    for a, b in zip(*found, strict=True):
        for pa, pb in zip(a["coordinates"][0], b["coordinates"][0], strict=True):
            assert pa.shape == pb.shape
            np.testing.assert_allclose(pa, pb, rtol=0, atol=PX_TOL)
        for k, ca in a["costs"].items():
            for key in ("m1", "distance"):
                np.testing.assert_allclose(ca[key], b["costs"][k][key], rtol=0, atol=COST_TOL)
