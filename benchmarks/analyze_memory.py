"""Benchmark: peak memory of video analysis on a short and a 10x longer video.

Makes a throwaway project with an untrained ``mobilenet_v2_0.35`` snapshot and two
synthetic mouse videos (``dlcflow.devtools.demo``) of ``--frames`` and ``10 * --frames`` frames,
then runs ``analyze_videos`` on each in a fresh subprocess, which reports its own peak
RSS (``ru_maxrss``). Analysis streams the video (frames never accumulate; only the
``(nframes, 3J)`` result array grows), so both peaks should be about the same.

Prints frames/s and peak RSS per video; the last line is ``analyze_memory ratio=<peak RSS
long / peak RSS short>`` (goal <= 1.1).

    .venv/bin/python benchmarks/analyze_memory.py
    .venv/bin/python benchmarks/analyze_memory.py --frames 200 --width 640 --height 480
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchutil import untrained_project  # noqa: E402

from dlcflow.devtools.demo import make_video  # noqa: E402

NET_TYPE = "mobilenet_v2_0.35"


def child(config: str, video: str, batch_size: int) -> None:
    """Analyze one video; print a JSON line with the time and the peak RSS."""
    import contextlib  # noqa: PLC0415
    import io  # noqa: PLC0415

    from dlcflow.inference.analyze import analyze_videos  # noqa: PLC0415

    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        analyze_videos(config, [video], batchsize=batch_size, force=True)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mib": peak_kib / 1024}))


def make_project(root: Path, videos: list[Path]) -> Path:
    return untrained_project(root, videos, NET_TYPE, task="mem")


def run_child(config: Path, video: Path, batch_size: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", str(config), str(video), str(batch_size)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100, help="short video; long = 10x")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)
    size = (args.width, args.height)
    with tempfile.TemporaryDirectory(prefix="dlcflow-bench-analyze-memory-") as tmp:
        root = Path(tmp)
        short = make_video(root / "data" / "short.mp4", nframes=args.frames, size=size)
        long = make_video(root / "data" / "long.mp4", nframes=10 * args.frames, size=size, seed=1)
        config = make_project(root, [short, long])
        peaks = {}
        for name, video, n in (("short", short, args.frames), ("long", long, 10 * args.frames)):
            result = run_child(config, video, args.batch_size)
            peaks[name] = result["peak_mib"]
            print(
                f"{name}: {n} frames {size[0]}x{size[1]}, {n / result['seconds']:.1f} frames/s, "
                f"peak RSS {result['peak_mib']:.1f} MiB",
                flush=True,
            )
    print(f"analyze_memory ratio={peaks['long'] / peaks['short']:.3f}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
