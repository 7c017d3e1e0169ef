"""Quality run: a multi-animal network trained on the synthetic mice, evaluated as DLC does.

Renders ``--videos`` demo videos of three look-alike mice and a feeder at ``--size``
(``dlcflow.devtools.mademo``), extracts ``--frames`` frames a video (kmeans), labels them
with the ground truth (the oracle), builds the training dataset (MobileNetV2-0.35 from
scratch, ``init_weights: none``, fixed ``--crop`` crops, batch 8), trains ``--iterations``
and evaluates (``evaluate_network``: keypoint error before assembly, RMSE and mAP after).
It is what issue 16's quality target is measured with; it takes about 45 minutes at the
defaults on a 2-core CPU, so it is not a test. The last lines are
``ma_quality rmse_test=…``, ``ma_quality mAP_test=…`` (and the train values).

    .venv/bin/python benchmarks/ma_quality.py OUT
    .venv/bin/python benchmarks/ma_quality.py OUT --size 320 240 --iterations 3000
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pandas as pd  # noqa: E402

from dlcflow.devtools.demo import oracle_label_project  # noqa: E402
from dlcflow.devtools.mademo import make_multi_animal_demo_project  # noqa: E402
from dlcflow.labeling.frames import extract_frames  # noqa: E402
from dlcflow.post.evaluate import evaluate_network  # noqa: E402
from dlcflow.training.madataset import create_multianimaltraining_dataset  # noqa: E402
from dlcflow.training.train import train_network  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder of the data and the project")
    parser.add_argument("--size", type=int, nargs=2, default=(480, 360), help="width height")
    parser.add_argument("--videos", type=int, default=2, help="labeled videos")
    parser.add_argument("--frames", type=int, default=40, help="labeled frames a video")
    parser.add_argument("--iterations", type=int, default=1500)
    parser.add_argument("--crop", type=int, default=192, help="square training crop, px")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    config = make_multi_animal_demo_project(
        args.out,
        n_videos=args.videos,
        nframes=300,
        numframes2pick=args.frames,
        seed=args.seed,
        size=tuple(args.size),
    )
    extract_frames(config, algo="kmeans")
    oracle_label_project(config)
    n = args.iterations
    create_multianimaltraining_dataset(
        config,
        net_type="mobilenet_v2_0.35",
        crop_size=(args.crop, args.crop),
        init_weights="none",
        pose_cfg_updates={
            "batch_size": 8,
            "multi_step": [[1e-3, int(n * 0.7)], [3e-4, n]],
            "save_iters": n,
            "display_iters": 100,
        },
    )
    train_network(config, maxiters=n, saveiters=n, displayiters=100)
    evaluate_network(config, engine="tensorflow")
    (found,) = sorted(Path(config).parent.rglob("*-assembly-results.csv"))
    row = pd.read_csv(found).iloc[-1]
    for key in ("rmse_train", "rmse_test", "mAP_train", "mAP_test"):
        print(f"ma_quality {key}={row[key]:.4g}")


if __name__ == "__main__":
    main()
