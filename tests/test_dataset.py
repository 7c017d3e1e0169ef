"""dlcflow.training.dataset: DLC 2.3 training datasets built from the real reaching project."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import scipy.io as sio
import yaml
from conftest import write_video

from dlcflow.core import images
from dlcflow.io import labels
from dlcflow.labeling import annotations
from dlcflow.project import posecfg
from dlcflow.project.config import read_config, write_config
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import Project
from dlcflow.training.dataset import (
    DatasetError,
    create_training_dataset,
    create_training_dataset_from_existing_split,
    read_documentation,
    split_indices,
)

N = 55  # labeled frames in the fixture


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def dlc_mat_entries(path: Path) -> list[tuple[tuple[str, ...], np.ndarray, np.ndarray]]:
    """Read a .mat the way DLC's pose_imgaug loader does: (path parts, size, joints)."""
    mlab = sio.loadmat(path)["dataset"]
    out = []
    for i in range(mlab.shape[1]):
        sample = mlab[0, i]
        parts = tuple(s.strip() for s in sample[0][0])
        out.append((parts, sample[1][0], sample[2][0][0]))
    return out


@pytest.fixture
def built(reaching_project: Path) -> tuple[Project, list]:
    splits = create_training_dataset(reaching_project, init_weights="none")
    return Project(reaching_project), splits


def test_split_is_a_partition_with_int_n_fraction_training_rows(built) -> None:
    project, splits = built
    assert len(splits) == 1
    fraction, shuffle, train, test = splits[0]
    assert (fraction, shuffle) == (0.95, 1)
    assert len(train) == int(N * 0.95) == 52 and len(test) == 3
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(N))
    data, dtrain, dtest, dfraction = read_documentation(project.documentation_file(0.95, 1))
    np.testing.assert_array_equal(dtrain, train)
    np.testing.assert_array_equal(dtest, test)
    assert dfraction == 0.95
    with open(project.documentation_file(0.95, 1), "rb") as fh:
        assert len(pickle.load(fh)) == 4


