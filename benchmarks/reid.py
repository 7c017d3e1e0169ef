"""Re-identification on the multi-animal demo's scene: identity switches and IDF1 of
stitching with and without the appearance term, against the ground truth.

Simulates a demo recording (``dlcflow.devtools.mademo.simulate_group``: look-alike mice
that cross and touch), cuts each mouse's true track into tracklets wherever it comes
within ``--near`` pixels of another (the frames where a tracker loses animals), takes the
tokens from the rendered frames themselves (area-averaged to ``--stride`` pixels a cell:
the colours around the keypoints; no network is trained here), trains the Keras
transformer on the tracklets' triplets and stitches with and without it. With
``--distinct`` each mouse's body gets its own tint (animals that look different). Prints
both score lines and ``reid ratio=IDF1 with / IDF1 without``.

    .venv/bin/python benchmarks/reid.py
    .venv/bin/python benchmarks/reid.py --distinct
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from dlcflow.data.pose import make_poses  # noqa: E402
from dlcflow.devtools.demo import BODYPARTS, COLORS  # noqa: E402
from dlcflow.devtools.mademo import render_group_frame, simulate_group  # noqa: E402
from dlcflow.inference.reid import collect_tokens, train_embedding  # noqa: E402
from dlcflow.post.idmetrics import identity_scores  # noqa: E402
from dlcflow.tracking.stitch import StitchParams, stitch, tracks_dataset  # noqa: E402
from dlcflow.tracking.tracklet import parse_tracklets  # noqa: E402
from dlcflow.training.reidnet import embed  # noqa: E402


def _tracklets(keypoints: np.ndarray, lost: np.ndarray) -> dict:
    """A DLC tracklet dict: each animal's runs of frames where it is not ``lost``."""
    out: dict = {}
    key = 0
    for k in range(keypoints.shape[1]):
        frames = np.flatnonzero(~lost[:, k])
        for run in np.split(frames, np.flatnonzero(np.diff(frames) != 1) + 1):
            if run.size:
                block = np.full((len(BODYPARTS), 4), -1.0)
                out[key] = {}
                for f in run:
                    block[:, :2], block[:, 2] = keypoints[f, k], 0.9
                    out[key][f"frame{f:04d}"] = block.copy()
                key += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--animals", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--near", type=float, default=30.0, help="px between centres: lost")
    ap.add_argument("--triplets", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--strength", type=float, default=50.0)
    ap.add_argument("--stride", type=int, default=8, help="pixels per feature cell")
    ap.add_argument(
        "--distinct", action="store_true", help="tint each mouse's body (not look-alikes)"
    )
    args = ap.parse_args()

    scene = simulate_group(args.frames, args.animals, seed=args.seed)
    gaps = np.linalg.norm(scene.center[:, :, None] - scene.center[:, None], axis=-1)
    gaps[:, np.arange(args.animals), np.arange(args.animals)] = np.inf
    lost = gaps.min(axis=2) < args.near
    raw = _tracklets(scene.keypoints, lost)
    tracklets = parse_tracklets(raw).tracklets
    colors = None
    if args.distinct:
        tints = [(150, 60, 40), (40, 140, 60), (40, 60, 160), (140, 140, 40)]
        colors = [{**COLORS, "body": tints[k % len(tints)]} for k in range(args.animals)]
    images = (
        (i, cv2.cvtColor(render_group_frame(scene, i, colors=colors), cv2.COLOR_BGR2RGB) / 255.0)
        for i in range(scene.nframes)
    )

    def pooled(image: np.ndarray) -> np.ndarray:  # a receptive field, as a backbone's
        h, w = image.shape[:2]
        return cv2.resize(image, (w // args.stride, h // args.stride), interpolation=cv2.INTER_AREA)

    table = collect_tokens(tracklets, images, pooled, float(args.stride))
    encoder, accuracy = train_embedding(
        table, tracklets, args.triplets, 0.8, args.epochs, 64, seed=args.seed
    )

    def embedder(frames: np.ndarray, xy: np.ndarray) -> np.ndarray:
        return embed(encoder, table.tokens(frames, xy))

    names = scene.individuals
    truth = make_poses(
        scene.keypoints.transpose(0, 3, 2, 1), keypoints=list(BODYPARTS), individuals=names
    )
    print(f"{len(tracklets)} tracklets, held-out triplet accuracy {accuracy:.3f}")
    idf1 = {}
    for label, params in (
        ("without", StitchParams()),
        ("with", StitchParams(embedder=embedder, appearance=args.strength)),
    ):
        result = stitch(raw, args.animals, params, nframes=scene.nframes)
        s = identity_scores(tracks_dataset(result, "DLC_reid", names, BODYPARTS), truth)
        idf1[label] = s.idf1
        print(f"{label} re-ID: switches={s.switches} IDF1={s.idf1:.3f} MOTA={s.mota:.3f}")
    print(f"reid ratio={idf1['with'] / idf1['without']:.3f}")


if __name__ == "__main__":
    main()
