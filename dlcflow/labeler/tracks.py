"""Multi-animal tracks in memory for the tracklet view: summaries to draw, edits, saving.

A :class:`TrackSession` holds one stitched tracks file (``<video stem><scorer>_el.h5``,
DLC's table with columns ``scorer, individuals, bodyparts, coords``) as a float array.
The page draws its timeline from :meth:`TrackSession.timeline` (per individual and time
bin: mean x, mean y, mean likelihood over the body parts, and the share of body parts
present), downsampled on the server to the columns the page asks for, and its frame view
from :meth:`TrackSession.frame`.

Edits change the array in memory and go onto an undo list: swap two individuals from a
frame on or over an inclusive frame range ``[start, stop]``, delete a stretch of one
individual (NaN), exchange one body part of one individual with one of another over a
range (:meth:`TrackSession.swap_parts`, DLC's swap of a pair of body-part tracklets).
:meth:`TrackSession.save` writes the file back as DLC's refine-tracklets
window does (``TrackletManager.save`` in DLC 2.3.11: the loaded ``_el.h5`` itself,
rewritten whole with ``to_hdf(key="df_with_missing", format="table", mode="w")``; DLC
keeps no backup). dlcflow writes the same file, atomically, and first copies the original
to ``<file>.bak`` (once: a backup that exists already is the older original and is kept).

Opened by :func:`open_tracks` as DLC's ``refine_tracklets`` opens a file: a tracklet
pickle (``_el.pickle``) placed into the config's individuals
(:func:`dlcflow.tracking.refine.tracklets_table`, tracklets of ``min_tracklet_len`` frames
or fewer dropped) and saved to ``<stem><scorer>_el.h5`` beside it
(:func:`dlcflow.project.paths.refined_tracklets_path`), or a tracks ``.h5`` saved in
place; gaps of up to ``max_gap`` frames filled (:func:`dlcflow.tracking.refine.fill_gaps`,
likelihood 0.01; ``max_gap=None``: no filling, dlcflow's ``refine_tracks``). The body-part
swaps that DLC shades in its window (``find_swapping_bodypart_pairs``, more than
``min_swap_len`` crossings) come from :meth:`TrackSession.swaps`; :meth:`TrackSession.frame`
adds each part's trail over the ``trail_len`` frames around it (DLC's window:
``trail_len // 2`` before, up to ``trail_len // 2`` after; DLC draws it for the picked
parts, dlcflow for all).

Frames can be marked for training (:meth:`TrackSession.mark`); marks are no edits (they
neither change the table nor make it dirty). :meth:`TrackSession.add_to_training` saves,
then extracts the marked frames with their refined tracks as machine labels
(:mod:`dlcflow.labeler.tracktraining`).
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dlcflow.io.hdf import HDF_KEY, write_frame
from dlcflow.io.tracklets import TrackletFileError, read_tracklets
from dlcflow.io.tracks import TrackFileError, read_tracks
from dlcflow.labeler.store import LabelerError
from dlcflow.labeler.tracktraining import check_marked, extract_marked
from dlcflow.project.paths import Project, refined_tracklets_path
from dlcflow.tracking.refine import fill_gaps, find_swapping_bodypart_pairs, tracklets_table
from dlcflow.tracking.tracklet import TrackletError

__all__ = ["TrackEditError", "TrackSession", "backup_path", "open_tracks"]

#: Most timeline columns one request may ask for.
MAX_COLUMNS = 20000


class TrackEditError(LabelerError):
    """A tracks file or an edit the tracklet view cannot use; one line naming the cause."""


def backup_path(path: str | os.PathLike[str]) -> Path:
    """Where the original of a tracks file is kept before the first save: ``<file>.bak``."""
    p = Path(path)
    return p.with_name(p.name + ".bak")


@dataclass
class _Edit:
    """One applied edit and what undoing it needs (the old values for a delete)."""

    op: str
    individuals: tuple[str, ...]
    start: int
    stop: int
    old: np.ndarray | None = field(default=None, repr=False)
    parts: tuple[str, ...] = ()  # a body-part swap: the part of each individual

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "op": self.op,
            "individuals": list(self.individuals),
            "start": self.start,
            "stop": self.stop,
        }
        if self.parts:
            out["bodyparts"] = list(self.parts)
        return out


def _round_list(values: np.ndarray, decimals: int) -> list[float | None]:
    """Values rounded for JSON, NaN as null."""
    rounded = np.round(values.astype("float64"), decimals)
    return [None if v != v else v for v in rounded.tolist()]


class TrackSession:
    """One tracks file open for refinement (thread-safe; see the module docstring).

    ``path`` is the tracks file saved to; ``table`` (optional) the tracks to edit instead of
    that file's (a pickle's, ``source``); ``max_gap`` (None: no filling) fills gaps on load;
    ``min_swap_len`` and ``trail_len`` as in DLC's ``refine_tracklets``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: pd.DataFrame | None = None,
        source: str | os.PathLike[str] | None = None,
        max_gap: int | None = None,
        min_swap_len: float = 2,
        trail_len: int = 0,
    ) -> None:
        self.path = Path(path)
        self.source = Path(source) if source is not None else self.path
        if table is not None:
            df = table
        else:
            try:
                df = read_tracks(self.path)
            except TrackFileError as err:
                raise TrackEditError(f"{err} (the tracklet view needs a tracks _el.h5)") from None
        coords = df.columns.get_level_values("coords")
        if set(coords) != {"x", "y", "likelihood"}:
            raise TrackEditError(
                f"{self.path}: coords are {sorted(set(coords))}, not x, y, likelihood "
                "(not a tracks file)"
            )
        if len(df) == 0:
            raise TrackEditError(f"{self.path}: the tracks file has no frames")
        self.index = df.index
        self.columns = df.columns
        self.data = np.ascontiguousarray(df.to_numpy(dtype="float64"))
        self.nframes = len(df)
        self.scorer = str(df.columns.get_level_values("scorer")[0])
        names = df.columns.get_level_values("individuals")
        self.individuals: list[str] = list(dict.fromkeys(str(n) for n in names))
        self.bodyparts: dict[str, list[str]] = {}
        # per individual: (n_bodyparts, 3) column indices of x, y, likelihood
        self._cols: dict[str, np.ndarray] = {}
        lookup = {(str(i), str(b), str(c)): k for k, (_s, i, b, c) in enumerate(df.columns)}
        for ind in self.individuals:
            parts = list(dict.fromkeys(str(b) for (_s, i, b, _c) in df.columns if str(i) == ind))
            try:
                cols = [[lookup[(ind, b, c)] for c in ("x", "y", "likelihood")] for b in parts]
            except KeyError as err:
                raise TrackEditError(
                    f"{self.path}: {ind} lacks column {err.args[0]} (not a tracks file)"
                ) from None
            self.bodyparts[ind] = parts
            self._cols[ind] = np.asarray(cols, dtype=np.intp)
        if int(trail_len) < 0 or (max_gap is not None and int(max_gap) < 0):
            raise TrackEditError(f"trail_len {trail_len} and max_gap {max_gap} must be >= 0")
        self.max_gap = None if max_gap is None else int(max_gap)
        self.min_swap_len = min_swap_len
        self.trail_len = int(trail_len)
        # every body part of every individual: (rows, 3) columns, each row's individual
        self._rows = np.concatenate([self._cols[ind] for ind in self.individuals])
        self._row_names = [(ind, part) for ind in self.individuals for part in self.bodyparts[ind]]
        self.filled = 0  # parts x frames filled in on load
        if self.max_gap is not None:
            filled_data, mask = fill_gaps(self.data[:, self._rows], self.max_gap)
            self.data[:, self._rows] = filled_data
            self.filled = int(mask.sum())
        self._swaps: list[dict[str, Any]] | None = None
        # per individual and frame: sums of x, y, likelihood over present parts, and
        # their count; kept in step with the edits so a timeline only bins these
        self._sums = {ind: self._frame_sums(ind, 0, self.nframes - 1) for ind in self.individuals}
        self.edits: list[_Edit] = []
        self.marked: set[int] = set()  # frames marked for training
        # whether the table differs from what was last saved (a pickle's: never saved)
        self.dirty = table is not None or self.filled > 0
        self._lock = threading.RLock()

    def _frame_sums(self, ind: str, a: int, b: int) -> np.ndarray:
        """``(b - a + 1, 4)``: per frame, sums of x, y, likelihood over found parts, count."""
        cols = self._cols[ind]
        block = self.data[a : b + 1]
        x, y, p = block[:, cols[:, 0]], block[:, cols[:, 1]], block[:, cols[:, 2]]
        found = ~(np.isnan(x) | np.isnan(y))
        out = np.empty((b - a + 1, 4))
        out[:, 0] = np.where(found, x, 0.0).sum(axis=1)
        out[:, 1] = np.where(found, y, 0.0).sum(axis=1)
        out[:, 2] = np.where(found, np.nan_to_num(p), 0.0).sum(axis=1)
        out[:, 3] = found.sum(axis=1)
        return out

    # -- reading ----------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """What the page needs first: the file, frame count, individuals and their parts."""
        with self._lock:
            return {
                "file": self.source.name,
                "path": str(self.path),
                "source": str(self.source),
                "max_gap": self.max_gap,
                "filled": self.filled,
                "min_swap_len": self.min_swap_len,
                "trail_len": self.trail_len,
                "scorer": self.scorer,
                "nframes": self.nframes,
                "individuals": self.individuals,
                "bodyparts": self.bodyparts,
                **self._state(),
            }

    def _state(self) -> dict[str, Any]:
        return {
            "edits": [e.describe() for e in self.edits],
            "dirty": self.dirty,
            "marked": sorted(self.marked),
            "backup": str(backup_path(self.path)) if backup_path(self.path).exists() else None,
        }

    def _individual(self, name: Any) -> str:
        name = str(name)
        if name not in self._cols:
            raise TrackEditError(
                f"{self.path.name}: unknown individual {name!r}; there are: "
                f"{', '.join(self.individuals)}"
            )
        return name

    def _range(self, start: Any, stop: Any) -> tuple[int, int]:
        """An inclusive frame range inside the video (``stop`` None: the last frame)."""
        try:
            a = int(start)
            b = self.nframes - 1 if stop is None else int(stop)
        except (TypeError, ValueError):
            raise TrackEditError(f"frames must be integers, not {start!r}, {stop!r}") from None
        if not 0 <= a <= b < self.nframes:
            raise TrackEditError(
                f"{self.path.name}: frame range [{a}, {b}] is outside the video's "
                f"frames 0..{self.nframes - 1} (or start after stop)"
            )
        return a, b

    def timeline(
        self, columns: int = 2000, start: int = 0, stop: int | None = None
    ) -> dict[str, Any]:
        """Per individual, frames ``[start, stop]`` in ``columns`` bins (fewer when there
        are fewer frames): mean x, mean y, mean likelihood over body parts and frames of a
        bin (null where nothing is present), and ``present`` (share of body parts found)."""
        try:
            columns = int(columns)
        except (TypeError, ValueError):
            raise TrackEditError(f"columns must be an integer, not {columns!r}") from None
        if not 1 <= columns <= MAX_COLUMNS:
            raise TrackEditError(f"columns must be 1..{MAX_COLUMNS}, not {columns}")
        a, b = self._range(start, stop)
        n = b - a + 1
        edges = np.unique(np.linspace(0, n, min(columns, n) + 1).astype(np.intp))
        out: dict[str, Any] = {}
        with self._lock:
            for ind in self.individuals:
                cols = self._cols[ind]
                binned = np.add.reduceat(self._sums[ind][a : b + 1], edges[:-1], axis=0)
                count = binned[:, 3]
                with np.errstate(invalid="ignore", divide="ignore"):
                    means = [binned[:, k] / count for k in range(3)]
                width = np.diff(edges) * cols.shape[0]
                out[ind] = {
                    "x": _round_list(means[0], 1),
                    "y": _round_list(means[1], 1),
                    "likelihood": _round_list(means[2], 3),
                    "present": _round_list(count / width, 3),
                }
        return {
            "start": a,
            "stop": b,
            "edges": (edges + a).tolist(),
            "tracks": out,
            "nedits": len(self.edits),
        }

    def frame(self, index: Any) -> dict[str, Any]:
        """Body-part positions of one frame: ``{individual: [[part, x, y, likelihood]]}``;
        with a ``trail_len``, ``trail``: frames ``[start, stop)`` around it and per
        individual and part the ``[x, y]`` of each of those frames (null where missing)."""
        i, _ = self._range(index, index)
        with self._lock:
            row = self.data[i]
            out: dict[str, Any] = {
                "frame": i,
                "individuals": {
                    ind: [
                        [part, *_round_list(row[self._cols[ind][k]], 3)]
                        for k, part in enumerate(self.bodyparts[ind])
                    ]
                    for ind in self.individuals
                },
            }
            if self.trail_len > 0:
                a = max(0, i - self.trail_len // 2)
                b = min(self.nframes, i + self.trail_len // 2)
                out["trail"] = {
                    "start": a,
                    "stop": b,
                    "individuals": {
                        ind: [self._trail(cols, a, b) for cols in self._cols[ind]]
                        for ind in self.individuals
                    },
                }
            return out

    def _trail(self, cols: np.ndarray, a: int, b: int) -> list[list[float] | None]:
        """One part's ``[x, y]`` over frames ``[a, b)``, None where it is missing."""
        xy = np.round(self.data[a:b][:, cols[:2]], 1)
        return [None if np.isnan(p).any() else p.tolist() for p in xy]

    def swaps(self) -> dict[str, Any]:
        """The body-part swaps of the tracks as they stand (DLC's
        ``find_swapping_bodypart_pairs``): per pair of rows (individual, body part) of two
        individuals with more than ``min_swap_len`` crossings, the frames ``t`` after which
        they cross; ``frames``: every such frame, sorted."""
        with self._lock:
            if self._swaps is None:
                xy = self.data[:, self._rows[:, :2]].swapaxes(0, 1)
                owner = [self.individuals.index(ind) for ind, _ in self._row_names]
                self._swaps = [
                    {
                        "individuals": [self._row_names[s.first][0], self._row_names[s.second][0]],
                        "bodyparts": [self._row_names[s.first][1], self._row_names[s.second][1]],
                        "frames": list(s.frames),
                    }
                    for s in find_swapping_bodypart_pairs(xy, owner, self.min_swap_len)
                ]
            frames = sorted({f for pair in self._swaps for f in pair["frames"]})
            return {"min_swap_len": self.min_swap_len, "pairs": self._swaps, "frames": frames}

    def to_frame(self) -> pd.DataFrame:
        """The table as it stands (edits applied), with the file's index and 4 levels."""
        with self._lock:
            return pd.DataFrame(self.data.copy(), index=self.index, columns=self.columns)

    # -- edits ------------------------------------------------------------------------------
    def _swap_rows(self, first: str, second: str, a: int, b: int) -> None:
        c1 = self._cols[first].ravel()
        c2 = self._cols[second].ravel()
        rows = self.data[a : b + 1]
        tmp = rows[:, c1].copy()
        rows[:, c1] = rows[:, c2]
        rows[:, c2] = tmp
        s1, s2 = self._sums[first], self._sums[second]
        tmp = s1[a : b + 1].copy()
        s1[a : b + 1] = s2[a : b + 1]
        s2[a : b + 1] = tmp

    def swap(self, first: Any, second: Any, start: Any, stop: Any = None) -> dict[str, Any]:
        """Swap two individuals over frames ``[start, stop]`` (``stop`` None: to the end)."""
        one, two = self._individual(first), self._individual(second)
        if one == two:
            raise TrackEditError(f"cannot swap {one} with itself")
        if self.bodyparts[one] != self.bodyparts[two]:
            raise TrackEditError(
                f"{one} and {two} have different body parts; only animals with the same "
                "parts can be swapped"
            )
        a, b = self._range(start, stop)
        with self._lock:
            self._swap_rows(one, two, a, b)
            self.edits.append(_Edit("swap", (one, two), a, b))
            self.dirty = True
            self._swaps = None
            return self._state()

    def _part(self, ind: str, part: Any) -> int:
        try:
            return self.bodyparts[ind].index(str(part))
        except ValueError:
            raise TrackEditError(
                f"{ind} has no body part {part!r}; it has: {', '.join(self.bodyparts[ind])}"
            ) from None

    def _swap_part_rows(self, edit: _Edit) -> None:
        (one, two), (p1, p2) = edit.individuals, edit.parts
        c1 = self._cols[one][self._part(one, p1)]
        c2 = self._cols[two][self._part(two, p2)]
        a, b = edit.start, edit.stop
        rows = self.data[a : b + 1]
        tmp = rows[:, c1].copy()
        rows[:, c1] = rows[:, c2]
        rows[:, c2] = tmp
        for ind in {one, two}:
            self._sums[ind][a : b + 1] = self._frame_sums(ind, a, b)

    def swap_parts(self, individuals: Any, bodyparts: Any, start: Any, stop: Any) -> dict[str, Any]:
        """Exchange x, y and likelihood of one body part of one individual with one of
        another over frames ``[start, stop]``: DLC's swap of a pair of body-part tracklets
        (its key S, between the pair's crossings around the current frame)."""
        pair, parts = list(individuals or ()), list(bodyparts or ())
        if len(pair) != 2 or len(parts) != 2:
            raise TrackEditError("a body-part swap needs two individuals and two body parts")
        one, two = self._individual(pair[0]), self._individual(pair[1])
        p1, p2 = self.bodyparts[one][self._part(one, parts[0])], str(parts[1])
        self._part(two, p2)
        if (one, p1) == (two, p2):
            raise TrackEditError(f"cannot swap {one} {p1} with itself")
        a, b = self._range(start, stop)
        with self._lock:
            edit = _Edit("swap_parts", (one, two), a, b, parts=(p1, p2))
            self._swap_part_rows(edit)
            self.edits.append(edit)
            self.dirty = True
            self._swaps = None
            return self._state()

    def delete(self, individual: Any, start: Any, stop: Any) -> dict[str, Any]:
        """Set one individual to NaN (x, y, likelihood) over frames ``[start, stop]``."""
        ind = self._individual(individual)
        a, b = self._range(start, stop)
        with self._lock:
            cols = self._cols[ind].ravel()
            old = self.data[a : b + 1, cols].copy()
            self.data[a : b + 1, cols] = np.nan
            self._sums[ind][a : b + 1] = 0.0
            self.edits.append(_Edit("delete", (ind,), a, b, old))
            self.dirty = True
            self._swaps = None
            return self._state()

    def undo(self) -> dict[str, Any]:
        """Revert the last edit."""
        with self._lock:
            if not self.edits:
                raise TrackEditError("nothing to undo")
            edit = self.edits.pop()
            if edit.op == "swap":
                self._swap_rows(*edit.individuals, edit.start, edit.stop)
            elif edit.op == "swap_parts":
                self._swap_part_rows(edit)
            else:
                cols = self._cols[edit.individuals[0]].ravel()
                self.data[edit.start : edit.stop + 1, cols] = edit.old
                ind = edit.individuals[0]
                self._sums[ind][edit.start : edit.stop + 1] = self._frame_sums(
                    ind, edit.start, edit.stop
                )
            self.dirty = True
            self._swaps = None
            return self._state()

    def save(self) -> dict[str, Any]:
        """Write the tracks back (see the module docstring); the original goes to ``.bak``."""
        backup = backup_path(self.path)
        with self._lock:
            df = self.to_frame()
            if not backup.exists() and self.path.exists():
                shutil.copy2(self.path, backup)
            write_frame(df, self.path, table=True, key=HDF_KEY)
            self.dirty = False
            return {"saved": str(self.path), **self._state()}

    # -- frames for training ----------------------------------------------------------------
    def mark(self, start: Any, stop: Any = None, on: Any = None) -> dict[str, Any]:
        """Mark frames ``[start, stop]`` (``stop`` None: frame ``start`` alone) for the
        training data (``on`` True) or unmark them (False); ``on`` None toggles: unmarks
        them when all are marked, else marks them all."""
        a, b = self._range(start, start if stop is None else stop)
        if on is not None and not isinstance(on, bool):
            raise TrackEditError(f"on must be true, false or left out, not {on!r}")
        with self._lock:
            frames = range(a, b + 1)
            if on is None:
                on = not all(i in self.marked for i in frames)
            if on:
                self.marked.update(frames)
            else:
                self.marked.difference_update(frames)
            return self._state()

    def add_to_training(
        self, config: str | os.PathLike[str] | None, video: str | os.PathLike[str] | None
    ) -> dict[str, Any]:
        """Save the tracks (:meth:`save`), then extract the marked frames of ``video`` into
        the project of ``config`` as outlier frames whose machine labels are the refined
        tracks (:func:`dlcflow.labeler.tracktraining.extract_marked`). The frames handled
        (written, or there already) are unmarked. Nothing is saved when there is no
        config, video or mark."""
        with self._lock:
            check_marked(config, self.path, video, sorted(self.marked), self.scorer)
            saved = self.save()
            result = extract_marked(config, self.path, video, sorted(self.marked), self.scorer)
            self.marked.difference_update(result["extracted"] + result["present"])
            return {**saved, **result, **self._state()}


def open_tracks(
    path: str | os.PathLike[str],
    config: str | os.PathLike[str] | None = None,
    min_swap_len: float = 2,
    min_tracklet_len: int = 2,
    max_gap: int | None = None,
    trail_len: int = 0,
) -> TrackSession:
    """A :class:`TrackSession` on a tracks ``.h5`` or a tracklet ``.pickle`` (which needs
    the ``config`` for its individuals), as the module docstring says."""
    p = Path(path)
    options = {"max_gap": max_gap, "min_swap_len": min_swap_len, "trail_len": trail_len}
    if p.suffix != ".pickle":
        return TrackSession(p, **options)
    if config is None:
        raise TrackEditError(f"{p}: a tracklet pickle needs the project's config.yaml")
    individuals = Project(config).individuals
    if not individuals:
        raise TrackEditError(f"{config}: no individuals (not a multi-animal project)")
    try:
        table = tracklets_table(read_tracklets(p), individuals, min_tracklet_len)
    except TrackletFileError as err:
        raise TrackEditError(str(err)) from None
    except TrackletError as err:
        raise TrackEditError(f"{p}: {err}") from None
    return TrackSession(refined_tracklets_path(p), table=table, source=p, **options)
