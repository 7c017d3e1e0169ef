"""The flow problems that chain tracklets into tracks.

:func:`dlc_paths` is DeepLabCut 2.3's formulation: a DAG ``source → i·in → i·out → sink``
(every edge of capacity 1) with a link ``i·out → j·in`` for each pair whose gap ``0 < gap
<= max_gap``, of integer cost ``int(100 * weight)``; the source supplies ``n_tracks``
units, every ``in`` node asks one and every ``out`` node gives one, so every tracklet
lies on one of exactly ``n_tracks`` chains. The problem is infeasible when the tracklets
cannot be covered that way (more tracklets at once than tracks, gaps longer than
``max_gap``, fewer tracklets than tracks); it then returns None.

:func:`cover_paths` always has a solution: at most ``n_tracks`` chains (unused units go
straight from source to sink), each tracklet on at most one of them, chosen to cover the
most frames first, then to use the fewest links across gaps longer than ``max_gap``
("skip" links, to the next tracklets after the window), then the fewest chains, then the
least link cost.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence

import networkx as nx
import numpy as np

from dlcflow.tracking.tracklet import NO_IDENTITY, Tracklet

__all__ = [
    "WeightFunc",
    "compute_max_gap",
    "concurrency",
    "cover_paths",
    "distance_weight",
    "dlc_paths",
    "identity_weight",
    "link_costs",
]

#: ``weight(earlier, later)``: the lower, the likelier the two belong to one track.
WeightFunc = Callable[[Tracklet, Tracklet], float]
#: DLC's factor on the weight of a link between tracklets of the same identity.
SAME_IDENTITY_FACTOR = 0.01


def distance_weight(first: Tracklet, second: Tracklet) -> float:
    """DLC's default weight: the centroid distance between the two."""
    return first.distance_to(second)


def identity_weight(base: WeightFunc = distance_weight) -> WeightFunc:
    """DLC's weight when the tracklets carry identities: ``base`` times 0.01 for two
    tracklets of the same identity, times 1 otherwise."""

    def weight(first: Tracklet, second: Tracklet) -> float:
        same = first.identity == second.identity and first.identity != NO_IDENTITY
        return (SAME_IDENTITY_FACTOR if same else 1.0) * base(first, second)

    return weight


def compute_max_gap(tracklets: Sequence[Tracklet]) -> int:
    """DLC's data-driven gap: over the tracklets, the largest of each one's shortest
    positive gap to a tracklet starting after its end (0 when there is none)."""
    starts = sorted(t.start for t in tracklets)
    largest = 0
    for t in tracklets:
        k = bisect.bisect_right(starts, t.end)
        if k < len(starts):
            largest = max(largest, starts[k] - t.end)
    return largest


def _cost(weight: float) -> int | None:
    """DLC's integer link cost, None when the weight is not a finite number."""
    try:
        value = float(weight)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value):
        return None
    return int(100 * value)


def link_costs(
    nodes: Sequence[Tracklet], max_gap: float, weight: WeightFunc
) -> tuple[dict[tuple[int, int], int], int]:
    """Costs of the links ``i → j`` (``nodes`` sorted by start) with ``0 < gap <= max_gap``,
    in DLC's order, and how many links were left out for a weight that is not finite."""
    links: dict[tuple[int, int], int] = {}
    bad = 0
    for i, first in enumerate(nodes):
        for j in range(i + 1, len(nodes)):
            gap = nodes[j].start - first.end
            if gap > max_gap:
                break
            if gap > 0:
                cost = _cost(weight(first, nodes[j]))
                if cost is None:
                    bad += 1
                else:
                    links[(i, j)] = cost
    return links, bad


def dlc_paths(
    n_nodes: int, n_tracks: int, links: dict[tuple[int, int], int]
) -> list[list[int]] | None:
    """DLC's min-cost flow (networkx ``capacity_scaling``) on the graph of ``n_nodes``
    tracklets; the chains as lists of node indices, None when it is infeasible."""
    graph = nx.DiGraph()
    graph.add_node("source", demand=-n_tracks)
    graph.add_node("sink", demand=n_tracks)
    ins = [f"{i}in" for i in range(n_nodes)]
    outs = [f"{i}out" for i in range(n_nodes)]
    graph.add_nodes_from(ins, demand=1)
    graph.add_nodes_from(outs, demand=-1)
    graph.add_edges_from(zip(ins, outs, strict=True), capacity=1)
    graph.add_edges_from((("source", node) for node in ins), capacity=1)
    graph.add_edges_from(((node, "sink") for node in outs), capacity=1)
    for (i, j), cost in links.items():
        graph.add_edge(outs[i], ins[j], weight=cost, capacity=1)
    try:
        _, flow = nx.capacity_scaling(graph)
    except (nx.NetworkXUnfeasible, nx.NetworkXUnbounded, nx.NetworkXError):
        return None
    return _chains(flow)


