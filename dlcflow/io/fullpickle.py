"""DLC's ``<stem><scorer>_full.pickle``: the multi-animal detections of a video, per frame.

One pickled dict (DLC 2.3, ``predict_multianimal.py``)::

    {"metadata": {"nms radius", "minimal confidence", "sigma", "PAFgraph", "PAFinds",
                  "all_joints", "all_joints_names", "nframes"},
     "frame" + index zero-padded to ceil(log10(nframes)) digits: {
         "coordinates": ([array (n_j, 2) per body part],),
         "confidence": [array (n_j, 1) per body part],
         "costs": {limb index: {"m1": (n_s, n_t), "distance": (n_s, n_t)}},
         "identity": [array (n_j, n_id) per body part]   # identity projects only
     }, ...}

Frames without detections may be absent (DLC leaves them out). :func:`read_full_pickle`
reads DLC's own files as they are (the frame dicts untouched, keyed by frame index);
:func:`write_full_pickle` writes the same layout atomically.
"""

from __future__ import annotations

import math
import os
import pickle
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlcflow.core.fileio import atomic_path
from dlcflow.project.posecfg import MULTI_TEST_EXTRA

__all__ = [
    "FULL_SUFFIX",
    "METADATA_KEYS",
    "FullPickle",
    "FullPickleError",
    "frame_index",
    "frame_key",
    "full_metadata",
    "full_pickle_path",
    "read_full_pickle",
    "write_full_pickle",
]

FULL_SUFFIX = "_full.pickle"
METADATA_KEYS = (
    "nms radius",
    "minimal confidence",
    "sigma",
    "PAFgraph",
    "PAFinds",
    "all_joints",
    "all_joints_names",
    "nframes",
)
FRAME_KEYS = ("coordinates", "confidence")
_FRAME = re.compile(r"frame(\d+)")


class FullPickleError(ValueError):
    """A file that is not a DLC ``_full.pickle``; the message is one line naming the file."""


@dataclass
class FullPickle:
    """A ``_full.pickle``: its metadata and its frame dicts by frame index (DLC's layout)."""

    metadata: dict[str, Any]
    frames: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def nframes(self) -> int:
        """The video's frame count (``metadata["nframes"]``)."""
        return int(self.metadata["nframes"])

    def to_dict(self) -> dict[str, Any]:
        """DLC's pickled dict: ``metadata`` first, then the frames in index order."""
        out: dict[str, Any] = {"metadata": self.metadata}
        for index in sorted(self.frames):
            out[frame_key(index, self.nframes)] = self.frames[index]
        return out


def full_pickle_path(
    video: str | os.PathLike[str], scorer: str, destfolder: str | os.PathLike[str] | None = None
) -> Path:
    """``<destfolder or the video's folder>/<video stem><scorer>_full.pickle``."""
    video = Path(video)
    folder = Path(destfolder) if destfolder is not None else video.parent
    return folder / f"{video.stem}{scorer}{FULL_SUFFIX}"


def frame_key(index: int, nframes: int) -> str:
    """DLC's frame key: ``"frame"`` + the index zero-padded to ``ceil(log10(nframes))``
    digits (``frame0`` for a one-frame video, ``frame000`` ... ``frame179`` for 180)."""
    if nframes < 1:
        raise ValueError(f"nframes must be >= 1, got {nframes}")
    if not 0 <= index < nframes:
        raise ValueError(f"frame index {index} outside a video of {nframes} frames")
    return "frame" + str(int(index)).zfill(math.ceil(math.log10(nframes)))


def frame_index(key: str) -> int:
    """The frame index of a frame key (``"frame017"`` -> 17); any width."""
    match = _FRAME.fullmatch(key)
    if match is None:
        raise ValueError(f"not a frame key: {key!r}")
    return int(match.group(1))


