"""DLC's ``<stem><scorer>_assemblies.pickle``: the animals assembled in each frame.

One pickled dict (DLC 2.3, ``Assembler.to_pickle``)::

    {frame index (int): [array (n_multibodyparts, 4) per animal],   # x, y, confidence,
     ...,                                                           # identity (−1 none)
     "single": {frame index: array (n_unique, 3)}}                  # x, y, confidence

float64 arrays, NaN rows for missing body parts. Frames without animals are absent;
``"single"`` holds the frames with a unique body part and is absent without any.
:func:`read_assemblies` checks that layout (any key order, animals as a list or a stacked
array) and returns it with float64 arrays, animals as lists; :func:`write_assemblies`
writes it atomically, frames in index order.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dlcflow.core.fileio import atomic_path

__all__ = [
    "ASSEMBLIES_SUFFIX",
    "AssemblyFileError",
    "assemblies_path",
    "read_assemblies",
    "write_assemblies",
]

ASSEMBLIES_SUFFIX = "_assemblies.pickle"
_FULL_SUFFIX = "_full.pickle"


class AssemblyFileError(ValueError):
    """A file that is not a DLC ``_assemblies.pickle``; one line naming the file."""


def assemblies_path(full_pickle: str | os.PathLike[str]) -> Path:
    """DLC's name for the assemblies of a ``<stem><scorer>_full.pickle`` (or of its
    ``<stem><scorer>.h5``): ``<stem><scorer>_assemblies.pickle`` beside it."""
    path = Path(full_pickle)
    name = path.name
    stem = name[: -len(_FULL_SUFFIX)] if name.endswith(_FULL_SUFFIX) else path.stem
    return path.with_name(stem + ASSEMBLIES_SUFFIX)


def _index(key: Any, where: str) -> int:
    if isinstance(key, bool) or not isinstance(key, int | np.integer) or key < 0:
        raise AssemblyFileError(
            f"{where}: not a DLC _assemblies.pickle (unexpected entry {key!r}: frame indices "
            f"are integers >= 0, plus 'single')"
        )
    return int(key)


def _animals(value: Any, where: str, index: int, n_parts: list[int]) -> list[np.ndarray]:
    try:
        items = [np.asarray(a, dtype=float) for a in value]
    except (TypeError, ValueError) as exc:
        raise AssemblyFileError(
            f"{where}: frame {index} does not hold animal arrays ({type(exc).__name__})"
        ) from exc
    for animal in items:
        if animal.ndim != 2 or animal.shape[1] != 4:
            raise AssemblyFileError(
                f"{where}: frame {index} holds an animal of shape {animal.shape}, "
                f"not (n_multibodyparts, 4)"
            )
        if n_parts and animal.shape[0] != n_parts[0]:
            raise AssemblyFileError(
                f"{where}: frame {index} holds an animal of {animal.shape[0]} body parts, "
                f"others have {n_parts[0]}"
            )
        n_parts[:1] = [animal.shape[0]]
    return items


def _single(value: Any, where: str) -> dict[int, np.ndarray]:
    if not isinstance(value, Mapping):
        raise AssemblyFileError(
            f"{where}: 'single' is a {type(value).__name__}, not a dict of frames"
        )
    out: dict[int, np.ndarray] = {}
    for key, arr in value.items():
        index = _index(key, where + " 'single'")
        try:
            arr = np.asarray(arr, dtype=float)
        except (TypeError, ValueError) as exc:
            raise AssemblyFileError(f"{where}: 'single' frame {index} is not an array") from exc
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise AssemblyFileError(
                f"{where}: 'single' frame {index} has shape {arr.shape}, not (n_unique, 3)"
            )
        out[index] = arr
    return out


def _normalise(data: Any, where: str) -> dict[Any, Any]:
    if not isinstance(data, Mapping):
        raise AssemblyFileError(
            f"{where}: not a DLC _assemblies.pickle (holds a {type(data).__name__}, not a dict)"
        )
    out: dict[Any, Any] = {}
    n_parts: list[int] = []
    for key in sorted((k for k in data if k != "single"), key=lambda k: _index(k, where)):
        index = _index(key, where)
        animals = _animals(data[key], where, index, n_parts)
        if animals:  # DLC leaves frames without animals out
            out[index] = animals
    if "single" in data:
        out["single"] = _single(data["single"], where)
    return out


def read_assemblies(path: str | os.PathLike[str]) -> dict[Any, Any]:
    """Read an ``_assemblies.pickle`` (DLC's or dlcflow's); see the module's docstring.

    Raises :class:`AssemblyFileError` (one line naming the file) for a missing file, a file
    that does not unpickle, or a pickle of another layout."""
    path = Path(path)
    if not path.is_file():
        raise AssemblyFileError(f"{path}: no such file")
    try:
        with path.open("rb") as f:
            data = pickle.load(f)
    except Exception as exc:  # a pickle can fail in many ways; all mean "not this format"
        detail = " ".join(str(exc).split())
        raise AssemblyFileError(
            f"{path}: not a readable pickle ({type(exc).__name__}: {detail})"
        ) from exc
    if isinstance(data, Mapping) and "metadata" in data:
        raise AssemblyFileError(
            f"{path}: not a DLC _assemblies.pickle (it has 'metadata': a _full.pickle?)"
        )
    return _normalise(data, str(path))


def write_assemblies(assemblies: Mapping[Any, Any], path: str | os.PathLike[str]) -> Path:
    """Write assemblies (the structure :func:`read_assemblies` returns, or
    ``assemble_video``'s) atomically, as DLC does: animals as lists of float64 arrays,
    frames in index order, ``"single"`` last. Returns the path."""
    path = Path(path)
    data = _normalise(assemblies, str(path))
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        pickle.dump(data, f, pickle.HIGHEST_PROTOCOL)
    return path
