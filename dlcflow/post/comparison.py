"""The errors of a model comparison's shuffles side by side.

``compare_models`` reads the evaluation of every shuffle of the iteration's
``training_model_comparison.log`` (each shuffle's ``<scorer>-results.csv``, the row of
its last evaluated snapshot, or of ``trainingiterations``) and writes one table,
``<eval folder>/iteration-<N>/training_model_comparison.csv``: one row per shuffle with
its network, augmenter and split (frozen shuffle ID), then DLC's result columns (training
iterations, %Training dataset, shuffle number, train and test error, p-cutoff and the
errors with it). The table is also printed on the
progress channel.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from dlcflow.core.fileio import atomic_path
from dlcflow.core.log import log
from dlcflow.post.results import RESULT_COLUMNS
from dlcflow.project.models import training_fraction
from dlcflow.project.paths import Project
from dlcflow.training.comparison import ComparisonEntry, comparison_entries

#: The columns of ``training_model_comparison.csv`` before DLC's result columns.
MODEL_COLUMNS = ["net_type", "augmenter_type", "frozen shuffle ID"]


class ComparisonError(ValueError):
    """A comparison table that cannot be made; the one-line message says why."""


def _results_row(
    project: Project, entry: ComparisonEntry, iteration: int | None, trainingiterations: int | None
) -> pd.Series:
    fraction = training_fraction(project, entry.trainsetindex)
    folder = project.evaluation_folder(fraction, entry.shuffle, iteration)
    files = sorted(folder.glob(f"DLC_*shuffle{entry.shuffle}_*-results.csv"))
    if not files:
        raise ComparisonError(
            f"{folder}: shuffle {entry.shuffle} ({entry.net_type}, {entry.augmenter_type}) "
            "has no evaluation yet; evaluate it first (snakemake evaluate, or "
            f"evaluate_network(config, Shuffles=[{entry.shuffle}]))"
        )
    rows = pd.concat([pd.read_csv(f, index_col=0) for f in files], ignore_index=True)
    missing = [c for c in RESULT_COLUMNS if c not in rows.columns]
    if missing:
        raise ComparisonError(f"{files[0]}: not an evaluation results file (no {missing[0]!r})")
    rows = rows[rows["Shuffle number"] == entry.shuffle]
    if trainingiterations is not None:
        rows = rows[rows["Training iterations:"] == trainingiterations]
    if rows.empty:
        raise ComparisonError(
            f"{folder}: no evaluation of shuffle {entry.shuffle} at "
            f"{trainingiterations} training iterations"
        )
    return rows.sort_values("Training iterations:").iloc[-1][RESULT_COLUMNS]


def compare_models(
    config: str | os.PathLike[str],
    iteration: int | None = None,
    trainingiterations: int | None = None,
) -> pd.DataFrame:
    """The comparison table of ``iteration`` (default: the project's), written to
    ``training_model_comparison.csv`` in its evaluation folder and printed."""
    project = Project(config)
    entries = comparison_entries(project, iteration)
    if not entries:
        raise ComparisonError(
            f"{project.config_path}: no model comparison in iteration "
            f"{project.iteration if iteration is None else iteration} (no shuffle of "
            f"{project.model_comparison_log().name} has a model folder there); run "
            "create_training_model_comparison first"
        )
    table = pd.DataFrame(
        [
            [e.net_type, e.augmenter_type, e.frozen_shuffle]
            + _results_row(project, e, iteration, trainingiterations).tolist()
            for e in entries
        ],
        columns=MODEL_COLUMNS + RESULT_COLUMNS,
    )
    path = project.model_comparison_table(iteration)
    write_table(table, path)
    log(f"model comparison ({path}):\n{table.to_string(index=False)}")
    return table


def write_table(table: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
