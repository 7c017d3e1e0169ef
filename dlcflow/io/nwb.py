"""Poses in NWB (Neurodata Without Borders) with the ndx-pose extension, ready for DANDI.

One file per video. :func:`write_nwb` puts a pose dataset (:mod:`dlcflow.data.pose`) into
the processing module ``behavior``:

* one ``PoseEstimation`` per individual: ``PoseEstimation`` for a single animal,
  ``PoseEstimation_<individual>`` in a multi-animal file (the unique body parts are the
  individual ``single``'s); each holds one ``PoseEstimationSeries`` per body part, named
  after it, with ``data`` ``(frames, 2)`` or ``(frames, 3)`` (3D), NaN where the point is
  missing, and ``confidence`` DLC's likelihood (0 where the point is missing; no confidence
  in 3D files, which have none). Timestamps are ``frame / fps`` seconds, stored once per
  PoseEstimation (the first series') and linked by the others;
* the ``Skeleton`` of each individual (nodes: its body parts; edges: index pairs of the
  config's ``skeleton``) in a ``Skeletons`` container, linked to the NWB ``Subject`` in a
  single-animal file;
* the scorer, the software, the model (net type, pose_cfg) in the description, the video
  as an external ``ImageSeries`` (path relative to the NWB file) linked as
  ``source_video``, and a ``Device`` for the camera.

Session and subject fields come from a small YAML file (:func:`read_metadata`); without
one, the identifier is a new UUID and the session start is the video's modification time
(else the pose file's) in UTC. :func:`read_nwb` reads the PoseEstimation groups of a file
(ours, DLC's dlc2nwb, SLEAP's) back into the pose data model.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import yaml
from ndx_pose import PoseEstimation, PoseEstimationSeries, Skeleton, Skeletons
from pynwb import NWBHDF5IO, NWBFile
from pynwb.device import Device
from pynwb.file import Subject
from pynwb.image import ImageSeries

from dlcflow import __version__
from dlcflow.core.fileio import atomic_path
from dlcflow.core.video import VideoError, video_info
from dlcflow.data.pose import SINGLE, make_poses, point_keys

__all__ = [
    "NWBFileError",
    "SESSION_KEYS",
    "SUBJECT_KEYS",
    "read_metadata",
    "read_nwb",
    "write_nwb",
]

#: Session fields a metadata YAML may set (NWBFile's arguments of the same names).
SESSION_KEYS = (
    "session_description",
    "identifier",
    "session_start_time",
    "session_id",
    "experimenter",
    "lab",
    "institution",
    "experiment_description",
    "keywords",
    "related_publications",
    "notes",
    "subject",
)
#: Subject fields (pynwb's Subject; DANDI asks for subject_id, species, sex and age).
SUBJECT_KEYS = (
    "subject_id",
    "species",
    "sex",
    "age",
    "date_of_birth",
    "description",
    "strain",
    "genotype",
    "weight",
)
_SEXES = ("M", "F", "U", "O")
_AGE = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
_TIMES = ("session_start_time", "date_of_birth")
_LISTS = ("experimenter", "keywords", "related_publications")
PROCESSING = "behavior"
_ANIMAL_PART = re.compile(r"^([A-Za-z]*_?\d+)_(.+)$")
CONFIDENCE = (
    "DeepLabCut likelihood (score map value at the prediction); 0 where the point is missing"
)


class NWBFileError(ValueError):
    """An NWB file or metadata file that cannot be used; the message names it and the cause."""


# -- metadata ---------------------------------------------------------------------------------
def _time(value: Any, where: str, key: str) -> dt.datetime:
    """A timezone-aware datetime from YAML (a date, a datetime, an ISO 8601 string); naive
    times are UTC."""
    if isinstance(value, dt.datetime):
        out = value
    elif isinstance(value, dt.date):
        out = dt.datetime(value.year, value.month, value.day)
    else:
        try:
            out = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise NWBFileError(
                f"{where}: {key} {value!r} is not an ISO 8601 date or time "
                "(e.g. 2024-05-01T10:30:00+02:00)"
            ) from None
    return out if out.tzinfo else out.replace(tzinfo=dt.UTC)


def check_metadata(metadata: Mapping[str, Any], where: str = "metadata") -> dict[str, Any]:
    """Session and subject fields checked and normalised (times aware, lists as lists);
    NWBFileError naming ``where`` and the key for unknown keys and bad values."""
    if not isinstance(metadata, Mapping):
        raise NWBFileError(f"{where}: metadata must be a mapping of session fields")
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if key not in SESSION_KEYS:
            raise NWBFileError(f"{where}: unknown key {key!r} (known: {', '.join(SESSION_KEYS)})")
        if value is None:
            continue
        if key in _TIMES:
            out[key] = _time(value, where, key)
        elif key in _LISTS:
            out[key] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        elif key == "subject":
            out[key] = _check_subject(value, where)
        else:
            out[key] = str(value)
    return out


def _check_subject(subject: Any, where: str) -> dict[str, Any]:
    if not isinstance(subject, Mapping):
        raise NWBFileError(f"{where}: subject must be a mapping of subject fields")
    out: dict[str, Any] = {}
    for key, value in subject.items():
        if key not in SUBJECT_KEYS:
            known = ", ".join(SUBJECT_KEYS)
            raise NWBFileError(f"{where}: unknown subject key {key!r} (known: {known})")
        if value is None:
            continue
        if key == "date_of_birth":
            out[key] = _time(value, where, "subject.date_of_birth")
        else:
            out[key] = str(value)
    if "sex" in out and out["sex"] not in _SEXES:
        raise NWBFileError(f"{where}: subject.sex {out['sex']!r} is not one of {', '.join(_SEXES)}")
    if "age" in out and not _AGE.match(out["age"]):
        raise NWBFileError(
            f"{where}: subject.age {out['age']!r} is not an ISO 8601 duration (e.g. P90D, P12W)"
        )
    return out


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Session and subject fields of a metadata YAML file (keys :data:`SESSION_KEYS`, and
    ``subject:`` with :data:`SUBJECT_KEYS`), checked by :func:`check_metadata`."""
    p = Path(path)
    if not p.is_file():
        raise NWBFileError(f"{p}: metadata file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise NWBFileError(f"{p}: not a YAML file ({first})") from None
    return check_metadata(data or {}, str(p))


# -- writing ----------------------------------------------------------------------------------
def _start_time(video: Path | None, poses_file: Path | None) -> dt.datetime:
    for source in (video, poses_file):
        if source is not None and source.is_file():
            return dt.datetime.fromtimestamp(source.stat().st_mtime, tz=dt.UTC)
    return dt.datetime.now(tz=dt.UTC)


def _relative(path: Path, nwb_path: Path) -> str:
    try:
        return os.path.relpath(path.absolute(), nwb_path.absolute().parent)
    except ValueError:  # another drive (Windows)
        return str(path.absolute())


def _individual_points(ds: xr.Dataset) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for individual, keypoint in point_keys(ds):
        out.setdefault(individual, []).append(keypoint)
    return out


def _edges(nodes: Sequence[str], skeleton: Sequence[Sequence[str]]) -> np.ndarray:
    index = {n: i for i, n in enumerate(nodes)}
    pairs = [(index[a], index[b]) for a, b in skeleton if a in index and b in index]
    return np.asarray(pairs, dtype=np.uint8).reshape(-1, 2)


def write_nwb(
    poses: xr.Dataset,
    path: str | os.PathLike[str],
    *,
    video: str | os.PathLike[str] | None = None,
    fps: float | None = None,
    metadata: Mapping[str, Any] | None = None,
    skeleton: Sequence[Sequence[str]] | None = None,
    model: str = "",
    unit: str = "",
) -> Path:
    """Write ``poses`` (the pose data model) as an NWB file at ``path``, atomically.

    ``video``: the analyzed video (source_video link, camera, frame size, default session
    start); ``fps``: frames per second (default ``poses.attrs["fps"]``, else the video's);
    ``metadata``: session and subject fields (:func:`check_metadata`; a metadata YAML's
    content, plus anything the caller sets, e.g. ``{"subject": {"subject_id": "m1"}}``);
    ``skeleton``: pairs of body parts (default ``poses.attrs["skeleton"]``); ``model``: a
    line describing the model (net type, pose_cfg) for the description; ``unit``:
    ``pixels`` for 2D, ``mm`` for 3D by default. Returns the path."""
    out = Path(path)
    meta = check_metadata(metadata or {}, str(out))
    video_path = Path(video) if video else None
    info = None
    if video_path is not None and video_path.is_file():
        try:
            info = video_info(video_path)
        except VideoError:
            info = None
    rate = fps or poses.attrs.get("fps") or (info.fps if info else None)
    if not rate or float(rate) <= 0:
        raise NWBFileError(f"{out}: frame rate unknown; give fps (the video's frames per second)")
    rate = float(rate)
    source = poses.attrs.get("source_file")
    source_path = Path(source) if source else None
    space = [str(s) for s in poses["space"].values]
    unit = unit or ("mm" if len(space) == 3 else "pixels")
    scorer = str(poses.attrs.get("scorer", ""))
    pairs = poses.attrs.get("skeleton", ()) if skeleton is None else skeleton
    name = (video_path or source_path or out).stem

    subject_fields = dict(meta.pop("subject", {}))
    nwb = NWBFile(
        session_description=meta.pop("session_description", f"pose estimation of {name}"),
        identifier=meta.pop("identifier", str(uuid.uuid4())),
        session_start_time=meta.pop("session_start_time", _start_time(video_path, source_path)),
        source_script=f"dlcflow {__version__} (DeepLabCut-compatible pose estimation)",
        source_script_file_name=str(source_path.name) if source_path else name,
        **meta,
    )
    if subject_fields:
        nwb.subject = Subject(**subject_fields)
    camera = nwb.create_device(
        name="camera", description=f"the camera that recorded {video_path or name}"
    )
    source_video = None
    if video_path is not None:
        source_video = ImageSeries(
            name="video",
            description="the analyzed video",
            unit="n.a.",
            external_file=[_relative(video_path, out)],
            format="external",
            starting_frame=[0],
            num_samples=info.nframes if info and info.nframes else poses.sizes["time"],
            rate=rate,
            dimension=[info.width, info.height] if info else None,
            device=camera,
        )
        nwb.add_acquisition(source_video)
    behavior = nwb.create_processing_module(name=PROCESSING, description="estimated poses")
    estimations, skeletons = _estimations(
        poses, pairs, rate, unit, scorer, model, camera, source_video, nwb.subject
    )
    behavior.add(Skeletons(skeletons=skeletons))
    for estimation in estimations:
        behavior.add(estimation)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, NWBHDF5IO(str(tmp), mode="w") as io:
        io.write(nwb)
    return out


def _estimations(
    poses: xr.Dataset,
    pairs: Sequence[Sequence[str]],
    rate: float,
    unit: str,
    scorer: str,
    model: str,
    camera: Device,
    source_video: ImageSeries | None,
    subject: Subject | None,
) -> tuple[list[PoseEstimation], list[Skeleton]]:
    multi = bool(poses.attrs.get("multianimal", False))
    has_confidence = bool(poses.attrs.get("has_confidence", True))
    space = [str(s) for s in poses["space"].values]
    frames = np.asarray(poses["time"].values, dtype=np.float64)
    timestamps = frames / rate
    position = poses["position"].transpose("time", "individuals", "keypoints", "space")
    confidence = poses["confidence"].transpose("time", "individuals", "keypoints")
    estimations, skeletons = [], []
    for individual, nodes in _individual_points(poses).items():
        tag = f"_{individual}" if multi else ""
        skel = Skeleton(
            name=f"skeleton{tag}",
            nodes=nodes,
            edges=_edges(nodes, pairs),
            subject=None if multi else subject,
        )
        skeletons.append(skel)
        series: list[PoseEstimationSeries] = []
        for keypoint in nodes:
            xyz = position.sel(individuals=individual, keypoints=keypoint).values
            kwargs: dict[str, Any] = {}
            if has_confidence:
                p = confidence.sel(individuals=individual, keypoints=keypoint).values
                kwargs = {
                    "confidence": np.nan_to_num(p, nan=0.0),
                    "confidence_definition": CONFIDENCE,
                }
            series.append(
                PoseEstimationSeries(
                    name=keypoint,
                    description=f"{keypoint} of {individual}" if multi else keypoint,
                    data=xyz,
                    unit=unit,
                    reference_frame=(
                        "(0, 0) is the top left corner of the video frame, x to the right, y down"
                        if unit == "pixels"
                        else "the calibration's world frame (camera 1's by default)"
                    ),
                    timestamps=series[0] if series else timestamps,
                    **kwargs,
                )
            )
        what = f"{individual}'s " if multi else ""
        estimations.append(
            PoseEstimation(
                name=f"PoseEstimation{tag}",
                pose_estimation_series=series,
                description=(
                    f"Estimated positions of {what}{len(nodes)} body parts ({', '.join(space)})"
                    f" by {scorer or 'DeepLabCut'}" + (f"; model {model}" if model else "")
                ),
                scorer=scorer or None,
                source_software="DeepLabCut",
                source_software_version=f"2.3 format, written by dlcflow {__version__}",
                skeleton=skel,
                device=camera,
                source_video=source_video,
            )
        )
    return estimations, skeletons


# -- reading ----------------------------------------------------------------------------------
def _pose_estimations(nwb: NWBFile) -> list[PoseEstimation]:
    found = []
    for module in nwb.processing.values():
        found += [i for i in module.data_interfaces.values() if isinstance(i, PoseEstimation)]
    return found


def _split_names(names: Sequence[str]) -> list[tuple[str, str]] | None:
    """``(individual, part)`` of series named ``<individual>_<part>`` in a file with one
    PoseEstimation for all animals: every name ``<word><digits>_<part>`` (``mouse1_nose``,
    ``track_0_nose``), two individuals or more, each with the same parts; else None (one
    animal whose parts are ``left_ear``... stays one animal)."""
    matches = [_ANIMAL_PART.match(n) for n in names]
    if not all(matches):
        return None
    split = [(m.group(1), m.group(2)) for m in matches if m]
    parts: dict[str, set[str]] = {}
    for individual, part in split:
        parts.setdefault(individual, set()).add(part)
    if len(parts) < 2 or len({frozenset(v) for v in parts.values()}) != 1:
        return None
    return split


def read_nwb(path: str | os.PathLike[str]) -> xr.Dataset:
    """The PoseEstimation groups of an NWB file as one pose dataset.

    One PoseEstimation: a single animal, unless its series are named
    ``<individual>_<part>`` (``mouse1_nose``, ``mouse2_nose``...; :func:`_split_names`),
    which are split into individuals. Several: one individual each, named after the group
    (``PoseEstimation_<name>`` → ``<name>``; SLEAP's tracks as they are). ``time`` is the
    frame index ``round(timestamp * fps)``, fps from the series' rate or the timestamps'
    median step; a confidence of 0 where the point is missing reads back as NaN."""
    p = Path(path)
    if not p.is_file():
        raise NWBFileError(f"{p}: NWB file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            io = NWBHDF5IO(str(p), mode="r", load_namespaces=True)
            nwb = io.read()
    except Exception as err:  # h5py and hdmf raise many error types
        raise NWBFileError(f"{p}: not a readable NWB file ({str(err).splitlines()[0]})") from None
    try:
        return _to_dataset(p, _pose_estimations(nwb))
    finally:
        io.close()


def _series_table(p: Path, estimations: list[PoseEstimation]) -> tuple[dict, np.ndarray, float]:
    """{(individual, part): (position, confidence)}, the shared timestamps, the fps."""
    points: dict[tuple[str, str], tuple[np.ndarray, np.ndarray | None]] = {}
    stamps, rate = None, None
    many = len(estimations) > 1
    for estimation in estimations:
        # several groups: one individual each, ours PoseEstimation_<individual>, SLEAP's
        # named after the track; one group: one animal (or <individual>_<part> series)
        individual = estimation.name.removeprefix("PoseEstimation_") if many else ""
        by_name = dict(estimation.pose_estimation_series)
        nodes = [str(n) for n in estimation.skeleton.nodes[:]] if estimation.skeleton else []
        order = [n for n in nodes if n in by_name] + [n for n in by_name if n not in nodes]
        for series in (by_name[n] for n in order):
            t = np.asarray(series.get_timestamps()[:], dtype=np.float64)
            if stamps is None:
                stamps = t
                rate = series.rate
            elif len(t) != len(stamps) or not np.allclose(t, stamps):
                raise NWBFileError(f"{p}: pose series {series.name} has other timestamps")
            conf = None if series.confidence is None else np.asarray(series.confidence[:])
            points[(individual, series.name)] = (np.asarray(series.data[:], np.float64), conf)
    if stamps is None:
        raise NWBFileError(f"{p}: no PoseEstimation in the file's processing modules")
    if not rate:
        steps = np.diff(stamps)
        rate = 1.0 / float(np.median(steps)) if len(steps) and np.median(steps) > 0 else 1.0
    return points, stamps, float(f"{rate:.9g}")  # 1 / (1 / 30) is 30.000000000000007


def _to_dataset(p: Path, estimations: list[PoseEstimation]) -> xr.Dataset:
    points, stamps, rate = _series_table(p, estimations)
    skeleton: list[list[str]] = []
    for estimation in estimations:
        if estimation.skeleton is not None:
            nodes = [str(n) for n in estimation.skeleton.nodes[:]]
            for a, b in np.asarray(estimation.skeleton.edges[:]).reshape(-1, 2):
                pair = [nodes[int(a)], nodes[int(b)]]
                if pair not in skeleton:
                    skeleton.append(pair)
    if len(estimations) == 1:
        names = list(points)
        split = _split_names([n for _, n in names])
        if split is not None:
            points = {s: points[k] for s, k in zip(split, names, strict=True)}
    individuals = list(dict.fromkeys(ind for ind, _ in points))
    multi = individuals != [""]
    keypoints = list(dict.fromkeys(kp for _, kp in points))
    dims = {v[0].shape[1] for v in points.values()}
    if len(dims) != 1 or dims - {2, 3}:
        raise NWBFileError(f"{p}: pose series mix or lack 2D and 3D data")
    n_space = dims.pop()
    names = individuals if multi else [""]
    pos = np.full((len(stamps), n_space, len(keypoints), len(names)), np.nan)
    conf = np.full((len(stamps), len(keypoints), len(names)), np.nan)
    has_confidence = all(c is not None for _, c in points.values())
    for (ind, kp), (xyz, c) in points.items():
        k, i = keypoints.index(kp), names.index(ind)
        pos[:, :, k, i] = xyz
        if c is not None:
            conf[:, k, i] = np.where(np.isnan(xyz).all(axis=1) & (c == 0), np.nan, c)
    unique = []
    if multi and SINGLE in names:
        others = {kp for ind, kp in points if ind != SINGLE}
        unique = [kp for ind, kp in points if ind == SINGLE and kp not in others]
    ds = make_poses(
        pos,
        conf if has_confidence else None,
        keypoints=keypoints,
        individuals=names if multi else None,
        space=("x", "y", "z")[:n_space],
        time=np.rint(stamps * rate).astype(np.int64),
        scorer=str(estimations[0].scorer or ""),
        unique_keypoints=unique,
        skeleton=skeleton,
        source_file=str(p),
        fps=rate,
    )
    ds = ds.assign_coords(time=np.rint(stamps * rate).astype(np.int64))
    ds.attrs["source_software"] = str(estimations[0].source_software or "")
    ds.attrs["rows"] = "frames"
    return ds
