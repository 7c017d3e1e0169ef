"""The tracklet view's API: timelines, frames, swap/delete edits, undo, DLC's save, frames
marked for training and their extraction as outlier frames."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tracks_helpers import make_tracks_project

from dlcflow.labeler.store import LabelerError
from dlcflow.labeler.tracks import TrackEditError, TrackSession, backup_path
from dlcflow.labeler.trackserver import TrackLabeler, find_video
from dlcflow.project.paths import Project, frame_name


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_tracks_project(tmp_path_factory.mktemp("tracks"))


@pytest.fixture
def files(template: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    config, tracks = template
    root = tmp_path / "p"
    shutil.copytree(config.parents[1], root, symlinks=True)
    return root / config.parent.name / "config.yaml", root / "data" / tracks.name


@pytest.fixture
def lab(files: tuple[Path, Path]) -> Iterator[TrackLabeler]:
    config, tracks = files
    with TrackLabeler(tracks, config) as labeler:
        yield labeler


def request(lab: TrackLabeler, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{lab.port}{path}",
        data=data,
        headers={"X-Dlcflow-Token": lab.token, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if "json" in resp.headers["Content-Type"] else raw
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def block(df: pd.DataFrame, ind: str) -> np.ndarray:
    """All columns of one individual (x, y, likelihood per part, in file order)."""
    return df.xs(ind, axis=1, level="individuals").to_numpy()


def test_info_timeline_and_frame(lab: TrackLabeler, files: tuple[Path, Path]) -> None:
    df = pd.read_hdf(files[1])
    status, info = request(lab, "/api/tracks")
    assert status == 200
    assert info["nframes"] == len(df) == 40
    assert info["individuals"] == ["mouse1", "mouse2", "mouse3", "single"]
    assert info["video"] == "mice1.mp4"
    status, tl = request(lab, "/api/timeline?columns=8")
    assert status == 200 and tl["edges"] == list(range(0, 41, 5))
    # bin 2 (frames 10..14) of mouse2: mean x over present parts and frames
    x = df.xs(("mouse2", "x"), axis=1, level=("individuals", "coords")).to_numpy()[10:15]
    assert tl["tracks"]["mouse2"]["x"][2] == pytest.approx(np.nanmean(x), abs=0.05)
    status, frame = request(lab, "/api/frame?frame=7")
    part, fx, fy, _p = frame["individuals"]["mouse3"][1]
    assert part == info["bodyparts"]["mouse3"][1]
    assert fx == pytest.approx(df[(df.columns[0][0], "mouse3", part, "x")].iloc[7], abs=1e-3)
    assert fy == pytest.approx(df[(df.columns[0][0], "mouse3", part, "y")].iloc[7], abs=1e-3)
    status, image = request(lab, "/api/image?frame=7")
    assert status == 200 and image[:2] == b"\xff\xd8"  # a JPEG


def test_timeline_downsamples_a_long_video(tmp_path: Path, files: tuple[Path, Path]) -> None:
    df = pd.read_hdf(files[1])
    long = pd.concat([df] * 50, ignore_index=True)  # 2000 frames
    path = tmp_path / "long_el.h5"
    long.to_hdf(path, key="tracks", format="table")
    tl = TrackSession(path).timeline(columns=100)
    assert len(tl["edges"]) == 101 and len(tl["tracks"]["mouse1"]["likelihood"]) == 100
    part = TrackSession(path).timeline(columns=10, start=100, stop=199)
    assert part["edges"][0] == 100 and part["edges"][-1] == 200


def test_swap_from_a_frame_and_over_a_range_then_save(
    lab: TrackLabeler, files: tuple[Path, Path]
) -> None:
    tracks = files[1]
    before = pd.read_hdf(tracks)
    assert request(lab, "/api/swap", {"individuals": ["mouse1", "mouse2"], "start": 25})[0] == 200
    status, st = request(
        lab, "/api/swap", {"individuals": ["mouse2", "mouse3"], "start": 5, "stop": 9}
    )
    assert status == 200 and st["dirty"] and len(st["edits"]) == 2
    status, saved = request(lab, "/api/save", {})
    assert status == 200 and not saved["dirty"]
    after = pd.read_hdf(tracks)
    with pd.HDFStore(tracks, "r") as store:
        assert store.keys() == ["/df_with_missing"]
        assert store.get_storer("df_with_missing").is_table
    assert after.columns.equals(before.columns) and after.columns.nlevels == 4
    assert after.index.equals(before.index)
    m1, m2, m3 = (block(before, k) for k in ("mouse1", "mouse2", "mouse3"))
    a1, a2, a3 = (block(after, k) for k in ("mouse1", "mouse2", "mouse3"))
    np.testing.assert_array_equal(a1[:25], m1[:25])
    np.testing.assert_array_equal(a1[25:], m2[25:])
    np.testing.assert_array_equal(a2[25:], m1[25:])
    np.testing.assert_array_equal(a2[5:10], m3[5:10])
    np.testing.assert_array_equal(a3[5:10], m2[5:10])
    np.testing.assert_array_equal(a2[:5], m2[:5])
    np.testing.assert_array_equal(a2[10:25], m2[10:25])
    np.testing.assert_array_equal(
        np.delete(a3, range(5, 10), axis=0), np.delete(m3, range(5, 10), axis=0)
    )
    np.testing.assert_array_equal(block(after, "single"), block(before, "single"))
    backup = backup_path(tracks)
    assert backup.is_file() and saved["backup"] == str(backup)
    pd.testing.assert_frame_equal(pd.read_hdf(backup), before)


def test_delete_and_undo(lab: TrackLabeler, files: tuple[Path, Path]) -> None:
    tracks = files[1]
    before = pd.read_hdf(tracks)
    assert request(lab, "/api/delete", {"individual": "mouse3", "start": 10, "stop": 19})[0] == 200
    assert request(lab, "/api/swap", {"individuals": ["mouse1", "mouse2"], "start": 0})[0] == 200
    status, st = request(lab, "/api/undo", {})
    assert status == 200 and [e["op"] for e in st["edits"]] == ["delete"]
    _, frame = request(lab, "/api/frame?frame=12")
    assert all(x is None for _p, x, _y, _l in frame["individuals"]["mouse3"])
    request(lab, "/api/save", {})
    after = pd.read_hdf(tracks)
    m3 = block(after, "mouse3")
    assert np.isnan(m3[10:20]).all()
    np.testing.assert_array_equal(
        np.delete(m3, range(10, 20), axis=0),
        np.delete(block(before, "mouse3"), range(10, 20), axis=0),
    )
    for ind in ("mouse1", "mouse2", "single"):
        np.testing.assert_array_equal(block(after, ind), block(before, ind))
    request(lab, "/api/undo", {})
    request(lab, "/api/save", {})
    pd.testing.assert_frame_equal(pd.read_hdf(tracks), before)
    status, err = request(lab, "/api/undo", {})
    assert status == 400 and err["error"] == "nothing to undo"


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/api/swap", {"individuals": ["mouse1", "rat"], "start": 3}, "unknown individual 'rat'"),
        ("/api/delete", {"individual": "ghost", "start": 0, "stop": 3}, "unknown individual"),
        ("/api/delete", {"individual": "mouse1", "start": 30, "stop": 40}, "outside the video"),
        ("/api/swap", {"individuals": ["mouse1", "mouse2"], "start": -1}, "outside the video"),
        ("/api/swap", {"individuals": ["mouse1", "single"], "start": 0}, "different body parts"),
        ("/api/swap", {"individuals": ["mouse1"], "start": 0}, "two individuals"),
        ("/api/delete", {"individual": "mouse1", "start": "a", "stop": 2}, "integers"),
        ("/api/timeline?columns=0", None, "columns must be"),
        ("/api/frame?frame=40", None, "outside the video"),
        ("/api/mark", {"start": 40}, "outside the video"),
        ("/api/mark", {"start": 1, "stop": 3, "on": "yes"}, "on must be"),
        ("/api/train", {}, "no frames are marked"),
    ],
)
def test_bad_input_is_one_line_400(
    lab: TrackLabeler, path: str, body: dict[str, Any] | None, words: str
) -> None:
    status, err = request(lab, path, body)
    assert status == 400
    assert words in err["error"] and "\n" not in err["error"]
    info = request(lab, "/api/tracks")[1]
    assert info["edits"] == [] and info["marked"] == []


def test_a_non_tracks_file_is_refused(files: tuple[Path, Path], tmp_path: Path) -> None:
    config, _ = files
    with pytest.raises(TrackEditError, match="config.yaml: not a readable h5"):
        TrackSession(config)
    labels = tmp_path / "CollectedData_x.h5"
    df = pd.DataFrame(
        [[1.0, 2.0]],
        columns=pd.MultiIndex.from_tuples(
            [("x", "snout", "x"), ("x", "snout", "y")], names=["scorer", "bodyparts", "coords"]
        ),
    )
    df.to_hdf(labels, key="df_with_missing")
    with pytest.raises(TrackEditError, match="columns are") as info:
        TrackSession(labels)
    assert "\n" not in str(info.value)


def test_the_token_is_required(lab: TrackLabeler) -> None:
    req = urllib.request.Request(f"http://127.0.0.1:{lab.port}/api/tracks")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 403


def test_the_cli_offers_refine_tracks() -> None:
    from dlcflow.cli.main import COMMANDS

    assert "refine-tracks" in [name for name, _run, _args in COMMANDS]


def test_the_benchmark_runs_small() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "tracklet_view.py"), "--frames", "300",
         "--rounds", "1", "--columns", "100"],
        cwd=root, capture_output=True, text=True, timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("tracklet_view ratio=") and float(last.split("=")[1]) > 0


def test_marked_frames_go_to_training_with_the_refined_tracks(files: tuple[Path, Path]) -> None:
    config, tracks = files
    project = Project(config)
    folder = project.labeled_folder("mice1")
    assert not list(folder.glob("*.png"))
    session = TrackSession(tracks)
    video = find_video(session.path, session.scorer, project)
    assert video is not None and video.stem == "mice1"
    before = session.to_frame()
    assert not session.mark(3)["dirty"]  # marks are no edits
    session.swap("mouse1", "mouse2", 10)
    session.mark(12, 15)  # a range
    session.mark(14)  # toggled off again
    session.mark(20)
    session.mark(20)
    state = session.mark(30)
    assert state["marked"] == [3, 12, 13, 15, 30] and state["dirty"]
    # five frames, more than the config's numframes2pick: none is thinned away
    assert project.cfg["numframes2pick"] == 4
    result = session.add_to_training(config, video)
    frames = [3, 12, 13, 15, 30]
    assert result["extracted"] == frames and result["present"] == []
    assert result["marked"] == [] and not result["dirty"]
    assert "dlcflow refine" in result["message"] and "dlcflow merge" in result["message"]
    # the tracks were saved first (as Save does)
    refined = session.to_frame()
    pd.testing.assert_frame_equal(pd.read_hdf(tracks), refined)
    assert backup_path(tracks).is_file()
    nframes = len(refined)
    assert sorted(p.name for p in folder.glob("*.png")) == [frame_name(i, nframes) for i in frames]
    labels = pd.read_hdf(project.machine_labels("mice1"))
    assert result["machine_labels"] == str(project.machine_labels("mice1"))
    assert labels.columns.nlevels == 4
    individuals = list(dict.fromkeys(labels.columns.get_level_values("individuals")))
    assert individuals == [*project.individuals, "single"] == session.individuals
    assert list(labels.index) == [("labeled-data", "mice1", frame_name(i, nframes)) for i in frames]
    # the labels are the refined tracks at those frames: mouse1 is the old mouse2 from 10 on
    np.testing.assert_array_equal(
        labels[refined.columns].to_numpy(), refined.iloc[frames].to_numpy()
    )
    np.testing.assert_array_equal(block(labels, "mouse1")[1:], block(before, "mouse2")[frames[1:]])
    np.testing.assert_array_equal(block(labels, "mouse1")[0], block(before, "mouse1")[3])
    record = json.loads(project.outliers_record("mice1").read_text())
    assert record["outlieralgorithm"] == "list" and record["extracted"] == frames
    # a second round: frames there already are kept as they are, new ones are appended
    session.mark(3)
    session.mark(31)
    again = session.add_to_training(config, video)
    assert again["extracted"] == [31] and again["present"] == [3] and again["marked"] == []
    assert len(pd.read_hdf(project.machine_labels("mice1"))) == 6


def test_adding_frames_needs_a_video_config_and_marks(files: tuple[Path, Path]) -> None:
    config, tracks = files
    session = TrackSession(tracks)
    with pytest.raises(LabelerError, match="no frames are marked"):
        session.add_to_training(config, tracks.parent / "mice1.mp4")
    session.swap("mouse1", "mouse2", 0)
    session.mark(5)
    gone = tracks.parent / "elsewhere" / "mice1.mp4"
    with pytest.raises(LabelerError) as info:
        session.add_to_training(config, gone)
    assert str(info.value) == f"{gone}: video not found, so no frames can be extracted"
    with pytest.raises(LabelerError, match=r"video mice1\.\* of mice1DLC.*_el\.h5 not found"):
        session.add_to_training(config, None)
    with pytest.raises(LabelerError, match="needs the project's config.yaml"):
        session.add_to_training(None, tracks.parent / "mice1.mp4")
    # a refusal changes nothing: not saved, still marked
    assert session.dirty and session.marked == {5} and not backup_path(tracks).exists()
    assert not list(Project(config).labeled_folder("mice1").glob("*.png"))


def test_marks_and_training_over_http(lab: TrackLabeler, files: tuple[Path, Path]) -> None:
    config, tracks = files
    assert request(lab, "/api/mark", {"start": 5})[1]["marked"] == [5]
    assert request(lab, "/api/mark", {"start": 5})[1]["marked"] == []
    assert request(lab, "/api/mark", {"start": 6, "stop": 8})[1]["marked"] == [6, 7, 8]
    status, st = request(lab, "/api/mark", {"start": 7, "on": False})
    assert status == 200 and st["marked"] == [6, 8] and not st["dirty"]
    assert request(lab, "/api/tracks")[1]["marked"] == [6, 8]
    status, done = request(lab, "/api/train", {})
    assert status == 200 and done["extracted"] == [6, 8] and done["marked"] == []
    assert f"dlcflow merge {Project(config).config_path}" in done["message"]
    assert len(pd.read_hdf(Project(config).machine_labels("mice1"))) == 2
