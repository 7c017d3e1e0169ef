"""A rig's first extrinsics from board views: poses per view, a camera-pair graph, a tree.

Anipose's way: every camera's board pose in every image it saw (``solvePnP``); a graph of
cameras (networkx) whose edges join cameras that saw the board in the same images, weighed
by how many; a spanning tree of the heaviest edges grown from the first camera; along each
edge, the relative pose of the two cameras averaged robustly over their shared images (the
consensus pose of the images, then the mean of those that agree with it: rotations by their
chordal mean, translations by their mean). The world is the first camera's frame.

A board that looks the same turned around (DLC's checkerboard when ``cbcol + cbrow`` is
even) may be found in either corner order: each shared image offers one relative pose per
order, the consensus picks; then each view's corners are renamed to the order that agrees
with the rig (:attr:`Extrinsics.observations`), so bundle adjustment sees one board.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import networkx as nx
import numpy as np

from dlcflow.data.cameras import Camera, CameraGroup
from dlcflow.geometry.boards import Board, Detection

__all__ = [
    "Extrinsics",
    "Observations",
    "board_pose",
    "initial_extrinsics",
    "pair_graph",
    "symmetry_transforms",
]

#: ``{camera: {image: Detection}}``: where each camera found the board, per image.
Observations = Mapping[str, Mapping[str, Detection]]


@dataclass(frozen=True, eq=False)
class Extrinsics:
    """The rig (world = its first camera) and the board's pose in every image (board →
    world: ``rvec, tvec``), with the detections renamed to one corner order."""

    group: CameraGroup
    board_poses: dict[str, tuple[np.ndarray, np.ndarray]]
    observations: dict[str, dict[str, Detection]]
    graph: nx.Graph


def _rigid(rvec: np.ndarray, tvec: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = cv2.Rodrigues(np.asarray(rvec, dtype=np.float64).reshape(3))[0]
    out[:3, 3] = np.asarray(tvec, dtype=np.float64).reshape(3)
    return out


def _vectors(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return cv2.Rodrigues(t[:3, :3])[0].reshape(3), t[:3, 3].copy()


def _inverse(t: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = t[:3, :3].T
    out[:3, 3] = -t[:3, :3].T @ t[:3, 3]
    return out


def board_pose(camera: Camera, board: Board, detection: Detection) -> tuple[np.ndarray, np.ndarray]:
    """The board's pose in ``camera``'s frame (board → camera) from one detection:
    ``solvePnP`` for a plane (IPPE), refined by Levenberg–Marquardt."""
    obj = board.object_points[detection.ids].astype(np.float64)
    img = detection.corners.astype(np.float64).reshape(-1, 1, 2)
    ok, rvec, tvec = cv2.solvePnP(obj, img, camera.matrix, camera.dist, flags=cv2.SOLVEPNP_IPPE)
    if not ok:
        ok, rvec, tvec = cv2.solvePnP(obj, img, camera.matrix, camera.dist)
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, camera.matrix, camera.dist, rvec, tvec)
    return rvec.reshape(3), tvec.reshape(3)


def symmetry_transforms(board: Board) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each symmetry of ``board`` (a corner permutation ``perm``), the rigid motion
    ``S`` (4 × 4) of the board's plane with ``S obj[m] = obj[perm[m]]``."""
    obj = board.object_points
    out = []
    for perm in board.symmetries:
        a, b = obj, obj[perm]
        ca, cb = a.mean(axis=0), b.mean(axis=0)
        u, _, vt = np.linalg.svd((b - cb).T @ (a - ca))
        d = np.sign(np.linalg.det(u @ vt))
        rot = u @ np.diag([1.0, 1.0, d]) @ vt
        s = np.eye(4)
        s[:3, :3] = rot
        s[:3, 3] = cb - rot @ ca
        out.append((np.asarray(perm), s))
    return out


def pair_graph(observations: Observations, cameras: Sequence[str]) -> nx.Graph:
    """Cameras joined where they saw the board in the same images (edge ``weight``: how
    many; ``images``: which)."""
    graph = nx.Graph()
    graph.add_nodes_from(cameras)
    for i, a in enumerate(cameras):
        for b in cameras[i + 1 :]:
            shared = sorted(set(observations.get(a, {})) & set(observations.get(b, {})))
            if shared:
                graph.add_edge(a, b, weight=len(shared), images=shared)
    return graph


