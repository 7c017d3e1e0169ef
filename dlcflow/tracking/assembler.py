"""The steps of assembling one frame (DLC 2.3's ``Assembler``) on its detections
(:mod:`dlcflow.tracking.animal`):

- :func:`best_links`: per limb of ``paf_inds``, the links between its two body parts:
  Hungarian maximisation of the affinity among the ``max_n`` most confident detections
  ≥ ``pcutoff`` of each, or (``greedy``) the best affinities first, one-to-one, for pairs
  whose confidence product ≥ ``pcutoff²``; links below ``min_affinity`` are dropped. With
  temporal ``trees`` (links of the previous frames), each affinity is weighted by
  ``mean_n exp(−0.01 · n · distance to the nearest link n frames back)``.
- :func:`build_animals`: connected components of the links that hold ``n_parts``
  detections are animals; while fewer than ``max_n`` there are, the other links, best
  first, seed an animal grown along the best link touching it to a free detection of a
  missing body part (with a calibration: only where the Mahalanobis distance drops, a
  refused link waiting in a tabu list). More animals than ``max_n`` are fused: with a
  calibration the pair whose union lowers the distance most, while one does; without, any
  two incomplete animals of disjoint body parts joined by an unused link. Incomplete
  animals are then grown once more without the calibration.
- :func:`identity_animals`: one animal per identity group, its most confident detection
  ≥ ``pcutoff`` of each body part (``identity_only``).
- :func:`suppress_overlaps`: pose non-maximum suppression, best score first.
- :func:`add_discarded`: left-over detections, most confident first, join the nearest
  animal lacking their body part (calibrated: the first whose Mahalanobis distance drops);
  equally confident ones go closest first (DLC's order among them is arbitrary).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx
import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from dlcflow.tracking.animal import Animal, Joint, Link
from dlcflow.tracking.calibration import Calibration

__all__ = [
    "add_discarded",
    "best_links",
    "build_animals",
    "identity_animals",
    "suppress_overlaps",
]

#: The decay of the temporal weight per pixel and frame (DLC's ``_gamma``).
TEMPORAL_GAMMA = 0.01


def _temporal_weights(
    dets_s: list[Joint], dets_t: list[Joint], trees: Sequence[cKDTree]
) -> np.ndarray:
    vecs = np.array([[s.x, s.y, t.x, t.y] for s in dets_s for t in dets_t])
    weights = [np.exp(-TEMPORAL_GAMMA * n * tree.query(vecs)[0]) for n, tree in enumerate(trees, 1)]
    return np.mean(weights, axis=0).reshape(len(dets_s), len(dets_t))


def best_links(
    bag: Mapping[int, list[Joint]],
    costs: Mapping[int, Mapping[str, Any]],
    graph: Sequence[Sequence[int]],
    paf_inds: Sequence[int],
    *,
    max_n: int,
    pcutoff: float,
    min_affinity: float,
    greedy: bool = False,
    method: str = "m1",
    trees: Sequence[cKDTree] = (),
) -> list[Link]:
    """The links of every limb in ``paf_inds`` (see the module's docstring)."""
    links: list[Link] = []
    for ind in paf_inds:
        s, t = (int(v) for v in graph[ind])
        dets_s, dets_t = bag.get(s), bag.get(t)
        if not dets_s or not dets_t or ind not in costs:
            continue
        if np.isinf(np.asarray(costs[ind]["distance"], dtype=float)).all():
            continue
        aff = np.array(costs[ind][method])  # keeps the costs' precision (Animal.affinity)
        aff[np.isnan(aff)] = 0
        if trees:
            aff *= _temporal_weights(dets_s, dets_t, trees)
        if greedy:
            conf = np.outer([d.confidence for d in dets_s], [d.confidence for d in dets_t])
            rows, cols = np.nonzero((conf >= pcutoff * pcutoff) & (aff >= min_affinity))
            order = sorted(range(len(rows)), key=lambda k: aff[rows[k], cols[k]], reverse=True)
            seen_s, seen_t = set(), set()
            for k in order:
                r, c = int(rows[k]), int(cols[k])
                if r in seen_s or c in seen_t:
                    continue
                seen_s.add(r)
                seen_t.add(c)
                links.append(Link(dets_s[r], dets_t[c], aff[r, c]))
                if len(seen_s) == max_n:
                    break
            continue
        keep = []
        for dets in (dets_s, dets_t):
            top = sorted(range(len(dets)), key=lambda k: dets[k].confidence, reverse=True)
            keep.append([k for k in top[:max_n] if dets[k].confidence >= pcutoff])
        sub = aff[np.ix_(keep[0], keep[1])]
        for r, c in zip(*linear_sum_assignment(sub, maximize=True), strict=True):
            if sub[r, c] >= min_affinity:
                links.append(Link(dets_s[keep[0][r]], dets_t[keep[1][c]], sub[r, c]))
    return links


Lookup = dict[int, dict[int, Link]]


def _mahalanobis(calibration: Calibration, animal: Animal, nan_policy: str = "little") -> float:
    return calibration.mahalanobis(animal.xy, nan_policy) if len(animal) else math.inf


def _grow(
    animal: Animal,
    lookup: Lookup,
    assembled: set[int],
    n_parts: int,
    calibration: Calibration | None,
    nan_policy: str,
) -> None:
    """Grow ``animal`` along its best links to free detections (see the module's
    docstring); with a calibration, a link that does not lower the Mahalanobis distance is
    set aside (tabu) and given another chance after each link that does."""
    stack: list[tuple[Any, int, Link]] = []
    tabu: list[tuple[float, int, Link]] = []
    visited: set[tuple[int, int]] = set()
    counter = itertools.count()

    def push(i: int) -> None:
        for j, link in lookup.get(i, {}).items():
            if j in animal.members or link.idx in visited:
                continue
            heapq.heappush(stack, (-link.affinity, next(counter), link))
            visited.add(link.idx)

    for i in sorted(animal.members):
        push(i)
    while stack and len(animal) < n_parts:
        _, _, best = heapq.heappop(stack)
        i, j = best.idx
        if i in animal.members:
            new = j
        elif j in animal.members:
            new = i
        else:
            continue
        if new in assembled:
            continue
        if calibration is None:
            animal.add_link(best)
            push(new)
            continue
        d_old = _mahalanobis(calibration, animal, nan_policy)
        before = animal.state()
        if not animal.add_link(best):
            continue
        d = _mahalanobis(calibration, animal, nan_policy)
        if d < d_old:
            push(new)
            if tabu:
                _, _, waiting = heapq.heappop(tabu)
                heapq.heappush(stack, (-waiting.affinity, next(counter), waiting))
        else:
            heapq.heappush(tabu, (d - d_old, next(counter), best))
            animal.restore(before)


def _unlink(lookup: Lookup, link: Link) -> None:
    i, j = link.idx
    lookup[i].pop(j, None)
    lookup[j].pop(i, None)


def _fuse_calibrated(animals: list[Animal], max_n: int, calibration: Calibration) -> None:
    """Fuse the pair whose union raises the Mahalanobis distance least (lowers it), until
    ``max_n`` animals are left or no union helps (a single possible union is always made)."""
    dists = [_mahalanobis(calibration, a) for a in animals]
    while len(animals) > max_n:
        options = []
        for i, j in itertools.combinations(range(len(animals)), 2):
            if animals[j].shares_parts(animals[i]):
                continue
            union = animals[i].fused(animals[j])
            d = _mahalanobis(calibration, union)
            delta = d - max(dists[i], dists[j])
            options.append((math.inf if math.isnan(delta) else delta, i, j, d, union))
        if not options:
            return
        delta, i, j, d, union = min(options, key=lambda o: o[0])
        if not (delta < 0 or len(options) == 1):
            return
        animals[i], dists[i] = union, d
        del animals[j], dists[j]


def _fuse_linked(animals: list[Animal], links: list[Link], n_parts: int) -> None:
    """Fuse incomplete animals of disjoint body parts that an unused link joins."""
    owner: dict[int, Animal] = {}
    for a in animals:
        if len(a) != n_parts:
            for i in a.members:
                owner[i] = a
    used = {id(link) for a in animals for link in a.links}
    for link in links:
        if id(link) in used:
            continue
        i, j = link.idx
        a, b = owner.get(i), owner.get(j)
        if a is None or b is None or b.shares_parts(a):
            continue
        a.restore(a.fused(b).state())
        animals[:] = [x for x in animals if x is not b]
        for k in b.members:
            owner[k] = a


def build_animals(
    links: list[Link],
    n_parts: int,
    max_n: int,
    calibration: Calibration | None = None,
    nan_policy: str = "little",
) -> tuple[list[Animal], set[int]]:
    """Animals from the links (see the module's docstring), and the detection numbers
    they used (including those of animals fused away or grown later)."""
    lookup: Lookup = {}
    for link in links:
        i, j = link.idx
        lookup.setdefault(i, {})[j] = link
        lookup.setdefault(j, {})[i] = link
    animals: list[Animal] = []
    assembled: set[int] = set()
    graph = nx.Graph([link.idx for link in links])
    for chain in nx.connected_components(graph):
        if len(chain) != n_parts:
            continue
        animal = Animal(n_parts)
        for link in links:
            if link.j1.idx in chain and link.j2.idx in chain and animal.add_link(link):
                _unlink(lookup, link)
        assembled |= animal.members
        animals.append(animal)
    if len(animals) == max_n:
        return animals, assembled
    for link in sorted(links, key=lambda lk: lk.affinity, reverse=True):
        if link.j1.idx in assembled or link.j2.idx in assembled:
            continue
        animal = Animal(n_parts)
        animal.add_link(link)
        _grow(animal, lookup, assembled, n_parts, calibration, nan_policy)
        for lk in animal.links:
            _unlink(lookup, lk)
        assembled |= animal.members
        animals.append(animal)
    if len(animals) > max_n:
        if calibration is not None:
            _fuse_calibrated(animals, max_n, calibration)
        else:
            _fuse_linked(animals, links, n_parts)
    for animal in animals:  # a second pass, without the calibration
        if len(animal) != n_parts:
            _grow(animal, lookup, assembled, n_parts, None, "")
            assembled |= animal.members
    return animals, assembled


def identity_animals(joints: list[Joint], n_multi: int, pcutoff: float) -> list[Animal]:
    """One animal per identity group (see the module's docstring)."""
    animals = []
    finite = sorted((j for j in joints if math.isfinite(j.confidence)), key=lambda j: j.group)
    for _, group in itertools.groupby(finite, key=lambda j: j.group):
        animal = Animal(n_multi)
        for joint in sorted(group, key=lambda j: j.confidence, reverse=True):
            if joint.confidence >= pcutoff and joint.label < n_multi:
                animal.add_joint(joint)
        if len(animal):
            animals.append(animal)
    return animals


def suppress_overlaps(
    animals: list[Animal], scores: list[float], max_overlap: float
) -> list[Animal]:
    """The animals, best score first, without those whose keypoints lie inside the common
    box with a better one by a share >= ``max_overlap``."""
    pending = list(zip(scores, animals, strict=True))
    kept = []
    while pending:
        top = max(pending, key=lambda p: p[0])
        pending.remove(top)
        kept.append(top[1])
        pending = [p for p in pending if top[1].overlap(p[1]) < max_overlap]
    return kept


def add_discarded(animals: list[Animal], left: set[Joint], calibration: Calibration | None) -> None:
    """Give the left-over detections to the animals (see the module's docstring)."""
    if not animals:
        return
    if calibration is not None:
        for joint in sorted(left, key=lambda j: (-j.confidence, j.idx)):
            for animal in animals:
                if joint.label in animal.parts:
                    continue
                d_old = calibration.mahalanobis(animal.xy)
                animal.add_joint(joint)
                if calibration.mahalanobis(animal.xy) < d_old:
                    break
                animal.remove_joint(joint)
        return
    for level in sorted({j.confidence for j in left}, reverse=True):
        pending = sorted((j for j in left if j.confidence == level), key=lambda j: j.idx)
        while pending:
            options = []  # (distance to its nearest animal lacking its part, idx, joint, animal)
            for joint in pending:
                near = [
                    (float(np.nanmin(np.hypot(*(a.xy - (joint.x, joint.y)).T))), n)
                    for n, a in enumerate(animals)
                    if joint.label not in a.parts
                ]
                if near:
                    d, n = min(near)
                    options.append((d, joint.idx, joint, animals[n]))
            if not options:
                break
            _, _, joint, animal = min(options, key=lambda o: (o[0], o[1]))
            animal.add_joint(joint)
            pending.remove(joint)
