"""The dlcflow command: project set-up, and one-line errors that leave nothing behind."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import snakemake_workdir, write_video

from dlcflow.cli import HelpFormatter, build_parser, main
from dlcflow.project.paths import Project

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def _snakemake(*args: str) -> subprocess.CompletedProcess[str]:
    """``snakemake ARGS`` on the repository's Snakefile, in a temporary folder."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cwd = snakemake_workdir()
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


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
    out, err = capsys.readouterr()
    config = Path(out.strip())  # stdout: the config path alone, the next steps on stderr
    assert err.splitlines() == [
        f"next (frames to label; in the dlcflow folder): snakemake --cores 2 frames "
        f"--config project={config}",
        f"then (label them): dlcflow label {config}",
    ]
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


def test_next_command_of_create_project_runs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The command create-project prints is one Snakemake takes; with the target after
    --config (the order the old hints gave) Snakemake stops before reading the workflow."""
    video = write_video(tmp_path / "first.mp4", 40)
    assert main(["create-project", "reach", "ann", str(video), "-d", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    config = out.strip()
    words = shlex.split(err.splitlines()[0].split(": ", 1)[1])
    assert words[:4] == ["snakemake", "--cores", "2", "frames"]
    run = _snakemake(*words[1:], "-n")
    assert run.returncode == 0, run.stderr
    assert "extract_frames" in run.stdout + run.stderr
    swallowed = _snakemake("--cores", "2", "-n", "--config", f"project={config}", "frames")
    assert swallowed.returncode != 0
    assert "Unparsable value: 'frames'" in swallowed.stdout + swallowed.stderr


def test_no_project_error_puts_the_target_first() -> None:
    run = _snakemake("--cores", "1", "-n", "frames")
    assert run.returncode != 0
    assert "snakemake --cores N TARGET --config project=" in run.stdout + run.stderr


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(subparsers.choices)


def test_every_option_has_help_with_its_default() -> None:
    formatter = HelpFormatter("dlcflow")
    subcommands = _subcommands(build_parser())
    assert len(subcommands) == 39
    for name, sub in subcommands.items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            where = f"dlcflow {name} {action.option_strings or action.dest}"
            assert action.help, where
            if not action.option_strings:
                continue
            text = formatter._get_help_string(action) % {"default": action.default}
            assert "(default: " in text, where
            if action.default not in (None, True, False):
                assert str(action.default) in text, where
            if isinstance(action.default, bool):
                assert text.endswith("(default: on)" if action.default else "(default: off)")


def test_version(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"dlcflow {metadata.version('dlcflow')}"


# subcommand, its option (dest), the workflow's config section and key
WORKFLOW_DEFAULTS = [
    ("analyze", "save_as_csv", "analyze", "save_as_csv"),
    ("analyze", "engine", "analyze", "engine"),
    ("analyze", "trainingsetindex", "analyze", "trainingsetindex"),
    ("filter", "filtertype", "filter", "filtertype"),
    ("filter", "windowlength", "filter", "windowlength"),
    ("filter", "p_bound", "filter", "p_bound"),
    ("filter", "ARdegree", "filter", "ARdegree"),
    ("filter", "MAdegree", "filter", "MAdegree"),
    ("filter", "save_as_csv", "filter", "save_as_csv"),
    ("labeled-video", "filtered", "labeled_videos", "filtered"),
    ("labeled-video", "draw_skeleton", "labeled_videos", "draw_skeleton"),
    ("labeled-video", "trailpoints", "labeled_videos", "trailpoints"),
    ("labeled-video", "keypoints_only", "labeled_videos", "keypoints_only"),
    ("labeled-video", "confidence_to_alpha", "labeled_videos", "confidence_to_alpha"),
    ("plot-trajectories", "filtered", "plots", "filtered"),
    ("extract-outliers", "algo", "outliers", "outlieralgorithm"),
    ("extract-outliers", "epsilon", "outliers", "epsilon"),
    ("extract-outliers", "p_bound", "outliers", "p_bound"),
    ("extract-outliers", "extraction", "outliers", "extractionalgorithm"),
    ("extract-frames", "algo", "frames", "algo"),
    ("extract-frames", "crop", "frames", "crop"),
    ("extract-frames", "force", "frames", "force"),
    ("evaluate", "plotting", "evaluate", "plotting"),
    ("evaluate", "calibrate", "tracking", "calibrate"),
]


@pytest.mark.parametrize(("command", "dest", "section", "key"), WORKFLOW_DEFAULTS)
def test_defaults_are_the_workflows(command: str, dest: str, section: str, key: str) -> None:
    """What a subcommand does without options is what the workflow's stage does with
    config/config.yaml as it ships (the analysis writes its csv, labeled videos have the
    skeleton)."""
    words = ["CONFIG"] if command in ("extract-frames", "evaluate") else ["CONFIG", "VIDEO"]
    args = build_parser(command).parse_args([command, *words])
    assert getattr(args, dest) == WORKFLOW_CONFIG[section][key]


def test_analyze_model_and_destination_defaults_are_the_workflows() -> None:
    args = build_parser("analyze").parse_args(["analyze", "CONFIG", "VIDEO"])
    section = WORKFLOW_CONFIG["analyze"]
    assert section["shuffle"] == 0 and args.shuffle == WORKFLOW_CONFIG["shuffles"][0]
    assert section["destfolder"] == "" and args.destfolder is None  # beside each video


def test_one_subcommands_arguments_only() -> None:
    """``dlcflow --help`` and the light subcommands build no options-class defaults (whose
    modules import OpenCV, pandas, matplotlib): only the named subcommand gets arguments."""
    subcommands = _subcommands(build_parser("label"))
    assert [a.dest for a in subcommands["label"]._actions][1:] == [
        "config",
        "video",
        "port",
        "no_browser",
        "skeleton",
    ]
    assert [a.dest for a in subcommands["analyze"]._actions] == ["help"]
    code = "import sys; from dlcflow.cli import build_parser; build_parser(''); "
    code += "print(sorted({'cv2', 'pandas', 'matplotlib', 'tensorflow'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_create_multi_animal_project(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    video = write_video(tmp_path / "arena.mp4", nframes=5)
    args = ["create-project", "group", "ann", str(video), "-d", str(tmp_path), "--multianimal"]
    args += ["--bodyparts", "snout", "tail", "--individuals", "m1", "m2"]
    assert main([*args, "--unique-bodyparts", "feeder"]) == 0
    project = Project(capsys.readouterr().out.strip())
    assert project.multianimal and project.cfg["bodyparts"] == "MULTI!"
    assert project.individuals == ["m1", "m2"]
    assert project.multianimal_bodyparts == ["snout", "tail"]
    assert project.unique_bodyparts == ["feeder"]
    assert project.bodyparts == ["snout", "tail", "feeder"]
