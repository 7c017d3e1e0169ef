"""The HDF5 container: tables that pandas 2 reads, and DLC's files read whatever their key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tables

from dlcflow.io.hdf import HDF_KEY, TABLE_VERSION, FormatError, read_frame, write_frame

SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def _poses(nframes: int = 5) -> pd.DataFrame:
    cols = pd.MultiIndex.from_product(
        [["DLC_resnet50_demoDec2shuffle1_6"], ["snout", "tail"], ["x", "y", "likelihood"]],
        names=["scorer", "bodyparts", "coords"],
    )
    values = np.random.default_rng(0).random((nframes, len(cols)))
    values[1, 3] = np.nan
    return pd.DataFrame(values, columns=cols)


def _version(path: Path) -> str | None:
    with tables.open_file(path) as h5:
        attrs = h5.get_node(f"/{HDF_KEY}")._v_attrs
        return getattr(attrs, "pandas_version", None)


def test_table_carries_the_version_pandas_2_needs(tmp_path: Path) -> None:
    """pandas 2 reads a table without ``pandas_version`` as a pre-0.10.1 file and fails."""
    path = tmp_path / "poses.h5"
    df = _poses()
    write_frame(df, path, table=True)
    assert _version(path) == TABLE_VERSION
    with pd.HDFStore(path, "r") as store:
        assert store.keys() == [f"/{HDF_KEY}"]
        assert store.get_storer(HDF_KEY).is_table
    pd.testing.assert_frame_equal(pd.read_hdf(path), df)
    assert list(tmp_path.iterdir()) == [path]  # no temp file left


def test_fixed_format_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "labels.h5"
    df = _poses()
    df.index = pd.MultiIndex.from_tuples([("labeled-data", "v", f"img{i}.png") for i in range(5)])
    write_frame(df, path, table=False)
    with pd.HDFStore(path, "r") as store:
        assert not store.get_storer(HDF_KEY).is_table
    pd.testing.assert_frame_equal(read_frame(path), df)


def test_unstamped_table_still_reads(tmp_path: Path) -> None:
    """Files of earlier dlcflow versions (pandas 3, no stamp) keep reading."""
    path = tmp_path / "old.h5"
    _poses().to_hdf(path, key=HDF_KEY, format="table")
    pd.testing.assert_frame_equal(read_frame(path), _poses())


def test_reads_dlc_files_whatever_their_key() -> None:
    tracks = read_frame(SHARED / "dlc-unittest-multianimal" / "montblanc_tracks.h5")  # key df
    assert list(tracks.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
    folder = SHARED / "dlc-reaching-2018" / "labeled-data" / "reachingvideo1"
    labels = read_frame(folder / "CollectedData_Mackenzie.h5")  # an old DLC's file
    assert labels.shape == (55, 10)


def test_several_tables_prefer_dlcs_key(tmp_path: Path) -> None:
    path = tmp_path / "two.h5"
    _poses(3).to_hdf(path, key="other", mode="w")
    _poses(4).to_hdf(path, key="keypoints", mode="a")
    assert len(read_frame(path)) == 4
    _poses(2).to_hdf(tmp_path / "odd.h5", key="a", mode="w")
    _poses(2).to_hdf(tmp_path / "odd.h5", key="b", mode="a")
    with pytest.raises(FormatError, match=r"odd\.h5: several tables \(a, b\)"):
        read_frame(tmp_path / "odd.h5")


def test_unreadable_file_names_itself(tmp_path: Path) -> None:
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(FormatError, match=r"bad\.h5: not a readable h5 table"):
        read_frame(bad)
