"""training.train: input pipeline, DLC's outputs, snapshots, determinism, resume after SIGKILL."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dlcflow.project.config import read_config, write_config
from dlcflow.project.paths import Project
from dlcflow.training.train import TrainingSet, _truncate_stats, learning_rate

NAMES = ["snout", "leftear", "rightear", "tailbase"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny demo project: 1 video x 60 frames at 160x120, 10 labeled frames, one
    mobilenet_v2_0.35 training dataset per shuffle 1..4 (init_weights none)."""
    from dlcflow.devtools.demo import make_demo_project, oracle_label_project
    from dlcflow.labeling.frames import extract_frames
    from dlcflow.training.dataset import create_training_dataset

    root = tmp_path_factory.mktemp("train")
    config = make_demo_project(root, n_videos=1, nframes=60, numframes2pick=10, size=(160, 120))
    extract_frames(config, algo="uniform")
    oracle_label_project(config)
    create_training_dataset(
        config, Shuffles=[1, 2, 3], init_weights="none", net_type="mobilenet_v2_0.35"
    )
    return config


def stats_rows(path: Path) -> list[list[str]]:
    return [line.split(", ") for line in path.read_text().splitlines()]


# -- no TensorFlow needed -------------------------------------------------------------------
def test_import_does_not_load_tensorflow() -> None:
    code = (
        "import sys, dlcflow, dlcflow.training.train, dlcflow.training.augment; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_learning_rate_follows_dlc_schedules() -> None:
    cfg = {"multi_step": [[0.005, 10], [0.02, 20], [0.002, 30]]}
    assert [learning_rate(cfg, i) for i in (1, 10, 11, 20, 21, 30, 99)] == [
        0.005,
        0.005,
        0.02,
        0.02,
        0.002,
        0.002,
        0.002,
    ]
    assert learning_rate({**cfg, "optimizer": "adam", "adam_lr": 1e-4}, 15) == 1e-4
    eff = {"net_type": "efficientnet-b0", "lr_init": 5e-4, "decay_steps": 100, "alpha_r": 0.02}
    assert learning_rate(eff, 1) == pytest.approx(5e-4)
    assert learning_rate(eff, 101) == pytest.approx(5e-4 * 0.02)


def test_truncate_stats(tmp_path: Path) -> None:
    path = tmp_path / "learning_stats.csv"
    path.write_text("5, 0.5, 0.005\n10, 0.4, 0.005\n15, 0.3, 0.005\n")
    _truncate_stats(path, 10)
    assert path.read_text() == "5, 0.5, 0.005\n10, 0.4, 0.005\n"


# -- input pipeline ---------------------------------------------------------------------------
def test_batches_of_differently_sized_images_are_padded() -> None:
    from dlcflow.training.augment import build_augmenter
    from dlcflow.training.train import make_dataset

    cfg = {
        "num_joints": 4,
        "all_joints_names": NAMES,
        "global_scale": 1.0,
        "scale_jitter_lo": 1.0,
        "scale_jitter_up": 1.0,
        "rotation": 0,
        "motion_blur": False,
        "covering": False,
        "elastic_transform": False,
        "contrast": {},
        "cropratio": 0,
        "stride": 8,
        "pos_dist_thresh": 17,
        "locref_stdev": 7.2801,
    }
    images = {0: np.full((64, 96, 3), 50, np.uint8), 1: np.full((100, 48, 3), 200, np.uint8)}
    kp = np.array([[[10, 10], [20, 20], [np.nan, np.nan], [90, 60]]] * 2, np.float32)
    kp[1, 3] = [30, 90]
    trainset = TrainingSet([Path("a.png"), Path("b.png")], kp, images)
    ds = make_dataset(trainset, cfg, build_augmenter(cfg, seed=0), 2, seed=0, deterministic=True)
    batch_images, targets = next(iter(ds))
    assert batch_images.shape == (2, 100, 96, 3)  # padded to the largest height and width
    assert targets["part"].shape == (2, 14, 12, 4)  # output_size(100, 96)
    assert targets["locref"].shape == (2, 14, 12, 8)
    sizes = {int(batch_images[i, 0, 0, 0]): i for i in range(2)}
    wide, tall = sizes[50], sizes[200]
    weight = targets["part_weight"].numpy()
    # Real cells weigh 1, padding 0: the 64x96 image covers 8x12 cells, 100x48 14x6 cells.
    assert (weight[wide, :8, :12] == 1).all() and (weight[wide, 8:] == 0).all()
    assert (weight[tall, :14, :6] == 1).all() and (weight[tall, :, 6:] == 0).all()
    assert (batch_images[wide, 64:].numpy() == 0).all()
    part = targets["part"].numpy()
    assert part[tall, 90 // 8, 30 // 8, 3] == 1  # the keypoint's own cell is positive
    assert part[:, :, :, 2].sum() == 0  # a missing keypoint has no positives


# -- training runs ------------------------------------------------------------------------------
def test_training_writes_dlc_outputs(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dlcflow.training.train import train_network

    p = Project(project)
    fraction = p.training_fractions[0]
    final = train_network(
        project,
        shuffle=1,
        maxiters=40,
        displayiters=5,
        saveiters=10,
        max_snapshots_to_keep=2,
        batch_size=2,
        seed=1,
    )
    assert final == str(p.snapshot_prefix(fraction, 1, 40))
    assert [s.name for s in p.snapshots(fraction, 1)] == ["snapshot-30", "snapshot-40"]
    assert not list(p.train_folder(fraction, 1).glob("snapshot-10*"))
    assert Path(final + ".index").is_file() and list(Path(final).parent.glob("snapshot-40.data-*"))

    rows = stats_rows(p.learning_stats(fraction, 1))
    assert [int(r[0]) for r in rows] == list(range(5, 41, 5))
    assert all(len(r) == 3 and float(r[2]) == 0.005 for r in rows)
    losses = [float(r[1]) for r in rows]
    assert np.isfinite(losses).all()
    assert np.mean(losses[-2:]) < 0.8 * losses[0], losses  # the loss goes down

    log = p.train_log(fraction, 1).read_text()
    assert "iteration: 40 loss:" in log and "it/s" in log and "saved snapshot-40" in log

    # stderr says what happens before the first iteration, then progress lines
    err = capsys.readouterr().err
    assert "\r" not in err
    stamp = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
    said = [re.sub(stamp, "", line) for line in err.splitlines()]
    start = [  # in this order (TensorFlow was loaded by an earlier test)
        r"building mobilenet_v2_0\.35 \(initial weights: none\) \.\.\.",
        r"built mobilenet_v2_0\.35 \([\d,]+ parameters\) in \d+s",
        r"caching \d+ training images in memory \(up to 4 GiB\) \.\.\.",
        r"cached (\d+) of \1 images \([\d.]+ MB\) in \d+s",
        r"starting at iteration 0 of 40; .*",
        r"iteration 1/40  loss [\d.]+  lr 0\.005  first iteration took \w+",
    ]
    found = [next(i for i, line in enumerate(said) if re.fullmatch(pat, line)) for pat in start]
    assert found == sorted(found)
    progress = r"iteration (\d+)/40  loss [\d.]+  lr 0.005  [\d.]+ it/s  elapsed \w+  left \w+"
    reported = [int(m[1]) for s in said if (m := re.fullmatch(progress, s))]
    assert reported and reported[-1] == 40
    assert "it/s  elapsed" not in log and "first iteration" not in log  # stderr only


def test_an_earlier_iteration_is_trained_where_its_rule_says(project: Path) -> None:
    """After the config moved on to iteration 1 (merge), ``iteration=0`` (what the
    workflow's train rule passes) trains iteration 0's model in iteration 0's folder."""
    from dlcflow.training.train import TrainError, train_network

    cfg = read_config(project)
    cfg["iteration"] = 1
    write_config(project, cfg)
    try:
        with pytest.raises(TrainError, match="iteration-1"):  # no dataset for iteration 1
            train_network(project, shuffle=2, maxiters=2, displayiters=1, saveiters=2)
        final = train_network(
            project, shuffle=2, maxiters=2, displayiters=1, saveiters=2, iteration=0
        )
        p = Project(project, iteration=0)
        assert final == str(p.snapshot_prefix(p.training_fractions[0], 2, 2))
        assert "iteration-0" in Path(final).parts
    finally:
        cfg["iteration"] = 0
        write_config(project, cfg)


def test_deterministic_runs_repeat(project: Path) -> None:
    from dlcflow.training.train import train_network

    p = Project(project)
    fraction = p.training_fractions[0]
    curves = []
    for _ in range(2):
        train_network(
            project,
            shuffle=2,
            maxiters=12,
            displayiters=3,
            saveiters=100,
            batch_size=2,
            deterministic=True,
            seed=5,
            resume=False,
        )
        curves.append(p.learning_stats(fraction, 2).read_text())
    assert len(curves[0].splitlines()) == 4
    assert curves[0] == curves[1]


VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"


def training_state(model: Any, optimizer: Any) -> dict[str, np.ndarray]:
    """The model's and the optimizer's variables under their snapshot keys (see
    ``nets._checkpoint``): ``model/<layer>/<attribute>`` (Keras names the attribute
    ``<weight>`` or ``_<weight>``: both are given, the snapshot's keys pick one),
    ``optimizer/_iterations``, ``optimizer/_learning_rate`` and ``optimizer/_variables/<i>``
    (Keras 3 keeps iterations and learning rate first in ``optimizer.variables``, then
    the slots)."""
    state = {}
    for layer in model.layers:
        for w in layer.weights:
            for attribute in (w.name, "_" + w.name):
                state[f"model/{layer.name}/{attribute}{VALUE}"] = w.numpy()
    iterations, lr, *slots = optimizer.variables
    assert iterations is optimizer.iterations
    state[f"optimizer/_iterations{VALUE}"] = iterations.numpy()
    state[f"optimizer/_learning_rate{VALUE}"] = lr.numpy()
    for i, slot in enumerate(slots, start=2):
        state[f"optimizer/_variables/{i}{VALUE}"] = slot.numpy()
    return state


def test_resume_after_sigkill(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow as tf

    from dlcflow.training import train, trainloop

    p = Project(project)
    fraction = p.training_fractions[0]
    code = (
        "from dlcflow.training.train import train_network; "
        f"train_network({str(project)!r}, shuffle=3, maxiters=100000, saveiters=5, "
        "displayiters=1, max_snapshots_to_keep=100, batch_size=1)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while not p.snapshots(fraction, 3):
            assert proc.poll() is None, "training exited before writing a snapshot"
            assert time.monotonic() < deadline, "no snapshot after 120 s"
            time.sleep(0.02)
        # Kill it between snapshots, after it logged iterations past the last one.
        stats = p.learning_stats(fraction, 3)
        while not (stats_rows(stats) and int(stats_rows(stats)[-1][0]) % 5 in (1, 2)):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    snapshots = p.snapshots(fraction, 3)
    last = int(snapshots[-1].name.split("-")[1])
    before = stats_rows(p.learning_stats(fraction, 3))
    assert int(before[-1][0]) > last

    # The state the resumed run starts its first update from, and the iteration it starts at.
    resumed: dict[str, Any] = {}
    loop = trainloop._loop

    def spy(run: Any, model: Any, optimizer: Any, step: Any, batches: Any, start: int) -> None:
        resumed["start"], resumed["state"] = start, training_state(model, optimizer)
        resumed["weights"] = sum(len(layer.weights) for layer in model.layers)
        loop(run, model, optimizer, step, batches, start)

    monkeypatch.setattr(trainloop, "_loop", spy)
    maxiters = last + 6
    final = train.train_network(
        project, shuffle=3, maxiters=maxiters, saveiters=5, displayiters=1, batch_size=1
    )
    assert final == str(p.snapshot_prefix(fraction, 3, maxiters))
    log = p.train_log(fraction, 3).read_text()
    assert f"resuming from snapshot-{last} " in log

    # Every variable of the snapshot, model and optimizer, is what training went on from.
    snapshot = str(snapshots[-1])
    reader = tf.train.load_checkpoint(snapshot)
    keys = {k for k, _ in tf.train.list_variables(snapshot)} - {"_CHECKPOINTABLE_OBJECT_GRAPH"}
    assert resumed["start"] == last == reader.get_tensor(f"iteration{VALUE}")
    keys.remove(f"iteration{VALUE}")
    state = resumed["state"]
    assert keys <= state.keys()  # nothing in the snapshot that the run does not have ...
    # ... and nothing the run has that the snapshot lacks: every weight, every slot
    assert sum(k.startswith("model/") for k in keys) == resumed["weights"]
    slots = {k for k in state if k.startswith("optimizer/_variables/")}
    assert slots and slots <= keys
    for key in sorted(keys):
        np.testing.assert_array_equal(state[key], reader.get_tensor(key), err_msg=key)
    # Not a comparison of fresh values: the optimizer had stepped and its slots moved.
    assert state[f"optimizer/_iterations{VALUE}"] == last
    assert any(np.any(state[k] != 0) for k in keys if k.startswith("optimizer/_variables/"))

    # Training went on from there: rows last+1.. appended, counters at maxiters, not 6.
    after = stats_rows(p.learning_stats(fraction, 3))
    assert [int(r[0]) for r in after] == list(range(1, maxiters + 1))
    assert after[:last] == before[:last]  # the rows up to the snapshot are kept as they were
    end = tf.train.load_checkpoint(final)
    assert end.get_tensor(f"iteration{VALUE}") == maxiters
    assert end.get_tensor(f"optimizer/_iterations{VALUE}") == maxiters
