"""dlcflow.devtools.mademo: multi-animal synthetic videos, their ground truth, the project."""

from __future__ import annotations

import dataclasses
import itertools
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from videoframes import read_frames

from dlcflow.cli import main
from dlcflow.core.video import video_info
from dlcflow.devtools import demo, mademo
from dlcflow.io.hdf import read_frame
from dlcflow.io.labels import project_columns, read_annotations
from dlcflow.io.tables import pose_columns
from dlcflow.labeling.annotations import image_sizes, load_project_annotations, validate_annotations
from dlcflow.labeling.frames import extract_frames
from dlcflow.project.config import read_config, write_config
from dlcflow.project.paths import Project, frame_name

SIZE = (240, 180)  # mice about 33 px from snout to tail base
NFRAMES = 75
SEED = 3
PALETTE = {
    **{name: demo.COLORS[name] for name in (*demo.BODYPARTS, "body", "head")},
    "feeder": mademo.FEEDER_COLORS["centre"],
    "feeder_rim": mademo.FEEDER_COLORS["rim"],
}
PALETTE_NAMES = list(PALETTE)
PALETTE_VALUES = np.array(list(PALETTE.values()), float)
N_PARTS = len(demo.BODYPARTS)
DLC_TRACKS = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "fixtures"
    / "dlc-unittest-multianimal"
    / "montblanc_tracks.h5"
)


def _nearest(pixel: np.ndarray) -> str:
    return PALETTE_NAMES[int(np.argmin(((PALETTE_VALUES - pixel) ** 2).sum(1)))]


def _cover(scene: mademo.GroupScene, i: int, animals: list[int], full: bool = False) -> np.ndarray:
    """The union of the silhouettes of ``animals`` in frame ``i`` (bool): every pixel they
    touch, or (``full``) only those they cover entirely."""
    mask = np.zeros((scene.height, scene.width), bool)
    for k in animals:
        drawn = mademo.animal_mask(scene, i, k)
        mask |= drawn == 255 if full else drawn > 0
    return mask


def _above(scene: mademo.GroupScene, i: int, k: int) -> list[int]:
    order = [int(v) for v in scene.order[i]]
    return order[order.index(k) + 1 :]


def _near(mask: np.ndarray, x: float, y: float, r: int) -> bool:
    """Whether ``mask`` has a pixel within ``r`` px of (x, y)."""
    h, w = mask.shape
    xi, yi = int(round(x)), int(round(y))
    return bool(
        mask[max(0, yi - r) : min(h, yi + r + 1), max(0, xi - r) : min(w, xi + r + 1)].any()
    )


@pytest.fixture(scope="module")
def scene() -> mademo.GroupScene:
    return mademo.simulate_group(NFRAMES, 3, SIZE, seed=SEED)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mavideo") / "mice.mp4"
    return mademo.render_multi_animal_video(out, NFRAMES, 3, seed=SEED, size=SIZE)


def test_video_opens_with_the_requested_frames_and_size(video: Path) -> None:
    info = video_info(video)
    assert (info.nframes, info.width, info.height) == (NFRAMES, *SIZE)
    frames = read_frames(video)
    assert len(frames) == NFRAMES and frames[0].shape == (SIZE[1], SIZE[0], 3)
    assert demo.groundtruth_path(video) == video.with_name("mice_groundtruth.h5")


