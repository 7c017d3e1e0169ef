"""Benchmark: the whole multi-animal analysis of a video against the bare network, on CPU.

A 640x480 video of 3 animals x 12 body parts: the network (``dlcflow.training.manets``,
``--net-type``, random weights, 66 limbs; ``--engine onnx`` by default, exported first)
is timed on batches of frames of that size. The stages after it run on network outputs
of a synthetic recording with the same grid (60x80, stride 8): animals of 12 keypoints
that drift and turn, a Gaussian blob per keypoint, PAFs pointing along each limb of each
animal, so detection finds 3 candidates per part and assembly has real choices:

- detection (peaks, locref, PAF costs: ``dlcflow.inference.madetect.detect_batch``),
- writing the ``_full.pickle`` (``dlcflow.io.fullpickle``),
- assembly, tracking (ellipse) and stitching with their files
  (``dlcflow.tracking.pipeline``: ``assemble_file``, ``track_file``, ``stitch_file``).

Each is timed per frame; the whole analysis takes their sum plus the network's (the
workflow runs them one after another; video analysis overlaps detection with the network,
which this sum leaves out). The last line is ``ma_analyze ratio=<network time / whole
analysis time per frame>`` (frames/s of the whole analysis over the bare network's;
goal >= 0.8).

    .venv/bin/python benchmarks/ma_analyze.py
    .venv/bin/python benchmarks/ma_analyze.py --frames 600 --engine tensorflow
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from benchutil import multi_animal_project  # noqa: E402
from ma_detect import GRAPH, N_ANIMALS, N_PARTS, STRIDE, multi_animal_network  # noqa: E402

from dlcflow.inference import madetect  # noqa: E402
from dlcflow.io.fullpickle import full_metadata, write_full_pickle  # noqa: E402
from dlcflow.tracking.pipeline import assemble_file, stitch_file, track_file  # noqa: E402

PARTS = [f"part{i}" for i in range(N_PARTS)]


def _segment_field(h: int, w: int, a: np.ndarray, b: np.ndarray, width: float) -> np.ndarray:
    """(h, w, 2): the unit vector a→b where a grid cell is within ``width`` of the segment."""
    rows, cols = np.mgrid[0:h, 0:w]
    p = np.stack([cols, rows], axis=-1).astype(float)
    d = b - a
    length = float(np.hypot(*d)) or 1.0
    u = d / length
    t = (p - a) @ u
    perp = np.abs((p - a) @ np.array([-u[1], u[0]]))
    inside = (t >= 0) & (t <= length) & (perp <= width)
    return inside[..., None] * u


def recording(nframes: int, height: int, width: int, seed: int = 0) -> list[tuple[np.ndarray, ...]]:
    """Network outputs (prob, locref, pafs) of each frame of a synthetic recording."""
    rng = np.random.default_rng(seed)
    h, w = height // STRIDE, width // STRIDE
    shape = rng.normal(0, 2.5, (N_ANIMALS, N_PARTS, 2))  # grid cells around the centre
    centre = rng.uniform([10, 10], [w - 10, h - 10], (N_ANIMALS, 2))
    velocity = rng.normal(0, 0.15, (N_ANIMALS, 2))
    turn = rng.normal(0, 0.02, N_ANIMALS)
    rows, cols = np.mgrid[0:h, 0:w]
    frames = []
    for f in range(nframes):
        angle = turn * f
        rot = np.stack(
            [
                np.stack([np.cos(angle), -np.sin(angle)], -1),
                np.stack([np.sin(angle), np.cos(angle)], -1),
            ],
            axis=-2,
        )  # (animals, 2, 2)
        c = centre + velocity * f
        c = np.abs(np.mod(c - 5, 2 * np.array([w - 10, h - 10]))) + 5  # bounce off the walls
        c = np.where(c > np.array([w - 5, h - 5]), 2 * np.array([w - 5, h - 5]) - c, c)
        kp = c[:, None] + np.einsum("aij,apj->api", rot, shape)  # (animals, parts, 2) x, y
        d2 = (cols[None, None] - kp[..., 0, None, None]) ** 2 + (
            rows[None, None] - kp[..., 1, None, None]
        ) ** 2
        prob = np.exp(-d2 / (2 * 1.2**2)).max(axis=0).transpose(1, 2, 0).astype(np.float32)
        locref = rng.normal(0, 0.2, (h, w, 2 * N_PARTS)).astype(np.float32)
        pafs = np.zeros((h, w, 2 * len(GRAPH)), np.float32)
        for k, (s, t) in enumerate(GRAPH):
            for a in range(N_ANIMALS):
                pafs[..., 2 * k : 2 * k + 2] += _segment_field(h, w, kp[a, s], kp[a, t], 1.0)
        frames.append((prob[None], locref[None], pafs[None]))
    return frames


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="frames of the recording")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--net-type", default="mobilenet_v2_0.35", help="the network")
    parser.add_argument("--engine", default="onnx", choices=["tensorflow", "onnx"])
    parser.add_argument("--rounds", type=int, default=3, help="network timing rounds")
    args = parser.parse_args(argv)
    height, width, n = 480, 640, args.frames
    tmp = tempfile.TemporaryDirectory(prefix="ma-analyze-")
    root = Path(tmp.name)
    config = multi_animal_project(root, PARTS, N_ANIMALS)
    outputs = recording(n, height, width)
    params = madetect.DetectionParams(graph=tuple(GRAPH), stride=STRIDE)
    times: dict[str, float] = {}
    start = time.perf_counter()
    frames = [madetect.detect_batch(*o, params=params)[0] for o in outputs]
    times["detection"] = time.perf_counter() - start
    cfg = {
        "partaffinityfield_graph": [list(e) for e in GRAPH],
        "all_joints": [[i] for i in range(N_PARTS)],
        "all_joints_names": PARTS,
    }
    full = root / "videos" / "benchDLC_mobnet_35_benchDec2shuffle1_1000_full.pickle"
    start = time.perf_counter()
    write_full_pickle(full, full_metadata(cfg, n), frames)
    times["write detections"] = time.perf_counter() - start
    start = time.perf_counter()
    assemblies = assemble_file(config, full)
    times["assembly"] = time.perf_counter() - start
    start = time.perf_counter()
    tracklets = track_file(config, assemblies, "ellipse")
    times["tracking"] = time.perf_counter() - start
    start = time.perf_counter()
    stitch_file(config, tracklets, nframes=n)
    times["stitching + tracks file"] = time.perf_counter() - start
    network, runtime = multi_animal_network(
        args.batch_size, height, width, args.net_type, args.engine, 0, root / "model"
    )
    net = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        network()
        net.append((time.perf_counter() - t0) / args.batch_size)
    network_s = float(np.median(net))
    after = sum(times.values()) / n
    print(
        f"{n} frames of {width}x{height}, {N_ANIMALS} animals x {N_PARTS} parts, "
        f"{len(GRAPH)} limbs:"
    )
    for name, seconds in times.items():
        print(f"  {name:<24} {1000 * seconds / n:8.2f} ms/frame")
    print(f"  {'network':<24} {1000 * network_s:8.2f} ms/frame ({args.net_type}, {runtime})")
    ratio = network_s / (network_s + after)
    print(f"  whole analysis {1000 * (network_s + after):.2f} ms/frame")
    print(f"ma_analyze ratio={ratio:.3f}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
