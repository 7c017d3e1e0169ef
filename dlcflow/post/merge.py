"""The end of a refinement iteration: DLC's ``merge_datasets``.

:func:`merge_datasets` starts the next iteration once every labeled-data folder with
frames has its ``CollectedData_<scorer>`` file (and holds the refined outlier frames of
:func:`dlcflow.post.outliers.extract_outlier_frames`).
"""

from __future__ import annotations

import os
from pathlib import Path

from dlcflow.core.log import log
from dlcflow.io.labels import read_annotations, read_machine_labels
from dlcflow.labeling.frames import png_frames
from dlcflow.post.outliers import config_lock
from dlcflow.project.config import write_config
from dlcflow.project.paths import Project

__all__ = ["MergeError", "merge_datasets"]


class MergeError(ValueError):
    """merge_datasets refused; the one-line message names the folder to finish."""


def _unrefined(project: Project, folder: Path) -> str | None:
    """Why a labeled-data folder blocks the merge (None when it does not)."""
    frames = [p for p in png_frames(folder) if p.name.startswith("img")]
    if not frames:
        return None
    labels = project.existing_collected_data(folder.name)
    if labels is None:
        name = project.collected_data(folder.name).name
        return f"{len(frames)} frame(s) but no {name} (label them: dlcflow label)"
    machine = project.machine_labels(folder.name)
    if machine.is_file():
        names = {p.name for p in frames}
        pending = [r for r in read_machine_labels(machine).index if r[2] in names]
        done = set(read_annotations(labels).index)
        missing = [r for r in pending if tuple(r) not in done]
        if missing:
            return (
                f"{len(missing)} outlier frame(s) of {machine.name} are not in {labels.name} "
                "(refine them: dlcflow refine)"
            )
    return None


def merge_datasets(config: str | os.PathLike[str], forceiterate: int | None = None) -> int:
    """Start the next refinement iteration (DLC's ``merge_datasets``).

    Every labeled-data folder that holds frames must have ``CollectedData_<scorer>``
    (and hold the outlier frames of this iteration's machine labels); otherwise
    MergeError names the first folder that does not. Then ``iteration`` in config.yaml
    becomes ``iteration + 1`` (or ``forceiterate``), comments kept; the merge itself
    happens when the next training dataset is created. Returns the new iteration.
    """
    project = Project(config)
    blocking = [(f, why) for f in project.labeled_folders() if (why := _unrefined(project, f))]
    if blocking:
        folder, why = blocking[0]
        more = f" ({len(blocking) - 1} more folder(s) too)" if len(blocking) > 1 else ""
        raise MergeError(
            f"{folder}: {why}{more}; iteration stays {project.iteration} "
            f"(label or remove the folder, then merge again)"
        )
    if forceiterate is not None and (isinstance(forceiterate, bool) or int(forceiterate) < 0):
        raise ValueError(f"forceiterate must be a non-negative integer, not {forceiterate!r}")
    with config_lock(project):
        fresh = Project(project.config_path)
        new = fresh.iteration + 1 if forceiterate is None else int(forceiterate)
        fresh.cfg["iteration"] = new
        write_config(fresh.config_path, fresh.cfg)
    log(
        f"Merged data sets and updated the refinement iteration to {new}; the next "
        "training dataset (snakemake ... all) includes the refined frames."
    )
    return new
