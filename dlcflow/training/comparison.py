"""``create_training_model_comparison``: one shuffle per network × augmenter on one split.

As DLC 2.3 does it: for each of ``num_shuffles`` splits ("frozen shuffle IDs"), one new
shuffle per ``net_types`` × ``augmenter_types`` pair, all on the same train/test indices;
the shuffle numbers continue after the largest one in ``dlc-models/iteration-<N>/``. Each
shuffle is recorded as a line of DLC's ``training_model_comparison.log`` in the project
folder (DLC's logging format, appended; one line per shuffle, broken here)::

    2024-05-01 10:00:00,123 INFO Shuffle index:3, net_type:resnet_50,
        augmenter_type:imgaug, trainsetindex:0, frozen shuffle ID:0

dlcflow differs from DLC in two places. DLC numbers the first shuffle 0 when the
iteration has no model yet, dlcflow 1 (every step's default shuffle). Each split is
seeded by its first shuffle number (``dlcflow.training.dataset.split_indices``), so the
first shuffle of a split is what ``create_training_dataset`` would have made of it.

Augmenters: dlcflow trains every single-animal model with one pipeline driven by the
pose_cfg's augmentation keys (:mod:`dlcflow.training.augment`), so of DLC's loaders only
those that change those keys can be compared: ``imgaug`` (and ``default``, which dlcflow
writes as ``imgaug``) and ``scalecrop`` (no rotation). ``tensorpack`` and
``deterministic`` are refused, naming the supported ones.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dlcflow.core.fileio import atomic_write_text
from dlcflow.core.log import log
from dlcflow.project.models import training_fraction
from dlcflow.project.paths import Project
from dlcflow.training.dataset import (
    build_on_split,
    merged_annotations,
    model_settings,
    split_indices,
)
from dlcflow.training.records import DatasetError

#: DLC's augmenter names that dlcflow trains differently, and the dataset_type written.
AUGMENTERS = {"imgaug": "imgaug", "default": "imgaug", "scalecrop": "scalecrop"}

_LINE = re.compile(
    r"Shuffle index:(?P<shuffle>\d+), net_type:(?P<net>[^,]+), augmenter_type:(?P<aug>[^,]+), "
    r"trainsetindex:(?P<index>\d+), frozen shuffle ID:(?P<frozen>\d+)"
)


@dataclass(frozen=True)
class ComparisonEntry:
    """One line of ``training_model_comparison.log``."""

    shuffle: int
    net_type: str
    augmenter_type: str
    trainsetindex: int
    frozen_shuffle: int

    def line(self) -> str:
        """The message DLC logs for this shuffle."""
        return (
            f"Shuffle index:{self.shuffle}, net_type:{self.net_type}, augmenter_type:"
            f"{self.augmenter_type}, trainsetindex:{self.trainsetindex}, frozen shuffle ID:"
            f"{self.frozen_shuffle}"
        )


def read_comparison_log(project: Project) -> dict[int, ComparisonEntry]:
    """The log's entries by shuffle (a shuffle logged twice: its last line); {} without
    a log. Lines that are no comparison entries are skipped."""
    path = project.model_comparison_log()
    if not path.is_file():
        return {}
    found: dict[int, ComparisonEntry] = {}
    for text in path.read_text().splitlines():
        match = _LINE.search(text)
        if match:
            entry = ComparisonEntry(
                int(match["shuffle"]),
                match["net"].strip(),
                match["aug"].strip(),
                int(match["index"]),
                int(match["frozen"]),
            )
            found[entry.shuffle] = entry
    return found


def comparison_entries(project: Project, iteration: int | None = None) -> list[ComparisonEntry]:
    """The logged shuffles whose model folder exists in ``iteration`` (default: the
    project's), by shuffle number: the models of that iteration's comparison."""
    out = []
    for shuffle, entry in sorted(read_comparison_log(project).items()):
        try:
            fraction = training_fraction(project, entry.trainsetindex)
        except ValueError:
            continue
        if project.pose_cfg(fraction, shuffle, "train", iteration).is_file():
            out.append(entry)
    return out


def next_shuffle(project: Project) -> int:
    """One more than the largest shuffle of the iteration's model folders (1 if none)."""
    folder = project.model_folder(project.training_fractions[0], 1).parent
    shuffles = [0]
    if folder.is_dir():
        for child in folder.iterdir():
            try:
                shuffles.append(project.parse_model_name(child.name)[1])
            except ValueError:
                continue
    return max(shuffles) + 1


def check_augmenter(augmenter_type: str) -> str:
    if augmenter_type not in AUGMENTERS:
        raise DatasetError(
            f"augmenter_type {augmenter_type!r} has no training of its own in dlcflow "
            f"(one augmentation pipeline driven by pose_cfg keys); compare "
            f"{', '.join(AUGMENTERS)}"
        )
    return augmenter_type


def _as_names(value: str | Sequence[str], what: str) -> list[str]:
    names = [value] if isinstance(value, str) else [str(v) for v in value]
    if not names:
        raise DatasetError(f"{what} is empty")
    return names


def create_training_model_comparison(
    config: str | os.PathLike[str],
    trainindex: int = 0,
    num_shuffles: int = 1,
    net_types: str | Sequence[str] = ("resnet_50",),
    augmenter_types: str | Sequence[str] = ("imgaug",),
    userfeedback: bool = False,
    windows2linux: bool = False,
    init_weights: str | os.PathLike[str] | None = "imagenet",
) -> list[int]:
    """Datasets comparing networks and augmenters (DLC's function of this name).

    ``trainindex`` picks the ``TrainingFraction``; for each of ``num_shuffles`` splits,
    every ``net_types`` × ``augmenter_types`` pair gets a shuffle on that split, logged in
    ``training_model_comparison.log``. dlcflow extra: ``init_weights`` (``imagenet``,
    ``none`` or a weights file, as in ``create_training_dataset``). ``windows2linux`` is
    ignored (as in DLC ≥ 2.2). Returns the new shuffle numbers.
    """
    del windows2linux  # no effect since DLC 2.2.0.4
    project = Project(config)
    if project.multianimal:
        raise DatasetError(
            f"{project.config_path}: create_training_model_comparison builds single-animal "
            "datasets; use create_multianimaltraining_dataset with Shuffles=[...] per network"
        )
    if num_shuffles < 1:
        raise DatasetError(f"num_shuffles must be a positive integer, got {num_shuffles!r}")
    try:
        fraction = training_fraction(project, trainindex, "trainindex")
    except ValueError as err:
        raise DatasetError(str(err)) from None
    pairs = list(
        itertools.product(
            _as_names(net_types, "net_types"), _as_names(augmenter_types, "augmenter_types")
        )
    )
    # every name checked before anything is written
    settings = {
        (net, aug): model_settings(
            project, net, AUGMENTERS[check_augmenter(aug)], None, init_weights
        )
        for net, aug in pairs
    }
    n_frames = len(merged_annotations(project, write=False))
    start = next_shuffle(project)
    entries: list[ComparisonEntry] = []
    for frozen in range(num_shuffles):
        first = start + frozen * len(pairs)
        train, test = split_indices(n_frames, fraction, first)
        for k, (net, aug) in enumerate(pairs):
            shuffle = first + k
            build_on_split(
                project, settings[net, aug], fraction, [shuffle], train, test, userfeedback
            )
            entries.append(ComparisonEntry(shuffle, net, aug, trainindex, frozen))
    _append_log(project.model_comparison_log(), entries)
    log(
        f"model comparison: shuffles {entries[0].shuffle}..{entries[-1].shuffle} in "
        f"{project.model_comparison_log().name}"
    )
    return [e.shuffle for e in entries]


def _append_log(path: Path, entries: Sequence[ComparisonEntry]) -> None:
    """Append DLC's log lines (``%(asctime)s %(levelname)s %(message)s``), atomically."""
    old = path.read_text() if path.is_file() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f",{int(now % 1 * 1000):03d}"
    lines = "".join(f"{stamp} INFO {e.line()}\n" for e in entries)
    atomic_write_text(path, old + lines)
