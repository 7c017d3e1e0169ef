"""Benchmark: video analysis with ONNX Runtime against the bare ONNX Runtime session, and
against TensorFlow, per backbone.

For each backbone (``mobilenet_v2_0.35`` and ``resnet_50``, random weights) a throwaway
project gets a synthetic 640x480 mouse video (``dlcflow.demo``) and a snapshot of the
untrained network (``benchutil.untrained_project``), which is exported to ONNX
(``dlcflow.export.export_model``). Then, in ``--rounds`` back-to-back pairs (the order
alternates), these are timed:

* bare: a plain ``onnxruntime.InferenceSession`` of the export (ONNX Runtime's default
  options) on preloaded float32 batches of the video's frames (same batch size and frame
  size; no video decoding, no output decoding, no I/O);
* analysis: ``analyze_videos(..., engine="onnx", force=True)``, the whole call (loading the
  session, streaming decode, batching, output decoding, writing the h5 and metadata).

The ratio per backbone is the median of the pairs' ratios (on a shared machine other
processes slow both sides of a pair alike); the last line is
``analyze_onnx ratio=<min over backbones of analysis / bare>`` (goal >= 0.85: the network
is the bottleneck). Also printed: "engine busy" (the share of the analysis' wall time spent
inside the engine), and ``analyze_videos(engine="tensorflow")`` on the same video, measured
after all ONNX rounds, with the speed-up of ONNX over it. With ``--memory`` a fresh process
per engine analyzes a short video and reports its peak memory, its wall time and whether
TensorFlow was imported.

    .venv/bin/python benchmarks/analyze_onnx.py
    .venv/bin/python benchmarks/analyze_onnx.py --frames 600 --resnet-frames 64 --rounds 5
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from analyze import Measure, TimedEngine, fmt, make_project, timed  # noqa: E402

from dlcflow.project import Project  # noqa: E402
from dlcflow.video import VideoReader  # noqa: E402

BACKBONES = ("mobilenet_v2_0.35", "resnet_50")

CHILD = """
import json, re, sys, time
start = time.perf_counter()
from dlcflow.analyze import analyze_videos
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


def bare_session(path: Path) -> Callable[[np.ndarray], list[np.ndarray]]:
    """A plain ONNX Runtime session (default options) as a callable on batches."""
    import onnxruntime as ort  # noqa: PLC0415

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda batch: session.run(["prob", "locref"], {"image": batch})


def bare_rate(run: Callable[[np.ndarray], object], batches: list[np.ndarray], n: int) -> Measure:
    calls = max(1, math.ceil(n / len(batches[0])))

    def work() -> None:
        for k in range(calls):
            run(batches[k % len(batches)])

    return timed(calls * len(batches[0]), work)


def analysis_rate(config: Path, video: Path, n: int, batch_size: int, engine: str) -> Measure:
    from dlcflow.analyze import analyze_videos  # noqa: PLC0415

    def work() -> None:
        with contextlib.redirect_stderr(io.StringIO()):
            analyze_videos(config, [video], batchsize=batch_size, force=True, engine=engine)

    return timed(n, work)


class Setup:
    """One backbone's project, video, export and preloaded batches."""

    def __init__(self, root: Path, net_type: str, nframes: int, args: argparse.Namespace):
        from dlcflow.export import export_model  # noqa: PLC0415

        self.net_type, self.nframes = net_type, nframes
        self.config = make_project(root, net_type, nframes, (args.width, args.height))
        self.video = root / "data" / "mouse.mp4"
        with contextlib.redirect_stderr(io.StringIO()):
            self.onnx = export_model(self.config)
        self.batches = load_batches(self.video, args.batch_size)
        self.project = Project(self.config)


