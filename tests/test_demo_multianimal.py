"""`snakemake demo_multianimal`, small: two iterations of a multi-animal project through
the workflow, from rendered videos to tracks scored against their ground truth."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_workflow import snakemake

from dlcflow.core.video import video_info
from dlcflow.devtools.demo import groundtruth_path
from dlcflow.devtools.demos import Demo, demos
from dlcflow.devtools.mademoreport import assembly_results_of
from dlcflow.io.labels import read_annotations
from dlcflow.post.idmetrics import score_track_file
from dlcflow.project.paths import Project

pytestmark = pytest.mark.workflow
SMALL = yaml.safe_load(Path(__file__).with_name("small-demo-multianimal.yaml").read_text())
RULES = ("detect_video", "assemble_detections", "track_assemblies", "stitch_tracklets")


def test_multi_animal_demo_end_to_end(tmp_path: Path) -> None:
    outdir = tmp_path / "mademo"
    cfg = tmp_path / "mademo.yaml"
    cfg.write_text(yaml.safe_dump({"demo_multianimal": {**SMALL, "outdir": str(outdir)}}))
    run = snakemake("demo_multianimal", "--configfile", str(cfg))
    said = run.stdout + run.stderr
    assert run.returncode == 0, run.stderr[-3000:]
    for rule in (*RULES, "oracle_labels", "extract_outliers", "demo_merge", "demo_report"):
        assert f"rule {rule}:" in said or f"checkpoint {rule}:" in said, rule
    assert "Traceback" not in said and "PuLP" not in said
    assert not (tmp_path / "results").exists()  # nothing of the single-animal demo

    project = Project(Path((outdir / "project.txt").read_text().strip()))
    assert project.multianimal and project.individuals == ["mouse1", "mouse2"]
    assert project.iteration == 1 and (outdir / "merged.txt").read_text() == "iteration 1\n"
    # the held-out video joins the project when the network's tracks gave it outlier
    # frames (a 4-iteration network may assemble nothing there: then none, and no error)
    record = json.loads(project.outliers_record("mice3", 0).read_text())
    refined = ["mice3"] if record["extracted"] else []
    assert project.video_stems() == ["mice1", "mice2", *refined]
    # iteration 0 learned from the oracle's labels of the extracted frames; iteration 1
    # also from the held-out video's outlier frames, labeled by the oracle
    for stem in ("mice1", "mice2", *refined):
        labels = read_annotations(project.collected_data(stem))
        assert list(labels.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
        assert set(labels.columns.get_level_values("individuals")) == {
            "mouse1",
            "mouse2",
            "single",
        }
        frames = sorted(p.name for p in project.labeled_folder(stem).glob("img*.png"))
        assert sorted(labels.index.get_level_values(2)) == frames
    assert len(read_annotations(project.collected_data("mice1"))) == 6
    stems = {}
    for iteration in (0, 1):
        merged = read_annotations(project.training_collected_data(iteration=iteration))
        stems[iteration] = set(merged.index.get_level_values(1))
        with project.documentation_file(0.95, 1, iteration=iteration).open("rb") as fh:
            _, train, test, _ = pickle.load(fh)
        assert len(train) + len(test) == len(merged)
    assert stems[0] == {"mice1", "mice2"} and stems[1] == {"mice1", "mice2", *refined}

    # each model's tracks of every video: DLC's four levels; the report scores them
    report = (outdir / "report.txt").read_text()
    for iteration, iterations in ((0, 4), (1, 3)):
        scorer = f"DLC_mobnet_35_mademo{project.date}shuffle1_{iterations}"
        results = project.evaluation_results(0.95, 1, scorer, iteration)
        assembly = pd.read_csv(assembly_results_of(results), index_col=0)
        assert assembly["Training iterations:"].tolist() == [iterations]
        row = f"{iteration}                1       95        {iterations}"
        assert row in report
        block = report.split(f"(tracks of the iteration {iteration} model)")[1]
        for stem, kind in (("mice1", "labeled"), ("mice2", "labeled"), ("mice3", "held-out")):
            video = project.root / "videos" / f"{stem}.mp4"
            tracks = project.tracks_output(video, scorer, "ellipse")
            df = pd.read_hdf(tracks, "tracks")  # DLC's key of stitched tracks
            assert list(df.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
            assert len(df) == SMALL["nframes"]
            scores = score_track_file(tracks, groundtruth_path(video.resolve()))
            line = next(x for x in block.splitlines() if x.startswith(f"{stem}.mp4"))
            cells = line.split()
            assert cells[1:4] == [kind, str(SMALL["nframes"]), "2"]
            assert cells[7] == f"{scores.idf1:.3f}" and cells[8] == str(scores.switches)
            if iteration == 0:  # the first model's tracks are post-processed
                for suffix in ("_filtered.h5", "_skeleton.h5"):
                    assert project.derived_output(tracks, suffix).is_file()
                drawn = project.labeled_video_output(tracks, "bodypart")
                assert drawn.name.endswith("_el_bp_labeled.mp4")
                assert video_info(drawn).nframes == SMALL["nframes"]
                plots = project.plot_poses_folder(video)
                for name in ("trajectory", "plot", "plot-likelihood", "hist"):
                    for individual in ("mouse1", "mouse2", "single"):  # DLC's names
                        assert (plots / f"{name}{individual}.png").is_file()
    # the refined model's tracklets stitched with re-identification, scored beside
    assert "rule transformer_reid:" in said
    block = report.split("stitched with re-identification")[1]
    for stem in ("mice1", "mice2", "mice3"):
        video = project.root / "videos" / f"{stem}.mp4"
        tracks = project.derived_output(project.tracks_output(video, scorer, "ellipse"), "_tr.h5")
        assert tracks.name.endswith(f"{scorer}_el_tr.h5")
        assert len(pd.read_hdf(tracks)) == SMALL["nframes"]
        scores = score_track_file(tracks, groundtruth_path(video.resolve()))
        cells = next(x for x in block.splitlines() if x.startswith(f"{stem}.mp4")).split()
        assert cells[7] == f"{scores.idf1:.3f}" and cells[8] == str(scores.switches)


def test_demos_have_their_own_folders(tmp_path: Path) -> None:
    config = yaml.safe_load((Path(__file__).parents[1] / "config" / "config.yaml").read_text())
    found = demos(config)
    assert list(found) == ["demo", "demo_multianimal", "demo_3d"]
    assert found["demo_multianimal"].multianimal and not found["demo"].multianimal
    assert found["demo_multianimal"].stems() == (["mice1", "mice2"], ["mice3"])
    assert found["demo"].stems() == (["mouse1", "mouse2"], ["mouse3"])
    inside = {**config, "demo_multianimal": {**config["demo"], "outdir": "results/demo/ma"}}
    with pytest.raises(ValueError, match="overlap; give each demo its own folder"):
        demos(inside)
    demo = Demo("demo_multianimal", tmp_path / "ma", 1, 0)
    assert demo.holds(tmp_path / "ma" / "project" / "videos")
    assert not demo.holds(tmp_path / "mademo")


def test_overlapping_demo_folders_stop_the_workflow(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    folders = {"demo_multianimal": {"outdir": str(tmp_path / "ma")}}
    folders["demo"] = {"outdir": str(tmp_path / "ma" / "single")}
    cfg.write_text(yaml.safe_dump(folders))
    run = snakemake("-n", "demo", "--configfile", str(cfg))
    assert run.returncode != 0
    assert "overlap; give each demo its own folder" in run.stderr + run.stdout
    assert "Traceback" not in run.stderr
