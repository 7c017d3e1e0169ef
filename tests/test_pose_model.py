"""The pose data model and DLC's tables: one conversion each way, checked on DLC's files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dlcflow.data.pose import DIMS, make_poses, point_keys, points_array, with_points
from dlcflow.io.hdf import read_frame
from dlcflow.io.labels import read_annotations
from dlcflow.io.poses import load_poses, read_meta, read_poses, save_poses, write_meta
from dlcflow.io.poses3d import Pose3DFileError, load_poses_3d, save_poses_3d
from dlcflow.io.tables import LIKELIHOOD_COORDS, pose_columns, to_dataset, to_frame
from dlcflow.io.tracks import TRACKS_KEY, load_tracks, read_tracks, save_tracks

SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
TRACKS = SHARED / "dlc-unittest-multianimal" / "montblanc_tracks.h5"
REACHING = SHARED / "dlc-reaching-2018" / "labeled-data" / "reachingvideo1"


def _analysis(nframes: int = 7) -> pd.DataFrame:
    cols = pose_columns(
        "DLC_mobnet_35_demoDec2shuffle1_6", ["snout", "tail"], coords=LIKELIHOOD_COORDS
    )
    values = np.random.default_rng(1).random((nframes, len(cols))) * 100
    values[2, :3] = np.nan
    return pd.DataFrame(values, columns=cols)


def test_dlc_multianimal_tracks_as_a_dataset() -> None:
    """DLC's own stitched tracks: three birds and the unique part under ``single``."""
    df = read_frame(TRACKS)
    ds = to_dataset(df)
    assert ds["position"].dims == DIMS  # movement's names and order
    assert ds["confidence"].dims == ("time", "keypoints", "individuals")
    assert list(ds["individuals"].values) == ["bird1", "bird2", "bird3", "single"]
    assert list(ds["keypoints"].values) == ["head", "tail", "leftwing", "rightwing", "center"]
    assert ds.attrs["unique_keypoints"] == ["center"]
    scorer = df.columns[0][0]
    np.testing.assert_array_equal(
        ds["position"].sel(individuals="bird2", keypoints="tail", space="y").values,
        df[(scorer, "bird2", "tail", "y")].to_numpy(),
    )
    np.testing.assert_array_equal(
        ds["confidence"].sel(individuals="single", keypoints="center").values,
        df[(scorer, "single", "center", "likelihood")].to_numpy(),
    )
    assert np.isnan(ds["position"].sel(individuals="single", keypoints="head").values).all()
    assert np.isnan(ds["position"].sel(individuals="bird1", keypoints="center").values).all()
    assert point_keys(ds)[-1] == ("single", "center") and len(point_keys(ds)) == 13
    pd.testing.assert_frame_equal(to_frame(ds), df, check_index_type=False)


def test_dlc_labels_as_a_dataset() -> None:
    """The reaching project's CollectedData (made by an old DLC): labeled images as time."""
    df = read_annotations(REACHING / "CollectedData_Mackenzie.h5")
    ds = to_dataset(df)
    assert ds.sizes == {"time": 55, "space": 2, "keypoints": 5, "individuals": 1}
    assert not ds.attrs["has_confidence"] and not ds.attrs["multianimal"]
    assert ds["time"].values[0] == "labeled-data/reachingvideo1/img005.png"
    assert int(np.isnan(ds["position"].values).sum()) == 84  # the empty cells of the csv
    back = to_frame(ds)
    pd.testing.assert_frame_equal(back, df)
    assert list(back.columns.get_level_values("coords")[:2]) == ["x", "y"]


def test_analysis_file_round_trip(tmp_path: Path) -> None:
    df = _analysis()
    h5 = tmp_path / "vidDLC_mobnet_35_demoDec2shuffle1_6.h5"
    write_meta(h5, {"fps": 30.0, "nframes": 7})
    save_poses(to_dataset(df), h5, save_as_csv=True)
    pd.testing.assert_frame_equal(pd.read_hdf(h5), df)
    pd.testing.assert_frame_equal(read_poses(h5.with_suffix(".csv")), df, check_exact=False)
    with pd.HDFStore(h5, "r") as store:
        assert store.keys() == ["/df_with_missing"] and store.get_storer("df_with_missing").is_table
    ds = load_poses(h5)
    assert ds.attrs["fps"] == 30.0 and ds.attrs["source_file"] == str(h5)
    assert read_meta(h5)["nframes"] == 7
    xy = points_array(ds)
    assert xy.shape == (7, 2, 2)
    np.testing.assert_array_equal(xy[:, 1, 0], df.iloc[:, 3].to_numpy())
    np.testing.assert_array_equal(points_array(ds, variable="confidence")[:, 0], df.iloc[:, 2])


def test_tracks_written_as_dlc_writes_them(tmp_path: Path) -> None:
    df = read_frame(TRACKS)
    out = tmp_path / "birdsDLC_resnet50_MontBlancDec16shuffle1_30000_el.h5"
    save_tracks(load_tracks(TRACKS), out, save_as_csv=True)
    with pd.HDFStore(out, "r") as store:
        assert store.keys() == [f"/{TRACKS_KEY}"] and store.get_storer(TRACKS_KEY).is_table
    pd.testing.assert_frame_equal(pd.read_hdf(out), df, check_index_type=False)
    pd.testing.assert_frame_equal(
        read_tracks(out.with_suffix(".csv")), df, check_exact=False, check_index_type=False
    )


def test_3d_poses(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    ds = make_poses(
        rng.random((4, 3, 2)), keypoints=["snout", "tail"], space=("x", "y", "z"), scorer="DLC_3D"
    )
    out = tmp_path / "rig_DLC_3D.h5"
    save_poses_3d(ds, out, save_as_csv=True)
    df = pd.read_hdf(out)
    assert list(df.columns) == [("DLC_3D", bp, c) for bp in ("snout", "tail") for c in "xyz"]
    back = load_poses_3d(out.with_suffix(".csv"))
    np.testing.assert_allclose(back["position"].values, ds["position"].values)
    with pytest.raises(Pose3DFileError, match="need space x, y, z"):
        save_poses_3d(to_dataset(_analysis()), tmp_path / "flat_DLC_3D.h5")


def test_make_poses_checks_shapes() -> None:
    with pytest.raises(ValueError, match=r"position has shape \(3, 2, 2, 1\), expected"):
        make_poses(np.zeros((3, 2, 2)), keypoints=["a", "b", "c"])
    with pytest.raises(ValueError, match="unique keypoints need the individual 'single'"):
        make_poses(
            np.zeros((3, 2, 1, 2)),
            keypoints=["a"],
            individuals=["m1", "m2"],
            unique_keypoints=["a"],
        )


def test_with_points_is_the_inverse_of_points_array() -> None:
    ds = load_tracks(TRACKS)
    xy, p = points_array(ds), points_array(ds, variable="confidence")
    moved = with_points(with_points(ds, xy + 1.0), p / 2, variable="confidence")
    np.testing.assert_array_equal(points_array(moved), xy + 1.0)
    np.testing.assert_array_equal(points_array(moved, variable="confidence"), p / 2)
    assert moved["position"].dims == DIMS
    np.testing.assert_array_equal(points_array(ds), xy)  # the original is unchanged
    df = to_frame(moved)
    np.testing.assert_array_equal(df.xs("x", level="coords", axis=1).to_numpy(), xy[..., 0] + 1.0)
