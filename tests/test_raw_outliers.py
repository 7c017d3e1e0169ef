"""``find_outliers_in_raw_data`` on DeepLabCut's own montblanc files (three birds, 180
frames): the frames DLC's rule picks (its statistic computed here again from the raw
pickles), the machine labels of those frames read back with pandas, the PNGs; bad input;
the CLI; the ``outliers_raw`` target on a tiny trained project."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import MA_FIXTURE, write_video
from test_matrain import ma_project  # noqa: F401 (a tiny trained multi-animal project)
from test_tracking_cli import _birds_config
from test_workflow import REPO, snakemake
from test_workflow_ma import SMALL

from dlcflow.cli import main
from dlcflow.io.assemblies import write_assemblies
from dlcflow.io.fullpickle import FullPickleError
from dlcflow.post.rawoutliers import RawOutlierError, find_outliers_in_raw_data
from dlcflow.project.config import read_config, write_config
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import Project
from dlcflow.workflow.diagnostics import raw_outlier_inputs
from dlcflow.workflow.settings import analyses, settings, stage_targets

SCORER = "DLC_resnet50_MontBlancDec16shuffle1_30000"
BIRDS = ["bird1", "bird2", "bird3"]


def _load(path: Path) -> dict:
    with path.open("rb") as fh:
        return pickle.load(fh)


def _project(tmp_path: Path, numframes2pick: int, nframes: int = 180) -> tuple[Path, Path]:
    """montblanc's body parts, a 180-frame video, DLC's pickles under DLC's names."""
    config = _birds_config(tmp_path, nframes=nframes)
    cfg = read_config(config)
    cfg["numframes2pick"] = numframes2pick
    write_config(config, cfg)
    videos = config.parent / "videos"
    for kind in ("full", "assemblies"):
        shutil.copy(
            MA_FIXTURE / f"montblanc_{kind}.pickle", videos / f"montblanc{SCORER}_{kind}.pickle"
        )
    return config, videos


def _labels(config: Path) -> pd.DataFrame:
    return pd.read_hdf(Project(config).machine_labels("montblanc"))


def _row(df: pd.DataFrame, frame: int) -> pd.Series:
    return df.loc[("labeled-data", "montblanc", f"img{frame:03d}.png")][SCORER]


def test_assemblies_odd_box_areas_and_their_machine_labels(tmp_path: Path) -> None:
    """DLC's rule: every animal's box area (visible parts); a frame is odd when one area
    is strictly outside the 5th/95th percentiles ("nearest") of all areas."""
    config, videos = _project(tmp_path, numframes2pick=200)  # keep every odd frame
    raw = _load(MA_FIXTURE / "montblanc_assemblies.pickle")
    frames, areas = [], []
    for key, animals in raw.items():
        if key == "single":
            continue
        for animal in animals:
            x, y = animal[:, 0], animal[:, 1]
            frames.append(key)
            areas.append((np.nanmax(x) - np.nanmin(x)) * (np.nanmax(y) - np.nanmin(y)))
    lo, up = np.percentile(areas, [5, 95], method="nearest")
    expected = sorted({f for f, a in zip(frames, areas, strict=True) if a < lo or a > up})
    assert len(expected) == 43  # montblanc's odd frames
    record = tmp_path / "record.json"
    video = videos / "montblanc.mp4"
    got = find_outliers_in_raw_data(
        config, videos / f"montblanc{SCORER}_assemblies.pickle", video, record=record
    )
    assert got == expected
    folder = Project(config).labeled_folder("montblanc")
    assert sorted(p.name for p in folder.glob("img*.png")) == [f"img{f:03d}.png" for f in expected]
    df = _labels(config)
    assert df.columns.names == ["scorer", "individuals", "bodyparts", "coords"]
    assert df.columns.get_level_values("individuals").unique().tolist() == [*BIRDS, "single"]
    assert len(df) == len(expected)
    for frame in expected:
        row = _row(df, frame)
        for k, animal in enumerate(raw[frame]):  # the k-th animal on the k-th bird
            values = row[BIRDS[k]].unstack("coords")[["x", "y", "likelihood"]]
            np.testing.assert_allclose(
                values.loc[["head", "tail", "leftwing", "rightwing"]].to_numpy(), animal[:, :3]
            )
        for k in range(len(raw[frame]), 3):
            assert row[BIRDS[k]].isna().all()
        center = row["single"]["center"][["x", "y", "likelihood"]].to_numpy()
        if frame in raw["single"]:
            np.testing.assert_allclose(center, raw["single"][frame][0])
        else:
            assert np.isnan(center).all()
    summary = json.loads(record.read_text())
    assert summary["source"] == "assemblies" and summary["qualified"] == 43
    assert summary["extracted"] == expected
    assert Path(summary["machine_labels"]) == Project(config).machine_labels("montblanc")


