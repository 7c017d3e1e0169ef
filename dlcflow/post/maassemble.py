"""A simple assembler of animals from one frame's detections, for evaluation.

It follows the outline of DLC 2.3's ``Assembler`` (default, uncalibrated settings) and is
meant to be replaced by the full one; its entry point is ``assemble``.

A frame is the ``_full.pickle`` structure: ``coordinates`` (a 1-tuple holding one
``(n_j, 2)`` array per joint), ``confidence`` (one ``(n_j, 1)`` array per joint) and
``costs`` ``{limb index: {"m1": (n_s, n_t) affinities, "distance": (n_s, n_t)}}``.
Joints ``0..n_multi-1`` are the multi-animal body parts, then the unique ones.

1. Links: for every limb ``(s, t) = graph[i]`` of ``paf_inds``, the ``max_individuals``
   most confident detections of ``s`` and of ``t`` that reach ``pcutoff`` are paired by
   Hungarian maximisation of the affinity; pairs with affinity ≥ ``min_affinity`` are links.
2. Animals: connected components of the links with ``n_multi`` detections are animals
   (their links in order, a detection of a body part already there left out); the other
   links, best affinity first, seed an animal that grows along the best link touching it
   to a detection not yet used whose body part it lacks.
3. Animals with one link are dropped (fewer than ``min_n_links``), poses overlapping a
   better one (share of keypoints inside the common box ≥ ``max_overlap``) suppressed, the
   ``max_individuals`` largest kept; ``add_discarded`` then gives every detection left
   over (most confident first) to the nearest animal lacking its body part.

An animal's score is its mean link affinity (what DLC ranks assemblies by).
Unique body parts are the best detection above ``pcutoff`` each (``unique_parts``).
On DLC's montblanc data (30 evaluation images, 180 video frames) this gives DLC 2.3.11's
assemblies and scores exactly.
Left out of DLC's: calibration (link lengths), identity channels and temporal windows,
and the fusion of incomplete animals when more than ``max_individuals`` are built (here
the largest are kept). Equally confident left-over detections are placed closest first
(DLC's order among them is arbitrary).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["assemble", "assemble_scored", "unique_parts"]


@dataclass
class _Animal:
    """One animal being built: detection indices per body part, and its links."""

    parts: dict[int, int] = field(default_factory=dict)  # body part -> detection index
    links: list[tuple[int, int, Any]] = field(default_factory=list)  # (i, j, affinity)

    @property
    def affinity(self) -> float:
        """Mean link affinity, summed in the links' order and the costs' precision (float32
        in DLC's files), as DLC does: its ranking of nearly tied animals depends on it."""
        return float(sum(w for _, _, w in self.links) / len(self.links)) if self.links else 0.0


def _detections(frame: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """All detections flattened: xy (n, 2), confidence (n,), joint (n,), first index per joint."""
    coords = frame["coordinates"][0]
    conf = frame["confidence"]
    xy, p, label, start = [], [], [], []
    n = 0
    for j, (c, q) in enumerate(zip(coords, conf, strict=True)):
        c = np.asarray(c, dtype=float).reshape(-1, 2)
        start.append(n)
        xy.append(c)
        p.append(np.asarray(q, dtype=float).reshape(-1))
        label.append(np.full(len(c), j))
        n += len(c)
    return np.concatenate(xy), np.concatenate(p), np.concatenate(label), start


def unique_parts(
    frame: Mapping[str, Any], n_multi: int, n_unique: int, pcutoff: float = 0.1
) -> np.ndarray:
    """The unique body parts of a frame: ``(n_unique, 3)`` x, y, confidence of each part's
    most confident detection, NaN where none is above ``pcutoff``."""
    out = np.full((n_unique, 3), np.nan)
    coords = frame["coordinates"][0]
    for n in range(n_unique):
        j = n_multi + n
        if j >= len(coords):
            break
        conf = np.asarray(frame["confidence"][j], dtype=float).reshape(-1)
        if conf.size and conf.max() > pcutoff:
            best = int(np.argmax(conf))
            out[n] = *np.asarray(coords[j], dtype=float).reshape(-1, 2)[best], conf[best]
    return out


def _links(
    frame: Mapping[str, Any],
    conf: np.ndarray,
    start: list[int],
    graph: Sequence[tuple[int, int]],
    paf_inds: Sequence[int],
    max_individuals: int,
    min_affinity: float,
    pcutoff: float,
) -> list[tuple[int, int, float]]:
    """Links (detection index, detection index, affinity) of every limb in ``paf_inds``."""
    costs = frame.get("costs", {})
    sizes = [len(np.asarray(c).reshape(-1, 2)) for c in frame["coordinates"][0]]
    links = []
    for ind in paf_inds:
        s, t = (int(v) for v in graph[ind])
        if ind not in costs or not sizes[s] or not sizes[t]:
            continue
        if np.isinf(np.asarray(costs[ind]["distance"], dtype=float)).all():
            continue
        aff = np.array(costs[ind]["m1"])  # keeps the costs' precision (see _Animal.affinity)
        aff[np.isnan(aff)] = 0
        keep = []
        for j in (s, t):
            p = conf[start[j] : start[j] + sizes[j]]
            top = np.argsort(-p, kind="stable")[:max_individuals]
            keep.append(top[p[top] >= pcutoff])
        sub = aff[np.ix_(keep[0], keep[1])]
        rows, cols = linear_sum_assignment(sub, maximize=True)
        for r, c in zip(rows, cols, strict=True):
            if sub[r, c] >= min_affinity:
                links.append((start[s] + int(keep[0][r]), start[t] + int(keep[1][c]), sub[r, c]))
    return links


def _components(links: list[tuple[int, int, float]]) -> list[set[int]]:
    """Connected components of the links (sets of detection indices)."""
    parent: dict[int, int] = {}

    def find(i: int) -> int:
        while parent.setdefault(i, i) != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j, _ in links:
        parent[find(i)] = find(j)
    groups: dict[int, set[int]] = {}
    for i in list(parent):
        groups.setdefault(find(i), set()).add(i)
    return list(groups.values())


def _build(links: list[tuple[int, int, float]], label: np.ndarray, n_multi: int) -> list[_Animal]:
    animals: list[_Animal] = []
    used: set[int] = set()
    for comp in _components(links):  # components of n_multi detections first
        if len(comp) != n_multi:
            continue
        # its links in order; a detection whose body part the animal already has is left
        # out (a component holding a part twice loses one, as in DLC)
        animal = _Animal()
        for lk in (lk for lk in links if lk[0] in comp):
            i, j, _ = lk
            members = set(animal.parts.values())
            if i in members and j in members:
                animal.links.append(lk)  # a cycle: it adds to the affinity only
                continue
            if int(label[i]) in animal.parts and int(label[j]) in animal.parts:
                continue
            for m in (i, j):
                animal.parts.setdefault(int(label[m]), m)
            animal.links.append(lk)
        animals.append(animal)
        used |= set(animal.parts.values())
    adjacent: dict[int, list[tuple[int, int, float]]] = {}
    for lk in links:
        adjacent.setdefault(lk[0], []).append(lk)
        adjacent.setdefault(lk[1], []).append(lk)
    order = sorted(range(len(links)), key=lambda k: -links[k][2])
    for k in order:  # the rest: grown from the best free link
        i, j, w = links[k]
        if i in used or j in used:
            continue
        animal = _Animal({int(label[i]): i, int(label[j]): j}, [links[k]])
        members = {i, j}
        heap: list[tuple[float, int, tuple[int, int, float]]] = []
        seen = {(i, j)}
        counter = 0
        for m in (i, j):
            for lk in adjacent[m]:
                if (lk[0], lk[1]) not in seen:
                    seen.add((lk[0], lk[1]))
                    heapq.heappush(heap, (-lk[2], counter, lk))
                    counter += 1
        while heap and len(animal.parts) < n_multi:
            _, _, lk = heapq.heappop(heap)
            a, b, _ = lk
            if a in members and b in members:
                animal.links.append(lk)  # a cycle: it adds to the affinity only
                continue
            new = b if a in members else a
            if new in used or int(label[new]) in animal.parts:
                continue
            animal.parts[int(label[new])] = new
            animal.links.append(lk)
            members.add(new)
            for nxt in adjacent[new]:
                if (nxt[0], nxt[1]) not in seen:
                    seen.add((nxt[0], nxt[1]))
                    heapq.heappush(heap, (-nxt[2], counter, nxt))
                    counter += 1
        used |= members
        animals.append(animal)
    return animals


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Share of keypoints of each pose inside the two boxes' intersection (the smaller)."""
    lo = np.maximum(np.nanmin(a, axis=0), np.nanmin(b, axis=0))
    hi = np.minimum(np.nanmax(a, axis=0), np.nanmax(b, axis=0))
    if (hi < lo).any():
        return 0.0
    shares = []
    for pts in (a, b):
        pts = pts[~np.isnan(pts).any(axis=1)]
        shares.append(np.all((pts >= lo) & (pts <= hi), axis=1).sum() / len(pts))
    return float(min(shares))


def assemble_scored(
    frame: Mapping[str, Any],
    graph: Sequence[tuple[int, int]],
    paf_inds: Sequence[int],
    n_multi: int,
    n_unique: int,
    max_individuals: int,
    min_affinity: float = 0.1,
    pcutoff: float = 0.1,
    *,
    min_n_links: int = 2,
    max_overlap: float = 0.8,
    add_discarded: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``assemble`` and each animal's score (mean link affinity, 0 without links)."""
    del n_unique  # unique parts are not assembled (see ``unique_parts``)
    xy, conf, label, start = _detections(frame)
    multi = label < n_multi
    if not multi.any():
        return np.zeros((0, n_multi, 4)), np.zeros(0)
    if n_multi == 1:  # every confident detection is an animal
        animals = [_Animal({0: int(i)}) for i in np.flatnonzero(multi & (conf >= pcutoff))]
        return _to_array(animals, xy, conf, n_multi)
    if max_individuals == 1:  # one animal: the best detection of each part
        best: dict[int, int] = {}
        for i in np.flatnonzero(multi):
            j = int(label[i])
            if j not in best or conf[i] > conf[best[j]]:
                best[j] = int(i)
        return _to_array([_Animal(best)], xy, conf, n_multi)
    links = _links(frame, conf, start, graph, paf_inds, max_individuals, min_affinity, pcutoff)
    built = _build(links, label, n_multi)
    # detections left over: never assembled, or in an animal dropped for too few links or
    # beyond max_individuals (those of suppressed overlapping poses are not, as in DLC)
    free = np.ones(len(xy), bool)
    for a in built:
        free[list(a.parts.values())] = False
    animals = []
    for a in built:
        if a.parts and not 0 < len(a.links) < min_n_links:
            animals.append(a)
        else:
            free[list(a.parts.values())] = True
    if 0 < max_overlap < 1 and len(animals) > 1:  # pose non-maximum suppression
        pending = sorted(animals, key=lambda a: -sum(w for _, _, w in a.links))
        animals = []
        while pending:
            top = pending.pop(0)
            animals.append(top)
            pts = xy[list(top.parts.values())]
            pending = [
                a for a in pending if _overlap(pts, xy[list(a.parts.values())]) < max_overlap
            ]
    if len(animals) > max_individuals:
        animals = sorted(animals, key=lambda a: -len(a.parts))
        for a in animals[max_individuals:]:
            free[list(a.parts.values())] = True
        animals = animals[:max_individuals]
    if add_discarded and animals:
        left = [int(i) for i in np.flatnonzero(free & multi & np.isfinite(conf))]
        _add_discarded(animals, left, xy, conf, label)
    return _to_array(animals, xy, conf, n_multi)


def _nearest_free_slot(
    i: int, animals: list[_Animal], xy: np.ndarray, label: np.ndarray
) -> tuple[float, _Animal | None]:
    """The animal lacking detection ``i``'s body part that is nearest to it, and how far."""
    best_d, target = np.inf, None
    for a in animals:
        if int(label[i]) in a.parts:
            continue
        d = float(np.min(np.linalg.norm(xy[list(a.parts.values())] - xy[i], axis=1)))
        if d < best_d:
            best_d, target = d, a
    return best_d, target


def _add_discarded(
    animals: list[_Animal], left: list[int], xy: np.ndarray, conf: np.ndarray, label: np.ndarray
) -> None:
    """Give left-over detections, most confident first, to the nearest animal lacking their
    body part; among equally confident ones the closest to such an animal goes first."""
    for level in sorted({float(conf[i]) for i in left}, reverse=True):
        pending = [i for i in left if conf[i] == level]
        while pending:
            options = [(*_nearest_free_slot(i, animals, xy, label), i) for i in pending]
            options = [o for o in options if o[1] is not None]
            if not options:
                break
            _, target, i = min(options, key=lambda o: (o[0], o[2]))
            target.parts[int(label[i])] = i
            pending.remove(i)


def _to_array(
    animals: list[_Animal], xy: np.ndarray, conf: np.ndarray, n_multi: int
) -> tuple[np.ndarray, np.ndarray]:
    out = np.full((len(animals), n_multi, 4), np.nan)
    for n, a in enumerate(animals):
        for j, i in a.parts.items():
            out[n, j] = *xy[i], conf[i], -1
    return out, np.array([a.affinity for a in animals])


def assemble(
    frame: Mapping[str, Any],
    graph: Sequence[tuple[int, int]],
    paf_inds: Sequence[int],
    n_multi: int,
    n_unique: int,
    max_individuals: int,
    min_affinity: float = 0.1,
    pcutoff: float = 0.1,
    *,
    min_n_links: int = 2,
    max_overlap: float = 0.8,
    add_discarded: bool = False,
) -> np.ndarray:
    """Animals of one frame: ``(n_assemblies, n_multi, 4)`` x, y, confidence, identity
    (−1: none), NaN where a body part is missing (see the module's docstring)."""
    return assemble_scored(
        frame,
        graph,
        paf_inds,
        n_multi,
        n_unique,
        max_individuals,
        min_affinity,
        pcutoff,
        min_n_links=min_n_links,
        max_overlap=max_overlap,
        add_discarded=add_discarded,
    )[0]
