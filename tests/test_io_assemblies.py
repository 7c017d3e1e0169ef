"""DLC's ``_assemblies.pickle``: DLC's own file read as it is, round trips, DLC's file name,
and one-line errors for files that are not assemblies."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from dlcflow.io.assemblies import (
    AssemblyFileError,
    assemblies_path,
    read_assemblies,
    write_assemblies,
)

MA = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dlc-unittest-multianimal"
REFERENCE = MA / "montblanc_assemblies.pickle"


def _same(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for key in a:
        if key == "single":
            assert list(a[key]) == list(b[key])
            for index in a[key]:
                np.testing.assert_array_equal(a[key][index], b[key][index])
        else:
            assert len(a[key]) == len(b[key])
            for x, y in zip(a[key], b[key], strict=True):
                np.testing.assert_array_equal(x, y)


def test_dlcs_file_reads_as_it_is():
    with open(REFERENCE, "rb") as fh:
        raw = pickle.load(fh)
    data = read_assemblies(REFERENCE)
    frames = [k for k in data if k != "single"]
    assert frames == list(range(180)) and list(data)[-1] == "single"  # frames sorted
    assert all(isinstance(data[k], list) for k in frames)
    for k in frames:
        for mine, theirs in zip(data[k], raw[k], strict=True):
            assert mine.dtype == np.float64 and mine.shape == (4, 4)
            np.testing.assert_array_equal(mine, theirs)
    assert sorted(data["single"]) == sorted(raw["single"]) and len(data["single"]) == 78


def test_round_trip(tmp_path):
    data = read_assemblies(REFERENCE)
    dest = write_assemblies(data, tmp_path / "v_assemblies.pickle")
    _same(read_assemblies(dest), data)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left
    # stacked arrays and unsorted frames are accepted and written as DLC does
    stacked = {3: np.zeros((2, 5, 4), np.float32), 1: [np.ones((5, 4))], 7: []}
    back = read_assemblies(write_assemblies(stacked, tmp_path / "s.pickle"))
    assert list(back) == [1, 3] and isinstance(back[3], list) and back[3][0].dtype == np.float64
    assert "single" not in back


def test_dlc_file_names():
    full = Path("/v/clipDLC_resnet50_MontBlancDec16shuffle1_30000_full.pickle")
    expected = full.with_name("clipDLC_resnet50_MontBlancDec16shuffle1_30000_assemblies.pickle")
    assert assemblies_path(full) == expected
    assert assemblies_path(full.with_name(full.name.replace("_full.pickle", ".h5"))) == expected


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (None, "no such file"),
        (b"not a pickle", "not a readable pickle"),
        ([1, 2], "holds a list, not a dict"),
        ({"metadata": {}, "frame0": {}}, "a _full.pickle?"),
        ({"frame0": []}, "unexpected entry 'frame0'"),
        ({0: [np.zeros((4, 3))]}, "shape (4, 3), not (n_multibodyparts, 4)"),
        ({0: [np.zeros((4, 4))], 1: [np.zeros((3, 4))]}, "3 body parts, others have 4"),
        ({0: [np.zeros((4, 4))], "single": [1]}, "'single' is a list"),
        ({"single": {0: np.zeros((1, 4))}}, "'single' frame 0 has shape (1, 4)"),
    ],
)
def test_bad_files_one_line_naming_the_file(tmp_path, content, cause):
    path = tmp_path / "bad_assemblies.pickle"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_bytes(pickle.dumps(content))
    with pytest.raises(AssemblyFileError) as err:
        read_assemblies(path)
    message = str(err.value)
    assert message.startswith(str(path)) and cause in message and "\n" not in message


def test_a_bad_structure_is_never_written(tmp_path):
    path = tmp_path / "out_assemblies.pickle"
    with pytest.raises(AssemblyFileError, match="not \\(n_multibodyparts, 4\\)"):
        write_assemblies({0: [np.zeros(4)]}, path)
    assert list(tmp_path.iterdir()) == []
