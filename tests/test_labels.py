"""dlcflow.io.labels: CollectedData I/O in DLC's formats, validation, project merge."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURE

from dlcflow.core import images
from dlcflow.io import labels
from dlcflow.io.labels import LabelError
from dlcflow.io.tables import LIKELIHOOD_COORDS, pose_columns
from dlcflow.labeling import annotations
from dlcflow.project.config import read_config, write_config
from dlcflow.project.paths import Project

FOLDER = FIXTURE / "labeled-data" / "reachingvideo1"
H5 = FOLDER / "CollectedData_Mackenzie.h5"
CSV = FOLDER / "CollectedData_Mackenzie.csv"
BODYPARTS = ["Hand", "Finger1", "Tongue", "Joystick1", "Joystick2"]


def one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def collected(config: Path) -> Path:
    return config.parent / "labeled-data" / "reachingvideo1" / "CollectedData_Mackenzie.h5"


# -- reading -------------------------------------------------------------------------------
def test_fixture_h5_and_csv_read_to_the_same_frame() -> None:
    h5 = labels.read_annotations(H5)
    csv = labels.read_annotations(CSV)
    pd.testing.assert_frame_equal(h5, csv)
    assert h5.shape == (55, 10)
    assert int(h5.isna().to_numpy().sum()) == 84
    assert list(h5.columns.names) == ["scorer", "bodyparts", "coords"]
    assert list(h5.columns.get_level_values("bodyparts").unique()) == BODYPARTS
    assert set(h5.dtypes) == {np.dtype("float64")}
    assert h5.index.nlevels == 3
    assert h5.index[0] == ("labeled-data", "reachingvideo1", "img005.png")
    assert all(type(part) is str for row in h5.index for part in row)
    assert h5.loc[("labeled-data", "reachingvideo1", "img005.png"), ("Mackenzie", "Hand", "x")] == (
        pytest.approx(185.25173502386923)
    )


def test_reads_any_key_and_splits_backslash_paths(tmp_path: Path) -> None:
    ref = labels.read_annotations(H5)
    legacy = ref.copy()
    legacy.index = ["\\".join(row) for row in ref.index]  # written on Windows, old DLC
    path = tmp_path / "CollectedData_Mackenzie.h5"
    legacy.to_hdf(path, key="keypoints", mode="w")
    pd.testing.assert_frame_equal(labels.read_annotations(path), ref)
    legacy.to_hdf(path, key="anything", mode="w")
    pd.testing.assert_frame_equal(labels.read_annotations(path), ref)


def test_reads_three_index_column_csv(tmp_path: Path) -> None:
    ref = labels.read_annotations(H5)
    path = tmp_path / "CollectedData_Mackenzie.csv"
    ref.to_csv(path)
    assert path.read_text().splitlines()[0].startswith("scorer,,,Mackenzie,")
    pd.testing.assert_frame_equal(labels.read_annotations(path), ref)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bad.h5", b"not an hdf5 file at all"),
        ("bad.csv", b"a,b,c\n1,2,3\n"),
        ("bad.txt", b"x"),
    ],
)
def test_unreadable_files_raise_label_error(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LabelError) as err:
        labels.read_annotations(path)
    assert str(path) in one_line(err)


def test_missing_file_raises_label_error(tmp_path: Path) -> None:
    with pytest.raises(LabelError, match="not found"):
        labels.read_annotations(tmp_path / "CollectedData_x.h5")


# -- writing -------------------------------------------------------------------------------
def test_write_roundtrip_has_dlc_structure(tmp_path: Path) -> None:
    ref = labels.read_annotations(H5)
    path = tmp_path / "v" / "CollectedData_Mackenzie.h5"
    labels.write_annotations(ref, path)
    raw = pd.read_hdf(path, key="df_with_missing")
    with pd.HDFStore(path, mode="r") as store:
        assert store.keys() == ["/df_with_missing"]
        assert store.get_storer("df_with_missing").format_type == "fixed"
    assert isinstance(raw.index, pd.MultiIndex) and raw.index.nlevels == 3
    np.testing.assert_array_equal(raw.to_numpy(), ref.to_numpy())
    lines = (tmp_path / "v" / "CollectedData_Mackenzie.csv").read_text().splitlines()
    assert lines[0].split(",")[:5] == ["scorer", "", "", "Mackenzie", "Mackenzie"]
    assert lines[1].split(",")[:5] == ["bodyparts", "", "", "Hand", "Hand"]
    assert lines[2].split(",")[:5] == ["coords", "", "", "x", "y"]
    assert lines[3].startswith("labeled-data,reachingvideo1,img005.png,185.25173502386923,")
    assert len(lines) == 3 + 55
    pd.testing.assert_frame_equal(labels.read_annotations(path), ref)
    pd.testing.assert_frame_equal(labels.read_annotations(path.with_suffix(".csv")), ref)
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "CollectedData_Mackenzie.csv",
        "CollectedData_Mackenzie.h5",
    ]


def test_failed_write_keeps_old_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = labels.read_annotations(H5)
    path = tmp_path / "CollectedData_Mackenzie.h5"
    labels.write_annotations(ref, path)
    before = path.read_bytes(), path.with_suffix(".csv").read_bytes()

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    changed = ref * 2
    with pytest.raises(OSError, match="disk full"):
        labels.write_annotations(changed, path)
    assert (path.read_bytes(), path.with_suffix(".csv").read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "CollectedData_Mackenzie.csv",
        "CollectedData_Mackenzie.h5",
    ]


def test_machine_labels_roundtrip(tmp_path: Path) -> None:
    cols = pose_columns("DLC_resnet50_X", ["a", "b"], coords=LIKELIHOOD_COORDS)
    rows = labels.row_index(
        [("labeled-data", "v", "img07.png"), ("labeled-data", "v", "img11.png")]
    )
    df = pd.DataFrame(np.arange(12, dtype=float).reshape(2, 6), index=rows, columns=cols)
    h5, csv = tmp_path / "machinelabels-iter0.h5", tmp_path / "machinelabels.csv"
    labels.write_machine_labels(df, h5, csv)
    back = labels.read_machine_labels(h5)
    assert list(back.columns.get_level_values("coords")[:3]) == ["x", "y", "likelihood"]
    pd.testing.assert_frame_equal(back, df)
    assert csv.read_text().splitlines()[2].startswith("coords,,,x,y,likelihood")


# -- columns -------------------------------------------------------------------------------
def test_single_animal_columns() -> None:
    cols = pose_columns("me", ["nose", "tail"])
    assert list(cols.names) == ["scorer", "bodyparts", "coords"]
    assert list(cols) == [
        ("me", "nose", "x"),
        ("me", "nose", "y"),
        ("me", "tail", "x"),
        ("me", "tail", "y"),
    ]


def test_multi_animal_columns_put_unique_parts_last_under_single() -> None:
    cols = pose_columns("me", ["nose", "tail"], ["m1", "m2"], ["led"])
    assert list(cols.names) == ["scorer", "individuals", "bodyparts", "coords"]
    assert len(cols) == 2 * 2 * 2 + 2
    assert list(cols[:4]) == [
        ("me", "m1", "nose", "x"),
        ("me", "m1", "nose", "y"),
        ("me", "m1", "tail", "x"),
        ("me", "m1", "tail", "y"),
    ]
    assert cols[4] == ("me", "m2", "nose", "x")
    assert list(cols[-2:]) == [("me", "single", "led", "x"), ("me", "single", "led", "y")]


def test_empty_annotations_for_project(reaching_project: Path) -> None:
    project = Project(reaching_project)
    df = labels.empty_annotations(project, ["labeled-data/v1/img1.png", "img2.png"], video="v1")
    assert list(df.index) == [
        ("labeled-data", "v1", "img1.png"),
        ("labeled-data", "v1", "img2.png"),
    ]
    assert df.shape == (2, 10) and df.isna().all().all()
    assert list(df.columns.get_level_values("bodyparts").unique()) == BODYPARTS
    assert df.columns[0] == ("Mackenzie", "Hand", "x")


# -- validation ----------------------------------------------------------------------------
def test_png_sizes_of_fixture() -> None:
    assert images.png_size(FOLDER / "img005.png") == (832, 747)
    assert images.png_shape(FOLDER / "img005.png") == (3, 747, 832)
    sizes = [images.png_size(p) for p in FOLDER.glob("*.png")]
    assert sizes.count((832, 747)) == 40 and sizes.count((640, 470)) == 15


def test_fixture_passes_validation_with_image_sizes(reaching_project: Path) -> None:
    project = Project(reaching_project)
    df = labels.read_annotations(H5)
    sizes = annotations.image_sizes(project, df.index)
    assert len(sizes) == 55
    annotations.validate_annotations(df, project, H5, sizes)  # no error


def test_unknown_body_part_is_named(reaching_project: Path) -> None:
    df = labels.read_annotations(H5)
    df.columns = df.columns.set_levels(["Hand", "Finger1", "Tongue", "Joystick1", "Paw"], level=1)
    with pytest.raises(LabelError) as err:
        annotations.validate_annotations(df, Project(reaching_project), H5)
    msg = one_line(err)
    assert str(H5) in msg and "'Paw'" in msg


def test_duplicate_rows_are_named(reaching_project: Path) -> None:
    df = labels.read_annotations(H5)
    df = pd.concat([df, df.iloc[[3]]])
    with pytest.raises(LabelError) as err:
        annotations.validate_annotations(df, Project(reaching_project), H5)
    msg = one_line(err)
    assert str(H5) in msg and "labeled-data/reachingvideo1/" + df.index[3][2] in msg


def test_outside_point_errors_or_warns(reaching_project: Path) -> None:
    project = Project(reaching_project)
    df = labels.read_annotations(H5)
    row = ("labeled-data", "reachingvideo1", "img005.png")
    df.loc[row, ("Mackenzie", "Tongue", "x")] = 900.0  # image is 832 wide
    df.loc[row, ("Mackenzie", "Tongue", "y")] = 10.0
    sizes = annotations.image_sizes(project, df.index)
    with pytest.raises(LabelError) as err:
        annotations.validate_annotations(df, project, H5, sizes)
    msg = one_line(err)
    assert str(H5) in msg and "Tongue" in msg and "img005.png" in msg and "832x747" in msg
    with pytest.warns(UserWarning, match="outside"):
        annotations.validate_annotations(df, project, H5, sizes, outside="warn")


def test_multi_animal_columns_rejected_for_single_animal_project(reaching_project: Path) -> None:
    cols = pose_columns("Mackenzie", ["Hand"], ["m1"])
    df = pd.DataFrame(np.ones((1, 2)), index=labels.row_index([("labeled-data", "v", "a.png")]))
    df.columns = cols
    with pytest.raises(LabelError, match="column levels") as err:
        annotations.validate_annotations(df, Project(reaching_project), "f.h5")
    one_line(err)


# -- project merge -------------------------------------------------------------------------
def test_load_project_annotations_follows_config_order(reaching_project: Path) -> None:
    cfg = read_config(reaching_project)
    cfg["bodyparts"] = ["Joystick2", "Hand", "Finger1", "Tongue", "Joystick1", "Elbow"]
    write_config(reaching_project, cfg)
    df = annotations.load_project_annotations(Project(reaching_project))
    assert list(df.columns.get_level_values("bodyparts").unique()) == cfg["bodyparts"]
    assert df.xs("Elbow", level="bodyparts", axis=1).isna().all().all()
    ref = labels.read_annotations(H5)
    pd.testing.assert_series_equal(
        df[("Mackenzie", "Joystick2", "x")], ref[("Mackenzie", "Joystick2", "x")]
    )


def test_load_project_annotations_merges_folders_sorted(reaching_project: Path) -> None:
    src = reaching_project.parent / "labeled-data" / "reachingvideo1"
    other = reaching_project.parent / "labeled-data" / "another"
    other.mkdir()
    part = labels.read_annotations(H5).iloc[:4]
    part.index = labels.row_index(("labeled-data", "another", r[2]) for r in part.index)
    labels.write_annotations(part, other / "CollectedData_Mackenzie.h5")
    for name in {r[2] for r in part.index}:
        shutil.copy(src / name, other / name)
    df = annotations.load_project_annotations(Project(reaching_project))
    assert df.shape == (59, 10)
    assert df.index[0][1] == "another" and df.index.is_monotonic_increasing


def test_load_project_annotations_rejects_unknown_body_part(reaching_project: Path) -> None:
    cfg = read_config(reaching_project)
    cfg["bodyparts"] = ["Hand", "Finger1", "Tongue", "Joystick1"]
    write_config(reaching_project, cfg)
    with pytest.raises(LabelError) as err:
        annotations.load_project_annotations(Project(reaching_project))
    msg = one_line(err)
    assert "'Joystick2'" in msg and "CollectedData_Mackenzie.h5" in msg


def test_other_scorer_is_skipped_with_warning(reaching_project: Path) -> None:
    path = collected(reaching_project)
    df = labels.read_annotations(path)
    df.columns = df.columns.set_levels(["Someone"], level=0)
    labels.write_annotations(df, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        merged = annotations.load_project_annotations(Project(reaching_project))
    assert merged.empty
    assert any("'Someone'" in str(w.message) for w in caught)
