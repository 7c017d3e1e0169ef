"""``<stem><scorer>_full.pickle`` (dlcflow.io.fullpickle) against DLC's own file.

``montblanc_full.pickle`` (DLC 2.3, three birds, 180 frames) is read as it is and written
back: the rewritten pickle holds the same keys in the same order, the same metadata and
bit-identical arrays of the same dtypes. Detections of DLC's three-mouse outputs are
written with DLC's metadata and frame keys and read back unchanged.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import yaml

from dlcflow.inference import madetect as md
from dlcflow.io import fullpickle as fp

MA_FIXTURE = (
    Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dlc-unittest-multianimal"
)
MONTBLANC = MA_FIXTURE / "montblanc_full.pickle"


def assert_same(a: object, b: object, where: str = "") -> None:
    """Deep equality of pickled structures: same types, keys in order, arrays bit-equal."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b, where


def test_montblanc_round_trip(tmp_path):
    full = fp.read_full_pickle(MONTBLANC)
    with MONTBLANC.open("rb") as f:
        raw = pickle.load(f)
    assert full.nframes == 180 and len(full.frames) == 180
    assert full.metadata["PAFinds"] == [1, 0, 2, 5, 4, 3]
    assert full.metadata["all_joints_names"] == ["head", "tail", "leftwing", "rightwing", "center"]
    # DLC's keys are our keys: frame000 ... frame179
    assert [fp.frame_key(i, full.nframes) for i in sorted(full.frames)] == list(raw)[1:]
    assert fp.frame_index("frame017") == 17
    assert_same(full.frames[17], raw["frame017"])
    out = fp.write_full_pickle(tmp_path / "birds_full.pickle", full.metadata, full.frames)
    with out.open("rb") as f:
        again = pickle.load(f)
    assert_same(again, raw)
    assert_same(fp.read_full_pickle(out).to_dict(), raw)
    assert [p.name for p in tmp_path.iterdir()] == ["birds_full.pickle"]


def test_detections_written_with_dlcs_metadata_and_keys(tmp_path):
    cfg = yaml.safe_load((MA_FIXTURE / "trimouse_pose_cfg.yaml").read_text())
    with (MA_FIXTURE / "outputs.pickle").open("rb") as f:
        scmaps, locref, pafs = pickle.load(f)
    frames = md.detect_batch(
        np.repeat(scmaps, 2, 0),
        np.repeat(locref, 2, 0),
        np.repeat(pafs, 2, 0),
        params=md.DetectionParams.from_pose_cfg(cfg),
    )
    meta = fp.full_metadata(cfg, nframes=11)
    assert list(meta) == list(fp.METADATA_KEYS)
    assert meta["nms radius"] == 5.0 and meta["minimal confidence"] == 0.01
    assert meta["sigma"] == 1 and meta["PAFinds"] == list(range(66))
    assert meta["all_joints"] == [[i] for i in range(12)]
    assert meta["all_joints_names"][0] == "snout" and len(meta["PAFgraph"]) == 66
    path = fp.full_pickle_path("/videos/mice.mp4", "DLC_resnet50_x", destfolder=tmp_path)
    assert path == tmp_path / "miceDLC_resnet50_x_full.pickle"
    # frames 0 and 10 of an 11-frame video (the others had no detections)
    fp.write_full_pickle(path, meta, {0: frames[0], 10: frames[1]})
    with path.open("rb") as f:
        raw = pickle.load(f)
    assert list(raw) == ["metadata", "frame00", "frame10"]
    back = fp.read_full_pickle(path)
    assert sorted(back.frames) == [0, 10]
    assert_same(back.frames[10], frames[1])
    assert back.metadata == meta


def test_frame_keys():
    assert [fp.frame_key(0, n) for n in (1, 9, 10, 11, 100, 101, 1000, 1001)] == [
        "frame0", "frame0", "frame0", "frame00", "frame00", "frame000", "frame000", "frame0000"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="outside a video of 10 frames"):
        fp.frame_key(10, 10)
    with pytest.raises(ValueError, match="not a frame key"):
        fp.frame_index("single")


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (b"not a pickle at all\n", "not a readable pickle"),
        (pickle.dumps([1, 2]), "holds a list, not a dict"),
        (pickle.dumps({"frame0": {}}), "no 'metadata' entry"),
        (pickle.dumps({"metadata": {"nframes": 3}}), "metadata lacks 'nms radius'"),
    ],
)
def test_bad_files_raise_one_line(tmp_path, content, cause):
    path = tmp_path / "x_full.pickle"
    path.write_bytes(content)
    with pytest.raises(fp.FullPickleError, match=cause) as err:
        fp.read_full_pickle(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_other_dlc_pickles_are_refused(tmp_path):
    for name in ("montblanc_assemblies.pickle", "montblanc_tracklets.pickle"):
        with pytest.raises(fp.FullPickleError, match="not a DLC _full.pickle") as err:
            fp.read_full_pickle(MA_FIXTURE / name)
        assert name in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(fp.FullPickleError, match="no such file"):
        fp.read_full_pickle(tmp_path / "missing_full.pickle")
    meta = fp.read_full_pickle(MONTBLANC).metadata
    bad = tmp_path / "bad_full.pickle"
    with bad.open("wb") as f:
        pickle.dump({"metadata": meta, "frame001": {"coordinates": ([],)}}, f)
    with pytest.raises(fp.FullPickleError, match="frame001 lacks 'confidence'"):
        fp.read_full_pickle(bad)


def test_failed_writes_leave_the_old_file(tmp_path):
    full = fp.read_full_pickle(MONTBLANC)
    path = fp.write_full_pickle(tmp_path / "a_full.pickle", full.metadata, {0: full.frames[0]})
    before = path.read_bytes()
    with pytest.raises(fp.FullPickleError, match="outside a video of 180 frames"):
        fp.write_full_pickle(path, full.metadata, {180: full.frames[0]})
    unpicklable = {**full.frames[0], "extra": lambda: None}
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        fp.write_full_pickle(path, full.metadata, [unpicklable])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a_full.pickle"]
    with pytest.raises(fp.FullPickleError, match="metadata lacks 'PAFinds'"):
        fp.write_full_pickle(path, {k: v for k, v in full.metadata.items() if k != "PAFinds"}, [])