def test_detections_under_pcutoff_kmeans_then_appended(tmp_path: Path) -> None:
    """A frame of the _full.pickle is an outlier when any detection's confidence is under
    pcutoff; 20 of them are picked; the k-th most confident detection of a body part is
    the k-th bird's. A second extraction appends; frames already there are skipped."""
    config, videos = _project(tmp_path, numframes2pick=20)
    raw = _load(MA_FIXTURE / "montblanc_full.pickle")
    low = {}
    for key, frame in raw.items():
        if key != "metadata":
            low[int(key[5:])] = np.concatenate(frame["confidence"]).min() < 0.1
    qualified = {f for f, is_low in low.items() if is_low}
    assert len(qualified) == 99
    video = videos / "montblanc.mp4"
    got = find_outliers_in_raw_data(config, videos / f"montblanc{SCORER}_full.pickle", video)
    assert len(got) == 20 and set(got) <= qualified and got == sorted(got)
    df = _labels(config)
    names = ["head", "tail", "leftwing", "rightwing"]
    for frame in got:
        row = _row(df, frame)
        dets = raw[f"frame{frame:03d}"]
        for j, part in enumerate(names):
            xy, conf = dets["coordinates"][0][j], dets["confidence"][j][:, 0]
            order = np.argsort(-conf, kind="stable")[:3]
            for k, d in enumerate(order):
                values = row[BIRDS[k]][part][["x", "y", "likelihood"]].to_numpy()
                np.testing.assert_allclose(values, [*xy[d], conf[d]])
        center = row["single"]["center"][["x", "y"]].to_numpy()
        if len(dets["confidence"][4]):
            best = np.argmax(dets["confidence"][4][:, 0])
            np.testing.assert_allclose(center, dets["coordinates"][0][4][best])
        else:
            assert np.isnan(center).all()
    # the assemblies next, uniform, without machine labels: frames added, labels kept
    more = find_outliers_in_raw_data(
        config,
        videos / f"montblanc{SCORER}_assemblies.pickle",
        video,
        with_annotations=False,
        extraction_algo="uniform",
    )
    assert len(more) == 20 and not set(more) & set(got)
    pd.testing.assert_frame_equal(_labels(config), df)
    pngs = list(Project(config).labeled_folder("montblanc").glob("img*.png"))
    assert len(pngs) == 40


