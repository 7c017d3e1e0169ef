"""Multi-animal training datasets: DLC's arguments, the PAF graph, and bad configs."""

from __future__ import annotations

import pickle
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest
import yaml
from conftest import MA_FIXTURE
from test_dataset import ma_project  # noqa: F401 (the fixture)

from dlcflow.project.config import read_config, write_config
from dlcflow.project.paths import Project
from dlcflow.training.dataset import DatasetError, create_training_dataset
from dlcflow.training.madataset import create_multianimaltraining_dataset
from dlcflow.training.pafgraph import PafGraphError, complete_graph, paf_graph, prune_graph

PARTS = [f"p{i}" for i in range(15)]


def test_complete_graph_below_the_threshold() -> None:
    assert paf_graph(None, PARTS[:14]) == complete_graph(14)
    assert len(complete_graph(14)) == 91


def test_large_graphs_are_pruned_connected_and_seeded() -> None:
    """15 parts: 105 edges reach the threshold; average degree 6 keeps 45, connected."""
    edges = paf_graph(None, PARTS)
    assert len(edges) == 45 and len(complete_graph(15)) == 105
    graph = nx.Graph([tuple(e) for e in edges])
    assert graph.number_of_nodes() == 15 and nx.is_connected(graph)
    assert all(a < b for a, b in edges)
    assert paf_graph(None, PARTS) == edges  # the same graph every time
    assert prune_graph(complete_graph(15), 6, seed=1) != edges
    assert len(paf_graph(None, PARTS, paf_graph_degree=4)) == 30
    with pytest.raises(PafGraphError, match="needs 14 to 104 edges"):
        prune_graph(complete_graph(15), 1)


def test_skeleton_and_index_graphs_are_validated() -> None:
    multi, unique = ["nose", "ear", "tail"], ["led"]
    skeleton = [["tail", "nose"], ["nose", "ear"]]
    assert paf_graph("config", multi, unique, skeleton) == [[0, 2], [0, 1]]
    assert paf_graph([[2, 1], [0, 1]], multi, unique) == [[1, 2], [0, 1]]
    cases = {
        "'led' is a unique body part": ("config", [["nose", "led"], ["ear", "tail"]]),
        "unknown body part 'paw'": ("config", [["nose", "paw"], ["ear", "tail"]]),
        "3 is the unique body part 'led'": ([[0, 3], [1, 2]], None),
        "no body part 7": ([[0, 7], [1, 2]], None),
        "leaves tail unconnected": ([[0, 1]], None),
        "use None, 'config' or index pairs": ("skeleton", None),
    }
    for message, (graph, skel) in cases.items():
        with pytest.raises(PafGraphError, match=message):
            paf_graph(graph, multi, unique, skel)


def test_dlc_arguments_reach_the_pose_cfg(ma_project: Path) -> None:  # noqa: F811
    splits = create_multianimaltraining_dataset(
        ma_project,
        crop_size=(32, 24),
        crop_sampling="density",
        paf_graph=[[0, 1]],
        trainIndices=[[0, 1, 2]],
        testIndices=[[3]],
        init_weights="none",
    )
    project = Project(ma_project)
    fraction = splits[0][0]
    train = yaml.safe_load(project.pose_cfg(fraction, 1).read_text())
    assert train["crop_size"] == [32, 24] and train["crop_sampling"] == "density"
    assert train["partaffinityfield_graph"] == [[0, 1]] and train["num_limbs"] == 1
    with project.dataset_file(fraction, 1).open("rb") as fh:
        assert len(pickle.load(fh)) == 3
    with pytest.raises(DatasetError, match="crop_sampling 'random'"):
        create_multianimaltraining_dataset(ma_project, crop_sampling="random")
    with pytest.raises(DatasetError, match="crop_size"):
        create_multianimaltraining_dataset(ma_project, crop_size=(400,))
    with pytest.raises(DatasetError, match="paf_graph edge \\[0, 2\\]: 2 is the unique body part"):
        create_multianimaltraining_dataset(ma_project, paf_graph=[[0, 2]], init_weights="none")


