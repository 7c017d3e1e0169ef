"""evaluate_network on a multi-animal project: DLC's files, read back, and the scores of
detections whose answer is known."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dlcflow.devtools.demo import oracle_label_project
from dlcflow.devtools.mademo import make_multi_animal_demo_project
from dlcflow.io.labels import read_annotations
from dlcflow.labeling.frames import extract_frames
from dlcflow.post.evaluate import evaluate_network
from dlcflow.project.paths import Project
from dlcflow.training.madataset import create_multianimaltraining_dataset


@pytest.fixture(scope="module")
def labeled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mademo")
    config = make_multi_animal_demo_project(out, n_videos=1, nframes=30, numframes2pick=8, seed=2)
    extract_frames(config)
    oracle_label_project(config)
    create_multianimaltraining_dataset(config, net_type="mobilenet_v2_0.35", init_weights="none")
    return Path(config)


def perfect_detector(project: Project, shift: float = 0.0):  # noqa: ANN201
    """Detections at the labels (+ ``shift`` px in x), PAF affinity 1 within an animal."""
    data = read_annotations(project.training_collected_data())
    graph = None

    def detect(images, cfg, snapshot):  # noqa: ANN001, ANN202
        nonlocal graph
        graph = cfg["partaffinityfield_graph"]
        joints = cfg["all_joints_names"]
        frames = []
        for (_, row), image in zip(data.iterrows(), images, strict=True):
            assert image.ndim == 3  # the detector gets the labeled images themselves
            values = row.droplevel(0).sort_index()
            found = []
            for joint in joints:
                pts = []
                for ind in dict.fromkeys(values.index.get_level_values(0)):
                    if (ind, joint, "x") in values.index:
                        xy = values[(ind, joint)].to_numpy(float)
                        if np.isfinite(xy).all():
                            pts.append((ind, xy + (shift, 0)))
                found.append(pts)
            costs = {}
            for k, (a, b) in enumerate(graph):
                src, dst = found[a], found[b]
                same = np.array([[float(s[0] == t[0]) for t in dst] for s in src])
                dist = np.array([[np.linalg.norm(s[1] - t[1]) / 8 for t in dst] for s in src])
                costs[k] = {"m1": same.reshape(len(src), len(dst)), "distance": dist}
            frames.append(
                {
                    "coordinates": ([np.array([p[1] for p in f]).reshape(-1, 2) for f in found],),
                    "confidence": [np.ones((len(f), 1)) for f in found],
                    "costs": costs,
                }
            )
        return frames

    return detect


def _snapshot(project: Project, iterations: int) -> None:
    train = project.pose_cfg(0.95, 1).parent
    for suffix in (".index", ".data-00000-of-00001"):
        (train / f"snapshot-{iterations}{suffix}").write_bytes(b"")


def test_known_detections_score_as_expected(labeled: Path) -> None:
    project = Project(labeled)
    _snapshot(project, 10)
    results = evaluate_network(labeled, plotting=True, detector=perfect_detector(project))
    row = results.iloc[0]
    assert row[" Train error(px)"] == 0 and row[" Test error(px)"] == 0
    assert row["rmse_train"] == 0 and row["rmse_test"] == 0
    # exact detections make exact animals with no false one: every assembled animal
    # matches at every OKS threshold (precision 1 up to the recall); only animals the
    # assembly drops (too few visible parts for DLC's min_n_links) cost recall
    for split in ("train", "test"):
        recall = row[f"mAR_{split}"]
        assert 0.8 <= recall <= 1
        assert row[f"mAP_{split}"] == pytest.approx(np.ceil(recall * 100 - 1e-9) / 101, abs=0.011)
    scorer = "DLC_mobnet_35_mademo" + project.date + "shuffle1_10"
    folder = project.evaluation_folder(0.95, 1)
    csv = pd.read_csv(project.evaluation_results(0.95, 1, scorer), index_col=0)
    assert csv["Training iterations:"].tolist() == [10] and csv[" Test error(px)"].tolist() == [0]
    assembly = pd.read_csv(folder / f"{scorer}-assembly-results.csv", index_col=0)
    assert assembly[["mAP_train", "mAP_test", "rmse_test"]].values.tolist() == [
        [round(row["mAP_train"], 4), round(row["mAP_test"], 4), 0.0]
    ]
    with open(folder / f"{scorer}-snapshot-10_map.pickle", "rb") as fh:
        table, scores = pickle.load(fh)
    assert ("mAP_test", "mean") in table.index and len(scores) == len(
        yaml.safe_load(project.pose_cfg(0.95, 1).read_text())["partaffinityfield_graph"]
    )
    test_cfg = yaml.safe_load(project.pose_cfg(0.95, 1, "test").read_text())
    assert sorted(test_cfg["paf_best"]) == sorted(set(test_cfg["paf_best"]))  # limb indices
    with open(folder / f"{scorer}-snapshot-10_full.pickle", "rb") as fh:
        full = pickle.load(fh)
    n_images = len(read_annotations(project.training_collected_data()))
    assert len(full) == n_images + 1 and "metadata" in full
    images = sorted((folder / f"LabeledImages_{scorer}_snapshot-10").glob("*.png"))
    assert len(images) == n_images


def test_a_shift_shows_in_every_error(labeled: Path) -> None:
    """Detections 2 px off: keypoint errors and RMSE 2 px; OKS exp(-d²/(2 s² (2σ)²)) < 1
    lowers mAP at the strict thresholds."""
    project = Project(labeled)
    _snapshot(project, 20)
    row = evaluate_network(labeled, detector=perfect_detector(project, shift=2.0)).iloc[0]
    assert row[" Train error(px)"] == 2.0 and row[" Test error(px)"] == 2.0
    assert row["rmse_train"] == pytest.approx(2.0, abs=0.01)
    assert 0 < row["mAP_train"] < 1


def test_calibrated_evaluation(labeled: Path) -> None:
    """Calibrated on the training labels of the demo's rigid mice (statistics DLC's KDE
    finds singular; dlcflow regularises them), exact detections still assemble exactly;
    the assembly-results csv says the assembly was calibrated."""
    project = Project(labeled)
    _snapshot(project, 30)
    plain = evaluate_network(labeled, detector=perfect_detector(project)).iloc[0]
    calibrated = evaluate_network(labeled, detector=perfect_detector(project), calibrate=True)
    row = calibrated.iloc[0]
    assert row["rmse_train"] == row["rmse_test"] == 0
    for key in ("mAP_train", "mAP_test", "mAR_train", "mAR_test"):
        assert row[key] == pytest.approx(plain[key])
    scorer = "DLC_mobnet_35_mademo" + project.date + "shuffle1_30"
    csv = project.evaluation_folder(0.95, 1) / f"{scorer}-assembly-results.csv"
    rows = pd.read_csv(csv, index_col=0)
    assert rows["calibrated"].tolist() == [True]  # one row per snapshot: the last run's
