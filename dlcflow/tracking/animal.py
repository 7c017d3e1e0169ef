"""The pieces of assembly: detections (:class:`Joint`), candidate limbs (:class:`Link`) and
animals being built (:class:`Animal`, DLC 2.3's ``Assembly``), and a frame's detections.

:func:`frame_joints` numbers a ``_full.pickle`` frame's detections across body parts (a
body part whose coordinates are all zero or absent is skipped, as DLC does), each with its
identity group: the arg-max identity channel, −1 without identity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Animal", "Joint", "Link", "frame_joints"]


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
        # summed in float64, as DLC 2.3.11 does under NumPy 1 (int 0 + float32 → float64):
        # its order of animals tied in float32 (montblanc frame 107) depends on it
        self.affinity_sum = 0.0

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
            self.affinity_sum += float(link.affinity)
            self.links.append(link)
            return False
        if link.j1.label in self.parts and link.j2.label in self.parts:
            return False
        self.add_joint(link.j1)
        self.add_joint(link.j2)
        self.affinity_sum += float(link.affinity)
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
