"""Benchmark: does the multi-animal input pipeline keep up with training?

The multi-animal counterpart of ``benchmarks/train.py``. Builds a multi-animal demo project
(``dlcflow.devtools.mademo``: 3 mice + the feeder, rendered ``--size`` videos, oracle
labels) and its training dataset (``create_multianimaltraining_dataset``: ``--backbone``,
``crop_size`` ``--crop``, ``crop_sampling: hybrid``, PAF graph of the default pruning,
``init_weights: none``), then alternates, ``--rounds`` times:

* ``train_network`` (batch ``--batch``) for ``--warmup`` + ``--iterations`` iterations,
  resuming from the previous round's snapshot: the real input pipeline (cached images,
  multi-animal augmentation with DLC's scale jitter, crop sampling, part / locref / PAF
  targets in a parallel ``tf.data`` map, prefetch) plus the step. Its speed is read from
  its own progress lines (``iteration: N ... (x it/s)``), leaving out the first
  ``--warmup`` iterations of each run (tracing, pipeline fill) and snapshot writing;
* the bare step: the same network and step (``dlcflow.training.matrain.make_multi_train_step``:
  forward, loss, backward, update) run ``--iterations`` times on one batch taken from the
  same pipeline and kept in memory, before the first round and after every round; a
  round's bare speed is the mean of the runs before and after it.

The multi-animal augmenter always returns ``crop_size`` images, so every batch has the
cached batch's shape with DLC's jitter on. Prints both speeds per round, and the process's
CPU time per iteration of each (``time.process_time``: all its threads, the input
pipeline's included), which other jobs on a shared machine barely change. The last lines
are ``ma_train_cpu ratio=<median of bare CPU s/it / train CPU s/it>`` (what the pipeline
costs when the CPUs are all busy with the step) and ``ma_train ratio=<median over rounds
of train it/s / bare it/s>`` (goal >= 0.85).

    .venv/bin/python benchmarks/ma_train.py
    .venv/bin/python benchmarks/ma_train.py --rounds 5 --iterations 60 --threads 2
    .venv/bin/python benchmarks/ma_train.py --size 640 480 --crop 400 400
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
    """Collects the it/s of train_network's progress lines, and the process's CPU time
    when each line is logged (the loop logs it right after timing its interval)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[int, float, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = RATE.search(record.getMessage())
        if match:
            self.lines.append((int(match.group(1)), float(match.group(2)), time.process_time()))

    def measured(self, start: int) -> tuple[float, float]:
        """(it/s, CPU seconds per iteration) over the lines after iteration ``start``."""
        rates = [rate for it, rate, _ in self.lines if it > start]
        cpu = [(it, c) for it, _, c in self.lines if it >= start]
        per_it = (cpu[-1][1] - cpu[0][1]) / (cpu[-1][0] - cpu[0][0])
        return harmonic(rates), per_it


def make_project(
    root: Path,
    batch: int,
    backbone: str,
    size: tuple[int, int],
    crop: tuple[int, int],
    nframes: int,
    frames: int,
) -> Path:
    """A labeled 3-mouse demo project with a multi-animal training dataset."""
    from dlcflow.devtools.demo import oracle_label_project
    from dlcflow.devtools.mademo import make_multi_animal_demo_project
    from dlcflow.labeling.frames import extract_frames
    from dlcflow.training.madataset import create_multianimaltraining_dataset

    config = make_multi_animal_demo_project(
        root, n_videos=2, nframes=nframes, numframes2pick=frames, size=size, n_animals=3
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        extract_frames(config, algo="uniform")
    oracle_label_project(config)
    create_multianimaltraining_dataset(
        config,
        net_type=backbone,
        crop_size=crop,
        crop_sampling="hybrid",
        init_weights="none",
        pose_cfg_updates={"batch_size": batch},
    )
    return config


def harmonic(rates: list[float]) -> float:
    """Iterations per second over intervals of equal length."""
    return len(rates) / sum(1.0 / r for r in rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=10, help="iterations left out per run")
    parser.add_argument("--iterations", type=int, default=40, help="measured iterations per run")
    parser.add_argument("--display", type=int, default=10, help="iterations per progress line")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--backbone", default="mobilenet_v2_0.35", help="net_type")
    parser.add_argument("--size", type=int, nargs=2, default=(320, 240), metavar=("W", "H"))
    parser.add_argument("--crop", type=int, nargs=2, default=(256, 256), metavar=("W", "H"))
    parser.add_argument("--nframes", type=int, default=300, help="frames per demo video")
    parser.add_argument("--frames", type=int, default=50, help="labeled frames per video")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.warmup % args.display or args.iterations % args.display or not args.warmup:
        parser.error("--warmup and --iterations must be (non-zero) multiples of --display")

    with tempfile.TemporaryDirectory(prefix="dlcflow-bench-ma-train-") as tmp:
        t0 = time.perf_counter()
        config = make_project(
            Path(tmp),
            args.batch,
            args.backbone,
            tuple(args.size),
            tuple(args.crop),
            args.nframes,
            args.frames,
        )
        print(f"multi-animal demo project ready in {time.perf_counter() - t0:.1f} s", flush=True)

        if args.threads:  # before TensorFlow starts (train_network cannot change it later)
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(args.threads)
            tf.config.threading.set_inter_op_parallelism_threads(args.threads)

        from dlcflow.project.paths import Project
        from dlcflow.project.posecfg import load_pose_cfg
        from dlcflow.training.manets import build_multi_model
        from dlcflow.training.matrain import (
            _augmenter,
            load_multi_training_set,
            make_multi_dataset,
            make_multi_train_step,
        )
        from dlcflow.training.train import train_network
        from dlcflow.training.trainloop import make_optimizer

        project = Project(config)
        fraction = project.training_fractions[0]
        cfg = load_pose_cfg(project.pose_cfg(fraction, 1))
        rates = Rates()
        logging.getLogger("dlcflow.training.train").addHandler(rates)

        # The bare step: same network and step function, one batch from the same pipeline.
        trainset = load_multi_training_set(project, cfg, fraction, 1)
        batches = make_multi_dataset(trainset, cfg, _augmenter(cfg, 0), args.batch, seed=0)
        images, targets = next(iter(batches))
        del batches
        model = build_multi_model(cfg)
        optimizer = make_optimizer(cfg)
        optimizer.build(model.trainable_variables)
        step = make_multi_train_step(model, optimizer, cfg)
        for _ in range(3):
            float(step(images, targets))
        shapes = ", ".join(f"{k} {tuple(v.shape[1:])}" for k, v in targets.items())
        print(
            f"{args.backbone}, {len(trainset)} training images, cached batch "
            f"{tuple(images.shape)}; targets {shapes}",
            flush=True,
        )

        def bare() -> tuple[float, float]:
            t, c = time.perf_counter(), time.process_time()
            for _ in range(args.iterations):
                float(step(images, targets))
            n = args.iterations
            return n / (time.perf_counter() - t), (time.process_time() - c) / n

        ratios, cpu_ratios, trains, bares = [], [], [], []
        per_run = args.warmup + args.iterations
        bare_before, bare_cpu_before = bare()
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
            train_rate, train_cpu = rates.measured((r - 1) * per_run + args.warmup)
            bare_after, bare_cpu_after = bare()
            bare_rate = (bare_before + bare_after) / 2
            bare_cpu = (bare_cpu_before + bare_cpu_after) / 2
            bare_before, bare_cpu_before = bare_after, bare_cpu_after
            trains.append(train_rate)
            bares.append(bare_rate)
            ratios.append(train_rate / bare_rate)
            cpu_ratios.append(bare_cpu / train_cpu)
            print(
                f"round {r}: train_network {train_rate:.3f} it/s ({train_cpu:.3f} CPU s/it), "
                f"bare step {bare_rate:.3f} it/s ({bare_cpu:.3f} CPU s/it; mean of the runs "
                f"before and after), ratio {ratios[-1]:.3f}, CPU ratio {cpu_ratios[-1]:.3f}",
                flush=True,
            )
        logging.getLogger("dlcflow.training.train").removeHandler(rates)
    print(f"ma_train_pipeline it_per_s={statistics.median(trains):.3f}")
    print(f"ma_train_bare it_per_s={statistics.median(bares):.3f}")
    print(f"ma_train_cpu ratio={statistics.median(cpu_ratios):.3f}")
    print(f"ma_train ratio={statistics.median(ratios):.3f}")


if __name__ == "__main__":
    sys.exit(main())
