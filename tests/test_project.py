"""dlcflow.project.paths: creating projects, reading configs, and every artifact path."""

from __future__ import annotations

import os
import shutil
import warnings
from datetime import date
from pathlib import Path

import pytest
from conftest import write_video
from ruamel.yaml import YAML

from dlcflow.labeling.videos import add_new_videos
from dlcflow.project.config import ConfigError, dlc_date, read_config, write_config
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import Project, frame_name, pct


@pytest.fixture
def videos(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "raw"
    folder.mkdir()
    return [
        write_video(folder / "a.mp4", 20, (64, 48)),
        write_video(folder / "b.avi", 20, (80, 60)),
    ]


def test_create_project_layout_and_config(tmp_path: Path, videos: list[Path]) -> None:
    config = Path(create_new_project("reach", "ann", videos, working_directory=tmp_path))
    root = tmp_path / f"reach-ann-{date.today().isoformat()}"
    assert config == root / "config.yaml"
    for sub in ("videos", "labeled-data", "training-datasets", "dlc-models"):
        assert (root / sub).is_dir()
    assert (root / "labeled-data" / "a").is_dir() and (root / "labeled-data" / "b").is_dir()
    assert (root / "videos" / "a.mp4").is_symlink()
    assert (root / "videos" / "a.mp4").resolve() == videos[0].resolve()
    raw = YAML(typ="safe").load(config.read_text())
    assert raw["Task"] == "reach" and raw["scorer"] == "ann"
    assert raw["date"] == dlc_date(date.today())
    assert raw["video_sets"] == {
        str(videos[0].resolve()): {"crop": "0, 64, 0, 48"},
        str(videos[1].resolve()): {"crop": "0, 80, 0, 60"},
    }
    expected = {
        "start": 0,
        "stop": 1,
        "numframes2pick": 20,
        "skeleton_color": "black",
        "pcutoff": 0.6,
        "dotsize": 12,
        "alphavalue": 0.7,
        "colormap": "rainbow",
        "TrainingFraction": [0.95],
        "iteration": 0,
        "snapshotindex": -1,
        "batch_size": 8,
        "cropping": False,
        "corner2move2": [50, 50],
        "move2corner": True,
        "multianimalproject": False,
        "default_net_type": "resnet_50",
        "default_augmenter": "default",
        "bodyparts": ["bodypart1", "bodypart2", "bodypart3", "objectA"],
    }
    assert {k: raw[k] for k in expected} == expected
    text = config.read_text()
    assert "# Project definitions (do not edit)" in text
    assert "# Plotting configuration" in text
    assert list(raw)[:5] == ["Task", "scorer", "date", "multianimalproject", "identity"]


def test_copy_videos_and_multianimal(tmp_path: Path, videos: list[Path]) -> None:
    config = create_new_project(
        "group", "bo", videos[:1], working_directory=tmp_path, copy_videos=True, multianimal=True
    )
    project = Project(config)
    copied = project.root / "videos" / "a.mp4"
    assert copied.is_file() and not copied.is_symlink()
    assert list(project.video_sets) == [str(copied)]
    assert project.multianimal
    assert project.cfg["bodyparts"] == "MULTI!"
    assert project.individuals == ["individual1", "individual2", "individual3"]
    assert project.cfg["default_net_type"] == "dlcrnet_ms5"
    assert project.dataset_file(0.95, 1).suffix == ".pickle"


def test_no_readable_video_creates_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(ValueError, match="no readable videos"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        create_new_project("x", "y", [bad], working_directory=tmp_path / "wd")
    assert not any((tmp_path / "wd").glob("x-y-*"))


def test_add_new_videos_keeps_comments(tmp_path: Path, videos: list[Path]) -> None:
    config = create_new_project("reach", "ann", videos[:1], working_directory=tmp_path)
    add_new_videos(config, [videos[1]], coords=[[1, 70, 2, 50]])
    project = Project(config)
    assert project.video_sets[str(videos[1].resolve())] == {"crop": "1, 70, 2, 50"}
    assert project.crop(str(videos[1].resolve())) == (1, 70, 2, 50)
    assert (project.root / "videos" / "b.avi").is_symlink()
    assert "# Plotting configuration" in Path(config).read_text()


def test_moved_project_follows_the_file(tmp_path: Path, videos: list[Path]) -> None:
    config = create_new_project("reach", "ann", videos, working_directory=tmp_path / "old")
    for v in videos:  # the videos travel with the project (a copy in videos/)
        link = Path(config).parent / "videos" / v.name
        link.unlink()
        shutil.copy(v, link)
    moved = tmp_path / "new" / "here"
    moved.parent.mkdir(parents=True)
    shutil.move(str(Path(config).parent), moved)
    project = Project(moved / "config.yaml")
    assert project.cfg["project_path"] == str(moved.resolve())
    assert project.root == moved.resolve()
    # the original videos vanish: the project's own videos/ file is used
    for v in videos:
        v.unlink()
    key = list(project.video_sets)[0]
    assert project.resolve_video(key) == moved.resolve() / "videos" / "a.mp4"


def _edit(config: Path, old: str, new: str) -> None:
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new))


