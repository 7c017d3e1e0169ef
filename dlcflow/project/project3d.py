"""A DLC 3D project (``<project>-<experimenter>-<date>-3d/``): its config and every path.

DLC 2.3's layout (``create_new_project_3d``): ``camera_matrix/`` (DLC's
``<cam>_intrinsic_params.pickle`` and ``stereo_params.pickle``; dlcflow adds Anipose's
``calibration.toml`` for any number of cameras and ``reprojection_errors.csv``),
``calibration_images/`` (``<camera>-NN.jpg``: the camera name in the file name),
``corners/``, ``undistortion/``, ``removed_calibration_images/`` and ``config.yaml``.

Videos of one recording are grouped by the camera name in their file names: ``<prefix>
<cam><suffix>`` for each camera; the 3D output is ``<prefix>_<suffix>_<scorername_3d>.h5``
(``_`` and ``-`` at the seam removed), as DLC names it.
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from collections.abc import Iterable, Sequence
from datetime import date as _date
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from dlcflow.project.config import (
    ConfigError,
    config_file,
    dlc_date,
    load_yaml_mapping,
    write_config,
)
from dlcflow.project.create import project_folder

__all__ = [
    "IMAGE_SUFFIXES",
    "Project3D",
    "create_new_project_3d",
    "read_config_3d",
    "recording_name",
]

#: Calibration image types looked for in ``calibration_images/``.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")

_REQUIRED = ("Task", "scorer", "date", "project_path", "camera_names")

_DEFAULTS: dict[str, Any] = {
    "skeleton": [],
    "skeleton_color": "black",
    "pcutoff": 0.4,
    "colormap": "jet",
    "dotsize": 15,
    "alphaValue": 0.8,
    "markerType": "*",
    "markerColor": "r",
    "scorername_3d": "DLC_3D",
}

_SECTIONS = (
    ("Project definitions (do not edit)", ("Task", "scorer", "date")),
    ("Project path (change when moving around)", ("project_path",)),
    (
        "Plotting configuration",
        (
            "skeleton",
            "skeleton_color",
            "pcutoff",
            "colormap",
            "dotsize",
            "alphaValue",
            "markerType",
            "markerColor",
        ),
    ),
    (
        "Number of cameras, camera names, path of the config files, shuffle index and "
        "trainingsetindex used to analyze videos:",
        ("num_cameras", "camera_names", "scorername_3d"),
    ),
)


def read_config_3d(config: str | os.PathLike[str]) -> CommentedMap:
    """Read and check a 3D project's config.yaml; ``project_path`` is its folder."""
    path = config_file(config)
    cfg = load_yaml_mapping(path, "3D config file")
    missing = [k for k in _REQUIRED if k not in cfg]
    if missing:
        raise ConfigError(f"{path}: required key '{missing[0]}' is missing (is it a 3D config?)")
    names = cfg["camera_names"]
    if (
        not isinstance(names, list)
        or len(names) < 2
        or not all(isinstance(n, str) and n for n in names)
    ):
        raise ConfigError(f"{path}: camera_names must list two or more camera names")
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: camera_names has duplicates ({names})")
    for key, value in _DEFAULTS.items():
        if cfg.get(key) is None:
            cfg[key] = value
    if cfg.get("num_cameras") is None:
        cfg["num_cameras"] = len(names)
    elif int(cfg["num_cameras"]) != len(names):
        raise ConfigError(
            f"{path}: num_cameras is {cfg['num_cameras']} but camera_names lists {len(names)}"
        )
    try:
        float(cfg["pcutoff"])
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: pcutoff must be a number, got {cfg['pcutoff']!r}") from None
    cfg["date"] = str(cfg["date"])
    cfg["project_path"] = str(path.resolve().parent)
    return cfg


def _camera_pattern(camera: str) -> re.Pattern[str]:
    """``camera`` not followed by a letter or digit (``camera-1`` is not in ``camera-10``)."""
    return re.compile(re.escape(camera) + r"(?![0-9A-Za-z])")


def recording_name(stem: str, camera: str) -> str | None:
    """DLC's name of the recording a video of ``camera`` belongs to (``<prefix>_<suffix>``,
    one ``_``/``-`` at each seam removed), or None when ``camera`` is not in ``stem``."""
    hit = _camera_pattern(camera).search(stem)
    if hit is None:
        return None
    prefix, suffix = stem[: hit.start()], stem[hit.end() :]
    if prefix.endswith(("_", "-")):
        prefix = prefix[:-1]
    if suffix.startswith(("_", "-")):
        suffix = suffix[1:]
    return "_".join(p for p in (prefix, suffix) if p) or camera


