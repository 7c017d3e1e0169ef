"""Which trained model and snapshot a step uses, chosen the DLC way.

DLC names a model by an index into the config's ``TrainingFraction``
(``trainingsetindex``, :func:`training_fraction`: a Python list index, so ``-n..n-1``)
and a shuffle; its test pose_cfg and snapshots are in
``dlc-models/iteration-<i>/<model>/`` (:func:`model_setup`), moved under
``<project>/<modelprefix>/`` with DLC's ``modelprefix`` (:func:`rebase`); the config's
``snapshotindex`` picks the snapshots (:func:`select_snapshots`). :func:`model_snapshots`
runs that whole chain and names each snapshot with its scorer (a :class:`ModelRef`):
analysis, export, evaluation and the search for pose files all choose through it.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlcflow.core.log import log
from dlcflow.project.paths import Project, list_snapshots, snapshot_iteration
from dlcflow.project.posecfg import load_pose_cfg

__all__ = [
    "ModelRef",
    "ModelSetup",
    "model_setup",
    "model_snapshots",
    "rebase",
    "select_snapshots",
    "training_fraction",
    "training_set_indices",
]


def rebase(project: Project, path: Path, modelprefix: str = "") -> Path:
    """``path`` (inside the project) moved under ``<project>/<modelprefix>/`` (DLC's
    ``modelprefix`` puts dlc-models and evaluation-results in a sub-folder)."""
    if not modelprefix:
        return path
    return project.root / modelprefix / path.relative_to(project.root)


def training_fraction(
    project: Project, trainingsetindex: Any, name: str = "trainingsetindex"
) -> float:
    """The config's ``TrainingFraction[trainingsetindex]``, indexed as DLC indexes the list:
    an integer from ``-n`` to ``n - 1``. Anything else is a ValueError (one line, naming
    the config file and the list; ``name`` is the argument's name in it)."""
    fractions = project.training_fractions
    index: int | None = None
    if not isinstance(trainingsetindex, bool):
        try:
            index = operator.index(trainingsetindex)
        except TypeError:
            index = None
    if index is None or not -len(fractions) <= index < len(fractions):
        raise ValueError(
            f"{project.config_path}: {name} {trainingsetindex!r} is not an index into "
            f"TrainingFraction {fractions} (an integer from {-len(fractions)} to "
            f"{len(fractions) - 1})"
        )
    return fractions[index]


def training_set_indices(project: Project, trainingsetindex: Any) -> list[int]:
    """The ``TrainingFraction`` indices a step runs on: every one for ``"all"`` (DLC's
    evaluation and maps), else the one index, checked by :func:`training_fraction`."""
    if trainingsetindex == "all":
        return list(range(len(project.training_fractions)))
    training_fraction(project, trainingsetindex)  # a bad index fails before any work
    return [int(trainingsetindex)]


@dataclass(frozen=True)
class ModelSetup:
    """One trained model of a project: its test pose_cfg and its snapshots."""

    fraction: float
    shuffle: int
    test_cfg_path: Path
    cfg: dict[str, Any]  # the test pose_cfg over DLC's code defaults
    snapshots: list[Path]  # complete snapshots sorted by iteration

    @property
    def net_type(self) -> str:
        """The network as scorer names call it: a multi-stage ResNet is DLCRNet_ms5
        (DLC's ``get_scorer_name``)."""
        net = str(self.cfg.get("net_type", "resnet_50"))
        return "dlcrnet_ms5" if net.startswith("resnet") and self.cfg.get("multi_stage") else net

    @property
    def bodyparts(self) -> list[str]:
        return [str(b) for b in self.cfg["all_joints_names"]]


@dataclass(frozen=True)
class ModelRef:
    """One snapshot of a trained model, and its DLC scorer name."""

    fraction: float
    shuffle: int
    iteration: int  # the project's (active-learning) iteration
    snapshot: Path  # the checkpoint prefix .../train/snapshot-<n>
    scorer: str  # DLC_<net>_<Task><date>shuffle<n>_<training iterations>
    modelprefix: str = ""

    @property
    def training_iterations(self) -> int:
        return snapshot_iteration(self.snapshot)


def model_setup(
    project: Project, fraction: float, shuffle: int, modelprefix: str = ""
) -> ModelSetup:
    """The test pose_cfg and the snapshots of a training fraction and shuffle."""
    test_cfg = rebase(project, project.pose_cfg(fraction, shuffle, "test"), modelprefix)
    if not test_cfg.is_file():
        raise FileNotFoundError(
            f"{test_cfg}: no model for iteration {project.iteration}, shuffle {shuffle} and "
            f"training fraction {fraction} (create the training dataset and train it first)"
        )
    cfg = load_pose_cfg(test_cfg)
    train = rebase(project, project.train_folder(fraction, shuffle), modelprefix)
    snapshots = list_snapshots(train)
    if not snapshots:
        raise FileNotFoundError(f"{train}: no snapshot (snapshot-<n>.index) yet; train first")
    if project.bodyparts and list(cfg.get("all_joints_names", [])) != project.bodyparts:
        warnings.warn(
            f"{test_cfg}: body parts {cfg.get('all_joints_names')} differ from the config's "
            f"{project.bodyparts}; the model's are used",
            stacklevel=2,
        )
    return ModelSetup(fraction, shuffle, test_cfg, cfg, snapshots)


def select_snapshots(
    snapshots: Sequence[Path], snapshotindex: int | str, allow_all: bool = True
) -> list[Path]:
    """The snapshots that config ``snapshotindex`` picks: an index into the sorted list
    (-1 = last) or ``"all"`` (every one; with ``allow_all=False`` the last, with a message)."""
    if not snapshots:
        raise FileNotFoundError("no snapshot to choose from (train the network first)")
    if isinstance(snapshotindex, str) and snapshotindex.strip().lower() == "all":
        if allow_all:
            return list(snapshots)
        log(
            "snapshotindex is 'all': analyzing with the last snapshot "
            f"({Path(snapshots[-1]).name}); use evaluate_network to compare snapshots"
        )
        return [snapshots[-1]]
    try:
        index = int(snapshotindex)
    except (TypeError, ValueError):
        raise ValueError(f"snapshotindex {snapshotindex!r} must be an integer or 'all'") from None
    if not -len(snapshots) <= index < len(snapshots):
        names = ", ".join(Path(s).name for s in snapshots)
        raise IndexError(
            f"snapshotindex {index} is out of range: {len(snapshots)} snapshot(s) ({names})"
        )
    return [snapshots[index]]


def model_snapshots(
    project: Project,
    shuffle: int = 1,
    trainingsetindex: int = 0,
    snapshotindex: int | str | None = None,
    modelprefix: str = "",
    *,
    allow_all: bool = True,
) -> tuple[ModelSetup, list[ModelRef]]:
    """The model of ``TrainingFraction[trainingsetindex]`` and ``shuffle``
    (:func:`model_setup`) and the snapshots that ``snapshotindex`` picks (None: the
    config's; :func:`select_snapshots`, ``allow_all`` as there), each with its scorer."""
    fraction = training_fraction(project, trainingsetindex)
    setup = model_setup(project, fraction, shuffle, modelprefix)
    index = project.cfg.get("snapshotindex", -1) if snapshotindex is None else snapshotindex
    refs = [
        ModelRef(
            fraction=fraction,
            shuffle=shuffle,
            iteration=project.iteration,
            snapshot=snapshot,
            scorer=project.scorer_name(shuffle, setup.net_type, snapshot_iteration(snapshot)),
            modelprefix=modelprefix,
        )
        for snapshot in select_snapshots(setup.snapshots, index, allow_all=allow_all)
    ]
    return setup, refs
