"""The workflow's 3D stages: which files a 3D project's calibration, triangulation and
3D labeled videos read and write.

A recording is the videos of one take, one per camera, named by the camera
(:meth:`Project3D.recordings`). Each view comes from the camera's 2D project
(``config_file_<camera>``, often one project for every camera): the videos it analyzes,
its pose file named by its model (``shuffle_<camera>``, the workflow's training
iterations), made by the 2D ``analyze_video`` rule, one job per view. The 3D outputs go
to ``<3D project>/triangulation/`` (:attr:`Project3D.triangulation_dir`): one set of
videos can feed several 3D projects (the 3D demo triangulates with three and with two
cameras), so they cannot share the videos' folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dlcflow.project.paths import Project
from dlcflow.project.project3d import Project3D
from dlcflow.workflow.settings import Settings, analysis_videos

__all__ = [
    "STAGES_3D",
    "View",
    "calibration_inputs",
    "labeled_video_3d_inputs",
    "recording_of",
    "stage_targets_3d",
    "triangulation_inputs",
    "views",
]

#: The 3D targets.
STAGES_3D: tuple[str, ...] = ("calibrate", "triangulate", "labeled_videos_3d")

SettingsFor = Callable[[Project], Settings]


class View:
    """One camera's video of a recording and the 2D pose file its analysis writes."""

    def __init__(self, camera: str, video: Path, poses: Path):
        self.camera, self.video, self.poses = camera, video, poses

    def __repr__(self) -> str:
        return f"View({self.camera!r}, {str(self.video)!r}, {str(self.poses)!r})"


def _camera_projects(p3d: Project3D) -> dict[str, Project]:
    cache: dict[Path, Project] = {}
    out = {}
    for cam in p3d.camera_names:
        path = p3d.camera_config(cam).resolve()
        if path not in cache:
            cache[path] = Project(path)
        out[cam] = cache[path]
    return out


def views(
    p3d: Project3D, settings_for: SettingsFor, filtered: bool = False
) -> dict[str, list[View]]:
    """``{recording: [view of each camera, in camera_names order]}``: the recordings whose
    every camera has a video among those its 2D project analyzes; ``filtered``: the views'
    poses are the 2D analyses' ``_filtered.h5`` (the workflow's filter rule)."""
    projects = _camera_projects(p3d)
    videos: dict[str, list[Path]] = {}
    for cam, project in projects.items():
        videos[cam] = analysis_videos(project, settings_for(project).videos)
    found = p3d.recordings(v for vs in videos.values() for v in vs)
    out: dict[str, list[View]] = {}
    for rec, by_camera in found.items():
        row = []
        for cam, video in by_camera.items():
            if video not in videos[cam]:  # another camera's project analyzes it
                break
            project = projects[cam]
            st = settings_for(project)
            scorer = project.scorer_name(p3d.camera_shuffle(cam), st.net(project), st.maxiters)
            row.append(
                View(cam, video, project.analysis_output(video, scorer, st.destfolder or None))
            )
        else:
            out[rec] = row
    return out


def calibration_inputs(p3d: Project3D) -> list[str]:
    """Every camera's calibration images; a ValueError naming the camera without any."""
    images = []
    for cam in p3d.camera_names:
        found = p3d.calibration_images(cam)
        if not found:
            raise ValueError(
                f"{p3d.calibration_images_dir}: no calibration images of {cam} "
                f"(<{cam}>-NN.jpg: the camera name in the file name)"
            )
        images += [str(p) for p in found]
    return images


def recording_of(
    p3d: Project3D, settings_for: SettingsFor, name: str, filtered: bool = False
) -> tuple[str, list[View]]:
    """The recording whose 3D output's stem is ``name`` and its views."""
    for rec, row in views(p3d, settings_for, filtered).items():
        if p3d.output_3d(rec, p3d.triangulation_dir).stem == name:
            return rec, row
    raise ValueError(
        f"{p3d.triangulation_dir / (name + '.h5')}: no recording of {p3d.config_path} "
        "has this output (a video per camera, named by the camera, among the 2D projects' "
        "videos to analyze)"
    )


def triangulation_inputs(
    p3d: Project3D, settings_for: SettingsFor, name: str, filtered: bool = False
) -> dict:
    """The calibration and each camera's 2D pose file (camera_names order; ``filtered``:
    the ``_filtered.h5``) of the 3D output ``<triangulation_dir>/<name>.h5``."""
    _, row = recording_of(p3d, settings_for, name, filtered)
    return {"calibration": str(p3d.calibration_file), "poses": [str(v.poses) for v in row]}


def labeled_video_3d_inputs(p3d: Project3D, settings_for: SettingsFor, name: str) -> dict:
    """The 3D poses (``<triangulation_dir>/<name>.h5``), the calibration, and the views'
    videos and 2D poses of a 3D labeled video."""
    _, row = recording_of(p3d, settings_for, name)
    return {
        "poses": str(p3d.triangulation_dir / f"{name}.h5"),
        "calibration": str(p3d.calibration_file),
        "videos": [str(v.video) for v in row],
        "poses2d": [str(v.poses) for v in row],
    }


def stage_targets_3d(p3d: Project3D, stage: str, settings_for: SettingsFor) -> list[str]:
    """The files that stand for a finished 3D stage of ``p3d``."""
    if stage == "calibrate":
        return [str(p3d.calibration_file)]
    outputs = [p3d.output_3d(rec, p3d.triangulation_dir) for rec in views(p3d, settings_for)]
    if stage == "triangulate":
        return [str(h5) for h5 in outputs]
    if stage == "labeled_videos_3d":
        return [str(p3d.labeled_video_3d(h5)) for h5 in outputs]
    raise ValueError(f"unknown 3D stage {stage!r}; known: {', '.join(STAGES_3D)}")