def _distance(t1: np.ndarray, t2: np.ndarray, scale: float) -> float:
    cos = (np.trace(t1[:3, :3].T @ t2[:3, :3]) - 1.0) / 2.0
    angle = float(np.arccos(np.clip(cos, -1.0, 1.0)))
    return angle + float(np.linalg.norm(t1[:3, 3] - t2[:3, 3])) / scale


def _mean_rigid(transforms: Sequence[np.ndarray]) -> np.ndarray:
    u, _, vt = np.linalg.svd(np.sum([t[:3, :3] for t in transforms], axis=0))
    d = np.sign(np.linalg.det(u @ vt))
    out = np.eye(4)
    out[:3, :3] = u @ np.diag([1.0, 1.0, d]) @ vt
    out[:3, 3] = np.mean([t[:3, 3] for t in transforms], axis=0)
    return out


def _relative_pose(
    poses_a: Mapping[str, np.ndarray],
    poses_b: Mapping[str, np.ndarray],
    images: Sequence[str],
    symmetries: Sequence[np.ndarray],
) -> np.ndarray:
    """Camera a → camera b (4 × 4), robustly over the shared ``images``."""
    turns = [np.eye(4), *symmetries]
    candidates = [[poses_b[i] @ g @ _inverse(poses_a[i]) for g in turns] for i in images]
    flat = [c for cs in candidates for c in cs]
    scale = float(np.median([np.linalg.norm(c[:3, 3]) for c in flat])) or 1.0

    def cost(ref: np.ndarray) -> float:
        return sum(min(min(_distance(ref, c, scale) for c in cs), 0.5) for cs in candidates)

    consensus = min(flat, key=cost)
    best = [min(cs, key=lambda c: _distance(consensus, c, scale)) for cs in candidates]
    agree = [c for c in best if _distance(consensus, c, scale) < 0.1] or [consensus]
    return _mean_rigid(agree)


def _rename(
    camera: Camera,
    board: Board,
    detection: Detection,
    board_to_world: np.ndarray,
    perms: Sequence[np.ndarray],
) -> Detection:
    """``detection`` in the corner order that fits the board's pose in the rig."""
    rvec, tvec = _vectors(board_to_world)
    world = board.object_points @ cv2.Rodrigues(rvec)[0].T + tvec
    best, best_err = detection, np.inf
    for option in [detection] + [detection.reordered(p) for p in perms]:
        err = float(np.linalg.norm(camera.project(world[option.ids]) - option.corners, axis=1).mean())
        if err < best_err:
            best, best_err = option, err
    return best


def initial_extrinsics(
    cameras: Sequence[Camera], observations: Observations, board: Board
) -> Extrinsics:
    """The rig of ``cameras`` (their intrinsics; poses found here, world = the first
    camera's frame) from ``observations`` ``{camera: {image: Detection}}``."""
    names = [c.name for c in cameras]
    by_name = {c.name: c for c in cameras}
    sym = symmetry_transforms(board)
    perms = [p for p, _ in sym]
    poses = {
        name: {
            image: _rigid(*board_pose(by_name[name], board, det))
            for image, det in observations.get(name, {}).items()
        }
        for name in names
    }
    graph = pair_graph(observations, names)
    reached = nx.node_connected_component(graph, names[0])
    if len(reached) < len(names):
        lost = [n for n in names if n not in reached]
        raise ValueError(
            f"camera(s) {', '.join(lost)} never saw the board in an image that "
            f"{names[0]} (or a camera linked to it) saw too"
        )
    tree = nx.maximum_spanning_tree(graph, weight="weight")
    world_to_cam = {names[0]: np.eye(4)}
    for a, b in nx.bfs_edges(tree, names[0]):
        rel = _relative_pose(poses[a], poses[b], graph.edges[a, b]["images"], [s for _, s in sym])
        world_to_cam[b] = rel @ world_to_cam[a]
    group = CameraGroup(
        tuple(by_name[n].with_pose(*_vectors(world_to_cam[n])) for n in names)
    )
    # every image's board pose from the first camera (in rig order) that saw it
    board_poses: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    renamed: dict[str, dict[str, Detection]] = {n: {} for n in names}
    images = sorted({i for n in names for i in observations.get(n, {})})
    for image in images:
        seen = [n for n in names if image in observations.get(n, {})]
        ref = seen[0]
        to_world = _inverse(world_to_cam[ref]) @ poses[ref][image]
        board_poses[image] = _vectors(to_world)
        for n in seen:
            det = observations[n][image]
            renamed[n][image] = (
                det if n == ref or not perms else _rename(group[n], board, det, to_world, perms)
            )
    return Extrinsics(group=group, board_poses=board_poses, observations=renamed, graph=graph)
