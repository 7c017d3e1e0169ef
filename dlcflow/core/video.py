"""Reading videos with OpenCV: facts (frame count, fps, size) and frames, streamed.

* :func:`video_info` reads a video's header (frame count, frame rate, size).
* :class:`VideoReader` streams frames in order without loading the video: a range with a
  step, or a set of wanted indices (far jumps seek, short ones decode forward), and
  :meth:`VideoReader.read_frame` for random access. An undecodable frame in the middle
  is skipped with a warning; a video that ends before the frame count in its header
  (a truncated file) stops early with one warning, never with an exception.
* :class:`VideoWriter` writes an mp4 (``mp4v``) to a temp file next to the target and
  renames it into place only when the video is complete.

Frames are NumPy arrays in OpenCV's BGR order (``rgb=True`` gives RGB).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np
from tqdm import tqdm

from dlcflow.core.fileio import temp_path

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".mpeg", ".mpg", ".m4v")

#: Forward gaps up to this many frames are decoded through; longer ones seek.
SEEK_THRESHOLD = 64
#: After a frame fails to decode, how many following frames are tried before the video
#: is taken to end there.
MAX_BAD_RUN = 16


class VideoError(OSError):
    """A video that cannot be opened or read; the message names the file."""


@dataclass(frozen=True)
class VideoInfo:
    """Header facts of a video file (``nframes`` as the container reports it)."""

    path: Path
    nframes: int
    fps: float
    width: int
    height: int


def _open(path: Path, threads: int | None = None) -> tuple[cv2.VideoCapture, VideoInfo]:
    """Open a capture and read the header; VideoError (file and cause) when impossible.
    ``threads``: the decoder's threads (None: the backend's choice, FFmpeg's one per
    core); a backend that does not take the setting opens the file without it."""
    if not path.is_file():
        raise VideoError(f"{path}: video not found")
    cap = None
    if threads is not None:
        cap = cv2.VideoCapture(str(path), cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, int(threads)])
    if cap is None or not cap.isOpened():
        cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError(f"{path}: cannot open video (unknown format or corrupt file)")
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width <= 0 or height <= 0:
            raise VideoError(f"{path}: video has no readable frames")
        info = VideoInfo(
            path=path,
            nframes=max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))),
            fps=float(cap.get(cv2.CAP_PROP_FPS)) or 30.0,
            width=width,
            height=height,
        )
    except BaseException:
        cap.release()
        raise
    return cap, info


def video_info(path: str | os.PathLike[str]) -> VideoInfo:
    """Frame count, frame rate and size of a video; VideoError if it cannot be opened."""
    cap, info = _open(Path(path))
    cap.release()
    return info


def clip_crop(
    crop: tuple[int, int, int, int], width: int, height: int, where: str | os.PathLike[str]
) -> tuple[int, int, int, int]:
    """Clip an ``(x1, x2, y1, y2)`` box to a ``width`` x ``height`` frame (warns if it
    had to); ValueError naming ``where`` when nothing of the box is left."""
    x1, x2, y1, y2 = (int(v) for v in crop)
    clipped = (max(0, x1), min(width, x2), max(0, y1), min(height, y2))
    if clipped[1] <= clipped[0] or clipped[3] <= clipped[2]:
        raise ValueError(f"{where}: crop {crop} lies outside the {width}x{height} frame")
    if clipped != (x1, x2, y1, y2):
        warnings.warn(
            f"{where}: crop {crop} is larger than the {width}x{height} frame; using {clipped}",
            stacklevel=3,
        )
    return clipped


def _ranges(indices: list[int]) -> str:
    """'3, 7-9' for [3, 7, 8, 9]."""
    parts: list[str] = []
    start = prev = indices[0]
    for i in [*indices[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ", ".join(parts)


class VideoReader:
    """Stream frames of one video without loading it (context manager).

    ``crop`` is an ``(x1, x2, y1, y2)`` box in pixels (DLC's order) applied to every
    frame; ``rgb`` returns RGB instead of OpenCV's BGR. ``len(reader)`` is the frame
    count from the header; :attr:`end` becomes the real end when the file turns out
    shorter (truncated), and :attr:`bad_frames` lists the frames that failed to decode.
    ``decode_threads`` sets the decoder's threads (default: FFmpeg's, one per core).

    >>> with VideoReader("mouse.mp4") as reader:
    ...     for index, frame in reader.frames(0, 100, step=10):
    ...         ...
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        crop: tuple[int, int, int, int] | None = None,
        *,
        rgb: bool = False,
        seek_threshold: int = SEEK_THRESHOLD,
        max_bad_run: int = MAX_BAD_RUN,
        decode_threads: int | None = None,
    ) -> None:
        self.path = Path(path)
        if decode_threads is not None and int(decode_threads) < 1:
            raise ValueError(f"decode_threads must be a positive integer, not {decode_threads!r}")
        self.decode_threads = None if decode_threads is None else int(decode_threads)
        self._cap, self.info = _open(self.path, self.decode_threads)
        self.rgb = rgb
        self.seek_threshold = max(0, int(seek_threshold))
        self.max_bad_run = max(1, int(max_bad_run))
        self.crop = (
            None if crop is None else clip_crop(crop, self.info.width, self.info.height, self.path)
        )
        #: Frames that could not be decoded (skipped with a warning).
        self.bad_frames: list[int] = []
        #: One past the last readable frame: the header count until the file ends early.
        self.end: int = self.info.nframes
        self._pos = 0  # index of the frame the next grab() returns
        self._grabbed: int | None = None
        self._seekable = True

    # -- facts ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.info.nframes

    @property
    def nframes(self) -> int:
        """Frame count from the video's header (may exceed :attr:`end` if truncated)."""
        return self.info.nframes

    @property
    def fps(self) -> float:
        return self.info.fps

    @property
    def frame_size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames this reader returns (after cropping)."""
        if self.crop is None:
            return self.info.width, self.info.height
        x1, x2, y1, y2 = self.crop
        return x2 - x1, y2 - y1

    def __repr__(self) -> str:
        return f"VideoReader({str(self.path)!r}, nframes={self.nframes})"

    # -- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        """Release the capture (idempotent)."""
        self._cap.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- low level ------------------------------------------------------------------------
    # ``_pos`` is the index of the frame the next ``grab()`` returns; ``_grabbed`` the
    # frame grabbed but not yet retrieved. Indices are counted here, not taken from
    # OpenCV: its own counter does not advance over a frame that fails to decode.
    def _reopen(self) -> None:
        self._cap.release()
        self._cap, _ = _open(self.path, self.decode_threads)
        self._pos, self._grabbed = 0, None

    def _try_seek(self, index: int) -> bool:
        """Seek and grab ``index``; check that OpenCV landed there (it does not always in
        damaged files). On any doubt stop seeking in this file and restart at frame 0."""
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        if self._cap.grab() and round(self._cap.get(cv2.CAP_PROP_POS_FRAMES)) == index + 1:
            self._pos, self._grabbed = index + 1, index
            return True
        self._seekable = False  # read sequentially from now on: slower, but exact
        self._reopen()
        return False

    def _grab_at(self, index: int) -> bool:
        """Make the capture hold frame ``index`` (grabbed, not yet retrieved); False when
        it cannot be read (a bad frame, warned about, or past the end of the file)."""
        if index >= self.end:
            return False
        if self._grabbed == index:
            return True
        if index < self._pos or index - self._pos > self.seek_threshold:
            if self._seekable and self._try_seek(index):
                return True
            if index < self._pos:
                self._reopen()
        while self._pos <= index:  # decode forward, each frame once
            self._grab_next()
            if index >= self.end:
                return False
        return self._grabbed == index

    def _grab_next(self) -> None:
        """Grab the frame at ``_pos``. If it fails, grab on: a later success means the
        frames in between cannot be decoded (skipped, warned); a run of failures means
        the file ends there (:attr:`end`, warned once)."""
        index = self._pos
        self._grabbed = None
        last = min(self.end, index + self.max_bad_run)
        for probe in range(index, last):
            if self._cap.grab():
                self._pos, self._grabbed = probe + 1, probe
                self._skip(list(range(index, probe)))
                return
        if index >= self.end:
            return
        if last < self.end:
            why = f"cannot be decoded ({self.max_bad_run} in a row); stopping there"
        else:
            why = "cannot be read (truncated file?)"
        warnings.warn(
            f"{self.path}: video ends early: frames {index}-{self.end - 1} of the "
            f"{self.nframes} in its header {why}",
            stacklevel=5,
        )
        self.end = self._pos = index

    def _skip(self, bad: list[int]) -> None:
        """Record frames that cannot be decoded; warn about the ones not seen before."""
        new = [i for i in bad if i not in self.bad_frames]
        if new:
            self.bad_frames.extend(new)
            warnings.warn(
                f"{self.path}: frame(s) {_ranges(new)} cannot be decoded; skipped",
                stacklevel=5,
            )

    def _retrieve(self, index: int) -> np.ndarray | None:
        ok, frame = self._cap.retrieve()
        self._grabbed = None
        if not ok or frame is None:
            self._skip([index])
            return None
        if self.crop is not None:
            x1, x2, y1, y2 = self.crop
            frame = frame[y1:y2, x1:x2]
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        if self.rgb:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        return np.ascontiguousarray(frame)

    # -- public reading -------------------------------------------------------------------
    def frames(
        self,
        start: int = 0,
        stop: int | None = None,
        step: int = 1,
        indices: Iterable[int] | None = None,
        *,
        progress: bool | str = False,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, frame)`` in increasing index order.

        Without ``indices``: every ``step``-th frame of ``range(start, stop)`` (``stop``
        defaults to the header frame count). With ``indices``: those frames (sorted,
        duplicates dropped) that lie in ``[start, stop)``. Frames that cannot be decoded
        are skipped with a warning; iteration ends quietly where a truncated file ends.
        ``progress`` shows a tqdm bar on stderr (a string is its description).
        """
        if step < 1:
            raise ValueError(f"step must be a positive integer, not {step}")
        stop = self.nframes if stop is None else min(int(stop), self.nframes)
        start = max(0, int(start))
        if indices is None:
            wanted: Iterable[int] = range(start, stop, step)
            total = len(range(start, stop, step))
        else:
            chosen = sorted({int(i) for i in indices if start <= int(i) < stop})
            wanted, total = chosen, len(chosen)
        bar = tqdm(
            total=total,
            desc=progress if isinstance(progress, str) else self.path.name,
            unit="frame",
            disable=not progress,
            mininterval=1.0,
            leave=False,
        )
        try:
            for index in wanted:
                if index >= self.end:
                    break
                bar.update(1)
                if not self._grab_at(index):
                    continue
                frame = self._retrieve(index)
                if frame is not None:
                    yield index, frame
        finally:
            bar.close()

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        return self.frames()

    def read_frame(self, index: int) -> np.ndarray | None:
        """Frame ``index`` (seeking as needed), or None with a warning if it cannot be read.

        IndexError when ``index`` lies outside the header frame count.
        """
        if not 0 <= index < self.nframes:
            raise IndexError(
                f"{self.path}: frame {index} out of range (video has {self.nframes} frames)"
            )
        for _, frame in self.frames(indices=(index,)):
            return frame
        return None


