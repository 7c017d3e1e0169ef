"""The graph part of assembling one frame (DLC 2.3's ``Assembler``): detections, links
between them, and animals grown from the links.

- :func:`frame_joints`: a ``_full.pickle`` frame's detections, numbered across body parts
  (a body part whose coordinates are all zero or absent is skipped, as DLC does), each with
  its identity group (the arg-max identity channel, −1 without identity).
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
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import networkx as nx
import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from dlcflow.tracking.calibration import Calibration

__all__ = ["Animal", "Joint", "Link", "best_links", "build_animals", "frame_joints"]

#: The decay of the temporal weight per pixel and frame (DLC's ``_gamma``).
TEMPORAL_GAMMA = 0.01


class Joint(NamedTuple):
    """One detection: position, confidence, body part, number in the frame, identity."""

    x: float
    y: float
    confidence: float
    label: int
    idx: int
    group: int = -1


class Link:
    """A candidate limb between two detections, with its affinity and length (px)."""

    __slots__ = ("affinity", "j1", "j2", "length")

    def __init__(self, j1: Joint, j2: Joint, affinity: Any) -> None:
        self.j1, self.j2, self.affinity = j1, j2, affinity
        self.length = math.hypot(j1.x - j2.x, j1.y - j2.y)

    @property
    def idx(self) -> tuple[int, int]:
        """The detection numbers of its two ends."""
        return self.j1.idx, self.j2.idx

    def vector(self) -> list[float]:
        """``[x1, y1, x2, y2]`` (what the temporal trees index)."""
        return [self.j1.x, self.j1.y, self.j2.x, self.j2.y]


class Animal:
    """An animal being assembled: ``data`` ``(n_parts, 4)`` x, y, confidence, identity
    (NaN rows: missing), its body parts, its detection numbers and its links."""

    __slots__ = ("affinity_sum", "data", "links", "members", "parts")

    def __init__(self, n_parts: int) -> None:
        self.data = np.full((n_parts, 4), np.nan)
        self.parts: set[int] = set()
        self.members: set[int] = set()
        self.links: list[Link] = []
        self.affinity_sum: Any = 0  # in the costs' precision (float32 in DLC's files)

    def __len__(self) -> int:
        return len(self.parts)

    @property
    def xy(self) -> np.ndarray:
        """Coordinates ``(n_parts, 2)``."""
        return self.data[:, :2]

    @property
    def affinity(self) -> float:
        """Mean link affinity (0 without links): the score DLC ranks animals by."""
        return float(self.affinity_sum / len(self.links)) if self.links else 0.0

    def add_joint(self, joint: Joint) -> bool:
        """Add a detection of a body part the animal lacks."""
        if joint.label in self.parts:
            return False
        self.data[joint.label] = joint.x, joint.y, joint.confidence, joint.group
        self.parts.add(joint.label)
        self.members.add(joint.idx)
        return True

    def remove_joint(self, joint: Joint) -> None:
        """Take a detection out again."""
        if joint.idx in self.members:
            self.data[joint.label] = np.nan
            self.parts.discard(joint.label)
            self.members.discard(joint.idx)

    def add_link(self, link: Link) -> bool:
        """Add a link and whichever of its ends the animal lacks. A link between two of its
        own detections (a cycle) adds to its affinity only, and returns False, as does a
        link both of whose body parts it already has (which changes nothing)."""
        i, j = link.idx
        if i in self.members and j in self.members:
            self.affinity_sum += link.affinity
            self.links.append(link)
            return False
        if link.j1.label in self.parts and link.j2.label in self.parts:
            return False
        self.add_joint(link.j1)
        self.add_joint(link.j2)
        self.affinity_sum += link.affinity
        self.links.append(link)
        return True

    def state(self) -> tuple[Any, ...]:
        """A copy of its state, for :meth:`restore`."""
        return (
            self.data.copy(),
            set(self.parts),
            set(self.members),
            list(self.links),
            self.affinity_sum,
        )

    def restore(self, state: tuple[Any, ...]) -> None:
        """Return to a :meth:`state`."""
        self.data, self.parts, self.members, self.links, self.affinity_sum = state

    def shares_parts(self, other: Animal) -> bool:
        """Whether the two animals have a body part in common."""
        return not self.parts.isdisjoint(other.parts)

    def fused(self, other: Animal) -> Animal:
        """A new animal made of the links of both (which share no body part)."""
        out = Animal(len(self.data))
        for link in self.links + other.links:
            out.add_link(link)
        return out

    def overlap(self, other: Animal) -> float:
        """The smaller of the two shares of each animal's keypoints that lie inside the
        intersection of their bounding boxes (0 when the boxes do not meet)."""
        a, b = self.xy, other.xy
        lo = np.maximum(np.nanmin(a, axis=0), np.nanmin(b, axis=0))
        hi = np.minimum(np.nanmax(a, axis=0), np.nanmax(b, axis=0))
        if (hi < lo).any():
            return 0.0
        shares = []
        for pts, n in ((a, len(self)), (b, len(other))):
            pts = pts[~np.isnan(pts).any(axis=1)]
            shares.append(np.all((pts >= lo) & (pts <= hi), axis=1).sum() / n)
        return float(min(shares))


def frame_joints(frame: Mapping[str, Any]) -> list[Joint]:
    """The detections of a ``_full.pickle`` frame, numbered in body-part order."""
    coords = frame["coordinates"][0]
    confidence = frame["confidence"]
    identity = frame.get("identity")
    joints: list[Joint] = []
    for label, (xy, conf) in enumerate(zip(coords, confidence, strict=False)):
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        if not np.any(xy):
            continue
        p = np.asarray(conf, dtype=float).reshape(-1)
        if identity is not None:
            groups = np.asarray(identity[label]).reshape(len(xy), -1).argmax(axis=1)
        else:
            groups = np.full(len(xy), -1)
        for (x, y), q, g in zip(xy, p, groups, strict=True):
            joints.append(Joint(float(x), float(y), float(q), label, len(joints), int(g)))
    return joints


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
