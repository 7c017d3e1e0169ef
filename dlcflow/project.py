"""DLC project config.yaml: create, read, validate, add videos, and every artifact path.

This is the one module that knows DeepLabCut's file names. Everything else asks a
:class:`Project` for a path instead of building one by hand.
"""

from __future__ import annotations

import difflib
import io
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import date as _date
from itertools import pairwise
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from dlcflow.video import VIDEO_EXTENSIONS, VideoError, video_info

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


def read_config(config: str | os.PathLike[str]) -> CommentedMap:
    """Read and validate a project config.yaml.

    The returned mapping keeps the file's comments (ruamel round trip). ``project_path``
    always points at the folder that holds the file, so a moved project keeps working;
    DLC's defaults fill keys that older projects lack (in memory only).
    """
    path = Path(config).expanduser()
    if path.is_dir():
        path = path / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    where = str(path)
    try:
        with path.open(encoding="utf-8") as fh:
            cfg = _yaml().load(fh)
    except Exception as err:  # ruamel raises many parser error types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"{where}: not valid YAML ({first})") from None
    if not isinstance(cfg, CommentedMap):
        raise ConfigError(f"{where}: expected a mapping of keys, got {type(cfg).__name__}")
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


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to ``path`` via a temp file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dlc_date(day: _date) -> str:
    """DLC's short date: three-letter month and the day without zero pad ('Mar4')."""
    return f"{MONTHS[day.month - 1]}{day.day}"


def _template(multianimal: bool) -> CommentedMap:
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


def collect_videos(videos: Iterable[str | os.PathLike[str]], videotype: str = "") -> list[Path]:
    """Expand folders into their video files; keep files as they are."""
    found: list[Path] = []
    for item in videos:
        p = Path(item).expanduser()
        if p.is_dir():
            exts = (videotype,) if videotype else VIDEO_EXTENSIONS
            inside = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in exts)
            if not inside:
                warnings.warn(f"{p}: no videos found (looked for {', '.join(exts)})", stacklevel=2)
            found.extend(inside)
        elif p.is_file():
            found.append(p)
        else:
            raise FileNotFoundError(f"{p}: video not found")
    return found


def _place_videos(sources: Sequence[Path], video_dir: Path, copy: bool) -> list[Path]:
    """Symlink (or copy) videos into the project's videos/ folder; return what the config
    should list (the resolved original for links, the copy for copies)."""
    listed = []
    video_dir.mkdir(parents=True, exist_ok=True)
    for src in sources:
        dst = video_dir / src.name
        if dst.exists() or dst.is_symlink():
            if dst.resolve() != src.resolve():
                raise FileExistsError(f"{dst}: a different video of that name is already there")
        elif copy:
            tmp = dst.with_name(f".{dst.name}.tmp")
            shutil.copy2(src, tmp)
            os.replace(tmp, dst)
        else:
            try:
                os.symlink(src.resolve(), dst)
            except OSError:
                warnings.warn(f"{dst}: cannot make a symlink here; copying instead", stacklevel=3)
                shutil.copy2(src, dst)
                copy = True
        listed.append(dst.resolve() if copy else src.resolve())
    return listed


def _video_entry(video: Path) -> dict[str, str]:
    info = video_info(video)
    return {"crop": f"0, {info.width}, 0, {info.height}"}


