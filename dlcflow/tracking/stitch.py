"""Stitching of tracklets into one track per animal (DeepLabCut 2.3's ``stitch_tracklets``),
that returns tracks on every input it can read.

:func:`stitch` takes the tracklet dict of DLC's ``_el.pickle`` (``_bx``, ``_sk``) and:

1. drops the frames where a tracklet has no position, splits tracklets at missing frames
   (``split_tracklets``), keeps those of ``min_length`` frames or more for the flow and
   the shorter ones as residuals (chained first when ``prestitch_residuals``);
2. chains the tracklets by DLC's min-cost flow (:mod:`dlcflow.tracking.stitchgraph`): gaps
   up to ``max_gap`` (default ``int(1.5 *`` DLC's data-driven gap ``)``), integer costs
   ``int(100 * weight)``, the weight the centroid distance (times 0.01 between tracklets of
   one identity, when the tracklets have identities) or ``weight_func``, plus, with
   re-identification, an appearance term (:mod:`dlcflow.tracking.appearance`);
3. puts the residuals back (:mod:`dlcflow.tracking.residuals`); orders the tracks by
   identity as DLC does, and carries the unique parts (``single``) through.

Where DLC raises (``NetworkXUnfeasible``, "Could not reconstruct N tracks"), this returns
the tracks of an always-feasible flow that covers the most detections with at most
``n_tracks`` chains, says so in one warning line and names the frames of the tracklets it
left out (:attr:`StitchResult.unresolved`). When ``n_tracks`` exceeds the animals the
tracklets show at once, that many tracks are stitched and the others left empty (DLC
would cut the animals' tracks into ``n_tracks`` chains). Only unreadable or empty input
raises :class:`StitchError`, in one line.

:func:`tracks_dataset` turns a result into the pose data model, which
:func:`dlcflow.io.tracks.save_tracks` writes as DLC's ``<stem><scorer>_el.h5``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import xarray as xr

from dlcflow.core.options import check_bool, check_int
from dlcflow.data.pose import SINGLE, make_poses
from dlcflow.tracking.appearance import Embedder, appearance_weight
from dlcflow.tracking.residuals import add_back, prestitch
from dlcflow.tracking.stitchgraph import (
    WeightFunc,
    compute_max_gap,
    concurrency,
    cover_paths,
    distance_weight,
    dlc_paths,
    identity_weight,
    link_costs,
)
from dlcflow.tracking.tracklet import (
    NO_IDENTITY,
    ParsedTracklets,
    Tracklet,
    TrackletError,
    parse_tracklets,
)

__all__ = [
    "StitchError",
    "StitchParams",
    "StitchResult",
    "frame_ranges",
    "stitch",
    "track_names",
    "tracks_dataset",
]

_MAX_RANGES = 10


class StitchError(ValueError):
    """Tracklets that cannot be stitched at all; the message is one line."""


@dataclass(frozen=True)
class StitchParams:
    """The settings of :func:`stitch`, with DLC's names and defaults.

    ``max_gap`` None or 0: from the data, as DLC computes it. ``weight_func(earlier,
    later)`` on two :class:`~dlcflow.tracking.tracklet.Tracklet` objects: a number that is
    lower the likelier the two are one animal (None: DLC's distance weight). ``embedder``
    (re-identification, :mod:`dlcflow.tracking.appearance`) with ``appearance`` > 0 adds
    ``appearance`` times the embeddings' cosine dissimilarity to that weight (0: off)."""

    min_length: int = 10
    split_tracklets: bool = True
    prestitch_residuals: bool = True
    max_gap: int | None = None
    weight_func: Callable[[Tracklet, Tracklet], float] | None = None
    add_back_residuals: bool = True
    embedder: Embedder | None = None
    appearance: float = 0.0

    def __post_init__(self) -> None:
        owner = type(self).__name__
        check_int(owner, "min_length", self.min_length, 3)
        if self.max_gap is not None:
            check_int(owner, "max_gap", self.max_gap, 0)
        for name in ("split_tracklets", "prestitch_residuals", "add_back_residuals"):
            check_bool(owner, name, getattr(self, name))
        if self.weight_func is not None and not callable(self.weight_func):
            raise ValueError(f"{owner}: weight_func must be callable or None")
        if self.embedder is not None and not callable(self.embedder):
            raise ValueError(f"{owner}: embedder must be callable or None")
        if isinstance(self.appearance, bool) or not isinstance(self.appearance, Real):
            raise ValueError(f"{owner}: appearance must be a number, not {self.appearance!r}")
        if not self.appearance >= 0:
            raise ValueError(f"{owner}: appearance must be at least 0, not {self.appearance}")


@dataclass(frozen=True)
class StitchResult:
    """Stitched tracks.

    ``tracks``: ``(nframes, n_tracks, n_multibodyparts, 3)`` x, y, likelihood (NaN where a
    track has no detection); ``single``: ``(nframes, n_unique, 3)`` or None; ``warnings``:
    one line each; ``unresolved``: inclusive frame ranges of the tracklets left out of
    every track; ``method``: ``"flow"`` (DLC's) or ``"cover"`` (the fallback);
    ``identities``: each track's identity (``-1``: none or empty)."""

    tracks: np.ndarray
    single: np.ndarray | None
    warnings: tuple[str, ...]
    unresolved: tuple[tuple[int, int], ...]
    method: str
    max_gap: int
    identities: tuple[int, ...]
    n_tracklets: int
    n_residuals: int
    header: Any = None

    @property
    def n_tracks(self) -> int:
        """Tracks in the result (empty ones included)."""
        return int(self.tracks.shape[1])

    @property
    def nframes(self) -> int:
        """Frames in the result."""
        return int(self.tracks.shape[0])


def frame_ranges(frames: Sequence[int] | np.ndarray) -> tuple[tuple[int, int], ...]:
    """Sorted frames as inclusive runs ``(first, last)``."""
    values = np.unique(np.asarray(frames, dtype=np.int64))
    if not values.size:
        return ()
    cuts = np.flatnonzero(np.diff(values) != 1) + 1
    return tuple((int(r[0]), int(r[-1])) for r in np.split(values, cuts))


def _ranges_text(ranges: Sequence[tuple[int, int]]) -> str:
    words = [f"{a}" if a == b else f"{a}-{b}" for a, b in ranges[:_MAX_RANGES]]
    more = len(ranges) - _MAX_RANGES
    return ", ".join(words) + (f" and {more} more ranges" if more > 0 else "")


def _pieces(tracklets: Sequence[Tracklet], split: bool) -> list[Tracklet]:
    """The tracklets without empty frames, cut at missing frames when ``split``."""
    out = []
    for tracklet in tracklets:
        valid = tracklet.valid()
        if valid is not None:
            out.extend(valid.split_at_gaps() if split else [valid])
    return out


def _weight(params: StitchParams, nodes: Sequence[Tracklet]) -> WeightFunc:
    if params.weight_func is not None:
        base = params.weight_func
    elif any(t.identity != NO_IDENTITY for t in nodes):
        base = identity_weight(distance_weight)
    else:
        base = distance_weight
    if params.embedder is None or not params.appearance:
        return base
    return appearance_weight(params.embedder, float(params.appearance), base)


def _chain_tracks(nodes: Sequence[Tracklet], chains: Sequence[Sequence[int]]) -> list[Tracklet]:
    """One track per chain, each tracklet in the first chain that holds it."""
    used: set[int] = set()
    tracks = []
    for chain in chains:
        members = [i for i in chain if i not in used]
        used.update(members)
        if members:
            tracks.append(nodes[members[0]].joined([nodes[i] for i in members[1:]]))
    return tracks


def _fill(tracklets: Sequence[Tracklet | None], nframes: int, width: int) -> np.ndarray:
    """``(nframes, len(tracklets), width, 3)`` from the tracklets' x, y, likelihood."""
    out = np.full((nframes, len(tracklets), width, 3), np.nan)
    for k, tracklet in enumerate(tracklets):
        if tracklet is None:
            continue
        keep = (tracklet.inds >= 0) & (tracklet.inds < nframes)
        out[tracklet.inds[keep], k] = tracklet.xyp[keep]
    return out


def stitch(
    tracklets: Mapping[Any, Any],
    n_tracks: int,
    params: StitchParams | None = None,
    nframes: int | None = None,
    *,
    source: str | None = None,
    n_bodyparts: int | None = None,
) -> StitchResult:
    """Stitch a tracklet dict into ``n_tracks`` tracks (see the module docstring).

    ``nframes``: the video's frame count (default: up to the last detection); ``source``
    names the input in messages. The dict is not changed. Tracklets without a detection
    give empty tracks and a warning when ``nframes`` and ``n_bodyparts`` (the
    multi-animal body parts) say their size, a StitchError otherwise."""
    where = f"{source}: " if source else ""
    params = params if params is not None else StitchParams()
    if isinstance(n_tracks, bool) or not isinstance(n_tracks, Integral) or n_tracks < 1:
        raise StitchError(f"{where}n_tracks must be an integer of at least 1, not {n_tracks!r}")
    if nframes is not None and (isinstance(nframes, bool) or not isinstance(nframes, Integral)):
        raise StitchError(f"{where}nframes must be an integer, not {nframes!r}")
    n_tracks = int(n_tracks)
    try:
        parsed = parse_tracklets(tracklets)
    except TrackletError as err:
        raise StitchError(f"{where}{err}") from None
    notes: list[str] = []
    pieces = _pieces(parsed.tracklets, params.split_tracklets)
    if not pieces:
        if nframes is None or not (n_bodyparts or parsed.n_bodyparts):
            raise StitchError(
                f"{where}no tracklets to stitch: the tracklet data holds no detection"
            )
        return _empty_result(parsed, n_tracks, int(nframes), n_bodyparts, where)
    nodes = [p for p in pieces if len(p) >= params.min_length]
    residuals = [p for p in pieces if len(p) < params.min_length]
    if not nodes:
        notes.append(
            f"every tracklet is shorter than min_length={params.min_length} frames: "
            f"all {len(residuals)} were stitched as tracklets"
        )
        nodes, residuals = residuals, []
    if params.prestitch_residuals and residuals:
        residuals = prestitch(residuals)
    nodes = sorted(nodes, key=lambda t: t.start)

    most, at = concurrency(nodes)
    k = min(n_tracks, most)
    if k < n_tracks:
        empty = f"track {n_tracks}" if k + 1 == n_tracks else f"tracks {k + 1}-{n_tracks}"
        notes.append(
            f"n_tracks={n_tracks}, but the tracklets show at most {most} animal(s) at once "
            f"(frame {at}): stitched {k}, {empty} left empty"
        )
    max_gap = int(params.max_gap) if params.max_gap else int(1.5 * compute_max_gap(nodes))
    weight = _weight(params, nodes)
    links, bad = link_costs(nodes, max_gap, weight)
    if bad:
        notes.append(f"{bad} link(s) between tracklets had no finite weight and were left out")
    chains = dlc_paths(len(nodes), k, links)
    method = "flow"
    if chains is None:
        method = "cover"
        chains = cover_paths(nodes, k, links, max_gap, weight)
    tracks = _chain_tracks(nodes, chains)
    placed = {i for chain in chains for i in chain}
    left = [nodes[i] for i in range(len(nodes)) if i not in placed]
    if params.add_back_residuals:
        tracks, _ = add_back(tracks, residuals)
    tracks = sorted(tracks, key=lambda t: t.identity)

    last = max([t.end for t in tracks] + ([parsed.single.end] if parsed.single else []))
    if nframes is None:
        nframes = last + 1
    elif nframes < 1:
        raise StitchError(f"{where}nframes must be at least 1, not {nframes}")
    elif last >= nframes:
        notes.append(f"detections after the video's last frame {nframes - 1} were left out")
    unresolved = frame_ranges(np.concatenate([t.inds for t in left])) if left else ()
    if method == "cover":
        cause = (
            f"more tracklets at once ({most}) than tracks"
            if most > n_tracks
            else f"gaps longer than max_gap={max_gap} frames"
        )
        line = (
            f"DeepLabCut's flow cannot stitch the tracklets into {k} tracks ({cause}); "
            f"kept the {len(tracks)} track(s) that cover the most detections"
        )
        if unresolved:
            line += f"; unresolved frames: {_ranges_text(unresolved)}"
        notes.append(line)
    padded: list[Tracklet | None] = [*tracks, *([None] * (n_tracks - len(tracks)))]
    single = None
    if parsed.single is not None:
        single = _fill([parsed.single], nframes, parsed.single.data.shape[1])[:, 0]
    return StitchResult(
        tracks=_fill(padded, nframes, parsed.n_bodyparts),
        single=single,
        warnings=tuple(f"{where}{n}" for n in notes),
        unresolved=unresolved,
        method=method,
        max_gap=max_gap,
        identities=tuple(t.identity if t is not None else NO_IDENTITY for t in padded),
        n_tracklets=len(nodes),
        n_residuals=len(residuals),
        header=parsed.header,
    )


def _empty_result(
    parsed: ParsedTracklets, n_tracks: int, nframes: int, n_bodyparts: int | None, where: str
) -> StitchResult:
    """Empty tracks of a video where no animal was tracked (its unique parts kept)."""
    single = None
    if parsed.single is not None:
        single = _fill([parsed.single], nframes, parsed.single.data.shape[1])[:, 0]
    line = (
        f"{where}no animal was tracked (the tracklets hold no detection): {n_tracks} empty tracks"
    )
    return StitchResult(
        tracks=_fill([None] * n_tracks, nframes, int(n_bodyparts or parsed.n_bodyparts)),
        single=single,
        warnings=(line,),
        unresolved=(),
        method="flow",
        max_gap=0,
        identities=(NO_IDENTITY,) * n_tracks,
        n_tracklets=0,
        n_residuals=0,
        header=parsed.header,
    )


def track_names(animal_names: Sequence[str], n_tracks: int) -> list[str]:
    """The animal names when there is one per track, else DLC's ``ind1..indN``."""
    names = [str(n) for n in animal_names]
    if len(names) == n_tracks:
        return names
    return [f"ind{i + 1}" for i in range(n_tracks)]


def tracks_dataset(
    result: StitchResult,
    scorer: str,
    animal_names: Sequence[str],
    multi_parts: Sequence[str],
    unique_parts: Sequence[str] = (),
    fps: float | None = None,
) -> xr.Dataset:
    """A :class:`StitchResult` as the pose data model: individuals the track names (see
    :func:`track_names`), then ``single`` for ``unique_parts``; keypoints ``multi_parts``
    then ``unique_parts``."""
    multi, unique = [str(p) for p in multi_parts], [str(p) for p in unique_parts]
    nframes, n_tracks, n_parts, _ = result.tracks.shape
    if n_parts != len(multi):
        raise StitchError(
            f"the tracks have {n_parts} body parts, but {len(multi)} multi-animal body parts "
            "were given"
        )
    n_unique = 0 if result.single is None else result.single.shape[1]
    if n_unique and n_unique != len(unique):
        raise StitchError(
            f"the tracklets hold {n_unique} unique body part(s), but {len(unique)} were given"
        )
    names = track_names(animal_names, n_tracks)
    individuals = names + ([SINGLE] if unique else [])
    keypoints = multi + unique
    values = np.full((nframes, len(keypoints), len(individuals), 3), np.nan)
    values[:, : len(multi), :n_tracks] = result.tracks.transpose(0, 2, 1, 3)
    if unique and result.single is not None:
        values[:, len(multi) :, n_tracks] = result.single
    ds = make_poses(
        values[..., :2].transpose(0, 3, 1, 2),
        values[..., 2],
        keypoints=keypoints,
        individuals=individuals,
        scorer=scorer,
        unique_keypoints=unique,
        fps=fps,
    )
    ds.attrs["rows"] = "frames"
    return ds
