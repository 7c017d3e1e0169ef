"""Creating a DLC project and adding videos to it (DLC's ``create_new_project`` layout)."""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Sequence
from datetime import date as _date
from itertools import pairwise
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from dlcflow.core.video import VideoError, video_info
from dlcflow.core.videofiles import list_videos
from dlcflow.project.config import DEFAULTS, MULTI_DEFAULTS, dlc_date, template, write_config
from dlcflow.project.paths import Project

__all__ = ["add_videos", "create_new_project"]


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


def project_folder(
    project: str,
    experimenter: str,
    working_directory: str | os.PathLike[str] | None,
    day: _date,
    suffix: str = "",
) -> Path:
    """DLC's project folder, ``<working_directory>/<project>-<experimenter>-<YYYY-MM-DD>``
    (+ ``suffix``: ``-3d`` for a 3D project); names with spaces or slashes are refused."""
    for name, value in (("project", project), ("experimenter", experimenter)):
        if not value or any(c in value for c in "/\\ "):
            raise ValueError(f"{name} {value!r} must be a non-empty name without spaces or slashes")
    wd = Path(working_directory or ".").expanduser().resolve()
    return wd / f"{project}-{experimenter}-{day.isoformat()}{suffix}"


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
    unique_bodyparts: Sequence[str] | None = None,
) -> str:
    """Create ``<project>-<experimenter>-<YYYY-MM-DD>/`` with DLC's layout; return its config path.

    ``bodyparts`` (and ``individuals`` and ``unique_bodyparts`` for multi-animal projects)
    replace DLC's placeholder names; everything else matches
    ``deeplabcut.create_new_project``.
    """
    today = _date.today()
    root = project_folder(project, experimenter, working_directory, today)
    config_path = root / "config.yaml"
    if config_path.exists():
        warnings.warn(f"{root}: project exists already; leaving it as it is", stacklevel=2)
        return str(config_path)
    sources = list_videos(videos, videotype, skip_derived=False)
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
        cfg = template(multianimal)
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
            if unique_bodyparts:
                values["uniquebodyparts"] = list(unique_bodyparts)
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


def add_videos(
    config: str | os.PathLike[str],
    videos: Sequence[str | os.PathLike[str]],
    copy_videos: bool = False,
    coords: Sequence[Sequence[int]] | None = None,
) -> list[str]:
    """Add videos to a project's ``video_sets`` (symlinked or copied into ``videos/``).

    ``coords`` gives one ``[x1, x2, y1, y2]`` crop per video; by default the full frame.
    Returns the config keys of the added videos.
    (:func:`dlcflow.labeling.videos.add_new_videos` is DLC's function, which can also
    extract the new videos' frames.)
    """
    project = Project(config)
    sources = list_videos(videos, skip_derived=False)
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
    return added