def test_each_split_is_reported_with_its_files(
    reaching_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What create_training_dataset prints is the split it wrote, and where it went."""
    create_training_dataset(reaching_project, Shuffles=[1, 2], init_weights="none")
    project = Project(reaching_project)
    err = capsys.readouterr().err
    assert f"{project.root}: {N} labeled frames from 1 labeled-data folder -> " in err
    pattern = r"shuffle (\d+), trainFraction ([\d.]+): (\d+) train / (\d+) test frames -> (\S+)"
    reported = re.findall(pattern, err)
    assert [(int(s), float(f)) for s, f, *_ in reported] == [(1, 0.95), (2, 0.95)]
    for shuffle, fraction, n_train, n_test, target in reported:
        shuffle, fraction = int(shuffle), float(fraction)
        _, train, test, _ = read_documentation(project.documentation_file(fraction, shuffle))
        assert (int(n_train), int(n_test)) == (len(train), len(test))
        assert project.root / target == project.dataset_file(fraction, shuffle)
        assert len(dlc_mat_entries(project.root / target)) == len(train)
        for path in (
            project.documentation_file(fraction, shuffle),
            project.pose_cfg(fraction, shuffle, "train"),
            project.pose_cfg(fraction, shuffle, "test"),
        ):
            assert path.relative_to(project.root).as_posix() in err
    assert "\r" not in err


def test_collected_data_copy_is_sorted_merge(built) -> None:
    project, _ = built
    copy = labels.read_annotations(project.training_collected_data())
    ref = labels.read_annotations(project.collected_data("reachingvideo1")).sort_index()
    pd.testing.assert_frame_equal(copy, ref)
    with pd.HDFStore(project.training_collected_data(), mode="r") as store:
        assert store.get_storer("df_with_missing").format_type == "fixed"
    assert project.training_collected_data("csv").is_file()


def test_mat_has_dlc_structure_and_matches_annotations(built) -> None:
    project, splits = built
    _, _, train, _ = splits[0]
    data = labels.read_annotations(project.training_collected_data())
    entries = dlc_mat_entries(project.dataset_file(0.95, 1))
    raw = sio.loadmat(project.dataset_file(0.95, 1))["dataset"]
    assert raw.dtype.names == ("image", "size", "joints")
    expected_rows = [data.index[i] for i in train if data.iloc[i].notna().any()]
    assert [e[0] for e in entries] == expected_rows
    for parts, size, joints in entries:
        width, height = images.png_size(project.root.joinpath(*parts))
        assert size.tolist() == [3, height, width]
        assert joints.dtype == np.int64 and joints.shape[1] == 3
        xy = data.loc[parts].to_numpy().reshape(5, 2)
        labeled = np.flatnonzero(~np.isnan(xy).any(axis=1))
        assert joints[:, 0].tolist() == labeled.tolist()
        np.testing.assert_array_equal(joints[:, 1:], np.trunc(xy[labeled]).astype(np.int64))


def test_documentation_keeps_float_coordinates(built) -> None:
    project, splits = built
    data = labels.read_annotations(project.training_collected_data())
    records, _, _, _ = read_documentation(project.documentation_file(0.95, 1))
    assert len(records) == len(dlc_mat_entries(project.dataset_file(0.95, 1)))
    rec = records[0]
    assert set(rec) == {"image", "size", "joints"}
    xy = data.loc[rec["image"]].to_numpy().reshape(5, 2)
    ids = rec["joints"][:, 0].astype(int)
    np.testing.assert_array_equal(rec["joints"][:, 1:], xy[ids])
    assert rec["joints"].dtype == np.float64
    assert not np.all(rec["joints"][:, 1:] == np.trunc(rec["joints"][:, 1:]))


def test_train_and_test_pose_cfg(built) -> None:
    project, _ = built
    train = load_yaml(project.pose_cfg(0.95, 1, "train"))
    folder = "training-datasets/iteration-0/UnaugmentedDataSet_ReachingAug30"
    assert train["dataset"] == f"{folder}/Reaching_Mackenzie95shuffle1.mat"
    assert train["metadataset"] == f"{folder}/Documentation_data-Reaching_95shuffle1.pickle"
    assert (project.root / train["dataset"]).is_file()
    assert train["project_path"] == str(project.root)
    assert train["num_joints"] == 5
    assert train["all_joints"] == [[0], [1], [2], [3], [4]]
    assert train["all_joints_names"] == ["Hand", "Finger1", "Tongue", "Joystick1", "Joystick2"]
    assert train["net_type"] == "resnet_50" and train["dataset_type"] == "imgaug"
    assert train["init_weights"] == "none"
    expected = {
        "pos_dist_thresh": 17,
        "global_scale": 0.8,
        "batch_size": 1,
        "location_refinement": True,
        "locref_huber_loss": True,
        "locref_loss_weight": 0.05,
        "locref_stdev": 7.2801,
        "intermediate_supervision": False,
        "stride": 8.0,
        "mean_pixel": [123.68, 116.779, 103.939],
        "optimizer": "sgd",
        "multi_step": [[0.005, 10000], [0.02, 430000], [0.002, 730000], [0.001, 1030000]],
        "display_iters": 1000,
        "save_iters": 50000,
        "max_input_size": 1500,
        "min_input_size": 64,
        "mirror": False,
        "scale_jitter_lo": 0.5,
        "scale_jitter_up": 1.25,
        "rotation": 25,
        "rotratio": 0.4,
        "cropratio": 0.4,
        "apply_prob": 0.5,
        "contrast": {"clahe": True, "claheratio": 0.1, "histeq": True, "histeqratio": 0.1},
    }
    assert {k: train[k] for k in expected} == expected
    assert not {"crop_size", "pre_resize", "max_shift", "crop_sampling"} & set(train)
    test = load_yaml(project.pose_cfg(0.95, 1, "test"))
    assert set(test) == {*posecfg.TEST_KEYS, "scoremap_dir"}
    assert test["scoremap_dir"] == "test"
    assert {k: test[k] for k in posecfg.TEST_KEYS} == {k: train[k] for k in posecfg.TEST_KEYS}


def test_no_temp_files_left(built) -> None:
    project, _ = built
    leftovers = [p for p in project.root.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    assert leftovers == []


def test_truncated_percent_naming(reaching_project: Path) -> None:
    cfg = read_config(reaching_project)
    cfg["TrainingFraction"] = [0.29]
    write_config(reaching_project, cfg)
    ((fraction, shuffle, train, _),) = create_training_dataset(
        reaching_project, init_weights="none"
    )
    project = Project(reaching_project)
    assert fraction == 0.29 and len(train) == int(N * 0.29) == 15
    assert project.dataset_file(0.29, 1).name == "Reaching_Mackenzie28shuffle1.mat"
    assert project.dataset_file(0.29, 1).is_file()
    assert (
        project.documentation_file(0.29, 1).name == "Documentation_data-Reaching_28shuffle1.pickle"
    )
    assert project.pose_cfg(0.29, 1).parent.parent.name == "ReachingAug30-trainset28shuffle1"
    assert project.pose_cfg(0.29, 1).is_file()


def test_shuffle_split_does_not_depend_on_other_shuffles(reaching_project: Path) -> None:
    alone = create_training_dataset(reaching_project, Shuffles=[1], init_weights="none")
    both = create_training_dataset(reaching_project, num_shuffles=2, init_weights="none")
    assert [(f, s) for f, s, _, _ in both] == [(0.95, 1), (0.95, 2)]
    np.testing.assert_array_equal(alone[0][2], both[0][2])
    np.testing.assert_array_equal(alone[0][3], both[0][3])
    assert not np.array_equal(both[0][2], both[1][2])
    train, test = split_indices(N, 0.95, 1)
    np.testing.assert_array_equal(train, alone[0][2])


def test_trainingsetindex_builds_one_fraction(reaching_project: Path) -> None:
    cfg = read_config(reaching_project)
    cfg["TrainingFraction"] = [0.8, 0.95]
    write_config(reaching_project, cfg)
    splits = create_training_dataset(reaching_project, trainingsetindex=1, init_weights="none")
    project = Project(reaching_project)
    assert [(f, s) for f, s, _, _ in splits] == [(0.95, 1)]
    assert not project.pose_cfg(0.8, 1).exists()
    assert project.pose_cfg(0.95, 1).exists()


def test_explicit_indices_override_split(reaching_project: Path) -> None:
    train, test = list(range(0, 44)), list(range(44, 55))
    ((fraction, shuffle, tr, te),) = create_training_dataset(
        reaching_project,
        Shuffles=[4],
        trainIndices=[train],
        testIndices=[test],
        init_weights="none",
    )
    assert (fraction, shuffle) == (0.8, 4)
    assert tr.tolist() == train and te.tolist() == test
    _, dtrain, _, _ = read_documentation(Project(reaching_project).documentation_file(0.8, 4))
    assert dtrain.tolist() == train


def test_from_existing_split_reuses_indices(built) -> None:
    project, splits = built
    new = create_training_dataset_from_existing_split(
        project.config_path,
        from_shuffle=1,
        shuffles=[3],
        net_type="mobilenet_v2_0.35",
        init_weights="none",
        userfeedback=False,
    )
    assert [(f, s) for f, s, _, _ in new] == [(0.95, 3)]
    _, train, test, fraction = read_documentation(project.documentation_file(0.95, 3))
    np.testing.assert_array_equal(train, splits[0][2])
    np.testing.assert_array_equal(test, splits[0][3])
    assert fraction == 0.95
    assert load_yaml(project.pose_cfg(0.95, 3))["net_type"] == "mobilenet_v2_0.35"
    assert load_yaml(project.pose_cfg(0.95, 1))["net_type"] == "resnet_50"
    with pytest.raises(DatasetError, match="shuffle 7"):
        create_training_dataset_from_existing_split(project.config_path, from_shuffle=7)


def test_bad_net_type_is_clear_and_writes_nothing(reaching_project: Path) -> None:
    with pytest.raises(DatasetError) as err:
        create_training_dataset(reaching_project, net_type="resnet_18")
    msg = str(err.value)
    assert "\n" not in msg and "'resnet_18'" in msg and "mobilenet_v2_0.35" in msg
    assert not (reaching_project.parent / "training-datasets" / "iteration-0").exists()


def test_no_labels_says_how_to_label(reaching_project: Path) -> None:
    folder = reaching_project.parent / "labeled-data" / "reachingvideo1"
    for name in ("CollectedData_Mackenzie.h5", "CollectedData_Mackenzie.csv"):
        (folder / name).unlink()
    with pytest.raises(DatasetError) as err:
        create_training_dataset(reaching_project)
    msg = str(err.value)
    assert (
        str(reaching_project.resolve()) in msg
        and f"dlcflow label {reaching_project.resolve()}" in msg
    )


def test_outside_point_warns_and_is_left_out(reaching_project: Path) -> None:
    project = Project(reaching_project)
    path = project.collected_data("reachingvideo1")
    df = labels.read_annotations(path)
    row = ("labeled-data", "reachingvideo1", "img005.png")
    df.loc[row, ("Mackenzie", "Hand", "x")] = 850.0  # image is 832 wide
    labels.write_annotations(df, path)
    with pytest.warns(UserWarning, match="outside"):
        create_training_dataset(
            reaching_project, trainIndices=[list(range(N))], testIndices=[[]], init_weights="none"
        )
    records, _, _, _ = read_documentation(project.documentation_file(1.0, 1))
    (rec,) = [r for r in records if r["image"] == row]
    assert rec["joints"][:, 0].tolist() == [1, 3, 4]  # Hand dropped; Tongue was unlabeled
    (entry,) = [e for e in dlc_mat_entries(project.dataset_file(1.0, 1)) if e[0] == row]
    assert entry[2][:, 0].tolist() == [1, 3, 4]


def test_scalecrop_drops_rotation(reaching_project: Path) -> None:
    create_training_dataset(reaching_project, augmenter_type="scalecrop", init_weights="none")
    train = load_yaml(Project(reaching_project).pose_cfg(0.95, 1))
    assert train["dataset_type"] == "scalecrop"
    assert "rotation" not in train and "rotratio" not in train


# -- multi animal --------------------------------------------------------------------------
@pytest.fixture
def ma_project(tmp_path: Path) -> Path:
    video = write_video(tmp_path / "arena.avi", nframes=5, size=(64, 48))
    config = Path(
        create_new_project(
            "ma",
            "me",
            [video],
            working_directory=tmp_path,
            multianimal=True,
            individuals=["m1", "m2"],
            bodyparts=["nose", "tail"],
        )
    )
    cfg = read_config(config)
    cfg["uniquebodyparts"] = ["led"]
    write_config(config, cfg)
    project = Project(config)
    folder = project.labeled_folder("arena")
    rng = np.random.default_rng(0)
    names = [f"img{i}.png" for i in range(4)]
    for name in names:
        cv2.imwrite(str(folder / name), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    df = labels.empty_annotations(project, names, video="arena")
    values = rng.uniform(2, 40, df.shape)
    values[0, 2:4] = np.nan  # m1 tail unlabeled in img0
    values[1, 4:8] = np.nan  # m2 not labeled in img1
    df.loc[:, :] = values
    labels.write_annotations(df, project.collected_data("arena"))
    return config


def test_multi_animal_pickle_and_configs(ma_project: Path) -> None:
    splits = create_training_dataset(
        ma_project, trainIndices=[[0, 1, 2]], testIndices=[[3]], init_weights="none"
    )
    project = Project(ma_project)
    fraction = splits[0][0]
    assert fraction == 0.75
    target = project.dataset_file(fraction, 1)
    assert target.name == "ma_me75shuffle1.pickle"
    with open(target, "rb") as fh:
        records = pickle.load(fh)
    data = labels.read_annotations(project.training_collected_data()).to_numpy()
    assert [r["image"] for r in records] == [
        ("labeled-data", "arena", f"img{i}.png") for i in range(3)
    ]
    assert records[0]["size"].tolist() == [3, 48, 64]
    rec0, rec1 = records[0]["joints"], records[1]["joints"]
    assert sorted(rec0) == [0, 1, 2] and sorted(rec1) == [0, 2]
    assert rec0[0][:, 0].tolist() == [0]  # m1: nose only
    np.testing.assert_allclose(rec0[0][0, 1:], np.round(data[0, 0:2], 2), atol=1e-4)
    np.testing.assert_allclose(rec0[1][:, 1:], np.round(data[0, 4:8], 2).reshape(2, 2), atol=1e-4)
    assert rec0[2][:, 0].tolist() == [2]  # unique "led": index after nose, tail
    np.testing.assert_allclose(rec0[2][0, 1:], np.round(data[0, 8:10], 2), atol=1e-4)
    train = load_yaml(project.pose_cfg(fraction, 1))
    assert train["dataset"].endswith("ma_me75shuffle1.pickle")
    assert train["net_type"] == "resnet_50" and train["multi_stage"] is True
    assert train["dataset_type"] == "multi-animal-imgaug"
    assert train["all_joints_names"] == ["nose", "tail", "led"] and train["num_joints"] == 3
    assert train["partaffinityfield_graph"] == [[0, 1]] and train["num_limbs"] == 1
    assert train["crop_size"] == [400, 400]
    test = load_yaml(project.pose_cfg(fraction, 1, "test"))
    assert test["nmsradius"] == 5.0 and test["minconfidence"] == 0.01
    assert test["partaffinityfield_graph"] == [[0, 1]]
    inference = load_yaml(project.inference_cfg(fraction, 1))
    assert inference["topktoretain"] == 2 and inference["minimalnumberofconnections"] == 1


def test_multi_animal_annotation_validation(ma_project: Path) -> None:
    project = Project(ma_project)
    path = project.collected_data("arena")
    df = labels.read_annotations(path)
    annotations.validate_annotations(df, project, path)
    assert list(df.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
    assert path.with_suffix(".csv").read_text().splitlines()[1].startswith("individuals,,,m1,")
    pd.testing.assert_frame_equal(labels.read_annotations(path.with_suffix(".csv")), df)
    cols = df.columns.to_frame(index=False)
    cols.loc[cols["individuals"] == "m2", "individuals"] = "m3"
    df.columns = pd.MultiIndex.from_frame(cols)
    with pytest.raises(labels.LabelError, match="'m3'") as err:
        annotations.validate_annotations(df, project, path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_os_replace_used_for_outputs(built, monkeypatch: pytest.MonkeyPatch) -> None:
    project, _ = built
    before = project.dataset_file(0.95, 1).read_bytes()
    calls = []
    real = os.replace

    def fail_on_mat(src, dst):
        calls.append(Path(dst).name)
        if str(dst).endswith(".mat"):
            raise OSError("rename failed")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", fail_on_mat)
    with pytest.raises(OSError, match="rename failed"):
        create_training_dataset(project.config_path, init_weights="none")
    assert project.dataset_file(0.95, 1).read_bytes() == before
    assert "Reaching_Mackenzie95shuffle1.mat" in calls
    assert not [p for p in project.training_set_folder().iterdir() if p.name.startswith(".")]


def test_posecfg_template_values_are_kept(built, tmp_path: Path) -> None:
    project, _ = built
    template = tmp_path / "pose_cfg.yaml"
    cfg = load_yaml(project.pose_cfg(0.95, 1))
    cfg.update(global_scale=0.5, rotation=10)
    template.write_text(yaml.safe_dump(cfg))
    create_training_dataset(
        project.config_path, Shuffles=[2], posecfg_template=template, init_weights="none"
    )
    train = load_yaml(project.pose_cfg(0.95, 2))
    assert (train["global_scale"], train["rotation"]) == (0.5, 10)
    assert train["dataset"].endswith("Reaching_Mackenzie95shuffle2.mat")
    assert load_yaml(project.pose_cfg(0.95, 2, "test"))["global_scale"] == 0.5
    with pytest.raises(DatasetError, match="pose_cfg.yaml file"):
        create_training_dataset(project.config_path, posecfg_template=tmp_path / "other.yaml")


def test_pose_cfg_updates_override_defaults(reaching_project: Path) -> None:
    create_training_dataset(
        reaching_project,
        init_weights="none",
        pose_cfg_updates={"global_scale": 1.0, "contrast": {"clahe": False}, "batch_size": 4},
    )
    project = Project(reaching_project)
    train = yaml.safe_load(project.pose_cfg(0.95, 1, "train").read_text())
    assert train["global_scale"] == 1.0 and train["batch_size"] == 4
    assert train["contrast"]["clahe"] is False and train["contrast"]["histeq"] is True
    test = yaml.safe_load(project.pose_cfg(0.95, 1, "test").read_text())
    assert test["global_scale"] == 1.0
    with pytest.raises(DatasetError, match="'num_joints' is derived"):
        create_training_dataset(reaching_project, pose_cfg_updates={"num_joints": 3})


def test_test_pose_cfg_updates_reach_the_test_pose_cfg_only(reaching_project: Path) -> None:
    create_training_dataset(
        reaching_project,
        init_weights="none",
        pose_cfg_updates={"global_scale": 0.9},
        test_pose_cfg_updates={"global_scale": 1.0, "locref_stdev": 7.0},
    )
    project = Project(reaching_project)
    train = yaml.safe_load(project.pose_cfg(0.95, 1, "train").read_text())
    test = yaml.safe_load(project.pose_cfg(0.95, 1, "test").read_text())
    assert train["global_scale"] == 0.9 and train["locref_stdev"] == 7.2801
    assert test["global_scale"] == 1.0 and test["locref_stdev"] == 7.0
    assert test["all_joints_names"] == train["all_joints_names"]  # the rest as derived
    with pytest.raises(DatasetError, match="test pose_cfg key 'dataset' is derived"):
        create_training_dataset(
            reaching_project, Shuffles=[2], test_pose_cfg_updates={"dataset": "x.mat"}
        )
    assert not project.pose_cfg(0.95, 2, "test").exists()
