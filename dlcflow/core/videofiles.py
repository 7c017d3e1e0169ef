"""Finding video files: the one lister behind project creation, video analysis and the
workflow's list of videos to analyze."""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from dlcflow.core.log import log
from dlcflow.core.video import VIDEO_EXTENSIONS

__all__ = ["DERIVED_VIDEOS", "find_videos", "list_videos", "video_suffix"]

#: Stem endings of the videos dlcflow and DLC make from analyses (labeled videos, DLC's
#: ``_full`` videos of all detections, ``<stem>DLClabeled`` tracklet videos): never
#: analyzed again.
DERIVED_VIDEOS = ("_labeled", "_full", "DLClabeled")

Videos = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def video_suffix(videotype: str) -> str:
    """``"mp4"``, ``".MP4"`` -> ``".mp4"``; ``""`` stays ``""`` (every known type)."""
    ext = videotype.strip().lower()
    return ext if not ext or ext.startswith(".") else "." + ext


def _is_pattern(text: str) -> bool:
    return any(c in text for c in "*?[")


def list_videos(
    videos: Videos,
    videotype: str = "",
    *,
    skip_derived: bool = True,
    missing: Literal["raise", "keep"] = "raise",
) -> list[Path]:
    """The video files that ``videos`` names, in order, each once.

    ``videos`` is a path or a list of paths: a file is kept as given, a folder gives its
    videos (sorted), a glob pattern its matching videos (sorted). ``videotype`` (``"mp4"``
    or ``".mp4"``) restricts folders and patterns to that type and skips listed files of
    another type, with a message; without it every known type (:data:`VIDEO_EXTENSIONS`)
    counts. ``skip_derived`` leaves out labeled videos and DLC's ``_full`` videos, as DLC
    does when it analyzes a folder. A listed file that does not exist raises
    FileNotFoundError, or is kept with ``missing="keep"`` (the workflow's choice:
    Snakemake then names the missing input). A folder with no videos warns.
    """
    items = [videos] if isinstance(videos, str | os.PathLike) else list(videos)
    ext = video_suffix(videotype)
    exts = (ext,) if ext else VIDEO_EXTENSIONS
    found: list[Path] = []

    def derived(p: Path) -> bool:
        return skip_derived and p.stem.endswith(DERIVED_VIDEOS)

    for item in items:
        path = Path(item).expanduser()
        if _is_pattern(str(item)):
            matches = sorted(Path(p) for p in glob.glob(str(path)))
            found.extend(
                p for p in matches if p.is_file() and p.suffix.lower() in exts and not derived(p)
            )
        elif path.is_dir():
            inside = sorted(f for f in path.iterdir() if f.is_file() and f.suffix.lower() in exts)
            if not inside:
                warnings.warn(
                    f"{path}: no videos found (looked for {', '.join(exts)})", stacklevel=2
                )
            found.extend(p for p in inside if not derived(p))
        elif path.is_file() or missing == "keep":
            if ext and path.suffix.lower() != ext:
                log(f"{path}: not a {ext} video; skipped")
            elif derived(path):
                log(f"{path}: a labeled video; skipped")
            else:
                found.append(path)
        else:
            raise FileNotFoundError(f"{path}: video not found")
    return list(dict.fromkeys(found))


def find_videos(videos: Videos, videotype: str = "") -> list[Path]:
    """:func:`list_videos` for the functions that take DLC's ``videos`` argument: says
    ``No videos found in …`` when there are none (DLC's message) instead of failing."""
    found = list_videos(videos, videotype)
    if not found:
        log(f"No videos found in {videos}")
    return found
