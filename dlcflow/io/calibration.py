"""Camera calibrations on disk: Anipose's ``calibration.toml`` and DLC 2.3's pickles.

``calibration.toml`` (aniposelib 0.8) holds one ``[cam_<i>]`` table per camera, in rig
order: ``name``, ``size = [w, h]``, ``matrix`` (3 × 3), ``distortions`` (k1 k2 p1 p2 k3),
``rotation`` (Rodrigues, world → camera) and ``translation``; then ``[metadata]``. A rig
calibrated with Anipose is read as it is, and the file dlcflow writes opens in Anipose.

DLC's ``camera_matrix/<cam>_intrinsic_params.pickle`` is ``{cam: {"mtx", "dist",
"objpoints", "imgpoints"}}`` and ``camera_matrix/stereo_params.pickle`` is ``{"<cam1>-<cam2>":
{cameraMatrix1, cameraMatrix2, distCoeffs1, distCoeffs2, R, T, E, F, R1, R2, P1, P2, roi1,
roi2, Q, image_shape}}``.
"""

from __future__ import annotations

import os
import pickle
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dlcflow.core.fileio import atomic_path, atomic_write_text
from dlcflow.data.cameras import Camera, CameraGroup

__all__ = [
    "STEREO_KEYS",
    "CalibrationFileError",
    "cameras_from_stereo",
    "load_calibration",
    "read_calibration_toml",
    "read_intrinsics_pickle",
    "read_stereo_pickle",
    "write_calibration_toml",
    "write_intrinsics_pickle",
    "write_stereo_pickle",
]

#: The entries of one camera pair in DLC's ``stereo_params.pickle``.
STEREO_KEYS = (
    "cameraMatrix1",
    "cameraMatrix2",
    "distCoeffs1",
    "distCoeffs2",
    "R",
    "T",
    "E",
    "F",
    "R1",
    "R2",
    "P1",
    "P2",
    "roi1",
    "roi2",
    "Q",
    "image_shape",
)


class CalibrationFileError(ValueError):
    """A calibration file that cannot be used; the one-line message names file and cause."""


# -- Anipose's calibration.toml -------------------------------------------------------------
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        f = float(value)
        return (
            repr(f) if np.isfinite(f) else ("nan" if np.isnan(f) else ("inf" if f > 0 else "-inf"))
        )
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def write_calibration_toml(
    group: CameraGroup, path: str | os.PathLike[str], metadata: Mapping[str, Any] | None = None
) -> None:
    """Write ``group`` as Anipose's ``calibration.toml`` (atomically)."""
    lines: list[str] = []
    for i, cam in enumerate(group):
        lines += [
            f"[cam_{i}]",
            f"name = {_toml_value(cam.name)}",
            f"size = {_toml_value(list(cam.size))}",
            f"matrix = {_toml_value(cam.matrix)}",
            f"distortions = {_toml_value(cam.dist)}",
            f"rotation = {_toml_value(cam.rvec)}",
            f"translation = {_toml_value(cam.tvec)}",
            "",
        ]
    lines.append("[metadata]")
    for key, value in (metadata or {"adjusted": False}).items():
        lines.append(f"{key} = {_toml_value(value)}")
    atomic_write_text(Path(path), "\n".join(lines) + "\n")


def read_calibration_toml(path: str | os.PathLike[str]) -> tuple[CameraGroup, dict[str, Any]]:
    """The rig of a ``calibration.toml`` (in file order of ``cam_<i>``) and its metadata."""
    p = Path(path)
    if not p.is_file():
        raise CalibrationFileError(f"{p}: calibration file not found")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise CalibrationFileError(f"{p}: not a TOML file ({err})") from None
    keys = sorted(
        (k for k in data if k.startswith("cam_") and k[4:].isdigit()), key=lambda k: int(k[4:])
    )
    if not keys:
        raise CalibrationFileError(f"{p}: no [cam_<i>] tables, not an Anipose calibration")
    cameras = []
    for key in keys:
        table = data[key]
        missing = [
            f
            for f in ("size", "matrix", "distortions", "rotation", "translation")
            if f not in table
        ]
        if missing:
            raise CalibrationFileError(f"{p}: [{key}] lacks {', '.join(missing)}")
        try:
            cameras.append(
                Camera(
                    name=str(table.get("name", key[4:])),
                    size=(int(table["size"][0]), int(table["size"][1])),
                    matrix=np.asarray(table["matrix"], dtype=np.float64),
                    dist=np.asarray(table["distortions"], dtype=np.float64),
                    rvec=np.asarray(table["rotation"], dtype=np.float64),
                    tvec=np.asarray(table["translation"], dtype=np.float64),
                )
            )
        except (ValueError, TypeError, IndexError) as err:
            raise CalibrationFileError(f"{p}: [{key}] is malformed ({err})") from None
    try:
        group = CameraGroup(tuple(cameras))
    except ValueError as err:
        raise CalibrationFileError(f"{p}: {err}") from None
    return group, dict(data.get("metadata", {}))


