"""Benchmark: multi-animal detection (peaks, locref, PAF costs) against the network, on CPU.

Decoding (``dlcflow.inference.madetect.detect_batch``) is timed on batches of synthetic
network outputs of a 640x480 frame (grid 60x80, stride 8): 3 animals x 12 body parts
(Gaussian blobs, so about 3 peaks per part, plus sub-threshold noise), locref (24
channels) and PAFs of the complete graph (66 limbs, 132 channels). With ``--fixture`` the
decoded outputs are instead DLC's unit-test outputs of a real three-mouse image, tiled.

The network side is the multi-animal network itself (``dlcflow.training.manets``,
``--net-type`` DLCRNet_ms5 by default, or e.g. resnet_50 / mobilenet_v2_0.35 with mid-level
fusion; random weights, ``init_weights: none``) with 12 parts, 66 limbs (132 PAF channels)
and ``--idchannels`` identity channels, saved as a snapshot and run on the same 640x480
frames by ``dlcflow.inference.maengines.make_multi_engine`` (``--engine tensorflow``, the
default, or ``onnx``: exported first), warm, outputs split as detection takes them.

Both run in ``--rounds`` back-to-back pairs (the order alternates) and the ratio is the
median of the pairs' ratios (other processes on a shared machine slow both sides alike).
The last line is ``ma_detect ratio=<decode time / network time per frame>`` (goal < 0.1).

    .venv/bin/python benchmarks/ma_detect.py
    .venv/bin/python benchmarks/ma_detect.py --batch-size 8 --rounds 5 --fixture
    .venv/bin/python benchmarks/ma_detect.py --net-type resnet_50 --engine onnx
"""

from __future__ import annotations

import argparse
import os
import pickle
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from dlcflow.core.threads import configure_threads, thread_budget  # noqa: E402
from dlcflow.inference import madetect  # noqa: E402

N_PARTS, N_ANIMALS, STRIDE = 12, 3, 8
GRAPH = [(i, j) for i in range(N_PARTS) for j in range(i + 1, N_PARTS)]
FIXTURE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "fixtures"
    / "dlc-unittest-multianimal"
    / "outputs.pickle"
)