def test_groundtruth_has_four_levels_individuals_and_single(video: Path) -> None:
    gt = demo.read_groundtruth(video)
    assert gt.equals(demo.read_groundtruth(demo.groundtruth_path(video)))
    assert list(gt.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
    individuals = ["mouse1", "mouse2", "mouse3"]
    expected = pose_columns("groundtruth", demo.BODYPARTS, individuals, ["feeder"])
    assert gt.columns.equals(expected)
    assert list(gt.columns.get_level_values("individuals").unique()) == [*individuals, "single"]
    assert list(gt.index) == list(range(NFRAMES))
    assert (gt.dtypes == "float64").all()
    with pd.HDFStore(demo.groundtruth_path(video), mode="r") as store:
        assert store.keys() == ["/df_with_missing"]


def _layout(columns: pd.MultiIndex) -> tuple[list[str], list[tuple[bool, int]], bool]:
    """A 4-level table's shape, names aside: the levels, per individual (in order) whether
    it is ``single`` and how many body parts it has, and whether the columns nest
    individual > body part > coords in DLC's order."""
    inds = list(dict.fromkeys(columns.get_level_values("individuals")))
    parts = {
        ind: list(
            dict.fromkeys(
                columns[columns.get_level_values("individuals") == ind].get_level_values(
                    "bodyparts"
                )
            )
        )
        for ind in inds
    }
    animals = [ind for ind in inds if ind != "single"]
    coords = list(dict.fromkeys(columns.get_level_values("coords")))
    nested = columns.equals(
        pose_columns(columns[0][0], parts[animals[0]], animals, parts.get("single"), coords)
    )
    return list(columns.names), [(ind == "single", len(parts[ind])) for ind in inds], nested


def test_groundtruth_layout_is_dlcs_multi_animal_layout(video: Path) -> None:
    """DLC's own stitched tracks of three birds (4 parts each, unique part ``center``):
    the same levels and nesting, animals first with the same parts each, ``single`` last."""
    if not DLC_TRACKS.is_file():
        pytest.fail(f"fixture missing: {DLC_TRACKS}")
    dlc = read_frame(DLC_TRACKS).columns
    ours = demo.read_groundtruth(video).columns
    assert (
        _layout(ours)
        == _layout(dlc)
        == (
            ["scorer", "individuals", "bodyparts", "coords"],
            [(False, 4), (False, 4), (False, 4), (True, 1)],
            True,
        )
    )


def test_groundtruth_is_the_scene_nan_exactly_where_hidden(
    video: Path, scene: mademo.GroupScene
) -> None:
    gt = demo.read_groundtruth(video)
    animals = gt.drop(columns="single", level="individuals").to_numpy()
    animals = animals.reshape(NFRAMES, 3, N_PARTS, 2)
    assert np.array_equal(np.isnan(animals).any(-1), ~scene.visible)
    assert np.array_equal(np.isnan(animals).all(-1), ~scene.visible)
    shown = scene.visible[..., None]
    assert np.array_equal(animals[shown[..., 0]], scene.keypoints[shown[..., 0]])
    hidden = ~scene.visible
    assert 0 < hidden.sum() < 0.3 * hidden.size  # some points are covered, most are not
    # the unique part never moves: every visible row is the same point
    feeder = gt.xs("single", axis=1, level="individuals").to_numpy()
    seen = ~np.isnan(feeder).any(1)
    assert np.array_equal(seen, scene.feeder_visible) and seen.sum() > NFRAMES // 2
    assert np.all(feeder[seen] == scene.feeder)
    # every position, hidden ones included, stays available in the scene
    every = scene.positions(hidden=True)
    assert not np.isnan(every[:, :, :N_PARTS, :3]).any()
    assert not np.isnan(every[:, :, N_PARTS, 3]).any()


def test_visible_parts_sit_on_pixels_of_their_colour(video: Path, scene: mademo.GroupScene) -> None:
    gt = demo.read_groundtruth(video)
    animals = gt.drop(columns="single", level="individuals").to_numpy()
    animals = animals.reshape(NFRAMES, 3, N_PARTS, 2)
    feeder = gt.xs("single", axis=1, level="individuals").to_numpy()
    checked = {name: 0 for name in PALETTE_NAMES}
    for i, frame in enumerate(read_frames(video)):
        for k in range(3):
            cover = _cover(scene, i, _above(scene, i, k))
            for p, bp in enumerate(demo.BODYPARTS):
                x, y = animals[i, k, p]
                if np.isnan(x) or _near(cover, x, y, 3):
                    continue
                pixel = frame[int(round(y)), int(round(x))]
                assert _nearest(pixel) == bp, (i, k, bp, pixel)
                checked[bp] += 1
        x, y = feeder[i]
        if not np.isnan(x) and not _near(_cover(scene, i, [0, 1, 2]), x, y, 6):
            assert _nearest(frame[int(round(y)), int(round(x))]) == "feeder"
            checked["feeder"] += 1
    assert all(checked[bp] > NFRAMES for bp in demo.BODYPARTS), checked
    assert checked["feeder"] > NFRAMES // 3, checked


def test_hidden_parts_are_painted_over_by_the_animal_above(scene: mademo.GroupScene) -> None:
    """A hidden point deep under an upper mouse shows that mouse, not its own part: the
    frame is the same there with the hidden mouse left out."""
    deep = 0
    for i in range(NFRAMES):
        for k in range(3):
            hidden = np.nonzero(~scene.visible[i, k])[0]
            if not len(hidden):
                continue
            full = mademo.render_group_frame(scene, i, noise=False)
            others = [j for j in range(3) if j != k]
            without = mademo.render_group_frame(scene, i, noise=False, animals=others)
            inner = _cover(scene, i, _above(scene, i, k), full=True)
            for p in hidden:
                x, y = np.round(scene.keypoints[i, k, p]).astype(int)
                if 0 <= x < scene.width and 0 <= y < scene.height and inner[y, x]:
                    assert np.array_equal(full[y, x], without[y, x]), (i, k, p)
                    deep += 1
    assert deep > 10
    # and a visible point is covered by no upper silhouette
    for i in range(0, NFRAMES, 5):
        for k in range(3):
            cover = _cover(scene, i, _above(scene, i, k))
            for p in np.nonzero(scene.visible[i, k])[0]:
                x, y = np.round(scene.keypoints[i, k, p]).astype(int)
                assert not cover[y, x], (i, k, p)


def test_mice_cross_touch_and_stay_in_the_arena() -> None:
    for seed in range(3):
        sc = mademo.simulate_group(150, 3, (320, 240), seed=seed)
        c = sc.center
        pairs = list(itertools.combinations(range(3), 2))
        gap = min(float(np.hypot(*(c[:, j] - c[:, k]).T).min()) for j, k in pairs)
        assert gap < 20.0, seed  # closer than a body's width (20 px): they touch and overlap
        # paths cross: some pair of mice passes through the same spot
        crossing = min(
            float(np.linalg.norm(c[:, None, j] - c[None, :, k], axis=-1).min()) for j, k in pairs
        )
        assert crossing < 2.0, seed
        assert (~sc.visible).any(axis=(1, 2)).sum() > 10  # occlusions in many frames
        xy = sc.keypoints
        assert xy[..., 0].min() > 5 and xy[..., 0].max() < 315
        assert xy[..., 1].min() > 5 and xy[..., 1].max() < 235
        length = np.linalg.norm(xy[:, :, 0] - xy[:, :, 3], axis=-1)  # snout to tail base
        assert length.min() > 38 and length.max() < 62
        assert sc.scales.max() / sc.scales.min() < 1.11  # look-alike: sizes within 10 %
        step = np.linalg.norm(np.diff(c, axis=0), axis=-1)
        assert step.max() < 8 and (step.mean(axis=0) > 0.3).all()  # all move, smoothly


def test_depth_order_changes_only_where_nothing_shows() -> None:
    sc = mademo.simulate_group(300, 3, (320, 240), seed=1)
    assert all(sorted(row) == [0, 1, 2] for row in sc.order.tolist())
    changes = np.nonzero((np.diff(sc.order, axis=0) != 0).any(1))[0] + 1
    assert len(changes) > 0
    for i in changes:
        order = sc.order.copy()
        order[i] = sc.order[i - 1]
        before = dataclasses.replace(sc, order=order)
        assert np.array_equal(
            mademo.render_group_frame(sc, i, noise=False),
            mademo.render_group_frame(before, i, noise=False),
        )


def test_same_seed_same_video_other_seed_other_video(tmp_path: Path, video: Path) -> None:
    again = mademo.render_multi_animal_video(tmp_path / "a" / "m.mp4", NFRAMES, 3, SEED, SIZE)
    other = mademo.render_multi_animal_video(tmp_path / "b" / "m.mp4", NFRAMES, 3, SEED + 1, SIZE)
    assert demo.read_groundtruth(again).equals(demo.read_groundtruth(video))
    assert all(
        np.array_equal(a, b) for a, b in zip(read_frames(again), read_frames(video), strict=True)
    )
    assert not np.allclose(
        demo.read_groundtruth(other).to_numpy(),
        demo.read_groundtruth(video).to_numpy(),
        equal_nan=True,
    )
    assert not [p.name for p in again.parent.iterdir() if p.name.startswith(".")]


def test_errors_name_the_cause() -> None:
    with pytest.raises(demo.DemoError, match="n_animals must be at least 2"):
        mademo.simulate_group(5, 1, SIZE)
    with pytest.raises(demo.DemoError, match="too small"):
        mademo.simulate_group(5, 3, (100, 80))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-video multi-animal demo project (60 frames, 6 extracted) and one held-out video."""
    root = tmp_path_factory.mktemp("maproject")
    config = mademo.make_multi_animal_demo_project(
        root, n_videos=1, nframes=60, numframes2pick=6, seed=1, size=SIZE, n_test_videos=1
    )
    extract_frames(config, algo="uniform")
    return config


def test_make_multi_animal_demo_project_config(project: Path) -> None:
    cfg = read_config(project)
    assert cfg["Task"] == "mademo" and cfg["scorer"] == "oracle"
    assert cfg["multianimalproject"] is True and cfg["identity"] is False
    assert list(cfg["individuals"]) == ["mouse1", "mouse2", "mouse3"]
    assert list(cfg["multianimalbodyparts"]) == list(demo.BODYPARTS)
    assert list(cfg["uniquebodyparts"]) == ["feeder"]
    assert [list(b) for b in cfg["skeleton"]] == demo.SKELETON
    assert cfg["numframes2pick"] == 6
    assert [Path(v).name for v in cfg["video_sets"]] == ["mice1.mp4"]
    assert (project.parent / "videos" / "mice1.mp4").exists()
    assert (project.parent / "videos" / "mice2.mp4").exists()  # held out, not in video_sets
    assert mademo.multi_animal_video_stems(1, 1) == (["mice1"], ["mice2"])


def test_oracle_writes_four_level_labels_equal_to_groundtruth(project: Path) -> None:
    proj = Project(project)
    folder = proj.labeled_folder("mice1")
    gt = demo.read_groundtruth(Path(next(iter(proj.video_sets))))
    # add a frame in which a part is hidden: the oracle leaves it unlabeled
    hidden = int(np.nonzero(gt.isna().any(axis=1).to_numpy())[0][0])
    shutil.copy(next(folder.glob("img*.png")), folder / frame_name(hidden, 60))
    written = demo.oracle_label_project(project)
    assert written == [proj.collected_data("mice1")]
    df = read_annotations(written[0])
    assert df.equals(read_annotations(proj.collected_data("mice1", "csv")))
    assert list(df.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
    assert df.columns.equals(project_columns(proj))
    names = sorted(p.name for p in folder.glob("img*.png"))
    assert list(df.index) == [("labeled-data", "mice1", n) for n in names]
    indices = [int(n[3:-4]) for n in names]
    expected = gt.loc[indices]
    expected.columns = expected.columns.set_levels(["oracle"], level="scorer")
    assert np.array_equal(df.to_numpy(), expected[df.columns].to_numpy(), equal_nan=True)
    assert df.loc[("labeled-data", "mice1", frame_name(hidden, 60))].isna().any()
    assert df.notna().to_numpy().mean() > 0.7
    # the labeling layer accepts them as the project's labels (levels, individuals, sizes)
    validate_annotations(df, proj, written[0], image_sizes(proj, df.index))
    assert load_project_annotations(proj).equals(df)


def test_oracle_refuses_groundtruth_that_does_not_fit(project: Path, tmp_path: Path) -> None:
    single = demo.make_video(tmp_path / "one.mp4", nframes=60, size=(160, 120))
    with pytest.raises(demo.DemoError, match="not the ground truth of a multi-animal video"):
        demo.oracle_label(project, "mice1", groundtruth=demo.groundtruth_path(single))
    cfg = read_config(project)
    cfg["individuals"] = ["mouse1", "mouse2", "mouse3", "mouse4"]
    shutil.copytree(project.parent, tmp_path / "proj", symlinks=True)
    other = tmp_path / "proj" / "config.yaml"
    cfg["project_path"] = str(other.parent)
    write_config(other, cfg)
    with pytest.raises(demo.DemoError, match="no ground truth for individual 'mouse4'") as err:
        demo.oracle_label(other, "mice1")
    assert "\n" not in str(err.value)


def test_demo_data_command_renders_multi_animal_videos(tmp_path: Path) -> None:
    argv = ["demo-data", str(tmp_path), "--multianimal", "--animals", "4", "--n-videos", "1"]
    assert main([*argv, "--nframes", "8"]) == 0
    videos = sorted(tmp_path.glob("*.mp4"))
    assert [v.name for v in videos] == ["mice1.mp4"]
    gt = demo.read_groundtruth(videos[0])
    inds = list(gt.columns.get_level_values("individuals").unique())
    assert inds == ["mouse1", "mouse2", "mouse3", "mouse4", "single"]
    assert video_info(videos[0]).nframes == 8