class VideoWriter:
    """Write an mp4 (``mp4v``) atomically: frames go to a temp file in the target's
    folder, renamed to ``path`` by :meth:`close`; :meth:`abort` (or an exception inside
    the ``with`` block) deletes it, so ``path`` is never half written.

    ``size`` is ``(width, height)``; frames are BGR (or grey) uint8 arrays of that size.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float,
        size: tuple[int, int],
        *,
        fourcc: str = "mp4v",
    ) -> None:
        self.path = Path(path)
        self.size = (int(size[0]), int(size[1]))
        if self.size[0] <= 0 or self.size[1] <= 0:
            raise ValueError(f"{self.path}: frame size {size} must be positive")
        if not fps or fps <= 0:
            raise ValueError(f"{self.path}: fps {fps} must be positive")
        self._tmp = temp_path(self.path if self.path.suffix else self.path.with_suffix(".mp4"))
        self._writer = cv2.VideoWriter(
            str(self._tmp), cv2.VideoWriter_fourcc(*fourcc), float(fps), self.size
        )
        if not self._writer.isOpened():
            self._writer.release()
            self._tmp.unlink(missing_ok=True)
            raise VideoError(f"{self.path}: cannot open a {fourcc} video writer")
        self.frames_written = 0
        self._done = False

    def write(self, frame: np.ndarray) -> None:
        """Append one frame (BGR or grey uint8 of the writer's size)."""
        if self._done:
            raise ValueError(f"{self.path}: writer is closed")
        height, width = frame.shape[:2]
        if (width, height) != self.size:
            raise ValueError(
                f"{self.path}: frame is {width}x{height}, "
                f"the video is {self.size[0]}x{self.size[1]}"
            )
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        self._writer.write(np.ascontiguousarray(frame, dtype=np.uint8))
        self.frames_written += 1

    def close(self) -> Path:
        """Finish the file and move it into place; returns the final path."""
        if not self._done:
            self._done = True
            self._writer.release()
            try:
                os.replace(self._tmp, self.path)
            except BaseException:
                self._tmp.unlink(missing_ok=True)
                raise
        return self.path

    def abort(self) -> None:
        """Drop the temp file; ``path`` stays as it was."""
        if not self._done:
            self._done = True
            self._writer.release()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