def test_bad_input_one_line_and_nothing_written(tmp_path: Path) -> None:
    config, videos = _project(tmp_path, numframes2pick=5)
    video = videos / "montblanc.mp4"
    folder = Project(config).labeled_folder("montblanc")
    tracklets = videos / f"montblanc{SCORER}_el.pickle"
    shutil.copy(MA_FIXTURE / "montblanc_tracklets.pickle", tracklets)
    with pytest.raises(RawOutlierError, match="neither a _full.pickle nor an _assemblies") as e:
        find_outliers_in_raw_data(config, tracklets, video)
    assert str(tracklets) in str(e.value) and "\n" not in str(e.value)
    fake = videos / f"montblanc{SCORER}_full.pickle"
    shutil.copy(MA_FIXTURE / "montblanc_assemblies.pickle", fake)  # assemblies named _full
    with pytest.raises(FullPickleError, match=str(fake)):
        find_outliers_in_raw_data(config, fake, video)
    short = write_video(tmp_path / "montblanc_short.mp4", nframes=100)
    other = tmp_path / f"montblanc_short{SCORER}_assemblies.pickle"
    shutil.copy(MA_FIXTURE / "montblanc_assemblies.pickle", other)
    with pytest.raises(RawOutlierError, match="beyond the video's 100 frames"):
        find_outliers_in_raw_data(config, other, short)
    with pytest.raises(RawOutlierError, match="not a file of the video"):
        find_outliers_in_raw_data(config, videos / f"montblanc{SCORER}_assemblies.pickle", short)
    assert not folder.exists() or not any(folder.glob("*.png"))
    assert not Project(config).machine_labels("montblanc").exists()
    single = Path(create_new_project("solo", "me", [short], working_directory=tmp_path / "solo"))
    with pytest.raises(RawOutlierError, match="is for multi-animal projects"):
        find_outliers_in_raw_data(single, other, short)
    workflow = settings(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    with pytest.raises(ValueError, match="outliers_raw .* is for multi-animal projects"):
        stage_targets(Project(single), "outliers_raw", workflow)


def test_no_animals_no_outliers_where_dlc_fails(tmp_path: Path) -> None:
    """DLC takes percentiles of nothing (and fails) for a video without animals; dlcflow
    finds no outlier, writes its record and no frame."""
    config, videos = _project(tmp_path, numframes2pick=5)
    empty = write_assemblies({}, videos / f"montblanc{SCORER}_assemblies.pickle")
    record = tmp_path / "record.json"
    assert find_outliers_in_raw_data(config, empty, videos / "montblanc.mp4", record=record) == []
    summary = json.loads(record.read_text())
    assert summary["qualified"] == 0 and summary["extracted"] == []
    assert not list(Project(config).labeled_folder("montblanc").glob("img*.png"))
    with pytest.raises(ValueError, match=r"percentiles \(95, 5\) need 0 <= lower <= upper"):
        find_outliers_in_raw_data(config, empty, videos / "montblanc.mp4", percentiles=(95, 5))


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config, videos = _project(tmp_path, numframes2pick=3)
    pickle_file = videos / f"montblanc{SCORER}_assemblies.pickle"
    args = ["find-outliers-in-raw-data", str(config), str(pickle_file)]
    assert main([*args, str(videos / "montblanc.mp4"), "--no-annotations"]) == 0
    assert capsys.readouterr().out.startswith("3 outlier frames extracted: ")
    assert not Project(config).machine_labels("montblanc").exists()
    assert main([*args, str(tmp_path / "missing.mp4")]) == 1
    err = capsys.readouterr().err.strip()
    assert "missing.mp4" in err and "\n" not in err


def test_workflow_reads_the_pickle_of_its_source(tmp_path: Path) -> None:
    config, videos = _project(tmp_path, numframes2pick=3)
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert base["outliers_raw"]["source"] == "assemblies"
    for source, suffix in (("assemblies", "_assemblies.pickle"), ("detections", "_full.pickle")):
        st = settings({**base, "outliers_raw": {**base["outliers_raw"], "source": source}})
        inputs = raw_outlier_inputs(Project(config), st, "montblanc")
        tracks = analyses(Project(config), st)[0][1]
        assert inputs["video"] == str(videos / "montblanc.mp4")
        assert inputs["pickle"] == str(tracks).replace("_el.h5", suffix)
    (target,) = stage_targets(Project(config), "outliers_raw", st)
    assert target == str(Project(config).raw_outliers_record("montblanc", 0))


def test_outliers_raw_target_on_a_trained_project(ma_project: Path) -> None:  # noqa: F811
    """The workflow trains (2 iterations), detects, then extracts the frames of the
    detections (``source: detections``; ``pcutoff`` 1: every frame with a detection)."""
    raw = "outliers_raw={source: detections, pcutoff: 1.0}"
    run = snakemake("outliers_raw", "--config", f"project={ma_project}", raw, *SMALL)
    assert run.returncode == 0, run.stderr[-3000:]
    project = Project(ma_project)
    record = json.loads(project.raw_outliers_record("arena", 0).read_text())
    assert record["pickle_file"].endswith("shuffle1_2_full.pickle")
    full = _load(Path(record["pickle_file"]))
    expected = [
        int(key[5:])
        for key, frame in full.items()
        if key != "metadata" and np.concatenate(frame["confidence"]).size
    ]
    assert record["qualified"] == len(expected)
    new = [f for f in expected if f > 3]  # img0-3.png are the labeled frames
    assert record["extracted"] == new
    labels = project.machine_labels("arena")
    if new:
        df = pd.read_hdf(labels)
        assert [r[2] for r in df.index] == ["img4.png"]
        assert (project.labeled_folder("arena") / "img4.png").is_file()
    else:
        assert not labels.exists()
