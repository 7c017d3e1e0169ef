"""dlcflow.post.trackeval and ``dlcflow evaluate-tracks``: identity-tracking scores of
tracks files on disk against ground truth, with answers worked out by hand (two straight
animals 150 px apart whose tracks trade places half-way)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_video

import dlcflow
from dlcflow.cli import main
from dlcflow.devtools.demo import groundtruth_path
from dlcflow.io.tables import to_dataset
from dlcflow.io.tracks import save_tracks
from dlcflow.post.idmetrics import IdentityScoreError
from dlcflow.post.trackeval import TRACKING_COLUMNS, evaluate_tracks
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import Project

PARTS = ["snout", "middle", "tail"]
ANIMALS = ["mouse1", "mouse2"]
SCORER = "DLC_dlcrnetms5_trackJan1shuffle1_50"
N, SWAP = 20, 10  # frames; the tracks trade animals from this frame on


def animals() -> np.ndarray:
    """(N, animals, parts, 2): 20 px long animals 150 px apart, walking right."""
    pos = np.zeros((N, len(ANIMALS), len(PARTS), 2))
    for a in range(len(ANIMALS)):
        pos[:, a, :, 0] = 50 + 150 * a + np.arange(N)[:, None] + np.array([0.0, 10.0, 20.0])
        pos[:, a, :, 1] = 100.0
    return pos


def table(xy: np.ndarray, scorer: str, names: list[str], parts: list[str] = PARTS) -> pd.DataFrame:
    """DLC's 4-level table of (N, individuals, parts, 2) positions; tracks (a DLC scorer)
    get a likelihood, ground truth only x, y."""
    coords = ["x", "y", "likelihood"] if scorer.startswith("DLC") else ["x", "y"]
    cols, data = [], []
    for i, name in enumerate(names):
        for k, part in enumerate(parts):
            values = [xy[:, i, k, 0], xy[:, i, k, 1], np.ones(len(xy))]
            for coord, v in zip(coords, values, strict=False):
                cols.append((scorer, name, part, coord))
                data.append(v)
    levels = ["scorer", "individuals", "bodyparts", "coords"]
    columns = pd.MultiIndex.from_tuples(cols, names=levels)
    return pd.DataFrame(np.column_stack(data), columns=columns)


def write_truth(path: Path, xy: np.ndarray, parts: list[str] = PARTS) -> Path:
    table(xy, "groundtruth", ANIMALS, parts).to_hdf(path, key="df_with_missing")
    return path


def write_tracks(video: Path, xy: np.ndarray, suffix: str = "_el") -> Path:
    h5 = video.with_name(f"{video.stem}{SCORER}{suffix}.h5")
    save_tracks(to_dataset(table(xy, SCORER, ["ind1", "ind2"])), h5)
    return h5


@pytest.fixture()
def project(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(config, swapped video, perfect video): a multi-animal project whose videos (in
    ``raw/``, linked from the project) have ground truth beside them and tracks beside the
    project's links; one video's tracks trade animals at frame SWAP."""
    raw = tmp_path / "raw"
    raw.mkdir()
    sources = [write_video(raw / f"{name}.mp4", N) for name in ("swapped", "perfect")]
    config = Path(
        create_new_project(
            "track",
            "ann",
            sources,
            working_directory=tmp_path,
            multianimal=True,
            individuals=ANIMALS,
            bodyparts=PARTS,
        )
    )
    truth = animals()
    swapped = truth.copy()
    swapped[SWAP:] = truth[SWAP:, ::-1]
    videos = [config.parent / "videos" / src.name for src in sources]
    for src, video, xy in zip(sources, videos, (swapped, truth), strict=True):
        write_truth(groundtruth_path(src), truth)
        write_tracks(video, xy)
    return config, videos[0], videos[1]


def results_csv(config: Path) -> Path:
    project = Project(config)
    return project.tracking_results(project.training_fractions[0], 1, SCORER)