class Project3D:
    """A 3D project: its validated config and every path inside it."""

    def __init__(self, config: str | os.PathLike[str]):
        path = Path(config).expanduser()
        if path.is_dir():
            path = path / "config.yaml"
        self.cfg: CommentedMap = read_config_3d(path)
        self.config_path: Path = path.resolve()
        self.root: Path = self.config_path.parent

    def __repr__(self) -> str:
        return f"Project3D({str(self.config_path)!r})"

    # -- config facts -------------------------------------------------------------------
    @property
    def camera_names(self) -> list[str]:
        return [str(n) for n in self.cfg["camera_names"]]

    @property
    def scorer_3d(self) -> str:
        return str(self.cfg["scorername_3d"])

    @property
    def pcutoff(self) -> float:
        return float(self.cfg["pcutoff"])

    @property
    def skeleton(self) -> list[list[str]]:
        return [[str(a), str(b)] for a, b in (self.cfg.get("skeleton") or [])]

    def camera_config(self, camera: str) -> Path:
        """The 2D project config of ``camera`` (``config_file_<cam>``)."""
        value = self.cfg.get(f"config_file_{camera}")
        if not value:
            raise ConfigError(f"{self.config_path}: config_file_{camera} is not set")
        p = Path(str(value)).expanduser()
        return p if p.is_absolute() else (self.root / p)

    def camera_shuffle(self, camera: str) -> int:
        return int(self.cfg.get(f"shuffle_{camera}", 1))

    def camera_trainingsetindex(self, camera: str) -> int:
        return int(self.cfg.get(f"trainingsetindex_{camera}", 0))

    # -- folders ------------------------------------------------------------------------
    @property
    def camera_matrix_dir(self) -> Path:
        return self.root / "camera_matrix"

    @property
    def calibration_images_dir(self) -> Path:
        return self.root / "calibration_images"

    @property
    def corners_dir(self) -> Path:
        return self.root / "corners"

    @property
    def undistortion_dir(self) -> Path:
        return self.root / "undistortion"

    @property
    def removed_images_dir(self) -> Path:
        return self.root / "removed_calibration_images"

    @property
    def triangulation_dir(self) -> Path:
        """``triangulation/``: the workflow's 3D outputs of this project (dlcflow's own:
        several 3D projects can triangulate the same videos)."""
        return self.root / "triangulation"

    # -- calibration files --------------------------------------------------------------
    def calibration_images(self, camera: str) -> list[Path]:
        """The calibration images of ``camera`` (its name in the file name), sorted."""
        folder = self.calibration_images_dir
        if not folder.is_dir():
            return []
        pattern = _camera_pattern(camera)
        return sorted(
            p
            for p in folder.iterdir()
            if p.suffix.lower() in IMAGE_SUFFIXES and pattern.search(p.stem)
        )

    def corner_image(self, image: str | os.PathLike[str]) -> Path:
        """DLC's ``corners/<image>_corner.jpg``."""
        return self.corners_dir / f"{Path(image).stem}_corner.jpg"

    def undistorted_image(self, image: str | os.PathLike[str]) -> Path:
        return self.undistortion_dir / f"{Path(image).stem}_undistort.jpg"

    def intrinsics_file(self, camera: str) -> Path:
        return self.camera_matrix_dir / f"{camera}_intrinsic_params.pickle"

    @property
    def stereo_file(self) -> Path:
        return self.camera_matrix_dir / "stereo_params.pickle"

    @property
    def calibration_file(self) -> Path:
        """Anipose's ``calibration.toml`` of all cameras (dlcflow's own addition)."""
        return self.camera_matrix_dir / "calibration.toml"

    @property
    def reprojection_errors(self) -> Path:
        """Per camera and image: the board's reprojection error (px), csv."""
        return self.camera_matrix_dir / "reprojection_errors.csv"

    @property
    def reprojection_errors_plot(self) -> Path:
        return self.camera_matrix_dir / "reprojection_errors.png"

    @property
    def undistortion_plot(self) -> Path:
        """check_undistortion's triangulated board corners."""
        return self.undistortion_dir / "triangulated_board.png"

    # -- videos and 3D outputs ----------------------------------------------------------
    def recordings(self, videos: Iterable[str | os.PathLike[str]]) -> dict[str, dict[str, Path]]:
        """Videos grouped by recording: ``{name: {camera: video}}``, a recording listed
        only when every camera has a video; cameras in ``camera_names`` order."""
        groups: dict[str, dict[str, Path]] = {}
        for video in videos:
            v = Path(video)
            hits = [c for c in self.camera_names if recording_name(v.stem, c) is not None]
            if len(hits) != 1:
                continue
            groups.setdefault(recording_name(v.stem, hits[0]) or "", {})[hits[0]] = v
        return {
            name: {c: views[c] for c in self.camera_names}
            for name, views in sorted(groups.items())
            if set(views) == set(self.camera_names)
        }

    def output_3d(self, recording: str, destfolder: str | os.PathLike[str]) -> Path:
        """``<destfolder>/<recording>_<scorername_3d>.h5``."""
        return Path(destfolder) / f"{recording}_{self.scorer_3d}.h5"

    @staticmethod
    def meta_3d(h5: str | os.PathLike[str]) -> Path:
        """DLC's ``<output>_meta.pickle`` beside a 3D output."""
        p = Path(h5)
        return p.with_name(p.stem + "_meta.pickle")

    @staticmethod
    def quality_3d(h5: str | os.PathLike[str]) -> Path:
        """dlcflow's per-point reprojection error and camera count beside a 3D output
        (a separate file, so DLC's readers of the 3D file see x, y, z only)."""
        p = Path(h5)
        return p.with_name(p.stem + "_quality.h5")

    @staticmethod
    def filtered_3d(h5: str | os.PathLike[str]) -> Path:
        p = Path(h5)
        return p.with_name(p.stem + "_filtered.h5")

    @staticmethod
    def labeled_video_3d(h5: str | os.PathLike[str]) -> Path:
        p = Path(h5)
        return p.with_name(p.stem + "_labeled3d.mp4")

    @staticmethod
    def trajectories_3d(h5: str | os.PathLike[str]) -> Path:
        p = Path(h5)
        return p.with_name(p.stem + "_trajectories3d.png")

    @staticmethod
    def groundtruth_3d(recording_dir: str | os.PathLike[str], recording: str) -> Path:
        """The synthetic demo's ``<recording>_groundtruth_3d.h5``."""
        return Path(recording_dir) / f"{recording}_groundtruth_3d.h5"


