"""DLC project config.yaml: DLC's template and defaults, reading with validation, atomic
writing. Paths live in :mod:`dlcflow.project.paths`, project creation in
:mod:`dlcflow.project.create`."""

from __future__ import annotations

import difflib
import io
import os
import warnings
from collections.abc import Mapping
from datetime import date as _date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from dlcflow.core.fileio import atomic_write_text

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class ConfigError(ValueError):
    """A project config.yaml that cannot be used; the message names the file and the cause."""


# Section comments and key order of DLC 2.3's config template.
_SECTIONS: list[tuple[str, list[str]]] = [
    (
        "Project definitions (do not edit)",
        ["Task", "scorer", "date", "multianimalproject", "identity"],
    ),
    ("Project path (change when moving around)", ["project_path"]),
    (
        "Annotation data set configuration (and individual video cropping parameters)",
        ["video_sets", "individuals", "uniquebodyparts", "multianimalbodyparts", "bodyparts"],
    ),
    (
        "Fraction of video to start/stop when extracting frames for labeling/refinement",
        ["start", "stop", "numframes2pick"],
    ),
    (
        "Plotting configuration",
        ["skeleton", "skeleton_color", "pcutoff", "dotsize", "alphavalue", "colormap"],
    ),
    (
        "Training,Evaluation and Analysis configuration",
        [
            "TrainingFraction",
            "iteration",
            "default_net_type",
            "default_augmenter",
            "default_track_method",
            "snapshotindex",
            "batch_size",
        ],
    ),
    ("Cropping Parameters (for analysis and outlier frame detection)", ["cropping"]),
    ("if cropping is true for analysis, then set the values here:", ["x1", "x2", "y1", "y2"]),
    (
        "Refinement configuration (parameters from annotation dataset configuration also "
        "relevant in this stage)",
        ["corner2move2", "move2corner"],
    ),
]

# Defaults DLC 2.3 writes into a new project (create_new_project).
DEFAULTS: dict[str, Any] = {
    "multianimalproject": False,
    "identity": None,
    "start": 0,
    "stop": 1,
    "numframes2pick": 20,
    "skeleton": [],
    "skeleton_color": "black",
    "pcutoff": 0.6,
    "dotsize": 12,
    "alphavalue": 0.7,
    "colormap": "rainbow",
    "TrainingFraction": [0.95],
    "iteration": 0,
    "default_net_type": "resnet_50",
    "default_augmenter": "default",
    "snapshotindex": -1,
    "batch_size": 8,
    "cropping": False,
    "x1": 0,
    "x2": 640,
    "y1": 277,
    "y2": 624,
    "corner2move2": [50, 50],
    "move2corner": True,
}
MULTI_DEFAULTS: dict[str, Any] = {
    "identity": False,
    "individuals": ["individual1", "individual2", "individual3"],
    "uniquebodyparts": [],
    "multianimalbodyparts": ["bodypart1", "bodypart2", "bodypart3"],
    "bodyparts": "MULTI!",
    "skeleton": [
        ["bodypart1", "bodypart2"],
        ["bodypart2", "bodypart3"],
        ["bodypart1", "bodypart3"],
    ],
    "default_net_type": "dlcrnet_ms5",
    "default_augmenter": "multi-animal-imgaug",
    "default_track_method": "ellipse",
}
REQUIRED = ("Task", "scorer", "date", "video_sets", "bodyparts", "TrainingFraction", "iteration")
OPTIONAL_KNOWN = (
    "project_path",
    "individuals",
    "uniquebodyparts",
    "multianimalbodyparts",
    "default_track_method",
    "eval_prefix",
    "engine",
    # keys of older DLC versions, still in their projects' configs (no effect)
    "resnet",
    "croppedtraining",
)
KNOWN_KEYS = frozenset(REQUIRED) | frozenset(DEFAULTS) | frozenset(OPTIONAL_KNOWN)

