"""The labeler's data side: frames to label, labels as JSON, saving and refine merging.

Everything the page reads or writes goes through :class:`LabelStore`. Labels travel as
lists ``[individual, bodypart, x, y]`` (``individual`` is ``""`` in single-animal projects,
``"single"`` for unique body parts); machine predictions add the likelihood. Files are
DLC's: ``labeled-data/<video>/CollectedData_<scorer>.h5`` + ``.csv`` (fixed format, key
``df_with_missing``, 3-level row index), written atomically by :mod:`dlcflow.io.labels`.
Writes to one video folder are serialized by a lock, so two saves at once cannot
interleave; a crash leaves the previous complete file in place.
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from dlcflow.core.draw import PlotError, get_cmap
from dlcflow.data.pose import ONE_INDIVIDUAL, SINGLE, make_poses, point_keys, points_array
from dlcflow.io.labels import (
    LABELED_DATA,
    LabelError,
    read_annotations,
    read_machine_labels,
    write_annotations,
    write_machine_labels,
)
from dlcflow.io.tables import IMAGE_ROWS, to_dataset, to_frame
from dlcflow.project.paths import Project

Mode = Literal["label", "refine"]
Key = tuple[str, str]  # (individual or "", body part)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class LabelerError(ValueError):
    """A request the labeler cannot carry out; the message says why in one line."""


def safe_name(name: str, what: str = "name") -> str:
    """``name`` if it is a plain file or folder name (no separators, not ``.``/``..``)."""
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or any(c in name for c in "/\\\x00")
        or name.startswith(".")
    ):
        raise LabelerError(f"{what} {name!r} is not a plain file name")
    return name


def _hex(rgba: Sequence[float]) -> str:
    return "#" + "".join(f"{int(round(255 * float(c))):02x}" for c in rgba[:3])


def _keys_of(ds: xr.Dataset) -> list[Key]:
    """The labeler's (individual or "", body part) keys of a pose dataset, in column order."""
    multi = ds.attrs.get("multianimal", False)
    return [(ind if multi else "", kp) for ind, kp in point_keys(ds)]


def _model_keys(keys: Sequence[Key]) -> list[tuple[str, str]]:
    return [(ind or ONE_INDIVIDUAL, bp) for ind, bp in keys]


def _array(ds: xr.Dataset, keys: Sequence[Key], coords: Sequence[str]) -> np.ndarray:
    """``(rows, keys, coords)`` values of a pose dataset (coords ``x, y[, likelihood]``);
    keys it does not hold are NaN."""
    model_keys = _model_keys(keys)
    parts = [points_array(ds, model_keys)]
    if "likelihood" in coords:
        parts.append(points_array(ds, model_keys, "confidence")[..., None])
    return np.concatenate(parts, axis=2)


def _points(df: pd.DataFrame, coords: Sequence[str] = ("x", "y")) -> dict[str, list[list[Any]]]:
    """Per image name, the labeled points ``[ind, bp, *coords]`` (NaN points left out;
    a NaN likelihood becomes None)."""
    ds = to_dataset(df)
    keys = _keys_of(ds)
    arr = _array(ds, keys, coords)
    out: dict[str, list[list[Any]]] = {}
    for r, row in enumerate(df.index):
        pts = []
        for k, (ind, bp) in enumerate(keys):
            x, y, *rest = (float(v) for v in arr[r, k])
            if not (math.isnan(x) or math.isnan(y)):
                extra = [None if math.isnan(v) else round(v, 4) for v in rest]
                pts.append([ind, bp, round(x, 3), round(y, 3), *extra])
        if pts:
            out[str(row[2])] = pts
    return out