def full_metadata(pose_cfg: Mapping[str, Any], nframes: int) -> dict[str, Any]:
    """The ``metadata`` DLC writes for a test pose_cfg and a video of ``nframes`` frames
    (absent detection keys take DLC's test pose_cfg defaults; ``PAFinds`` is ``paf_best``
    or every limb, as a list of ints where DLC writes ``np.arange``)."""
    graph = [[int(s), int(t)] for s, t in pose_cfg.get("partaffinityfield_graph") or []]
    best = pose_cfg.get("paf_best")
    joints = pose_cfg["all_joints"]
    return {
        "nms radius": pose_cfg.get("nmsradius", MULTI_TEST_EXTRA["nmsradius"]),
        "minimal confidence": pose_cfg.get("minconfidence", MULTI_TEST_EXTRA["minconfidence"]),
        "sigma": pose_cfg.get("sigma", MULTI_TEST_EXTRA["sigma"]),
        "PAFgraph": graph,
        "PAFinds": [int(k) for k in best] if best is not None else list(range(len(graph))),
        "all_joints": [[i] for i in range(len(joints))],
        "all_joints_names": [pose_cfg["all_joints_names"][i] for i in range(len(joints))],
        "nframes": int(nframes),
    }


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _check_metadata(metadata: Any, where: str) -> None:
    if not isinstance(metadata, Mapping):
        raise FullPickleError(f"{where}: 'metadata' is a {type(metadata).__name__}, not a dict")
    missing = [k for k in METADATA_KEYS if k not in metadata]
    if missing:
        raise FullPickleError(f"{where}: metadata lacks {', '.join(map(repr, missing))}")
    nframes = metadata["nframes"]
    if not isinstance(nframes, int | float) or int(nframes) != nframes or nframes < 1:
        raise FullPickleError(f"{where}: metadata 'nframes' is {nframes!r}, not a frame count")


def _check_frame(frame: Any, where: str, key: str) -> None:
    if not isinstance(frame, Mapping):
        raise FullPickleError(f"{where}: {key} is a {type(frame).__name__}, not a frame dict")
    missing = [k for k in FRAME_KEYS if k not in frame]
    if missing:
        raise FullPickleError(f"{where}: {key} lacks {', '.join(map(repr, missing))}")
    coords = frame["coordinates"]
    if not (isinstance(coords, tuple | list) and len(coords) == 1):
        raise FullPickleError(f"{where}: {key} 'coordinates' is not a 1-tuple of per-part arrays")


def read_full_pickle(path: str | os.PathLike[str]) -> FullPickle:
    """Read a ``_full.pickle`` (DLC's or dlcflow's): metadata and frames, as stored.

    Raises :class:`FullPickleError` (one line naming the file) for a missing file, a file
    that does not unpickle, or a pickle of another layout (``_assemblies``, tracklets, ...).
    """
    path = Path(path)
    if not path.is_file():
        raise FullPickleError(f"{path}: no such file")
    try:
        with path.open("rb") as f:
            data = pickle.load(f)
    except Exception as exc:  # a pickle can fail in many ways; all mean "not this format"
        raise FullPickleError(
            f"{path}: not a readable pickle ({type(exc).__name__}: {_one_line(exc)})"
        ) from exc
    if not isinstance(data, Mapping):
        raise FullPickleError(
            f"{path}: not a DLC _full.pickle (holds a {type(data).__name__}, not a dict)"
        )
    if "metadata" not in data:
        raise FullPickleError(f"{path}: not a DLC _full.pickle (no 'metadata' entry)")
    _check_metadata(data["metadata"], str(path))
    frames: dict[int, dict[str, Any]] = {}
    for key, frame in data.items():
        if key == "metadata":
            continue
        match = _FRAME.fullmatch(key) if isinstance(key, str) else None
        if match is None:
            raise FullPickleError(f"{path}: not a DLC _full.pickle (unexpected entry {key!r})")
        _check_frame(frame, str(path), key)
        frames[int(match.group(1))] = frame
    return FullPickle(dict(data["metadata"]), frames)


def write_full_pickle(
    path: str | os.PathLike[str],
    metadata: Mapping[str, Any],
    frames: Mapping[int, Mapping[str, Any]] | Sequence[Mapping[str, Any]],
) -> Path:
    """Write a ``_full.pickle`` atomically (temp file, then rename): ``metadata`` (the
    :data:`METADATA_KEYS`; see :func:`full_metadata`) and the frame dicts, by frame index
    or as a sequence from frame 0. Returns the path."""
    path = Path(path)
    _check_metadata(metadata, str(path))
    by_index = dict(frames) if isinstance(frames, Mapping) else dict(enumerate(frames))
    full = FullPickle(dict(metadata), {})
    for index, frame in by_index.items():
        try:
            key = frame_key(int(index), full.nframes)
        except (TypeError, ValueError) as exc:
            raise FullPickleError(f"{path}: {exc}") from exc
        _check_frame(frame, str(path), key)
        full.frames[int(index)] = dict(frame)
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        pickle.dump(full.to_dict(), f, pickle.HIGHEST_PROTOCOL)
    return path
