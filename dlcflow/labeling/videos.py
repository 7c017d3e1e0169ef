"""DLC's ``add_new_videos``: videos added to a project and, if asked, their frames extracted."""

from __future__ import annotations

import os
from collections.abc import Sequence

from dlcflow.labeling import frames
from dlcflow.project.create import add_videos

__all__ = ["add_new_videos"]


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
    added = add_videos(config, videos, copy_videos, coords)
    if extract_frames:
        frames.extract_frames(config, videos_list=added)
    return added