_NUMBER = (int, float)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, _NUMBER) and not isinstance(value, bool)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_types(cfg: Mapping[str, Any], where: str) -> None:
    """Raise ConfigError for the first key whose value has the wrong type or range."""

    def fail(key: str, expected: str) -> None:
        raise ConfigError(f"{where}: '{key}' must be {expected}, got {cfg[key]!r}")

    for key in ("Task", "scorer", "colormap", "skeleton_color", "default_net_type"):
        if key in cfg and not isinstance(cfg[key], str):
            fail(key, "a string")
    if "date" in cfg and not isinstance(cfg["date"], str | int):
        fail("date", "a string such as 'Mar4'")
    for key in ("numframes2pick", "iteration", "batch_size", "x1", "x2", "y1", "y2"):
        if key in cfg and not (_is_int(cfg[key]) and cfg[key] >= 0):
            fail(key, "a non-negative integer")
    for key in ("pcutoff", "alphavalue", "start", "stop"):
        if key in cfg and not (_is_number(cfg[key]) and 0 <= cfg[key] <= 1):
            fail(key, "a number between 0 and 1")
    if "dotsize" in cfg and not (_is_number(cfg["dotsize"]) and cfg["dotsize"] > 0):
        fail("dotsize", "a positive number")
    for key in ("cropping", "move2corner", "multianimalproject"):
        if key in cfg and cfg[key] is not None and not isinstance(cfg[key], bool):
            fail(key, "true or false")
    fractions = cfg.get("TrainingFraction")
    if "TrainingFraction" in cfg and not (
        isinstance(fractions, list)
        and fractions
        and all(_is_number(f) and 0 < f < 1 for f in fractions)
    ):
        fail("TrainingFraction", "a list of fractions between 0 and 1 (e.g. [0.95])")
    snap = cfg.get("snapshotindex")
    if "snapshotindex" in cfg and not (_is_int(snap) or snap == "all"):
        fail("snapshotindex", "an integer (-1 = last snapshot) or 'all'")
    if "video_sets" in cfg:
        vs = cfg["video_sets"]
        if vs is None:
            pass
        elif not isinstance(vs, Mapping):
            fail("video_sets", "a mapping {video path: {crop: 'x1, x2, y1, y2'}}")
        else:
            for video, entry in vs.items():
                if not (isinstance(entry, Mapping) and isinstance(entry.get("crop"), str)):
                    raise ConfigError(
                        f"{where}: video_sets entry {video!r} must hold crop: 'x1, x2, y1, y2'"
                    )
                try:
                    parse_crop(entry["crop"])
                except ValueError as err:
                    raise ConfigError(f"{where}: video_sets entry {video!r}: {err}") from None
    multi = bool(cfg.get("multianimalproject"))
    if multi:
        for key in ("individuals", "multianimalbodyparts", "uniquebodyparts"):
            if key in cfg and cfg[key] is not None and not _is_str_list(cfg[key]):
                fail(key, "a list of names")
    elif "bodyparts" in cfg and not (_is_str_list(cfg["bodyparts"]) and cfg["bodyparts"]):
        fail("bodyparts", "a non-empty list of body-part names")
    skeleton = cfg.get("skeleton")
    if skeleton and not (
        isinstance(skeleton, list)
        and all(isinstance(b, list) and len(b) >= 2 and _is_str_list(b) for b in skeleton)
    ):
        fail("skeleton", "a list of [bodypart, bodypart] pairs")
    for key in ("corner2move2",):
        value = cfg.get(key)
        if key in cfg and not (
            isinstance(value, list | tuple) and len(value) == 2 and all(map(_is_number, value))
        ):
            fail(key, "a pair of numbers")


