"""Training datasets: train/test splits, ``.mat`` / ``.pickle``, Documentation pickle, pose_cfg.

Files and structures are DLC 2.3's (see ``shared/DLC_FORMATS.md``):

- ``training-datasets/iteration-<N>/UnaugmentedDataSet_<Task><date>/`` gets the merged
  ``CollectedData_<scorer>.h5/.csv`` (rows sorted; split indices refer to this order), and
  per training fraction and shuffle the dataset file and ``Documentation_data-...pickle``.
- Single animal: ``<Task>_<scorer><pct>shuffle<n>.mat`` holding DLC's struct array
  (``image``, ``size`` = [channels, height, width], ``joints`` = a cell with an int64
  array of ``[bodypart index, x, y]``). As in DLC, unlabeled (NaN) points and points not
  strictly inside the image are left out, and images with no point left are excluded.
  **Coordinates:** the ``.mat`` keeps DLC's int truncation so that DLC reads it exactly
  as it reads its own; the Documentation pickle's data list (``[{"image", "size",
  "joints"}, ...]``, which DLC only reads for its split indices) holds the same points as
  float64, and that is what dlcflow trains on (no half-pixel bias from truncation).
- Multi animal: ``<Task>_<scorer><pct>shuffle<n>.pickle``, a list of
  ``{"image", "size", "joints": {individual index: float array (k, 3)}}`` (DLC rounds to
  two decimals), plus ``test/inference_cfg.yaml``.
- ``dlc-models/iteration-<N>/<Task><date>-trainset<pct>shuffle<n>/{train,test}/pose_cfg.yaml``
  (see :mod:`dlcflow.project.posecfg`).

Splits are seeded by the shuffle number alone: shuffle 1 gets the same permutation
whichever other shuffles or fractions are built, and ``int(n * fraction)`` of it trains.
Every file is written to a temp file in its folder and renamed. Each split is reported on
the progress channel: ``shuffle 1, trainFraction 0.95: 38 train / 2 test frames -> <.mat>``
and where its Documentation pickle and pose_cfg files went (paths under the project).
"""

from __future__ import annotations

import functools
import os
import pickle
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.io as sio

from dlcflow.core.fileio import atomic_path
from dlcflow.core.log import log
from dlcflow.io.labels import write_annotations
from dlcflow.labeling.annotations import image_sizes, load_project_annotations, validate_annotations
from dlcflow.project import posecfg
from dlcflow.project.models import training_fraction
from dlcflow.project.multianimal import MultiAnimalConfigError, check_multianimal
from dlcflow.project.paths import Project
from dlcflow.training import pafgraph
from dlcflow.training.records import (
    DatasetError,
    matlab_dataset,
    multi_animal_records,
    single_animal_records,
)

SPLIT_SEED = 0x646C63  # "dlc": namespace of the per-shuffle split seeds