def expected_swapped() -> dict[str, float]:
    """The swapped video's scores by hand: each animal changes track once (2 switches);
    IDF1 gives each animal one track for the whole video, right on SWAP of the N frames;
    the wrong half is 150 px off."""
    right = 2 * SWAP  # animal-frames on the global track (IDTP)
    presences = 2 * N
    return {
        "frames": N,
        "animals": 2,
        "tracks": 2,
        "gate_px": 0.5 * 20.0,  # half the animals' 20 px length
        "IDF1": 2 * right / (2 * presences),
        "IDP": right / presences,
        "IDR": right / presences,
        "switches": 2,
        "MOTA": 1 - 2 / presences,
        "identity kept": SWAP / N,
        "mean_px": 150.0 * (N - SWAP) / N,
        "median_px": 75.0,  # as many 0 px as 150 px errors
        "within_5px": SWAP / N,
    }


def test_scores_in_the_evaluation_folder(project: tuple[Path, Path, Path]) -> None:
    config, swapped, perfect = project
    df = evaluate_tracks(config, [swapped, perfect])
    csv = results_csv(config)
    assert df.attrs["results_files"] == [csv]
    assert csv.parent == Project(config).evaluation_folder(0.95, 1)
    back = pd.read_csv(csv)
    assert list(back.columns) == TRACKING_COLUMNS and len(back) == 2
    for key, value in expected_swapped().items():
        assert back.loc[0, key] == pytest.approx(value), key
        assert df.loc[0, key] == pytest.approx(value), key
    assert back.loc[0, "video"] == str(swapped.absolute())
    assert back.loc[0, "tracks file"] == str(swapped.with_name(f"swapped{SCORER}_el.h5"))
    # the default ground truth: beside the file the project's video links to
    assert back.loc[0, "ground truth file"] == str(groundtruth_path(swapped.resolve()))
    assert (back["scorer"] == SCORER).all() and (back["track method"] == "ellipse").all()
    perfect_row = back.iloc[1]
    assert perfect_row["IDF1"] == 1.0 and perfect_row["switches"] == 0
    assert perfect_row["MOTA"] == 1.0 and perfect_row["mean_px"] == 0.0
    # evaluated again (another gate): the row of those files is replaced, the other kept
    again = evaluate_tracks(config, swapped, gate_px=12.0)
    assert len(again) == 1 and again.loc[0, "gate_px"] == 12.0
    back = pd.read_csv(csv)
    assert len(back) == 2 and set(back["gate_px"]) == {10.0, 12.0}
    assert back.iloc[-1]["video"] == str(swapped.absolute())