def _edit(config: Path, **values: object) -> None:
    cfg = read_config(config)
    for key, value in values.items():
        cfg[key] = value
    write_config(config, cfg)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"individuals": []}, "individuals is empty: a multi-animal project needs one or more"),
        ({"multianimalbodyparts": []}, "multianimalbodyparts is empty \\(only uniquebodyparts"),
        (
            {
                "multianimalbodyparts": [],
                "individuals": [],
                "uniquebodyparts": [],
                "bodyparts": ["Hand", "Finger"],
            },
            "multianimalproject is true but the config lists bodyparts \\(Hand, Finger\\)",
        ),
        ({"individuals": ["m1", "single"]}, "'single' is reserved"),
        ({"uniquebodyparts": ["nose"]}, "body parts listed twice: nose"),
    ],
)
def test_bad_multi_animal_configs(ma_project: Path, values: dict, message: str) -> None:  # noqa: F811
    _edit(ma_project, **values)
    project = Project(ma_project)
    with pytest.raises(DatasetError, match=message) as err:
        create_training_dataset(ma_project, init_weights="none")
    assert str(ma_project) in str(err.value) and "\n" not in str(err.value)
    assert not project.training_set_folder().exists()  # nothing half-written


@pytest.mark.parametrize(
    ("level", "old", "new"), [("individuals", "m2", "m9"), ("bodyparts", "tail", "paw")]
)
def test_labels_naming_unknown_individuals_or_parts(
    ma_project: Path,  # noqa: F811
    level: str,
    old: str,
    new: str,
) -> None:
    from dlcflow.io import labels

    project = Project(ma_project)
    path = project.collected_data("arena")
    df = labels.read_annotations(path)
    cols = df.columns.to_frame(index=False)
    cols.loc[cols[level] == old, level] = new
    df.columns = pd.MultiIndex.from_frame(cols)
    labels.write_annotations(df, path)
    with pytest.raises(ValueError, match=f"'{new}'") as err:
        create_training_dataset(ma_project, init_weights="none")
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert not project.dataset_file(0.95, 1).exists()


def test_a_dlc_multi_animal_project_builds_as_it_is(tmp_path: Path) -> None:
    """DLC's own trimouse config (with its keys of older DLC versions) and a CollectedData
    as DLC writes it (pandas, fixed format, key df_with_missing): the dataset's pose_cfg
    has DLC's body parts, joints and 66-limb graph."""
    import shutil
    import warnings

    import numpy as np

    root = tmp_path / "MultiMouse-Daniel-2019-12-16"
    folder = root / "labeled-data" / "videocompressed0"
    folder.mkdir(parents=True)
    shutil.copy(MA_FIXTURE / "trimouse_config.yaml", root / "config.yaml")
    for name in ("img0001.png", "img0002.png"):
        shutil.copy(MA_FIXTURE / "image.png", folder / name)
    cfg = yaml.safe_load((root / "config.yaml").read_text())
    cols = pd.MultiIndex.from_product(
        [["Daniel"], cfg["individuals"], cfg["multianimalbodyparts"], ["x", "y"]],
        names=["scorer", "individuals", "bodyparts", "coords"],
    )
    rows = pd.MultiIndex.from_tuples(
        [("labeled-data", "videocompressed0", n) for n in ("img0001.png", "img0002.png")]
    )
    values = np.random.default_rng(0).uniform(10, 400, (2, len(cols)))
    pd.DataFrame(values, index=rows, columns=cols).to_hdf(
        folder / "CollectedData_Daniel.h5", key="df_with_missing", mode="w"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no complaint about DLC's own keys
        create_multianimaltraining_dataset(
            root / "config.yaml", init_weights="none", trainIndices=[[0]], testIndices=[[1]]
        )
    project = Project(root / "config.yaml")
    ours = yaml.safe_load(project.pose_cfg(0.5, 1, "test").read_text())
    dlc = yaml.safe_load((MA_FIXTURE / "trimouse_pose_cfg.yaml").read_text())
    for key in ("all_joints_names", "all_joints", "num_joints", "partaffinityfield_graph"):
        assert ours[key] == dlc[key], key
    assert len(ours["partaffinityfield_graph"]) == 66
    assert ours["net_type"] == dlc["net_type"] == "resnet_50"
    with project.dataset_file(0.5, 1).open("rb") as fh:
        (record,) = pickle.load(fh)
    assert sorted(record["joints"]) == [0, 1, 2] and record["size"].tolist() == [3, 480, 640]
