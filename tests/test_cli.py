"""The dlcflow command: project set-up, and one-line errors that leave nothing behind."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import write_video

from dlcflow.cli import main
from dlcflow.project.paths import Project


def _one_error_line(err: str, command: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(f"dlcflow {command}: error:")]
    assert len(errors) == 1, err
    return errors[0]


def test_create_project_add_videos_extract(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "raw").mkdir()
    first = write_video(tmp_path / "raw" / "first.mp4", 40)
    second = write_video(tmp_path / "raw" / "second.avi", 40)
    args = ["create-project", "reach", "ann", str(first), "-d", str(tmp_path)]
    assert main([*args, "--bodyparts", "nose", "tail"]) == 0
    config = Path(capsys.readouterr().out.strip())
    assert main(["add-videos", str(config), str(second), "--copy-videos"]) == 0
    project = Project(config)
    assert project.bodyparts == ["nose", "tail"]
    assert project.video_stems() == ["first", "second"]
    assert (project.root / "videos" / "second.avi").is_file()
    assert main(["extract-frames", str(config), "--algo", "uniform"]) == 0
    for stem in ("first", "second"):
        names = sorted(p.name for p in project.labeled_folder(stem).glob("*.png"))
        assert len(names) == 20
        assert all(len(n) == len("img00.png") for n in names)  # 40 frames: 2 digits


def test_truncated_video_is_one_line_and_leaves_no_frames(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "raw").mkdir()
    video = write_video(tmp_path / "raw" / "cut.mp4", 60)
    assert main(["create-project", "cut", "ann", str(video), "-d", str(tmp_path)]) == 0
    config = Path(capsys.readouterr().out.strip())
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 3])  # the project's symlink sees the cut file
    if main(["extract-frames", str(config)]) == 1:  # mp4 without its index: cannot open
        assert "cut.mp4" in _one_error_line(capsys.readouterr().err, "extract-frames")
    folder = Project(config).labeled_folder("cut")
    names = [p.name for p in folder.iterdir()]
    assert not [n for n in names if n.startswith(".dlcflow-frames-")]  # no temp folder left
    pngs = [n for n in names if n.endswith(".png")]
    assert len(pngs) in (0, 20)  # all frames it could read, or none: never a partial set
    video.write_bytes(b"\x00" * 200)  # now not a video at all
    assert main(["extract-frames", str(config), "--force"]) == 1
    line = _one_error_line(capsys.readouterr().err, "extract-frames")
    assert "cut.mp4" in line


def test_unknown_body_part_is_one_line_and_writes_no_dataset(
    reaching_project: Path, capsys: pytest.CaptureFixture
) -> None:
    h5 = reaching_project.parent / "labeled-data" / "reachingvideo1" / "CollectedData_Mackenzie.h5"
    df = pd.read_hdf(h5)
    df = df.rename(columns={"Tongue": "Tounge"}, level="bodyparts")
    h5.unlink()
    df.to_hdf(h5, key="df_with_missing", format="fixed")
    assert main(["create-training-dataset", str(reaching_project), "--init-weights", "none"]) == 1
    line = _one_error_line(capsys.readouterr().err, "create-training-dataset")
    assert "Tounge" in line and str(h5) in line
    assert not Project(reaching_project).training_set_folder().exists()


def test_config_typo_warns_once(reaching_project: Path, capsys: pytest.CaptureFixture) -> None:
    text = reaching_project.read_text().replace("dotsize: 12", "dotsiez: 12")
    reaching_project.write_text(text)
    assert main(["check-labels", str(reaching_project)]) == 0
    err = capsys.readouterr().err
    assert "unknown key 'dotsiez' (did you mean 'dotsize'?)" in err
    drawn = list(
        (reaching_project.parent / "labeled-data" / "reachingvideo1_labeled").glob("*.png")
    )
    assert len(drawn) == 55
