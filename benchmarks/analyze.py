"""Benchmark: video analysis speed against the bare network, per backbone.

For each backbone (``mobilenet_v2_0.35`` and ``resnet_50``, random weights, ``init_weights:
none``) a throwaway project gets a synthetic 640x480 mouse video (``dlcflow.devtools.demo``) and a
snapshot of the untrained network. One warm :class:`TensorFlowEngine` is then timed on

* the bare model: the engine alone on preloaded float32 batches (same batch size and
  frame size; no video decoding, no output decoding, no I/O);
* the analysis: ``analyze_videos(..., force=True)`` with that engine (streaming decode,
  batching, output decoding, writing the h5 and the metadata).

Both run in ``--rounds`` back-to-back pairs (the order alternates), and the ratio is the
median of the pairs' ratios: on a shared machine other processes slow both sides of a
pair alike. Also printed: process CPU time per frame of each side, and "engine busy",
the share of the analysis' wall time spent inside the engine.

The last line is ``analyze ratio=<min over backbones of analysis / bare>`` (goal >= 0.9:
the network is the bottleneck).

    .venv/bin/python benchmarks/analyze.py
    .venv/bin/python benchmarks/analyze.py --frames 300 --resnet-frames 64 --rounds 6
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from benchutil import untrained_project  # noqa: E402

from dlcflow.core.video import VideoReader  # noqa: E402
from dlcflow.devtools.demo import make_video  # noqa: E402
from dlcflow.inference.analyze import analyze_videos  # noqa: E402
from dlcflow.inference.engines import TensorFlowEngine, submit  # noqa: E402
from dlcflow.project.paths import Project  # noqa: E402
from dlcflow.project.posecfg import load_pose_cfg  # noqa: E402

BACKBONES = ("mobilenet_v2_0.35", "resnet_50")


def make_project(root: Path, net_type: str, nframes: int, size: tuple[int, int]) -> Path:
    """A project with one synthetic video, a test pose_cfg and an untrained snapshot."""
    video = make_video(root / "data" / "mouse.mp4", nframes=nframes, size=size)
    return untrained_project(root, [video], net_type)


@dataclass
class Measure:
    """Frames/s and process CPU seconds per frame of one timed segment."""

    fps: float
    cpu_per_frame: float


def timed(nframes: int, work: Callable[[], object]) -> Measure:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Measure(nframes / wall, cpu / nframes)


def bare_run(engine: Callable, batches: list[np.ndarray], nframes: int) -> Measure:
    """The engine alone on preloaded batches (``nframes`` frames, rounded up to batches),
    fed as ``analyze_videos`` feeds it: the next batch is submitted before the outputs
    of the current one are waited for (:func:`dlcflow.inference.engines.submit`)."""
    calls = max(1, math.ceil(nframes / len(batches[0])))

    def work() -> None:
        waiting = None
        for k in range(calls):
            started = submit(engine, batches[k % len(batches)])
            if waiting is not None:
                waiting()
            waiting = started
        if waiting is not None:
            waiting()

    return timed(calls * len(batches[0]), work)


class TimedEngine:
    """Wraps an engine and adds up the wall seconds during which it has work (from the
    submission of a batch to the return of its outputs, overlapping batches counted
    once)."""

    def __init__(self, engine: Callable) -> None:
        self.engine, self.seconds = engine, 0.0
        self.on_cpu = getattr(engine, "on_cpu", True)
        self._running, self._since = 0, 0.0

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.submit(batch)()

    def submit(self, batch: np.ndarray) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
        if self._running == 0:
            self._since = time.perf_counter()
        self._running += 1
        wait = submit(self.engine, batch)

        def done() -> tuple[np.ndarray, np.ndarray]:
            try:
                return wait()
            finally:
                self._running -= 1
                if self._running == 0:
                    self.seconds += time.perf_counter() - self._since

        return done


def fmt(values: list[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def run_backbone(
    net_type: str, nframes: int, batch_size: int, size: tuple[int, int], rounds: int
) -> float:
    """Paired rounds (bare, analysis; the order alternates); returns the median ratio."""
    with tempfile.TemporaryDirectory(prefix="dlcflow-bench-analyze-") as tmp:
        config = make_project(Path(tmp), net_type, nframes, size)
        project = Project(config)
        fraction = project.training_fractions[0]
        cfg = load_pose_cfg(project.pose_cfg(fraction, 1, "test"))
        engine = TensorFlowEngine(cfg, project.snapshot_prefix(fraction, 1, 0))
        video = Path(tmp) / "data" / "mouse.mp4"
        frames = []
        with VideoReader(video, rgb=True) as reader:
            for _, frame in reader.frames(0, 4 * batch_size):
                frames.append(frame.astype(np.float32))
        batches = [np.stack(frames[i : i + batch_size]) for i in range(0, len(frames), batch_size)]
        engine(batches[0])  # trace and warm up
        engine(batches[1])
        counting = TimedEngine(engine)

        def analyze() -> None:
            with contextlib.redirect_stderr(io.StringIO()):
                analyze_videos(
                    config,
                    [video],
                    batchsize=batch_size,
                    force=True,
                    engine=lambda _cfg, _prefix: counting,
                )

        bare, analysis, busy = [], [], []
        for r in range(rounds):
            counting.seconds = 0.0
            if r % 2 == 0:
                bare.append(bare_run(engine, batches, nframes))
                analysis.append(timed(nframes, analyze))
            else:
                analysis.append(timed(nframes, analyze))
                bare.append(bare_run(engine, batches, nframes))
            busy.append(counting.seconds * analysis[-1].fps / nframes)
        ratios = [a.fps / b.fps for a, b in zip(analysis, bare, strict=True)]
        ratio = float(np.median(ratios))
        cpu_bare = float(np.median([m.cpu_per_frame for m in bare]))
        cpu_analysis = float(np.median([m.cpu_per_frame for m in analysis]))
        print(
            f"{net_type} {size[0]}x{size[1]}, batch {batch_size}, {nframes} frames x {rounds} "
            f"rounds:\n"
            f"  bare model      {np.median([m.fps for m in bare]):7.2f} frames/s (median; "
            f"rounds {fmt([m.fps for m in bare])}), CPU {1000 * cpu_bare:.1f} ms/frame\n"
            f"  analyze_videos  {np.median([m.fps for m in analysis]):7.2f} frames/s (median; "
            f"rounds {fmt([m.fps for m in analysis])}), CPU {1000 * cpu_analysis:.1f} ms/frame, "
            f"engine busy {fmt(busy)} of its wall time\n"
            f"  ratio {ratio:.3f} (median of paired rounds {fmt(ratios)})",
            flush=True,
        )
        return ratio


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=160, help="video length (MobileNet)")
    parser.add_argument("--resnet-frames", type=int, default=40, help="video length (ResNet)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--rounds", type=int, default=4, help="paired repeats")
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    args = parser.parse_args(argv)
    size = (args.width, args.height)
    ratios = []
    for net_type in args.backbones:
        n = args.resnet_frames if net_type.startswith("resnet") else args.frames
        ratios.append(run_backbone(net_type, n, args.batch_size, size, args.rounds))
    print(f"analyze ratio={min(ratios):.3f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
