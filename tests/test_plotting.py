"""dlcflow.plots.labels: check_labels images drawn with OpenCV."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pandas as pd
import pytest

from dlcflow.core.draw import PlotError, colors_bgr
from dlcflow.devtools import demo
from dlcflow.io.labels import row_index, write_annotations
from dlcflow.io.tables import pose_columns
from dlcflow.labeling.frames import extract_frames
from dlcflow.plots.labels import check_labels, plot_labeled_folder
from dlcflow.project.config import read_config, write_config
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import Project

ALPHA = 0.7


def _bgr(name: str, n: int, i: int) -> np.ndarray:
    """Colour i of n of a matplotlib colormap, independently of dlcflow (BGR floats)."""
    r, g, b, _ = matplotlib.colormaps[name].resampled(n)(i)
    return 255 * np.array([b, g, r])


def _set_config(config: Path, **values: object) -> None:
    cfg = read_config(config)
    for key, value in values.items():
        cfg[key] = value
    write_config(config, cfg)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A demo project with 5 frames of one video, labeled by the oracle, then relabeled at
    integer positions (row 0: all parts; row 1: snout only; row 2: nothing)."""
    config = demo.make_demo_project(tmp_path, n_videos=1, nframes=30, numframes2pick=5)
    extract_frames(config, algo="uniform")
    demo.oracle_label(config, "mouse1")
    proj = Project(config)
    df = pd.read_hdf(proj.collected_data("mouse1"))
    values = np.full(df.shape, np.nan)
    values[0] = [60, 50, 200, 60, 120, 180, 250, 200]
    values[1, :2] = [100, 100]
    for row in range(3, len(df)):
        values[row] = [40, 40, 80, 40, 120, 40, 160, 40]
    write_annotations(
        pd.DataFrame(values, index=df.index, columns=df.columns), proj.collected_data("mouse1")
    )
    return config


def _images(config: Path) -> tuple[Project, pd.DataFrame, list[tuple[np.ndarray, np.ndarray]]]:
    proj = Project(config)
    df = pd.read_hdf(proj.collected_data("mouse1"))
    pairs = []
    for row in df.index:
        src = cv2.imread(str(proj.labeled_folder("mouse1") / row[2]))
        out = cv2.imread(
            str(proj.check_labels_folder("mouse1") / row[2].replace(".png", "_bodypart.png"))
        )
        pairs.append((src, out))
    return proj, df, pairs


def test_check_labels_writes_one_image_per_labeled_frame(project: Path) -> None:
    written = check_labels(project)
    proj = Project(project)
    assert written == [proj.check_labels_folder("mouse1")]
    df = pd.read_hdf(proj.collected_data("mouse1"))
    names = sorted(p.name for p in written[0].iterdir())
    assert names == sorted(r[2].replace(".png", "_bodypart.png") for r in df.index)
    for src, out in _images(project)[2]:
        assert out is not None and out.shape == src.shape
    assert not [p for p in proj.labeled_data_dir.iterdir() if p.name.startswith(".")]


def test_markers_have_the_colormap_colour_of_their_body_part(project: Path) -> None:
    check_labels(project, draw_skeleton=False)
    _, df, pairs = _images(project)
    src, out = pairs[0]
    xy = df.iloc[0].to_numpy().reshape(-1, 2).astype(int)
    for i, (x, y) in enumerate(xy):
        expected = src[y, x] * (1 - ALPHA) + _bgr("rainbow", 4, i) * ALPHA
        assert np.abs(out[y, x] - expected).max() <= 3, (i, out[y, x], expected)
        # the '+' arms: 4 px left/right and up/down of the point, not the diagonal
        assert np.abs(out[y, x + 3].astype(int) - src[y, x + 3]).max() > 20
        assert np.abs(out[y + 3, x].astype(int) - src[y + 3, x]).max() > 20
        assert np.array_equal(out[y + 3, x + 3], src[y + 3, x + 3])


def test_unlabeled_parts_draw_nothing(project: Path) -> None:
    check_labels(project)  # skeleton on: a bone needs both ends labeled
    _, _, pairs = _images(project)
    src, out = pairs[1]  # only the snout, at (100, 100)
    changed = np.argwhere(np.abs(out.astype(int) - src).max(-1) > 0)
    assert len(changed)
    assert np.abs(changed - [100, 100]).max() <= 6  # within the marker (8.3 px across)
    src, out = pairs[2]  # nothing labeled
    assert np.array_equal(out, src)


