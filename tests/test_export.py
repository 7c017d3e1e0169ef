"""dlcflow.inference.export and the ONNX engine (dlcflow.inference.onnxengine): export files,
equivalence with TensorFlow, engine choice, threads, the CLI and the workflow rule.

Equivalence (the issue's tolerances): for the same snapshot and frames, ONNX Runtime and
TensorFlow predictions agree within 0.05 px and 1e-3 likelihood -- on a small trained
demo model (mobilenet_v2_0.35; every frame of its video through ``analyze_videos``, the
labeled frames through ``evaluate_network``) and on the other backbone families (ResNet,
EfficientNet) with random weights.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import snakemake_workdir

from dlcflow.project.paths import Project

PX_TOL, P_TOL = 0.05, 1e-3
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny demo project (1 video x 60 frames at 160x120, 10 labeled frames) with a
    mobilenet_v2_0.35 trained for 60 iterations (snapshots 30 and 60)."""
    from dlcflow.devtools.demo import make_demo_project, oracle_label_project
    from dlcflow.labeling.frames import extract_frames
    from dlcflow.training.dataset import create_training_dataset
    from dlcflow.training.train import train_network

    root = tmp_path_factory.mktemp("export")
    config = make_demo_project(root, n_videos=1, nframes=60, numframes2pick=10, size=(160, 120))
    extract_frames(config, algo="uniform")
    oracle_label_project(config)
    create_training_dataset(config, init_weights="none", net_type="mobilenet_v2_0.35")
    train_network(config, maxiters=60, saveiters=30, displayiters=30, batch_size=2, seed=0)
    return config


def the_video(config: Path) -> Path:
    return next((config.parent / "videos").iterdir())


def poses(h5: Path) -> np.ndarray:
    """(frames, parts, 3) x, y, likelihood of a pose file."""
    df = pd.read_hdf(h5)
    return df.to_numpy().reshape(len(df), -1, 3)


def assert_same_poses(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    assert np.isfinite(a).all() and np.isfinite(b).all()
    np.testing.assert_allclose(a[..., :2], b[..., :2], rtol=0, atol=PX_TOL)
    np.testing.assert_allclose(a[..., 2], b[..., 2], rtol=0, atol=P_TOL)


# -- export files ------------------------------------------------------------------------------
def test_export_file_metadata_and_dynamic_shapes(trained: Path) -> None:
    import onnx

    from dlcflow.inference.export import export_model
    from dlcflow.inference.onnxengine import read_export_metadata, snapshot_fingerprint

    project = Project(trained)
    path = export_model(trained)
    assert path == project.onnx_export(0.95, 1, 60)
    assert path.name == "snapshot-60.onnx" and path.parent == project.train_folder(0.95, 1)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp file
    meta = read_export_metadata(path)
    assert meta["snapshot"] == "snapshot-60" and meta["snapshot_iteration"] == 60
    assert meta["snapshot_fingerprint"].startswith("sha256:")
    assert meta["input"]["dynamic"] == ["batch", "height", "width"]
    assert meta["input"]["layout"] == "NHWC" and meta["input"]["range"] == [0, 255]
    assert meta["pose_cfg"] == {
        "net_type": "mobilenet_v2_0.35",
        "num_joints": 4,
        "all_joints_names": ["snout", "leftear", "rightear", "tailbase"],
        "stride": 8.0,
        "locref_stdev": 7.2801,
        "location_refinement": True,
    }
    assert meta["verified"]["max_prob_diff"] <= 1e-3
    # exact rewrites (the analyses below agree with TensorFlow): MobileNet's input scaling
    # in the first convolution, locref only at the maxima, the probability head's
    # transposed convolution as convolutions, the first bottleneck's 8-channel projection
    # merged into the next expansion, and the features' shape read from the heads' taps
    assert meta["graph_rewrites"] == [
        "input scaling folded into the first convolution",
        "location refinement computed at each part's maximum only",
        "1 stride-2 transposed convolutions as convolutions",
        "1 narrow 1x1 convolutions merged into the next",
        "1 shapes taken from smaller tensors",
    ]
    model = onnx.load(str(path))
    assert "ConvTranspose" not in {node.op_type for node in model.graph.node}
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "height", "width", 3]
    # a current export is kept; another snapshot has another fingerprint
    mtime = path.stat().st_mtime_ns
    assert export_model(trained) == path and path.stat().st_mtime_ns == mtime
    first = project.snapshot_prefix(0.95, 1, 30)
    assert snapshot_fingerprint(first) != meta["snapshot_fingerprint"]


