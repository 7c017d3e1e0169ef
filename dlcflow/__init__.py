"""dlcflow: markerless pose estimation the DeepLabCut way, as a Snakemake workflow.

The public functions carry DeepLabCut's names and arguments; they are imported lazily so
that ``import dlcflow`` stays cheap (no TensorFlow until a network is needed).
"""

from __future__ import annotations

import importlib
from typing import Any

from dlcflow.core.quiet import quiet_environment

# TensorFlow's and FFmpeg's chatter would hide dlcflow's own messages (DLCFLOW_VERBOSE=1,
# or setting the libraries' variables, brings it back).
quiet_environment()

__version__ = "0.1.0"

_API = {
    "create_new_project": "dlcflow.project.create",
    "add_new_videos": "dlcflow.labeling.videos",
    "read_config": "dlcflow.project.config",
    "Project": "dlcflow.project.paths",
    "extract_frames": "dlcflow.labeling.frames",
    "check_labels": "dlcflow.plots.labels",
    "create_training_dataset": "dlcflow.training.dataset",
    "create_multianimaltraining_dataset": "dlcflow.training.madataset",
    "create_training_dataset_from_existing_split": "dlcflow.training.dataset",
    "create_training_model_comparison": "dlcflow.training.comparison",
    "compare_models": "dlcflow.post.comparison",
    "train_network": "dlcflow.training.train",
    "evaluate_network": "dlcflow.post.evaluate",
    "extract_maps": "dlcflow.inference.maps",
    "extract_save_all_maps": "dlcflow.plots.maps",
    "analyze_videos": "dlcflow.inference.analyze",
    "convert_detections2tracklets": "dlcflow.tracking.api",
    "stitch_tracklets": "dlcflow.tracking.api",
    "transformer_reID": "dlcflow.inference.reid",
    "create_video_with_all_detections": "dlcflow.plots.detections",
    "create_video_from_pickled_tracks": "dlcflow.plots.detections",
    "evaluate_tracks": "dlcflow.post.trackeval",
    "AnalysisOptions": "dlcflow.inference.analyze",
    "filterpredictions": "dlcflow.post.filters",
    "FilterOptions": "dlcflow.post.filters",
    "analyzeskeleton": "dlcflow.post.filters",
    "plot_trajectories": "dlcflow.plots.poses",
    "create_labeled_video": "dlcflow.plots.poses",
    "LabeledVideoOptions": "dlcflow.plots.poses",
    "compute_kinematics": "dlcflow.post.kinematicsfiles",
    "kinematics_files": "dlcflow.post.kinematicsfiles",
    "KinematicsOptions": "dlcflow.post.kinematics",
    "plot_kinematics": "dlcflow.plots.kinematics",
    "extract_outlier_frames": "dlcflow.post.outliers",
    "OutlierOptions": "dlcflow.post.outliers",
    "find_outliers_in_raw_data": "dlcflow.post.rawoutliers",
    "merge_datasets": "dlcflow.post.merge",
    "export_nwb": "dlcflow.post.nwbexport",
    "read_nwb": "dlcflow.io.nwb",
    "export_model": "dlcflow.inference.export",
    "create_new_project_3d": "dlcflow.project.project3d",
    "Project3D": "dlcflow.project.project3d",
    "calibrate_cameras": "dlcflow.threed.calibrate",
    "check_undistortion": "dlcflow.threed.calibrate",
    "triangulate": "dlcflow.threed.triangulate",
    "create_labeled_video_3d": "dlcflow.threed.labeled",
    "label_frames": "dlcflow.labeler",
    "refine_labels": "dlcflow.labeler",
    "refine_frames": "dlcflow.labeler",
    "SkeletonBuilder": "dlcflow.labeler",
    "refine_tracklets": "dlcflow.labeler.trackserver",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'dlcflow' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
