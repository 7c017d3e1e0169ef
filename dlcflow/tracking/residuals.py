"""Residuals: the tracklet pieces too short to take part in the flow, and how they come back.

As DeepLabCut 2.3's stitching does, :func:`prestitch` first chains residuals that follow
one another closely (gap under 5 frames; the chain of each connected group with the most
non-overlap of end boxes), and :func:`add_back` puts residuals into the stitched tracks:
first, repeatedly, those that fit (share no frame with) exactly one track, then the others
into the track whose neighbouring detections lie closest, where they fall in a gap of it.
Single-frame residuals are dropped. Each function returns new lists; tracklets are never
changed in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np

from dlcflow.tracking.tracklet import Tracklet

__all__ = ["PRESTITCH_GAP", "add_back", "prestitch"]

#: The gap under which residuals are chained before stitching (DLC's fixed value).
PRESTITCH_GAP = 5
#: Frames within which a residual is matched to a track by its nearer end only.
_NEAR = 3


def prestitch(residuals: Sequence[Tracklet], max_gap: int = PRESTITCH_GAP) -> list[Tracklet]:
    """Residuals with each group of closely following ones replaced by its best chain
    (the other members of a group stay residuals); the chains come last."""
    order = sorted(range(len(residuals)), key=lambda k: residuals[k].start)
    ranked = [residuals[k] for k in order]
    graph = nx.DiGraph()
    for a, first in enumerate(ranked):
        for b in range(a + 1, len(ranked)):
            gap = ranked[b].start - first.end
            if gap < 1:
                continue
            if gap >= max_gap:
                break
            graph.add_edge(a, b, weight=1.0 - first.box_overlap_with(ranked[b]))
    chained: set[int] = set()
    chains = []
    for group in nx.connected_components(graph.to_undirected()):
        path = nx.dag_longest_path(graph.subgraph(group))
        chained.update(order[p] for p in path)
        chains.append(ranked[path[0]].joined([ranked[p] for p in path[1:]]))
    return [r for k, r in enumerate(residuals) if k not in chained] + chains


def _fits(residual: Tracklet, tracks: Sequence[Tracklet]) -> list[int]:
    """The tracks that share no frame with ``residual``."""
    return [i for i, track in enumerate(tracks) if not residual.overlaps(track)]


def _gap_distance(residual: Tracklet, track: Tracklet) -> float | None:
    """How far ``residual`` lies from the detections of ``track`` around it, when it falls
    in a gap of the track (None otherwise)."""
    after = int(np.searchsorted(track.inds, residual.end))
    before = after - 1
    if after >= len(track) or before < 0:
        return None
    left = residual.start - int(track.inds[before])
    right = int(track.inds[after]) - residual.end
    if left <= 0 < right:
        return None
    head = float(np.linalg.norm(track.centroid[before] - residual.centroid[0]))
    tail = float(np.linalg.norm(track.centroid[after] - residual.centroid[-1]))
    if left <= _NEAR:
        dist = head
    elif right <= _NEAR:
        dist = tail
    else:
        dist = head + tail
    return dist if np.isfinite(dist) else np.inf


def add_back(
    tracks: Sequence[Tracklet], residuals: Sequence[Tracklet]
) -> tuple[list[Tracklet], list[Tracklet]]:
    """The tracks with residuals put back (see the module docstring), and the residuals of
    more than one frame that found no place."""
    out = list(tracks)
    pending = [r for r in sorted(residuals, key=len) if len(r) > 1]
    tries, limit = 0, len(pending)
    while tries < limit and pending:
        for residual in pending[::-1]:
            fits = _fits(residual, out)
            if not fits:
                pending.remove(residual)
            elif len(fits) == 1:
                out[fits[0]] = out[fits[0]].joined([residual])
                pending.remove(residual)
                tries = 0
            else:
                tries += 1
    unplaced = []
    for residual in pending[::-1]:
        options = []
        for i in _fits(residual, out):
            dist = _gap_distance(residual, out[i])
            if dist is not None:
                options.append((dist, i))
        if not options:
            unplaced.append(residual)
            continue
        _, best = min(options, key=lambda o: o[0])
        out[best] = out[best].joined([residual])
    return out, unplaced
