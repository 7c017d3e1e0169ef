"""The labeling and refinement tool: a local web server and a page in the browser.

``dlcflow label CONFIG`` (or :func:`label_frames`) serves the project's labeled-data
frames on 127.0.0.1 with a token in the URL; the page writes
``labeled-data/<video>/CollectedData_<scorer>.h5`` + ``.csv`` as DeepLabCut does.
``dlcflow refine CONFIG`` (:func:`refine_labels`; :func:`refine_frames` is DLC's older name
of it) opens the frames of ``machinelabels-iter<N>.h5`` and merges the corrected
predictions into CollectedData.
``dlcflow label CONFIG --skeleton`` (:func:`SkeletonBuilder`) opens it in the skeleton
builder, which saves config.yaml's ``skeleton``.
The page is plain HTML/CSS/JS in ``static/``; the server is the standard library's.
"""

from dlcflow.labeler.server import (
    Labeler,
    SkeletonBuilder,
    label_frames,
    launch,
    refine_frames,
    refine_labels,
)
from dlcflow.labeler.store import LabelerError, LabelStore

__all__ = [
    "LabelStore",
    "Labeler",
    "LabelerError",
    "SkeletonBuilder",
    "label_frames",
    "launch",
    "refine_frames",
    "refine_labels",
]