def synthetic_outputs(
    batch: int, height: int, width: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score maps (B, h, w, 12) with one Gaussian blob (σ 1.5 cells) per animal and part,
    noise under ``minconfidence``; locref (B, h, w, 24) and PAFs (B, h, w, 132) random."""
    rng = np.random.default_rng(seed)
    h, w = height // STRIDE, width // STRIDE
    rows, cols = np.mgrid[0:h, 0:w]
    centres = rng.uniform([2, 2], [h - 3, w - 3], size=(batch, N_ANIMALS, N_PARTS, 2))
    d2 = (rows[None, None, None] - centres[..., 0, None, None]) ** 2 + (
        cols[None, None, None] - centres[..., 1, None, None]
    ) ** 2  # (B, animals, parts, h, w)
    blobs = np.exp(-d2 / (2 * 1.5**2)).max(axis=1).transpose(0, 2, 3, 1)
    scmaps = np.clip(blobs + rng.uniform(0, 0.005, blobs.shape), 0, 1).astype(np.float32)
    locref = rng.normal(0, 0.3, (batch, h, w, 2 * N_PARTS)).astype(np.float32)
    pafs = rng.normal(0, 0.3, (batch, h, w, 2 * len(GRAPH))).astype(np.float32)
    return scmaps, locref, pafs


def fixture_outputs(batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DLC's unit-test outputs of one 640x480 three-mouse image, tiled to a batch."""
    if not FIXTURE.is_file():
        raise SystemExit(f"{FIXTURE}: no such file (drop --fixture for synthetic outputs)")
    with FIXTURE.open("rb") as f:
        scmaps, locref, pafs = pickle.load(f)
    return tuple(np.repeat(a, batch, axis=0) for a in (scmaps, locref, pafs))  # type: ignore[return-value]


def multi_animal_network(
    batch: int, height: int, width: int, net_type: str, engine: str, idchannels: int, folder: Path
) -> tuple[Callable[[], object], str]:
    """The multi-animal network (random weights) as a snapshot in ``folder``, run by its
    engine, warm, on a fixed batch; and the engine's description."""
    configure_threads(thread_budget(None))
    from dlcflow.inference.engines import describe_engine  # noqa: PLC0415 (after the threads)
    from dlcflow.inference.maengines import make_multi_engine  # noqa: PLC0415
    from dlcflow.training import manets, nets  # noqa: PLC0415 (pulls in TensorFlow / Keras)

    cfg = {
        "all_joints": [[i] for i in range(N_PARTS)],
        "all_joints_names": [f"part{i}" for i in range(N_PARTS)],
        "init_weights": "none",
        "location_refinement": True,
        "locref_stdev": 7.2801,
        "net_type": net_type,
        "num_joints": N_PARTS,
        "num_idchannel": idchannels,
        "num_limbs": len(GRAPH),
        "partaffinityfield_graph": [list(e) for e in GRAPH],
        "stride": STRIDE,
    }
    prefix = nets.save_snapshot(folder / "snapshot-1", manets.build_multi_model(cfg), iteration=1)
    if engine == "onnx":
        from dlcflow.inference.export import export_snapshot  # noqa: PLC0415 (TF, tf2onnx)

        export_snapshot(cfg, prefix)
    run = make_multi_engine(prefix, cfg, engine)
    images = np.random.default_rng(1).uniform(0, 255, (batch, height, width, 3))
    images = images.astype(np.float32)

    def call() -> object:
        return run(images)

    call()  # trace and warm up
    call()
    return call, describe_engine(run)


def per_frame(work: Callable[[], object], frames: int, repeats: int = 1) -> float:
    """Wall seconds per frame of ``repeats`` calls of ``work`` on a batch of ``frames``."""
    start = time.perf_counter()
    for _ in range(repeats):
        work()
    return (time.perf_counter() - start) / (repeats * frames)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--rounds", type=int, default=4, help="paired repeats")
    parser.add_argument("--decode-repeats", type=int, default=20, help="decode calls per round")
    parser.add_argument("--fixture", action="store_true", help="DLC's real outputs, tiled")
    parser.add_argument("--net-type", default="dlcrnet_ms5", help="the multi-animal network")
    parser.add_argument("--engine", default="tensorflow", choices=["tensorflow", "onnx"])
    parser.add_argument("--idchannels", type=int, default=0, help="identity channels")
    args = parser.parse_args(argv)
    b, h, w = args.batch_size, args.height, args.width
    if args.fixture:
        if (h, w) != (480, 640):
            raise SystemExit("--fixture holds the outputs of a 640x480 image")
        outputs = fixture_outputs(b)
    else:
        outputs = synthetic_outputs(b, h, w)
    params = madetect.DetectionParams(graph=tuple(GRAPH), stride=STRIDE)
    frames = madetect.detect_batch(*outputs, params=params)
    peaks = np.mean([sum(len(c) for c in f["confidence"]) for f in frames]) / N_PARTS
    pairs = np.mean([sum(v["m1"].size for v in f["costs"].values()) for f in frames])

    def decode() -> object:
        return madetect.detect_batch(*outputs, params=params)

    tmp = tempfile.TemporaryDirectory(prefix="ma-detect-")
    network, runtime = multi_animal_network(
        b, h, w, args.net_type, args.engine, args.idchannels, Path(tmp.name)
    )
    decode_s, network_s = [], []
    for r in range(args.rounds):
        if r % 2 == 0:
            decode_s.append(per_frame(decode, b, args.decode_repeats))
            network_s.append(per_frame(network, b))
        else:
            network_s.append(per_frame(network, b))
            decode_s.append(per_frame(decode, b, args.decode_repeats))
    ratios = [d / n for d, n in zip(decode_s, network_s, strict=True)]
    source = "DLC's three-mouse outputs, tiled" if args.fixture else "synthetic outputs"
    print(
        f"decoding {source}: grid {h // STRIDE}x{w // STRIDE}, {N_PARTS} parts, "
        f"{len(GRAPH)} limbs, {N_ANIMALS} animals, {peaks:.1f} peaks per part, "
        f"{pairs:.0f} PAF pairs per frame, batch {b}:\n"
        f"  decode   {1000 * np.median(decode_s):8.2f} ms/frame (median; rounds "
        f"{'/'.join(f'{1000 * s:.2f}' for s in decode_s)})\n"
        f"  network  {1000 * np.median(network_s):8.2f} ms/frame (median; rounds "
        f"{'/'.join(f'{1000 * s:.0f}' for s in network_s)}) -- multi-animal "
        f"{args.net_type} ({N_PARTS} parts, {len(GRAPH)} limbs, {args.idchannels} identity "
        f"channels, random weights), {w}x{h} input, {runtime}\n"
        f"  ratio {np.median(ratios):.4f} (median of paired rounds "
        f"{'/'.join(f'{x:.4f}' for x in ratios)})",
        flush=True,
    )
    print(f"ma_detect ratio={np.median(ratios):.4f}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
