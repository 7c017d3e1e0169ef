"""Benchmark: k-means frame extraction speed and peak memory on a short and a long video.

Generates two synthetic 640x480 mp4 videos (moving shapes over a noisy background) of
``--frames-small`` and ``--frames-large`` frames in a temp folder, makes a dlcflow project
for each, and runs ``extract_frames(config, algo="kmeans")`` in a fresh subprocess per
video, which reports its own peak RSS. Extraction streams the video, so the peak RSS of
the long video should stay close to that of the short one.

Prints frames/s and peak RSS for both; the last line is ``frames ratio=<peak RSS large /
peak RSS small>``.

    .venv/bin/python benchmarks/frames.py                      # 2,000 vs 20,000 frames
    .venv/bin/python benchmarks/frames.py --frames-small 200 --frames-large 2000
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

import cv2
import numpy as np

from dlcflow.core.video import VideoWriter
from dlcflow.project.create import create_new_project


def make_video(path: Path, nframes: int, width: int, height: int, seed: int = 0) -> None:
    """A synthetic video: a few moving shapes over a background with cycling noise."""
    rng = np.random.default_rng(seed)
    noise = [rng.integers(0, 24, (height, width, 3), dtype=np.uint8) for _ in range(8)]
    background = np.full((height, width, 3), 70, np.uint8)
    background[:, : width // 2] = (90, 60, 40)
    with VideoWriter(path, 30, (width, height)) as writer:
        for i in range(nframes):
            frame = background + noise[i % len(noise)]
            t = i / 30.0
            cx = int(width / 2 + width / 3 * np.sin(t * 0.7))
            cy = int(height / 2 + height / 3 * np.cos(t * 0.3))
            cv2.circle(frame, (cx, cy), 30, (40, 200, 240), -1)
            x = int((i * 3) % (width - 60))
            cv2.rectangle(frame, (x, 40), (x + 60, 90), (220, 50, 50), -1)
            phase = (i // 500) % 4  # slow "behaviour" changes: different brightness
            frame[height - 60 :, :] = 40 + 50 * phase
            writer.write(frame)


def child(config: str) -> None:
    """Run extraction in this process and print timing and own peak RSS as JSON."""
    from dlcflow.labeling.frames import extract_frames  # noqa: PLC0415 (timed/measured in child)

    start = time.perf_counter()
    out = extract_frames(config, algo="kmeans")
    elapsed = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    written = sum(len(v) for v in out.values())
    print(json.dumps({"seconds": elapsed, "peak_kib": peak_kib, "written": written}))


def measure(config: str) -> dict[str, float]:
    env = {**os.environ, "TQDM_DISABLE": "1"}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", config],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"extraction failed for {config} (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames-small", type=int, default=2000)
    parser.add_argument("--frames-large", type=int, default=20000)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--child", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="dlcflow-bench-frames-") as tmp:
        root = Path(tmp)
        for n in (args.frames_small, args.frames_large):
            video = root / f"synthetic{n}.mp4"
            t0 = time.perf_counter()
            make_video(video, n, args.width, args.height)
            size_mb = video.stat().st_size / 2**20
            print(
                f"video {n} frames {args.width}x{args.height}: generated in "
                f"{time.perf_counter() - t0:.1f} s ({size_mb:.1f} MiB)",
                flush=True,
            )
            config = create_new_project("bench", "bench", [video], working_directory=root / str(n))
            r = measure(config)
            results[n] = r
            print(
                f"extract kmeans {n} frames: {r['seconds']:.1f} s, "
                f"{n / r['seconds']:.0f} frames/s, {int(r['written'])} PNGs, "
                f"peak RSS {r['peak_kib'] / 1024:.1f} MiB",
                flush=True,
            )
    ratio = results[args.frames_large]["peak_kib"] / results[args.frames_small]["peak_kib"]
    print(f"frames ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