def create_new_project_3d(
    project: str,
    experimenter: str,
    num_cameras: int = 2,
    working_directory: str | os.PathLike[str] | None = None,
    camera_names: Sequence[str] | None = None,
) -> str:
    """Create ``<project>-<experimenter>-<YYYY-MM-DD>-3d/`` with DLC's layout; return its
    config path. ``camera_names`` replaces DLC's ``camera-1, camera-2, ...``."""
    names = (
        list(camera_names) if camera_names else [f"camera-{i}" for i in range(1, num_cameras + 1)]
    )
    if camera_names and num_cameras not in (2, len(names)):
        raise ValueError(f"num_cameras {num_cameras} but {len(names)} camera names given")
    if len(names) < 2:
        raise ValueError("a 3D project needs two or more cameras")
    today = _date.today()
    root = project_folder(project, experimenter, working_directory, today, suffix="-3d")
    config_path = root / "config.yaml"
    if config_path.exists():
        warnings.warn(f"{root}: project exists already; leaving it as it is", stacklevel=2)
        return str(config_path)
    wd = root.parent
    values: dict[str, Any] = {
        **_DEFAULTS,
        "Task": project,
        "scorer": experimenter,
        "date": dlc_date(today),
        "project_path": str(root),
        "num_cameras": len(names),
        "camera_names": names,
        "skeleton": [
            ["bodypart1", "bodypart2"],
            ["bodypart2", "bodypart3"],
            ["bodypart3", "bodypart4"],
            ["bodypart4", "bodypart5"],
        ],
    }
    cfg = CommentedMap()
    for comment, keys in _SECTIONS:
        for i, key in enumerate(keys):
            cfg[key] = values[key]
            if i == 0:
                cfg.yaml_set_comment_before_after_key(key, before="\n" + comment)
    for cam in names:
        cfg[f"config_file_{cam}"] = str(wd / f"2DprojectOf{cam}" / "config.yaml")
    for cam in names:
        cfg[f"shuffle_{cam}"] = 1
        cfg[f"trainingsetindex_{cam}"] = 0
    created = not root.exists()
    try:
        for sub in (
            "camera_matrix",
            "calibration_images",
            "undistortion",
            "corners",
            "removed_calibration_images",
        ):
            (root / sub).mkdir(parents=True, exist_ok=True)
        write_config(config_path, cfg)
        read_config_3d(config_path)  # names that cannot work fail here, not later
    except BaseException:
        if created:
            shutil.rmtree(root, ignore_errors=True)
        raise
    return str(config_path)
