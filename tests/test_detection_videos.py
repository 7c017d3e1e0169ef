"""The multi-animal diagnostic videos on DeepLabCut's own montblanc files (three birds, 180
frames): every detection of the ``_full.pickle`` (``create_video_with_all_detections``)
and the tracklets of the ``_el.pickle`` (``create_video_from_pickled_tracks``), drawn on a
synthetic video of the pickles' frame count and a size that holds their coordinates, read
back with OpenCV; bad input; the two Snakemake targets on a tiny trained project."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest
import yaml
from conftest import write_video
from test_workflow import REPO, snakemake

import dlcflow
from dlcflow.cli import main
from dlcflow.core.videofiles import list_videos
from dlcflow.io import labels
from dlcflow.plots.detections import detections_video_file
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import Project
from dlcflow.workflow.settings import settings, stage_targets

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dlc-unittest-multianimal"
SCORER = "DLC_resnet50_MontBlancDec16shuffle1_30000"
NFRAMES, SIZE = 180, (1920, 1088)  # montblanc's detections reach x 1917, y 1085
PARTS = ["head", "tail", "leftwing", "rightwing", "center"]
CHECKED = (0, 30, 60, 90, 120, 150, 179)  # frames whose pixels are compared


@pytest.fixture(scope="module")
def birds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A project with montblanc's body parts and a 180-frame video of montblanc's size,
    DLC's detections beside the project's video under DLC's name."""
    tmp = tmp_path_factory.mktemp("birds")
    source = write_video(tmp / "montblanc.mp4", nframes=NFRAMES, size=SIZE)
    config = Path(
        create_new_project(
            "MontBlanc",
            "dlc",
            [source],
            working_directory=tmp,
            multianimal=True,
            individuals=["bird1", "bird2", "bird3"],
            bodyparts=PARTS[:4],
            unique_bodyparts=["center"],
        )
    )
    video = config.parent / "videos" / "montblanc.mp4"
    shutil.copy(
        FIXTURES / "montblanc_full.pickle", video.with_name(f"montblanc{SCORER}_full.pickle")
    )
    return config, video


def _frames(path: Path, wanted: tuple[int, ...]) -> tuple[int, tuple[int, int], dict]:
    """Frame count, (width, height) and the ``wanted`` frames of a video."""
    cap = cv2.VideoCapture(str(path))
    frames, index = {}, 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if index in wanted:
            frames[index] = frame.astype(np.int16)
        index += 1
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    cap.release()
    return index, size, frames


def _background(index: int, x: float, y: float) -> bool:
    """Whether (x, y) lies clear of the synthetic video's moving red square."""
    return not (index % SIZE[0] - 4 <= x <= index % SIZE[0] + 12 and 1 <= y <= 17)


def _far(points: np.ndarray, others: np.ndarray, distance: float) -> np.ndarray:
    """Which ``points`` lie farther than ``distance`` from every one of ``others``."""
    if len(others) == 0:
        return np.ones(len(points), bool)
    d = np.linalg.norm(points[:, None] - others[None], axis=-1)
    return (d > distance).all(axis=1)


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.rint(255 * np.asarray(rgb)[..., 2::-1]).astype(int)


def test_every_detection_is_drawn_in_its_body_parts_colour(birds: tuple[Path, Path]) -> None:
    """DLC's rule: each candidate with confidence >= pcutoff (0.6) a disc of radius
    dotsize (12) in its body part's colour of the config's colormap (rainbow over the five
    parts); detections under the cutoff and the rest of the frame untouched."""
    config, video = birds
    (out,) = dlcflow.create_video_with_all_detections(config, [video])
    assert out == video.with_name(f"montblanc{SCORER}_full.mp4")
    count, size, frames = _frames(out, CHECKED)
    assert (count, size) == (NFRAMES, SIZE)
    colours = _bgr(matplotlib.colormaps["rainbow"](np.linspace(0, 1, len(PARTS)))[:, :3])
    with (FIXTURES / "montblanc_full.pickle").open("rb") as fh:
        full = pickle.load(fh)
    checked = {"coloured": 0, "under cutoff": 0, "far": 0}
    rng = np.random.default_rng(0)
    for index, img in frames.items():
        frame = full[f"frame{index:03d}"]
        xy = np.concatenate(frame["coordinates"][0])
        part = np.concatenate([np.full(len(c), j) for j, c in enumerate(frame["confidence"])])
        conf = np.concatenate(frame["confidence"]).ravel()
        drawn = conf >= 0.6
        grey = (5 * index) % 256
        for k in np.flatnonzero(drawn):  # discs clear of other parts' discs: their colour
            rivals = xy[drawn & (part != part[k])]
            if not _far(xy[k : k + 1], rivals, 2 * 12 + 3)[0]:
                continue
            x, y = np.rint(xy[k]).astype(int)
            assert np.abs(img[y, x] - colours[part[k]]).max() <= 40, (index, k)
            checked["coloured"] += 1
        for k in np.flatnonzero(~drawn):  # under the cutoff, away from drawn discs: frame
            x, y = np.rint(xy[k]).astype(int)
            if _far(xy[k : k + 1], xy[drawn], 12 + 4)[0] and _background(index, x, y):
                assert np.abs(img[y, x] - grey).max() <= 12, (index, k)
                checked["under cutoff"] += 1
        sample = rng.uniform((0, 0), (SIZE[0] - 1, SIZE[1] - 1), (400, 2))
        for x, y in np.rint(sample[_far(sample, xy[drawn], 12 + 4)]).astype(int):
            if _background(index, x, y):
                assert np.abs(img[y, x] - grey).max() <= 12, (index, x, y)
                checked["far"] += 1
    assert checked["coloured"] >= 20 and checked["under cutoff"] >= 3 and checked["far"] >= 900
    assert list_videos(video.parent) == [video]  # never analyzed as a video of its own
    # an existing video is kept, as DLC does
    stamp = out.stat().st_mtime_ns
    assert dlcflow.create_video_with_all_detections(config, [video]) == [out]
    assert out.stat().st_mtime_ns == stamp


