"""``dlcflow assemble / track / stitch`` on DeepLabCut's own montblanc files (three birds,
180 frames): each stage runs on files alone, writes DLC's file names beside its input, and
its output is DLC's (the stage tests compare the numbers; here the files as a user gets
them). Bad input: one line naming the file, nothing written."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_video

from dlcflow.cli import main
from dlcflow.project.create import create_new_project

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dlc-unittest-multianimal"
SCORER = "DLC_resnet50_MontBlancDec16shuffle1_30000"


def _birds_config(tmp_path: Path, parts: list[str] | None = None, nframes: int = 4) -> Path:
    video = write_video(tmp_path / "montblanc.mp4", nframes=nframes)
    config = Path(
        create_new_project(
            "MontBlanc",
            "dlc",
            [video],
            working_directory=tmp_path,
            multianimal=True,
            individuals=["bird1", "bird2", "bird3"],
            bodyparts=parts or ["head", "tail", "leftwing", "rightwing"],
            unique_bodyparts=["center"],
        )
    )
    return config


@pytest.fixture
def birds(tmp_path: Path) -> tuple[Path, Path]:
    """A project with montblanc's body parts, and DLC's detections under DLC's file name."""
    config = _birds_config(tmp_path)
    full = tmp_path / "videos" / f"montblanc{SCORER}_full.pickle"
    full.parent.mkdir(exist_ok=True)
    shutil.copy(FIXTURES / "montblanc_full.pickle", full)
    return config, full


def _load(path: Path) -> object:
    with path.open("rb") as fh:
        return pickle.load(fh)


def test_the_three_stages_on_dlc_files(birds: tuple[Path, Path], capsys) -> None:
    config, full = birds
    assert main(["assemble", str(config), str(full)]) == 0
    assemblies = full.with_name(f"montblanc{SCORER}_assemblies.pickle")
    assert capsys.readouterr().out.strip() == str(assemblies)
    ours, dlc = _load(assemblies), _load(FIXTURES / "montblanc_assemblies.pickle")
    frames = [k for k in dlc if k != "single"]
    assert sorted(k for k in ours if k != "single") == sorted(frames)
    for k in frames:  # DLC's assemblies, in DLC's order
        np.testing.assert_allclose(np.asarray(ours[k])[..., :3], np.asarray(dlc[k])[..., :3])

    assert main(["track", str(config), str(assemblies), "--method", "ellipse"]) == 0
    tracklets = full.with_name(f"montblanc{SCORER}_el.pickle")
    assert capsys.readouterr().out.strip() == str(tracklets)
    found = _load(tracklets)
    assert isinstance(found["header"], pd.MultiIndex)
    assert sum(isinstance(k, int | np.integer) for k in found) >= 3

    assert main(["stitch", str(config), str(tracklets), "--save-as-csv"]) == 0
    tracks = full.with_name(f"montblanc{SCORER}_el.h5")
    assert capsys.readouterr().out.strip() == str(tracks)
    df = pd.read_hdf(tracks)
    assert df.columns.names == ["scorer", "individuals", "bodyparts", "coords"]
    assert df.columns.get_level_values("individuals").unique().tolist() == [
        "bird1",
        "bird2",
        "bird3",
        "single",
    ]
    assert len(df) == 180
    assert tracks.with_suffix(".csv").is_file()
    # DLC's detections through the three commands give DLC's stitched tracks: every
    # (frame, track, body part) cell, NaN where DLC's is, the tracks even in DLC's order
    theirs = pd.read_hdf(FIXTURES / "montblanc_tracks.h5")
    assert theirs.columns.equals(df.columns)
    np.testing.assert_array_equal(df.to_numpy(), theirs.to_numpy())


def test_n_tracks_other_than_the_individuals_names_tracks_ind(birds, tmp_path: Path) -> None:
    config, full = birds
    assert main(["assemble", str(config), str(full)]) == 0
    assemblies = full.with_name(f"montblanc{SCORER}_assemblies.pickle")
    assert main(["track", str(config), str(assemblies)]) == 0
    tracklets = full.with_name(f"montblanc{SCORER}_el.pickle")
    out = tmp_path / "two.h5"
    assert main(["stitch", str(config), str(tracklets), "--n-tracks", "2", "--out", str(out)]) == 0
    names = pd.read_hdf(out).columns.get_level_values("individuals").unique().tolist()
    assert names == ["ind1", "ind2", "single"]


def test_detections_of_another_project_are_refused(tmp_path: Path, capsys) -> None:
    config = _birds_config(tmp_path, parts=["nose", "tail", "leftwing", "rightwing"])
    full = tmp_path / f"montblanc{SCORER}_full.pickle"
    shutil.copy(FIXTURES / "montblanc_full.pickle", full)
    assert main(["assemble", str(config), str(full)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(full) in err and "head" in err and "nose" in err
    assert not full.with_name(f"montblanc{SCORER}_assemblies.pickle").exists()


def test_a_file_that_is_not_a_stage_file_is_refused(tmp_path: Path, capsys) -> None:
    config = _birds_config(tmp_path)
    bad = tmp_path / f"montblanc{SCORER}_assemblies.pickle"
    bad.write_bytes(b"not a pickle")
    assert main(["track", str(config), str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err
    assert not bad.with_name(f"montblanc{SCORER}_el.pickle").exists()
    assert main(["stitch", str(config), str(tmp_path / "missing_el.pickle")]) == 1
    assert "missing_el.pickle" in capsys.readouterr().err
