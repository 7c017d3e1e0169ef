"""A multi-animal project of one individual, through the workflow (DLC allows it: unique
body parts, or multi-animal training, for one animal): no assembly, one tracklet, the most
confident detection of each body part in each frame."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_video
from test_workflow import snakemake
from test_workflow_ma import SMALL

from dlcflow.io import labels
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import Project

pytestmark = pytest.mark.workflow


def _load(path: Path) -> dict:
    with path.open("rb") as fh:
        return pickle.load(fh)


def _most_confident(frame: dict, part: int) -> np.ndarray:
    """(x, y, confidence) of the most confident detection of ``part`` in a raw frame of
    DLC's ``_full.pickle``; NaN without any."""
    xy, conf = frame["coordinates"][0][part], np.ravel(frame["confidence"][part])
    if len(conf) == 0:
        return np.full(3, np.nan)
    best = int(np.argmax(conf))
    return np.array([*xy[best], conf[best]])


def test_one_individual_keeps_the_most_confident_detections(tmp_path: Path) -> None:
    video = write_video(tmp_path / "cage.mp4", nframes=30, size=(96, 64))
    config = Path(
        create_new_project(
            "solo",
            "me",
            [video],
            working_directory=tmp_path,
            multianimal=True,
            individuals=["mouse"],
            bodyparts=["nose", "tail"],
            unique_bodyparts=["led"],
        )
    )
    config.write_text(config.read_text().replace("numframes2pick: 20", "numframes2pick: 5"))
    project = Project(config)
    run = snakemake("frames", "--config", f"project={config}")
    assert run.returncode == 0, run.stderr[-3000:]
    frames = sorted(p.name for p in project.labeled_folder("cage").glob("img*.png"))
    df = labels.empty_annotations(project, frames, video="cage")
    df.loc[:, :] = np.random.default_rng(1).uniform(5, 60, df.shape)
    labels.write_annotations(df, project.collected_data("cage"))

    run = snakemake("all", "--config", f"project={config}", *SMALL)
    assert run.returncode == 0, run.stderr[-3000:]
    scorer = "DLC_mobnet_35_solo" + project.date + "shuffle1_2"
    videos = config.parent / "videos"
    inference = project.inference_cfg(0.95, 1).read_text()
    assert "topktoretain: 1" in inference
    results = pd.read_csv(project.evaluation_results(0.95, 1, scorer), index_col=0)
    assert results["Training iterations:"].tolist() == [2]

    full = _load(videos / f"cage{scorer}_full.pickle")
    assemblies = _load(videos / f"cage{scorer}_assemblies.pickle")
    tracklets = _load(videos / f"cage{scorer}_el.pickle")
    tracks = pd.read_hdf(videos / f"cage{scorer}_el.h5")
    assert tracks.columns.get_level_values("individuals").unique().tolist() == ["mouse", "single"]
    assert len(tracks) == 30
    # one tracklet, no tracker: every frame with an animal in it
    assert sorted(k for k in tracklets if isinstance(k, int)) == [0]
    animal_frames = [k for k in assemblies if k != "single"]
    assert len(tracklets[0]) == len(animal_frames) > 0
    checked = 0
    for index in range(30):
        raw = full[f"frame{index:02d}"]
        row = tracks.loc[index, (scorer, "mouse")].to_numpy().reshape(2, 3)
        if index in assemblies:
            (animal,) = assemblies[index]  # one animal per frame, never more
            for part in range(2):
                best = _most_confident(raw, part)
                np.testing.assert_allclose(animal[part, :3], best, rtol=1e-6)
                np.testing.assert_allclose(row[part], best, rtol=1e-5)
                checked += np.isfinite(best).all()
        else:
            assert np.isnan(row).all()
        led = tracks.loc[index, (scorer, "single", "led")].to_numpy()
        best_led = _most_confident(raw, 2)
        if np.isfinite(led).all():
            np.testing.assert_allclose(led, best_led, rtol=1e-5)
    assert checked > 0