def load_calibration(
    path: str | os.PathLike[str], names: Sequence[str] | None = None
) -> CameraGroup:
    """The rig of a ``calibration.toml``, ordered as ``names`` when given (a camera of
    ``names`` that the file lacks is an error naming the file)."""
    group, _ = read_calibration_toml(path)
    if names is None:
        return group
    missing = [n for n in names if n not in group.names]
    if missing:
        raise CalibrationFileError(
            f"{path}: no calibration for camera(s) {', '.join(missing)} (it has {group.names})"
        )
    return group.subset(names)


# -- DLC's pickles ----------------------------------------------------------------------------
def _read_pickle(path: str | os.PathLike[str]) -> Any:
    p = Path(path)
    if not p.is_file():
        raise CalibrationFileError(f"{p}: calibration file not found")
    try:
        with p.open("rb") as fh:
            return pickle.load(fh)
    except Exception as err:  # unpickling raises many types
        raise CalibrationFileError(f"{p}: not a readable pickle ({type(err).__name__})") from None


def _write_pickle(path: str | os.PathLike[str], obj: Any) -> None:
    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as fh:
        pickle.dump(obj, fh)


def write_intrinsics_pickle(
    path: str | os.PathLike[str],
    camera: str,
    mtx: np.ndarray,
    dist: np.ndarray,
    objpoints: Sequence[np.ndarray],
    imgpoints: Sequence[np.ndarray],
) -> None:
    """DLC's ``<cam>_intrinsic_params.pickle``."""
    entry = {
        "mtx": np.asarray(mtx, dtype=np.float64),
        "dist": np.asarray(dist, dtype=np.float64).reshape(1, -1),
        "objpoints": [np.asarray(o, dtype=np.float32) for o in objpoints],
        "imgpoints": [np.asarray(i, dtype=np.float32) for i in imgpoints],
    }
    _write_pickle(path, {camera: entry})


def read_intrinsics_pickle(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """``{cam: {"mtx", "dist", "objpoints", "imgpoints"}}`` of a DLC intrinsics pickle."""
    data = _read_pickle(path)
    if not isinstance(data, dict) or not all(
        isinstance(v, dict) and {"mtx", "dist"} <= set(v) for v in data.values()
    ):
        raise CalibrationFileError(f"{path}: not DLC's intrinsics ({{cam: {{mtx, dist, ...}}}})")
    return data


def write_stereo_pickle(
    path: str | os.PathLike[str], pairs: Mapping[str, Mapping[str, Any]]
) -> None:
    """DLC's ``stereo_params.pickle``: ``{"<cam1>-<cam2>": {STEREO_KEYS...}}``."""
    for pair, entry in pairs.items():
        missing = [k for k in STEREO_KEYS if k not in entry]
        if missing:
            raise ValueError(f"stereo pair {pair}: missing {', '.join(missing)}")
    _write_pickle(path, {pair: dict(entry) for pair, entry in pairs.items()})


def read_stereo_pickle(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The pairs of a DLC ``stereo_params.pickle``."""
    data = _read_pickle(path)
    if not isinstance(data, dict) or not data:
        raise CalibrationFileError(f"{path}: not DLC's stereo parameters")
    for pair, entry in data.items():
        missing = [k for k in STEREO_KEYS[:12] if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise CalibrationFileError(f"{path}: pair {pair} lacks {', '.join(missing)}")
    return data


def cameras_from_stereo(
    entry: Mapping[str, Any], names: tuple[str, str], size: tuple[int, int] | None = None
) -> CameraGroup:
    """A two-camera rig from one pair of DLC's stereo parameters: the first camera at the
    world origin, the second at ``R, T`` (``x2 = R x1 + T``), as ``stereoCalibrate`` has it."""
    if size is None:  # DLC keeps [(w, h) of camera 1, (w, h) of camera 2]
        shape = entry.get("image_shape")
        if shape is None:
            raise ValueError("stereo parameters without image_shape: give the image size")
        first = np.asarray(shape).reshape(-1, 2)[0]
        size = (int(first[0]), int(first[1]))
    cam1 = Camera(names[0], size, entry["cameraMatrix1"], entry["distCoeffs1"])
    rvec = cv2.Rodrigues(np.asarray(entry["R"], dtype=np.float64))[0]
    cam2 = Camera(names[1], size, entry["cameraMatrix2"], entry["distCoeffs2"], rvec, entry["T"])
    return CameraGroup((cam1, cam2))
