"""Movement and freezing bouts: runs of a speed signal below or above a threshold.

A *freezing bout* is a run of consecutive frames whose speed is below ``freeze_speed``
lasting at least ``min_freeze_s`` seconds; a *movement bout* a run above ``move_speed``
lasting at least ``min_move_s``. A missing (NaN) speed ends a run: a bout never spans a
frame whose speed is unknown. A run of ``n`` frames lasts ``n / fps`` seconds (each frame
stands for one frame interval).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Bout", "bout_mask", "find_bouts", "runs"]


@dataclass(frozen=True)
class Bout:
    """One bout: ``kind`` (``"freezing"`` or ``"moving"``), first frame (row index) and
    number of frames, with the same in seconds."""

    kind: str
    start: int
    frames: int
    fps: float

    @property
    def start_s(self) -> float:
        return self.start / self.fps

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True in a 1-D boolean array."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    return [(int(a), int(b - a)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def find_bouts(
    speed: np.ndarray,
    fps: float,
    freeze_speed: float,
    min_freeze_s: float,
    move_speed: float,
    min_move_s: float,
) -> list[Bout]:
    """The freezing and movement bouts of a 1-D speed signal, in time order."""
    v = np.asarray(speed, dtype=float)
    finite = np.isfinite(v)
    with np.errstate(invalid="ignore"):
        slow = finite & (v < freeze_speed)
        fast = finite & (v > move_speed)
    bouts = [Bout("freezing", s, n, fps) for s, n in runs(slow) if n / fps >= min_freeze_s - 1e-9]
    bouts += [Bout("moving", s, n, fps) for s, n in runs(fast) if n / fps >= min_move_s - 1e-9]
    return sorted(bouts, key=lambda b: b.start)


def bout_mask(bouts: list[Bout], kind: str, n: int) -> np.ndarray:
    """A boolean array of ``n`` frames, True inside the bouts of ``kind``."""
    mask = np.zeros(n, dtype=bool)
    for b in bouts:
        if b.kind == kind:
            mask[b.start : b.start + b.frames] = True
    return mask
