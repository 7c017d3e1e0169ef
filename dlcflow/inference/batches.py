"""Video frames in batches for the engines: a background thread decodes a video into a few
reusable float32 batch buffers (:class:`FrameBatches`), so that memory stays constant
however long the video is; and a robust frame count (:func:`count_frames`)."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

from dlcflow.core.video import MAX_BAD_RUN, VideoReader

__all__ = ["QUEUE_DEPTH", "FrameBatches", "count_frames"]

#: Batches decoded ahead of the engine (bounded queue); with the two the engine holds and
#: the one being filled, four batch buffers in all.
QUEUE_DEPTH = 1


def count_frames(path: str | os.PathLike[str], max_bad_run: int = MAX_BAD_RUN) -> int:
    """Frames in a video counted by grabbing through it (``robust_nframes``): the index
    after the last frame that could be grabbed (a run of ``max_bad_run`` failures ends it)."""
    cap = cv2.VideoCapture(str(path))
    try:
        count = bad = last_good = 0
        while bad < max_bad_run:
            if cap.grab():
                count += 1
                last_good, bad = count, 0
            else:
                count += 1
                bad += 1
        return last_good
    finally:
        cap.release()


class FrameBatches:
    """Decode a video in a background thread into reusable float32 batch buffers.

    Iterating yields ``(indices, batch)`` (``batch`` is a view of ``len(indices)`` frames);
    the consumer gives a buffer back with :meth:`release` once the engine has used it. At
    most ``depth`` batches wait in the queue, so memory stays constant. Errors raised in
    the thread are raised again in the consumer.
    """

    def __init__(self, reader: VideoReader, batch_size: int, depth: int = QUEUE_DEPTH) -> None:
        self.reader = reader
        self.batch_size = max(1, int(batch_size))
        width, height = reader.frame_size
        self._free: queue.Queue[np.ndarray] = queue.Queue()
        for _ in range(depth + 3):  # queued + two in the engine + being filled
            self._free.put(np.empty((self.batch_size, height, width, 3), np.float32))
        self._ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="dlcflow-frames", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _take_free(self) -> np.ndarray | None:
        while not self._stop.is_set():
            try:
                return self._free.get(timeout=0.1)
            except queue.Empty:
                continue
        return None

    def _work(self) -> None:
        try:
            buf = self._take_free()
            indices: list[int] = []
            for index, frame in self.reader.frames():
                if buf is None:
                    return
                buf[len(indices)] = frame
                indices.append(index)
                if len(indices) == self.batch_size:
                    if not self._put((indices, buf)):
                        return
                    buf, indices = self._take_free(), []
            if indices and buf is not None:
                self._put((indices, buf))
        except BaseException as err:  # handed to the consumer
            self._put(err)
        finally:
            self._put(None)

    def __iter__(self) -> Iterator[tuple[list[int], np.ndarray]]:
        while True:
            item = self._ready.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            indices, buf = item
            yield indices, buf[: len(indices)]

    def release(self, batch: np.ndarray) -> None:
        """Give a batch's buffer back for reuse."""
        base = batch.base if batch.base is not None else batch
        self._free.put(base)

    def close(self) -> None:
        """Stop the thread (if still running) and wait for it."""
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._ready.get_nowait()
        self._thread.join()
