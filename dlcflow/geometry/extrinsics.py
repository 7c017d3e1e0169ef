"""A rig's first guess: each camera's pose from the board poses seen by camera pairs.

Every camera's board pose in each of its images (``solvePnP`` with its intrinsics) links
cameras that saw the same image. The camera-pair graph (:func:`camera_graph`: an edge for
two cameras with shared images, its weight their count) is spanned by the tree of
heaviest edges; walking it from the first camera, each camera's pose relative to its
parent is a robust average over their shared images (:func:`relative_pose`). The world
is the first camera's frame. :func:`initial_board_poses` places every image's board in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import networkx as nx
import numpy as np

from dlcflow.data.cameras import Camera, CameraGroup
from dlcflow.geometry.boards import Board, Detection
from dlcflow.geometry.calibrate import CalibrationError

__all__ = [
    "Pose",
    "align_symmetric",
    "camera_graph",
    "compose",
    "initial_board_poses",
    "initial_extrinsics",
    "invert",
    "relative_pose",
    "solve_board_poses",
]

#: A rigid motion ``(R (3 × 3), t (3,))``: ``X' = R X + t``.
Pose = tuple[np.ndarray, np.ndarray]


def compose(a: Pose, b: Pose) -> Pose:
    """``a ∘ b`` (``b`` first)."""
    return a[0] @ b[0], a[0] @ b[1] + a[1]


def invert(p: Pose) -> Pose:
    return p[0].T, -p[0].T @ p[1]


def solve_board_poses(
    board: Board, detections: Mapping[str, Detection], camera: Camera
) -> dict[str, Pose]:
    """Board → camera pose in each image (``solvePnP``, then refined)."""
    out: dict[str, Pose] = {}
    for name, det in detections.items():
        obj = board.object_points[det.ids].astype(np.float64)
        img = det.corners.astype(np.float64)
        ok, rvec, tvec = cv2.solvePnP(obj, img, camera.matrix, camera.dist)
        if not ok:
            continue
        rvec, tvec = cv2.solvePnPRefineLM(obj, img, camera.matrix, camera.dist, rvec, tvec)
        out[name] = (cv2.Rodrigues(rvec)[0], tvec.reshape(3))
    return out


def camera_graph(poses: Mapping[str, Mapping[str, Pose]]) -> nx.Graph:
    """Cameras linked by the images both saw; edge ``weight`` = their count, ``images``."""
    g = nx.Graph()
    names = list(poses)
    g.add_nodes_from(names)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = sorted(set(poses[a]) & set(poses[b]))
            if shared:
                g.add_edge(a, b, weight=len(shared), images=shared)
    return g


def _rotation_mean(rotations: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(rotations.sum(axis=0))
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    return r


def relative_pose(samples: Sequence[Pose], max_angle_deg: float = 5.0) -> Pose:
    """A robust mean of rigid motions: the sample with the smallest median rotation
    distance to the others, then the mean rotation and median translation of the samples
    within ``max_angle_deg`` of it and near its translation."""
    rots = np.stack([s[0] for s in samples])
    trans = np.stack([s[1] for s in samples])
    rel = np.einsum("aij,bkj->abik", rots, rots)  # R_a R_bᵀ
    cos = np.clip((np.trace(rel, axis1=2, axis2=3) - 1) / 2, -1, 1)
    angles = np.degrees(np.arccos(cos))
    centre = int(np.argmin(np.median(angles, axis=1)))
    dist = np.linalg.norm(trans - trans[centre], axis=1)
    scale = max(float(np.median(dist)), 1e-9)
    keep = (angles[centre] <= max_angle_deg) & (
        dist <= 3 * scale + 0.05 * np.linalg.norm(trans[centre])
    )
    return _rotation_mean(rots[keep]), np.median(trans[keep], axis=0)


def initial_extrinsics(
    intrinsics: Sequence[Camera], poses: Mapping[str, Mapping[str, Pose]]
) -> CameraGroup:
    """The rig's cameras (intrinsics of ``intrinsics``, in that order) posed in the first
    camera's frame from ``poses`` (camera → image → board → camera pose)."""
    names = [c.name for c in intrinsics]
    g = camera_graph({n: poses.get(n, {}) for n in names})
    tree = nx.maximum_spanning_tree(g, weight="weight")
    reached = nx.node_connected_component(tree, names[0])
    missing = [n for n in names if n not in reached]
    if missing:
        raise CalibrationError(
            f"camera {missing[0]} shares no image with camera {names[0]} "
            "(directly or through other cameras): the board must be seen by both in some images"
        )
    world: dict[str, Pose] = {names[0]: (np.eye(3), np.zeros(3))}  # world → camera
    for parent, child in nx.bfs_edges(tree, names[0]):
        samples = [
            compose(poses[child][img], invert(poses[parent][img]))  # parent → child
            for img in g.edges[parent, child]["images"]
        ]
        world[child] = compose(relative_pose(samples), world[parent])
    cams = []
    for cam in intrinsics:
        r, t = world[cam.name]
        cams.append(cam.with_pose(cv2.Rodrigues(r)[0].reshape(3), t))
    return CameraGroup(tuple(cams))


def initial_board_poses(
    group: CameraGroup, poses: Mapping[str, Mapping[str, Pose]]
) -> dict[str, Pose]:
    """Board → world in every image: through the first camera (rig order) that saw it."""
    out: dict[str, Pose] = {}
    for cam in group:
        to_world = invert((cam.rotation, cam.tvec))
        for img, pose in poses.get(cam.name, {}).items():
            if img not in out:
                out[img] = compose(to_world, pose)
    return out


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(a @ b.T) - 1) / 2, -1, 1))))


def align_symmetric(
    board: Board,
    group: CameraGroup,
    poses: Mapping[str, Mapping[str, Pose]],
    board_poses: Mapping[str, Pose],
    detections: Mapping[str, Mapping[str, Detection]],
) -> tuple[dict[str, dict[str, Detection]], dict[str, dict[str, Pose]], list[tuple[str, str]]]:
    """For a board that looks the same turned by 180° (a checkerboard of an odd number of
    squares both ways), OpenCV may number one view's corners from the other end: a view
    whose own board pose, so turned, agrees better with the rig's (``board_poses`` through
    ``group``) gets its corner ids reversed. The detections, poses and views turned."""
    dets = {c: dict(d) for c, d in detections.items()}
    out = {c: dict(p) for c, p in poses.items()}
    turned: list[tuple[str, str]] = []
    if not board.symmetric:
        return dets, out, turned
    obj = board.object_points
    n = len(obj)
    flip = (
        np.diag([-1.0, -1.0, 1.0]),
        obj.max(axis=0) + obj.min(axis=0),  # z is 0
    )
    for cam in group:
        for img, pose in poses.get(cam.name, {}).items():
            if img not in board_poses:
                continue
            expected = compose((cam.rotation, cam.tvec), board_poses[img])
            other = compose(pose, flip)
            if _angle(other[0], expected[0]) + 1.0 < _angle(pose[0], expected[0]):
                det = dets[cam.name][img]
                ids = n - 1 - det.ids
                order = np.argsort(ids)
                dets[cam.name][img] = Detection(ids[order], det.corners[order])
                out[cam.name][img] = other
                turned.append((cam.name, img))
    return dets, out, turned
