"""Score maps, location refinement and part affinity fields of tiny trained networks
(dlcflow.inference.maps, dlcflow.plots.maps: DLC's ``extract_save_all_maps``): the images
DLC names, at the frames' size, and maps whose maxima sit on the labels; the `maps`
target; ``refine_frames``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import snakemake_workdir
from test_matrain import BODYPARTS, ma_project  # noqa: F401 (the tiny multi-animal project)

import dlcflow
from dlcflow.inference.maps import extract_maps, to_image
from dlcflow.io.labels import read_annotations
from dlcflow.plots.maps import extract_save_all_maps
from dlcflow.project.paths import Project
from dlcflow.project.posecfg import load_pose_cfg, read_yaml, write_yaml
from dlcflow.training.dataset import read_documentation

REPO = Path(__file__).resolve().parents[1]
ITERATIONS = 200
MA_ITERATIONS = 100


def _train(config: Path, iterations: int) -> None:
    from dlcflow.training.train import train_network

    train_network(
        config,
        maxiters=iterations,
        saveiters=iterations,
        displayiters=100,
        seed=0,
        deterministic=True,
        batch_size=2,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo mouse at 96 x 72: 6 labeled frames, mobilenet_v2_0.35 (no initial
    weights) trained 200 iterations."""
    from dlcflow.devtools.demo import make_demo_project, oracle_label_project
    from dlcflow.labeling.frames import extract_frames
    from dlcflow.training.dataset import create_training_dataset

    root = tmp_path_factory.mktemp("maps")
    config = make_demo_project(root, n_videos=1, nframes=30, numframes2pick=6, size=(96, 72))
    extract_frames(config, algo="uniform")
    oracle_label_project(config)
    create_training_dataset(config, init_weights="none", net_type="mobilenet_v2_0.35")
    _train(config, ITERATIONS)
    return Path(config)


def _peak_distances(maps: dict[int, object], data: pd.DataFrame) -> np.ndarray:
    """Per frame and body part: distance (px) from the maximum of the score map on the
    frame's pixels to the nearest labeled point of that body part."""
    out = []
    for row, frame in maps.items():
        up = to_image(frame.scmap, frame.image.shape[:2], frame.stride)
        labels = data.iloc[row].to_numpy(float).reshape(-1, len(frame.bodyparts), 2)
        dists = []
        for j in range(len(frame.bodyparts)):
            r, c = np.unravel_index(np.argmax(up[..., j]), up.shape[:2])
            d = np.sqrt(((labels[:, j] - (c, r)) ** 2).sum(axis=1))
            dists.append(np.nanmin(d) if np.isfinite(d).any() else np.nan)
        out.append(dists)
    return np.array(out)


# -- arrays ----------------------------------------------------------------------------------
def test_to_image_puts_each_cell_where_decoding_does() -> None:
    cells = np.zeros((6, 8, 2), np.float32)
    cells[2, 5, 0] = 1.0
    cells[4, 1, 1] = 1.0
    up = to_image(cells, (48, 64), stride=8)
    assert up.shape == (48, 64, 2)
    for k, (r, c) in enumerate([(2, 5), (4, 1)]):
        # decoding's position of cell (r, c): index * stride + stride / 2
        assert np.unravel_index(np.argmax(up[..., k]), (48, 64)) == (r * 8 + 4, c * 8 + 4)
        assert up[r * 8 + 4, c * 8 + 4, k] == pytest.approx(1.0)
    vectors = np.full((6, 8, 3, 2), (2.5, -1.0), np.float32)  # locref-like (h, w, J, 2)
    np.testing.assert_allclose(to_image(vectors, (44, 60)), np.full((44, 60, 3, 2), (2.5, -1.0)))


def test_refine_frames_is_refine_labels() -> None:
    from dlcflow.labeler import refine_frames, refine_labels

    assert dlcflow.refine_frames is dlcflow.refine_labels is refine_frames is refine_labels


