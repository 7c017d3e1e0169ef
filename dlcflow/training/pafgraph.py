"""The part-affinity-field graph of a multi-animal model: which body-part pairs get a PAF.

DeepLabCut's choices (``create_multianimaltraining_dataset(paf_graph=...)``): ``None``, the
complete graph over the multi-animal body parts, pruned when it has ``n_edges_threshold``
(105) edges or more to a connected graph of average degree ``paf_graph_degree`` (6);
``"config"``, the project's ``skeleton``; or a list of index pairs. Edges join
multi-animal body parts only (indices in ``multianimalbodyparts`` order) and leave none
unconnected. DLC drops edges to unique parts silently and prunes by redrawing random
subsets until one is connected, unseeded; here a bad edge is an error naming it, and the
pruned graph is a random spanning tree plus random edges, seeded, so that a shuffle's
graph is the same every time it is built.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import networkx as nx
import numpy as np


class PafGraphError(ValueError):
    """A PAF graph that a multi-animal model cannot use (one line, names the edge)."""


def complete_graph(n_parts: int) -> list[list[int]]:
    """Every pair of the ``n_parts`` multi-animal body parts (DLC's default)."""
    return [list(edge) for edge in combinations(range(n_parts), 2)]


def prune_graph(
    edges: Sequence[Sequence[int]], average_degree: int = 6, seed: int = 0
) -> list[list[int]]:
    """A connected subgraph of ``edges`` with ``ceil(n_nodes * average_degree / 2)``
    edges: a random spanning tree, then random further edges (seeded)."""
    graph = nx.Graph([tuple(e) for e in edges])
    n_nodes = graph.number_of_nodes()
    wanted = math.ceil(n_nodes * average_degree / 2)
    if not n_nodes - 1 <= wanted < graph.number_of_edges():
        raise PafGraphError(
            f"paf_graph_degree {average_degree}: a connected graph of {n_nodes} body parts "
            f"needs {n_nodes - 1} to {graph.number_of_edges() - 1} edges, not {wanted}"
        )
    rng = np.random.default_rng(seed)
    weights = {e: float(rng.random()) for e in graph.edges}
    nx.set_edge_attributes(graph, weights, "weight")
    tree = {tuple(sorted(e)) for e in nx.minimum_spanning_edges(graph, data=False)}
    rest = sorted(tuple(sorted(e)) for e in graph.edges if tuple(sorted(e)) not in tree)
    extra = rng.choice(len(rest), size=wanted - len(tree), replace=False) if rest else []
    chosen = tree | {rest[int(i)] for i in extra}
    return [list(e) for e in sorted(chosen)]


def paf_graph(
    paf_graph: Any,
    multianimal_bodyparts: Sequence[str],
    unique_bodyparts: Sequence[str] = (),
    skeleton: Sequence[Sequence[str]] | None = None,
    n_edges_threshold: int = 105,
    paf_graph_degree: int = 6,
    seed: int = 0,
) -> list[list[int]]:
    """The PAF graph for ``paf_graph`` (None | "config" | index pairs), validated."""
    multi = list(multianimal_bodyparts)
    if paf_graph is None:
        edges = complete_graph(len(multi))
        if len(edges) >= n_edges_threshold:
            edges = prune_graph(edges, paf_graph_degree, seed)
        return edges
    if isinstance(paf_graph, str):
        if paf_graph != "config":
            raise PafGraphError(f"paf_graph {paf_graph!r}: use None, 'config' or index pairs")
        edges = [_skeleton_edge(pair, multi, unique_bodyparts) for pair in skeleton or []]
    else:
        edges = [_index_edge(pair, multi, unique_bodyparts) for pair in paf_graph]
    unconnected = set(range(len(multi))) - {i for edge in edges for i in edge}
    if unconnected and len(multi) > 1:
        names = ", ".join(multi[i] for i in sorted(unconnected))
        raise PafGraphError(
            f"paf_graph leaves {names} unconnected: every multi-animal body part needs an edge"
        )
    return edges


def _skeleton_edge(pair: Sequence[str], multi: list[str], unique: Sequence[str]) -> list[int]:
    if len(pair) != 2:
        raise PafGraphError(f"skeleton edge {list(pair)}: an edge joins two body parts")
    for name in pair:
        if name in unique:
            raise PafGraphError(
                f"skeleton edge {list(pair)}: {name!r} is a unique body part; PAF edges "
                "join multi-animal body parts only"
            )
        if name not in multi:
            raise PafGraphError(f"skeleton edge {list(pair)}: unknown body part {name!r}")
    return sorted((multi.index(pair[0]), multi.index(pair[1])))


def _index_edge(pair: Sequence[int], multi: list[str], unique: Sequence[str]) -> list[int]:
    edge = [int(i) for i in pair]
    n = len(multi)
    if len(edge) != 2 or edge[0] == edge[1]:
        raise PafGraphError(f"paf_graph edge {list(pair)}: an edge joins two body parts")
    for i in edge:
        if n <= i < n + len(unique):
            raise PafGraphError(
                f"paf_graph edge {edge}: {i} is the unique body part {unique[i - n]!r}; "
                "PAF edges join multi-animal body parts only"
            )
        if not 0 <= i < n:
            raise PafGraphError(f"paf_graph edge {edge}: no body part {i} (there are {n})")
    return sorted(edge)