def test_cli_export_and_one_line_errors(trained: Path, capsys: pytest.CaptureFixture) -> None:
    from dlcflow.cli import main

    assert main(["export", str(trained)]) == 0
    out = capsys.readouterr()
    assert out.out.strip().endswith("snapshot-60.onnx")
    assert "already exported" in out.err
    assert main(["export", str(trained), "--shuffle", "7"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("dlcflow export: error:") and "shuffle 7" in err
    assert len(err.splitlines()) == 1


# -- equivalence -------------------------------------------------------------------------------
def test_onnx_and_tensorflow_analyses_agree(trained: Path, tmp_path: Path) -> None:
    from dlcflow.inference.analyze import analyze_videos
    from dlcflow.inference.export import export_model

    export_model(trained)
    video = the_video(trained)
    out = {}
    for engine in ("tensorflow", "onnx"):
        dest = tmp_path / engine
        scorer = analyze_videos(trained, [video], destfolder=dest, engine=engine, batchsize=4)
        out[engine] = poses(Project.analysis_output(video, scorer, dest))
    assert len(out["onnx"]) == 60
    assert_same_poses(out["onnx"], out["tensorflow"])
    assert out["onnx"][..., 2].max() > 0.2  # a trained model: there are real detections


def test_onnx_and_tensorflow_evaluations_agree(trained: Path) -> None:
    import shutil

    from dlcflow.inference.export import export_model
    from dlcflow.post.evaluate import evaluate_network

    export_model(trained)
    project = Project(trained)
    scorer = project.scorer_name(1, "mobilenet_v2_0.35", 60)
    predictions = project.evaluation_predictions(0.95, 1, scorer, 60)
    found = {}
    for engine in ("onnx", "tensorflow"):
        shutil.rmtree(project.root / "evaluation-results", ignore_errors=True)
        evaluate_network(trained, engine=engine, show_errors=False)
        found[engine] = poses(predictions)
    assert_same_poses(found["onnx"], found["tensorflow"])


def calibrated_model(cfg: dict, images: np.ndarray) -> object:
    """A random-weights network whose batch-norm statistics are those of ``images``, so its
    outputs are well spread (at initialisation some backbones give constant maps: ties)."""
    import keras

    from dlcflow.training import nets

    model = nets.build_model(cfg)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model(images, training=True)
    return model


@pytest.mark.parametrize("net_type", ["resnet_50", "efficientnet-b0"])
def test_every_backbone_family_agrees(net_type: str, tmp_path: Path) -> None:
    """Random weights, two 75x101 images (not multiples of 16): raw outputs and decoded
    poses agree. (MobileNetV2, the third family, is the trained model of the tests above.)"""
    from dlcflow.inference.decode import locref_at
    from dlcflow.inference.engines import TensorFlowEngine, decode_outputs
    from dlcflow.inference.export import export_snapshot
    from dlcflow.inference.onnxengine import OnnxEngine, read_export_metadata
    from dlcflow.training import nets

    cfg = {
        "net_type": net_type,
        "num_joints": 3,
        "all_joints_names": ["a", "b", "c"],
        "init_weights": "none",
        "stride": 8,
        "locref_stdev": 7.2801,
        "location_refinement": True,
    }
    images = np.random.default_rng(1).uniform(0, 255, (2, 75, 101, 3)).astype(np.float32)
    model = calibrated_model(cfg, images)
    prefix = nets.save_snapshot(tmp_path / "snapshot-5", model, iteration=5)
    path = export_snapshot(cfg, prefix, verify=False)
    assert path == tmp_path / "snapshot-5.onnx"
    # per-channel input scaling is not folded; the heads are rewritten, and the shape of
    # the wide features is read from their tap convolution
    rewrites = [
        "location refinement computed at each part's maximum only",
        "1 stride-2 transposed convolutions as convolutions",
        "1 shapes taken from smaller tensors",
    ]
    assert read_export_metadata(path)["graph_rewrites"] == rewrites
    onnx_out = OnnxEngine(path, threads=2)(images)
    tf_out = TensorFlowEngine(cfg, prefix)(images)
    assert onnx_out[0].shape == (2, 10, 14, 3) and onnx_out[1].shape == (2, 3, 2)
    np.testing.assert_allclose(onnx_out[0], tf_out[0], rtol=0, atol=P_TOL)
    at_maxima = locref_at(onnx_out[0], tf_out[1])  # TensorFlow's map at ONNX's maxima
    np.testing.assert_allclose(onnx_out[1] * 7.2801, at_maxima * 7.2801, rtol=0, atol=PX_TOL)
    top2 = np.sort(tf_out[0].reshape(2, -1, 3), axis=1)[:, -2:]
    gap = (top2[:, 1] - top2[:, 0]).min()
    assert gap > 2 * np.abs(onnx_out[0] - tf_out[0]).max()  # no near tie: a fair argmax test
    assert_same_poses(decode_outputs(*onnx_out, cfg), decode_outputs(*tf_out, cfg))


# -- engine choice and threads -----------------------------------------------------------------
def test_auto_picks_onnx_when_a_current_export_exists(
    trained: Path, capsys: pytest.CaptureFixture
) -> None:
    import shutil

    from dlcflow.inference.engines import TensorFlowEngine, choose_engine, make_engine
    from dlcflow.inference.export import export_model
    from dlcflow.inference.onnxengine import OnnxEngine, StaleExportError
    from dlcflow.project.posecfg import load_pose_cfg

    project = Project(trained)
    cfg = load_pose_cfg(project.pose_cfg(0.95, 1, "test"))
    last, first = project.snapshot_prefix(0.95, 1, 60), project.snapshot_prefix(0.95, 1, 30)
    export_model(trained)
    project.onnx_export(0.95, 1, 30).unlink(missing_ok=True)
    assert choose_engine(last) == ("onnx", "ONNX export, CPU")
    assert choose_engine(first)[0] == "tensorflow"
    assert isinstance(make_engine("auto", cfg, last), OnnxEngine)
    err = capsys.readouterr().err
    assert "Engine auto (ONNX export, CPU): ONNX Runtime (snapshot-60.onnx" in err
    assert isinstance(make_engine("auto", cfg, first), TensorFlowEngine)
    with pytest.raises(FileNotFoundError, match="dlcflow export"):
        make_engine("onnx", cfg, first)
    # an export of another snapshot under this snapshot's name is stale: auto falls back
    shutil.copy(project.onnx_export(0.95, 1, 60), project.onnx_export(0.95, 1, 30))
    try:
        with pytest.raises(StaleExportError, match="not exported from the current snapshot-30"):
            make_engine("onnx", cfg, first)
        capsys.readouterr()
        assert isinstance(make_engine("auto", cfg, first), TensorFlowEngine)
        assert "(the snapshot changed since)" in capsys.readouterr().err
        with pytest.raises(StaleExportError, match="num_joints 4 differs"):
            make_engine("onnx", {**cfg, "num_joints": 5}, last)
    finally:
        project.onnx_export(0.95, 1, 30).unlink()
    with pytest.raises(ValueError, match="unknown engine 'torch'"):
        make_engine("torch", cfg, last)


def test_auto_on_gpu_nodes(
    trained: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """With a GPU TensorFlow runs, unless ONNX Runtime can use it (onnxruntime-gpu)."""
    import onnxruntime

    from dlcflow.inference import devices, engines
    from dlcflow.inference.export import export_model

    export_model(trained)
    last = Project(trained).snapshot_prefix(0.95, 1, 60)
    monkeypatch.setattr(devices, "_nvidia_gpu_present", lambda: True)
    monkeypatch.setattr(engines, "tensorflow_sees_gpu", lambda: True)
    assert engines.choose_engine(last) == ("tensorflow", "TensorFlow has a GPU")
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: providers)
    assert devices.onnx_providers() == providers
    assert engines.choose_engine(last) == ("onnx", "ONNX export, GPU")
    monkeypatch.undo()  # real functions; no visible device means no GPU for either runtime
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert not devices._nvidia_gpu_present() and not devices.tensorflow_sees_gpu()


def test_thread_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from dlcflow.core.threads import available_cpus, thread_budget

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert thread_budget(None) is None
    assert thread_budget(1) == 1
    assert thread_budget(10_000) == available_cpus()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert thread_budget(None) == 1 and thread_budget(8) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "junk")
    assert thread_budget(None) is None
    with pytest.raises(ValueError, match="positive integer"):
        thread_budget(0)


def test_onnx_engine_threads_and_no_tensorflow_import(trained: Path, tmp_path: Path) -> None:
    """A fresh process analyzing with ONNX never imports TensorFlow and uses the threads
    it is given (OMP_NUM_THREADS here)."""
    from dlcflow.inference.export import export_model

    export_model(trained)
    code = (
        "import sys\n"
        "from dlcflow.inference.analyze import analyze_videos\n"
        "from dlcflow.inference.engines import make_engine\n"
        f"analyze_videos({str(trained)!r}, [{str(the_video(trained))!r}], "
        f"destfolder={str(tmp_path)!r}, engine='onnx')\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert list(tmp_path.glob("*.h5"))


def test_onnx_engine_session_options(trained: Path) -> None:
    from dlcflow.inference.export import export_model
    from dlcflow.inference.onnxengine import OnnxEngine, nchwc_block

    path = export_model(trained)
    engine = OnnxEngine(path, threads=1)
    options = engine.session.get_session_options()
    assert engine.threads == 1 and engine.streams == 1 and options.intra_op_num_threads == 1
    assert options.inter_op_num_threads == 1
    assert engine.session.get_providers() == ["CPUExecutionProvider"]
    # on the CPU, one session per thread by default; the frames of a batch spread over them
    images = np.random.default_rng(2).uniform(0, 255, (5, 64, 80, 3)).astype(np.float32)
    expected = engine(images)
    for threads, streams, per_session in [(2, None, 1), (2, 1, 2), (2, 2, 1)]:
        parallel = OnnxEngine(path, threads=threads, streams=streams)
        assert parallel.streams == len(parallel.sessions) == (streams or 2)
        assert {s.get_session_options().intra_op_num_threads for s in parallel.sessions} == {
            per_session
        }
        for got, want in zip(parallel(images), expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        assert [a.shape for a in parallel(images[:1])] == [e[:1].shape for e in expected]
        # two batches in flight at once (as analyze_videos runs it): each gets its own
        second = images[::-1].copy()
        first_wait, second_wait = parallel.submit(images), parallel.submit(second)
        for got, want in zip(second_wait(), engine(second), strict=True):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        for got, want in zip(first_wait(), expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        assert parallel.on_cpu
        parallel.close()
    with pytest.raises(ValueError, match="streams must be a positive integer"):
        OnnxEngine(path, streams=0)
    # MobileNetV2-0.35's 8-channel residual stream is padded where the kernels' block is 16
    assert engine.padded_tensors == (1 if nchwc_block() == 16 else 0)


def test_nchwc_block_from_cpu_flags(tmp_path: Path) -> None:
    from dlcflow.inference.onnxengine import nchwc_block

    info = tmp_path / "cpuinfo"
    for flags, block in [("fpu sse avx avx2 fma avx512f avx512bw", 16), ("sse avx avx2", 8)]:
        info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        assert nchwc_block(info) == block
    info.write_text("processor\t: 0\nFeatures\t: fp asimd\n")  # ARM
    assert nchwc_block(info) == 0
    assert nchwc_block(tmp_path / "missing") == 0


# -- workflow ----------------------------------------------------------------------------------
@pytest.mark.workflow
def test_workflow_exports_and_analyzes_with_onnx(trained: Path) -> None:
    """`snakemake analyze` with analyze.engine auto makes snapshot-<maxiters>.onnx (rule
    export_onnx) and analyzes with it; with tensorflow no export is asked for."""
    project = Project(trained)
    export = project.onnx_export(0.95, 1, 60)
    export.unlink(missing_ok=True)
    video = the_video(trained)
    scorer = project.scorer_name(1, "mobilenet_v2_0.35", 60)
    Project.analysis_output(video, scorer).unlink(missing_ok=True)

    def snakemake(*args: str, engine: str = "auto") -> subprocess.CompletedProcess[str]:
        settings = trained.parent / f"workflow-{engine}.yaml"
        settings.write_text(
            yaml.safe_dump(
                {
                    "project": str(trained),
                    "net_type": "mobilenet_v2_0.35",
                    "train": {
                        "maxiters": 60,
                        "saveiters": 30,
                        "displayiters": 30,
                        "max_snapshots_to_keep": 5,
                    },
                    "analyze": {
                        "shuffle": 0,
                        "trainingsetindex": 0,
                        "destfolder": "",
                        "save_as_csv": False,
                        "engine": engine,
                    },
                }
            )
        )
        cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "-s", str(REPO / "Snakefile")]
        cmd += [*args, "--configfile", str(settings)]
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        return subprocess.run(cmd, cwd=snakemake_workdir(), capture_output=True, text=True, env=env)

    dry = snakemake("analyze", "-n", engine="tensorflow")
    assert dry.returncode == 0, (dry.stdout + dry.stderr)[-3000:]
    assert "analyze_video" in dry.stdout and "export_onnx" not in dry.stdout
    run = snakemake("analyze")
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert "export_onnx" in run.stdout + run.stderr
    assert export.is_file()
    assert len(poses(Project.analysis_output(video, scorer))) == 60
    log = snakemake_workdir() / "logs" / f"analyze{video.parent}" / f"{video.stem}{scorer}.log"
    assert "Engine auto (ONNX export, CPU): ONNX Runtime" in log.read_text()
