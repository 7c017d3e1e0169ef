"""Assembly of animals from multi-animal detections, as DLC 2.3.11's ``Assembler``.

A frame is the ``_full.pickle`` structure (``coordinates``, ``confidence``, ``costs``,
``identity`` for identity networks; body parts ``0..n_multi-1`` multi-animal, then the
unique ones). Per frame (:func:`assemble_frame`):

1. Unique body parts: the most confident detection of each, kept when above ``pcutoff``
   (always with ``add_discarded``).
2. One multi-animal body part: every detection ≥ ``pcutoff`` is an animal. One animal
   (``max_n_individuals == 1``): the most confident detection of each body part.
3. ``identity_only`` (frames with identity only): one animal per identity group (the
   arg-max identity channel), its most confident detection ≥ ``pcutoff`` per body part.
   Otherwise links and animals (:mod:`dlcflow.tracking.assembler`); with a calibration
   (:mod:`dlcflow.tracking.calibration`) each link's affinity is first multiplied by the
   probability of its length (at least 0.001) and dropped below ``min_affinity``.
4. Animals with ``0 < links < min_n_links`` are dropped; pose non-maximum suppression
   (``0 < max_overlap < 1``): best first (summed affinity, or the lowest Mahalanobis
   distance when calibrated), dropping animals whose keypoints lie inside the common box
   with it by a share ≥ ``max_overlap``; then the ``max_n_individuals`` largest are kept.
5. ``add_discarded``: every detection left over, most confident first, joins the nearest
   animal lacking its body part (calibrated: the first whose Mahalanobis distance drops).

The identity column holds each detection's identity group (−1 without identity). On DLC's
montblanc video (180 frames) :func:`assemble_video` gives DLC's ``_assemblies.pickle``
exactly: the same animals in the same order in every frame, and the same unique parts.
Affinities are summed in float64, as DLC 2.3.11 under NumPy 1 does (its order of animals
tied in float32 depends on it). Limb ends are matched in either order (DLC skips a limb
``(s, t)`` with ``s > t`` when it fills complete components). Left out of DLC's:
``force_fusion`` (never set by DLC's video analysis). DLC's temporal window
(``window_size``) is honoured across frames here (its parallel runs lose it).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np
from scipy.spatial import cKDTree

from dlcflow.io.fullpickle import FullPickle
from dlcflow.tracking.animal import Animal, Joint, Link, frame_joints
from dlcflow.tracking.assembler import (
    add_discarded,
    best_links,
    build_animals,
    identity_animals,
    suppress_overlaps,
)
from dlcflow.tracking.calibration import Calibration, calibrate

__all__ = [
    "AssemblyError",
    "AssemblyParams",
    "FrameAssembly",
    "assemble",
    "assemble_frame",
    "assemble_scored",
    "assemble_video",
    "check_joints",
    "unique_parts",
]

#: A link's length probability never scales its affinity below this share (DLC's floor).
MIN_LINK_PROBABILITY = 0.001


class AssemblyError(ValueError):
    """Bad assembly input or settings; the message is one line (naming the file if any)."""


@dataclass(frozen=True)
class AssemblyParams:
    """The settings of DLC's ``Assembler``, with its defaults. ``graph`` and ``paf_inds``
    default to the ``_full.pickle``'s ``PAFgraph`` and ``PAFinds``."""

    max_n_individuals: int
    pcutoff: float = 0.1
    min_affinity: float = 0.05
    min_n_links: int = 2
    max_overlap: float = 0.8
    greedy: bool = False
    identity_only: bool = False
    nan_policy: str = "little"
    add_discarded: bool = False
    window_size: int = 0
    method: str = "m1"
    graph: tuple[tuple[int, int], ...] | None = None
    paf_inds: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.graph is not None:
            object.__setattr__(self, "graph", tuple((int(s), int(t)) for s, t in self.graph))
        if self.paf_inds is not None:
            object.__setattr__(self, "paf_inds", tuple(int(i) for i in self.paf_inds))
        problems = []
        if int(self.max_n_individuals) != self.max_n_individuals or self.max_n_individuals < 1:
            problems.append(f"max_n_individuals must be a count >= 1, not {self.max_n_individuals}")
        if not 0 <= self.pcutoff <= 1:
            problems.append(f"pcutoff must lie in [0, 1], not {self.pcutoff}")
        if self.min_n_links < 0:
            problems.append(f"min_n_links must be >= 0, not {self.min_n_links}")
        if int(self.window_size) != self.window_size or self.window_size < 0:
            problems.append(f"window_size must be a count >= 0, not {self.window_size}")
        if problems:
            raise AssemblyError("assembly settings: " + "; ".join(problems))

    @classmethod
    def from_inference_cfg(cls, cfg: Mapping[str, Any], **overrides: Any) -> AssemblyParams:
        """The settings DLC's video analysis reads from ``test/inference_cfg.yaml``:
        ``topktoretain`` → ``max_n_individuals``, ``pcutoff``, ``pafthreshold`` →
        ``min_affinity`` (0.05 when absent, as DLC), ``minimalnumberofconnections`` →
        ``min_n_links``; the rest are arguments there (``overrides``, ``None`` ignored).
        ``withid`` is not read: DLC assembles by identity only when asked."""
        values: dict[str, Any] = {}
        for key, name in (
            ("topktoretain", "max_n_individuals"),
            ("pcutoff", "pcutoff"),
            ("pafthreshold", "min_affinity"),
            ("minimalnumberofconnections", "min_n_links"),
        ):
            if cfg.get(key) is not None:
                values[name] = cfg[key]
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise AssemblyError(f"unknown assembly settings: {', '.join(unknown)}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "max_n_individuals" not in values:
            raise AssemblyError("inference_cfg lacks 'topktoretain' (the number of animals)")
        return cls(**values)


class FrameAssembly(NamedTuple):
    """One frame assembled: its animals, its unique parts ``(n_unique, 3)`` (``None``
    without any), and the links animals were built from (for the temporal window)."""

    animals: list[Animal]
    unique: np.ndarray | None
    links: list[Link]


def _unique(
    bag: Mapping[int, list[Joint]], n_multi: int, n_unique: int, pcutoff: float, keep_all: bool
) -> np.ndarray | None:
    out = np.full((n_unique, 3), np.nan)
    for n in range(n_unique):
        dets = bag.get(n_multi + n)
        if not dets:
            continue
        best = max(dets, key=lambda d: d.confidence)
        if best.confidence > pcutoff or keep_all:
            out[n] = best.x, best.y, best.confidence
    return None if np.isnan(out).all() else out


def assemble_frame(
    frame: Mapping[str, Any],
    n_multi: int,
    n_unique: int,
    params: AssemblyParams,
    *,
    graph: Sequence[Sequence[int]] = (),
    paf_inds: Sequence[int] = (),
    calibration: Calibration | None = None,
    trees: Sequence[cKDTree] = (),
) -> FrameAssembly:
    """Assemble one ``_full.pickle`` frame (see the module's docstring). ``graph`` and
    ``paf_inds``: those of ``params``, else these (the file's)."""
    graph = params.graph if params.graph is not None else graph
    paf_inds = params.paf_inds if params.paf_inds is not None else paf_inds
    joints = frame_joints(frame)
    bag: dict[int, list[Joint]] = {}
    for joint in joints:
        bag.setdefault(joint.label, []).append(joint)
    pcutoff, max_n = params.pcutoff, params.max_n_individuals
    unique = _unique(bag, n_multi, n_unique, pcutoff, params.add_discarded) if n_unique else None
    assembled = {j.idx for j in joints if j.label >= n_multi}
    if not any(label < n_multi for label in bag):
        return FrameAssembly([], unique, [])
    if n_multi == 1:
        animals = []
        for joint in bag.get(0, []):
            if joint.confidence >= pcutoff:
                animals.append(Animal(1))
                animals[-1].add_joint(joint)
        return FrameAssembly(animals, unique, [])
    if max_n == 1:
        animal = Animal(n_multi)
        for label in range(n_multi):
            if bag.get(label):
                animal.add_joint(max(bag[label], key=lambda d: d.confidence))
        return FrameAssembly([animal], unique, [])
    links: list[Link] = []
    if params.identity_only and "identity" in frame:
        animals = identity_animals(joints, n_multi, pcutoff)
        for animal in animals:
            assembled |= animal.members
    else:
        links = best_links(
            bag,
            frame.get("costs") or {},
            graph,
            paf_inds,
            max_n=max_n,
            pcutoff=pcutoff,
            min_affinity=params.min_affinity,
            greedy=params.greedy,
            method=params.method,
            trees=trees,
        )
        if calibration is not None:
            for link in list(links):
                p = calibration.link_probability(link.j1.label, link.j2.label, link.length)
                link.affinity *= max(p, MIN_LINK_PROBABILITY)
            links = [link for link in links if link.affinity >= params.min_affinity]
        animals, used = build_animals(links, n_multi, max_n, calibration, params.nan_policy)
        assembled |= used
    left = {j for j in joints if j.idx not in assembled and math.isfinite(j.confidence)}
    kept = []
    for animal in animals:
        if 0 < len(animal.links) < params.min_n_links or not len(animal):
            left.update(end for link in animal.links for end in (link.j1, link.j2))
        else:
            kept.append(animal)
    animals = kept
    if 0 < params.max_overlap < 1:
        if calibration is not None:
            scores = [-calibration.mahalanobis(a.xy) for a in animals]
        else:
            scores = [a.affinity_sum for a in animals]
        animals = suppress_overlaps(animals, scores, params.max_overlap)
    if len(animals) > max_n:
        animals = sorted(animals, key=len, reverse=True)
        for animal in animals[max_n:]:
            left.update(end for link in animal.links for end in (link.j1, link.j2))
        animals = animals[:max_n]
    if params.add_discarded:
        add_discarded(animals, left, calibration)
    return FrameAssembly(animals, unique, links)


def assemble_video(
    full: FullPickle,
    n_multi: int,
    n_unique: int,
    params: AssemblyParams,
    calibration_poses: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[Any, Any]:
    """Assemble every frame of a ``_full.pickle`` into DLC's ``_assemblies.pickle``
    structure: ``{frame index: [array (n_multi, 4) x, y, confidence, identity group (−1
    none), NaN rows for missing parts, one per animal], ..., "single": {frame index:
    array (n_unique, 3) x, y, confidence}}``; frames without animals are absent, as are
    frames without a unique part from ``"single"`` (itself absent when empty).

    ``calibration_poses``: labeled poses ``(n, n_multi, 2)`` to calibrate on (DLC's
    ``calibrate=True``); ``progress(done, total)`` is called after each frame."""
    meta = full.metadata
    graph = meta.get("PAFgraph") or []
    paf_inds = list(meta.get("PAFinds", range(len(graph))))
    calibration = calibrate(calibration_poses) if calibration_poses is not None else None
    indices = sorted(full.frames)
    if params.identity_only and indices and "identity" not in full.frames[indices[0]]:
        warnings.warn(
            "the network was not trained with identity: identity_only is ignored", stacklevel=2
        )
    out: dict[Any, Any] = {}
    single: dict[int, np.ndarray] = {}
    trees: dict[int, cKDTree] = {}
    for done, index in enumerate(indices, 1):
        recent = [trees[index - k] for k in range(1, params.window_size + 1) if index - k in trees]
        result = assemble_frame(
            full.frames[index],
            n_multi,
            n_unique,
            params,
            graph=graph,
            paf_inds=paf_inds,
            calibration=calibration,
            trees=recent,
        )
        if params.window_size and result.links:
            trees[index] = cKDTree(np.array([link.vector() for link in result.links]))
            trees.pop(index - params.window_size, None)
        if result.animals:
            out[index] = [animal.data for animal in result.animals]
        if result.unique is not None:
            single[index] = result.unique
        if progress is not None:
            progress(done, len(indices))
    if single:
        out["single"] = single
    return out


def check_joints(
    full: FullPickle, multi: Sequence[str], unique: Sequence[str], path: str | os.PathLike[str]
) -> None:
    """Raise :class:`AssemblyError` (one line naming ``path``) when the file's body parts
    (``metadata["all_joints_names"]``) are not the config's multi-animal then unique ones."""
    found = [str(n) for n in full.metadata.get("all_joints_names", [])]
    wanted = [*map(str, multi), *map(str, unique)]
    if found != wanted:
        raise AssemblyError(
            f"{path}: its body parts {found} differ from the config's multi-animal + unique "
            f"body parts {wanted}"
        )


# -- one frame at a time, with the arguments evaluation passes -------------------------------


def unique_parts(
    frame: Mapping[str, Any], n_multi: int, n_unique: int, pcutoff: float = 0.1
) -> np.ndarray:
    """The unique body parts of a frame: ``(n_unique, 3)`` x, y, confidence of each part's
    most confident detection, NaN where none is above ``pcutoff``."""
    bag: dict[int, list[Joint]] = {}
    for joint in frame_joints(frame):
        bag.setdefault(joint.label, []).append(joint)
    found = _unique(bag, n_multi, n_unique, pcutoff, False) if n_unique else None
    return np.full((n_unique, 3), np.nan) if found is None else found


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
    calibration: Calibration | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``assemble`` and each animal's score (mean link affinity, 0 without links);
    ``calibration``: assemble calibrated (see the module's docstring)."""
    params = AssemblyParams(
        max_individuals,
        pcutoff=pcutoff,
        min_affinity=min_affinity,
        min_n_links=min_n_links,
        max_overlap=max_overlap,
        add_discarded=add_discarded,
    )
    result = assemble_frame(
        frame, n_multi, n_unique, params, graph=graph, paf_inds=paf_inds, calibration=calibration
    )
    out = np.full((len(result.animals), n_multi, 4), np.nan)
    for n, animal in enumerate(result.animals):
        out[n] = animal.data
    return out, np.array([a.affinity for a in result.animals])


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
    group (−1: none), NaN where a body part is missing (see the module's docstring)."""
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
