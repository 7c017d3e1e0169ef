"""Quality run: a multi-animal network trained on the synthetic mice, evaluated as DLC does.

Renders ``--videos`` demo videos of three look-alike mice and a feeder at ``--size``
(``dlcflow.devtools.mademo``), extracts ``--frames`` frames a video (kmeans), labels them
with the ground truth (the oracle), keeps ``--train-fraction`` of them for training,
builds the training dataset (MobileNetV2-0.35 from scratch, ``init_weights: none``, fixed
``--crop`` crops, batch 8), trains ``--iterations`` and evaluates (``evaluate_network``:
keypoint error before assembly, RMSE and mAP after assembly calibrated on the training
labels, or plain with ``--no-calibrate``). The train and test pose_cfg get the
small-animal settings (``SMALL_ANIMAL_TRAIN`` / ``SMALL_ANIMAL_TEST``) unless
``--train-cfg`` / ``--test-cfg`` give others as JSON (``{}``: DLC's defaults). The run is
``dlcflow.devtools.maquality.run_quality``, which ``tests/test_ma_quality.py`` uses
(``--deterministic``) to check issue 16's quality target. About 10 minutes at the
defaults on a 2-core CPU. The last lines are ``ma_quality rmse_test=…``,
``ma_quality mAP_test=…`` and the others.

    .venv/bin/python benchmarks/ma_quality.py OUT --deterministic
    .venv/bin/python benchmarks/ma_quality.py OUT --train-cfg '{}' --test-cfg '{}'
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from dlcflow.devtools.maquality import run_quality  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder of the data and the project")
    parser.add_argument("--size", type=int, nargs=2, default=(480, 360), help="width height")
    parser.add_argument("--videos", type=int, default=3, help="labeled videos")
    parser.add_argument("--frames", type=int, default=40, help="labeled frames a video")
    parser.add_argument("--train-fraction", type=float, default=0.8)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--crop", type=int, default=192, help="square training crop, px")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--train-cfg", type=json.loads, help="JSON over the train pose_cfg ({} = DLC's)"
    )
    parser.add_argument(
        "--test-cfg", type=json.loads, help="JSON over the test pose_cfg ({} = DLC's)"
    )
    parser.add_argument(
        "--deterministic", action="store_true", help="deterministic training (with --seed)"
    )
    parser.add_argument(
        "--no-calibrate", action="store_true", help="plain assembly (DLC's evaluation default)"
    )
    args = parser.parse_args(argv)
    run = run_quality(
        args.out,
        n_videos=args.videos,
        frames=args.frames,
        train_fraction=args.train_fraction,
        iterations=args.iterations,
        crop=args.crop,
        size=tuple(args.size),
        seed=args.seed,
        train_cfg=args.train_cfg,
        test_cfg=args.test_cfg,
        deterministic=args.deterministic,
        calibrate=not args.no_calibrate,
    )
    print(f"ma_quality images train={run.n_train} test={run.n_test}")
    for key in ("error_train", "error_test", "rmse_train", "rmse_test", "mAP_train", "mAP_test"):
        print(f"ma_quality {key}={getattr(run, key):.4g}")


if __name__ == "__main__":
    main()