def test_displayed_parts_and_confidence_as_opacity(
    birds: tuple[Path, Path], tmp_path: Path
) -> None:
    """``displayedbodyparts=["center"]``, ``confidence_to_alpha=True``, ``destfolder``:
    the detections read from and the video written to ``destfolder``; only the centre's
    detections drawn, in the colormap's one colour, blended with opacity = confidence."""
    config, video = birds
    shutil.copy(FIXTURES / "montblanc_full.pickle", tmp_path / f"montblanc{SCORER}_full.pickle")
    (out,) = dlcflow.create_video_with_all_detections(
        config,
        [video],
        displayedbodyparts=["center"],
        destfolder=tmp_path,
        confidence_to_alpha=True,
    )
    assert out == tmp_path / f"montblanc{SCORER}_full.mp4"
    with (FIXTURES / "montblanc_full.pickle").open("rb") as fh:
        full = pickle.load(fh)

    def partial(i: int) -> bool:  # a centre neither hidden nor opaque
        conf = full[f"frame{i:03d}"]["confidence"][4]
        return bool(((conf >= 0.6) & (conf < 0.95)).any())

    count, _, frames = _frames(out, tuple(i for i in range(NFRAMES) if partial(i)))
    assert count == NFRAMES
    colour = _bgr(matplotlib.colormaps["rainbow"](0.0)[:3])
    blended = untouched = 0
    for index, img in frames.items():
        frame = full[f"frame{index:03d}"]
        grey = (5 * index) % 256
        centres = frame["coordinates"][0][4]
        conf = frame["confidence"][4].ravel()
        for (x, y), c in zip(np.rint(centres).astype(int), conf, strict=True):
            if c >= 0.6 and _background(index, x, y):
                expected = grey * (1 - c) + colour * c
                assert np.abs(img[y, x] - expected).max() <= 25, (index, c)
                blended += int(c < 0.95)
        drawn = centres[conf >= 0.6]
        heads = frame["coordinates"][0][0][frame["confidence"][0].ravel() >= 0.6]
        for x, y in np.rint(heads[_far(heads, drawn, 12 + 4)]).astype(int):
            if _background(index, x, y):
                assert np.abs(img[y, x] - grey).max() <= 12, index
                untouched += 1
    assert blended >= 4 and untouched >= 10


def test_tracklets_are_drawn_one_colour_each(birds: tuple[Path, Path], capsys) -> None:
    """``dlcflow tracklets-video``: DLC's name (``<video without ext>/<stem>DLClabeled.mp4``),
    each tracklet's points over pcutoff in a colour of its own, the rest untouched."""
    _, video = birds
    tracklets = FIXTURES / "montblanc_tracklets.pickle"
    assert main(["tracklets-video", str(video), str(tracklets)]) == 0
    out = video.parent / "montblanc" / "montblancDLClabeled.mp4"
    assert capsys.readouterr().out.strip() == str(out)
    assert list_videos(out) == []  # a derived video, never analyzed
    count, size, frames = _frames(out, CHECKED)
    assert (count, size) == (NFRAMES, SIZE)
    with tracklets.open("rb") as fh:
        data = pickle.load(fh)
    ids = sorted(k for k in data if k not in ("header", "single"))
    seen_colours = 0
    for index, img in frames.items():
        points = {}
        for k in ids:
            arr = data[k].get(f"frame{index:03d}")
            if arr is not None:
                points[k] = arr[arr[:, 2] > 0.6, :2]
        if index in data["single"]:
            arr = data["single"][index]
            points["single"] = arr[arr[:, 2] > 0.6, :2]
        every = np.concatenate(list(points.values()))
        colour = {}
        for k, xy in points.items():
            others = np.concatenate([v for j, v in points.items() if j != k] or [np.zeros((0, 2))])
            clear = xy[_far(xy, others, 2 * 4 + 3)]
            found = [img[y, x] for x, y in np.rint(clear).astype(int)]
            if found:
                colour[k] = np.median(found, axis=0)
                spread = np.abs(np.array(found) - colour[k]).max()
                assert spread <= 40, (index, k)  # one colour per tracklet
                assert np.abs(colour[k] - (5 * index) % 256).max() > 60, (index, k)
        names = list(colour)
        for a in range(len(names)):
            for b in range(a + 1, len(names)):
                assert np.abs(colour[names[a]] - colour[names[b]]).max() > 40, (index, names)
        seen_colours = max(seen_colours, len(colour))
        rng = np.random.default_rng(index)
        sample = rng.uniform((0, 0), (SIZE[0] - 1, SIZE[1] - 1), (300, 2))
        for x, y in np.rint(sample[_far(sample, every, 4 + 4)]).astype(int):
            if _background(index, x, y):
                assert np.abs(img[y, x] - (5 * index) % 256).max() <= 12
    assert seen_colours >= 4  # three birds' tracklets and the centre


