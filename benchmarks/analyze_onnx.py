"""Benchmark: video analysis with ONNX Runtime against the bare ONNX Runtime session, and
against TensorFlow, per backbone.

For each backbone (``mobilenet_v2_0.35`` and ``resnet_50``, random weights) a throwaway
project gets a synthetic 640x480 mouse video (``dlcflow.devtools.demo``) and a snapshot of the
untrained network (``benchutil.untrained_project``), which is exported to ONNX
(``dlcflow.inference.export.export_model``). Then ``--rounds`` rounds time, back to back and in an
order that rotates from round to round:

* bare: the ONNX Runtime session of the export, with the options ``analyze_videos`` gives
  it (:class:`dlcflow.inference.onnxengine.OnnxEngine`), on preloaded float32 batches of the video's
  frames (same batch size and frame size; no video decoding, no output decoding, no I/O),
  fed as the analysis feeds it (the next batch submitted before the current one's
  outputs are waited for);
* ``analyze_videos(..., engine="onnx", force=True)``: the whole call (loading the session,
  streaming decode, batching, output decoding, writing the h5 and metadata);
* ``analyze_videos(..., engine="tensorflow", force=True)`` on the same video;
* for reference, a session with ONNX Runtime's default options on the preloaded batches,
  and the Keras model called eagerly (``model(batch)``, no ``tf.function``) on them: how
  a plain TensorFlow script runs a network, and how the issue measured its TensorFlow
  baseline (~22 frames/s for the bare MobileNetV2-0.35 backbone); dlcflow's TensorFlow
  engine runs the model as a ``tf.function`` graph, about 2x faster than that.

Ratios are medians of per-round ratios (on a shared machine other processes slow the
parts of one round alike). Printed per backbone: frames/s and process CPU time per frame
of each, "engine busy" (the share of the analysis' wall time spent inside the engine),
the ratio analysis / bare and the speed-up of ONNX over the TensorFlow engine (and over
eager TensorFlow). The last line is
``analyze_onnx ratio=<min over backbones of analysis / bare>`` (goal >= 0.85: the network
is the bottleneck). With ``--memory`` a fresh process per engine analyzes the video and
reports its wall time (imports and model loading included, as in one ``analyze`` job of
the workflow), its peak memory and whether it imported TensorFlow, and the speed-up; for
MobileNet on a longer video (``--fresh-frames``, default 1800: a minute at 30 frames/s),
on which the fixed costs of each engine (TensorFlow's import, building and tracing the
model) weigh as they do on a typical recording.

    .venv/bin/python benchmarks/analyze_onnx.py --memory
    .venv/bin/python benchmarks/analyze_onnx.py --frames 600 --resnet-frames 64 --rounds 5
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from analyze import Measure, TimedEngine, bare_run, fmt, make_project, timed  # noqa: E402

from dlcflow.core.video import VideoReader  # noqa: E402
from dlcflow.devtools.demo import make_video  # noqa: E402
from dlcflow.inference import engines  # noqa: E402
from dlcflow.inference.analyze import analyze_videos  # noqa: E402
from dlcflow.inference.engines import TensorFlowEngine  # noqa: E402
from dlcflow.inference.export import export_model  # noqa: E402
from dlcflow.inference.onnxengine import OnnxEngine  # noqa: E402
from dlcflow.project.models import model_setup  # noqa: E402
from dlcflow.project.paths import Project  # noqa: E402

BACKBONES = ("mobilenet_v2_0.35", "resnet_50")
#: Frames per round for eager TensorFlow (slow; a reference only).
EAGER_FRAMES = 96

CHILD = """
import json, re, sys, time
start = time.perf_counter()
from dlcflow.inference.analyze import analyze_videos
analyze_videos(sys.argv[1], [sys.argv[2]], batchsize=8, force=True, engine=sys.argv[3])
status = open("/proc/self/status").read()  # VmHWM: peak resident memory of this process
print(json.dumps({
    "seconds": time.perf_counter() - start,
    "peak_mb": int(re.search(r"VmHWM:\\s+(\\d+)", status).group(1)) / 1024,
    "tensorflow": "tensorflow" in sys.modules,
}))
"""


def load_batches(video: Path, batch_size: int, nbatches: int = 4) -> list[np.ndarray]:
    """The first ``nbatches`` batches of the video as float32 RGB arrays."""
    frames = []
    with VideoReader(video, rgb=True) as reader:
        for _, frame in reader.frames(0, nbatches * batch_size):
            frames.append(frame.astype(np.float32))
    return [np.stack(frames[i : i + batch_size]) for i in range(0, len(frames), batch_size)]


def default_session(path: Path) -> Callable[[np.ndarray], list[np.ndarray]]:
    """A plain ONNX Runtime session (ORT's default options) as a callable on batches."""
    import onnxruntime as ort  # noqa: PLC0415 (ONNX Runtime only when a session is made)

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda batch: session.run(["prob", "locref"], {"image": batch})


def eager_model(config: Path) -> Callable[[np.ndarray], object]:
    """The project's last snapshot as a Keras model called eagerly on a batch."""
    project = Project(config)
    setup = model_setup(project, project.training_fractions[0], 1)
    model = TensorFlowEngine(setup.cfg, setup.snapshots[-1]).model
    return lambda batch: {k: v.numpy() for k, v in model(batch, training=False).items()}


def analysis_rate(config: Path, video: Path, n: int, batch_size: int, engine: str) -> Measure:
    def work() -> None:
        with contextlib.redirect_stderr(io.StringIO()):
            analyze_videos(config, [video], batchsize=batch_size, force=True, engine=engine)

    return timed(n, work)


class Setup:
    """One backbone's project, video, export and preloaded batches."""

    def __init__(self, root: Path, net_type: str, nframes: int, args: argparse.Namespace):
        self.net_type, self.nframes = net_type, nframes
        self.config = make_project(root, net_type, nframes, (args.width, args.height))
        self.video = root / "data" / "mouse.mp4"
        with contextlib.redirect_stderr(io.StringIO()):
            self.onnx = export_model(self.config)
        self.batches = load_batches(self.video, args.batch_size)
        self.project = Project(self.config)


def run_backbone(st: Setup, args: argparse.Namespace) -> float:
    """Rounds of (bare, analysis with ONNX, analysis with TensorFlow, ORT's default
    session), the order rotating; returns the median of the rounds' analysis / bare."""
    engine = OnnxEngine(st.onnx)  # the options analyze_videos uses
    default = default_session(st.onnx)
    eager = eager_model(st.config)
    for run in (engine, default, eager):
        run(st.batches[0])  # warm up
    timers: list[TimedEngine] = []
    factory = engines.ENGINES["onnx"]

    def timed_factory(cfg: object, prefix: Path, threads: int | None = None) -> TimedEngine:
        timers.append(TimedEngine(factory(cfg, prefix, threads=threads)))
        return timers[-1]

    n, bs = st.nframes, args.batch_size
    steps: dict[str, Callable[[], Measure]] = {
        "bare": lambda: bare_run(engine, st.batches, n),
        "onnx": lambda: analysis_rate(st.config, st.video, n, bs, "onnx"),
        "tensorflow": lambda: analysis_rate(st.config, st.video, n, bs, "tensorflow"),
        "default": lambda: bare_run(default, st.batches, n),
        "eager": lambda: bare_run(eager, st.batches, min(n, EAGER_FRAMES)),
    }
    found: dict[str, list[Measure]] = {key: [] for key in steps}
    busy = []
    engines.ENGINES["onnx"] = timed_factory
    try:
        for r in range(args.rounds):
            order = list(steps)[r % len(steps) :] + list(steps)[: r % len(steps)]
            for key in order:
                found[key].append(steps[key]())
            busy.append(timers[-1].seconds * found["onnx"][-1].fps / n)
    finally:
        engines.ENGINES["onnx"] = factory
    fps = {key: [m.fps for m in ms] for key, ms in found.items()}
    ratios = [a / b for a, b in zip(fps["onnx"], fps["bare"], strict=True)]
    speedups = [a / b for a, b in zip(fps["onnx"], fps["tensorflow"], strict=True)]
    over_eager = [a / b for a, b in zip(fps["onnx"], fps["eager"], strict=True)]

    def line(label: str, key: str) -> str:
        cpu = 1000 * np.median([m.cpu_per_frame for m in found[key]])
        return (
            f"  {label:<30}{np.median(fps[key]):7.2f} frames/s (median; rounds "
            f"{fmt(fps[key])}), CPU {cpu:.1f} ms/frame\n"
        )

    print(
        f"{st.net_type} {args.width}x{args.height}, batch {bs}, {n} frames x {args.rounds} "
        "rounds:\n"
        + line("bare ONNX Runtime session", "bare")
        + line("analyze_videos(engine=onnx)", "onnx")
        + f"  {'':<30}engine busy {fmt(busy)} of the analysis' wall time\n"
        + line("analyze_videos(tensorflow)", "tensorflow")
        + line("ORT session, default options", "default")
        + line("TensorFlow eager model(x)", "eager")
        + f"  ratio {np.median(ratios):.3f} (analysis / bare; median of rounds {fmt(ratios)})\n"
        + f"  ONNX speed-up over TensorFlow {np.median(speedups):.2f}x (median of rounds "
        f"{fmt(speedups)})\n"
        + f"  ONNX speed-up over eager TensorFlow {np.median(over_eager):.2f}x (median of "
        f"rounds {fmt(over_eager)})",
        flush=True,
    )
    return float(np.median(ratios))


def memory_check(st: Setup, nframes: int, args: argparse.Namespace) -> None:
    """A fresh process per engine analyzes a video of ``nframes`` frames: wall time
    (imports and model loading included, as in one ``analyze`` job of the workflow),
    peak memory, TensorFlow imported or not, and the speed-up."""
    video = st.video
    if nframes != st.nframes:
        size = (args.width, args.height)
        video = make_video(st.video.with_name(f"fresh{nframes}.mp4"), nframes=nframes, size=size)
    seconds = {}
    for engine in ("onnx", "tensorflow"):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(st.config), str(video), engine],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        info = json.loads(out.stdout.strip().splitlines()[-1])
        seconds[engine] = info["seconds"]
        print(
            f"{st.net_type}: fresh process, engine {engine}: {info['seconds']:.1f} s for "
            f"{nframes} frames (imports and model load included), peak memory "
            f"{info['peak_mb']:.0f} MB, TensorFlow imported: {info['tensorflow']}",
            flush=True,
        )
    print(
        f"{st.net_type}: fresh process, ONNX speed-up over TensorFlow "
        f"{seconds['tensorflow'] / seconds['onnx']:.2f}x ({nframes} frames)",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=480, help="video length (MobileNet)")
    parser.add_argument("--resnet-frames", type=int, default=48, help="video length (ResNet)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--rounds", type=int, default=4, help="repeats (order rotates)")
    parser.add_argument("--memory", action="store_true", help="fresh-process check")
    parser.add_argument(
        "--fresh-frames",
        type=int,
        default=1800,
        help="video length of the fresh-process check (MobileNet; a minute at 30 frames/s)",
    )
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs, CPU only", flush=True)
    with tempfile.TemporaryDirectory(prefix="dlcflow-bench-onnx-") as tmp:
        setups = []
        for net_type in args.backbones:
            n = args.resnet_frames if net_type.startswith("resnet") else args.frames
            setups.append(Setup(Path(tmp) / net_type, net_type, n, args))
        ratios = [run_backbone(st, args) for st in setups]
        if args.memory:
            for st in setups:
                resnet = st.net_type.startswith("resnet")
                memory_check(st, st.nframes if resnet else args.fresh_frames, args)
    print(f"analyze_onnx ratio={min(ratios):.3f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