def create_new_project(
    project: str,
    experimenter: str,
    videos: Sequence[str | os.PathLike[str]],
    working_directory: str | os.PathLike[str] | None = None,
    copy_videos: bool = False,
    videotype: str = "",
    multianimal: bool = False,
    individuals: Sequence[str] | None = None,
    bodyparts: Sequence[str] | None = None,
) -> str:
    """Create ``<project>-<experimenter>-<YYYY-MM-DD>/`` with DLC's layout; return its config path.

    ``bodyparts`` (and ``individuals`` for multi-animal projects) replace DLC's placeholder
    names; everything else matches ``deeplabcut.create_new_project``.
    """
    for name, value in (("project", project), ("experimenter", experimenter)):
        if not value or any(c in value for c in "/\\ "):
            raise ValueError(f"{name} {value!r} must be a non-empty name without spaces or slashes")
    today = _date.today()
    wd = Path(working_directory or ".").expanduser().resolve()
    root = wd / f"{project}-{experimenter}-{today.isoformat()}"
    config_path = root / "config.yaml"
    if config_path.exists():
        warnings.warn(f"{root}: project exists already; leaving it as it is", stacklevel=2)
        return str(config_path)
    sources = collect_videos(videos, videotype)
    entries = {}
    for src in sources:
        try:
            entries[src] = _video_entry(src)
        except VideoError as err:
            warnings.warn(f"{err}; skipping it", stacklevel=2)
    if not entries:
        raise ValueError("no readable videos given: the project was not created")
    created = not root.exists()
    try:
        for sub in ("videos", "labeled-data", "training-datasets", "dlc-models"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        listed = _place_videos(list(entries), root / "videos", copy_videos)
        video_sets = CommentedMap()
        for src, where in zip(entries, listed, strict=True):
            video_sets[str(where)] = entries[src]
            (root / "labeled-data" / src.stem).mkdir(exist_ok=True)
        cfg = _template(multianimal)
        values = {**DEFAULTS, **(MULTI_DEFAULTS if multianimal else {})}
        if not multianimal:
            values["bodyparts"] = ["bodypart1", "bodypart2", "bodypart3", "objectA"]
            values["skeleton"] = [["bodypart1", "bodypart2"], ["objectA", "bodypart3"]]
            if bodyparts:
                values["bodyparts"] = list(bodyparts)
                values["skeleton"] = [list(p) for p in pairwise(bodyparts)]
        else:
            if bodyparts:
                values["multianimalbodyparts"] = list(bodyparts)
                values["skeleton"] = [list(p) for p in pairwise(bodyparts)]
            if individuals:
                values["individuals"] = list(individuals)
        values.update(
            Task=project,
            scorer=experimenter,
            date=dlc_date(today),
            multianimalproject=multianimal,
            project_path=str(root),
            video_sets=video_sets,
        )
        for key in cfg:
            cfg[key] = values.get(key)
        write_config(config_path, cfg)
    except BaseException:
        if created:
            shutil.rmtree(root, ignore_errors=True)
        raise
    return str(config_path)


def add_new_videos(
    config: str | os.PathLike[str],
    videos: Sequence[str | os.PathLike[str]],
    copy_videos: bool = False,
    coords: Sequence[Sequence[int]] | None = None,
    extract_frames: bool = False,
) -> list[str]:
    """Add videos to a project's ``video_sets`` (symlinked or copied into ``videos/``).

    ``coords`` gives one ``[x1, x2, y1, y2]`` crop per video; by default the full frame.
    Returns the config keys of the added videos. With ``extract_frames`` the new videos'
    frames are extracted right away.
    """
    project = Project(config)
    sources = collect_videos(videos)
    if coords is not None and len(coords) != len(sources):
        raise ValueError(f"coords has {len(coords)} entries for {len(sources)} videos")
    entries = {src: _video_entry(src) for src in sources}
    if coords is not None:
        for src, c in zip(sources, coords, strict=True):
            entries[src] = {"crop": ", ".join(str(int(v)) for v in c)}
    listed = _place_videos(sources, project.root / "videos", copy_videos)
    cfg = project.cfg
    added = []
    for src, where in zip(sources, listed, strict=True):
        cfg["video_sets"][str(where)] = entries[src]
        project.labeled_folder(src.stem).mkdir(parents=True, exist_ok=True)
        added.append(str(where))
    write_config(project.config_path, cfg)
    if extract_frames:
        from dlcflow.frames import extract_frames as _extract  # noqa: PLC0415 (downstream, opt-in)

        _extract(project.config_path, videos_list=added)
    return added


def net_abbreviation(net_type: str) -> str:
    """DLC's short network name used in scorer names."""
    if net_type.startswith("resnet"):
        return net_type.replace("_", "")
    if net_type.startswith("mobilenet"):
        return f"mobnet_{int(round(float(net_type.split('_')[-1]) * 100))}"
    if net_type.startswith("efficientnet"):
        return f"effnet_{net_type.split('-')[1]}"
    if net_type.startswith("dlcrnet"):
        return "dlcrnetms5"
    raise ValueError(f"unknown net_type {net_type!r}")


def pct(fraction: float) -> int:
    """``int(100 * fraction)``: DLC's truncation (0.29 gives 28)."""
    return int(100 * fraction)


class Project:
    """A DLC project: its validated config and every path inside it."""

    def __init__(self, config: str | os.PathLike[str]):
        path = Path(config).expanduser()
        if path.is_dir():
            path = path / "config.yaml"
        self.cfg: CommentedMap = read_config(path)
        self.config_path: Path = path.resolve()
        self.root: Path = self.config_path.parent

    def __repr__(self) -> str:
        return f"Project({str(self.config_path)!r})"

    # -- config facts -------------------------------------------------------------------
    @property
    def task(self) -> str:
        return str(self.cfg["Task"])

    @property
    def scorer(self) -> str:
        return str(self.cfg["scorer"])

    @property
    def date(self) -> str:
        return str(self.cfg["date"])

    @property
    def iteration(self) -> int:
        return int(self.cfg["iteration"])

    @property
    def multianimal(self) -> bool:
        return bool(self.cfg.get("multianimalproject"))

    @property
    def individuals(self) -> list[str]:
        return list(self.cfg.get("individuals") or []) if self.multianimal else []

    @property
    def multianimal_bodyparts(self) -> list[str]:
        return list(self.cfg.get("multianimalbodyparts") or []) if self.multianimal else []

    @property
    def unique_bodyparts(self) -> list[str]:
        return list(self.cfg.get("uniquebodyparts") or []) if self.multianimal else []

    @property
    def bodyparts(self) -> list[str]:
        """All body parts in config order (multi animal: animal parts, then unique parts)."""
        if self.multianimal:
            return self.multianimal_bodyparts + self.unique_bodyparts
        return list(self.cfg["bodyparts"])

    @property
    def training_fractions(self) -> list[float]:
        return [float(f) for f in self.cfg["TrainingFraction"]]

    @property
    def video_sets(self) -> dict[str, dict[str, str]]:
        return {str(k): dict(v) for k, v in (self.cfg.get("video_sets") or {}).items()}

    def crop(self, video_key: str) -> tuple[int, int, int, int]:
        return parse_crop(self.video_sets[video_key]["crop"])

    # -- videos -------------------------------------------------------------------------
    def resolve_video(self, video_key: str) -> Path:
        """The video file of a video_sets entry: the listed path if it exists, else
        ``videos/<name>`` inside the project (a moved project)."""
        listed = Path(video_key)
        if listed.exists():
            return listed
        local = self.root / "videos" / _basename(video_key)
        return local if local.exists() else listed

    def video_stems(self) -> list[str]:
        """Stems of video_sets videos = their labeled-data folder names."""
        return [Path(_basename(k)).stem for k in self.video_sets]

    def video_key_for_stem(self, stem: str) -> str:
        for key in self.video_sets:
            if Path(_basename(key)).stem == stem:
                return key
        raise KeyError(f"{self.config_path}: no video named {stem!r} in video_sets")

    # -- labeled data -------------------------------------------------------------------
    @property
    def labeled_data_dir(self) -> Path:
        return self.root / "labeled-data"

    def labeled_folder(self, stem: str) -> Path:
        return self.labeled_data_dir / stem

    def collected_data(self, stem: str, ext: str = "h5", scorer: str | None = None) -> Path:
        return self.labeled_folder(stem) / f"CollectedData_{scorer or self.scorer}.{ext}"

    def check_labels_folder(self, stem: str) -> Path:
        return self.labeled_data_dir / f"{stem}_labeled"

    def frames_manifest(self, stem: str) -> Path:
        """dlcflow's record of a frame extraction (the `frames` rule's output)."""
        return self.labeled_folder(stem) / ".dlcflow-frames.json"

    def machine_labels(self, stem: str, iteration: int | None = None, ext: str = "h5") -> Path:
        it = self.iteration if iteration is None else iteration
        if ext == "csv":
            return self.labeled_folder(stem) / "machinelabels.csv"
        return self.labeled_folder(stem) / f"machinelabels-iter{it}.h5"

    def labeled_folders(self) -> list[Path]:
        """Every labeled-data/<video> folder (check_labels' `_labeled` folders excluded)."""
        if not self.labeled_data_dir.is_dir():
            return []
        return sorted(
            p
            for p in self.labeled_data_dir.iterdir()
            if p.is_dir() and not p.name.endswith("_labeled") and not p.name.startswith(".")
        )

    # -- training datasets --------------------------------------------------------------
    def training_set_folder(self, iteration: int | None = None) -> Path:
        it = self.iteration if iteration is None else iteration
        return (
            self.root
            / "training-datasets"
            / f"iteration-{it}"
            / f"UnaugmentedDataSet_{self.task}{self.date}"
        )

    def dataset_file(self, fraction: float, shuffle: int, iteration: int | None = None) -> Path:
        ext = "pickle" if self.multianimal else "mat"
        name = f"{self.task}_{self.scorer}{pct(fraction)}shuffle{shuffle}.{ext}"
        return self.training_set_folder(iteration) / name

    def documentation_file(
        self, fraction: float, shuffle: int, iteration: int | None = None
    ) -> Path:
        name = f"Documentation_data-{self.task}_{pct(fraction)}shuffle{shuffle}.pickle"
        return self.training_set_folder(iteration) / name

    # -- models and evaluation ----------------------------------------------------------
    def model_name(self, fraction: float, shuffle: int) -> str:
        return f"{self.task}{self.date}-trainset{pct(fraction)}shuffle{shuffle}"

    def model_folder(
        self, fraction: float, shuffle: int, iteration: int | None = None, modelprefix: str = ""
    ) -> Path:
        it = self.iteration if iteration is None else iteration
        base = self.root / modelprefix if modelprefix else self.root
        return base / "dlc-models" / f"iteration-{it}" / self.model_name(fraction, shuffle)

    def pose_cfg(
        self, fraction: float, shuffle: int, kind: str = "train", iteration: int | None = None
    ) -> Path:
        if kind not in ("train", "test"):
            raise ValueError(f"kind must be 'train' or 'test', not {kind!r}")
        return self.model_folder(fraction, shuffle, iteration) / kind / "pose_cfg.yaml"

    def evaluation_folder(
        self, fraction: float, shuffle: int, iteration: int | None = None, modelprefix: str = ""
    ) -> Path:
        it = self.iteration if iteration is None else iteration
        base = self.root / modelprefix if modelprefix else self.root
        prefix = str(self.cfg.get("eval_prefix") or "evaluation-results")
        return base / prefix / f"iteration-{it}" / self.model_name(fraction, shuffle)

    def scorer_name(self, shuffle: int, net_type: str, training_iterations: int | str) -> str:
        """``DLC_<net>_<Task><date>shuffle<n>_<iterations>``."""
        net = net_abbreviation(net_type)
        return f"DLC_{net}_{self.task}{self.date}shuffle{shuffle}_{training_iterations}"

    def parse_model_name(self, name: str) -> tuple[float, int]:
        """(training fraction, shuffle) of a model folder name made by :meth:`model_name`."""
        prefix = f"{self.task}{self.date}-trainset"
        if not name.startswith(prefix) or "shuffle" not in name:
            raise ValueError(f"{name!r} is not a model folder of project {self.task}{self.date}")
        pct_str, shuffle_str = name[len(prefix) :].split("shuffle", 1)
        for fraction in self.training_fractions:
            if str(pct(fraction)) == pct_str:
                return fraction, int(shuffle_str)
        raise ValueError(
            f"{name!r}: trainset{pct_str} matches no TrainingFraction "
            f"{self.training_fractions} in {self.config_path}"
        )


def _basename(video_key: str) -> str:
    """File name of a video_sets key, whichever slash the OS that wrote it used."""
    return video_key.replace("\\", "/").rsplit("/", 1)[-1]


def nframes_digits(nframes: int) -> int:
    """Zero-fill width of DLC frame names: ceil(log10(nframes)) digits (at least 1)."""
    return max(1, int(math.ceil(math.log10(nframes)))) if nframes > 1 else 1


def frame_name(index: int, nframes: int) -> str:
    """DLC's PNG name of frame ``index`` in a video of ``nframes`` frames."""
    return f"img{str(index).zfill(nframes_digits(nframes))}.png"