Split = tuple[float, int, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ModelSettings:
    """What goes into every pose_cfg of one create_training_dataset call."""

    net_type: str
    multi_stage: bool
    dataset_type: str
    init_weights: str
    template: dict[str, Any] | None
    updates: dict[str, Any]  # over the train pose_cfg
    test_updates: dict[str, Any] = field(default_factory=dict)  # over the test pose_cfg
    # multi-animal projects (create_multianimaltraining_dataset's arguments)
    paf_graph: Any = None  # None | "config" | index pairs (dlcflow.training.pafgraph)
    crop_size: tuple[int, int] = (400, 400)
    crop_sampling: str = "hybrid"
    n_edges_threshold: int = 105
    paf_graph_degree: int = 6


# -- splits ----------------------------------------------------------------------------------
def check_fraction(fraction: float) -> float:
    """A training fraction in (0, 1) with at most two digits (DLC names folders by it)."""
    if not 0 < fraction < 1:
        raise DatasetError(f"training fraction {fraction} must lie between 0 and 1")
    if abs(fraction - round(fraction, 2)) > 0:
        raise DatasetError(
            f"training fraction {fraction} has more than two digits; folder names use "
            f"int(100 * fraction), so use e.g. {round(fraction, 2)}"
        )
    return round(float(fraction), 2)


def split_indices(n: int, fraction: float, shuffle: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices: a permutation seeded by ``shuffle`` only; the first
    ``int(n * fraction)`` train."""
    fraction = check_fraction(fraction)
    rng = np.random.default_rng([SPLIT_SEED, int(shuffle)])
    order = rng.permutation(n)
    k = int(n * fraction)
    return order[:k], order[k:]


def _shuffle_list(num_shuffles: int, shuffles: Sequence[int] | None) -> list[int]:
    if shuffles is None:
        if not isinstance(num_shuffles, Integral) or num_shuffles < 1:
            raise DatasetError(f"num_shuffles must be a positive integer, got {num_shuffles!r}")
        return list(range(1, int(num_shuffles) + 1))
    out = []
    for s in shuffles:
        if not isinstance(s, Integral) or isinstance(s, bool) or s < 0:
            raise DatasetError(f"shuffle numbers must be non-negative integers, got {s!r}")
        out.append(int(s))
    if not out:
        raise DatasetError("Shuffles is empty")
    if len(set(out)) != len(out):
        raise DatasetError(f"Shuffles {out} repeats a shuffle")
    return out


def _explicit_splits(
    train_indices: Sequence[Sequence[int]] | None,
    test_indices: Sequence[Sequence[int]] | None,
    shuffles: list[int],
    n: int,
    fractions: Sequence[float] | None = None,
) -> list[Split]:
    """Splits from given indices (DLC: -1 padding removed; fraction from the sizes unless
    ``fractions`` gives it)."""
    if train_indices is None or test_indices is None:
        raise DatasetError("give both trainIndices and testIndices (one list per shuffle)")
    if not len(train_indices) == len(test_indices) == len(shuffles):
        raise DatasetError(
            f"{len(train_indices)} trainIndices, {len(test_indices)} testIndices and "
            f"{len(shuffles)} shuffles {shuffles}: give one train and one test list per shuffle"
        )
    splits = []
    for i, (train, test, shuffle) in enumerate(
        zip(train_indices, test_indices, shuffles, strict=True)
    ):
        tr = np.asarray(train, dtype=np.int64).ravel()
        te = np.asarray(test, dtype=np.int64).ravel()
        tr, te = tr[tr != -1], te[te != -1]
        both = np.concatenate([tr, te])
        if both.size and (both.min() < 0 or both.max() >= n):
            raise DatasetError(
                f"shuffle {shuffle}: indices must lie in 0..{n - 1} (the {n} labeled frames)"
            )
        if np.intersect1d(tr, te).size or np.unique(tr).size != tr.size:
            raise DatasetError(f"shuffle {shuffle}: an index repeats or is in train and test")
        if fractions is not None:
            fraction = float(fractions[i])
        else:
            fraction = round(tr.size / max(1, tr.size + te.size), 2)
        splits.append((fraction, shuffle, tr, te))
    return splits


# -- data ------------------------------------------------------------------------------------
def _no_labels(project: Project) -> DatasetError:
    return DatasetError(
        f"{project.config_path}: no labeled frames in {project.labeled_data_dir} "
        f"(no CollectedData_{project.scorer}.h5 with labels); label frames first: "
        f"dlcflow label {project.config_path}"
    )


def merged_annotations(project: Project, write: bool = True) -> pd.DataFrame:
    """The project's annotations merged (DLC's ``merge_annotateddatasets``); written to the
    training-set folder as CollectedData h5 + csv unless ``write`` is False."""
    data = load_project_annotations(project)
    if data.empty or not np.isfinite(data.to_numpy()).any():
        raise _no_labels(project)
    sizes = image_sizes(project, data.index)
    validate_annotations(data, project, project.labeled_data_dir, sizes, outside="warn")
    if write:
        write_annotations(data, project.training_collected_data())
        folders = data.index.get_level_values(1).nunique() if data.index.nlevels > 1 else 1
        log(
            f"{project.root}: {len(data)} labeled frames from {folders} labeled-data "
            f"folder{'s' if folders != 1 else ''} "
            f"-> {_relative(project, project.training_collected_data())}"
        )
    return data


# -- files -----------------------------------------------------------------------------------
def _dump_pickle(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(obj, fh, pickle.HIGHEST_PROTOCOL)


def read_documentation(path: str | os.PathLike[str]) -> tuple[list, np.ndarray, np.ndarray, float]:
    """``(data, trainIndices, testIndices, trainFraction)`` of a Documentation pickle."""
    try:
        with open(path, "rb") as fh:
            data, train, test, fraction = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, ValueError, EOFError) as err:
        raise DatasetError(f"{path}: not a readable Documentation pickle ({err})") from None
    return data, np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64), fraction


def _relative(project: Project, path: Path) -> str:
    return path.relative_to(project.root).as_posix()


def model_settings(
    project: Project,
    net_type: str | None,
    augmenter_type: str | None,
    posecfg_template: str | os.PathLike[str] | None,
    init_weights: str | os.PathLike[str] | None,
    updates: Mapping[str, Any] | None = None,
    test_updates: Mapping[str, Any] | None = None,
) -> ModelSettings:
    multi = project.multianimal
    if multi:
        try:
            check_multianimal(project)
        except MultiAnimalConfigError as err:
            raise DatasetError(str(err)) from None
    if net_type is None:
        net_type = str(project.cfg.get("default_net_type") or "resnet_50")
    if augmenter_type is None:
        augmenter_type = project.cfg.get("default_augmenter") or "default"
    if multi and augmenter_type not in (posecfg.MULTI_AUGMENTER, "default"):
        warnings.warn(
            f"augmenter_type {augmenter_type!r} ignored: multi-animal projects use "
            f"{posecfg.MULTI_AUGMENTER}",
            stacklevel=3,
        )
    try:
        net, multi_stage = posecfg.check_net_type(net_type, multi)
        dtype = posecfg.dataset_type(augmenter_type, multi)
        template = posecfg.read_template(posecfg_template) if posecfg_template else None
        weights = posecfg.init_weights_value(init_weights)
    except posecfg.PoseConfigError as err:
        raise DatasetError(f"{project.config_path}: {err}") from None
    for kind, given in (("", updates), ("test ", test_updates)):
        fixed = sorted(set(given or {}) & set(posecfg.DERIVED_KEYS))
        if fixed:
            raise DatasetError(
                f"{project.config_path}: {kind}pose_cfg key '{fixed[0]}' is derived from the "
                "project and cannot be set"
            )
    return ModelSettings(
        net, multi_stage, dtype, weights, template, dict(updates or {}), dict(test_updates or {})
    )


def _pose_items(
    project: Project, fraction: float, shuffle: int, settings: ModelSettings
) -> dict[str, Any]:
    names = project.bodyparts
    items: dict[str, Any] = {
        "dataset": _relative(project, project.dataset_file(fraction, shuffle)),
        "metadataset": _relative(project, project.documentation_file(fraction, shuffle)),
        "num_joints": len(names),
        "all_joints": [[i] for i in range(len(names))],
        "all_joints_names": [str(n) for n in names],
        "init_weights": settings.init_weights,
        "project_path": str(project.root),
        "net_type": settings.net_type,
        "dataset_type": settings.dataset_type,
    }
    if project.multianimal:
        try:
            graph = pafgraph.paf_graph(
                settings.paf_graph,
                project.multianimal_bodyparts,
                project.unique_bodyparts,
                project.cfg.get("skeleton"),
                settings.n_edges_threshold,
                settings.paf_graph_degree,
                seed=shuffle,
            )
        except pafgraph.PafGraphError as err:
            raise DatasetError(f"{project.config_path}: {err}") from None
        identity = bool(project.cfg.get("identity"))
        items.update(
            multi_stage=settings.multi_stage,
            pairwise_loss_weight=0.1,
            pafwidth=20,
            partaffinityfield_graph=graph,
            partaffinityfield_predict=bool(graph),
            weigh_only_present_joints=False,
            num_limbs=len(graph),
            optimizer="adam",
            batch_size=8,
            multi_step=[[1e-4, 7500], [5e-5, 12000], [1e-5, 200000]],
            save_iters=10000,
            display_iters=500,
            num_idchannel=len(project.individuals) if identity else 0,
            crop_size=[int(v) for v in settings.crop_size],
            crop_sampling=settings.crop_sampling,
        )
    return items


def _confirm_overwrite(project: Project, fraction: float, shuffle: int) -> None:
    path = project.pose_cfg(fraction, shuffle, "train")
    if path.is_file():
        try:
            answer = input(
                f"{path.parent.parent} exists; overwrite this split and model? (yes/no): "
            )
        except EOFError:  # no terminal: do not overwrite
            answer = "no"
        if answer.strip().lower() not in ("y", "yes"):
            raise DatasetError(
                f"{path.parent.parent}: kept; pass Shuffles=[...] with a new shuffle number"
            )


def write_split(
    project: Project,
    data: pd.DataFrame,
    split: Split,
    settings: ModelSettings,
    cache: dict | None = None,
) -> None:
    """Write one split's dataset file, Documentation pickle and model-folder configs."""
    fraction, shuffle, train, test = split
    if project.multianimal:
        records = multi_animal_records(project, data, train, cache)
    else:
        records = single_animal_records(project, data, train, cache)
    if not records:
        raise DatasetError(
            f"{project.config_path}: shuffle {shuffle}, fraction {fraction}: none of the "
            f"{len(train)} training frames has a labeled point inside its image"
        )
    target = project.dataset_file(fraction, shuffle)
    if project.multianimal:
        _dump_pickle(target, records)
    else:
        with atomic_path(target) as tmp, open(tmp, "wb") as fh:
            sio.savemat(fh, {"dataset": matlab_dataset(records)})
    _dump_pickle(project.documentation_file(fraction, shuffle), [records, train, test, fraction])

    drop: list[str] = []
    if not project.multianimal:
        drop += posecfg.SINGLE_DROP
        if settings.dataset_type == "scalecrop":
            drop += posecfg.SCALECROP_DROP
    items = _pose_items(project, fraction, shuffle, settings)
    train_cfg = posecfg.make_train_pose_cfg(items, settings.template, drop)
    posecfg.merge(train_cfg, settings.updates)
    posecfg.write_yaml(project.pose_cfg(fraction, shuffle, "train"), train_cfg)
    test_cfg = posecfg.make_test_pose_cfg(train_cfg, project.multianimal)
    posecfg.merge(test_cfg, settings.test_updates)
    posecfg.write_yaml(project.pose_cfg(fraction, shuffle, "test"), test_cfg)
    if project.multianimal:
        inference = posecfg.inference_cfg(
            project.multianimal_bodyparts,
            project.individuals,
            bool(project.cfg.get("identity")),
        )
        posecfg.write_yaml(project.inference_cfg(fraction, shuffle), inference)
    _report(project, split, len(records))


def _report(project: Project, split: Split, n_records: int) -> None:
    """Say what a split holds and where its files went."""
    fraction, shuffle, train, test = split
    rel = functools.partial(_relative, project)
    log(
        f"shuffle {shuffle}, trainFraction {fraction}: {len(train)} train / {len(test)} test "
        f"frames -> {rel(project.dataset_file(fraction, shuffle))}"
    )
    if n_records < len(train):
        log(f"  {len(train) - n_records} training frames left out: no labeled point inside")
    log(f"  split (Documentation): {rel(project.documentation_file(fraction, shuffle))}")
    pose_cfgs = [rel(project.pose_cfg(fraction, shuffle, kind)) for kind in ("train", "test")]
    log(f"  pose_cfg: {', '.join(pose_cfgs)}")


def _build(
    project: Project,
    data: pd.DataFrame,
    splits: list[Split],
    settings: ModelSettings,
    userfeedback: bool,
) -> list[Split]:
    for fraction, shuffle, train, _ in splits:
        if len(train) == 0:
            raise DatasetError(
                f"{project.config_path}: fraction {fraction} of {len(data)} labeled frames "
                f"leaves no training frame (shuffle {shuffle}); label more frames"
            )
    if userfeedback:
        for fraction, shuffle, _, _ in splits:
            _confirm_overwrite(project, fraction, shuffle)
    cache: dict = {}
    for split in splits:
        write_split(project, data, split, settings, cache)
    return splits


# -- public API ------------------------------------------------------------------------------
def create_training_dataset(
    config: str | os.PathLike[str],
    num_shuffles: int = 1,
    Shuffles: Sequence[int] | None = None,  # noqa: N803 (DLC's argument name)
    windows2linux: bool = False,
    userfeedback: bool = False,
    trainIndices: Sequence[Sequence[int]] | None = None,  # noqa: N803
    testIndices: Sequence[Sequence[int]] | None = None,  # noqa: N803
    net_type: str | None = None,
    augmenter_type: str | None = None,
    posecfg_template: str | os.PathLike[str] | None = None,
    trainingsetindex: int | None = None,
    init_weights: str | os.PathLike[str] | None = "imagenet",
    pose_cfg_updates: Mapping[str, Any] | None = None,
    test_pose_cfg_updates: Mapping[str, Any] | None = None,
) -> list[Split]:
    """Build training datasets as ``deeplabcut.create_training_dataset`` does.

    Merges every labeled-data folder's ``CollectedData_<scorer>.h5`` (written to the
    training-set folder), then for each ``TrainingFraction`` × shuffle writes the dataset
    file, the Documentation pickle and the model folder's pose_cfg files. ``trainIndices``
    / ``testIndices`` (one list per shuffle) replace the random split. dlcflow extras:
    ``trainingsetindex`` builds only that ``TrainingFraction`` (one model folder per
    Snakemake job); ``init_weights`` is ``"imagenet"``, ``"none"`` or a weights file.
    ``pose_cfg_updates`` are written over the train pose_cfg's defaults (e.g.
    ``{"global_scale": 1.0}``; keys derived from the project cannot be set), and
    ``test_pose_cfg_updates`` over the test pose_cfg the evaluation and analysis read
    (e.g. a multi-animal model's peak settings ``{"nmsradius": 3}``).
    ``windows2linux`` is accepted and ignored (as in DLC ≥ 2.2).

    Returns ``[(trainFraction, shuffle, trainIndices, testIndices), ...]``.
    """
    del windows2linux  # no effect since DLC 2.2.0.4
    project = Project(config)
    settings = model_settings(
        project,
        net_type,
        augmenter_type,
        posecfg_template,
        init_weights,
        pose_cfg_updates,
        test_pose_cfg_updates,
    )
    return build_datasets(
        project,
        settings,
        num_shuffles,
        Shuffles,
        trainIndices,
        testIndices,
        trainingsetindex,
        userfeedback,
    )


def build_datasets(
    project: Project,
    settings: ModelSettings,
    num_shuffles: int = 1,
    shuffles: Sequence[int] | None = None,
    train_indices: Sequence[Sequence[int]] | None = None,
    test_indices: Sequence[Sequence[int]] | None = None,
    trainingsetindex: int | None = None,
    userfeedback: bool = False,
) -> list[Split]:
    """The datasets of ``create_training_dataset`` (and of the multi-animal variant,
    which sets its own ``settings``)."""
    shuffle_list = _shuffle_list(num_shuffles, shuffles)
    fractions = project.training_fractions
    if trainingsetindex is not None:
        try:
            fractions = [training_fraction(project, trainingsetindex)]
        except ValueError as err:
            raise DatasetError(str(err)) from None
    for fraction in fractions:
        check_fraction(fraction)
    data = merged_annotations(project)
    if train_indices is None and test_indices is None:
        splits: list[Split] = [
            (fraction, shuffle, *split_indices(len(data), fraction, shuffle))
            for fraction in fractions
            for shuffle in shuffle_list
        ]
    else:
        splits = _explicit_splits(train_indices, test_indices, shuffle_list, len(data))
    return _build(project, data, splits, settings, userfeedback)


def create_training_dataset_from_existing_split(
    config: str | os.PathLike[str],
    from_shuffle: int,
    from_trainsetindex: int = 0,
    num_shuffles: int = 1,
    shuffles: Sequence[int] | None = None,
    userfeedback: bool = True,
    net_type: str | None = None,
    augmenter_type: str | None = None,
    posecfg_template: str | os.PathLike[str] | None = None,
    init_weights: str | os.PathLike[str] | None = "imagenet",
) -> list[Split]:
    """New shuffles with the train/test split of an existing one (DLC 3's function).

    Reads the split of ``from_shuffle`` at ``TrainingFraction[from_trainsetindex]`` from its
    Documentation pickle and builds ``shuffles`` (default: the ``num_shuffles`` numbers
    after the largest existing shuffle) with it, e.g. for another ``net_type``.
    """
    project = Project(config)
    try:
        fraction = training_fraction(project, from_trainsetindex, "from_trainsetindex")
    except ValueError as err:
        raise DatasetError(str(err)) from None
    doc = project.documentation_file(fraction, from_shuffle)
    if not doc.is_file():
        raise DatasetError(
            f"{doc}: shuffle {from_shuffle} at fraction {fraction} does not exist; "
            "create it with create_training_dataset first"
        )
    _, train, test, _ = read_documentation(doc)
    if shuffles is None:
        start = max(_existing_shuffles(project, fraction) + [from_shuffle]) + 1
        shuffles = list(range(start, start + num_shuffles))
    shuffle_list = _shuffle_list(num_shuffles, shuffles)
    if from_shuffle in shuffle_list:
        raise DatasetError(f"shuffle {from_shuffle} is the source split; pick other shuffles")
    settings = model_settings(project, net_type, augmenter_type, posecfg_template, init_weights)
    return build_on_split(project, settings, fraction, shuffle_list, train, test, userfeedback, doc)


def build_on_split(
    project: Project,
    settings: ModelSettings,
    fraction: float,
    shuffles: Sequence[int],
    train: np.ndarray,
    test: np.ndarray,
    userfeedback: bool = False,
    source: Path | None = None,
) -> list[Split]:
    """The datasets of ``shuffles`` at ``fraction``, all on one split (``train``,
    ``test``: rows of the merged annotations; ``source``: where the split came from, for
    the error when the labeled frames have changed since)."""
    data = merged_annotations(project)
    if train.size + test.size != len(data):
        raise DatasetError(
            f"{source or project.config_path}: its split covers {train.size + test.size} "
            f"frames but the project now has {len(data)} labeled frames; create a new split "
            "instead"
        )
    n = len(shuffles)
    splits = _explicit_splits(
        [train] * n, [test] * n, list(shuffles), len(data), fractions=[fraction] * n
    )
    return _build(project, data, splits, settings, userfeedback)


def _existing_shuffles(project: Project, fraction: float) -> list[int]:
    """Shuffle numbers with a Documentation pickle at ``fraction`` in this iteration."""
    found = []
    folder = project.training_set_folder()
    if folder.is_dir():
        for shuffle_path in folder.glob("Documentation_data-*.pickle"):
            stem = shuffle_path.stem
            try:
                number = int(stem.rsplit("shuffle", 1)[1])
            except (IndexError, ValueError):
                continue
            if project.documentation_file(fraction, number) == shuffle_path:
                found.append(number)
    return found