# -- a trained single-animal model ------------------------------------------------------------
def test_the_maps_target_writes_dlcs_images_at_the_frames_size(trained: Path) -> None:
    project = Project(trained)
    fraction = project.training_fractions[0]
    data = read_annotations(project.training_collected_data())
    _, train_idx, _, _ = read_documentation(project.documentation_file(fraction, 1))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--cores", "2"]
    cmd += ["maps", "--config", f"project={trained}", f"train={{maxiters: {ITERATIONS}}}"]
    run = subprocess.run(cmd, cwd=snakemake_workdir(), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "extract_maps" in run.stderr and "train_network" not in run.stderr
    folder = project.evaluation_maps(fraction, 1)
    snapshot = f"snapshot-{ITERATIONS}"
    expected = set()
    for row, index in enumerate(data.index):
        split = "train" if row in set(train_idx) else "test"
        for kind in ("scmap", "locref"):
            name = Project.map_image_name(index[2], kind, split, 1, fraction, snapshot)
            expected.add(folder / name)
    assert len(expected) == 2 * len(data) and {"train", "test"} <= {
        p.name.split("_")[2] for p in expected
    }
    # no PAF images (single animal), no temp files; Snakemake marks its folder outputs
    assert set(folder.iterdir()) == expected | {folder / ".snakemake_timestamp"}
    frame = cv2.imread(str(project.root.joinpath(*data.index[0])))
    for path in expected:
        image = cv2.imread(str(path))
        assert image is not None and image.shape == frame.shape  # the frame's pixels
        assert not np.array_equal(image, frame)  # the map is drawn over it


def test_single_animal_maps_peak_on_the_labels(trained: Path) -> None:
    project = Project(trained)
    fraction = project.training_fractions[0]
    data = read_annotations(project.training_collected_data())
    maps = extract_maps(trained, shuffle=1)[fraction][f"snapshot-{ITERATIONS}"]
    assert sorted(maps) == list(range(len(data)))
    one = maps[0]
    assert one.scmap.shape == (10, 12, 4)  # stride 8 of the frame padded to 80 x 96
    assert one.locref is not None and one.locref.shape == (10, 12, 4, 2) and one.paf is None
    # trained body parts: each map peaks at its label (a mouse of ~40 px in 96 x 72 px)
    dist = _peak_distances(maps, data)
    assert np.nanmedian(dist) < 12.0, dist.round(1)

    # one body part, two frames, resized by global_scale, into a folder of one's own
    dest = project.root / "mymaps"
    scale = float(load_pose_cfg(project.pose_cfg(fraction, 1, "test"))["global_scale"])
    few = extract_save_all_maps(
        trained, 1, comparisonbodyparts=["snout"], rescale=True, Indices=[1, 3], dest_folder=dest
    )
    assert len(few) == 4 and set(dest.iterdir()) == set(few)
    assert {p.name.split("_")[0] for p in few} == {data.index[1][2], data.index[3][2]}
    size = (round(72 * scale), round(96 * scale), 3)
    assert all(cv2.imread(str(p)).shape == size for p in few)


def test_rows_that_are_not_labeled_frames_are_refused(trained: Path) -> None:
    project = Project(trained)
    dest = project.root / "never"
    with pytest.raises(ValueError) as err:
        extract_save_all_maps(trained, 1, Indices=[0, 99], dest_folder=dest)
    text = str(err.value)
    assert "\n" not in text and str(project.training_collected_data()) in text and "[99]" in text
    assert not dest.exists()


# -- a trained multi-animal model -------------------------------------------------------------
@pytest.fixture(scope="module")
def ma_trained(ma_project: Path) -> Path:  # noqa: F811
    """The three mice of test_matrain trained 100 iterations (learning rate 0.002)."""
    project = Project(ma_project)
    train_cfg = project.pose_cfg(project.training_fractions[0], 1, "train")
    write_yaml(train_cfg, {**read_yaml(train_cfg), "multi_step": [[0.002, 100000]]})
    _train(ma_project, MA_ITERATIONS)
    return ma_project


def test_multi_animal_maps_show_the_parts_and_the_limbs(ma_trained: Path) -> None:
    project = Project(ma_trained)
    fraction = project.training_fractions[0]
    data = read_annotations(project.training_collected_data())
    snapshot = f"snapshot-{MA_ITERATIONS}"
    written = extract_save_all_maps(ma_trained, shuffle=1)
    folder = project.evaluation_maps(fraction, 1)
    kinds = [p.name.split("_")[1] for p in written]
    assert sorted(kinds) == sorted(["scmap", "locref", "paf"] * len(data))
    assert set(folder.iterdir()) == set(written)
    assert (folder / Project.map_image_name("img3.png", "paf", "test", 1, fraction, snapshot)) in (
        set(written)
    )
    assert all(cv2.imread(str(p)).shape == (80, 96, 3) for p in written)

    # one body part, its limbs one image each
    dest = project.root / "nose"
    nose = extract_save_all_maps(
        ma_trained, 1, 0, "nose", all_paf_in_one=False, Indices=[0], dest_folder=dest
    )
    assert sorted(p.name.split("_train_")[0] for p in nose) == [
        "img0.png_locref",
        "img0.png_paf_nose_back",
        "img0.png_paf_nose_tail",
        "img0.png_scmap",
    ]

    maps = extract_maps(ma_trained, shuffle=1)[fraction][snapshot]
    frame = maps[0]
    assert frame.bodyparts == BODYPARTS and frame.paf_graph == [(0, 1), (0, 2), (1, 2)]
    assert frame.scmap.shape == (10, 12, 3) and frame.paf.shape == (10, 12, 3, 2)
    at_labels, medians, cosines = [], [], []
    for row, frame in maps.items():
        up = to_image(frame.scmap, (80, 96), frame.stride)
        paf = to_image(frame.paf, (80, 96), frame.stride)
        animals = data.iloc[row].to_numpy(float).reshape(3, 3, 2)  # individual, part, xy
        for j in range(3):
            at_labels += [up[round(y), round(x), j] for x, y in animals[:, j]]
            medians.append(np.median(up[..., j]))
        for n, (a, b) in enumerate(frame.paf_graph):  # each limb's field along the limb
            for pa, pb in zip(animals[:, a], animals[:, b], strict=True):
                x, y = np.round((pa + pb) / 2).astype(int)
                v, u = paf[y, x, n], (pb - pa) / np.linalg.norm(pb - pa)
                cosines.append(v @ u / (np.linalg.norm(v) + 1e-9))
    assert np.mean(at_labels) > 0.7 and np.median(medians) < 0.2, (at_labels, medians)
    assert np.median(_peak_distances(maps, data)) < 10.0  # 9 mice's parts on 96 x 80 px
    assert np.median(cosines) > 0.5, np.round(cosines, 2)
