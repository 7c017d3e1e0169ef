"""Tracklets of a multi-animal tracker, DLC 2.3's ``<stem><scorer>_el.pickle`` (``_bx``,
``_sk`` for the box and skeleton trackers).

One pickled dict (``convert_detections2tracklets``)::

    {"single": {frame index (int): array (n_unique, 3)},        # projects with unique parts
     tracklet id (int): {"frame000": array (n_multibodyparts, 4), ...},
     "header": pd.MultiIndex (scorer, bodyparts, coords)}

:func:`read_tracklets` reads DLC's files as they are (its ``numpy.int64`` tracklet ids
become ``int``); :func:`write_tracklets` checks the structure and writes atomically.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dlcflow.core.fileio import atomic_path
from dlcflow.project.paths import tracker_suffix

__all__ = ["TrackletFileError", "read_tracklets", "tracklets_path", "write_tracklets"]

_FRAME = re.compile(r"frame\d+")
#: The analysis files a tracklet file is named after (DLC: the .h5 name + _el.pickle).
_SOURCES = ("_assemblies.pickle", "_full.pickle", ".h5")


class TrackletFileError(ValueError):
    """A tracklet file that cannot be used; the one-line message names the file and cause."""


def tracklets_path(path: str | os.PathLike[str], method: str) -> Path:
    """The tracklet file of an analysis: ``<stem><scorer>_full.pickle`` (or
    ``_assemblies.pickle``, or the ``.h5``) → ``<stem><scorer>_el.pickle`` for the
    ellipse tracker, ``_bx.pickle`` for box, ``_sk.pickle`` for skeleton."""
    p = Path(path)
    suffix = tracker_suffix(method)
    for source in _SOURCES:
        if p.name.endswith(source) and len(p.name) > len(source):
            return p.with_name(p.name[: -len(source)] + suffix + ".pickle")
    raise TrackletFileError(f"{p}: not a DLC analysis file (_full.pickle, _assemblies.pickle)")


def _check(tracklets: Any, where: str) -> dict[Any, Any]:
    """The tracklets with ``int`` ids, or :class:`TrackletFileError` naming ``where``."""
    if not isinstance(tracklets, dict):
        raise TrackletFileError(f"{where}: not a dict of tracklets ({type(tracklets).__name__})")
    out: dict[Any, Any] = {}
    for key, value in tracklets.items():
        if key == "header":
            if not isinstance(value, pd.MultiIndex):
                raise TrackletFileError(f"{where}: header is not a pandas MultiIndex")
            out[key] = value
            continue
        if key == "single":
            if not isinstance(value, dict) or not all(
                isinstance(k, int | np.integer) and isinstance(v, np.ndarray)
                for k, v in value.items()
            ):
                raise TrackletFileError(f"{where}: 'single' is not {{frame index: array}}")
            out[key] = value
            continue
        if isinstance(key, bool) or not isinstance(key, int | np.integer):
            raise TrackletFileError(f"{where}: key {key!r} is not a tracklet id")
        if not isinstance(value, dict):
            raise TrackletFileError(f"{where}: tracklet {key} is not a dict of frames")
        for frame, data in value.items():
            named = isinstance(frame, str) and _FRAME.fullmatch(frame)
            numbered = isinstance(frame, int | np.integer) and not isinstance(frame, bool)
            if not (named or numbered):
                raise TrackletFileError(f"{where}: tracklet {key}: bad frame key {frame!r}")
            if not isinstance(data, np.ndarray):
                raise TrackletFileError(f"{where}: tracklet {key}, {frame}: not an array")
        out[int(key)] = value
    return out


def read_tracklets(path: str | os.PathLike[str]) -> dict[Any, Any]:
    """A tracklet pickle (DLC's or dlcflow's), checked; tracklet ids as ``int``."""
    p = Path(path)
    if not p.is_file():
        raise TrackletFileError(f"{p}: tracklet file not found")
    try:
        with p.open("rb") as f:
            data = pickle.load(f)
    except Exception as exc:  # any unpickling failure: one line, naming the file
        cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TrackletFileError(f"{p}: not a readable pickle ({cause})") from None
    return _check(data, str(p))


def write_tracklets(tracklets: dict[Any, Any], path: str | os.PathLike[str]) -> None:
    """Write tracklets as DLC does (highest pickle protocol), atomically, after checking
    the structure."""
    p = Path(path)
    checked = _check(tracklets, str(p))
    with atomic_path(p) as tmp, tmp.open("wb") as f:
        pickle.dump(checked, f, pickle.HIGHEST_PROTOCOL)