def test_bad_input_is_one_line_naming_the_file(
    birds: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    """A pickle of the other kind, a video of another frame count or of a smaller size:
    one line naming the file, no video written."""
    config, video = birds
    full = video.with_name(f"montblanc{SCORER}_full.pickle")
    tracklets = FIXTURES / "montblanc_tracklets.pickle"
    out = tmp_path / "out.mp4"
    with pytest.raises(ValueError, match="not a DLC _full.pickle") as err:
        detections_video_file(config, video, tracklets, out)
    assert str(tracklets) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="not a tracklet id") as err:
        dlcflow.create_video_from_pickled_tracks(video, full, tmp_path, "out.mp4")
    assert str(full) in str(err.value)
    short = write_video(tmp_path / "short.mp4", nframes=30, size=SIZE)
    with pytest.raises(ValueError, match="holds 180 frames, but the video") as err:
        detections_video_file(config, short, full, out)
    assert str(full) in str(err.value) and str(short) in str(err.value)
    small = write_video(tmp_path / "small.mp4", nframes=NFRAMES, size=(640, 480))
    with pytest.raises(ValueError, match="outside the 640x480 frames") as err:
        dlcflow.create_video_from_pickled_tracks(small, tracklets, tmp_path, "out.mp4")
    assert str(tracklets) in str(err.value) and "\n" not in str(err.value)
    assert main(["tracklets-video", str(short), str(tracklets), "--destfolder", str(tmp_path)])
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert str(tracklets) in line and "frame 179" in line
    args = ["detections-video", str(config), str(video), "--destfolder", str(tmp_path)]
    assert main(args) == 1  # no detections there
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"no montblancDLC*_full.pickle of {video}" in line
    assert not out.exists() and not list(tmp_path.glob("*DLClabeled*"))
    written = {p.name for p in tmp_path.iterdir() if p.suffix == ".mp4"}  # temp files too
    assert written == {"short.mp4", "small.mp4"}


@pytest.mark.workflow
def test_snakemake_targets_on_a_trained_project(tmp_path: Path) -> None:
    """``snakemake detection_videos tracklet_videos`` on a tiny project: training, detection,
    assembly and tracking run as rules, then the two videos with DLC's names; a
    single-animal project asking for them gets one line (the targets' error)."""
    video = write_video(tmp_path / "arena.mp4", nframes=8, size=(96, 80))
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
    names = [f"img{i}.png" for i in range(4)]
    df = labels.empty_annotations(project, names, video="arena")
    rng = np.random.default_rng(0)
    for r, name in enumerate(names):
        cv2.imwrite(str(project.labeled_folder("arena") / name), np.full((80, 96, 3), 40, np.uint8))
        df.iloc[r] = rng.uniform(10, 70, df.shape[1])
    labels.write_annotations(df, project.collected_data("arena"))
    small = (
        "net_type=mobilenet_v2_0.35",
        "init_weights=none",
        "train={maxiters: 2, saveiters: 2, displayiters: 1}",
        "pose_cfg={crop_size: [64, 64], batch_size: 2}",
        "analyze={engine: tensorflow}",  # no ONNX export
    )
    run = snakemake("detection_videos", "tracklet_videos", "--config", f"project={config}", *small)
    assert run.returncode == 0, run.stderr[-3000:]
    for rule in ("detect_video", "track_assemblies", "detections_video", "tracklets_video"):
        assert f"rule {rule}:" in run.stdout + run.stderr
    videos = config.parent / "videos"
    scorer = "DLC_mobnet_35_group" + project.date + "shuffle1_2"
    for out in (videos / f"arena{scorer}_full.mp4", videos / "arena" / "arenaDLClabeled.mp4"):
        count, size, _ = _frames(out, ())
        assert (count, size) == (8, (96, 80)), out

    single = Project(create_new_project("one", "me", [video], working_directory=tmp_path / "s"))
    workflow = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    st = settings({**workflow, "project": str(single.config_path)})
    for stage in ("detection_videos", "tracklet_videos"):
        with pytest.raises(ValueError, match="videos are for multi-animal projects") as err:
            stage_targets(single, stage, st)
        assert str(single.config_path) in str(err.value) and "\n" not in str(err.value)
