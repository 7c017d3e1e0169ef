"""Benchmark: does the input pipeline keep up with training?

Builds a demo project (rendered 320x240 videos, oracle labels) with a mobilenet_v2_0.35
training dataset (``init_weights: none``), then alternates, ``--rounds`` times:

* ``train_network`` (batch 8) for ``--warmup`` + ``--iters`` iterations, resuming from
  the previous round's snapshot; its speed is read from its own progress lines
  (``iteration: N ... (x it/s)``), leaving out the first interval of each run
  (start-up: tracing, pipeline fill) and snapshot writing;
* a bare training step (the same network and train step, ``dlcflow.training.train.make_train_step``)
  run ``--iters`` times on one batch cached in memory (taken from the same pipeline),
  before the first round and after every round; a round's bare speed is the mean of the
  runs before and after it.

Alternating the two cancels most of the drift of a shared machine. By default the scale
jitter is off (``scale_jitter_lo = up = 1``; ``global_scale`` 0.8: 256x192 inputs) so that
every batch is the size of the cached one and the ratio measures the pipeline alone;
``--dlc-jitter`` keeps DLC's jitter (0.5..1.25; batches then differ in size from the
cached one, so only the it/s are comparable with DLC's settings).

Prints both speeds per round; the last line is ``train ratio=<median over rounds of
train it/s / bare it/s>`` (goal >= 0.85).

    .venv/bin/python benchmarks/train.py
    .venv/bin/python benchmarks/train.py --rounds 5 --iters 60 --threads 2
"""

from __future__ import annotations

import argparse
import gc
import logging
import re
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

RATE = re.compile(r"iteration: (\d+) loss: \S+ lr: \S+ \(([\d.]+) it/s\)")


class Rates(logging.Handler):
    """Collects the it/s of train_network's progress lines."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[int, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = RATE.search(record.getMessage())
        if match:
            self.lines.append((int(match.group(1)), float(match.group(2))))


def make_project(root: Path, batch: int, dlc_jitter: bool) -> Path:
    """A demo project with labeled frames and a mobilenet_v2_0.35 training dataset."""
    from dlcflow.devtools.demo import make_demo_project, oracle_label_project
    from dlcflow.labeling.frames import extract_frames
    from dlcflow.training.dataset import create_training_dataset

    config = make_demo_project(root, n_videos=2, nframes=300, numframes2pick=50, size=(320, 240))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        extract_frames(config, algo="uniform")
    oracle_label_project(config)
    updates: dict[str, object] = {"batch_size": batch}
    if not dlc_jitter:
        updates.update(scale_jitter_lo=1.0, scale_jitter_up=1.0)
    create_training_dataset(
        config, init_weights="none", net_type="mobilenet_v2_0.35", pose_cfg_updates=updates
    )
    return config


def harmonic(rates: list[float]) -> float:
    """Iterations per second over intervals of equal length."""
    return len(rates) / sum(1.0 / r for r in rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=10, help="iterations left out per run")
    parser.add_argument("--iters", type=int, default=40, help="measured iterations per run")
    parser.add_argument("--display", type=int, default=10, help="iterations per progress line")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--dlc-jitter", action="store_true", help="keep scale jitter 0.5..1.25")
    args = parser.parse_args()
    if args.warmup % args.display or args.iters % args.display:
        parser.error("--warmup and --iters must be multiples of --display")

    with tempfile.TemporaryDirectory(prefix="dlcflow-bench-train-") as tmp:
        t0 = time.perf_counter()
        config = make_project(Path(tmp), args.batch, args.dlc_jitter)
        print(f"demo project ready in {time.perf_counter() - t0:.1f} s", flush=True)

        if args.threads:  # before TensorFlow starts (train_network cannot change it later)
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(args.threads)
            tf.config.threading.set_inter_op_parallelism_threads(args.threads)

        from dlcflow.project.paths import Project
        from dlcflow.project.posecfg import load_pose_cfg
        from dlcflow.training import nets
        from dlcflow.training.augment import build_augmenter
        from dlcflow.training.train import (
            load_training_set,
            make_dataset,
            make_optimizer,
            make_train_step,
            train_network,
        )

        project = Project(config)
        fraction = project.training_fractions[0]
        cfg = load_pose_cfg(project.pose_cfg(fraction, 1))
        rates = Rates()
        logging.getLogger("dlcflow.training.train").addHandler(rates)

        # The bare step: same network and step function, one batch from the same pipeline.
        trainset = load_training_set(project, cfg, fraction, 1)
        batches = make_dataset(trainset, cfg, build_augmenter(cfg, seed=0), args.batch, seed=0)
        images, targets = next(iter(batches))
        model = nets.build_model(cfg)
        optimizer = make_optimizer(cfg)
        optimizer.build(model.trainable_variables)
        step = make_train_step(model, optimizer, cfg)
        for _ in range(3):
            float(step(images, targets))
        print(f"cached batch: {tuple(images.shape)}", flush=True)

        def bare() -> float:
            t = time.perf_counter()
            for _ in range(args.iters):
                float(step(images, targets))
            return args.iters / (time.perf_counter() - t)

        ratios = []
        per_run = args.warmup + args.iters
        bare_before = bare()
        for r in range(1, args.rounds + 1):
            rates.lines.clear()
            train_network(
                config,
                maxiters=r * per_run,
                displayiters=args.display,
                saveiters=10**9,
                max_snapshots_to_keep=1,
                batch_size=args.batch,
                threads=args.threads,
            )
            gc.collect()  # the finished run's input pipeline
            start = (r - 1) * per_run + args.warmup
            train_rate = harmonic([rate for it, rate in rates.lines if it > start])
            bare_after = bare()
            bare_rate = (bare_before + bare_after) / 2
            bare_before = bare_after
            ratios.append(train_rate / bare_rate)
            print(
                f"round {r}: train_network {train_rate:.3f} it/s, bare step {bare_rate:.3f} it/s"
                f" (mean of the runs before and after), ratio {ratios[-1]:.3f}",
                flush=True,
            )
        logging.getLogger("dlcflow.training.train").removeHandler(rates)
    print(f"train ratio={statistics.median(ratios):.3f}")


if __name__ == "__main__":
    sys.exit(main())
