"""Multi-animal video analysis refuses what it cannot analyze correctly: a config whose
individuals changed since training, a video without frames (one line each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import write_video

from dlcflow.inference.maanalyze import check_individuals, detect_video
from dlcflow.io import labels
from dlcflow.project.config import read_config, write_config
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import Project


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    """A two-mouse project whose training data (training-datasets/.../CollectedData) names
    m1 and m2, as after `dataset`."""
    video = write_video(tmp_path / "arena.mp4", nframes=4)
    config = Path(
        create_new_project(
            "group",
            "me",
            [video],
            working_directory=tmp_path,
            multianimal=True,
            individuals=["m1", "m2"],
            bodyparts=["nose", "tail"],
        )
    )
    project = Project(config)
    df = labels.empty_annotations(project, ["img0.png"], video="arena")
    df.loc[:, :] = np.arange(df.shape[1], dtype=float)
    path = project.training_collected_data()
    path.parent.mkdir(parents=True, exist_ok=True)
    labels.write_annotations(df, path)
    return config


def test_the_individuals_the_model_knows_pass(trained: Path) -> None:
    check_individuals(Project(trained), {"num_idchannel": 0})
    check_individuals(Project(trained), {"num_idchannel": 2})


def test_changed_individuals_are_one_line(trained: Path) -> None:
    cfg = read_config(trained)
    cfg["individuals"] = ["m1", "m2", "m3"]
    write_config(trained, cfg)
    with pytest.raises(ValueError) as err:
        check_individuals(Project(trained), {})
    text = str(err.value)
    assert "\n" not in text and str(trained) in text and "'m3'" in text and "['m1', 'm2']" in text
    with pytest.raises(ValueError, match="trained with identity for 2"):
        check_individuals(Project(trained), {"num_idchannel": 2})


def test_a_video_without_frames_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises((ValueError, OSError)) as err:
        detect_video(
            empty,
            engine=None,  # never reached
            cfg={"all_joints_names": ["nose"]},
            full_path=tmp_path / "emptyDLC_x_full.pickle",
            meta_for=tmp_path / "emptyDLC_x.h5",
            scorer="DLC_x",
            iteration=0,
            fraction=0.95,
        )
    assert str(empty) in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "emptyDLC_x_full.pickle").exists()