def test_typo_key_warns_with_closest(reaching_project: Path) -> None:
    _edit(reaching_project, "dotsize: 12", "dotsise: 12")
    with pytest.warns(UserWarning, match=r"unknown key 'dotsise' \(did you mean 'dotsize'\?\)"):
        cfg = read_config(reaching_project)
    assert cfg["dotsize"] == 12  # DLC default fills the missing key


def test_typo_of_required_key_is_an_error(reaching_project: Path) -> None:
    _edit(reaching_project, "TrainingFraction:", "TrainingFractions:")
    with pytest.raises(ConfigError) as err:
        read_config(reaching_project)
    message = str(err.value)
    assert "\n" not in message
    assert str(reaching_project) in message and "'TrainingFractions'" in message


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("numframes2pick: 40", "numframes2pick: forty", "numframes2pick"),
        ("pcutoff: 0.4", "pcutoff: 4", "pcutoff"),
        ("- 0.95", "- 1.5", "TrainingFraction"),
        ("cropping: false", "cropping: maybe", "cropping"),
        ("crop: 0, 832, 0, 747", "crop: 0, 832", "crop"),
    ],
)
def test_wrong_type_is_an_error(reaching_project: Path, old: str, new: str, key: str) -> None:
    _edit(reaching_project, old, new)
    with pytest.raises(ConfigError, match=key) as err:
        read_config(reaching_project)
    assert str(reaching_project) in str(err.value)


def test_old_dlc_config_reads_with_defaults(reaching_project: Path) -> None:
    project = Project(reaching_project)
    assert project.bodyparts == ["Hand", "Finger1", "Tongue", "Joystick1", "Joystick2"]
    assert project.multianimal is False
    assert project.cfg["default_augmenter"] == "default"
    assert project.video_stems() == ["reachingvideo1"]
    assert project.task == "Reaching" and project.date == "Aug30" and project.scorer == "Mackenzie"


def test_write_config_roundtrip_is_atomic_and_keeps_comments(reaching_project: Path) -> None:
    cfg = read_config(reaching_project)
    cfg["iteration"] = 1
    write_config(reaching_project, cfg)
    assert not [p for p in reaching_project.parent.iterdir() if p.name.endswith(".tmp")]
    text = reaching_project.read_text()
    assert "iteration: 1" in text
    assert "#if cropping is true for analysis, then set the values here:" in text
    assert read_config(reaching_project)["iteration"] == 1


def test_paths(reaching_project: Path) -> None:
    p = Project(reaching_project)
    root = reaching_project.parent.resolve()
    assert p.collected_data("v") == root / "labeled-data/v/CollectedData_Mackenzie.h5"
    assert p.check_labels_folder("v") == root / "labeled-data/v_labeled"
    assert (
        p.training_set_folder()
        == root / "training-datasets/iteration-0/UnaugmentedDataSet_ReachingAug30"
    )
    assert p.dataset_file(0.95, 1).name == "Reaching_Mackenzie95shuffle1.mat"
    assert p.dataset_file(0.29, 2).name == "Reaching_Mackenzie28shuffle2.mat"
    assert p.documentation_file(0.29, 2).name == "Documentation_data-Reaching_28shuffle2.pickle"
    assert (
        p.model_folder(0.95, 1) == root / "dlc-models/iteration-0/ReachingAug30-trainset95shuffle1"
    )
    assert p.pose_cfg(0.95, 1, "test").parts[-2:] == ("test", "pose_cfg.yaml")
    assert p.model_folder(0.95, 3, iteration=2).parts[-2] == "iteration-2"
    assert (
        p.evaluation_folder(0.95, 1)
        == root / "evaluation-results/iteration-0/ReachingAug30-trainset95shuffle1"
    )
    assert p.scorer_name(1, "resnet_50", 1030000) == "DLC_resnet50_ReachingAug30shuffle1_1030000"
    assert p.scorer_name(1, "mobilenet_v2_0.35", 5) == "DLC_mobnet_35_ReachingAug30shuffle1_5"
    assert p.scorer_name(1, "mobilenet_v2_1.0", 5) == "DLC_mobnet_100_ReachingAug30shuffle1_5"
    assert p.scorer_name(2, "efficientnet-b0", 5) == "DLC_effnet_b0_ReachingAug30shuffle2_5"
    assert p.parse_model_name("ReachingAug30-trainset95shuffle3") == (0.95, 3)
    assert p.machine_labels("v").name == "machinelabels-iter0.h5"


def test_frame_names_follow_dlc() -> None:
    assert pct(0.29) == 28 and pct(0.95) == 95 and pct(0.8) == 80
    assert frame_name(7, 150) == "img007.png"
    assert frame_name(7, 1000) == "img007.png"
    assert frame_name(7, 1001) == "img0007.png"
    assert frame_name(3, 10) == "img3.png"


def test_missing_config_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        read_config(tmp_path / "nope" / "config.yaml")
    (tmp_path / "config.yaml").write_text("Task: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_config(tmp_path)
    assert os.path.exists(tmp_path / "config.yaml")