def test_skeleton_lines_are_drawn_between_labeled_parts(project: Path) -> None:
    _set_config(project, skeleton=[["snout", "tailbase"]], skeleton_color="black")
    check_labels(project)
    _, _, pairs = _images(project)
    src, out = pairs[3]  # snout (40, 40), tailbase (160, 40)
    for x in (70, 100, 130):
        assert np.abs(out[40, x] - src[40, x] * (1 - ALPHA)).max() <= 3
    assert np.array_equal(out[50, 100], src[50, 100])
    check_labels(project, draw_skeleton=False)
    _, _, pairs = _images(project)
    assert np.array_equal(pairs[3][1][40, 100], pairs[3][0][40, 100])


def test_check_labels_replaces_the_old_folder_and_scales(project: Path) -> None:
    proj = Project(project)
    folder = check_labels(project)[0]
    (folder / "stale.png").write_bytes(b"old")
    check_labels(project, scale=2)
    assert not (folder / "stale.png").exists()
    src, out = _images(project)[2][0]
    assert out.shape == (2 * src.shape[0], 2 * src.shape[1], 3)
    assert not [p for p in proj.labeled_data_dir.iterdir() if p.name.startswith(".")]


def test_check_labels_skips_unlabeled_videos_and_checks_input(project: Path) -> None:
    proj = Project(project)
    proj.collected_data("mouse1").unlink()
    proj.collected_data("mouse1", "csv").unlink()
    with pytest.warns(UserWarning, match="no labels for video 'mouse1'"):
        assert check_labels(project) == []
    with pytest.raises(FileNotFoundError, match="CollectedData_oracle.h5"):
        plot_labeled_folder(proj, "mouse1")


def test_bad_colormap_and_marker_are_one_line_errors(project: Path) -> None:
    with pytest.raises(PlotError, match="marker '#'"):
        check_labels(project, Labels=["#"])
    _set_config(project, colormap="nosuchmap")
    with pytest.raises(PlotError, match="colormap 'nosuchmap'"):
        check_labels(project)
    assert not Project(project).check_labels_folder("mouse1").exists()


def test_colors_follow_dlc_get_cmap() -> None:
    got = colors_bgr(5, "viridis")
    expected = [_bgr("viridis", 5, i) for i in range(5)]
    assert np.abs(np.array(got) - np.array(expected)).max() <= 0.5


def test_multianimal_colours_by_individual_or_body_part(tmp_path: Path) -> None:
    video = demo.make_video(tmp_path / "data" / "pair.mp4", nframes=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = Path(
            create_new_project(
                "pair",
                "me",
                [video],
                tmp_path,
                multianimal=True,
                individuals=["a", "b"],
                bodyparts=["nose", "tail"],
            )
        )
    _set_config(config, uniquebodyparts=["box"], dotsize=6, skeleton=[])
    proj = Project(config)
    frame = cv2.VideoCapture(str(video)).read()[1]
    cv2.imwrite(str(proj.labeled_folder("pair") / "img0.png"), frame)
    columns = pose_columns("me", ["nose", "tail"], ["a", "b"], ["box"])
    points = [(40, 40), (80, 40), (40, 120), (80, 120), (200, 200)]  # a, a, b, b, single
    df = pd.DataFrame(
        [np.ravel(points).astype(float)],
        index=row_index([("labeled-data", "pair", "img0.png")]),
        columns=columns,
    )
    write_annotations(df, proj.collected_data("pair"))

    folder = check_labels(config)[0]
    out = cv2.imread(str(folder / "img0_individual.png"))
    for (x, y), k in zip(points, [0, 0, 1, 1, 2], strict=True):
        expected = frame[y, x] * (1 - ALPHA) + _bgr("rainbow", 3, k) * ALPHA
        assert np.abs(out[y, x] - expected).max() <= 3

    folder = check_labels(config, visualizeindividuals=False)[0]
    assert [p.name for p in folder.iterdir()] == ["img0_bodypart.png"]
    out = cv2.imread(str(folder / "img0_bodypart.png"))
    for (x, y), k in zip(points, [0, 1, 0, 1, 2], strict=True):
        expected = frame[y, x] * (1 - ALPHA) + _bgr("rainbow", 3, k) * ALPHA
        assert np.abs(out[y, x] - expected).max() <= 3
