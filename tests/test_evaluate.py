"""dlcflow.post.evaluate: DLC's evaluation files and errors, with a stand-in engine whose
predictions are the labels shifted by a known amount (body part a: 3 px right, b: 4 px
down and below p-cutoff)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from test_predict import (
    BODYPARTS,
    Factory,
    SquareEngine,
    draw_frame,
    make_model,
    make_video,
    set_config,
    square_centres,
)

from dlcflow.io.labels import row_index, write_annotations
from dlcflow.io.tables import pose_columns
from dlcflow.post.evaluate import RESULT_COLUMNS, evaluate_network
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import Project
from dlcflow.training.dataset import create_training_dataset, read_documentation

NIMG = 10
COLUMNS_CSV = ["Unnamed: 0", *RESULT_COLUMNS]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """10 labeled frames (b unlabeled in img03), split 8 train / 2 test, snapshots 100, 200."""
    (tmp_path / "data").mkdir()
    video = make_video(tmp_path / "data" / "vid.avi", 4)
    config = create_new_project("T", "me", [video], working_directory=tmp_path, bodyparts=BODYPARTS)
    proj = Project(config)
    set_config(proj, TrainingFraction=[0.8])
    proj = Project(config)
    folder = proj.labeled_folder("vid")
    names = [f"img{i:02d}.png" for i in range(NIMG)]
    for i, name in enumerate(names):
        cv2.imwrite(str(folder / name), cv2.cvtColor(draw_frame(i), cv2.COLOR_RGB2BGR))
    values = np.stack([square_centres(i).reshape(-1) for i in range(NIMG)])
    values[3, 2:] = np.nan
    df = pd.DataFrame(
        values,
        index=row_index(("labeled-data", "vid", n) for n in names),
        columns=pose_columns(proj.scorer, BODYPARTS),
    )
    write_annotations(df, proj.collected_data("vid"))
    create_training_dataset(config, init_weights="none", net_type="mobilenet_v2_0.35")
    make_model(proj)  # replaces the test pose_cfg by the stand-in's; adds snapshots
    return proj


def shifted() -> Factory:
    return Factory(SquareEngine(offsets=((3, 0), (0, 4)), likelihoods=(0.9, 0.3)))


def expected_error(project: Project, which: str, a: float = 3.0, b: float = 4.0) -> float:
    """Mean distance over the train or test rows: ``a`` px for a, ``b`` px for labeled b."""
    _, train, test, _ = read_documentation(project.documentation_file(0.8, 1))
    idx = train if which == "train" else test
    dists = [a] * len(idx) + [b for i in idx if i != 3]
    return round(float(np.mean(dists)), 2)


def test_results_files_columns_and_errors(project: Project) -> None:
    factory = shifted()
    result = evaluate_network(project.config_path, Shuffles=[1], engine=factory)
    scorer = f"DLC_mobnet_35_T{project.date}shuffle1_200"
    assert list(result.columns) == RESULT_COLUMNS
    assert len(result) == 1 and [p.name for p in factory.calls] == ["snapshot-200"]
    row = result.iloc[0]
    assert (row["Training iterations:"], row["%Training dataset"], row["Shuffle number"]) == (
        200,
        80,
        1,
    )
    assert row[" Train error(px)"] == expected_error(project, "train")
    assert row[" Test error(px)"] == expected_error(project, "test")
    assert row["p-cutoff used"] == 0.6
    assert row["Train error with p-cutoff"] == 3.0 and row["Test error with p-cutoff"] == 3.0
    results = project.evaluation_results(0.8, 1, scorer)
    assert results.is_file()
    csv = pd.read_csv(results)
    assert list(csv.columns) == COLUMNS_CSV
    assert results.read_text().splitlines()[0] == "," + ",".join(RESULT_COLUMNS)
    combined = pd.read_csv(project.combined_evaluation())
    assert list(combined.columns) == COLUMNS_CSV and len(combined) == 1
    # the predictions: DLC's structure, in pixels of the labeled frames
    pred = pd.read_hdf(project.evaluation_predictions(0.8, 1, scorer, 200))
    labels = pd.read_hdf(project.training_collected_data())
    assert pred.index.equals(labels.index)
    assert list(pred.columns.names) == ["scorer", "bodyparts", "coords"]
    assert list(pred.columns) == [
        (scorer, bp, c) for bp in BODYPARTS for c in ("x", "y", "likelihood")
    ]
    np.testing.assert_allclose(
        pred[(scorer, "a", "x")], labels[(project.scorer, "a", "x")] + 3, atol=1e-4
    )
    # per body part
    kpt = pd.read_csv(project.evaluation_keypoint_results(0.8, 1, scorer), index_col=0)
    assert kpt.index.name == "Error Type" and list(kpt.columns) == BODYPARTS
    assert list(kpt.index) == [
        "Train error (px)",
        "Test error (px)",
        "Train error (px) with p-cutoff",
        "Test error (px) with p-cutoff",
    ]
    np.testing.assert_allclose(kpt["a"], 3.0, atol=1e-4)
    np.testing.assert_allclose(kpt["b"].iloc[:2], 4.0, atol=1e-4)
    assert kpt["b"].iloc[2:].isna().all()  # every b prediction is below p-cutoff


def test_again_reuses_predictions_and_adds_no_duplicate_rows(project: Project) -> None:
    evaluate_network(project.config_path, engine=shifted())
    factory = shifted()
    again = evaluate_network(project.config_path, engine=factory, comparisonbodyparts=["a"])
    assert factory.calls == []  # predictions read back from the h5
    assert again.iloc[0][" Train error(px)"] == 3.0 and again.iloc[0][" Test error(px)"] == 3.0
    scorer = f"DLC_mobnet_35_T{project.date}shuffle1_200"
    for path in (project.evaluation_results(0.8, 1, scorer), project.combined_evaluation()):
        csv = pd.read_csv(path, index_col=0)
        assert len(csv) == 1 and csv.iloc[0][" Train error(px)"] == 3.0  # replaced, not added


def test_predictions_older_than_their_snapshot_are_made_again(project: Project) -> None:
    """A snapshot trained again after its evaluation (same name, new weights): the stored
    predictions are stale, so they are predicted again, not reused."""
    import os

    evaluate_network(project.config_path, engine=shifted())
    index = project.snapshot_prefix(0.8, 1, 200).with_name("snapshot-200.index")
    later = index.stat().st_mtime + 10
    os.utime(index, (later, later))  # "retrained"
    factory = Factory(SquareEngine(offsets=((6, 0), (0, 8)), likelihoods=(0.9, 0.3)))
    again = evaluate_network(project.config_path, engine=factory)
    assert factory.calls  # predicted again, with the new model
    assert again.iloc[0][" Train error(px)"] == expected_error(project, "train", 6, 8)


def test_an_earlier_iteration_is_evaluated_again(project: Project) -> None:
    """After the config moved on to iteration 1 (merge), iteration 0's model is evaluated
    with ``iteration=0`` (what the workflow's rule passes), into iteration 0's files."""
    set_config(project, iteration=1)
    with pytest.raises(FileNotFoundError, match="iteration-1"):  # nothing made for it yet
        evaluate_network(project.config_path, engine=shifted())
    results = evaluate_network(project.config_path, engine=shifted(), iteration=0)
    assert results.iloc[0][" Train error(px)"] == expected_error(project, "train")
    scorer = f"DLC_mobnet_35_T{project.date}shuffle1_200"
    assert project.evaluation_results(0.8, 1, scorer, iteration=0).is_file()
    assert not project.evaluation_results(0.8, 1, scorer, iteration=1).exists()
    assert Project(project.config_path).iteration == 1  # the config is not changed


def test_snapshotindex_all_and_comparisonbodyparts(project: Project) -> None:
    set_config(project, snapshotindex="all")
    factory = shifted()
    with pytest.warns(UserWarning, match=r"\['tail'\] are not body parts"):
        result = evaluate_network(
            project.config_path, engine=factory, comparisonbodyparts=["b", "tail"]
        )
    assert [p.name for p in factory.calls] == ["snapshot-100", "snapshot-200"]
    assert list(result["Training iterations:"]) == [100, 200]
    assert list(result[" Train error(px)"]) == [4.0, 4.0]
    assert result["Train error with p-cutoff"].isna().all()  # b is never confident
    for it in (100, 200):
        scorer = f"DLC_mobnet_35_T{project.date}shuffle1_{it}"
        assert project.evaluation_predictions(0.8, 1, scorer, it).is_file()
    combined = pd.read_csv(project.combined_evaluation(), index_col=0)
    assert list(combined["Training iterations:"]) == [100, 200]
    with pytest.raises(ValueError, match="no known body part"), pytest.warns(UserWarning):
        evaluate_network(project.config_path, engine=shifted(), comparisonbodyparts=["tail"])


def test_plotting_names_follow_the_split(project: Project) -> None:
    evaluate_network(project.config_path, plotting=True, engine=shifted())
    scorer = f"DLC_mobnet_35_T{project.date}shuffle1_200"
    folder = project.evaluation_images(0.8, 1, scorer, 200)
    _, train, test, _ = read_documentation(project.documentation_file(0.8, 1))
    want = {f"Training-vid-img{i:02d}.png" for i in train} | {
        f"Test-vid-img{i:02d}.png" for i in test
    }
    assert {p.name for p in folder.iterdir()} == want
    img = cv2.imread(str(folder / sorted(want)[0]))
    assert img.shape == (120, 160, 3)
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]


def test_rescale_feeds_global_scale_and_reports_original_pixels(project: Project) -> None:
    factory = Factory(SquareEngine(offsets=((3, 0), (0, 4)), likelihoods=(0.9, 0.9)))
    result = evaluate_network(project.config_path, engine=factory, rescale=True)
    assert {s[1:3] for s in factory.engine.shapes} == {(96, 128)}  # global_scale 0.8
    # the shifts happen in the network's (scaled) pixels: 3 / 0.8 and 4 / 0.8 original pixels
    want = expected_error(project, "train", 3 / 0.8, 4 / 0.8)
    assert result.iloc[0]["Train error with p-cutoff"] == pytest.approx(want, abs=0.3)
