"""Tracklet pickles (``_el.pickle``, ``_bx``, ``_sk``): DLC's file read as it is, a round
trip, DLC's names, and one-line errors for bad files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dlcflow.io.tracklets import (
    TrackletFileError,
    read_tracklets,
    tracklets_path,
    write_tracklets,
)
from dlcflow.tracking.trackers import TrackingParams, build_tracklets

MA = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dlc-unittest-multianimal"
DLC_TRACKLETS = MA / "montblanc_tracklets.pickle"
SCORER = "DLC_resnet50_MontBlancDec16shuffle1_30000"


def _same(a: dict, b: dict) -> None:
    assert [str(k) for k in a] == [str(k) for k in b]
    for key in b:
        if key == "header":
            assert a[key].equals(b[key])
            continue
        assert list(a[key]) == list(b[key])
        for frame in b[key]:
            np.testing.assert_array_equal(a[key][frame], b[key][frame])


def test_reads_dlcs_file() -> None:
    tracklets = read_tracklets(DLC_TRACKLETS)
    with DLC_TRACKLETS.open("rb") as f:
        raw = pickle.load(f)
    assert [type(k) for k in raw if k not in ("single", "header")] == [np.int64] * 4
    ids = [k for k in tracklets if k not in ("single", "header")]
    assert ids == [2, 1, 0, 3] and all(type(k) is int for k in ids)
    _same(tracklets, raw)
    assert isinstance(tracklets["header"], pd.MultiIndex)


def test_round_trip(tmp_path: Path) -> None:
    with (MA / "montblanc_assemblies.pickle").open("rb") as f:
        assemblies = pickle.load(f)
    header = read_tracklets(DLC_TRACKLETS)["header"]
    tracklets = build_tracklets(assemblies, "ellipse", TrackingParams(), header=header)
    path = tmp_path / f"montblanc{SCORER}_el.pickle"
    write_tracklets(tracklets, path)
    back = read_tracklets(path)
    _same(back, tracklets)
    _same(back, read_tracklets(DLC_TRACKLETS))  # the very file DLC wrote, in content
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left
    # DLC's own reader of these files takes a plain pickle.load
    with path.open("rb") as f:
        assert pickle.load(f).keys() == back.keys()


def test_names() -> None:
    stem = f"/data/video1{SCORER}"
    assert tracklets_path(f"{stem}_full.pickle", "ellipse") == Path(f"{stem}_el.pickle")
    assert tracklets_path(f"{stem}_assemblies.pickle", "box") == Path(f"{stem}_bx.pickle")
    assert tracklets_path(f"{stem}.h5", "skeleton") == Path(f"{stem}_sk.pickle")
    with pytest.raises(ValueError, match="unknown track_method 'circle'"):
        tracklets_path(f"{stem}_full.pickle", "circle")
    with pytest.raises(TrackletFileError, match="video1.mp4: not a DLC analysis file"):
        tracklets_path("/data/video1.mp4", "ellipse")


def _one_line(exc: pytest.ExceptionInfo, path: Path) -> None:
    message = str(exc.value)
    assert "\n" not in message and str(path) in message


def test_read_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nothing_el.pickle"
    with pytest.raises(TrackletFileError, match="not found") as exc:
        read_tracklets(missing)
    _one_line(exc, missing)

    corrupt = tmp_path / "corrupt_el.pickle"
    corrupt.write_bytes(b"\x80\x05not a pickle at all\n\nsecond line")
    with pytest.raises(TrackletFileError, match="not a readable pickle") as exc:
        read_tracklets(corrupt)
    _one_line(exc, corrupt)

    truncated = tmp_path / "truncated_el.pickle"
    truncated.write_bytes(DLC_TRACKLETS.read_bytes()[:1000])
    with pytest.raises(TrackletFileError, match="not a readable pickle") as exc:
        read_tracklets(truncated)
    _one_line(exc, truncated)

    cases = {
        "list": [1, 2, 3],
        "key": {"tracklet0": {"frame0": np.zeros((4, 4))}},
        "frames": {0: [np.zeros((4, 4))]},
        "frame key": {0: {"img0": np.zeros((4, 4))}},
        "value": {0: {"frame0": [[1.0, 2.0]]}},
        "header": {0: {"frame0": np.zeros((4, 4))}, "header": ["x", "y"]},
        "single": {"single": [np.zeros((1, 3))]},
    }
    for name, content in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}_el.pickle"
        with path.open("wb") as f:
            pickle.dump(content, f)
        with pytest.raises(TrackletFileError) as exc:
            read_tracklets(path)
        _one_line(exc, path)


def test_write_checks_and_never_leaves_half_a_file(tmp_path: Path) -> None:
    path = tmp_path / "out_el.pickle"
    with pytest.raises(TrackletFileError, match="not a tracklet id"):
        write_tracklets({"tracklet0": {}}, path)
    assert not path.exists() and not list(tmp_path.iterdir())
    good = {0: {"frame0": np.zeros((4, 4))}}
    write_tracklets(good, path)
    before = path.read_bytes()

    class Unpicklable(dict):
        def __reduce__(self):  # noqa: ANN204
            raise RuntimeError("cannot pickle this")

    with pytest.raises(RuntimeError):
        write_tracklets({0: Unpicklable(frame0=np.zeros((4, 4)))}, path)
    assert path.read_bytes() == before  # the old file untouched, no temp file left
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
