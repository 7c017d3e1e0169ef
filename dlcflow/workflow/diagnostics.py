"""What the multi-animal diagnostic rules read: the raw pickle of an outlier extraction
from raw data (``outliers_raw``) and the tracklets of a tracklet video
(``tracklet_videos``); rules/common.smk calls these from its input functions."""

from __future__ import annotations

from pathlib import Path

from dlcflow.post.rawoutliers import RAW_SOURCES
from dlcflow.project.paths import Project, tracker_suffix
from dlcflow.workflow.settings import Settings, analyses, diagnostic_sources

__all__ = ["raw_outlier_inputs", "tracklet_video_inputs"]


def raw_outlier_inputs(project: Project, st: Settings, stem: str) -> dict[str, str]:
    """The video and the raw pickle (``outliers_raw.source``: its ``_assemblies.pickle``
    or its ``_full.pickle``) an outlier extraction from raw data of ``stem`` reads."""
    source = str(st.outliers_raw["source"])
    if source not in RAW_SOURCES:
        raise ValueError(f"outliers_raw.source {source!r} is not one of {', '.join(RAW_SOURCES)}")
    for video, tracks in analyses(project, st):
        if video.stem == stem:
            name = tracks.name[: -len(tracker_suffix(st.tracking.method(project)) + ".h5")]
            pickle = tracks.with_name(name + RAW_SOURCES[source])
            return {"video": str(video), "pickle": str(pickle)}
    raise ValueError(f"{stem}: not one of the videos to analyze of {project.config_path}")


def tracklet_video_inputs(project: Project, st: Settings, folder: str, stem: str) -> dict:
    """The video and tracklets whose tracklet video is ``<folder>/<stem>/<stem>DLClabeled*``."""
    for video, _, tracklets in diagnostic_sources(project, st):
        if tracklets.parent == Path(folder) and video.stem == stem:
            return {"video": str(video), "tracklets": str(tracklets)}
    raise ValueError(f"{folder}/{stem}: not one of the videos to analyze of {project.config_path}")