def _chains(flow: dict[str, dict[str, int]]) -> list[list[int]]:
    """The chains of a DLC flow: from each source unit, follow the first used link of
    each ``out`` node (the sink ends a chain), spending each link once."""
    chains = []
    for first, units in flow["source"].items():
        if units < 1:
            continue
        chain = []
        node = first
        while True:
            index = int(node[: -len("in")])
            chain.append(index)
            outgoing = flow.get(f"{index}out", {})
            nxt = next((n for n, f in outgoing.items() if f >= 1), None)
            if nxt is None or nxt == "sink":
                break
            outgoing[nxt] -= 1
            node = nxt
        chains.append(chain)
    return chains


def _skip_links(
    nodes: Sequence[Tracklet], max_gap: float, n_next: int, weight: WeightFunc
) -> dict[tuple[int, int], int | None]:
    """Links across gaps longer than ``max_gap``: from each tracklet to the ``n_next``
    tracklets that start first after its window (cost None: no finite weight)."""
    starts = [t.start for t in nodes]
    order = sorted(range(len(nodes)), key=lambda k: starts[k])
    sorted_starts = [starts[k] for k in order]
    links: dict[tuple[int, int], int | None] = {}
    for i, first in enumerate(nodes):
        limit = first.end + max_gap
        if not math.isfinite(limit):
            continue
        k = bisect.bisect_right(sorted_starts, limit)
        for j in order[k : k + n_next]:
            links[(i, j)] = _cost(weight(first, nodes[j]))
    return links


def cover_paths(
    nodes: Sequence[Tracklet],
    n_tracks: int,
    links: dict[tuple[int, int], int],
    max_gap: float,
    weight: WeightFunc,
) -> list[list[int]]:
    """At most ``n_tracks`` chains of ``nodes`` (sorted by start) by the always-feasible
    flow of the module docstring (networkx ``min_cost_flow``), as lists of node indices."""
    n = len(nodes)
    skips = _skip_links(nodes, max_gap, n_tracks + 1, weight)
    known = [abs(c) for c in (*links.values(), *skips.values()) if c is not None]
    top = max(known, default=0) + 1  # also the cost of a skip link without a finite weight
    start = (n + 1) * top + 1  # a chain costs more than all links together
    skip = (n + 1) * (start + top) + 1  # a skip link more than all chains and links
    reward = (n + 1) * (skip + start + top) + 1  # a frame covered more than everything
    graph = nx.DiGraph()
    graph.add_node("source", demand=-n_tracks)
    graph.add_node("sink", demand=n_tracks)
    graph.add_edge("source", "sink", capacity=n_tracks, weight=0)
    for i, tracklet in enumerate(nodes):
        graph.add_edge("source", f"{i}in", capacity=1, weight=start)
        graph.add_edge(f"{i}in", f"{i}out", capacity=1, weight=-reward * len(tracklet))
        graph.add_edge(f"{i}out", "sink", capacity=1, weight=0)
    for (i, j), cost in links.items():
        graph.add_edge(f"{i}out", f"{j}in", capacity=1, weight=cost)
    for (i, j), cost in skips.items():
        if (i, j) not in links:
            extra = top if cost is None else cost
            graph.add_edge(f"{i}out", f"{j}in", capacity=1, weight=skip + extra)
    flow = nx.min_cost_flow(graph)
    chains = []
    for node, units in flow["source"].items():
        if node == "sink" or units < 1:
            continue
        chain = [int(node[: -len("in")])]
        while True:
            outgoing = flow[f"{chain[-1]}out"]
            nxt = next((m for m, f in outgoing.items() if f >= 1 and m != "sink"), None)
            if nxt is None:
                break
            chain.append(int(nxt[: -len("in")]))
        chains.append(chain)
    return chains


def concurrency(nodes: Sequence[Tracklet]) -> tuple[int, int]:
    """The most tracklets present at one frame, and the first frame where that happens."""
    if not nodes:
        return 0, 0
    inds = np.concatenate([t.inds for t in nodes])
    low = int(inds.min())
    counts = np.bincount(inds - low)
    where = int(np.argmax(counts))
    return int(counts[where]), where + low