def test_given_ground_truth_and_tracker(project: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """A ground truth per video, e.g. tracks a person corrected: the swapped tracks
    scored against themselves are perfect; the box tracker's tracks are found by name."""
    config, swapped, perfect = project
    own = tmp_path / "corrected.h5"
    swapped_xy = animals()
    swapped_xy[SWAP:] = swapped_xy[SWAP:, ::-1]
    write_truth(own, swapped_xy)
    box = write_tracks(perfect, animals()[:, ::-1], suffix="_bx")
    df = evaluate_tracks(config, [swapped], groundtruth=[own])
    assert df.loc[0, "IDF1"] == 1.0 and df.loc[0, "switches"] == 0
    assert df.loc[0, "ground truth file"] == str(own)
    df = evaluate_tracks(config, [perfect], track_method="box")
    assert df.loc[0, "tracks file"] == str(box) and df.loc[0, "track method"] == "box"
    assert df.loc[0, "IDF1"] == 1.0  # the tracks' names are matched, not their order
    assert len(pd.read_csv(results_csv(config))) == 2


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_cli_prints_the_table_and_the_csv(
    project: tuple[Path, Path, Path], capsys: pytest.CaptureFixture
) -> None:
    config, swapped, perfect = project
    assert main(["evaluate-tracks", str(config), str(swapped), str(perfect)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == str(results_csv(config))
    lines = out[:-1]
    assert len(lines) == 3 and len({len(line) for line in lines[:2]}) == 1
    head, first, second = map(cells, lines)
    assert dict(zip(head, first, strict=True)) == {
        "video": "swapped.mp4",
        "tracker": "ellipse",
        "frames": "20",
        "animals": "2",
        "tracks": "2",
        "gate": "10.00 px",
        "IDF1": "0.500",
        "switches": "2",
        "MOTA": "0.950",
        "kept": "50.0%",
        "mean error": "75.00 px",
        "median": "75.00 px",
        "within 5 px": "50.0%",
    }
    assert second[:2] == ["perfect.mp4", "ellipse"] and second[6:9] == ["1.000", "0", "1.000"]
    gt = groundtruth_path(swapped.resolve())
    args = ["evaluate-tracks", str(config), str(swapped), "--groundtruth", str(gt)]
    assert main([*args, "--gate-px", "3", "--track-method", "ellipse"]) == 0
    assert cells(capsys.readouterr().out.splitlines()[1])[5] == "3.00 px"


def one_error(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    assert main(["evaluate-tracks", *argv]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert err[0].startswith("dlcflow evaluate-tracks: error: ")
    return err[0].removeprefix("dlcflow evaluate-tracks: error: ")


def test_bad_input_one_line_naming_the_file(
    project: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config, swapped, perfect = project
    untracked = write_video(config.parent / "videos" / "untracked.mp4", 5)
    want = untracked.with_name(f"untracked{SCORER}_el.h5")
    line = one_error(capsys, [str(config), str(untracked)])
    assert line.startswith(f"{untracked.parent}/untrackedDLC*_el.h5: not found")
    assert str(want.name) not in line  # no model: the tracks are looked for by pattern
    line = one_error(capsys, [str(config), str(perfect), "--track-method", "skeleton"])
    assert "perfect.mp4 has no skeleton tracks" in line
    alone = tmp_path / "alone.mp4"
    write_tracks(alone, animals())
    line = one_error(capsys, [str(config), str(alone)])
    assert line == f"{groundtruth_path(alone)}: ground truth file not found " + (
        "(give the ground truth of each video)"
    )
    line = one_error(capsys, [str(config), str(swapped), str(perfect), "--groundtruth", "a.h5"])
    assert line.startswith("1 ground truth files for 2 videos")
    fewer = write_truth(tmp_path / "fewer.h5", animals()[:, :, :2], PARTS[:2])
    line = one_error(capsys, [str(config), str(swapped), "--groundtruth", str(fewer)])
    assert line.startswith(f"{swapped.with_name(f'swapped{SCORER}_el.h5')} vs {fewer}: body parts")
    flat = tmp_path / "flat.h5"
    pd.DataFrame({"x": [1.0]}).to_hdf(flat, key="df")
    line = one_error(capsys, [str(config), str(swapped), "--groundtruth", str(flat)])
    assert line == f"{flat}: not a multi-animal table (no 'individuals' column level)"
    line = one_error(capsys, [str(config), str(swapped), "--gate-px", "-1"])
    assert "gate_px must be a positive number" in line
    # the second video's error leaves no results of the first behind
    with pytest.raises(IdentityScoreError, match="ground truth file not found"):
        evaluate_tracks(config, [swapped, alone])
    assert not results_csv(config).exists()
    single = Path(create_new_project("one", "ann", [untracked], working_directory=tmp_path))
    line = one_error(capsys, [str(single), str(swapped)])
    assert line.startswith(f"{single}: a single-animal project has no tracks to score")
    write_truth(groundtruth_path(alone), animals())  # beside the video itself
    row = evaluate_tracks(config, alone).iloc[0]
    assert row["ground truth file"] == str(groundtruth_path(alone)) and row["IDF1"] == 1.0


def test_names_in_one_place(tmp_path: Path) -> None:
    video = tmp_path / "a.b.mp4"
    assert (
        Project.groundtruth_file(video)
        == groundtruth_path(video)
        == tmp_path / ("a.b_groundtruth.h5")
    )
    assert dlcflow.evaluate_tracks is evaluate_tracks