def run_onnx(st: Setup, args: argparse.Namespace) -> tuple[float, float]:
    """Paired rounds (bare, analysis); returns (median ratio, median analysis frames/s)."""
    from dlcflow import predict  # noqa: PLC0415

    bare_run = bare_session(st.onnx)
    bare_run(st.batches[0])  # warm up
    timers: list[TimedEngine] = []
    factory = predict.ENGINES["onnx"]

    def timed_factory(cfg: object, prefix: Path, threads: int | None = None) -> TimedEngine:
        timers.append(TimedEngine(factory(cfg, prefix, threads=threads)))
        return timers[-1]

    predict.ENGINES["onnx"] = timed_factory
    bare, analysis, busy = [], [], []
    try:
        for r in range(args.rounds):
            if r % 2 == 0:
                bare.append(bare_rate(bare_run, st.batches, st.nframes))
                analysis.append(
                    analysis_rate(st.config, st.video, st.nframes, args.batch_size, "onnx")
                )
            else:
                analysis.append(
                    analysis_rate(st.config, st.video, st.nframes, args.batch_size, "onnx")
                )
                bare.append(bare_rate(bare_run, st.batches, st.nframes))
            busy.append(timers[-1].seconds * analysis[-1].fps / st.nframes)
    finally:
        predict.ENGINES["onnx"] = factory
    ratios = [a.fps / b.fps for a, b in zip(analysis, bare, strict=True)]
    ratio = float(np.median(ratios))
    fps = float(np.median([m.fps for m in analysis]))
    print(
        f"{st.net_type} {args.width}x{args.height}, batch {args.batch_size}, {st.nframes} frames "
        f"x {args.rounds} rounds:\n"
        f"  bare ORT session          {np.median([m.fps for m in bare]):7.2f} frames/s (median; "
        f"rounds {fmt([m.fps for m in bare])}), "
        f"CPU {1000 * np.median([m.cpu_per_frame for m in bare]):.1f} ms/frame\n"
        f"  analyze_videos(onnx)      {fps:7.2f} frames/s (median; rounds "
        f"{fmt([m.fps for m in analysis])}), "
        f"CPU {1000 * np.median([m.cpu_per_frame for m in analysis]):.1f} ms/frame, "
        f"engine busy {fmt(busy)} of its wall time\n"
        f"  ratio {ratio:.3f} (median of paired rounds {fmt(ratios)})",
        flush=True,
    )
    return ratio, fps


def run_tensorflow(st: Setup, args: argparse.Namespace, onnx_fps: float) -> None:
    """analyze_videos(engine="tensorflow") on the same video; speed-up of ONNX over it."""
    runs = [
        analysis_rate(st.config, st.video, st.nframes, args.batch_size, "tensorflow")
        for _ in range(args.tf_rounds)
    ]
    fps = float(np.median([m.fps for m in runs]))
    print(
        f"{st.net_type}: analyze_videos(tensorflow) {fps:7.2f} frames/s (median; rounds "
        f"{fmt([m.fps for m in runs])}); ONNX speed-up {onnx_fps / fps:.2f}x",
        flush=True,
    )


def memory_check(st: Setup) -> None:
    """A fresh process per engine: wall time, peak memory, TensorFlow imported or not."""
    for engine in ("onnx", "tensorflow"):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(st.config), str(st.video), engine],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        info = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{st.net_type}: fresh process, engine {engine}: {info['seconds']:.1f} s for "
            f"{st.nframes} frames (imports and model load included), peak memory "
            f"{info['peak_mb']:.0f} MB, TensorFlow imported: {info['tensorflow']}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=480, help="video length (MobileNet)")
    parser.add_argument("--resnet-frames", type=int, default=48, help="video length (ResNet)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--rounds", type=int, default=4, help="paired repeats")
    parser.add_argument("--tf-rounds", type=int, default=2, help="TensorFlow repeats")
    parser.add_argument("--memory", action="store_true", help="fresh-process memory check")
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs, CPU only", flush=True)
    with tempfile.TemporaryDirectory(prefix="dlcflow-bench-onnx-") as tmp:
        setups = []
        for net_type in args.backbones:
            n = args.resnet_frames if net_type.startswith("resnet") else args.frames
            setups.append(Setup(Path(tmp) / net_type, net_type, n, args))
        results = [run_onnx(st, args) for st in setups]
        for st, (_, fps) in zip(setups, results, strict=True):
            run_tensorflow(st, args, fps)
        if args.memory:
            for st in setups:
                memory_check(st)
    print(f"analyze_onnx ratio={min(r for r, _ in results):.3f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
