"""Reading videos with OpenCV: facts (frame count, fps, size) and frames, streamed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".mpeg", ".mpg", ".m4v")


class VideoError(OSError):
    """A video that cannot be opened or read; the message names the file."""


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    nframes: int
    fps: float
    width: int
    height: int


def video_info(path: str | os.PathLike[str]) -> VideoInfo:
    """Frame count, frame rate and size of a video; VideoError if it cannot be opened."""
    p = Path(path)
    if not p.is_file():
        raise VideoError(f"{p}: video not found")
    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            raise VideoError(f"{p}: cannot open video (unknown format or corrupt file)")
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width <= 0 or height <= 0:
            raise VideoError(f"{p}: video has no readable frames")
        return VideoInfo(
            path=p,
            nframes=int(cap.get(cv2.CAP_PROP_FRAME_COUNT)),
            fps=float(cap.get(cv2.CAP_PROP_FPS)) or 30.0,
            width=width,
            height=height,
        )
    finally:
        cap.release()