def parse_crop(crop: str) -> tuple[int, int, int, int]:
    """Parse a video_sets crop string 'x1, x2, y1, y2'."""
    parts = [p.strip() for p in str(crop).split(",")]
    if len(parts) != 4:
        raise ValueError(f"crop {crop!r} must be 'x1, x2, y1, y2'")
    try:
        x1, x2, y1, y2 = (int(float(p)) for p in parts)
    except ValueError:
        raise ValueError(f"crop {crop!r} must hold four integers") from None
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"crop {crop!r} is empty (x2 <= x1 or y2 <= y1)")
    return x1, x2, y1, y2


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def _warn_unknown_keys(cfg: Mapping[str, Any], where: str) -> None:
    missing = [k for k in REQUIRED if k not in cfg]
    for key in cfg:
        if key in KNOWN_KEYS:
            continue
        close = difflib.get_close_matches(str(key), sorted(KNOWN_KEYS), n=1, cutoff=0.75)
        if close and close[0] in missing:
            raise ConfigError(
                f"{where}: required key '{close[0]}' is missing; '{key}' looks like a typo of it"
            )
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        warnings.warn(f"{where}: unknown key '{key}'{hint}", stacklevel=3)


def config_file(config: str | os.PathLike[str]) -> Path:
    """A project's config.yaml, given it or its folder."""
    path = Path(config).expanduser()
    return path / "config.yaml" if path.is_dir() else path


def load_yaml_mapping(path: Path, what: str) -> CommentedMap:
    """A YAML file's top-level mapping, comments kept; a missing file, bad YAML or another
    top level is one :class:`ConfigError` line naming ``path`` (``what`` says what it is)."""
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found")
    try:
        with path.open(encoding="utf-8") as fh:
            cfg = _yaml().load(fh)
    except Exception as err:  # ruamel raises many parser error types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"{path}: not valid YAML ({first})") from None
    if not isinstance(cfg, CommentedMap):
        raise ConfigError(f"{path}: expected a mapping of keys, got {type(cfg).__name__}")
    return cfg


def read_config(config: str | os.PathLike[str]) -> CommentedMap:
    """Read and validate a project config.yaml.

    The returned mapping keeps the file's comments (ruamel round trip). ``project_path``
    always points at the folder that holds the file, so a moved project keeps working;
    DLC's defaults fill keys that older projects lack (in memory only).
    """
    path = config_file(config)
    cfg = load_yaml_mapping(path, "config file")
    where = str(path)
    _warn_unknown_keys(cfg, where)
    missing = [k for k in REQUIRED if k not in cfg]
    if missing:
        raise ConfigError(f"{where}: required key '{missing[0]}' is missing")
    multi = bool(cfg.get("multianimalproject"))
    defaults = {**DEFAULTS, **(MULTI_DEFAULTS if multi else {})}
    for key, value in defaults.items():
        if key not in cfg:
            cfg[key] = value
    if cfg.get("video_sets") is None:
        cfg["video_sets"] = CommentedMap()
    if cfg.get("skeleton") is None:
        cfg["skeleton"] = []
    _check_types(cfg, where)
    cfg["date"] = str(cfg["date"])
    cfg["project_path"] = str(path.resolve().parent)
    return cfg


def write_config(config: str | os.PathLike[str], cfg: Mapping[str, Any]) -> None:
    """Write a config.yaml atomically (temp file in the same folder, then rename)."""
    path = Path(config)
    buffer = io.StringIO()
    _yaml().dump(cfg, buffer)
    atomic_write_text(path, buffer.getvalue())


def dlc_date(day: _date) -> str:
    """DLC's short date: three-letter month and the day without zero pad ('Mar4')."""
    return f"{MONTHS[day.month - 1]}{day.day}"


def template(multianimal: bool) -> CommentedMap:
    cfg = CommentedMap()
    for comment, keys in _SECTIONS:
        for i, key in enumerate(keys):
            if not multianimal and key in (
                "individuals",
                "uniquebodyparts",
                "multianimalbodyparts",
                "default_track_method",
            ):
                continue
            cfg[key] = None
            if i == 0:
                cfg.yaml_set_comment_before_after_key(key, before="\n" + comment)
    return cfg