class LabelStore:
    """A project's frames and labels as the labeler sees them (thread-safe).

    ``mode="label"``: every labeled-data folder and its images. ``mode="refine"``: the
    folders holding ``machinelabels-iter<N>.h5`` (``N`` = ``iteration``, default the
    config's) and the images listed in them.
    """

    def __init__(
        self, config: str | os.PathLike[str], mode: Mode = "label", iteration: int | None = None
    ):
        if mode not in ("label", "refine"):
            raise LabelerError(f"mode must be 'label' or 'refine', not {mode!r}")
        self.mode: Mode = mode
        self._config = Path(config)
        self._project = Project(config)
        self._config_mtime = self._mtime(self._project.config_path)
        self.iteration = self._project.iteration if iteration is None else int(iteration)
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._locked: dict[str, frozenset[str]] = {}
        if mode == "refine":
            for video in self.videos():
                self._locked[video] = self._human_rows(video)

    # -- project -----------------------------------------------------------------------------
    @staticmethod
    def _mtime(path: Path) -> int:
        try:
            return path.stat().st_mtime_ns
        except OSError:
            return 0

    @property
    def project(self) -> Project:
        """The project, re-read when config.yaml changed (body parts added later appear)."""
        with self._guard:
            mtime = self._mtime(self._project.config_path)
            if mtime != self._config_mtime:
                try:
                    self._project = Project(self._config)
                except (OSError, ValueError) as err:
                    warnings.warn(f"config.yaml not reloaded: {err}", stacklevel=2)
                self._config_mtime = mtime
            return self._project

    @property
    def root(self) -> Path:
        """The project folder (the one holding config.yaml)."""
        return self.project.root

    def _lock(self, video: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(video, threading.Lock())

    def keys(self, project: Project | None = None) -> list[Key]:
        """The config's (individual, body part) keys in column order."""
        project = project or self.project
        if not project.multianimal:
            return [("", bp) for bp in project.bodyparts]
        keys = [(ind, bp) for ind in project.individuals for bp in project.multianimal_bodyparts]
        return keys + [(SINGLE, bp) for bp in project.unique_bodyparts]

    # -- listing -----------------------------------------------------------------------------
    def videos(self) -> list[str]:
        """Names of the labeled-data folders this mode works on."""
        project = self.project
        names = [p.name for p in project.labeled_folders()]
        if self.mode == "refine":
            names = [n for n in names if project.machine_labels(n, self.iteration).is_file()]
        return names

    def folder(self, video: str) -> Path:
        """The labeled-data folder of ``video`` (must be one of :meth:`videos`)."""
        safe_name(video, "video")
        folder = self.project.labeled_folder(video)
        if not folder.is_dir() or video not in self.videos():
            raise LabelerError(f"no video {video!r} to {self.mode} in {self.project.root}")
        return folder

    def images(self, video: str) -> dict[str, int]:
        """Image names of a folder with a version (mtime in ms), from one directory scan."""
        found: dict[str, int] = {}
        with os.scandir(self.folder(video)) as it:
            for entry in it:
                name = entry.name
                if name.startswith(".") or not name.lower().endswith(IMAGE_SUFFIXES):
                    continue
                try:
                    if entry.is_file():
                        found[name] = entry.stat().st_mtime_ns // 1_000_000
                except OSError:
                    continue
        return dict(sorted(found.items()))

    def frames(self, video: str) -> dict[str, int]:
        """The frames to show: all images (label) or the machine-labeled ones (refine)."""
        images = self.images(video)
        if self.mode == "label":
            return images
        machine = self._read_machine(video)
        names = [] if machine is None else [str(r[2]) for r in machine.index]
        return {n: images[n] for n in sorted(dict.fromkeys(names)) if n in images}

    # -- reading -----------------------------------------------------------------------------
    def collected_path(self, video: str) -> Path:
        """``labeled-data/<video>/CollectedData_<scorer>.h5``."""
        return self.project.collected_data(video)

    def _read_collected(self, video: str) -> pd.DataFrame | None:
        project = self.project
        path = project.existing_collected_data(video)
        if path is None:
            return None
        df = read_annotations(path)
        if (df.columns.nlevels == 4) != project.multianimal:
            kind = "multi-animal" if project.multianimal else "single-animal"
            raise LabelError(f"{path}: its columns do not fit the {kind} project")
        return df

    def _read_machine(self, video: str) -> pd.DataFrame | None:
        path = self.project.machine_labels(video, self.iteration)
        return read_machine_labels(path) if path.is_file() else None

    def _human_rows(self, video: str) -> frozenset[str]:
        """Images of a folder that hold at least one label in CollectedData."""
        df = self._read_collected(video)
        if df is None or df.empty:
            return frozenset()
        labeled = df.notna().any(axis=1).to_numpy()
        return frozenset(str(r[2]) for r, keep in zip(df.index, labeled, strict=True) if keep)

    def summary(self, video: str) -> dict[str, Any]:
        """Frames and labeled frames of one folder (for the video list and progress)."""
        frames = self.frames(video)
        labeled = self._human_rows(video) & frames.keys()
        return {"name": video, "frames": len(frames), "labeled": len(labeled)}

    def info(self) -> dict[str, Any]:
        """Project facts for the page: body parts, colours, individuals, videos."""
        project = self.project
        cfg = project.cfg
        parts = project.bodyparts
        cmap = str(cfg.get("colormap") or "rainbow")
        try:
            rgba = get_cmap(len(parts), cmap)
        except PlotError:
            rgba = get_cmap(len(parts), "rainbow")
        individuals = project.individuals
        if project.multianimal and project.unique_bodyparts:
            individuals = [*individuals, "single"]
        return {
            "task": project.task,
            "scorer": project.scorer,
            "mode": self.mode,
            "iteration": self.iteration,
            "multianimal": project.multianimal,
            "individuals": individuals if project.multianimal else [""],
            "bodyparts": project.multianimal_bodyparts if project.multianimal else parts,
            "unique_bodyparts": project.unique_bodyparts,
            "colors": {bp: _hex(c) for bp, c in zip(parts, rgba, strict=True)},
            "dotsize": float(cfg.get("dotsize") or 12),
            "pcutoff": float(cfg.get("pcutoff") if cfg.get("pcutoff") is not None else 0.6),
            "videos": [self.summary(v) for v in self.videos()],
        }

    def video_data(self, video: str) -> dict[str, Any]:
        """A folder's frames (name, version), labels and, in refine mode, predictions and
        the frames whose human labels win unless "adjust original labels" is on."""
        frames = self.frames(video)
        df = self._read_collected(video)
        labels = _points(df) if df is not None else {}
        data: dict[str, Any] = {
            "video": video,
            "frames": [[name, version] for name, version in frames.items()],
            "labels": {k: v for k, v in labels.items() if k in frames},
        }
        if self.mode == "refine":
            machine = self._read_machine(video)
            predicted = _points(machine, ("x", "y", "likelihood")) if machine is not None else {}
            data["machine"] = {k: v for k, v in predicted.items() if k in frames}
            data["locked"] = sorted(self._locked.get(video, frozenset()) & frames.keys())
        return data

    # -- writing -----------------------------------------------------------------------------
    def _parse_points(
        self, frame: str, points: Iterable[Sequence[Any]], where: Mapping[Key, int]
    ) -> dict[int, tuple[float, float]]:
        parsed: dict[int, tuple[float, float]] = {}
        for point in points:
            if not isinstance(point, list | tuple) or len(point) < 4:
                raise LabelerError(f"{frame}: a point must be [individual, bodypart, x, y]")
            key = (str(point[0]), str(point[1]))
            if key not in where:
                who = f"{key[0]}/{key[1]}" if key[0] else key[1]
                raise LabelerError(f"{frame}: unknown body part {who!r} (not in config.yaml)")
            try:
                x, y = float(point[2]), float(point[3])
            except (TypeError, ValueError):
                raise LabelerError(f"{frame}: coordinates of {key[1]!r} are not numbers") from None
            if not (math.isfinite(x) and math.isfinite(y)):
                raise LabelerError(f"{frame}: coordinates of {key[1]!r} are not finite")
            parsed[where[key]] = (x, y)
        return parsed

    def save(
        self, video: str, frames: Mapping[str, Sequence[Sequence[Any]]], adjust: bool = False
    ) -> dict[str, Any]:
        """Write the given frames' labels into ``CollectedData_<scorer>`` and return a report.

        Each given frame's row is replaced by its points (body parts not given become NaN);
        other rows stay as they are. Columns: the config's body parts in config order (body
        parts added later included), then any the file holds beyond the config (kept). In
        refine mode, frames that held human labels when the labeler started keep them
        (human labels win) unless ``adjust`` is true.
        """
        folder = self.folder(video)
        if not isinstance(frames, Mapping):
            raise LabelerError("'frames' must map image names to lists of points")
        with self._lock(video):
            project = self.project
            images = self.images(video)
            old = self._read_collected(video)
            keys = self.keys(project)
            old_ds = to_dataset(old) if old is not None else None
            extra = [k for k in (_keys_of(old_ds) if old_ds is not None else []) if k not in keys]
            all_keys = keys + extra
            where = {k: i for i, k in enumerate(all_keys)}
            table: dict[str, np.ndarray] = {}
            if old is not None and old_ds is not None:
                arr = _array(old_ds, all_keys, ("x", "y"))
                table = {str(row[2]): arr[r] for r, row in enumerate(old.index)}
            locked = self._locked.get(video, frozenset()) if not adjust else frozenset()
            saved: list[str] = []
            skipped: list[str] = []
            parsed = {}
            for name, points in frames.items():
                safe_name(name, "image")
                if name not in images and name not in table:
                    raise LabelerError(f"{folder.name}/{name}: no such image")
                if name in locked:
                    skipped.append(name)
                    continue
                parsed[name] = self._parse_points(name, points, where)
            for name, pts in parsed.items():
                row = table.get(name)
                row = np.full((len(all_keys), 2), np.nan) if row is None else row.copy()
                row[: len(keys)] = np.nan
                for k, xy in pts.items():
                    row[k] = xy
                table[name] = row
                saved.append(name)
            if saved:
                self._write(project, video, table, all_keys)
        return {
            "saved": saved,
            "skipped": skipped,
            "file": str(self.collected_path(video).relative_to(self.root)),
            **self.summary(video),
        }

    @staticmethod
    def _write(
        project: Project, video: str, table: Mapping[str, np.ndarray], keys: Sequence[Key]
    ) -> None:
        rows = sorted(table)
        values = np.stack([table[n] for n in rows]) if rows else np.empty((0, len(keys), 2))
        individuals = list(dict.fromkeys(ind or ONE_INDIVIDUAL for ind, _ in keys))
        bodyparts = list(dict.fromkeys(bp for _, bp in keys))
        position = np.full((len(rows), 2, len(bodyparts), len(individuals)), np.nan)
        for k, (ind, bp) in enumerate(_model_keys(keys)):
            position[:, :, bodyparts.index(bp), individuals.index(ind)] = values[:, k]
        ds = make_poses(
            position,
            keypoints=bodyparts,
            individuals=individuals if project.multianimal else None,
            time=[f"{LABELED_DATA}/{video}/{name}" for name in rows],
            scorer=project.scorer,
            unique_keypoints=[bp for ind, bp in keys if ind == SINGLE],
        )
        ds.attrs["rows"] = IMAGE_ROWS
        write_annotations(to_frame(ds).sort_index(), project.collected_data(video))

    def remove_frame(self, video: str, frame: str) -> dict[str, Any]:
        """Delete an unusable frame: its rows in CollectedData and machine labels, then the
        image itself."""
        folder = self.folder(video)
        safe_name(frame, "image")
        image = folder / frame
        if image.suffix.lower() not in IMAGE_SUFFIXES:
            raise LabelerError(f"{video}/{frame}: not an image name")
        with self._lock(video):
            project = self.project
            found = image.is_file()
            old = self._read_collected(video)
            if old is not None and frame in {str(r[2]) for r in old.index}:
                found = True
                keep = [str(r[2]) != frame for r in old.index]
                write_annotations(old.loc[keep], project.collected_data(video))
            machine_h5 = project.machine_labels(video, self.iteration)
            if machine_h5.is_file():
                machine = read_machine_labels(machine_h5)
                if frame in {str(r[2]) for r in machine.index}:
                    found = True
                    keep = [str(r[2]) != frame for r in machine.index]
                    csv = project.machine_labels(video, ext="csv")
                    write_machine_labels(
                        machine.loc[keep], machine_h5, csv if csv.is_file() else None
                    )
            if not found:
                raise LabelerError(f"{video}/{frame}: no such image")
            image.unlink(missing_ok=True)
        return {"removed": frame, **self.summary(video)}
