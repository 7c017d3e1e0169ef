"""The skeleton builder's side of the labeler: config.yaml's ``skeleton`` read and saved.

DLC's ``SkeletonBuilder`` lets a user draw the edges between body parts on a labeled
frame and writes them to config.yaml's ``skeleton`` (a list of ``[part, part]`` pairs).
Here the page does the drawing (``static/skeleton.js``); :func:`save_skeleton` checks the
edges (known body parts, two different ones, each edge once whichever way round) and
writes only that key, keeping the rest of config.yaml and its comments
(:func:`dlcflow.project.config.write_config`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dlcflow.labeler.store import LabelerError
from dlcflow.project.config import read_config, write_config
from dlcflow.project.paths import Project

Edge = list[str]


def skeleton_parts(project: Project) -> list[str]:
    """The body parts an edge may join (multi animal: multi-animal and unique parts)."""
    if project.multianimal:
        return [*project.multianimal_bodyparts, *project.unique_bodyparts]
    return list(project.bodyparts)


def read_skeleton(project: Project) -> list[Edge]:
    """config.yaml's ``skeleton`` as ``[[a, b], ...]`` (``[]`` when unset)."""
    edges = read_config(project.config_path).get("skeleton") or []
    return [[str(a), str(b)] for a, b in edges]


def check_edges(project: Project, edges: Iterable[Any]) -> list[Edge]:
    """The edges as ``[a, b]`` lists, in order, repeats dropped; LabelerError (one line)
    for an edge that is not two different body parts of the project."""
    known = skeleton_parts(project)
    out: list[Edge] = []
    seen: set[frozenset[str]] = set()
    for edge in edges:
        if not isinstance(edge, list | tuple) or len(edge) != 2:
            raise LabelerError(f"skeleton edge {edge!r}: give two body parts")
        a, b = (str(p) for p in edge)
        for part in (a, b):
            if part not in known:
                raise LabelerError(
                    f"skeleton edge [{a}, {b}]: {part!r} is not a body part of "
                    f"{project.config_path} ({', '.join(known)})"
                )
        if a == b:
            raise LabelerError(f"skeleton edge [{a}, {b}] joins a body part to itself")
        if frozenset((a, b)) not in seen:
            seen.add(frozenset((a, b)))
            out.append([a, b])
    return out


def save_skeleton(project: Project, edges: Iterable[Any]) -> list[Edge]:
    """Write the edges to config.yaml's ``skeleton`` (atomically; every other key as it
    was); returns what was written."""
    if not isinstance(edges, list | tuple):
        raise LabelerError("skeleton: give a list of [body part, body part] edges")
    checked = check_edges(project, edges)
    cfg = read_config(project.config_path)
    cfg["skeleton"] = checked
    write_config(project.config_path, cfg)
    return checked
